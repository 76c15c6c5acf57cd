"""hermite_contract on dask arrays: mapped over row chunks and reduced (synchronous scheduler)."""
import numpy as np
import pytest

from zenkai_np.moments import hermite_contract

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def _data(seed=0, N=2500, d=6, R=3):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((N, d)), rng.standard_normal(N), rng.standard_normal((d, R)),
            rng.standard_normal((d, 2)))


@pytest.mark.parametrize("order", [2, 4, 6])
def test_gram_matches_in_memory(order):
    X, r, G, B = _data(order)
    Xd = da.from_array(X, chunks=(700, 6))
    rd = da.from_array(r, chunks=300)  # different chunks: rechunked to X's rows
    got = hermite_contract(Xd, rd, G, order)
    np.testing.assert_allclose(got, hermite_contract(X, r, G, order), rtol=1e-12,
                               atol=1e-12 * np.abs(got).max())


def test_apply_matches_in_memory_and_column_chunks_are_merged():
    X, r, G, B = _data(1)
    Xd = da.from_array(X, chunks=(1000, 4))
    got = hermite_contract(Xd, da.from_array(r, chunks=1000), G, 4, apply_to=B)
    np.testing.assert_allclose(got, hermite_contract(X, r, G, 4, apply_to=B), rtol=1e-12,
                               atol=1e-12 * np.abs(got).max())


def test_mixed_numpy_weights_and_float32_blocks():
    X, r, G, B = _data(2)
    X32 = X.astype(np.float32)
    got = hermite_contract(da.from_array(X32, chunks=(600, 6)), r, G, 4)
    np.testing.assert_allclose(got, hermite_contract(X32, r, G, 4), rtol=1e-12,
                               atol=1e-12 * np.abs(got).max())


def test_dask_bad_input():
    X, r, G, B = _data(3)
    with pytest.raises(ValueError, match="r"):
        hermite_contract(da.from_array(X, chunks=(500, 6)), da.from_array(r[:-1]), G, 4)
    Xn = X.copy()
    Xn[10, 2] = np.nan
    with pytest.raises(ValueError, match="X.*NaN"):
        hermite_contract(da.from_array(Xn, chunks=(500, 6)), da.from_array(r), G, 4)

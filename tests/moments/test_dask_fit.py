"""ReLUMomentRegressor.fit and MomentReLULearner on dask arrays, against the in-memory fit."""
import numpy as np
import pytest

from zenkai_np.moments import MomentReLULearner, ReLUMomentRegressor, make_teacher
from zenkai_np.moments.dask_fit import (blocked_reduce, control_variate_residual_dask,
                                        relu_net_loss_grad_dask)
from zenkai_np.moments.estimator import control_variate_residual
from zenkai_np.moments.network import relu_net_loss_grad

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

FAST = dict(n_random_starts=4, n_subset_starts=3, n_candidate_draws=30)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    c = distributed.Client(cluster, set_as_default=False)
    yield c
    c.close()
    cluster.close()


def _data(noise, N=30000, d=8, k=3, seed=0, dtype=np.float64):
    te = make_teacher("generic", d, k, rng=seed)
    X, y = te.sample(N, rng=seed + 1, noise=noise, dtype=dtype)
    return te, X, y


def _lazy(X, y, rows=7000):
    return da.from_array(X, chunks=(rows, 3)), da.from_array(y, chunks=rows)


def test_each_pass_matches_in_memory():
    _, X, y = _data(0.1)
    Xd, yd = _lazy(X, y)
    Xd = Xd.rechunk({1: -1})
    with dask.config.set(scheduler="synchronous"):
        got = control_variate_residual_dask(Xd, yd)
        r = got[2].compute()
        rng = np.random.default_rng(0)
        a, W = rng.standard_normal(3), rng.standard_normal((3, 8))
        lg = relu_net_loss_grad_dask(Xd, yd, a, W, 0.7)
    ref = control_variate_residual(X, y)
    for g, e in zip(got[:2] + got[3:], ref[:2] + ref[3:]):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(r, ref[2], rtol=1e-12, atol=1e-12)
    for g, e in zip(lg, relu_net_loss_grad(X, y, a, W, 0.7)):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-15)


def test_blocked_reduce_is_the_fixed_tree_for_any_scheduler(client):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((9001, 4)) * 10.0 ** rng.integers(-8, 8, (9001, 1))
    Xd = da.from_array(X, chunks=(1000, 4))

    def colsum(Xb, offset):
        return {"s": Xb.sum(axis=0), "o": np.array([offset])}

    with dask.config.set(scheduler="synchronous"):
        a = blocked_reduce(colsum, [Xd])
    with dask.config.set(scheduler="threads", num_workers=2):
        b = blocked_reduce(colsum, [Xd])
    with dask.config.set(scheduler=client.get):
        c = blocked_reduce(colsum, [Xd])
    np.testing.assert_array_equal(a["s"], b["s"])
    np.testing.assert_array_equal(a["s"], c["s"])
    assert a["o"][0] == sum(range(0, 9001, 1000))  # offsets are the blocks' first rows
    np.testing.assert_allclose(a["s"], X.sum(axis=0), rtol=1e-9)


@pytest.mark.parametrize("noise,on_cluster", [(0.0, True), (0.05, False)])
def test_fit_on_a_cluster_matches_in_memory(client, noise, on_cluster):
    te, X, y = _data(noise)
    ref = ReLUMomentRegressor(3, rng=0, **FAST).fit(X, y)
    Xd, yd = _lazy(X, y)
    with dask.config.set(scheduler=client.get if on_cluster else "synchronous"):
        est = ReLUMomentRegressor(3, rng=0, **FAST).fit(Xd, yd)
    np.testing.assert_allclose(est.subspace_, ref.subspace_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(est.train_loss_, ref.train_loss_, rtol=1e-8, atol=1e-20)
    # L-BFGS paths differ in the last digits of the sums: parameters agree to ~1e-8
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-6)
    np.testing.assert_allclose(est.directions_, ref.directions_, rtol=1e-6, atol=1e-7)
    Xt, yt = te.sample(4000, rng=9)
    assert np.mean((est.predict(Xt) - yt) ** 2) / np.mean(yt ** 2) < (1e-8 if noise == 0
                                                                       else 1e-2)


def test_float32_blocks_and_learner_init():
    _, X, y = _data(0.0, N=20000, dtype=np.float32)
    Xd, yd = _lazy(X, y, rows=5000)
    with dask.config.set(scheduler="synchronous"):
        m = MomentReLULearner(8, 3, dtype=np.float32).init_from_moments(Xd, yd[:, None],
                                                                        rng=0, **FAST)
    ref = MomentReLULearner(8, 3, dtype=np.float32).init_from_moments(X, y, rng=0, **FAST)
    np.testing.assert_allclose(m.layer.layers[0].params["W"], ref.layer.layers[0].params["W"],
                               rtol=1e-5, atol=1e-6)
    assert m.layer.layers[0].params["W"].dtype == np.float32


def test_bad_dask_input():
    _, X, y = _data(0.1, N=3000)
    with pytest.raises(ValueError, match="y: row chunks"):
        ReLUMomentRegressor(2).fit(da.from_array(X, chunks=(1000, 8)),
                                   da.from_array(y, chunks=700))
    with pytest.raises(ValueError, match="y"):
        ReLUMomentRegressor(2).fit(da.from_array(X, chunks=(1000, 8)),
                                   da.from_array(y[:-1], chunks=1000))
    Xn = X.copy()
    Xn[1500, 2] = np.nan
    with dask.config.set(scheduler="synchronous"), pytest.raises(ValueError, match="X.*NaN"):
        ReLUMomentRegressor(2).fit(da.from_array(Xn, chunks=(1000, 8)),
                                   da.from_array(y, chunks=1000))
    with pytest.raises(ValueError, match="n_features"):
        ReLUMomentRegressor(9).fit(da.from_array(X, chunks=(1000, 8)),
                                   da.from_array(y, chunks=1000))
    with dask.config.set(scheduler="synchronous"), pytest.raises(ValueError, match="constant"):
        ReLUMomentRegressor(2).fit(da.from_array(X, chunks=(1000, 8)), da.ones(3000,
                                                                                chunks=1000))

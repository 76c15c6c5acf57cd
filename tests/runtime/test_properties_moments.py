"""Property-based tests (hypothesis) of the Hermite-moment contraction kernel.

The contractions (1/N) Σ_j r_j He_ℓ(x_j)[g, …, g, ·, ·] (zenkai_np/moments/contract.py)
are linear in the weights r and homogeneous in each direction g: degree ℓ − 2 for
the matrix (also applied to a block B), ℓ − 1 for the vector, ℓ for the scalar.
Their bits do not depend on the thread count, on every SIMD path; a dask array
mapped over row chunks gives the in-memory result up to rounding.
Tolerances are relative to the largest entry of the terms being compared (the
kernel accumulates in float64; the rows' terms cancel, hence 1e-10).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zenkai_np as zk
from zenkai_np.moments import hermite_contract, hermite_contract_scalar, hermite_contract_vector

pytestmark = pytest.mark.kernel
SETTINGS = settings(max_examples=50, deadline=None)
RTOL = 1e-10

problems = st.fixed_dictionaries({
    "N": st.integers(1, 120), "d": st.integers(1, 6), "R": st.integers(1, 3),
    "order": st.integers(2, 6), "seed": st.integers(0, 2**32 - 1),
    "dtype": st.sampled_from([np.float64, np.float32]),
})

# kind -> (contraction, its degree in g for order l)
KINDS = {
    "matrix": (lambda X, r, G, l, **kw: hermite_contract(X, r, G, l, **kw), -2),
    "apply": (lambda X, r, G, l, B, **kw: hermite_contract(X, r, G, l, apply_to=B, **kw), -2),
    "vector": (lambda X, r, G, l, **kw: hermite_contract_vector(X, r, G, l, **kw), -1),
    "scalar": (lambda X, r, G, l, **kw: hermite_contract_scalar(X, r, G, l, **kw), 0),
}


def _data(p):
    rng = np.random.default_rng(p["seed"])
    X = rng.standard_normal((p["N"], p["d"])).astype(p["dtype"])
    G = rng.standard_normal((p["d"], p["R"])) / np.sqrt(p["d"])
    B = rng.standard_normal((p["d"], 2))
    return rng, X, G, B


def _run(kind, X, r, G, order, B, **kw):
    fn, _ = KINDS[kind]
    if kind == "apply":
        return np.asarray(fn(X, r, G, order, B, **kw))
    return np.asarray(fn(X, r, G, order, **kw))


def _assert_close(got, want, scale):
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    assert err <= RTOL * scale, (err, scale)


@pytest.mark.parametrize("kind", sorted(KINDS))
@SETTINGS
@given(p=problems, alpha=st.floats(-3, 3), beta=st.floats(-3, 3))
def test_linear_in_r(kind, p, alpha, beta):
    rng, X, G, B = _data(p)
    r1, r2 = rng.standard_normal((2, p["N"]))
    m1 = _run(kind, X, r1, G, p["order"], B)
    m2 = _run(kind, X, r2, G, p["order"], B)
    m = _run(kind, X, alpha * r1 + beta * r2, G, p["order"], B)
    scale = abs(alpha) * np.max(np.abs(m1)) + abs(beta) * np.max(np.abs(m2)) + 1e-300
    _assert_close(m, alpha * m1 + beta * m2, scale)


@pytest.mark.parametrize("kind", sorted(KINDS))
@SETTINGS
@given(p=problems, c=st.floats(0.25, 4) | st.floats(-4, -0.25))
def test_homogeneous_in_g(kind, p, c):
    rng, X, G, B = _data(p)
    r = rng.standard_normal(p["N"])
    order = p["order"]
    degree = order + KINDS[kind][1]
    m = _run(kind, X, r, G, order, B)
    mc = _run(kind, X, r, c * G, order, B)
    want = c ** degree * m
    _assert_close(mc, want, np.max(np.abs(want)) + np.max(np.abs(mc)) + 1e-300)


@pytest.mark.parametrize("kind", sorted(KINDS))
@SETTINGS
@given(p=problems)
def test_bits_independent_of_threads(kind, p):
    rng, X, G, B = _data(p)
    r = rng.standard_normal(p["N"])
    for path in zk.supported_simd_paths():
        with zk.use_simd_path(path):
            one = _run(kind, X, r, G, p["order"], B, n_threads=1)
            two = _run(kind, X, r, G, p["order"], B, n_threads=2)
            assert np.array_equal(one, two), path


@SETTINGS
@given(p=problems, chunks=st.lists(st.integers(1, 40), min_size=1, max_size=5))
def test_dask_row_chunks_equal_in_memory(p, chunks):
    da = pytest.importorskip("dask.array")
    rng, X, G, B = _data(p)
    r = rng.standard_normal(p["N"])
    sizes, left = [], p["N"]
    for c in chunks * (p["N"] // sum(chunks) + 1):
        if left == 0:
            break
        sizes.append(min(c, left))
        left -= sizes[-1]
    Xd = da.from_array(X, chunks=(tuple(sizes), p["d"]))
    rd = da.from_array(r, chunks=(tuple(sizes),))
    want = hermite_contract(X, r, G, p["order"])
    got = np.asarray(hermite_contract(Xd, rd, G, p["order"]))
    _assert_close(got, want, np.max(np.abs(want)) + 1e-300)

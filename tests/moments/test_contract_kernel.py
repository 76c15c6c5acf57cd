"""hermite_contract (and vector/scalar/ℓ=2/quadratic form) against the full tensor by einsum."""
import numpy as np
import pytest

from zenkai_np.moments import (hermite_contract, hermite_contract_scalar,
                               hermite_contract_vector, hermite_moment2, quadratic_form)
from moments_tensors import contract_leading, hermite_tensor_mean

from zenkai_np.moments._reference import (numpy_apply, numpy_gram_scaled, numpy_gram_split,
                                         numpy_hermite_contract, numpy_moment2,
                                         numpy_quadratic_form)

pytestmark = pytest.mark.kernel  # compiled-kernel tests: CI runs them on every SIMD path

ORDERS = [2, 3, 4, 5, 6, 7, 8]


def _data(N, d, R, seed=0, m=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, d))
    r = rng.standard_normal(N)
    G = rng.standard_normal((d, R)) * rng.uniform(0.5, 1.5, R)  # non-unit directions
    B = rng.standard_normal((d, m))
    return X, r, G, B


def _tensor_reference(X, r, G, order):
    T = hermite_tensor_mean(X, r, order)
    mats = np.array([contract_leading(T, G[:, q], order - 2) for q in range(G.shape[1])])
    vecs = np.array([contract_leading(T, G[:, q], order - 1) for q in range(G.shape[1])])
    scal = np.array([contract_leading(T, G[:, q], order) for q in range(G.shape[1])])
    return mats, vecs, scal


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("d", [4, 5])
def test_gram_apply_vector_scalar_match_full_tensor(order, d):
    if order == 8:
        d = {4: 3, 5: 2}[d]  # keep the d^ℓ reference tensor small
    X, r, G, B = _data(7 + d, d, 3, seed=order * 10 + d)
    mats, vecs, scal = _tensor_reference(X, r, G, order)
    scale = np.abs(mats).max()
    M = hermite_contract(X, r, G, order)
    assert M.shape == (3, d, d)
    np.testing.assert_allclose(M, mats, rtol=0, atol=1e-12 * scale)
    MB = hermite_contract(X, r, G, order, apply_to=B[:d])
    np.testing.assert_allclose(MB, mats @ B[:d], rtol=0, atol=1e-12 * scale * np.abs(B).sum())
    np.testing.assert_allclose(hermite_contract_vector(X, r, G, order), vecs, rtol=0,
                               atol=1e-12 * np.abs(vecs).max())
    np.testing.assert_allclose(hermite_contract_scalar(X, r, G, order), scal, rtol=0,
                               atol=1e-12 * np.abs(scal).max())


def _formula_reference(X, r, G, order):
    """The part's NumPy reference (the bench's baseline), one direction at a time."""
    return np.array([numpy_gram_scaled(X, r, g, order) for g in G.T])


@pytest.mark.parametrize("N", [1, 255, 257, 4097, 9000])
@pytest.mark.parametrize("d,R", [(7, 1), (7, 5), (47, 2), (3, 40)])
def test_ragged_chunks_and_both_gram_paths(N, d, R):
    # N around the 256-row chunks and 4096-row blocks; (47, 2) uses the SYRK path,
    # (7, 5) and (3, 40) the pair-product path, (7, 1) SYRK with odd d.
    X, r, G, B = _data(N, d, R, seed=N + d)
    ref = _formula_reference(X, r, G, 4)
    scale = max(np.abs(ref).max(), 1e-300)
    np.testing.assert_allclose(hermite_contract(X, r, G, 4), ref, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(hermite_contract(X, r, G, 4, apply_to=B), ref @ B, rtol=0,
                               atol=1e-11 * scale * np.abs(B).max() * d)


@pytest.mark.parametrize("apply", [False, True])
@pytest.mark.parametrize("d,R", [(9, 4), (40, 1), (40, 3)])
def test_float32_input_accumulates_in_float64(apply, d, R):
    X, r, G, B = _data(5001, d, R, seed=5)
    X32 = X.astype(np.float32)
    kw = {"apply_to": B} if apply else {}
    got = hermite_contract(X32, r, G, 6, **kw)
    ref = hermite_contract(X32.astype(np.float64), r, G, 6, **kw)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-13 * np.abs(ref).max())


@pytest.mark.parametrize("d,R,apply", [(7, 1, False), (7, 5, False), (40, 3, False),
                                       (13, 4, True)])
def test_bitwise_identical_for_any_thread_count(d, R, apply):
    X, r, G, B = _data(20011, d, R, seed=d * R)
    kw = {"apply_to": B} if apply else {}
    results = [hermite_contract(X, r, G, 4, n_threads=nt, **kw) for nt in (1, 2, 8)]
    for other in results[1:]:
        assert np.array_equal(results[0], other)
    q = [quadratic_form(X, np.eye(d) + 0.1, n_threads=nt) for nt in (1, 2, 8)]
    assert np.array_equal(q[0], q[1]) and np.array_equal(q[0], q[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("R", [1, 3])  # fused one-direction and pair-product gram paths
def test_every_simd_path_matches_reference(simd_path, dtype, R):
    X, r, G, B = _data(1500, 11, R, seed=7)
    X = X.astype(dtype)
    Xd = X.astype(np.float64)
    for order in (2, 4, 6):
        ref = _formula_reference(Xd, r, G, order)
        scale = np.abs(ref).max()
        np.testing.assert_allclose(hermite_contract(X, r, G, order), ref, rtol=0,
                                   atol=1e-12 * scale)
        np.testing.assert_allclose(hermite_contract(X, r, G, order, apply_to=B), ref @ B,
                                   rtol=0, atol=1e-11 * scale * np.abs(B).max())
    A = np.random.default_rng(1).standard_normal((11, 11))
    np.testing.assert_allclose(quadratic_form(X, A), np.einsum("ni,ij,nj->n", Xd, A, Xd),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("d", [1, 2, 3, 5, 8, 9, 15, 16, 17, 24, 31, 100])
def test_one_direction_gram_microkernel_every_width(simd_path, d):
    # The R = 1 gram microkernel (paths v3, v4; baseline: SYRK) tiles C in whole vectors
    # of 4/8 doubles: every remainder d mod width, and sub-chunks of 128 rows (N = 300:
    # two whole ones and a ragged one).
    X, r, G, B = _data(300, d, 1, seed=100 + d)
    for order in (2, 5):
        ref = _formula_reference(X, r, G, order)
        scale = np.abs(ref).max()
        np.testing.assert_allclose(hermite_contract(X, r, G, order), ref, rtol=0,
                                   atol=1e-12 * scale)


def test_moment2_is_order_two():
    X, r, G, B = _data(500, 6, 1, seed=3)
    ref = (X.T * r) @ X / 500 - r.mean() * np.eye(6)
    np.testing.assert_allclose(hermite_moment2(X, r), ref, rtol=0, atol=1e-13)


def test_one_dimensional_g_drops_axis():
    X, r, G, B = _data(100, 4, 1, seed=4)
    assert hermite_contract(X, r, G[:, 0], 4).shape == (4, 4)
    np.testing.assert_array_equal(hermite_contract(X, r, G[:, 0], 4),
                                  hermite_contract(X, r, G, 4)[0])
    assert isinstance(hermite_contract_scalar(X, r, G[:, 0], 4), float)


def test_even_order_invariant_under_g_sign():
    X, r, G, B = _data(2000, 6, 3, seed=8)
    for order in (4, 6):
        np.testing.assert_allclose(hermite_contract(X, r, -G, order),
                                   hermite_contract(X, r, G, order), rtol=1e-14, atol=1e-15)


def test_rotation_equivariance():
    # data Qx and direction Qg: M̂ -> Q M̂ Qᵀ
    X, r, G, B = _data(3000, 5, 2, seed=9)
    Q, _ = np.linalg.qr(np.random.default_rng(2).standard_normal((5, 5)))
    M = hermite_contract(X, r, G, 6)
    MQ = hermite_contract(X @ Q.T, r, Q @ G, 6)
    np.testing.assert_allclose(MQ, Q @ M @ Q.T, rtol=0, atol=1e-11 * np.abs(M).max())


def test_inputs_not_modified():
    X, r, G, B = _data(300, 5, 2, seed=11)
    copies = [a.copy() for a in (X, r, G, B)]
    hermite_contract(X, r, G, 4, apply_to=B)
    hermite_contract(X, r, G, 4)
    for a, c in zip((X, r, G, B), copies):
        np.testing.assert_array_equal(a, c)


def test_non_contiguous_input_is_accepted():
    X, r, G, B = _data(400, 6, 2, seed=12)
    Xf = np.asfortranarray(X)
    np.testing.assert_array_equal(hermite_contract(Xf, r, G, 4), hermite_contract(X, r, G, 4))


def test_bad_input():
    X, r, G, B = _data(50, 4, 2)
    with pytest.raises(ValueError, match="X"):
        hermite_contract(X[:, :, None], r, G, 4)
    with pytest.raises(ValueError, match="X"):
        hermite_contract(np.zeros((0, 4)), r[:0], G, 4)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="X.*NaN"):
        hermite_contract(Xn, r, G, 4)
    rn = r.copy()
    rn[0] = np.inf
    with pytest.raises(ValueError, match="r.*inf"):
        hermite_contract(X, rn, G, 4)
    with pytest.raises(ValueError, match="r"):
        hermite_contract(X, r[:-1], G, 4)
    with pytest.raises(ValueError, match="G"):
        hermite_contract(X, r, G[:-1], 4)
    with pytest.raises(ValueError, match="G"):
        hermite_contract(X, r, np.zeros((4, 0)), 4)
    with pytest.raises(ValueError, match="apply_to"):
        hermite_contract(X, r, G, 4, apply_to=B[:3])
    with pytest.raises(ValueError, match="order"):
        hermite_contract(X, r, G, 1)
    with pytest.raises(TypeError, match="order"):
        hermite_contract(X, r, G, 4.0)
    with pytest.raises(ValueError, match="n_threads"):
        hermite_contract(X, r, G, 4, n_threads=0)
    with pytest.raises(TypeError, match="n_threads"):
        hermite_contract(X, r, G, 4, n_threads=1.5)
    with pytest.raises(TypeError, match="X"):
        hermite_contract(X.astype(complex), r, G, 4)
    with pytest.raises(ValueError, match="A"):
        quadratic_form(X, np.eye(3))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("d,R", [(5, 1), (5, 3), (40, 2)])
def test_non_finite_x_is_reported_in_every_mode(bad, d, R):
    X, r, G, B = _data(700, d, R, seed=13)
    X[611, d - 1] = bad
    for call in (lambda: hermite_contract(X, r, G, 4),
                 lambda: hermite_contract(X, r, G, 4, apply_to=B),
                 lambda: hermite_contract_vector(X, r, G, 4),
                 lambda: hermite_contract_scalar(X, r, G, 4),
                 lambda: quadratic_form(X, np.eye(d)),
                 lambda: hermite_moment2(X, r)):
        with pytest.raises(ValueError, match="X: contains"):
            call()


def test_bench_reference_forms_match_kernel():
    # the bench's other NumPy forms: sign-split SYRKs, apply without forming M, drop-ins
    X, r, G, B = _data(3000, 9, 3, seed=5)
    ref = hermite_contract(X, r, G, 4)
    scale = np.abs(ref).max()
    for q, g in enumerate(G.T):
        np.testing.assert_allclose(numpy_gram_split(X, r, g, 4), ref[q], rtol=0,
                                   atol=1e-12 * scale)
        np.testing.assert_allclose(numpy_apply(X, r, g, 4, B), ref[q] @ B, rtol=0,
                                   atol=1e-11 * scale * np.abs(B).max() * 9)
    np.testing.assert_allclose(numpy_hermite_contract(X, r, G, 4), ref, rtol=0,
                               atol=1e-12 * scale)
    np.testing.assert_allclose(numpy_moment2(X, r), hermite_moment2(X, r), rtol=0,
                               atol=1e-12 * np.abs(hermite_moment2(X, r)).max())
    A = B @ B.T
    np.testing.assert_allclose(numpy_quadratic_form(X, A), quadratic_form(X, A), rtol=1e-12)

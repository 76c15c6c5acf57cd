"""The real (Abel) fractional iterate of exp against independent references."""
import numpy as np
import pytest

import zenkai_np as zk
from abel_reference import fracexp as mp_fracexp
from abel_reference import algorithmic_condition, near_knot

pytestmark = [
    pytest.mark.kernel,  # compiled-kernel tests: CI runs them on every SIMD path
    pytest.mark.filterwarnings("ignore:.*encountered:RuntimeWarning"),  # inf/NaN in references
]

EPS = {np.float64: np.finfo(np.float64).eps, np.float32: np.finfo(np.float32).eps}


def reference(x, n):
    """mpmath values (y, dy/dx, dy/dn) as float64 arrays."""
    out = np.array([[float(v) for v in mp_fracexp(a, b)] for a, b in zip(x.ravel(), n.ravel())])
    return out[:, 0], out[:, 1], out[:, 2]


def sample_points(rng, size):
    """x over every branch of psi (negative, [0,1), log chains of length 1..3), n in [-1.5, 1.5]."""
    x = np.concatenate([rng.uniform(-5, 0, size // 4), rng.uniform(0, 1, size // 4),
                        rng.uniform(1, 30, size // 4), np.exp(rng.uniform(3, 40, size // 4))])
    n = rng.uniform(-1.5, 1.5, x.size)
    return x, n


# ---- identities (exact for integer n because psi(e^x) = psi(x) + 1) ----------------

@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-14), (np.float32, 1e-5)])
def test_integer_iterates_are_id_exp_log(simd_path, dtype, rtol):
    x = np.linspace(-4, 6, 1001).astype(dtype)
    np.testing.assert_allclose(zk.fracexp(x, dtype(0)), x, rtol=rtol, atol=0)
    np.testing.assert_allclose(zk.fracexp(x, dtype(1)), np.exp(x.astype(np.float64)),
                               rtol=rtol)
    pos = x[x > 0]
    np.testing.assert_allclose(zk.fracexp(pos, dtype(-1)), np.log(pos.astype(np.float64)),
                               rtol=rtol, atol=rtol)


def test_two_iterates_is_exp_of_exp(simd_path):
    x = np.linspace(-4, 4, 801)
    want = np.array([float(mp_fracexp(a, 2)[0]) for a in x])  # = exp(exp(x)) exactly
    np.testing.assert_allclose(want, np.exp(np.exp(x)), rtol=1e-12)
    y, dx, dn = zk.fracexp_grad(x, 2.0)
    err = np.abs(y - want) / want
    assert np.all(err <= 4 * EPS[np.float64] * algorithmic_condition(x, 2.0, y, dx, dn))


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-14), (np.float32, 1e-5)])
def test_group_law_half_iterates(simd_path, dtype, rtol):
    x = np.linspace(-3, 5, 1601).astype(dtype)
    half = dtype(0.5)
    np.testing.assert_allclose(zk.fracexp(zk.fracexp(x, half), half),
                               np.exp(x.astype(np.float64)), rtol=rtol)
    np.testing.assert_allclose(zk.fracexp(zk.fracexp(x, half), -half), x, rtol=rtol,
                               atol=rtol)
    np.testing.assert_allclose(zk.fracexp(zk.fracexp(x, dtype(0.7)), dtype(0.3)),
                               np.exp(x.astype(np.float64)), rtol=rtol * 4)


# ---- against the mpmath closed form --------------------------------------------------

def test_matches_mpmath_at_random_points(simd_path):
    rng = np.random.default_rng(0)
    x, n = sample_points(rng, 800)
    y_ref, dx_ref, dn_ref = reference(x, n)
    y, dx, dn = zk.fracexp_grad(x, n)
    inside = ~np.isnan(y_ref)  # mpmath does not overflow: beyond float range it is inf
    assert np.array_equal(np.isnan(y), ~inside), "domain (NaN pattern) differs"
    assert np.all(y[np.isinf(y_ref)] == np.inf)
    finite = inside & (np.abs(y_ref) < 1e300)
    # Relative error bound: a few ulp times the condition number of the algorithm.
    cond = algorithmic_condition(x, n, y_ref, dx_ref, dn_ref)
    err = np.abs(y - y_ref) / np.abs(y_ref)
    assert np.all(err[finite] <= 8 * EPS[np.float64] * cond[finite])
    for got, want in ((dx, dx_ref), (dn, dn_ref)):
        rel = np.abs(got - want) / np.abs(want)
        assert np.all(rel[finite] <= 8 * EPS[np.float64] * cond[finite] + 1e-15)


def test_float32_matches_mpmath(simd_path):
    rng = np.random.default_rng(1)
    x, n = sample_points(rng, 400)
    keep = x < 1e30
    x, n = x[keep], n[keep]
    y_ref, dx_ref, dn_ref = reference(x, n)
    y, dx, dn = zk.fracexp_grad(x.astype(np.float32), n.astype(np.float32))
    assert y.dtype == dx.dtype == dn.dtype == np.float32
    ok = np.isfinite(y_ref) & (np.abs(y_ref) < 1e30)
    # Inputs are rounded to float32 first: that rounding is amplified by cond too.
    cond = algorithmic_condition(x, n, y_ref, dx_ref, dn_ref)
    err = np.abs(y.astype(np.float64) - y_ref) / np.abs(y_ref)
    assert np.all(err[ok] <= 8 * EPS[np.float32] * cond[ok])


@pytest.mark.parametrize("x, n, y, dydx, dydn", [
    (-1, 0.5, -0.141702466627894, 0.423883115234171, 1.152233769531658),
    (2, 0.5, 3.363766470192425, 2.040227496285048, 4.080454992570095),
    (3, -0.5, 1.811305448579662, 0.549573756900043, 1.811305448579662),
    (0.2, -0.7, -0.693147180559945, 2.0, 2.0),
    (1.5, 1.3, 7.574506580332791, 10.224514420504608, 15.336771630756914),
    (10, -1.5, 1.396588455498154, 0.060653065971263, 1.396588455498154),
])
def test_spec_reference_table(simd_path, x, n, y, dydx, dydn):
    got = zk.fracexp_grad(float(x), float(n))
    np.testing.assert_allclose(got, (y, dydx, dydn), rtol=1e-13)


def test_derivatives_match_central_differences():
    rng = np.random.default_rng(2)
    x, n = sample_points(rng, 400)
    keep = (x < 1e6) & np.array([not near_knot(a, b) for a, b in zip(x, n)])
    x, n = x[keep], n[keep]
    y, dx, dn = zk.fracexp_grad(x, n)
    ok = np.isfinite(y) & (np.abs(y) < 1e8)
    h = 1e-6 * np.maximum(1, np.abs(x))
    fd_x = (zk.fracexp(x + h, n) - zk.fracexp(x - h, n)) / (2 * h)
    fd_n = (zk.fracexp(x, n + 1e-6) - zk.fracexp(x, n - 1e-6)) / 2e-6
    np.testing.assert_allclose(dx[ok], fd_x[ok], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dn[ok], fd_n[ok], rtol=1e-6, atol=1e-9)


def test_derivatives_continuous_across_knots():
    # psi(x) crosses 1 at x = 1 and psi(x) + n crosses 1 at x = psi^-1(1 - n).
    for x0, n in ((1.0, 0.5), (0.0, 0.3), (np.exp(1.0), -0.2)):
        lo, hi = zk.fracexp_grad(np.array([x0 - 1e-9, x0 + 1e-9]), n)[1]
        assert abs(lo - hi) <= 1e-6 * abs(lo)


# ---- SIMD paths, threads, broadcasting ------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_simd_path_agrees(dtype):
    rng = np.random.default_rng(3)
    x, n = sample_points(rng, 4000)
    x = np.concatenate([x, rng.standard_normal(5003)]).astype(dtype)
    n = np.concatenate([n, rng.uniform(-0.5, 1, 5003)]).astype(dtype)
    results = {}
    for path in zk.supported_simd_paths():
        with zk.use_simd_path(path):
            results[path] = zk.fracexp_grad(x, n)
    y, dx, dn = (a.astype(np.float64) for a in results["baseline"])
    # Paths differ only by FMA contraction and libmvec's last bits (a few ulp),
    # amplified by the conditioning of the algorithm.
    with np.errstate(invalid="ignore", divide="ignore"):
        tol = 16 * EPS[dtype] * algorithmic_condition(x.astype(np.float64), n, y, dx, dn)
    for path, res in results.items():
        assert np.array_equal(np.isnan(res[0]), np.isnan(y)), path
        ok = np.isfinite(y) & np.isfinite(dx) & np.isfinite(dn)
        with np.errstate(invalid="ignore"):
            for got, want in zip(res, (y, dx, dn)):
                rel = np.abs(got[ok] - want[ok]) / np.maximum(np.abs(want[ok]), 1e-300)
                assert np.all(rel <= tol[ok] + 1e-300), f"path {path}"


def test_thread_count_does_not_change_results():
    rng = np.random.default_rng(4)
    x = rng.standard_normal(100_003) * 3
    n = rng.uniform(-1, 1.5, 64)
    xb = x[: 99_968].reshape(-1, 64)  # many kernel chunks, per-unit n
    one = zk.fracexp_grad(xb, n, n_threads=1)
    two = zk.fracexp_grad(xb, n, n_threads=2)
    for a, b in zip(one, two):
        assert np.array_equal(a, b, equal_nan=True)
    assert np.array_equal(zk.fracexp(x, 0.3, n_threads=1), zk.fracexp(x, 0.3, n_threads=-1),
                          equal_nan=True)


@pytest.mark.parametrize("xshape, nshape", [
    ((7, 5), (5,)), ((7, 5), ()), ((7, 5), (7, 5)), ((7, 5), (7, 1)), ((5,), (3, 5)),
    ((2, 3, 4), (3, 4)), ((2, 3, 4), (2, 1, 4)), ((1000, 3), (3,)),
])
def test_broadcasting_equals_elementwise(xshape, nshape):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(xshape) * 2
    n = rng.uniform(-0.4, 1, nshape)
    shape = np.broadcast_shapes(xshape, nshape)
    xf = np.broadcast_to(x, shape).ravel()
    nf = np.broadcast_to(n, shape).ravel()
    want = np.array([zk.fracexp(a, b) for a, b in zip(xf, nf)]).reshape(shape)
    got = zk.fracexp(x, n)
    assert got.shape == shape
    assert np.array_equal(got, want, equal_nan=True)
    for g, w in zip(zk.fracexp_grad(x, n), zk.fracexp_grad(np.broadcast_to(x, shape).copy(),
                                                         np.broadcast_to(n, shape).copy())):
        assert np.array_equal(g, w, equal_nan=True)


def test_dtypes_and_non_contiguous_inputs():
    x = np.arange(12, dtype=np.int64).reshape(3, 4)
    assert zk.fracexp(x, 0.5).dtype == np.float64
    x32 = np.linspace(-1, 3, 40, dtype=np.float32).reshape(4, 10)
    assert zk.fracexp(x32, 0.5).dtype == np.float32           # Python scalar is weak
    assert zk.fracexp(x32, np.float64(0.5)).dtype == np.float64  # never narrow float64
    strided = x32.astype(np.float64)[:, ::3]
    np.testing.assert_array_equal(zk.fracexp(strided, 0.5),
                                  zk.fracexp(np.ascontiguousarray(strided), 0.5))
    assert isinstance(zk.fracexp(2.0, 0.5), np.float64)


def test_out_argument_is_filled_and_returned():
    x = np.linspace(-2, 2, 10)
    out = np.empty(10)
    assert zk.fracexp(x, 0.5, out=out) is out
    np.testing.assert_array_equal(out, zk.fracexp(x, 0.5))


# ---- special values -------------------------------------------------------------------

def test_special_values():
    x = np.array([np.nan, 1.0, np.inf, np.inf, -np.inf, -np.inf, 1e308, 0.5, -0.5])
    n = np.array([0.5, np.nan, 0.5, -0.5, 1.0, 0.5, -0.5, -2.0, 0.2])
    y, dx, dn = zk.fracexp_grad(x, n)
    assert np.isnan(y[0]) and np.isnan(y[1])              # NaN in, NaN out
    assert y[2] == np.inf and y[3] == np.inf              # exp^(n)(inf) = inf
    assert dx[2] == np.inf and dx[3] == 0 and dn[2] == np.inf
    assert y[4] == 0.0 and dx[4] == 0.0                    # exp(-inf) = 0
    np.testing.assert_allclose(y[5], float(mp_fracexp(-1e300, 0.5)[0]), rtol=1e-14)
    y_big, dx_big, dn_big = (float(v) for v in mp_fracexp(1e308, -0.5))
    np.testing.assert_allclose([y[6], dx[6], dn[6]], [y_big, dx_big, dn_big], rtol=1e-12)
    assert np.isnan(y[7]) and np.isnan(dx[7]) and np.isnan(dn[7])  # outside the domain
    assert np.isfinite(y[8])
    assert zk.fracexp(1e300, 1.0) == np.inf                # overflow gives inf, no hang
    assert zk.fracexp(0.5, 1e300) == np.inf
    assert np.isnan(zk.fracexp(0.5, -1e300))


def test_inputs_are_not_modified():
    x = np.linspace(-2, 3, 50)
    n = np.full(50, 0.3)
    xc, nc = x.copy(), n.copy()
    zk.fracexp_grad(x, n)
    zk.fracexp(x, n, out=np.empty(50))
    assert np.array_equal(x, xc) and np.array_equal(n, nc)


def test_empty_input_gives_empty_output():
    assert zk.fracexp(np.empty((0, 3)), np.zeros(3)).shape == (0, 3)
    y, dx, dn = zk.fracexp_grad(np.empty(0), 0.5)
    assert y.shape == dx.shape == dn.shape == (0,)


# ---- bad input ------------------------------------------------------------------------

def test_bad_input_errors_name_the_argument():
    x = np.linspace(0, 1, 6)
    with pytest.raises(ValueError, match="x and n"):
        zk.fracexp(x, np.zeros(4))
    with pytest.raises(TypeError, match="x"):
        zk.fracexp(x.astype(complex), 0.5)
    with pytest.raises(TypeError, match="n"):
        zk.fracexp(x, "half")
    with pytest.raises(ValueError, match="method"):
        zk.fracexp(x, 0.5, method="kneser")
    with pytest.raises(ValueError, match="n_threads"):
        zk.fracexp(x, 0.5, n_threads=0)
    with pytest.raises(TypeError, match="n_threads"):
        zk.fracexp(x, 0.5, n_threads=1.5)
    with pytest.raises(TypeError, match="out"):
        zk.fracexp(x, 0.5, out=[0.0] * 6)
    with pytest.raises(ValueError, match="out.*shape"):
        zk.fracexp(x, 0.5, out=np.empty(5))
    with pytest.raises(ValueError, match="out.*dtype"):
        zk.fracexp(x, 0.5, out=np.empty(6, np.float32))
    with pytest.raises(ValueError, match="out.*C-contiguous"):
        zk.fracexp(x, 0.5, out=np.empty(12)[::2])
    ro = np.empty(6)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out.*read-only"):
        zk.fracexp(x, 0.5, out=ro)


def test_grad_out_tuple_is_filled_and_checked():
    x = np.linspace(-2, 2, 12).reshape(3, 4)
    n = np.linspace(0, 1, 4)
    bufs = tuple(np.empty((3, 4)) for _ in range(3))
    got = zk.fracexp_grad(x, n, out=bufs)
    assert all(g is b for g, b in zip(got, bufs))
    for g, w in zip(got, zk.fracexp_grad(x, n)):
        np.testing.assert_array_equal(g, w)
    with pytest.raises(TypeError, match="out: expected a tuple of 3 arrays"):
        zk.fracexp_grad(x, n, out=bufs[0])
    with pytest.raises(ValueError, match=r"out\[1\].*dtype"):
        zk.fracexp_grad(x, n, out=(bufs[0], np.empty((3, 4), np.float32), bufs[2]))
    with pytest.raises(ValueError, match=r"out\[0\] and out\[2\] share memory"):
        zk.fracexp_grad(x, n, out=(bufs[0], bufs[1], bufs[0]))

"""The complex Schröder form of exp^(n): accuracy against the Koenigs-limit
reference (mpmath, no series), exact identities, derivatives, float32, SIMD
paths, threads and bad input."""
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import schroeder_reference as ref
import zenkai_np
from zenkai_np.fractional import (SCHROEDER_FIXED_POINT, fracexp_schroeder,
                                  fracexp_schroeder_grad)

pytestmark = pytest.mark.kernel  # compiled-kernel tests: CI runs them on every SIMD path

C = SCHROEDER_FIXED_POINT
ROOT = pathlib.Path(__file__).resolve().parents[2]

# 60-digit reference values (docs/fractional.md, "Accuracy") with lbp = -0.5
SPEC_VALUES = [
    (-2, 0.5, -0.189519867258160 - 0.020985017575039j),
    (-2, -0.5, -1.657168431113068 + 3.251870699012888j),
    (-0.5, 0.5, 0.056268235162193 + 0.116056925369092j),
    (0.3, 0.5, 0.892086082148198 + 0.091589817851040j),
    (0.3, 0.3, 0.711459652525084 + 0.011574737114174j),
    (2, 0.5, 2.983926436504002 + 0.290854045305252j),
    (2, -0.5, 1.097968154723123 + 0.097166643533942j),
    (5, 0.5, 13.216413352474390 + 4.764163381142662j),
    (5, -0.5, 2.642542184246689 + 0.345974464738587j),
]

SINGULAR = [0.0, 1.0, np.e, np.e ** np.e]


def branch_log(z):
    """L(z) with Im L in [-0.5, 2 pi - 0.5)."""
    th = np.angle(z)
    th = np.where(th < -0.5, th + 2 * np.pi, th)
    return np.log(np.abs(z)) + 1j * th


def random_points(rng, count):
    """Random real and complex points at distance >= 0.1 from the singular orbit."""
    pts = []
    while len(pts) < count:
        if len(pts) % 2 == 0:
            z = complex(rng.uniform(-6, 6), 0.0)
        else:
            z = complex(rng.uniform(-5, 5), rng.uniform(-5, 5))
        if min(abs(z - s) for s in SINGULAR) >= 0.1:
            pts.append(z)
    return np.array(pts)


@pytest.fixture(scope="module")
def reference_points():
    rng = np.random.default_rng(20260)
    z = random_points(rng, 40)
    n = rng.uniform(-1.2, 1.2, z.size)
    y = np.array([ref.fracexp(zi, ni) for zi, ni in zip(z, n)])
    return z, n, y


def rel_err(a, b):
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-300)


def test_spec_reference_values(simd_path):
    x = np.array([v[0] for v in SPEC_VALUES], dtype=float)
    n = np.array([v[1] for v in SPEC_VALUES])
    want = np.array([v[2] for v in SPEC_VALUES])
    got = fracexp_schroeder(x, n)
    assert got.dtype == np.complex128
    # the spec prints 15 decimals
    assert np.all(np.abs(got - want) <= 1e-14 * np.maximum(1, np.abs(want)))


def test_against_koenigs_reference(simd_path, reference_points):
    z, n, want = reference_points
    got = fracexp_schroeder(z, n)
    assert rel_err(got, want).max() <= 1e-13
    # real inputs through the real-z binding agree with the complex binding
    real = z.imag == 0
    got_r = fracexp_schroeder(z.real[real].copy(), n[real])
    assert rel_err(got_r, want[real]).max() <= 1e-13


def test_reference_is_independent_of_kernel_series():
    # the reference reproduces the spec table without any series coefficient
    for x, n, want in SPEC_VALUES[:4]:
        assert abs(ref.fracexp(x, n) - want) < 1e-14


def test_integer_iterates_and_identity(simd_path):
    rng = np.random.default_rng(1)
    z = rng.uniform(-4, 4, 300) + 1j * rng.uniform(-4, 4, 300)
    np.testing.assert_allclose(fracexp_schroeder(z, 1.0), np.exp(z), rtol=1e-13)
    np.testing.assert_allclose(fracexp_schroeder(z, 0.0), z, rtol=1e-13, atol=1e-14)
    y2 = fracexp_schroeder(z, 2.0)
    ok = np.abs(np.exp(z)) < 20  # conditioning of exp(exp z)
    np.testing.assert_allclose(y2[ok], np.exp(np.exp(z[ok])), rtol=1e-11)
    # exp^(-1) is the branched log, on both sides of the cut ray arg z = -0.5
    np.testing.assert_allclose(fracexp_schroeder(z, -1.0), branch_log(z), rtol=1e-13,
                               atol=1e-14)
    x = np.linspace(-6, 6, 241)
    np.testing.assert_allclose(fracexp_schroeder(x, 1.0), np.exp(x), rtol=1e-13)
    # the fixed point is fixed for every n
    np.testing.assert_allclose(fracexp_schroeder(np.full(5, C), np.linspace(-2, 2, 5)),
                               np.full(5, C), rtol=1e-14)


def test_branch_cut_choice():
    # just below/above the negative real axis: continuous (the cut is at arg -0.5)
    a = fracexp_schroeder(np.array([-2 - 1e-9j, -2 + 1e-9j]), 0.5)
    assert abs(a[0] - a[1]) < 1e-8
    # across the ray arg z = -0.5 exp^(-1) jumps by 2 pi i
    r = 3.0
    below = r * np.exp(1j * (-0.5 - 1e-9))
    above = r * np.exp(1j * (-0.5 + 1e-9))
    jump = fracexp_schroeder(np.array([below, above]), -1.0)
    assert abs((jump[0] - jump[1]) - 2j * np.pi) < 1e-6


def test_half_iterate_composes_to_exp_on_the_real_line(simd_path):
    x = np.round(np.arange(-6, 6.0001, 0.005), 10)
    # the known failure set (docs/fractional.md): neighbourhoods of 0, 1 and e
    bad = ((x >= -0.1) & (x <= 0)) | ((x >= 0.905) & (x <= 1)) | ((x >= 2.465) & (x <= 2.815))
    x = x[~bad]
    half = fracexp_schroeder(x, 0.5)
    np.testing.assert_allclose(fracexp_schroeder(half, 0.5), np.exp(x), rtol=1e-11)
    np.testing.assert_allclose(fracexp_schroeder(fracexp_schroeder(x, 0.7), 0.3), np.exp(x),
                               rtol=1e-11)
    np.testing.assert_allclose(fracexp_schroeder(half, -0.5), x, rtol=1e-11, atol=1e-12)


def test_derivatives_against_reference_differences(simd_path):
    pts = [(0.3, 0.5), (-2.0, 0.5), (5.0, -0.5), (2 + 1j, 0.3), (-3 - 2j, 1.5), (0.5j, -0.7)]
    for z, n in pts:
        y, dz, dn = fracexp_schroeder_grad(np.array([z]), np.array([n]))
        rdz, rdn = ref.fracexp_derivatives(z, n)
        assert abs(dz[0] - rdz) <= 1e-12 * abs(rdz)
        assert abs(dn[0] - rdn) <= 1e-12 * abs(rdn)
        assert abs(y[0] - ref.fracexp(z, n)) <= 1e-13 * abs(y[0])


def test_derivatives_against_own_differences(simd_path):
    rng = np.random.default_rng(5)
    z = random_points(rng, 200)
    n = rng.uniform(-1, 1, z.size)
    y, dz, dn = fracexp_schroeder_grad(z, n)
    np.testing.assert_array_equal(y, fracexp_schroeder(z, n))
    h = 1e-6
    # holomorphic: the same derivative along the real and the imaginary direction
    fd_re = (fracexp_schroeder(z + h, n) - fracexp_schroeder(z - h, n)) / (2 * h)
    fd_im = (fracexp_schroeder(z + 1j * h, n) - fracexp_schroeder(z - 1j * h, n)) / (2j * h)
    fd_n = (fracexp_schroeder(z, n + h) - fracexp_schroeder(z, n - h)) / (2 * h)
    scale = np.maximum(np.abs(dz), 1.0)
    assert (np.abs(fd_re - dz) / scale).max() < 1e-6
    assert (np.abs(fd_im - dz) / scale).max() < 1e-6
    assert (np.abs(fd_n - dn) / np.maximum(np.abs(dn), 1.0)).max() < 1e-6


def test_float32(simd_path, reference_points):
    z, n, want = reference_points
    # points where the float32 input rounding itself is harmless
    got = fracexp_schroeder(z.astype(np.complex64), n.astype(np.float32))
    assert got.dtype == np.complex64
    z32 = z.astype(np.complex64).astype(np.complex128)
    n32 = n.astype(np.float32).astype(np.float64)
    want32 = fracexp_schroeder(z32, n32)  # float64 at the rounded inputs
    assert rel_err(got.astype(np.complex128), want32).max() <= 1e-5
    x = np.linspace(-3, 3, 101).astype(np.float32)
    x = x[np.min(np.abs(x[:, None] - np.array(SINGULAR)[None, :2]), axis=1) > 0.1]
    y32, dz32, dn32 = fracexp_schroeder_grad(x, np.float32(0.5))
    y64, dz64, dn64 = fracexp_schroeder_grad(x.astype(np.float64), 0.5)
    assert y32.dtype == dz32.dtype == dn32.dtype == np.complex64
    assert rel_err(y32, y64).max() <= 1e-5
    assert rel_err(dz32, dz64).max() <= 1e-4
    assert rel_err(dn32, dn64).max() <= 1e-4


def test_simd_paths_agree():
    rng = np.random.default_rng(7)
    z = rng.uniform(-8, 8, 1003) + 1j * rng.uniform(-8, 8, 1003)
    n = rng.uniform(-1.5, 1.5, 1003)
    outs = {}
    for path in zenkai_np.supported_simd_paths():
        with zenkai_np.use_simd_path(path):
            outs[path] = fracexp_schroeder_grad(z, n)
    base = outs["baseline"]
    for path, res in outs.items():
        for a, b in zip(res, base):
            fin = np.isfinite(b)
            np.testing.assert_array_equal(np.isfinite(a), fin)
            assert rel_err(a[fin], b[fin]).max() < 1e-10, path


@pytest.mark.skipif("v4" not in zenkai_np.supported_simd_paths(), reason="no AVX-512 here")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_avx512_body_gives_the_avx2_bits(dtype):
    # Both have FMA and the same lane-local arithmetic (the AVX-512 body was once
    # routed to the AVX2 one until it could be checked on an AVX-512 CPU).
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(-5, 5, 3000), np.exp(rng.uniform(-3, 30, 500)),
                        [0.0, 1.0, np.e, -1.0, np.inf, -np.inf, np.nan]]).astype(dtype)
    z = (x[:3000] * np.exp(1j * rng.uniform(-np.pi, np.pi, 3000))).astype(
        np.complex128 if dtype == np.float64 else np.complex64)
    cases = [(x, rng.uniform(-1.5, 1.5, x.size).astype(dtype)),
             (x[:3500].reshape(-1, 7), rng.uniform(-1, 1, 7).astype(dtype)),
             (z, rng.uniform(-1.5, 1.5, z.size).astype(dtype))]
    for args in cases:
        got = {}
        for path in ("v3", "v4"):
            with zenkai_np.use_simd_path(path), np.errstate(all="ignore"):
                got[path] = fracexp_schroeder_grad(*args) + (fracexp_schroeder(*args),)
        for a, b in zip(got["v4"], got["v3"]):
            np.testing.assert_array_equal(a, b)


def test_element_results_do_not_depend_on_neighbours(simd_path):
    # The chains run over queues (the log chain swept in place, the exp chain
    # sorted by exp count): an element's value must not depend on which lane,
    # pass or queue slot handled it. Mix long and short log chains (large |z|, points
    # near the disc), exp counts 0..many (n from -2 to 2.5), exp overflows
    # (z = 800, 7 with n = 2) and NaN inputs over several blocks, then compare
    # bit for bit against a permutation and against one element at a time.
    rng = np.random.default_rng(11)
    m = 1500  # several 256-element blocks and a partial one
    z = np.concatenate([rng.uniform(-6, 6, m // 3),
                        rng.uniform(-30, 30, m // 3) + 1j * rng.uniform(-30, 30, m // 3),
                        C + 0.6 * np.exp(2j * np.pi * rng.uniform(size=m - 2 * (m // 3)))])
    n = rng.uniform(-2.0, 2.5, m)
    z[:6] = [800.0, 7.0, 5.0, np.nan, 0.0, 1e300]
    n[:6] = [2.0, 2.0, 2.0, 0.5, 0.5, 0.5]
    perm = rng.permutation(m)
    with np.errstate(all="ignore"):
        got = fracexp_schroeder_grad(z, n)
        got_p = fracexp_schroeder_grad(z[perm], n[perm])
        for a, b in zip(got, got_p):
            np.testing.assert_array_equal(a[perm], b)
        np.testing.assert_array_equal(fracexp_schroeder(z[perm], n[perm]), got[0][perm])
        for i in list(range(8)) + list(rng.choice(m, 24, replace=False)):
            one = fracexp_schroeder_grad(z[i:i + 1], n[i:i + 1])
            for a, b in zip(got, one):
                np.testing.assert_array_equal(a[i:i + 1], b)
        # real inputs (their own stage 0 path), float32 too
        for dt in (np.float64, np.float32):
            x = rng.uniform(-6, 6, m).astype(dt)
            nx = rng.uniform(-2.0, 2.5, m).astype(dt)
            r = fracexp_schroeder_grad(x, nx)
            r_p = fracexp_schroeder_grad(x[perm], nx[perm])
            for a, b in zip(r, r_p):
                np.testing.assert_array_equal(a[perm], b)


def test_threads_do_not_change_results(simd_path):
    rng = np.random.default_rng(3)
    z = rng.uniform(-5, 5, (301, 70))
    n = rng.uniform(-1, 1, 70)
    # 21070 elements: several chunks, so two threads really share the work
    np.testing.assert_array_equal(fracexp_schroeder(z, n, n_threads=1),
                                  fracexp_schroeder(z, n, n_threads=2))
    for u, v in zip(fracexp_schroeder_grad(z, n, n_threads=1),
                    fracexp_schroeder_grad(z, n, n_threads=2)):
        np.testing.assert_array_equal(u, v)


def test_broadcast_per_unit_n_and_scalars():
    rng = np.random.default_rng(4)
    z = rng.uniform(-3, 3, (17, 5))
    n = rng.uniform(-1, 1, 5)
    got = fracexp_schroeder(z, n)
    full = fracexp_schroeder(z.reshape(-1), np.broadcast_to(n, z.shape).reshape(-1))
    np.testing.assert_array_equal(got.reshape(-1), full)
    s = fracexp_schroeder(0.3, 0.5)
    assert isinstance(s, (complex, np.complexfloating)) and np.ndim(s) == 0
    assert abs(s - SPEC_VALUES[3][2]) < 1e-14
    # float32 array + Python scalar stays single precision
    assert fracexp_schroeder(np.float32([0.3]), 0.5).dtype == np.complex64
    assert fracexp_schroeder(np.float32([0.3]), np.float64(0.5)).dtype == np.complex128
    out = np.empty((17, 5), np.complex128)
    assert fracexp_schroeder(z, n, out=out) is out
    np.testing.assert_array_equal(out, got)


def test_method_dispatch_keeps_abel_default():
    x = np.array([-1.0, 2.0, 3.0])
    n = np.array([0.5, 0.5, -0.5])
    assert zenkai_np.fracexp(x, n).dtype == np.float64  # Abel, real
    np.testing.assert_array_equal(zenkai_np.fracexp(x, n, method="schroeder"),
                                  fracexp_schroeder(x, n))
    g = zenkai_np.fracexp_grad(x, n, method="schroeder")
    for a, b in zip(g, fracexp_schroeder_grad(x, n)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="min_modulus"):
        zenkai_np.fracexp(x, n, min_modulus=0.02)


def test_guards(simd_path):
    # exact zeros of the log chain (z = 0, 1 lie on the singular orbit): the floor
    # keeps log(0) = -inf out; the default tiny floor gives the (huge) limit,
    # or not (values there are chaotic); the authors' 0.02 gives finite values
    y = fracexp_schroeder(np.array([0.0, 1.0]), 0.5)
    assert not np.any(np.isnan(y))
    assert np.all(np.isfinite(fracexp_schroeder(np.array([0.0, 1.0]), 0.5, min_modulus=0.02)))
    # |z|^2 beyond the double range: log|z| is rescaled (no spurious NaN); the
    # values agree with the Koenigs reference (which overflows as well here)
    big = fracexp_schroeder(np.array([1e300, -1e300, 1e300j, 1e-300]), 0.5)
    assert not np.any(np.isnan(big))
    z = np.array([1e200 + 0j, 1e-200 + 0j, 3e160 + 2e160j])
    got = fracexp_schroeder(z, -0.5)
    want = np.array([ref.fracexp(v, -0.5) for v in z])
    assert rel_err(got, want).max() < 1e-12
    # the authors' floor 0.02 changes the value near the singular orbit only
    far = np.array([2.0, -2.0, 5.0])
    np.testing.assert_allclose(fracexp_schroeder(far, 0.5, min_modulus=0.02),
                               fracexp_schroeder(far, 0.5), rtol=1e-14)
    # NaN and inf inputs give NaN
    z = np.array([np.nan, np.inf, -np.inf, 2.0])
    y, dz, dn = fracexp_schroeder_grad(z, 0.5)
    assert np.all(np.isnan(y[:3]) & np.isnan(dz[:3]) & np.isnan(dn[:3]))
    assert np.isfinite(y[3])
    assert np.isnan(fracexp_schroeder(2.0 + 0j, np.nan))
    assert np.isnan(fracexp_schroeder(complex(1, np.nan), 0.5))
    # exp chain overflow: the real part is +inf (exp(800), exp(exp(7)) = exp(1096.6))
    y, dz, dn = fracexp_schroeder_grad(np.array([800.0, 7.0, 5.0]), np.array([1.0, 2.0, 2.0]))
    assert y[0].real == np.inf and y[1].real == np.inf
    assert dz[0].real == np.inf and dn[1].real == np.inf
    assert abs(y[2] - np.exp(np.exp(5.0))) < 1e-12 * np.exp(np.exp(5.0))
    # chi^-1(0) = c: the fixed point maps to itself, with derivative c^n
    y, dz, dn = fracexp_schroeder_grad(np.array([C]), np.array([0.5]))
    assert abs(y[0] - C) < 1e-15
    assert abs(dz[0] - np.exp(0.5 * C)) < 1e-14
    assert dn[0] == 0


def test_bad_input():
    z = np.array([1.5, 2.0])
    with pytest.raises(TypeError, match="n"):
        fracexp_schroeder(z, np.array([0.5 + 1j, 0.5]))
    with pytest.raises(TypeError, match="z"):
        fracexp_schroeder(np.array(["a", "b"]), 0.5)
    with pytest.raises(ValueError, match="broadcast"):
        fracexp_schroeder(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="n_threads"):
        fracexp_schroeder(z, 0.5, n_threads=0)
    with pytest.raises(TypeError, match="n_threads"):
        fracexp_schroeder(z, 0.5, n_threads=1.5)
    with pytest.raises(ValueError, match="min_modulus"):
        fracexp_schroeder(z, 0.5, min_modulus=-1.0)
    with pytest.raises(ValueError, match="min_modulus"):
        fracexp_schroeder(z, 0.5, min_modulus=0.0)
    with pytest.raises(TypeError, match="min_modulus"):
        fracexp_schroeder(z, 0.5, min_modulus="0.1")
    with pytest.raises(ValueError, match="dtype"):
        fracexp_schroeder(z, 0.5, out=np.empty(2, np.complex64))
    with pytest.raises(ValueError, match="shape"):
        fracexp_schroeder(z, 0.5, out=np.empty(3, np.complex128))
    ro = np.empty(2, np.complex128)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fracexp_schroeder(z, 0.5, out=ro)
    with pytest.raises(ValueError, match="contiguous"):
        fracexp_schroeder(z, 0.5, out=np.empty(4, np.complex128)[::2])
    with pytest.raises(TypeError, match="out"):
        fracexp_schroeder(z, 0.5, out=[0j, 0j])
    # empty input: empty output
    assert fracexp_schroeder(np.empty(0), 0.5).shape == (0,)
    assert fracexp_schroeder(np.empty((0, 3)), np.ones(3)).shape == (0, 3)


def test_inputs_not_modified_and_strided_inputs():
    rng = np.random.default_rng(8)
    z = rng.uniform(-3, 3, (20, 6)) + 1j * rng.uniform(-3, 3, (20, 6))
    n = rng.uniform(-1, 1, 6)
    z0, n0 = z.copy(), n.copy()
    got = fracexp_schroeder(z[:, ::2], n[::2])
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_array_equal(n, n0)
    np.testing.assert_array_equal(got, fracexp_schroeder(np.ascontiguousarray(z[:, ::2]),
                                                         n[::2].copy()))


def test_coefficient_header_is_generated():
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_schroeder_coeffs.py"),
                          "--check"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_generated_coefficients_match_spec():
    header = (ROOT / "csrc" / "fractional" / "schroeder_coeffs.hpp").read_text()
    assert "0.15131489715565174, 0.29674883673224131" in header  # phi_2
    assert "-0.15131489715565174, -0.29674883673224131" in header  # eta_2 = -phi_2

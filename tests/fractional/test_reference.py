"""The NumPy references of zenkai_np/fractional/_reference.py (the bench's baselines)
against the kernels and the independent mpmath oracles, and the generated series table."""
import pathlib
import re

import numpy as np
import pytest
from abel_reference import algorithmic_condition
from abel_reference import fracexp as mp_fracexp

from zenkai_np.fractional import _schroeder_coeffs as coeffs
from zenkai_np.fractional import fracexp_grad, fracexp_schroeder_grad
from zenkai_np.fractional._reference import AbelNumpy, SchroederNumpy


def _abel_inputs(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(5000).astype(dtype)
    n = rng.uniform(-0.5, 1.0, 5000).astype(dtype)
    ref = tuple(np.empty(5000, dtype) for _ in range(3))
    with np.errstate(all="ignore"):
        AbelNumpy(dtype, chunk=777).grad(x, n, *ref)
    return x, n, ref


def test_abel_numpy_matches_kernel():
    x, n, ref = _abel_inputs(np.float64)
    got = fracexp_grad(x, n)
    inside = ~np.isnan(got[0])           # outside the domain (psi(x) + n <= -1): y is NaN
    assert np.array_equal(np.isnan(ref[0]), ~inside) and 0 < inside.sum() < x.size
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a[inside], b[inside], rtol=1e-11, atol=1e-11)


def test_abel_numpy_float32_matches_float64_within_its_condition():
    # float32 against float32 is no fixed tolerance apart: both carry the error of
    # NumPy's float32 exp/log (its AVX-512 loops differ from its AVX2 ones) times the
    # algorithm's condition. So each is held to a few float32 eps times that condition
    # against the float64 reference, which the test above ties to the kernel.
    x, n, ref32 = _abel_inputs(np.float32)
    x64, n64 = x.astype(np.float64), n.astype(np.float64)
    ref64 = tuple(np.empty(x.size) for _ in range(3))
    with np.errstate(all="ignore"):
        AbelNumpy(np.float64, chunk=777).grad(x64, n64, *ref64)
    got32 = fracexp_grad(x, n)
    inside = ~np.isnan(ref64[0])
    assert np.array_equal(np.isnan(ref32[0]), ~inside)
    assert np.array_equal(np.isnan(got32[0]), ~inside)
    cond = algorithmic_condition(x64, n64, *ref64)[inside]
    bound = 4 * np.finfo(np.float32).eps * cond
    for k in range(3):
        want = ref64[k][inside]
        for got in (ref32[k][inside], got32[k][inside]):
            assert np.all(np.abs(got - want) <= bound * np.abs(want)), k


def test_abel_numpy_matches_mpmath():
    x = np.array([-3.0, -0.4, 0.2, 0.9, 1.7, 4.0, 30.0])
    n = np.array([0.3, -0.5, 0.7, -0.2, 1.0, -0.6, 0.45])
    ref = tuple(np.empty(x.size) for _ in range(3))
    AbelNumpy().grad(x, n, *ref)
    for i in range(x.size):
        want = [float(v) for v in mp_fracexp(x[i], n[i])]
        np.testing.assert_allclose([r[i] for r in ref], want, rtol=1e-13)


def test_schroeder_numpy_matches_kernel():
    rng = np.random.default_rng(0)
    z = rng.uniform(-5, 5, 3000)
    z = z[np.min(np.abs(z[:, None] - np.array([0, 1, np.e])[None]), axis=1) > 0.05]
    n = rng.uniform(-1, 1, z.size)
    ref = SchroederNumpy(chunk=1000).grad(z, n)
    got = fracexp_schroeder_grad(z, n)
    for a, b in zip(got, ref):
        assert np.max(np.abs(a - b) / np.abs(b)) < 1e-9


def test_schroeder_numpy_uses_the_kernels_series():
    ref = SchroederNumpy()
    assert ref.phi.size == 32 and ref.eta.size == 25   # the kernel's float64 series
    assert ref.c == coeffs.FIXED_POINT
    assert abs(np.exp(ref.c) - ref.c) < 1e-15


def _header_arrays(text):
    out = {}
    for name, body in re.findall(r"constexpr double (k\w+)\[\d+\]\[2\] = \{(.*?)\};", text, re.S):
        pairs = re.findall(r"\{([^{},]+), ([^{},]+)\}", body)
        out[name] = [complex(float(a), float(b)) for a, b in pairs]
    return out


def test_python_table_is_the_cpp_table():
    header = (pathlib.Path(__file__).resolve().parents[2] / "csrc" / "fractional"
              / "schroeder_coeffs.hpp")
    if not header.exists():
        pytest.skip("needs the source tree")
    arrays = _header_arrays(header.read_text())
    assert arrays["kPhi"] == list(coeffs.PHI)
    assert arrays["kEta"] == list(coeffs.ETA)
    assert arrays["kCPow"] == list(coeffs.CPOW)
    assert arrays["kCInvPow"] == list(coeffs.CINVPOW)

"""Both BLAS builds the compiled modules can call (csrc/bindings/blas_loader.hpp, and the
Cython kernels' zenkai_np/_blas.pyx) give the same results as the NumPy references:
NumPy's bundled OpenBLAS (default) and SciPy's."""
import os
import subprocess
import sys

import numpy as np
import pytest

from zenkai_np import _blas, _bplambda, _framework, _moments, kernel_blas, set_kernel_blas
from zenkai_np.bplambda._reference import trace_step_numpy
from zenkai_np.moments import hermite_contract
from zenkai_np.moments._reference import numpy_gram_scaled

MODULES = (_bplambda, _moments, _framework, _blas)


@pytest.fixture(params=["numpy", "scipy"])
def provider(request):
    before = kernel_blas()
    used = set_kernel_blas(request.param)
    assert {m.blas() for m in MODULES} == {used}
    yield used
    set_kernel_blas(before)


def test_default_is_numpys_where_numpy_bundles_openblas():
    import glob
    bundled = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs",
                                     "libscipy_openblas64_*"))
    assert {m.blas() for m in MODULES} == {"numpy" if bundled else "scipy"}


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 1e-4)])
def test_trace_step_with_each_blas(provider, dtype, rtol):
    rng = np.random.default_rng(0)
    S, B, P = 7, 3, 8
    E = rng.standard_normal((S, B, S, P)).astype(dtype)
    W = rng.standard_normal((S, S)).astype(dtype) / 3
    a = rng.uniform(0.5, 1, (B, S)).astype(dtype)
    u = rng.standard_normal((B, P)).astype(dtype)
    d = rng.standard_normal((B, S)).astype(dtype)
    E64 = E.astype(np.float64)
    E_ref64 = np.empty_like(E64)
    out_ref = trace_step_numpy(E64, E_ref64, W.astype(np.float64), a.astype(np.float64), 0.9,
                               u.astype(np.float64), d.astype(np.float64), 0.5)
    E_out, out = np.empty_like(E), np.empty((S, P), dtype)
    _bplambda._set_push_kernel(0)       # the BLAS push (the rule picks the in-house one here)
    try:
        _bplambda.trace_step(E, E_out, W, a, np.empty(0, dtype), 0.9, u, d, 0.5, out, 1)
    finally:
        _bplambda._set_push_kernel(-1)
    np.testing.assert_allclose(E_out, E_ref64, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(out, out_ref, rtol=rtol, atol=rtol * np.abs(out_ref).max())


def test_gram_contraction_with_each_blas(provider):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3000, 12))
    r = rng.standard_normal(3000)
    g = rng.standard_normal(12)
    g /= np.linalg.norm(g)
    got = hermite_contract(X, r, g, 4, n_threads=1)
    np.testing.assert_allclose(got, numpy_gram_scaled(X, r, g, 4), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-13), (np.float32, 1e-5)])
def test_cython_gemm_and_gemv_with_each_blas(provider, dtype, rtol):
    rng = np.random.default_rng(2)
    A, B = rng.standard_normal((7, 5)).astype(dtype), rng.standard_normal((6, 5)).astype(dtype)
    C = rng.standard_normal((7, 6)).astype(dtype)
    want = 0.5 * (A.astype(np.float64) @ B.T) + 2.0 * C
    _blas._gemm(A, B, C, False, True, 0.5, 2.0)
    np.testing.assert_allclose(C, want, rtol=rtol, atol=rtol)
    x, y = rng.standard_normal(7).astype(dtype), rng.standard_normal(5).astype(dtype)
    want = A.T.astype(np.float64) @ x - y
    _blas._gemv(A, x, y, True, 1.0, -1.0)
    np.testing.assert_allclose(y, want, rtol=rtol, atol=rtol)


def test_environment_variable_and_bad_name(tmp_path):
    # Run outside the source tree so the installed package is imported.
    code = ("from zenkai_np import _blas, _bplambda, _framework, _moments; "
            "print(*(m.blas() for m in (_bplambda, _moments, _framework, _blas)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "ZENKAI_NP_BLAS": "scipy"}, check=True,
                         timeout=120, cwd=tmp_path)
    assert out.stdout.split() == ["scipy"] * 4
    with pytest.raises(ValueError, match="expected one of"):
        set_kernel_blas("mkl")
    with pytest.raises(ValueError, match="non-null"):
        _bplambda._set_blas_ilp64(0, 0, 0, 0, 0, 0)
    with pytest.raises(ValueError, match="non-null"):
        _blas._set_blas_ilp64(0, 0, 0, 0, 0, 0)
    assert kernel_blas() in ("numpy", "scipy")

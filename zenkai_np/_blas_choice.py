"""Which BLAS the compiled kernels call: NumPy's bundled OpenBLAS or SciPy's.

Every install has both in memory (NumPy's is loaded by ``import numpy``, SciPy's
through ``scipy.linalg.cython_blas``). The rule: NumPy's when this NumPy bundles
one (``numpy.libs/libscipy_openblas64_*``, the ILP64 build of current NumPy wheels
on Linux) — it is the newer build and the faster one at the kernels' shapes where
measured (AVX2 Zen 3: float32 (30×30)@(30×9300) GEMM 61 vs 43 GFLOP/s, float64
``X.T @ X`` of 2e5×100 85 vs 154 ms) — else SciPy's. The environment variable
``ZENKAI_NP_BLAS`` (``numpy`` or ``scipy``, read at import) or
:func:`set_kernel_blas` choose; :func:`kernel_blas` tells which is in use.
Results agree to rounding either way (tests/runtime/test_blas_providers.py).
"""
from __future__ import annotations

import ctypes
import glob
import importlib
import os

__all__ = ["kernel_blas", "set_kernel_blas"]

# The compiled modules that call BLAS (_blas: the Cython kernels' layer); each has blas(),
# _set_blas_scipy(), _set_blas_ilp64().
BLAS_MODULES = ("_bplambda", "_moments", "_framework", "_blas")
_NAMES = ("numpy", "scipy")
_ENTRY_POINTS = ("scipy_sgemm_64_", "scipy_ssyrk_64_", "scipy_sgemv_64_",
                 "scipy_dgemm_64_", "scipy_dsyrk_64_", "scipy_dgemv_64_")


def _modules():
    return [importlib.import_module(f"zenkai_np.{name}") for name in BLAS_MODULES]


def numpy_openblas_entry_points():
    """Addresses of NumPy's bundled ILP64 OpenBLAS ?gemm/?syrk/?gemv (float, double), or None."""
    import numpy
    libs = glob.glob(os.path.join(os.path.dirname(numpy.__file__), os.pardir, "numpy.libs",
                                  "libscipy_openblas64_*.so*"))
    if len(libs) != 1 or not hasattr(os, "RTLD_NOLOAD"):
        return None
    try:   # the library NumPy has loaded (RTLD_NOLOAD: never a second copy)
        lib = ctypes.CDLL(libs[0], mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        return [ctypes.cast(getattr(lib, name), ctypes.c_void_p).value for name in _ENTRY_POINTS]
    except (OSError, AttributeError):
        return None


def kernel_blas() -> str:
    """'numpy' or 'scipy': the BLAS the compiled kernels call."""
    from . import _bplambda
    return _bplambda.blas()


def set_kernel_blas(name: str) -> str:
    """Make every compiled kernel call ``name``'s BLAS ('numpy' falls back to 'scipy'
    where NumPy bundles none); returns the one in use."""
    if name not in _NAMES:
        raise ValueError(f"name: expected one of {_NAMES}, got {name!r}")
    points = numpy_openblas_entry_points() if name == "numpy" else None
    for module in _modules():
        if points:
            module._set_blas_ilp64(*points)
        else:
            module._set_blas_scipy()
    return kernel_blas()


def _apply_environment() -> None:
    requested = os.environ.get("ZENKAI_NP_BLAS", "").strip() or "numpy"
    try:
        set_kernel_blas(requested)
    except ValueError as exc:
        raise ValueError(f"environment variable ZENKAI_NP_BLAS={requested!r}: {exc}") from None

"""``show_config()``: what was built and what runs."""
from __future__ import annotations

import os
import platform
import sys

import numpy as np

from . import _build_info
from ._blas_choice import kernel_blas
from ._simd import simd_path, supported_simd_paths
from ._threads import in_forked_child

__all__ = ["show_config"]


def _blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (install threadpoolctl to see BLAS threads)"
    return [{k: d.get(k) for k in ("internal_api", "version", "num_threads", "user_api",
                                   "architecture") if k in d}
            for d in threadpool_info()]


# OpenBLAS core types whose kernels stop at AVX2
_AVX2_OPENBLAS_CORES = {"haswell", "zen"}


def blas_hint(blas, simd_supported) -> str | None:
    """A note when an OpenBLAS runs AVX2 kernels on a CPU with AVX-512 (the OpenBLAS
    builds of NumPy 2.4 and SciPy 1.17 take a Zen 5 for a Haswell), else None.
    ``blas``: threadpoolctl's list as in ``show_config()["blas"]``."""
    if "v4" not in simd_supported or not isinstance(blas, list):
        return None
    cores = {str(d.get("architecture")).lower() for d in blas
             if d.get("internal_api") == "openblas"}
    if not cores & _AVX2_OPENBLAS_CORES:
        return None
    return ("OpenBLAS runs its AVX2 kernels on this AVX-512 CPU; OPENBLAS_CORETYPE=SkylakeX, "
            "set before Python starts, selects its AVX-512 ones (README, Benchmarks)")


def cpu_model() -> str:
    """The CPU's model name with its family and model numbers (Linux ``/proc/cpuinfo``;
    elsewhere what ``platform`` knows): virtual machines often report a bare vendor name."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if not line.strip():
                    break  # the first processor's block is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']} model {fields['model']})"
    return name


def show_config(display: bool = False) -> dict:
    """Version, compiler and flags, OpenMP runtime, SIMD paths; printed if ``display``."""
    from . import __version__
    info = {
        "zenkai_np": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "numpy": np.__version__,
        "compiler": _build_info.compiler,
        "build_flags": _build_info.build_flags,
        "openmp": _build_info.openmp,
        "openmp_max_threads": int(_build_info.omp_max_threads()),
        "forked_child_single_thread": in_forked_child(),
        "simd_path": simd_path(),
        "simd_supported": supported_simd_paths(),
        "simd_env_override": os.environ.get("ZENKAI_NP_SIMD") or None,
        "libmvec": bool(_build_info.have_libmvec),
        "blas": _blas_info(),
        "kernel_blas": kernel_blas(),
        "blas_env_override": os.environ.get("ZENKAI_NP_BLAS") or None,
    }
    info["blas_hint"] = blas_hint(info["blas"], info["simd_supported"])
    if display:
        width = max(len(k) for k in info)
        for key, value in info.items():
            print(f"{key:<{width}}  {value}")
    return info

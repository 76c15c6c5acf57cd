"""Which SIMD path the compiled kernels use.

Each compiled module picks the best path the CPU supports when it is loaded:
``"v4"`` (x86-64-v4, AVX-512), ``"v3"`` (x86-64-v3, AVX2+FMA) or
``"baseline"`` (x86-64, SSE2). The environment variable ``ZENKAI_NP_SIMD``
(read at import) or :func:`set_simd_path` selects a lower one, e.g. to compare
paths; asking for a path the CPU lacks is a ValueError.
"""
from __future__ import annotations

import contextlib
import importlib
import os

__all__ = ["simd_path", "set_simd_path", "supported_simd_paths", "use_simd_path"]

# Every compiled module of the package; each exposes simd_level()/set_simd_level().
COMPILED_MODULES = ("_build_info", "_fractional", "_bplambda", "_moments", "_framework")

_PATHS = ("baseline", "v3", "v4")


def _modules():
    return [importlib.import_module(f"zenkai_np.{name}") for name in COMPILED_MODULES]


def supported_simd_paths() -> list:
    """The SIMD paths this CPU can run, lowest first."""
    from . import _build_info
    return list(_build_info.supported_simd_levels())


def simd_path() -> str:
    """The SIMD path the kernels use now."""
    from . import _build_info
    return _build_info.simd_level()


def set_simd_path(name: str) -> None:
    """Select the SIMD path of every compiled kernel."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, got {type(name).__name__}")
    if name not in _PATHS:
        raise ValueError(f"name: unknown SIMD path {name!r}; expected one of {_PATHS}")
    supported = supported_simd_paths()
    if name not in supported:
        raise ValueError(f"name: SIMD path {name!r} is not supported by this CPU; "
                         f"supported: {supported}")
    for module in _modules():
        module.set_simd_level(name)


@contextlib.contextmanager
def use_simd_path(name: str):
    """Context manager: run the block on SIMD path ``name``, then restore."""
    previous = simd_path()
    set_simd_path(name)
    try:
        yield name
    finally:
        set_simd_path(previous)


def _apply_environment() -> None:
    requested = os.environ.get("ZENKAI_NP_SIMD", "").strip()
    if not requested:
        return
    try:
        set_simd_path(requested)
    except ValueError as exc:
        raise ValueError(f"environment variable ZENKAI_NP_SIMD={requested!r}: {exc}") from None

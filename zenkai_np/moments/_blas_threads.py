"""Limit BLAS to one thread around kernels that call BLAS from OpenMP threads.

The contraction kernel calls SciPy's BLAS from inside its own parallel region;
a multi-threaded BLAS there would oversubscribe the cores (engineering guide,
"Threads"), and the thread count of our kernel alone decides the work split.
"""
from __future__ import annotations

import contextlib

__all__ = ["single_threaded_blas"]

_CONTROLLER = None


def _controller():
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


@contextlib.contextmanager
def single_threaded_blas():
    """Context manager: every loaded BLAS runs on one thread inside the block."""
    try:
        ctl = _controller()
    except ImportError:  # threadpoolctl missing: nothing to limit
        yield
        return
    with ctl.limit(limits=1, user_api="blas"):
        yield

"""Thread-count rules for every parallel kernel.

``n_threads=None`` reads OpenMP's maximum *at call time* (so ``OMP_NUM_THREADS``
and ``threadpoolctl.threadpool_limits(user_api="openmp")`` are honoured);
a positive int is used as is; a negative int counts back from the number of
CPUs (-1 = all, -2 = all but one, ...); 0 is a ValueError; anything that is
not an int is a TypeError.

Fork safety: after a parent process has run a multi-threaded OpenMP region,
a ``fork``-ed child that starts OpenMP threads hangs (a libgomp limitation).
Children therefore default to one thread, and a kernel run with one thread
never enters an OpenMP region. Prefer the ``spawn`` or ``forkserver``
multiprocessing start methods if children need several threads.
"""
from __future__ import annotations

import contextlib
import numbers
import os

from . import _build_info

__all__ = ["resolve_n_threads", "in_forked_child", "limit_threads", "limit_blas_threads"]

_FORKED_CHILD = False


def _mark_forked_child() -> None:
    global _FORKED_CHILD
    _FORKED_CHILD = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_mark_forked_child)


def in_forked_child() -> bool:
    """True in a process forked from one that imported zenkai_np."""
    return _FORKED_CHILD


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def resolve_n_threads(n_threads) -> int:
    """Turn the user's ``n_threads`` into a positive thread count."""
    if type(n_threads) is int and n_threads > 0:  # the common case, without the ABC check
        return n_threads
    if n_threads is None:
        return 1 if _FORKED_CHILD else max(1, int(_build_info.omp_max_threads()))
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"n_threads: expected None or an int, got {type(n_threads).__name__}")
    n_threads = int(n_threads)
    if n_threads == 0:
        raise ValueError("n_threads: must be a positive or negative int, got 0")
    if n_threads < 0:
        return max(1, _cpu_count() + 1 + n_threads)
    return n_threads


_CONTROLLER = None


def _controller():
    """threadpoolctl's view of the loaded thread pools, found once per process (a scan of
    the loaded libraries costs ~0.5 ms, too much for a per-step limit); None without
    threadpoolctl."""
    global _CONTROLLER
    if _CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            return None
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


@contextlib.contextmanager
def limit_threads(n: int = 1, *, user_api: str | None = None):
    """Context manager: the loaded thread pools of ``user_api`` (``"blas"``, ``"openmp"``;
    None: all of them) run on ``n`` threads. Without threadpoolctl it limits nothing."""
    n = resolve_n_threads(n)
    controller = _controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=n, user_api=user_api):
        yield


def limit_blas_threads(n: int = 1):
    """Context manager: every loaded BLAS (NumPy's and SciPy's) runs on ``n`` threads.

    Used around loops that interleave our OpenMP kernels with BLAS calls, or
    BLAS calls from inside our own parallel regions (they would oversubscribe
    the cores). Without threadpoolctl installed it limits nothing.
    """
    return limit_threads(n, user_api="blas")


_BLAS_LIBS = None


def one_blas_thread():
    """Context manager: BLAS at one thread around a compiled pass that calls it (its
    GEMMs are small, and OpenBLAS's threaded path rounds reductions differently, so
    results would depend on the thread count). A no-op when every BLAS already runs on
    one thread (e.g. inside ``limit_blas_threads(1)``, the way to call the passes from
    several Python threads: the limit itself is process-global)."""
    global _BLAS_LIBS
    if _BLAS_LIBS is None:
        ctl = _controller()
        _BLAS_LIBS = [] if ctl is None else ctl.select(user_api="blas").lib_controllers
    if all(lib.num_threads == 1 for lib in _BLAS_LIBS):
        return contextlib.nullcontext()
    return limit_blas_threads(1)

"""Run independent tasks on a ``concurrent.futures.Executor`` or a ``dask.distributed.Client``.

One small layer shared by the population learners and :func:`zenkai_np.sweep.sweep`:

* :func:`as_runner` checks the executor (wrong type -> TypeError, a closed
  Client or a shut-down Executor -> ValueError, both naming ``executor``);
* :meth:`Runner.scatter` ships an array to the workers once (a dask Client
  keeps it in worker memory; later calls with equal bytes reuse it);
* :meth:`Runner.map` runs ``fn(*args)`` for every argument tuple and returns
  the results **in submission order**, or raises: a task that fails or a
  worker that dies (after dask's own retries, ``distributed.scheduler.
  allowed-failures``) makes the whole call fail with RuntimeError and no
  partial result.  Every task runs with one BLAS/OpenMP thread
  (threadpoolctl), so that tasks do not oversubscribe the cores.

The same code runs on a laptop ``LocalCluster`` and on a cluster reached
through ``dask_jobqueue`` or ``dask_kubernetes`` (any ``Client``).
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import sys

import numpy as np

from ._threads import limit_threads

__all__ = ["Runner", "as_runner", "single_threaded_call"]


def single_threaded_call(fn, *args):
    """``fn(*args)`` with every BLAS and OpenMP pool limited to one thread."""
    with limit_threads(1):
        return fn(*args)


def _is_client(obj) -> bool:
    mod = sys.modules.get("distributed")
    return mod is not None and isinstance(obj, mod.Client)


def _digest(a) -> tuple:
    a = np.ascontiguousarray(a)
    h = hashlib.blake2b(a.view(np.uint8).reshape(-1), digest_size=16).hexdigest()
    return a.shape, a.dtype.str, h


class Runner:
    """An executor checked by :func:`as_runner` (see the module docstring)."""

    def __init__(self, executor):
        self.executor = executor
        self.is_dask = _is_client(executor)
        self._scattered = {}
        self._check_open()

    def _check_open(self):
        ex = self.executor
        if self.is_dask:
            if ex.status != "running":
                raise ValueError(f"executor: the dask Client is not running (status "
                                 f"{ex.status!r}); pass an open Client")
        elif getattr(ex, "_shutdown", False) or getattr(ex, "_shutdown_thread", False) \
                or getattr(ex, "_broken", False):
            raise ValueError("executor: the concurrent.futures Executor is shut down or "
                             "broken; pass a live one")

    @property
    def n_workers(self) -> int:
        """Worker count (at least 1): dask workers, or the Executor's ``_max_workers``."""
        if self.is_dask:
            return max(1, len(self.executor.scheduler_info(n_workers=-1)["workers"]))
        return max(1, int(getattr(self.executor, "_max_workers", 1) or 1))

    def scatter(self, array, slot="x"):
        """A handle to ``array`` on the workers (the array itself for an Executor).

        One array is kept per ``slot`` (e.g. "x", "t"); scattering new bytes to
        a slot releases the old ones.
        """
        if not self.is_dask:
            return array
        key = _digest(array)
        held = self._scattered.get(slot)
        if held is None or held[0] != key or held[1].status != "finished":
            self._check_open()
            fut = self.executor.scatter(np.ascontiguousarray(array), broadcast=True, hash=False)
            self._scattered[slot] = (key, fut)
        return self._scattered[slot][1]

    def map(self, fn, arg_tuples, *, what="task"):
        """``[fn(*args) for args in arg_tuples]`` on the workers, in order; all or nothing."""
        self._check_open()
        arg_tuples = list(arg_tuples)
        if self.is_dask:
            return self._map_dask(fn, arg_tuples, what)
        return self._map_executor(fn, arg_tuples, what)

    def _map_dask(self, fn, arg_tuples, what):
        client = self.executor
        futures = [client.submit(single_threaded_call, fn, *args, pure=False)
                   for args in arg_tuples]
        try:
            return client.gather(futures, errors="raise")
        except (ValueError, TypeError):
            client.cancel(futures)
            raise
        except Exception as exc:
            client.cancel(futures)
            raise RuntimeError(f"{what} failed on a dask worker ({type(exc).__name__}: "
                               f"{exc}); no partial result is returned") from exc

    def _map_executor(self, fn, arg_tuples, what):
        ex = self.executor
        threads = isinstance(ex, cf.ThreadPoolExecutor)
        # In threads the limit is process-wide: set it once here, not per task.
        try:
            if threads:
                with limit_threads(1):
                    futures = [ex.submit(fn, *args) for args in arg_tuples]
                    return [f.result() for f in futures]
            futures = [ex.submit(single_threaded_call, fn, *args) for args in arg_tuples]
            return [f.result() for f in futures]
        except (ValueError, TypeError):
            raise
        except RuntimeError as exc:
            if "shutdown" in str(exc):
                raise ValueError("executor: the Executor was shut down") from exc
            raise RuntimeError(f"{what} failed ({exc}); no partial result is "
                               "returned") from exc
        except Exception as exc:
            raise RuntimeError(f"{what} failed in the executor ({type(exc).__name__}: "
                               f"{exc}); no partial result is returned") from exc


def as_runner(executor):
    """None -> None; an Executor or a dask Client -> :class:`Runner`; else TypeError."""
    if executor is None:
        return None
    if isinstance(executor, Runner):
        executor._check_open()
        return executor
    if isinstance(executor, cf.Executor) or _is_client(executor):
        return Runner(executor)
    raise TypeError("executor: expected a concurrent.futures.Executor or a "
                    f"dask.distributed.Client, got {type(executor).__name__}")

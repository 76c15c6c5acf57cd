"""Timing helpers shared by every benchmark module.

Each benchmark module ``zenkai_np/bench/bench_<name>.py`` defines
``run(*, quick: bool, threads: list[int]) -> list[Result]`` and times the
compiled kernel against the best NumPy formulation of the same mathematics
*in the same run*. The timers here are the only ones the benchmarks use; BLAS
threads are limited with the package's one limiter (``_threads.limit_blas_threads``).
"""
from __future__ import annotations

import contextlib
import gc
import statistics
import time
from dataclasses import asdict, dataclass, field

from .._threads import limit_blas_threads

__all__ = ["Result", "median_time", "format_table", "cpu_steal", "calls_per_sample",
           "seconds_per_call", "gc_paused", "interleaved_times", "interleaved_pairs",
           "limit_blas_threads", "thread_scaling"]


@dataclass
class Result:
    """One benchmark row. ``speedup`` = reference time / our time (>1: ours faster)."""

    kernel: str
    case: str
    dtype: str
    threads: int
    simd: str
    ours_ms: float
    ref_ms: float
    ref_name: str
    throughput: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def speedup(self) -> float:
        return self.ref_ms / self.ours_ms if self.ours_ms > 0 else float("nan")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["speedup"] = self.speedup
        return d


@contextlib.contextmanager
def gc_paused():
    """Garbage collection off inside the block (a collection inside a sample skews it)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def seconds_per_call(fn, number: int = 1) -> float:
    """Wall time of ``number`` back-to-back calls of ``fn``, divided by ``number``."""
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def calls_per_sample(fn, min_time: float = 0.02, cap: int = 1 << 20) -> int:
    """After one warm-up call, the smallest power of two of back-to-back calls of
    ``fn`` that lasts ``min_time`` seconds (at most ``cap``): short calls are then
    not dominated by timer noise."""
    fn()  # warm-up: page faults, lazy imports, thread-team start
    number = 1
    while seconds_per_call(fn, number) * number < min_time and number < cap:
        number *= 2
    return number


def median_time(fn, *, repeat: int = 7, min_time: float = 0.02) -> float:
    """Median wall time of one call of ``fn`` in seconds (``repeat`` samples of
    :func:`calls_per_sample` calls each)."""
    number = calls_per_sample(fn, min_time)
    with gc_paused():
        samples = [seconds_per_call(fn, number) for _ in range(repeat)]
    return statistics.median(samples)


def interleaved_times(fns, *, repeat: int = 9, min_time: float = 0.05,
                      blas_threads=None) -> list:
    """Median seconds per call of each function, the repeats interleaved (A B C A B C ...)
    so that every function sees the same drift of a shared machine. ``blas_threads``:
    one BLAS thread count per function (None: leave BLAS alone)."""
    limits = blas_threads or [None] * len(fns)

    def limited(k):
        return contextlib.nullcontext() if limits[k] is None else limit_blas_threads(limits[k])

    numbers = []
    for k, f in enumerate(fns):
        with limited(k):
            numbers.append(calls_per_sample(f, min_time, cap=1 << 16))
    samples = [[] for _ in fns]
    with gc_paused():
        for _ in range(repeat):
            for k, (f, n) in enumerate(zip(fns, numbers)):
                with limited(k):
                    samples[k].append(seconds_per_call(f, n))
    return [statistics.median(s) for s in samples]


def interleaved_pairs(fa, fb, *, pairs: int = 15, alternate: bool = False) -> tuple:
    """Time ``fa`` and ``fb`` one call each per pair (after one warm-up call each);
    ``alternate`` swaps the order every other pair.

    Returns (median time of fa, median time of fb, median of the per-pair ratios
    fa/fb) in seconds: on a shared machine the two sides of a pair see the same load.
    """
    fa()
    fb()
    ta, tb = [], []
    with gc_paused():
        for i in range(pairs):
            if alternate and i % 2:
                tb.append(seconds_per_call(fb))
                ta.append(seconds_per_call(fa))
            else:
                ta.append(seconds_per_call(fa))
                tb.append(seconds_per_call(fb))
    ratios = [a / b for a, b in zip(ta, tb)]
    return statistics.median(ta), statistics.median(tb), statistics.median(ratios)


_BLOCK = 5  # calls per block; the first of each block is dropped


def _block(fn):
    """Times of the last ``_BLOCK - 1`` of ``_BLOCK`` back-to-back calls."""
    return [seconds_per_call(fn) for _ in range(_BLOCK)][1:]


def _partner(call, barrier, conn, rounds):
    """Child of the two-process ceiling: one block per round, in step with the parent."""
    times = []
    for _ in range(rounds):
        barrier.wait()
        times += _block(call)
        barrier.wait()  # both blocks done: the parent's next solo blocks run alone
    conn.send(times)
    conn.close()


def thread_scaling(one, two, child_call, rounds: int) -> tuple:
    """(1-thread, 2-thread, two-process) median seconds per call, from interleaved rounds.

    Each round times a block of ``one`` (1 thread), a block of ``two`` (2 threads), then
    a block of ``one`` while a forked partner runs a block of ``child_call`` (the same
    1-thread work on its own buffers) at the same moment; the two-process figure is the
    slower side of each such pair: the machine's ceiling for two independent workers.
    """
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_partner, args=(child_call, barrier, send, rounds))
    child.start()
    t1, t2, tpair = [], [], []
    try:
        with gc_paused():
            for _ in range(rounds):
                t1 += _block(one)
                t2 += _block(two)
                barrier.wait()
                tpair += _block(one)
                barrier.wait()
            t_child = recv.recv()
    finally:
        child.join()
    med = statistics.median
    return med(t1), med(t2), med(max(a, b) for a, b in zip(tpair, t_child))


def format_table(results: list[Result]) -> str:
    """A plain-text table of results, one row each."""
    head = ["kernel", "case", "dtype", "thr", "simd", "ours ms", "ref ms", "speed-up",
            "throughput", "reference"]
    rows = [[r.kernel, r.case, r.dtype, str(r.threads), r.simd, f"{r.ours_ms:.3f}",
             f"{r.ref_ms:.3f}", f"{r.speedup:.2f}x", r.throughput, r.ref_name]
            for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
              for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def _cpu_counters():
    """(total, steal) jiffies per CPU from /proc/stat, or None where unavailable."""
    try:
        with open("/proc/stat") as fh:
            rows = [line.split() for line in fh if line.startswith("cpu") and line[3].isdigit()]
        return [(sum(map(int, r[1:])), int(r[8])) for r in rows]
    except (OSError, IndexError, ValueError):
        return None


class cpu_steal:
    """Context manager: the largest per-CPU share of time the hypervisor took away
    (``/proc/stat`` steal) while the block ran, in ``.fraction``; None off Linux.

    On a virtual machine a stolen vCPU makes timings, and thread scaling above
    all, meaningless; the bench prints this next to each module's table.
    """

    fraction = None

    def __enter__(self):
        self._start = _cpu_counters()
        return self

    def __exit__(self, *exc):
        end = _cpu_counters()
        if self._start and end and len(end) == len(self._start):
            self.fraction = max((e[1] - s[1]) / max(1, e[0] - s[0])
                                for s, e in zip(self._start, end))
        return False


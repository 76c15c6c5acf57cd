"""Timing helpers shared by every benchmark module.

Each benchmark module ``zenkai_np/bench/bench_<name>.py`` defines
``run(*, quick: bool, threads: list[int]) -> list[Result]`` and times the
compiled kernel against the best NumPy formulation of the same mathematics
*in the same run*.
"""
from __future__ import annotations

import gc
import statistics
import time
from dataclasses import asdict, dataclass, field

__all__ = ["Result", "median_time", "format_table", "cpu_steal"]


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


def median_time(fn, *, repeat: int = 7, min_time: float = 0.02) -> float:
    """Median wall time of one call of ``fn`` in seconds.

    Each of the ``repeat`` samples runs ``fn`` enough times to last at least
    ``min_time`` seconds, so short calls are not dominated by timer noise.
    """
    fn()  # warm-up: page faults, lazy imports, thread-team start
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time or number >= 1 << 20:
            break
        number *= 2
    samples = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            samples.append((time.perf_counter() - t0) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return statistics.median(samples)


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


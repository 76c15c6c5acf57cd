"""Fractional iterates: the Abel kernel (``fracexp_grad``, ``fracexp``) and the
Schröder kernel (``fracexp_schroeder_grad``, ``fracexp_schroeder``).

References (``zenkai_np/fractional/_reference.py``, the ones the tests check
against the kernels):

* Abel: ``AbelNumpy``, the branch-free NumPy formulation in cache-sized chunks
  with preallocated temporaries, the fastest NumPy form we know. Inputs:
  x ~ N(0, 1) activations with a per-element n ~ U(-0.5, 1) (the mix of
  branches a network layer sees), and two wide ranges where lanes need
  chains of different lengths: x ~ U(-2.5, 6) with n ~ U(-0.95, 0.95) (up to
  2 logs and 3 exps) and x ~ U(-5, 20) with n ~ U(-0.5, 1) (up to 3 logs and
  4 exps). Headline rows (float64, 1 thread, every SIMD path of this CPU): each
  input both with ``out=`` (preallocated outputs, the reference given
  preallocated ones too) and without (fresh outputs on both sides, page faults
  included), timed in interleaved pairs (ours, reference, alternating order);
  the speed-up is the ratio of the two medians, the median of per-pair ratios
  is in ``extra``.
  Thread scaling is measured in interleaved rounds of back-to-back calls (a
  block of calls per setting, its first call dropped: a training loop calls the
  kernel repeatedly, and on a VM an idle vCPU takes a while to wake), next to
  the machine's own ceiling for this work: the aggregate throughput of two
  processes each running the 1-thread kernel at the same time (no shared
  OpenMP team, no shared arrays). A 2-thread speed-up equal to that ceiling
  means the parallel split costs nothing on this machine.
* Schröder: ``SchroederNumpy``, the kernel's algorithm and series (32 phi and
  25 eta terms) with NumPy complex arrays, chunked, each chain working only on
  the elements still active. Inputs: x ~ U(-5, 5) (real) with a per-unit
  n ~ U(-1, 1) of 256 units. Also reported: ``np.exp`` in the same run, so that
  the ns/element figure can be read against the speed of this machine.
"""
from __future__ import annotations

import numpy as np

import zenkai_np as zk
from zenkai_np._config import cpu_model
from zenkai_np.fractional._reference import AbelNumpy, SchroederNumpy
from zenkai_np.fractional.schroeder import fracexp_schroeder, fracexp_schroeder_grad

from ._harness import (Result, interleaved_pairs, median_time, thread_scaling)


_KINDS = {  # case label -> (x, n) from rng
    "N(0,1)": lambda rng, m: (rng.standard_normal(m), rng.uniform(-0.5, 1.0, m)),
    "U(-2.5,6) n~U(-.95,.95)": lambda rng, m: (rng.uniform(-2.5, 6, m),
                                               rng.uniform(-0.95, 0.95, m)),
    "U(-5,20)": lambda rng, m: (rng.uniform(-5, 20, m), rng.uniform(-0.5, 1.0, m)),
}


def _inputs(kind, size, dtype, rng):
    x, n = _KINDS[kind](rng, size)
    return x.astype(dtype), n.astype(dtype)


def _headline_rows(size, pairs, rng):
    """float64, 1 thread, every SIMD path: each input with out= and with fresh outputs."""
    rows = []
    ref = AbelNumpy(np.float64)
    for kind in _KINDS:
        x, n = _inputs(kind, size, np.float64, rng)
        outs = tuple(np.empty(size) for _ in range(3))
        bufs = tuple(np.empty(size) for _ in range(3))
        for path in zk.supported_simd_paths():
            for mode in ("out=", "fresh"):
                if mode == "out=":
                    ours = lambda: zk.fracexp_grad(x, n, out=outs, n_threads=1)  # noqa: E731
                    theirs = lambda: ref.grad(x, n, *bufs)  # noqa: E731
                else:  # both sides allocate their three outputs per call
                    ours = lambda: zk.fracexp_grad(x, n, n_threads=1)  # noqa: E731
                    theirs = lambda: ref.grad(x, n, *(np.empty(size) for _ in range(3)))  # noqa: E731
                outputs = "preallocated" if mode == "out=" else "fresh"
                with zk.use_simd_path(path), np.errstate(all="ignore"):
                    t, t_ref, ratio = interleaved_pairs(ours, theirs, pairs=pairs, alternate=True)
                rows.append(Result(
                    kernel=f"fracexp_grad[abel] {mode}", case=f"{size} {kind}", dtype="float64",
                    threads=1, simd=path, ours_ms=t * 1e3, ref_ms=t_ref * 1e3,
                    ref_name=f"branch-free NumPy, chunked, {outputs} outputs, interleaved",
                    throughput=f"{t / size * 1e9:.2f} ns/elem",
                    extra={"median_pair_speedup": 1 / ratio, "cpu": cpu_model()}))
    return rows


def _scaling_rows(size, rounds, rng):
    """2-thread speed-up and the two-process ceiling, both from interleaved rounds."""
    x, n = _inputs("N(0,1)", size, np.float64, rng)
    outs = tuple(np.empty(size) for _ in range(3))
    one = lambda: zk.fracexp_grad(x, n, out=outs, n_threads=1)  # noqa: E731
    two = lambda: zk.fracexp_grad(x, n, out=outs, n_threads=2)  # noqa: E731
    # The partner writes its own copy-on-write outputs: no shared cache lines.
    child_outs = tuple(np.empty(size) for _ in range(3))
    child_call = lambda: zk.fracexp_grad(x, n, out=child_outs, n_threads=1)  # noqa: E731
    t1m, t2m, t_pair = thread_scaling(one, two, child_call, rounds)
    t_pair /= 2  # two processes finish 2 * size elements per call pair
    common = dict(case=f"{size} N(0,1)", dtype="float64", simd=zk.simd_path(),
                  ref_ms=t1m * 1e3, ref_name="same kernel, 1 thread (interleaved blocks)")
    return [
        Result(kernel="fracexp_grad[abel] 2-thread scaling", threads=2, ours_ms=t2m * 1e3,
               throughput=f"{t2m / size * 1e9:.2f} ns/elem", **common),
        Result(kernel="machine ceiling: 2 procs x 1 thr", threads=2, ours_ms=t_pair * 1e3,
               throughput=f"{t_pair / size * 1e9:.2f} ns/elem", **common),
    ]


def run_abel(*, quick: bool, threads: list) -> list:
    """Abel rows: fracexp_grad against AbelNumpy, by input, out= or not, SIMD path, then
    by dtype and thread count."""
    size = 200_000 if quick else 1_000_000
    repeat = 3 if quick else 7
    rng = np.random.default_rng(0)
    print(f"CPU {cpu_model()}; SIMD paths measured {', '.join(zk.supported_simd_paths())} "
          f"(default {zk.simd_path()})", flush=True)
    rows = _headline_rows(size, 3 if quick else 9, rng)
    kinds = ["N(0,1)"] if quick else ["N(0,1)", "U(-5,20)"]
    for dtype in (np.float64, np.float32):
        for kind in kinds:
            x, n = _inputs(kind, size, dtype, rng)
            bufs = [np.empty(size, dtype) for _ in range(3)]
            ref = AbelNumpy(dtype)
            with np.errstate(all="ignore"):
                t_ref = median_time(lambda: ref.grad(x, n, *bufs), repeat=repeat)
            outs = tuple(np.empty(size, dtype) for _ in range(3))  # reused, like the reference's
            for nt in threads:
                if dtype == np.float64 and nt == 1:
                    continue  # the headline rows above
                t = median_time(lambda: zk.fracexp_grad(x, n, out=outs, n_threads=nt),
                                repeat=repeat)
                rows.append(Result(
                    kernel="fracexp_grad[abel]", case=f"{size} {kind}",
                    dtype=np.dtype(dtype).name, threads=nt, simd=zk.simd_path(),
                    ours_ms=t * 1e3, ref_ms=t_ref * 1e3,
                    ref_name="branch-free NumPy, chunked, 1 thread",
                    throughput=f"{t / size * 1e9:.2f} ns/elem"))
            if kind == "N(0,1)":
                out = np.empty(size, dtype)
                t = median_time(lambda: zk.fracexp(x, n, out=out, n_threads=1), repeat=repeat)
                rows.append(Result(
                    kernel="fracexp[abel] value only", case=f"{size} {kind}",
                    dtype=np.dtype(dtype).name, threads=1, simd=zk.simd_path(),
                    ours_ms=t * 1e3, ref_ms=t_ref * 1e3,
                    ref_name="branch-free NumPy (value+grads)",
                    throughput=f"{t / size * 1e9:.2f} ns/elem"))
    if 2 in threads:
        rows += _scaling_rows(size, 3 if quick else 15, rng)
    return rows


def run_schroeder(*, quick: bool, threads: list) -> list:
    """Schröder rows: fracexp_schroeder_grad against SchroederNumpy, and np.exp."""
    size = 65_536 if quick else 262_144
    repeat = 3 if quick else 5
    units = 256
    rng = np.random.default_rng(0)
    x = rng.uniform(-5, 5, (size // units, units))
    n = rng.uniform(-1, 1, units)
    nfull = np.ascontiguousarray(np.broadcast_to(n, x.shape))
    ref = SchroederNumpy()
    yr, dzr, dnr = ref.grad(x, nfull)
    y, dz, dn = fracexp_schroeder_grad(x, n, n_threads=1)
    agree = max(float(np.max(np.abs(a.reshape(-1) - b) / np.maximum(np.abs(b), 1e-300)))
                for a, b in ((y, yr), (dz, dzr), (dn, dnr)))
    t_ref = median_time(lambda: ref.grad(x, nfull), repeat=repeat)
    xe = rng.uniform(-5, 5, size)
    t_exp = median_time(lambda: np.exp(xe), repeat=repeat)
    extra = {"max_rel_diff_vs_numpy": agree, "np_exp_ns_per_elem": t_exp / size * 1e9}
    rows = []

    def row(kernel, t, nt, dtype="float64", path=None, ref_ms=t_ref * 1e3,
            ref_name="NumPy complex, same algorithm, chunked, 1 thread"):
        rows.append(Result(kernel=kernel, case=f"{size} U(-5,5), n~U(-1,1)/unit",
                           dtype=dtype, threads=nt, simd=path or zk.simd_path(),
                           ours_ms=t * 1e3, ref_ms=ref_ms, ref_name=ref_name,
                           throughput=f"{t / size * 1e9:.1f} ns/elem",
                           extra=dict(extra, ns_per_elem=t / size * 1e9,
                                      ratio_to_np_exp=(t / size) / (t_exp / size))))

    outs = tuple(np.empty(x.shape, complex) for _ in range(3))  # reused across calls
    for nt in threads:
        t = median_time(lambda: fracexp_schroeder_grad(x, n, out=outs, n_threads=nt),
                        repeat=repeat)
        row("fracexp_schroeder_grad", t, nt)
    out = np.empty(x.shape, complex)
    t = median_time(lambda: fracexp_schroeder(x, n, out=out, n_threads=1), repeat=repeat)
    row("fracexp_schroeder value only", t, 1, ref_name="NumPy (value+grads)")
    x32, n32 = x.astype(np.float32), n.astype(np.float32)
    outs32 = tuple(np.empty(x.shape, np.complex64) for _ in range(3))
    t = median_time(lambda: fracexp_schroeder_grad(x32, n32, out=outs32, n_threads=1),
                    repeat=repeat)
    row("fracexp_schroeder_grad", t, 1, dtype="float32",
        ref_name="NumPy complex128 (same algorithm)")
    if not quick:
        # interleaved pairs (this machine is shared: load drifts between the
        # separate medians above); median of per-pair ratios
        t_med, t_np, ratio = interleaved_pairs(
            lambda: fracexp_schroeder_grad(x, n, out=outs, n_threads=1),
            lambda: ref.grad(x, nfull), pairs=15)
        rows.append(Result(
            kernel="fracexp_schroeder_grad interleaved", case=f"{size}, 15 pairs",
            dtype="float64", threads=1, simd=zk.simd_path(), ours_ms=t_med * 1e3,
            ref_ms=t_np * 1e3, ref_name="NumPy, alternating calls",
            throughput=f"{t_med / size * 1e9:.1f} ns/elem",
            extra=dict(extra, ns_per_elem=t_med / size * 1e9, median_pair_speedup=1 / ratio)))
        for path in zk.supported_simd_paths():
            with zk.use_simd_path(path):
                t = median_time(lambda: fracexp_schroeder_grad(x, n, out=outs, n_threads=1),
                                repeat=repeat)
            row("fracexp_schroeder_grad by path", t, 1, path=path)
    rows.append(Result(kernel="np.exp (machine speed)", case=f"{size} U(-5,5)",
                       dtype="float64", threads=1, simd="numpy", ours_ms=t_exp * 1e3,
                       ref_ms=t_exp * 1e3, ref_name="itself",
                       throughput=f"{t_exp / size * 1e9:.2f} ns/elem"))
    return rows


def run(*, quick: bool, threads: list) -> list:
    return run_abel(quick=quick, threads=threads) + run_schroeder(quick=quick, threads=threads)

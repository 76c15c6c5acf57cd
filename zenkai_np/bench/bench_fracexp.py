"""Abel fractional iterate: fracexp_grad (value + both derivatives) and fracexp.

Reference: the branch-free NumPy formulation in cache-sized chunks with
preallocated temporaries (``numpy_abel.AbelNumpy``), the fastest NumPy form
we know. Inputs: x ~ N(0, 1) activations with a per-element n ~ U(-0.5, 1)
(the mix of branches a network layer sees), plus a harder mix with
x ~ U(-5, 20) for context.

Thread scaling is measured in interleaved rounds of back-to-back calls (a
block of calls per setting, its first call dropped: a training loop calls the
kernel repeatedly, and on a VM an idle vCPU takes a while to wake), next to the
machine's own ceiling for this work: the aggregate throughput of two processes
each running the 1-thread kernel at the same time (no shared OpenMP team, no
shared arrays). A 2-thread speed-up equal to that ceiling means the parallel
split costs nothing on this machine.
"""
from __future__ import annotations

import gc
import multiprocessing
import statistics
import time

import numpy as np

import zenkai_np as zk

from ._harness import Result, median_time
from .numpy_abel import AbelNumpy


def _inputs(kind, size, dtype, rng):
    if kind == "N(0,1)":
        x, n = rng.standard_normal(size), rng.uniform(-0.5, 1.0, size)
    else:
        x, n = rng.uniform(-5, 20, size), rng.uniform(-0.5, 1.0, size)
    return x.astype(dtype), n.astype(dtype)


_BLOCK = 5  # calls per block; the first of each block is dropped


def _block(fn):
    """Times of the last ``_BLOCK - 1`` of ``_BLOCK`` back-to-back calls."""
    times = []
    for _ in range(_BLOCK):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times[1:]


def _partner(call, barrier, conn, rounds):
    """Child of the two-process ceiling: one block per round, in step with the parent."""
    times = []
    for _ in range(rounds):
        barrier.wait()
        times += _block(call)
        barrier.wait()  # both blocks done: the parent's next solo blocks run alone
    conn.send(times)
    conn.close()


def _scaling_rows(size, rounds, rng):
    """2-thread speed-up and the two-process ceiling, both from interleaved rounds."""
    x, n = _inputs("N(0,1)", size, np.float64, rng)
    outs = tuple(np.empty(size) for _ in range(3))
    one = lambda: zk.fracexp_grad(x, n, out=outs, n_threads=1)  # noqa: E731
    two = lambda: zk.fracexp_grad(x, n, out=outs, n_threads=2)  # noqa: E731
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    recv, send = ctx.Pipe(duplex=False)
    # The partner writes its own copy-on-write outputs: no shared cache lines.
    child_outs = tuple(np.empty(size) for _ in range(3))
    child_call = lambda: zk.fracexp_grad(x, n, out=child_outs, n_threads=1)  # noqa: E731
    child = ctx.Process(target=_partner, args=(child_call, barrier, send, rounds))
    child.start()
    t1, t2, tpair = [], [], []
    gc.disable()
    try:
        for _ in range(rounds):
            t1 += _block(one)
            t2 += _block(two)
            barrier.wait()
            tpair += _block(one)
            barrier.wait()
        t_child = recv.recv()
    finally:
        gc.enable()
        child.join()
    med = statistics.median
    t1m, t2m = med(t1), med(t2)
    # Two processes finish 2 * size elements per call pair.
    t_pair = med(max(a, b) for a, b in zip(tpair, t_child)) / 2
    common = dict(case=f"{size} N(0,1)", dtype="float64", simd=zk.simd_path(),
                  ref_ms=t1m * 1e3, ref_name="same kernel, 1 thread (interleaved blocks)")
    return [
        Result(kernel="fracexp_grad[abel] 2-thread scaling", threads=2, ours_ms=t2m * 1e3,
               throughput=f"{t2m / size * 1e9:.2f} ns/elem", **common),
        Result(kernel="machine ceiling: 2 procs x 1 thr", threads=2, ours_ms=t_pair * 1e3,
               throughput=f"{t_pair / size * 1e9:.2f} ns/elem", **common),
    ]


def run(*, quick: bool, threads: list) -> list:
    size = 200_000 if quick else 1_000_000
    repeat = 3 if quick else 7
    rng = np.random.default_rng(0)
    rows = []
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
    # Every SIMD path on the headline case.
    x, n = _inputs("N(0,1)", size, np.float64, rng)
    bufs = [np.empty(size) for _ in range(3)]
    ref = AbelNumpy(np.float64)
    with np.errstate(all="ignore"):
        t_ref = median_time(lambda: ref.grad(x, n, *bufs), repeat=repeat)
    outs = tuple(np.empty(size) for _ in range(3))
    for path in zk.supported_simd_paths():
        with zk.use_simd_path(path):
            t = median_time(lambda: zk.fracexp_grad(x, n, out=outs, n_threads=1),
                            repeat=repeat)
        rows.append(Result(
            kernel="fracexp_grad[abel] by path", case=f"{size} N(0,1)", dtype="float64",
            threads=1, simd=path, ours_ms=t * 1e3, ref_ms=t_ref * 1e3,
            ref_name="branch-free NumPy, chunked", throughput=f"{t / size * 1e9:.2f} ns/elem"))
    if 2 in threads:
        rows += _scaling_rows(size, 3 if quick else 15, rng)
    return rows

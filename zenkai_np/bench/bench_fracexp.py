"""Abel fractional iterate: fracexp_grad (value + both derivatives) and fracexp.

Reference: the branch-free NumPy formulation in cache-sized chunks with
preallocated temporaries (``numpy_abel.AbelNumpy``), the fastest NumPy form
we know. Inputs: x ~ N(0, 1) activations with a per-element n ~ U(-0.5, 1)
(the mix of branches a network layer sees), plus a harder mix with
x ~ U(-5, 20) for context.
"""
from __future__ import annotations

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
    return rows

"""Benchmark: the fused BP(λ) trace step, and a whole BP(λ) training step of the toy task.

Trace step at (B, S, D) = (10, 30, 30) and (50, 60, 60), float32 and float64,
shared-W Jacobian with row factors: E ← γλ diag(a_b) W E_b + [i=j] u_b and
dΘ = δ·E. Compared in the same run, with interleaved repeats (this machine is
shared), against

* ``numpy``: the best NumPy formulation (one matmul into a reused buffer, a
  broadcast row scale, a strided diagonal view, one GEMV for the contraction);
* GEMMs ``W (S×S) @ X (S×N)`` of equal flops (the push plus the contraction),
  whose rate is the practical limit, on two BLAS builds: SciPy's ``?gemm`` (the
  BLAS the kernel calls, OpenBLAS 0.3.30 here: isolates the fusion overhead)
  and NumPy's ``matmul`` (NumPy's own OpenBLAS, 0.3.31 here).

The training step is one ``BPLambdaRNN.train_batch`` of the line-drawing task
(linear RNN H = 30, batch 10, T = 10, float32), compiled traces vs the NumPy
trace backend; its flop count (≈156 MFLOP: T−1 full trace steps) at the
measured GEMM rate is the floor (the compiled path skips the GEMM of the first
two steps, whose trace is zero or diagonal-only, so it can beat that floor).
"""
from __future__ import annotations


import numpy as np

from ._harness import Result, interleaved_times, limit_blas_threads

CASES = ((10, 30, 30), (50, 60, 60))


def _simd():
    from .. import _bplambda
    return _bplambda.simd_level()


def _scipy_gemm(dt):
    """SciPy's ?gemm (the BLAS the kernel calls) for row-major C = W @ X into C, no copies."""
    from scipy.linalg import blas as sblas
    gemm = sblas.sgemm if dt == np.float32 else sblas.dgemm

    def call(W, X, C):
        # row-major W @ X = (Xᵀ Wᵀ)ᵀ: Fortran views of the C arrays, C written in place
        gemm(1.0, X.T, W.T, 0.0, C.T, overwrite_c=1)
    return call


def _trace_case(B, S, D, dtype, threads, quick):
    from .. import _bplambda
    from ..bplambda._reference import trace_step_numpy
    from ..bplambda.traces import IN_PLACE_BYTES
    rng = np.random.default_rng(0)
    P = D + 1
    dt = np.dtype(dtype)
    E = [np.zeros((S + 1, B, S, P), dt), np.zeros((S + 1, B, S, P), dt)]  # spare row
    En = [np.zeros((S, B, S, P), dt), np.zeros((S, B, S, P), dt)]
    W = (rng.standard_normal((S, S)) / np.sqrt(S)).astype(dt)
    a = rng.uniform(0.5, 1.0, (B, S)).astype(dt)
    u = rng.standard_normal((B, P)).astype(dt)
    d = rng.standard_normal((B, S)).astype(dt)
    out, outn = np.empty((S, P), dt), np.empty((S, P), dt)
    empty = np.empty(0, dt)
    n_cols = B * S * P
    flops = 2.0 * S * S * n_cols + 2.0 * S * n_cols   # push GEMM + contraction
    n_gemm = int(np.ceil(flops / (2.0 * S * S)))
    X = rng.standard_normal((S, n_gemm)).astype(dt)
    C = np.empty_like(X)
    sgemm = _scipy_gemm(dt)
    sgemm(W, X, C)
    if not np.allclose(C[:, :64], W @ X[:, :64], rtol=1e-3, atol=1e-3):
        raise RuntimeError("SciPy GEMM reference: wrong result")
    state = {"k": 0, "kn": 0}
    # as EligibilityTrace runs it: alternating buffers, or in place for large traces
    in_place = S * B * S * P * dt.itemsize > IN_PLACE_BYTES

    def ours():
        k = state["k"]
        if in_place:
            _bplambda.trace_step(E[0][:S], empty, W, a, empty, 0.9, u, d, 1.0 / B, out, threads)
            return
        _bplambda.trace_step(E[k][:S], E[1 - k], W, a, empty, 0.9, u, d, 1.0 / B, out, threads)
        state["k"] = 1 - k

    def numpy_ref():
        k = state["kn"]
        trace_step_numpy(En[k], En[1 - k], W, a, 0.9, u, d, 1.0 / B, outn)
        state["kn"] = 1 - k

    def gemm_numpy():
        np.matmul(W, X, out=C)

    def gemm_scipy():
        sgemm(W, X, C)

    repeat = 5 if quick else 11
    mt = 0.02 if quick else 0.05
    # ours with BLAS at one thread (our OpenMP tiles do the parallel work);
    # the references with BLAS at `threads` threads. Repeats interleaved.
    fns = (("ours", ours, 1), ("numpy", numpy_ref, threads),
           ("gemm_scipy", gemm_scipy, threads), ("gemm_numpy", gemm_numpy, threads))
    times = interleaved_times([f for _, f, _ in fns], repeat=repeat, min_time=mt,
                              blas_threads=[bt for _, _, bt in fns])
    t = {name: v for (name, _, _), v in zip(fns, times)}
    gf = lambda x: flops / x / 1e9  # noqa: E731
    case = f"B={B} S={S} D={D}" + (" in place" if in_place else "")
    extra = {"flops": flops, "in_place": in_place,
             "gflops_ours": gf(t["ours"]), "gflops_numpy": gf(t["numpy"]),
             "gflops_gemm_scipy": gf(t["gemm_scipy"]), "gflops_gemm_numpy": gf(t["gemm_numpy"]),
             "ours_vs_gemm_scipy_rate": t["gemm_scipy"] / t["ours"],
             "ours_vs_gemm_numpy_rate": t["gemm_numpy"] / t["ours"],
             "numpy_vs_gemm_numpy_rate": t["gemm_numpy"] / t["numpy"]}
    simd = _simd()
    return [
        Result("trace_step", case, dt.name, threads, simd, t["ours"] * 1e3, t["numpy"] * 1e3,
               "numpy formulation (matmul+scale+strided diag+GEMV)",
               f"{gf(t['ours']):.1f} GFLOP/s", extra),
        Result("trace_step", case, dt.name, threads, simd, t["ours"] * 1e3,
               t["gemm_scipy"] * 1e3, "GEMM of equal flops, SciPy's BLAS (the kernel's)",
               f"{t['gemm_scipy'] / t['ours'] * 100:.0f}% of that GEMM's rate "
               f"({gf(t['gemm_scipy']):.1f} GFLOP/s)", extra),
        Result("trace_step", case, dt.name, threads, simd, t["ours"] * 1e3,
               t["gemm_numpy"] * 1e3, "GEMM of equal flops, NumPy's BLAS (np.matmul)",
               f"{t['gemm_numpy'] / t['ours'] * 100:.0f}% of that GEMM's rate "
               f"({gf(t['gemm_numpy']):.1f} GFLOP/s)", extra),
    ]


def _training_step(threads, quick):
    from ..bplambda import BPLambdaRNN, VanillaRNN
    from ..bplambda.tasks import LineDrawTask
    task = LineDrawTask(10)
    X, Y, mask = task.sample(10, np.random.default_rng(0), dtype=np.float32)
    learners = {}
    for backend in ("compiled", "numpy"):
        model = VanillaRNN(10, 30, 2, dtype=np.float32, rng=0)
        learners[backend] = BPLambdaRNN(model, gamma=1.0, lam=1.0, lr_rnn=1e-5,
                                        lr_readout=1e-5, lr_synth=1e-5, n_threads=threads,
                                        backend=backend)
    S, B, P, T = 30, 10, 31, 10
    # the count: T-1 full trace steps (push GEMM + contraction)
    flops = (T - 1) * (2.0 * S * S * B * S * P + 2.0 * S * B * S * P)
    W = np.random.default_rng(1).standard_normal((S, S)).astype(np.float32)
    Xg = np.random.default_rng(2).standard_normal((S, int(flops / (2 * S * S)))).astype(
        np.float32)
    Cg = np.empty_like(Xg)
    with limit_blas_threads(1 if threads > 1 else threads):
        t_ours, t_np, t_gemm = interleaved_times(
            [lambda: learners["compiled"].train_batch(X, Y, mask),
             lambda: learners["numpy"].train_batch(X, Y, mask),
             lambda: np.matmul(W, Xg, out=Cg)],
            repeat=5 if quick else 11, min_time=0.02 if quick else 0.1)
    extra = {"flops": flops, "floor_ms_at_gemm_rate": t_gemm * 1e3}
    return [Result("bplambda_train_step", "toy B=10 T=10 H=30", "float32", threads, _simd(),
                   t_ours * 1e3, t_np * 1e3, "same learner, NumPy trace backend",
                   f"{flops / t_ours / 1e9:.1f} GFLOP/s equivalent; {flops / 1e6:.0f} MFLOP "
                   f"at NumPy's GEMM rate: {t_gemm * 1e3:.2f} ms", extra)]


def run(*, quick: bool, threads: list) -> list:
    results = []
    for nt in threads:
        for B, S, D in CASES:
            for dtype in (np.float32, np.float64):
                results += _trace_case(B, S, D, dtype, nt, quick)
        results += _training_step(nt, quick)
    return results


if __name__ == "__main__":
    from ._harness import format_table
    print(format_table(run(quick=True, threads=[1])))

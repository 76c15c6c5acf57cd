"""Benchmark: the fused BP(λ) trace step, and a whole BP(λ) training step of the toy task.

Trace step at (B, S, D) = (10, 30, 30) and (50, 60, 60), float32 and float64,
shared-W Jacobian with row factors: E ← γλ diag(a_b) W E_b + [i=j] u_b and
dΘ = δ·E. Compared in the same run, with interleaved repeats (this machine is
shared), against

* ``numpy``: the best NumPy formulation (one matmul into a reused buffer, a
  broadcast row scale, a strided diagonal view, one GEMV for the contraction);
* the same kernel with its push on BLAS (``_bplambda._set_push_kernel(0)``;
  the automatic rule uses the in-house register-blocked push for S ≤ 150 on v3, ≤ 600 on v4);
* GEMMs ``W (S×S) @ X (S×N)`` of equal flops (the push plus the contraction),
  whose rate is the practical limit, on two BLAS builds: SciPy's ``?gemm``
  (OpenBLAS 0.3.30 here) and NumPy's ``matmul`` (NumPy's own OpenBLAS, 0.3.31
  here). The kernel calls NumPy's where NumPy bundles one (``kernel_blas()``;
  zenkai_np/_blas_choice.py), so the latter isolates the fusion overhead.

The training step is one ``BPLambdaRNN.train_batch`` of the line-drawing task
(linear RNN H = 30, batch 10, T = 10, float32). Ours: unrolled traces, the whole
pass in one compiled call (≈1.6 MFLOP). References in the same run: the same
algorithm in NumPy, and the stored-trace learner with the NumPy trace step (the
baseline before unrolling; ≈156 MFLOP, T−1 full trace steps); the stored-trace
learner with the compiled kernel is compared with the latter too.

The LSTM training step is one ``BPLambdaLSTM.train_batch`` in the sequential-digits
setting of the examples (``lstm_blocks.py``: H = 30, batch 50, 10 classes, softmax
readout at the last step, γ = 0.9, λ = 1, sg_weight 0.1, float32), row by row
(T = 8, 8 inputs) and, in the full run, pixel by pixel (T = 64, 1 input): the whole
pass in one compiled call (``_lstm_sequence.pyx``) against the same learner with
``backend="numpy"``, timed in interleaved pairs.
"""
from __future__ import annotations


import numpy as np

from ._harness import Result, interleaved_times, limit_blas_threads

CASES = ((10, 30, 30), (50, 60, 60))
#: the training step's learners: (traces, backend); the first is "ours"
KINDS = (("unrolled", "compiled"), ("unrolled", "numpy"), ("recursive", "compiled"),
         ("recursive", "numpy"))


def _simd():
    from .. import _bplambda
    return _bplambda.simd_level()


def _scipy_gemm(dt):
    """SciPy's ?gemm for row-major C = W @ X into C, no copies."""
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

    def ours_blas_push():  # the same step with the push on BLAS (the path for S > 150)
        _bplambda._set_push_kernel(0)
        try:
            ours()
        finally:
            _bplambda._set_push_kernel(-1)

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
           ("gemm_scipy", gemm_scipy, threads), ("gemm_numpy", gemm_numpy, threads),
           ("ours_blas_push", ours_blas_push, 1))
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
             "numpy_vs_gemm_numpy_rate": t["gemm_numpy"] / t["numpy"],
             "push_kernel": "in-house" if S <= _bplambda._inhouse_push_max_s() else "blas",
             "ms_ours_blas_push": t["ours_blas_push"] * 1e3}
    simd = _simd()
    return [
        Result("trace_step", case, dt.name, threads, simd, t["ours"] * 1e3, t["numpy"] * 1e3,
               "numpy formulation (matmul+scale+strided diag+GEMV)",
               f"{gf(t['ours']):.1f} GFLOP/s", extra),
        Result("trace_step", case, dt.name, threads, simd, t["ours"] * 1e3,
               t["gemm_scipy"] * 1e3, "GEMM of equal flops, SciPy's BLAS",
               f"{t['gemm_scipy'] / t['ours'] * 100:.0f}% of that GEMM's rate "
               f"({gf(t['gemm_scipy']):.1f} GFLOP/s)", extra),
        Result("trace_step", case, dt.name, threads, simd, t["ours"] * 1e3,
               t["gemm_numpy"] * 1e3,
               f"GEMM of equal flops, NumPy's BLAS; kernel on {_bplambda.blas()}'s",
               f"{t['gemm_numpy'] / t['ours'] * 100:.0f}% of that GEMM's rate "
               f"({gf(t['gemm_numpy']):.1f} GFLOP/s)", extra),
        Result("trace_step", case, dt.name, threads, simd, t["ours"] * 1e3,
               t["ours_blas_push"] * 1e3,
               f"same kernel, push on {_bplambda.blas()}'s BLAS GEMM (the path on baseline or "
               f"above S = {_bplambda._inhouse_push_max_s()} on {simd})",
               f"ours: {extra['push_kernel']} push", extra),
    ]


def _training_step(threads, quick):
    from ..bplambda import BPLambdaRNN, VanillaRNN
    from ..bplambda.tasks import LineDrawTask
    task = LineDrawTask(10)
    X, Y, mask = task.sample(10, np.random.default_rng(0), dtype=np.float32)
    learners = {}
    for traces, backend in KINDS:
        model = VanillaRNN(10, 30, 2, dtype=np.float32, rng=0)
        learners[traces, backend] = BPLambdaRNN(
            model, gamma=1.0, lam=1.0, lr_rnn=1e-5, lr_readout=1e-5, lr_synth=1e-5,
            n_threads=threads, backend=backend, traces=traces)
    S, B, P, T = 30, 10, 31, 10
    # the stored trace's count: T-1 full trace steps (push GEMM + contraction)
    flops = (T - 1) * (2.0 * S * S * B * S * P + 2.0 * S * B * S * P)
    # the unrolled count: the chains c_{k,s} and the k sums of h_s^T c_{k,s}
    flops_unrolled = sum(k * 2.0 * B * S * S + (k + 1) * 2.0 * B * S * S for k in range(T - 1))
    W = np.random.default_rng(1).standard_normal((S, S)).astype(np.float32)
    Xg = np.random.default_rng(2).standard_normal((S, int(flops / (2 * S * S)))).astype(
        np.float32)
    Cg = np.empty_like(Xg)
    fns = [(lambda L=L: L.train_batch(X, Y, mask)) for L in learners.values()]
    with limit_blas_threads(1 if threads > 1 else threads):
        times = interleaved_times(fns + [lambda: np.matmul(W, Xg, out=Cg)],
                                  repeat=5 if quick else 11, min_time=0.02 if quick else 0.1)
    t = dict(zip(KINDS, times))
    t_gemm = times[-1]
    extra = {"flops_recursive": flops, "flops_unrolled": flops_unrolled,
             "floor_ms_recursive_at_gemm_rate": t_gemm * 1e3,
             **{f"ms_{a}_{b}": v * 1e3 for (a, b), v in t.items()}}
    case = "toy B=10 T=10 H=30"
    ours = t["unrolled", "compiled"]

    def row(ref_kind, label, note):
        return Result("bplambda_train_step", case, "float32", threads, _simd(), ours * 1e3,
                      t[ref_kind] * 1e3, label, note, extra)
    rec = t["recursive", "compiled"]
    return [
        row(("unrolled", "numpy"), "same algorithm (unrolled traces) in NumPy",
            f"whole pass in one nogil call; {flops_unrolled / 1e6:.1f} MFLOP"),
        row(("recursive", "numpy"), "stored traces, NumPy trace step (the old baseline)",
            f"{flops / 1e6:.0f} MFLOP for stored traces, at NumPy's GEMM rate "
            f"{t_gemm * 1e3:.2f} ms"),
        Result("bplambda_train_step", case + " stored traces", "float32", threads, _simd(),
               rec * 1e3, t["recursive", "numpy"] * 1e3,
               "stored traces, NumPy trace step (same learner)",
               f"{flops / rec / 1e9:.1f} GFLOP/s equivalent", extra),
    ]


def _lstm_training_step(threads, quick, T, n_in):
    from ..bplambda.lstm import LSTM, BPLambdaLSTM
    from ._harness import interleaved_pairs
    B, H, O = 50, 30, 10
    rng = np.random.default_rng(0)
    X = rng.random((B, T, n_in)).astype(np.float32)
    Y = np.zeros((B, T, O), np.float32)
    Y[np.arange(B), T - 1, rng.integers(0, O, B)] = 1
    mask = np.zeros(T, bool)
    mask[-1] = True
    learners = []
    for backend in ("compiled", "numpy"):
        L = BPLambdaLSTM(LSTM(n_in, H, O, dtype=np.float32, rng=0), gamma=0.9, lam=1.0,
                         sg_weight=0.1, lr_rnn=3e-4, lr_readout=3e-4, lr_synth=3e-4,
                         n_threads=threads, backend=backend)
        L.loss = "softmax"
        learners.append(L)
    ours, ref = (lambda L=L: L.train_batch(X, Y, mask) for L in learners)
    with limit_blas_threads(1):    # tiny GEMMs: BLAS threads only cost (both sides)
        t_ours, t_ref, ratio = interleaved_pairs(ours, ref, pairs=7 if quick else 21,
                                                 alternate=True)
    mode = "row" if T == 8 else "pixel"
    case = f"seqdigits {mode} B={B} T={T} H={H}"
    return [Result("bplambda_lstm_train_step", case, "float32", threads, _simd(),
                   t_ours * 1e3, t_ref * 1e3, "same learner, backend='numpy' (unrolled traces)",
                   f"median pair ratio {1 / ratio:.2f}x", {"median_pair_ratio": 1 / ratio})]


def run(*, quick: bool, threads: list) -> list:
    from .. import supported_simd_paths, use_simd_path
    results = []
    for nt in threads:
        for B, S, D in CASES:
            for dtype in (np.float32, np.float64):
                results += _trace_case(B, S, D, dtype, nt, quick)
        results += _training_step(nt, quick)
        results += _lstm_training_step(nt, quick, 8, 8)
        if not quick:
            results += _lstm_training_step(nt, quick, 64, 1)
    # the other SIMD paths this CPU has: the toy trace step, one thread
    default = _simd()
    for path in supported_simd_paths():
        if path != default:
            with use_simd_path(path):
                for dtype in (np.float32, np.float64):
                    results += _trace_case(*CASES[0], dtype, 1, quick)[:1]
    return results


if __name__ == "__main__":
    from ._harness import format_table
    print(format_table(run(quick=True, threads=[1])))

"""Benchmark: Hermite moment contractions (gram and apply mode) and a whole RC-learn fit.

* gram mode, R = 1, ℓ = 4, N = 2e5, d = 100: ours against the best NumPy
  formulation of M̂₄(g) (the faster of ``(X*w).T @ X`` and the sign-split
  ``Xp.T@Xp − Xn.T@Xn``, plus the same corrections) and against ``X.T @ X``
  (NumPy's SYRK, the cost of one pass of BLAS over X), timed as interleaved pairs;
* apply mode, R = 8 directions, m = 5 columns: one kernel pass against 8
  separate NumPy contractions ``Xᵀ(w⁰ ⊙ XB)`` with corrections;
* RC-learn fit (generic teacher, d = 100, k = 5, N = 2e5): ours against the
  same algorithm with the contraction functions replaced by their NumPy
  formulations (the "NumPy prototype" of the spec, in the same run).

BLAS is limited to the benchmark's thread count on both sides.
"""
from __future__ import annotations

import contextlib
import gc
import time

import numpy as np

from ._harness import Result, median_time


def _blas_threads(n):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(n, user_api="blas")


def interleaved_pairs(fa, fb, *, pairs: int = 15):
    """Time ``fa`` and ``fb`` alternately (one warm-up each, then ``pairs`` pairs).

    Returns (median time of fa, median time of fb, median of the per-pair ratios
    fa/fb) in seconds: on a shared machine the two sides of a pair see the same load.
    """
    fa()
    fb()
    ta, tb = [], []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(pairs):
            t0 = time.perf_counter()
            fa()
            t1 = time.perf_counter()
            fb()
            t2 = time.perf_counter()
            ta.append(t1 - t0)
            tb.append(t2 - t1)
    finally:
        if gc_was_enabled:
            gc.enable()
    ta, tb = np.array(ta), np.array(tb)
    return float(np.median(ta)), float(np.median(tb)), float(np.median(ta / tb))


def _weights(X, r, g, n):
    from ..moments import hermite_scaled
    s = X @ g
    s2 = float(g @ g)
    H = [hermite_scaled(m, s, s2) if m >= 0 else np.zeros_like(s) for m in (n, n - 1, n - 2)]
    return [r * h for h in H]


def _corrections(M, g, b, w0sum, w2sum, n, N):
    d = M.shape[0]
    M = M - w0sum * np.eye(d) - n * (np.outer(g, b) + np.outer(b, g))
    M += n * (n - 1) * w2sum * np.outer(g, g)
    return M / N


def numpy_gram_scaled(X, r, g, order):
    """M̂ℓ(g) with one weighted GEMM ``(X * w0).T @ X``."""
    n = order - 2
    w0, w1, w2 = _weights(X, r, g, n)
    return _corrections((X * w0[:, None]).T @ X, g, X.T @ w1, w0.sum(), w2.sum(), n,
                        X.shape[0])


def numpy_gram_split(X, r, g, order):
    """M̂ℓ(g) with two SYRKs on √|w0|-scaled copies split by sign."""
    n = order - 2
    w0, w1, w2 = _weights(X, r, g, n)
    pos = w0 > 0
    Xp = X[pos] * np.sqrt(w0[pos])[:, None]
    Xn = X[~pos] * np.sqrt(-w0[~pos])[:, None]
    return _corrections(Xp.T @ Xp - Xn.T @ Xn, g, X.T @ w1, w0.sum(), w2.sum(), n,
                        X.shape[0])


def numpy_apply(X, r, g, order, B):
    """M̂ℓ(g) B without forming M̂: Xᵀ(w0 ⊙ XB) and corrections."""
    n = order - 2
    N = X.shape[0]
    w0, w1, w2 = _weights(X, r, g, n)
    XB = X @ B
    gB = g @ B
    out = X.T @ (w0[:, None] * XB) - w0.sum() * B
    out -= n * (np.outer(g, w1 @ XB) + np.outer(X.T @ w1, gB))
    out += n * (n - 1) * w2.sum() * np.outer(g, gB)
    return out / N


def numpy_hermite_contract(X, r, G, order, *, apply_to=None, n_threads=None):
    """Drop-in NumPy replacement of hermite_contract (one direction at a time)."""
    X = np.asarray(X, dtype=np.float64)
    G = np.asarray(G, dtype=np.float64)
    squeeze = G.ndim == 1
    G2 = G[:, None] if squeeze else G
    if apply_to is None:
        out = np.array([numpy_gram_split(X, r, g, order) for g in G2.T])
    else:
        out = np.array([numpy_apply(X, r, g, order, apply_to) for g in G2.T])
    return out[0] if squeeze else out


def numpy_moment2(X, r, *, n_threads=None):
    return numpy_gram_split(np.asarray(X, np.float64), r, np.zeros(X.shape[1]), 2)


def numpy_quadratic_form(X, A, *, n_threads=None):
    return np.einsum("ij,ij->i", X @ A, X)


@contextlib.contextmanager
def _numpy_contractions():
    """Run RC-learn with the NumPy formulations in place of the kernel."""
    from ..moments import estimator
    saved = (estimator.hermite_contract, estimator.hermite_moment2, estimator.quadratic_form)
    estimator.hermite_contract = numpy_hermite_contract
    estimator.hermite_moment2 = numpy_moment2
    estimator.quadratic_form = numpy_quadratic_form
    try:
        yield
    finally:
        (estimator.hermite_contract, estimator.hermite_moment2,
         estimator.quadratic_form) = saved


def run(*, quick: bool, threads: list) -> list:
    from .. import simd_path
    from ..moments import ReLUMomentRegressor, hermite_contract, make_teacher

    N, d = (20_000, 100) if quick else (200_000, 100)
    R, m, order = 8, 5, 4
    repeat = 3 if quick else 7
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, d))
    r = rng.standard_normal(N)
    g = rng.standard_normal(d) / np.sqrt(d) * np.sqrt(5)
    G = rng.standard_normal((d, R)) * np.sqrt(5.0 / d)
    B = rng.standard_normal((d, m))
    simd = simd_path()
    results = []
    for nt in threads:
        with _blas_threads(nt):
            # ours against X.T @ X (one BLAS pass over X) as interleaved pairs: the ratio
            # is the figure that matters, so both sides of a pair see the same load
            t_ours, t_xtx, xtx_ratio = interleaved_pairs(
                lambda: hermite_contract(X, r, g, order, n_threads=nt), lambda: X.T @ X,
                pairs=5 if quick else 15)
            t_scaled = median_time(lambda: numpy_gram_scaled(X, r, g, order), repeat=repeat)
            t_split = median_time(lambda: numpy_gram_split(X, r, g, order), repeat=repeat)
        best, best_name = min((t_scaled, "NumPy (X*w).T @ X + corrections"),
                              (t_split, "NumPy sign-split Xp.T@Xp - Xn.T@Xn + corrections"))
        flops = N * d * d  # one SYRK (d(d+1)/2 FMAs per row)
        gf = f"{flops / t_ours / 1e9:.1f} GFLOP/s"
        case = f"N={N} d={d} R=1 l={order}"
        results.append(Result("moments gram", case, "float64", nt, simd, t_ours * 1e3,
                              best * 1e3, best_name, gf,
                              {"numpy_scaled_ms": t_scaled * 1e3, "numpy_split_ms": t_split * 1e3}))
        results.append(Result("moments gram", case, "float64", nt, simd, t_ours * 1e3,
                              t_xtx * 1e3, "X.T @ X (NumPy SYRK)",
                              f"ours/XtX = {xtx_ratio:.2f}x (median of pairs)",
                              {"xtx_ms": t_xtx * 1e3, "pair_ratio": xtx_ratio}))
        with _blas_threads(nt):
            t_apply = median_time(lambda: hermite_contract(X, r, G, order, apply_to=B,
                                                           n_threads=nt), repeat=repeat)
            t_np8 = median_time(lambda: [numpy_apply(X, r, G[:, q], order, B)
                                         for q in range(R)], repeat=repeat)
        results.append(Result("moments apply", f"N={N} d={d} R={R} m={m} l={order}", "float64",
                              nt, simd, t_apply * 1e3, t_np8 * 1e3,
                              f"{R} NumPy contractions Xᵀ(w⊙XB)",
                              f"{N * d * (R * m + R + m) * 2 / t_apply / 1e9:.1f} GFLOP/s"))

    # Whole RC-learn fit (all threads of the list's maximum), generic teacher k = 5.
    k, df = (3, 20) if quick else (5, d)
    nt = max(threads)
    teacher = make_teacher("generic", df, k, np.random.default_rng(1))
    Xf, yf = teacher.sample(N, np.random.default_rng(2))
    with _blas_threads(nt):
        t_fit = median_time(lambda: ReLUMomentRegressor(k, rng=0, n_threads=nt).fit(Xf, yf),
                            repeat=1, min_time=0.0)
        with _numpy_contractions():
            t_fit_np = median_time(lambda: ReLUMomentRegressor(k, rng=0).fit(Xf, yf),
                                   repeat=1, min_time=0.0)
    results.append(Result("RC-learn fit", f"generic N={N} d={df} k={k}", "float64", nt, simd,
                          t_fit * 1e3, t_fit_np * 1e3, "same algorithm, NumPy contractions",
                          f"{t_fit:.2f} s"))
    return results

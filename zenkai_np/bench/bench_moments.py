"""Benchmark: Hermite moment contractions (gram and apply mode) and a whole RC-learn fit.

* gram mode, R = 1, ℓ = 4, N = 2e5, d = 100: ours against the best NumPy
  formulation of M̂₄(g) (the faster of ``(X*w).T @ X`` and the sign-split
  ``Xp.T@Xp − Xn.T@Xn``, plus the same corrections) and against ``X.T @ X``
  (NumPy's SYRK, the cost of one pass of BLAS over X), timed as interleaved pairs;
* apply mode, R = 8 directions, m = 5 columns: one kernel pass against 8
  separate NumPy contractions ``Xᵀ(w⁰ ⊙ XB)`` with corrections;
* RC-learn fit (generic teacher, d = 100, k = 5, N = 2e5): ours against the
  same algorithm with the contraction functions replaced by their NumPy
  formulations (``zenkai_np/moments/_reference.py``, in the same run).

BLAS is limited to the benchmark's thread count on both sides.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ..moments._reference import (numpy_apply, numpy_gram_scaled, numpy_gram_split,
                                  numpy_hermite_contract, numpy_moment2,
                                  numpy_quadratic_form)
from ._harness import Result, interleaved_pairs, limit_blas_threads, median_time


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

    def xtx_row(nt, path, t_ours, t_xtx, pair_ratio):
        return Result("moments gram", f"N={N} d={d} R=1 l={order}", "float64", nt, path,
                      t_ours * 1e3, t_xtx * 1e3, "X.T @ X (NumPy SYRK)",
                      f"ours/XtX = {pair_ratio:.2f}x (median of pairs)",
                      {"xtx_ms": t_xtx * 1e3, "pair_ratio": pair_ratio})

    def apply_row(nt, path, t_apply, t_np8):
        return Result("moments apply", f"N={N} d={d} R={R} m={m} l={order}", "float64", nt,
                      path, t_apply * 1e3, t_np8 * 1e3, f"{R} NumPy contractions Xᵀ(w⊙XB)",
                      f"{N * d * (R * m + R + m) * 2 / t_apply / 1e9:.1f} GFLOP/s")
    for nt in threads:
        with limit_blas_threads(nt):
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
        results.append(xtx_row(nt, simd, t_ours, t_xtx, xtx_ratio))
        with limit_blas_threads(nt):
            t_apply = median_time(lambda: hermite_contract(X, r, G, order, apply_to=B,
                                                           n_threads=nt), repeat=repeat)
            t_np8 = median_time(lambda: [numpy_apply(X, r, G[:, q], order, B)
                                         for q in range(R)], repeat=repeat)
        results.append(apply_row(nt, simd, t_apply, t_np8))

    # the other SIMD paths this CPU has, one thread: gram mode against X.T @ X, and the
    # apply mode against its NumPy contractions
    from .. import supported_simd_paths, use_simd_path
    for path in supported_simd_paths():
        if path == simd:
            continue
        with use_simd_path(path), limit_blas_threads(1):
            t_ours, t_xtx, xtx_ratio = interleaved_pairs(
                lambda: hermite_contract(X, r, g, order, n_threads=1), lambda: X.T @ X,
                pairs=5 if quick else 15)
            t_apply, t_np8, _ = interleaved_pairs(
                lambda: hermite_contract(X, r, G, order, apply_to=B, n_threads=1),
                lambda: [numpy_apply(X, r, G[:, q], order, B) for q in range(R)],
                pairs=3 if quick else 7)
        results += [xtx_row(1, path, t_ours, t_xtx, xtx_ratio), apply_row(1, path, t_apply, t_np8)]

    # Whole RC-learn fit (all threads of the list's maximum), generic teacher k = 5.
    k, df = (3, 20) if quick else (5, d)
    nt = max(threads)
    teacher = make_teacher("generic", df, k, np.random.default_rng(1))
    Xf, yf = teacher.sample(N, np.random.default_rng(2))
    with limit_blas_threads(nt):
        t_fit = median_time(lambda: ReLUMomentRegressor(k, rng=0, n_threads=nt).fit(Xf, yf),
                            repeat=1, min_time=0.0)
        with _numpy_contractions():
            t_fit_np = median_time(lambda: ReLUMomentRegressor(k, rng=0).fit(Xf, yf),
                                   repeat=1, min_time=0.0)
    results.append(Result("RC-learn fit", f"generic N={N} d={df} k={k}", "float64", nt, simd,
                          t_fit * 1e3, t_fit_np * 1e3, "same algorithm, NumPy contractions",
                          f"{t_fit:.2f} s"))
    return results

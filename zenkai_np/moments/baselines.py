"""Baselines (docs/moments.md): random-init exact-width L-BFGS and a Zhong-style tensor init.

Both end with the same full-dimension L-BFGS as RC-learn's step 4
(:func:`~zenkai_np.moments.network.refine_two_stage`), so the comparison
isolates the initialisation.

* Random init: unit directions uniform on the sphere, output weights by least
  squares on the relu features, then L-BFGS.
* Zhong-style (after Zhong, Song, Jain, Bartlett, Dhillon 2017, from memory of
  their Algorithm 1; not their exact procedure): V = top-k |eigenvalue|
  eigenvectors of T̂₂; directions from Jennrich's method on two order-4
  contractions restricted to V; magnitudes by least squares with the sign of
  each direction chosen by fit; then L-BFGS. It cannot see neurons that T₂
  misses.
"""
from __future__ import annotations

import itertools

import numpy as np

from .._validation import as_float_array, check_random_state
from .contract import hermite_contract
from .estimator import control_variate_residual
from .network import refine_two_stage

__all__ = ["fit_random_init", "fit_zhong_style"]


def _prepare(X, y, k):
    X = as_float_array(X, "X", dtype=np.float64, ndim=2, allow_empty=False, finite=True)
    y = as_float_array(y, "y", dtype=np.float64, ndim=1, finite=True)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y: expected shape ({X.shape[0]},), got {y.shape}")
    if not 1 <= int(k) <= X.shape[1]:
        raise ValueError(f"k: expected 1 <= k <= d = {X.shape[1]}, got {k}")
    return X, y, int(k)


def _lstsq(F, y):
    return np.linalg.lstsq(F, y, rcond=None)[0]


def fit_random_init(X, y, k, *, n_restarts=4, rng=None, subset_rows=20000, maxiter=500,
                    full_maxiter=100, gtol=1e-12):
    """Exact-width L-BFGS from ``n_restarts`` random starts.

    Returns a list of ``(coef (k,), dirs (k, d), train_loss)``, one per restart.
    """
    X, y, k = _prepare(X, y, k)
    rng = check_random_state(rng)
    out = []
    for _ in range(n_restarts):
        U = rng.standard_normal((k, X.shape[1]))
        U /= np.linalg.norm(U, axis=1, keepdims=True)
        idx = rng.choice(X.shape[0], size=min(X.shape[0], subset_rows), replace=False)
        a = _lstsq(np.maximum(X[idx] @ U.T, 0.0), y[idx])
        lam, U, loss, _ = refine_two_stage(X, y, a, U, rng, subset_rows=subset_rows,
                                           maxiter=maxiter, full_maxiter=full_maxiter, gtol=gtol)
        out.append((lam, U, loss))
    return out


def fit_zhong_style(X, y, k, *, rng=None, subset_rows=20000, maxiter=500, full_maxiter=100,
                    gtol=1e-12):
    """Zhong-style tensor initialisation then L-BFGS; returns ``(coef, dirs, train_loss)``."""
    X, y, k = _prepare(X, y, k)
    rng = check_random_state(rng)
    t1, T2, r, _, _ = control_variate_residual(X, y)
    w, E = np.linalg.eigh(T2)
    V = E[:, np.argsort(-np.abs(w))[:k]]
    z = X @ V
    H = rng.standard_normal((k, 2))
    M = hermite_contract(z, r, H, 4)
    _, vecs = np.linalg.eig(M[0] @ np.linalg.pinv(M[1]))
    C = np.real(vecs).T
    C /= np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-300)
    idx = rng.choice(X.shape[0], size=min(X.shape[0], subset_rows), replace=False)
    zs, ys = z[idx], y[idx]
    best = None
    for signs in itertools.product((1.0, -1.0), repeat=k):
        Cs = C * np.array(signs)[:, None]
        F = np.maximum(zs @ Cs.T, 0.0)
        a = _lstsq(F, ys)
        rss = float(np.sum((F @ a - ys) ** 2))
        if best is None or rss < best[0]:
            best = (rss, a, Cs)
    _, a, Cs = best
    lam, U, loss, _ = refine_two_stage(X, y, a, Cs @ V.T, rng, subset_rows=subset_rows,
                                       maxiter=maxiter, full_maxiter=full_maxiter, gtol=gtol)
    return lam, U, loss

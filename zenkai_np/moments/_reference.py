"""Plain-NumPy references of the moment contractions, for the tests and the bench alike.

The formula of docs/moments.md ("The contraction kernel") one direction at a time, in
float64, never forming a tensor: M̂ℓ(g) = (1/N) [Xᵀ diag(w⁰) X − Σw⁰ I
− n (g bᵀ + b gᵀ) + n(n−1) Σw² g gᵀ] with n = ℓ − 2, w^j = r ⊙ He_{n−j}(Xg; |g|²)
and b = Xᵀ w¹. ``numpy_gram_scaled`` is the direct form, ``numpy_gram_split``
the fastest NumPy form we know (two SYRKs on sign-split scaled copies),
``numpy_apply`` M̂ℓ(g) B without forming M̂ℓ(g); ``numpy_hermite_contract``,
``numpy_moment2`` and ``numpy_quadratic_form`` are drop-in replacements of the
compiled functions (the bench runs RC-learn on them).
"""
from __future__ import annotations

import numpy as np

from .hermite import hermite_scaled

__all__ = ["numpy_gram_scaled", "numpy_gram_split", "numpy_apply", "numpy_hermite_contract",
           "numpy_moment2", "numpy_quadratic_form"]


def _weights(X, r, g, n):
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

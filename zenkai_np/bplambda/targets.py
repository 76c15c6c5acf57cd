"""The forward view of BP(λ): λ-weighted synthetic-gradient targets (docs/bplambda.md).

Row-vector convention: ``J[t, b]`` is ``∂h_t/∂h_{t−1}`` for sample b, and a
row vector ``v`` is carried back one step as ``v · J``. With ``l_t`` the
immediate loss gradient and ``g_t`` the synthesiser's prediction (``g`` at the
last step is defined as 0):

    G^λ_t = (l_{t+1} + γ[(1−λ) g_{t+1} + λ G^λ_{t+1}]) · J_{t+1},   G^λ_{T−1} = 0
    δ_t   = (l_{t+1} + γ g_{t+1}) · J_{t+1} − g_t

These are the offline targets a trace implementation must reproduce.
"""
from __future__ import annotations

import numpy as np

__all__ = ["lambda_targets", "td_errors", "future_gradients"]


def _vj(v, J):
    """Batched row vector times Jacobian: (B, S) · (B, S, S) -> (B, S)."""
    return np.einsum("bi,bij->bj", v, J)


def lambda_targets(l, g, J, gamma: float, lam: float) -> np.ndarray:
    """``G^λ_t`` for t = 0..T−1 (zero at T−1). l, g (T, B, S); J (T, B, S, S)."""
    l, g, J = np.asarray(l), np.asarray(g), np.asarray(J)
    T = l.shape[0]
    G = np.zeros_like(l)
    g = g.copy()
    g[T - 1] = 0
    for t in range(T - 2, -1, -1):
        G[t] = _vj(l[t + 1] + gamma * ((1 - lam) * g[t + 1] + lam * G[t + 1]), J[t + 1])
    return G


def td_errors(l, g, J, gamma: float) -> np.ndarray:
    """``δ_t`` for t = 0..T−2, shape (T−1, B, S)."""
    l, g, J = np.asarray(l), np.asarray(g).copy(), np.asarray(J)
    T = l.shape[0]
    g[T - 1] = 0
    return np.stack([_vj(l[t + 1] + gamma * g[t + 1], J[t + 1]) - g[t]
                     for t in range(T - 1)]) if T > 1 else np.zeros((0,) + l.shape[1:])


def future_gradients(l, J, gamma: float = 1.0) -> np.ndarray:
    """γ-discounted BPTT future gradients ``∂L_{>t}/∂h_t`` (γ = 1: exact BPTT)."""
    l, J = np.asarray(l), np.asarray(J)
    T = l.shape[0]
    F = np.zeros_like(l)
    for t in range(T - 2, -1, -1):
        F[t] = _vj(l[t + 1] + gamma * F[t + 1], J[t + 1])
    return F

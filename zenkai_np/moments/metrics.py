"""Recovery metrics (docs/moments.md): test relMSE, matched parameter error, subspace error."""
from __future__ import annotations

import numpy as np

__all__ = ["relative_mse", "parameter_error", "subspace_error"]


def relative_mse(y_pred, y_true) -> float:
    """E(f̂ − f)² / E f² over the given points."""
    y_true = np.asarray(y_true, float)
    return float(np.mean((np.asarray(y_pred, float) - y_true) ** 2) / np.mean(y_true ** 2))


def parameter_error(coef_true, dirs_true, coef_est, dirs_est) -> float:
    """min over matchings of √(Σ‖λ_i u_i − λ̂_π(i) û_π(i)‖²) / √(Σ‖λ_i u_i‖²).

    The products w = λu (k, d) are compared; unequal counts are padded with
    zero neurons. The matching is Hungarian on squared distances.
    """
    P = np.asarray(coef_true, float)[:, None] * np.asarray(dirs_true, float)
    Q = np.asarray(coef_est, float)[:, None] * np.asarray(dirs_est, float)
    k = max(len(P), len(Q))
    P = np.vstack([P, np.zeros((k - len(P), P.shape[1]))])
    Q = np.vstack([Q, np.zeros((k - len(Q), Q.shape[1]))])
    cost = ((P[:, None, :] - Q[None, :, :]) ** 2).sum(-1)
    from scipy.optimize import linear_sum_assignment  # lazy: keeps `import zenkai_np` fast

    rows, cols = linear_sum_assignment(cost)
    return float(np.sqrt(cost[rows, cols].sum() / (P ** 2).sum()))


def subspace_error(dirs_true, basis) -> float:
    """max_i ‖u_i − V Vᵀ u_i‖ for unit u_i (rows) and V (d, m) with orthonormal columns."""
    U = np.asarray(dirs_true, float)
    V = np.asarray(basis, float)
    if V.size == 0:
        return float(np.max(np.linalg.norm(U, axis=1)))
    resid = U - (U @ V) @ V.T
    return float(np.max(np.linalg.norm(resid, axis=1)))

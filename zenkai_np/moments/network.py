"""The one-hidden-layer bias-free ReLU network f(x) = Σ_i a_i relu(<w_i, x>) and its L-BFGS fit.

Shapes: X (N, d), a (k,), W (k, d) (one row per neuron). The loss is scaled by
mean(y²) so that tolerances are unit-free:
L = ½ mean((f(X) − y)²) / mean(y²).
"""
from __future__ import annotations

import numpy as np

__all__ = ["relu_net_predict", "relu_net_loss_grad", "fit_relu_net_lbfgs", "refine_two_stage",
           "to_unit_neurons"]


def relu_net_predict(X, a, W):
    """f(X) = relu(X Wᵀ) a, shape (N,)."""
    return np.maximum(X @ W.T, 0.0) @ a


def relu_net_loss_grad(X, y, a, W, scale=None):
    """(L, ∂L/∂a (k,), ∂L/∂W (k, d)) of L = ½ mean((relu(XWᵀ)a − y)²)/scale."""
    N = X.shape[0]
    if scale is None:
        scale = max(float(np.mean(y * y)), np.finfo(float).tiny)
    pre = X @ W.T
    h = np.maximum(pre, 0.0)
    res = h @ a - y
    loss = 0.5 * float(res @ res) / (N * scale)
    ga = h.T @ res / (N * scale)
    gW = ((res[:, None] * a[None, :]) * (pre > 0)).T @ X / (N * scale)
    return loss, ga, gW


def fit_relu_net_lbfgs(X, y, a, W, *, maxiter=1000, gtol=1e-12, scale=None):
    """L-BFGS over (a, W) from the given start (scipy.optimize, ftol = 0).

    Returns ``(a, W, loss, n_iter)``; the inputs are not modified.
    """
    k, d = W.shape
    if scale is None:
        scale = max(float(np.mean(y * y)), np.finfo(float).tiny)

    def fun(theta):
        loss, ga, gW = relu_net_loss_grad(X, y, theta[:k], theta[k:].reshape(k, d), scale)
        return loss, np.concatenate([ga, gW.ravel()])

    theta0 = np.concatenate([np.asarray(a, float), np.asarray(W, float).ravel()])
    from scipy.optimize import minimize  # lazy: keeps `import zenkai_np` fast

    res = minimize(fun, theta0, jac=True, method="L-BFGS-B",
                   options={"maxiter": int(maxiter), "gtol": gtol, "ftol": 0.0,
                            "maxcor": 20, "maxls": 50})
    return res.x[:k].copy(), res.x[k:].reshape(k, d).copy(), float(res.fun), int(res.nit)


def to_unit_neurons(a, W):
    """Rescale (a_i, w_i) to (a_i ‖w_i‖, w_i/‖w_i‖) (positive homogeneity of relu)."""
    norms = np.linalg.norm(W, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    return a * norms, W / safe[:, None]


def refine_two_stage(X, y, coef, dirs, rng, *, subset_rows=20000, maxiter=1000, gtol=1e-12,
                     full_maxiter=None):
    """Full-dimension L-BFGS from (coef, dirs): first on ``subset_rows`` random rows
    (single-threaded BLAS: small products), then on all rows (``full_maxiter``
    iterations, default ``maxiter``; with N ≤ ``subset_rows`` there is a single
    stage of ``maxiter`` iterations on all rows). Returns
    ``(coef (k,), unit dirs (k, d), loss, n_iter)``.
    """
    from .._threads import limit_blas_threads
    N = X.shape[0]
    lam, U = to_unit_neurons(np.asarray(coef, float), np.asarray(dirs, float))
    n_iter = 0
    loss = np.nan
    if N > subset_rows:
        idx = rng.choice(N, size=int(subset_rows), replace=False)
        with limit_blas_threads(1):
            lam, U, loss, it = fit_relu_net_lbfgs(X[idx], y[idx], lam, U, maxiter=maxiter,
                                                  gtol=gtol)
        lam, U = to_unit_neurons(lam, U)
        n_iter += it
    last = maxiter if (full_maxiter is None or N <= subset_rows) else full_maxiter
    lam, U, loss, it = fit_relu_net_lbfgs(X, y, lam, U, gtol=gtol, maxiter=last)
    lam, U = to_unit_neurons(lam, U)
    return lam, U, loss, n_iter + it

"""The data passes of ``ReLUMomentRegressor.fit`` on dask arrays, as blocked reductions.

Every pass maps a function over the aligned row blocks of X (N, d) and y (N,)
and adds the per-block sums pairwise in a fixed tree over the block index
(:func:`blocked_reduce`), so the result does not depend on the scheduler or
the worker count and the client holds one set of sums at a time (a few d² numbers).
The maths is the in-memory code's (``estimator.control_variate_residual``,
``network.relu_net_loss_grad``); only the order of the sums differs.
"""
from __future__ import annotations

import numpy as np

from .._validation import as_float_array
from ._kernel import assemble_matrix, run_kernel
from .contract import quadratic_form
from .dask_support import blocked_reduce
from .network import fit_relu_net_lbfgs, to_unit_neurons

__all__ = [
    "check_dask_xy",
    "control_variate_residual_dask",
    "is_dask",
    "refine_two_stage_dask",
    "relu_net_loss_grad_dask",
    "take_rows",
]


def is_dask(a) -> bool:
    return type(a).__module__.startswith("dask.")


def check_dask_xy(X, y):
    """Validate dask (or mixed) X (N, d) and y (N,); returns dask arrays with one column chunk."""
    import dask.array as da
    if not is_dask(X):
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X: expected a 2D array, got shape {X.shape}")
        y_chunks = y.chunks[0] if is_dask(y) and y.ndim == 1 else (max(1, len(X) // 4),)
        X = da.from_array(X, chunks=(y_chunks, -1))
    if X.ndim != 2:
        raise ValueError(f"X: expected a 2D array, got {X.ndim}D with shape {X.shape}")
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError("X: row chunk sizes are unknown; call X.compute_chunk_sizes()")
    if X.dtype.kind not in "fiub":
        raise TypeError(f"X: expected a real numeric array, got dtype {X.dtype}")
    N, d = X.shape
    if not is_dask(y):
        y = da.from_array(np.asarray(y, dtype=np.float64), chunks=(X.chunks[0],))
    if y.ndim != 1 or y.shape[0] != N:
        raise ValueError(f"y: expected shape ({N},) to match X, got {y.shape}")
    if y.chunks[0] != X.chunks[0]:
        raise ValueError(f"y: row chunks {y.chunks[0][:4]}... do not match X's row chunks "
                         f"{X.chunks[0][:4]}...; rechunk y to X.chunks[0]")
    return X.rechunk({1: -1}), y


def _finite(Xb, yb):
    Xb = as_float_array(Xb, "X", ndim=2, finite=True)
    yb = as_float_array(yb, "y", dtype=np.float64, ndim=1, finite=True)
    return Xb, yb


def _sum_y(Xb, yb, offset):
    Xb, yb = _finite(Xb, yb)
    return {"sy": np.array([yb.sum()])}


def _halves(n, offset, h):
    cut = min(max(h - offset, 0), n)
    return slice(0, cut), slice(cut, n)


def _t1_sums(Xb, yb, offset, ybar, h):
    Xb = np.asarray(Xb, dtype=np.float64)
    y0 = yb - ybar
    a, b = _halves(len(yb), offset, h)
    return {"a": Xb[a].T @ y0[a], "b": Xb[b].T @ y0[b]}


def _t2_sums(Xb, yb, offset, ybar, t1, h):
    r1 = (yb - ybar) - np.asarray(Xb, dtype=np.float64) @ t1
    G = np.zeros((Xb.shape[1], 1))
    out = {}
    for name, s in zip("ab", _halves(len(yb), offset, h)):
        if s.stop > s.start:
            raw = run_kernel(np.ascontiguousarray(Xb[s]), np.ascontiguousarray(r1[s]), G, 0,
                             gram=True, n_threads=1)
        else:
            d = Xb.shape[1]
            raw = {"s0": np.zeros(1), "s1": np.zeros(1), "s2": np.zeros(1),
                   "b1": np.zeros((1, d)), "A": np.zeros((1, d, d))}
        out.update({f"{name}.{k}": v for k, v in raw.items()})
    return out


def _residual_block(Xb, yb, ybar, t1, T2, trT2):
    yb = yb[:, 0]
    r1 = (yb - ybar) - np.asarray(Xb, dtype=np.float64) @ t1
    return r1 - 0.5 * (quadratic_form(Xb, T2, n_threads=1) - trT2)


def control_variate_residual_dask(X, y):
    """``control_variate_residual`` for dask X, y: (t̂₁, T̂₂, r as a lazy dask array, τ₁, τ₂)."""
    import dask.array as da
    N, d = X.shape
    h = N // 2
    ybar = blocked_reduce(_sum_y, [X, y])["sy"][0] / N
    s = blocked_reduce(_t1_sums, [X, y], ybar, h)
    t1a, t1b = s["a"] / h, s["b"] / (N - h)
    t1 = (h * t1a + (N - h) * t1b) / N
    raw = blocked_reduce(_t2_sums, [X, y], ybar, t1, h)
    G = np.zeros((d, 1))
    T2a = assemble_matrix({k[2:]: v for k, v in raw.items() if k[0] == "a"}, G, 0, h)[0]
    T2b = assemble_matrix({k[2:]: v for k, v in raw.items() if k[0] == "b"}, G, 0, N - h)[0]
    T2 = (h * T2a + (N - h) * T2b) / N
    T2 = 0.5 * (T2 + T2.T)
    r = da.map_blocks(_residual_block, X, y[:, None], ybar, t1, T2, float(np.trace(T2)),
                      drop_axis=1, dtype=np.float64)
    tau1 = float(np.linalg.norm(t1a - t1b))
    tau2 = float(np.linalg.norm(T2a - T2b, 2))
    return t1, T2, r, tau1, tau2


def _loss_grad_block(Xb, yb, offset, a, W):
    Xb = np.asarray(Xb, dtype=np.float64)
    pre = Xb @ W.T
    hid = np.maximum(pre, 0.0)
    res = hid @ a - yb
    return {"sse": np.array([res @ res]), "ga": hid.T @ res,
            "gW": ((res[:, None] * a[None, :]) * (pre > 0)).T @ Xb}


def _sum_sq(Xb, yb, offset):
    return {"yy": np.array([yb @ yb])}


def relu_net_loss_grad_dask(X, y, a, W, scale):
    """(L, ∂L/∂a, ∂L/∂W) of ``network.relu_net_loss_grad`` as one blocked pass."""
    N = X.shape[0]
    s = blocked_reduce(_loss_grad_block, [X, y], a, W)
    c = N * scale
    return 0.5 * float(s["sse"][0]) / c, s["ga"] / c, s["gW"] / c


def take_rows(A, rows):
    """``A[rows]`` of a dask array as a NumPy array (only those rows reach the client)."""
    import dask.array as da
    order = np.argsort(rows, kind="stable")
    got = da.take(A, rows[order], axis=0).compute()
    out = np.empty_like(got)
    out[order] = got
    return out


def refine_two_stage_dask(X, y, coef, dirs, rng, *, subset_rows=20000, maxiter=1000,
                          gtol=1e-12, full_maxiter=None):
    """``network.refine_two_stage`` with the all-rows stage as blocked passes."""
    from scipy.optimize import minimize

    from .._threads import limit_blas_threads
    N = X.shape[0]
    lam, U = to_unit_neurons(np.asarray(coef, float), np.asarray(dirs, float))
    n_iter = 0
    if N > subset_rows:
        idx = rng.choice(N, size=int(subset_rows), replace=False)
        Xs = take_rows(X, idx).astype(np.float64, copy=False)
        ys = take_rows(y, idx)
        with limit_blas_threads(1):
            lam, U, _, it = fit_relu_net_lbfgs(Xs, ys, lam, U, maxiter=maxiter, gtol=gtol)
        lam, U = to_unit_neurons(lam, U)
        n_iter += it
    last = maxiter if (full_maxiter is None or N <= subset_rows) else full_maxiter
    k, d = U.shape
    scale = max(float(blocked_reduce(_sum_sq, [X, y])["yy"][0]) / N, np.finfo(float).tiny)

    def fun(theta):
        loss, ga, gW = relu_net_loss_grad_dask(X, y, theta[:k], theta[k:].reshape(k, d), scale)
        return loss, np.concatenate([ga, gW.ravel()])

    res = minimize(fun, np.concatenate([lam, U.ravel()]), jac=True, method="L-BFGS-B",
                   options={"maxiter": int(last), "gtol": gtol, "ftol": 0.0, "maxcor": 20,
                            "maxls": 50})
    lam, U = to_unit_neurons(res.x[:k].copy(), res.x[k:].reshape(k, d).copy())
    return lam, U, float(res.fun), n_iter + int(res.nit)

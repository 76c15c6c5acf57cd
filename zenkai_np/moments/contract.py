"""Contractions of empirical Hermite moment tensors (docs/moments.md), never forming a tensor.

For data X (N, d), weights r (N) and a direction g (d), with n = ℓ − 2,
s = <g, x>, σ² = ‖g‖² and H_m the scaled Hermite polynomials
(:func:`~zenkai_np.moments.hermite.hermite_scaled`):

* matrix  M̂_ℓ(g) = (1/N) Σ_j r_j He_ℓ(x_j)[g,…,g,·,·]
  = (1/N)[Xᵀdiag(w⁰)X − (Σw⁰) I − n(g bᵀ + b gᵀ) + n(n−1)(Σw²) g gᵀ],
  with w^t = r H_{n−t}(s) and b = Xᵀw¹;
* vector  (1/N) Σ_j r_j He_ℓ(x_j)[g,…,g,·] = (1/N)[Xᵀ(r H_{ℓ−1}) − (ℓ−1)(Σ r H_{ℓ−2}) g];
* scalar  (1/N) Σ_j r_j He_ℓ(x_j)[g,…,g] = mean(r H_ℓ).

The compiled kernel streams X once per batch of R directions, accumulates in
float64 and gives bitwise the same result for every thread count.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _moments
from .._threads import resolve_n_threads
from .._validation import as_float_array, check_finite
from .._threads import limit_blas_threads
from ._kernel import assemble_apply, assemble_matrix, run_kernel

__all__ = ["hermite_contract", "hermite_contract_vector", "hermite_contract_scalar",
           "hermite_moment2", "quadratic_form"]

MAX_ORDER = int(_moments.max_order)


def _is_dask(a) -> bool:
    return type(a).__module__.startswith("dask.")


def _check_order(order, lowest: int) -> int:
    if isinstance(order, bool) or not isinstance(order, numbers.Integral):
        raise TypeError(f"order: expected an int, got {type(order).__name__}")
    order = int(order)
    if not lowest <= order <= MAX_ORDER:
        raise ValueError(f"order: expected an int in [{lowest}, {MAX_ORDER}], got {order}")
    return order


def _prepare(X, r, G):
    """Validate (X, r, G); return (X, r, G2d, squeeze) with G2d of shape (d, R)."""
    # X is checked for NaN/inf after the pass (_checked): any non-finite entry of X
    # reaches the result, and a separate isfinite pass would cost ~15% of the kernel.
    X = as_float_array(X, "X", ndim=2, allow_empty=False)
    N, d = X.shape
    r = as_float_array(r, "r", dtype=np.float64, ndim=1, finite=True)
    if r.shape[0] != N:
        raise ValueError(f"r: expected shape ({N},) to match X, got {r.shape}")
    G = as_float_array(G, "G", dtype=np.float64, finite=True)
    squeeze = G.ndim == 1
    if squeeze:
        G = G[:, None]
    if G.ndim != 2 or G.shape[0] != d:
        raise ValueError(f"G: expected shape ({d}, R) or ({d},), got {G.shape}")
    if G.shape[1] == 0:
        raise ValueError("G: expected at least one direction (R >= 1), got shape "
                         f"{G.shape}")
    return X, r, np.ascontiguousarray(G), squeeze


def _checked(out, X):
    """Raise ValueError naming X if X holds NaN/inf (checked only when ``out`` is not finite)."""
    if not np.isfinite(out).all():
        check_finite(X, "X")
    return out


def hermite_contract(X, r, G, order, *, apply_to=None, n_threads=None):
    """Empirical contraction M̂_ℓ(g) = (1/N) Σ_j r_j He_ℓ(x_j)[g^{⊗(ℓ−2)}, ·, ·].

    Parameters
    ----------
    X : array_like (N, d)
        Samples (float32 or float64; accumulation is in float64). A dask array
        (with ``r`` a dask array too) is mapped over its row chunks.
    r : array_like (N,)
        Per-sample weights: labels or a control-variate residual.
    G : array_like (d, R) or (d,)
        R directions contracted into ℓ − 2 slots each (their norms matter).
    order : int
        ℓ, 2 ≤ ℓ ≤ MAX_ORDER (even orders carry the ReLU signal).
    apply_to : array_like (d, m), optional
        Return M̂_ℓ(g) @ apply_to instead of the matrix (never forming it).
    n_threads : int, optional
        OpenMP threads (None: OpenMP's maximum now; results do not depend on it).

    Returns
    -------
    float64 array (R, d, d), or (R, d, m) with ``apply_to``; the leading axis
    is dropped for a 1-D ``G``.
    """
    order = _check_order(order, 2)
    if _is_dask(X) or _is_dask(r):
        from .dask_support import hermite_contract_dask
        return hermite_contract_dask(X, r, G, order, apply_to=apply_to, n_threads=n_threads)
    X, r, G, squeeze = _prepare(X, r, G)
    N, d = X.shape
    n = order - 2
    if apply_to is None:
        raw = run_kernel(X, r, G, n, gram=True, n_threads=n_threads)
        out = assemble_matrix(raw, G, n, N)
    else:
        B = as_float_array(apply_to, "apply_to", dtype=np.float64, finite=True)
        if B.ndim != 2 or B.shape[0] != d or B.shape[1] == 0:
            raise ValueError(f"apply_to: expected shape ({d}, m) with m >= 1, got {B.shape}")
        raw = run_kernel(X, r, G, n, B=B, n_threads=n_threads)
        out = assemble_apply(raw, G, B, n, N)
    _checked(out, X)
    return out[0] if squeeze else out


def hermite_contract_vector(X, r, G, order, *, n_threads=None):
    """(1/N) Σ_j r_j He_ℓ(x_j)[g^{⊗(ℓ−1)}, ·] for each direction: (R, d) (or (d,) for 1-D G)."""
    order = _check_order(order, 1)
    X, r, G, squeeze = _prepare(X, r, G)
    N = X.shape[0]
    raw = run_kernel(X, r, G, order - 1, want_b0=True, n_threads=n_threads)
    out = _checked((raw["b0"] - (order - 1) * raw["s1"][:, None] * G.T) / N, X)
    return out[0] if squeeze else out


def hermite_contract_scalar(X, r, G, order, *, n_threads=None):
    """(1/N) Σ_j r_j He_ℓ(x_j)[g^{⊗ℓ}] = mean(r H_ℓ(<g, x>; ‖g‖²)): (R,) (or a float)."""
    order = _check_order(order, 0)
    X, r, G, squeeze = _prepare(X, r, G)
    raw = run_kernel(X, r, G, order, n_threads=n_threads)
    out = _checked(raw["s0"] / X.shape[0], X)
    return float(out[0]) if squeeze else out


def hermite_moment2(X, r, *, n_threads=None):
    """T̂₂ = (1/N) Σ_j r_j (x_j x_jᵀ − I), the ℓ = 2 case (d, d)."""
    X = as_float_array(X, "X", ndim=2, allow_empty=False)
    return hermite_contract(X, r, np.zeros((X.shape[1], 1)), 2, n_threads=n_threads)[0]


def quadratic_form(X, A, *, n_threads=None):
    """q_j = x_jᵀ A x_j for every row (float64, shape (N,)); A is (d, d)."""
    X = as_float_array(X, "X", ndim=2, allow_empty=False)
    d = X.shape[1]
    A = as_float_array(A, "A", dtype=np.float64, finite=True)
    if A.shape != (d, d):
        raise ValueError(f"A: expected shape ({d}, {d}), got {A.shape}")
    nt = resolve_n_threads(n_threads)
    q = np.empty(X.shape[0])
    with limit_blas_threads(1):
        _moments.quadratic_form(X, A, q, nt)
    return _checked(q, X)


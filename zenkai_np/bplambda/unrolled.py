"""The synthesiser's trace updates of one sequence, unrolled (no stored trace).

With the parameters fixed during a sequence (``update="sequence"``), the
eligibility trace of a linear synthesiser ``g(u) = Θ [u; 1]`` is an explicit
sum over the states read so far (``traces.py`` has the recursion):

    E_k = Σ_{s ≤ k} decay^{k−s} M_{k,s} D(u_s),   M_{k,s} = J_k ⋯ J_{s+1},
    J_s = diag(a_s) W_hhᵀ,   D(u)[i, j, p] = [i = j] u[p]

so the update of step k, ``dΘ_k = scale Σ_b δ_{k,b} E_{k,b}``, needs only the
row vectors ``c_{k,s} = decay^{k−s} δ_k M_{k,s}`` (a vector–Jacobian chain,
``c_{k,s−1} = decay (c_{k,s} ⊙ a_s) W_hh``ᵀ-product) and

    dW_k = scale Σ_s h_sᵀ c_{k,s}  (D, S),    db_k = scale Σ_{s,b} c_{k,s}.

That is O(T² B S²) flops per sequence instead of the recursion's
O(T B S³ P) (the toy task: about 2 instead of 156 MFLOP). The results equal
the recursion's up to rounding (tests: float64, 1e-12). ``clip₁`` is applied
per step k and per tensor, as for the recursion.

``unrolled_synth_grads`` is the NumPy formulation: lags batched over k, so
O(T) NumPy calls. ``_sequence.pyx`` runs the same sums in one ``nogil`` call.
"""
from __future__ import annotations

import numpy as np

from .synthesiser import clip_unit_norm
from .traces import raise_if_diverged

__all__ = ["unrolled_synth_grads"]


def unrolled_synth_grads(Hs, Delta, decay, scale, clip, *, W_hh=None, A=None, J=None):
    """``(gW (D, S), gb (S,)) = −Σ_k clip₁(dΘ_k)`` over the n trace steps.

    Hs (n, B, D): the states read (``u_k = [h_k; 1]``); Delta (n, B, S): the TD
    errors δ_k. The Jacobians: ``J_k = diag(a_k) W_hhᵀ`` from W_hh (S, S) and
    row factors A (n, B, S) (None: ones), or per-sample J (n, B, S, S).
    ``clip`` None: no clip. Raises FloatingPointError (``raise_if_diverged``)
    at the first non-finite step.
    """
    if (W_hh is None) == (J is None):
        raise ValueError("unrolled_synth_grads: give either W_hh (and A) or J")
    with np.errstate(over="ignore", invalid="ignore"):   # divergence is raised below
        dW, db = _unclipped(Hs, Delta, A, W_hh, J, decay, scale)
    gW = np.zeros(dW.shape[1:], Delta.dtype)
    gb = np.zeros(Delta.shape[2], Delta.dtype)
    for k in range(Delta.shape[0]):
        if not (np.isfinite(dW[k]).all() and np.isfinite(db[k]).all()):
            raise_if_diverged(k + 1)
        gW -= clip_unit_norm(dW[k], clip)
        gb -= clip_unit_norm(db[k], clip)
    return gW, gb


def _unclipped(Hs, Delta, A, W_hh, J, decay, scale):
    """Every step's ``(dW_k, db_k)``: (n, D, S) and (n, S)."""
    n = Delta.shape[0]
    dt = Delta.dtype
    # lag 0: c_{k,k} = δ_k;  lag L+1 from lag L (rows k = L+1 .. n−1)
    C = Delta
    dW = np.matmul(Hs.transpose(0, 2, 1), C)        # (n, D, S)
    db = C.sum(axis=1)                               # (n, S)
    d = dt.type(decay)
    for L in range(n - 1 if decay != 0 else 0):
        if J is not None:           # c ← decay · c J_s, per sample
            C = d * np.matmul(C[1:, :, None, :], J[1:n - L])[:, :, 0, :]
        else:
            V = C[1:] if A is None else C[1:] * A[1:n - L]
            C = d * (V @ W_hh.T)
        dW[L + 1:] += np.matmul(Hs[:n - L - 1].transpose(0, 2, 1), C)
        db[L + 1:] += C.sum(axis=1)
    dW *= dt.type(scale)
    db *= dt.type(scale)
    return dW, db

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

``unrolled_synth_grads`` is the NumPy formulation: the states in reverse
order, all k at once, so O(T) NumPy calls. ``_sequence.pyx`` runs the same sums
in one ``nogil`` call.
"""
from __future__ import annotations

import numpy as np

from .synthesiser import clip_unit_norm
from .traces import raise_if_diverged

__all__ = ["row_factor_vjp", "unrolled_synth_grads"]


def row_factor_vjp(W_hh, A):
    """``vjp(s, C) = C J_s`` for ``J_s = diag(a_s) W_hhᵀ`` (the vanilla RNN); A (n, B, S)
    or None (ones); C (B, m, S)."""
    if A is None:
        return lambda s, C: C @ W_hh.T
    return lambda s, C: (C * A[s][:, None, :]) @ W_hh.T


def unrolled_synth_grads(Hs, Delta, decay, scale, clip, vjp):
    """``(gW (D, S), gb (S,)) = −Σ_k clip₁(dΘ_k)`` over the n trace steps.

    Hs (n, B, D): the states read (``u_k = [h_k; 1]``); Delta (n, B, S): the TD
    errors δ_k; ``vjp(s, C)``: ``C J_s`` for C (B, m, S), per sample b
    (e.g. :func:`row_factor_vjp`, ``LSTM.state_vjp``). ``clip`` None: no clip.
    Raises FloatingPointError (``raise_if_diverged``) at the first non-finite step.
    """
    with np.errstate(over="ignore", invalid="ignore"):   # divergence is raised below
        dW, db = _unclipped(Hs, Delta, vjp, decay, scale)
    gW = np.zeros(dW.shape[1:], Delta.dtype)
    gb = np.zeros(Delta.shape[2], Delta.dtype)
    for k in range(Delta.shape[0]):
        if not (np.isfinite(dW[k]).all() and np.isfinite(db[k]).all()):
            raise_if_diverged(k + 1)
        gW -= clip_unit_norm(dW[k], clip)
        gb -= clip_unit_norm(db[k], clip)
    return gW, gb


def _unclipped(Hs, Delta, vjp, decay, scale):
    """Every step's ``(dW_k, db_k)``: (n, D, S) and (n, S).

    Reads the states in reverse order: at s, ``C[:, k] = c_{k,s}`` for all
    k ≥ s, so each s is one GEMM for the sums and one VJP of all rows for the
    chain ``c_{k,s−1} = decay · c_{k,s} J_s`` — O(T) NumPy calls.
    """
    n, B, S = Delta.shape
    D = Hs.shape[2]
    dt = Delta.dtype
    if decay == 0:     # only c_{k,k} = δ_k
        dW, db = np.matmul(Hs.transpose(0, 2, 1), Delta), Delta.sum(axis=1)
    else:
        d = dt.type(decay)
        C = np.empty((B, n, S), dt)
        dW = np.zeros((n, D, S), dt)
        db = np.zeros((n, S), dt)
        for s in range(n - 1, -1, -1):
            C[:, s] = Delta[s]
            Cs = C[:, s:]                                   # (B, n − s, S)
            dW[s:] += (Hs[s].T @ Cs.reshape(B, -1)).reshape(D, n - s, S).transpose(1, 0, 2)
            db[s:] += Cs.sum(axis=0)
            if s == 0:
                break
            C[:, s:] = d * vjp(s, Cs)
    dW *= dt.type(scale)
    db *= dt.type(scale)
    return dW, db

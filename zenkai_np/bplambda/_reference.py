"""Plain-NumPy references of the trace kernels, for tests (slow, obvious).

``trace_step_naive`` loops over the batch and uses explicit Jacobians.
"""
from __future__ import annotations

import numpy as np

__all__ = ["trace_step_naive", "trace_contract_naive"]


def trace_step_naive(E, u=None, *, W=None, a=None, J=None, decay, delta=None, scale=1.0):
    """Return ``(E_new, dtheta)`` without touching ``E`` (layout (S, B, S, P))."""
    S, B, _, P = E.shape
    E_new = np.empty_like(E)
    for b in range(B):
        if J is not None:
            Jb = np.asarray(J[b])
        else:
            row = np.ones(S, E.dtype) if a is None else np.asarray(a[b])
            Jb = row[:, None] * np.asarray(W)
        Eb = E[:, b].reshape(S, S * P)
        E_new[:, b] = (decay * (Jb @ Eb)).reshape(S, S, P)
        if u is not None:
            for i in range(S):
                E_new[i, b, i, :] += u[b]
    dtheta = None
    if delta is not None:
        dtheta = trace_contract_naive(E_new, delta, scale=scale)
    return E_new, dtheta


def trace_contract_naive(E, delta, *, scale=1.0):
    """``scale · Σ_{b,i} δ[b,i] E[i,b,j,p]`` by einsum; shape (S, P)."""
    return scale * np.einsum("bi,ibjp->jp", np.asarray(delta), E)


def trace_step_numpy(E, E_out, W, a, decay, u, delta, scale, dtheta=None):
    """The best plain-NumPy formulation of the fused shared-W step (benchmark reference).

    ``E_out = decay · diag(a_b) W E_b + [i=j] u_b`` via one matmul into the
    reused buffer ``E_out`` (E seen as S × (B·S·P)), a broadcast row scale, a
    strided diagonal view for the add, and one GEMV for the contraction
    ``dΘ = scale · vec(δᵀ) @ E_out`` (E_out seen as (S·B) × (S·P)). Returns dΘ.
    """
    S, B, _, P = E.shape
    np.matmul(W, E.reshape(S, B * S * P), out=E_out.reshape(S, B * S * P))
    rows = E_out.reshape(S, B, S * P)
    if a is None:
        rows *= E.dtype.type(decay)
    else:
        rows *= (E.dtype.type(decay) * a.T)[:, :, None]
    st = E_out.strides
    diag = np.lib.stride_tricks.as_strided(E_out, shape=(S, B, P),
                                           strides=(st[0] + st[2], st[1], st[3]))
    diag += u
    if delta is None:
        return None
    out = np.matmul(delta.T.reshape(S * B), E_out.reshape(S * B, S * P),
                    out=None if dtheta is None else dtheta.reshape(S * P))
    out *= E.dtype.type(scale)
    return out.reshape(S, P)

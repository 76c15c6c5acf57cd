"""The compiled contraction pass and the assembly of its raw sums (docs/moments.md).

Shared by :mod:`.contract` (in-memory arrays) and :mod:`.dask_support` (row
blocks): ``run_kernel`` returns the raw sums of one pass over (X, r) for the
directions G; ``assemble_matrix`` / ``assemble_apply`` turn (summed) raw sums
into M̂ or M̂B with the identity and g-corrections and the total row count N.
"""
from __future__ import annotations

import numpy as np

from .. import _moments
from .._threads import resolve_n_threads
from .._threads import limit_blas_threads

__all__ = ["assemble_apply", "assemble_matrix", "run_kernel"]


def run_kernel(X, r, G, n, *, B=None, want_b0=False, gram=False, n_threads=None):
    """Raw sums of one pass (see csrc/moments/contract.hpp)."""
    nt = resolve_n_threads(n_threads)
    N, d = X.shape
    R = G.shape[1]
    sums = np.zeros(3 * R)
    b1 = np.zeros(R * d)
    b0 = np.zeros(R * d) if want_b0 else None
    A = np.zeros(R * d * d) if gram else None
    P = c = None
    if B is not None:
        m = B.shape[1]
        P = np.zeros(d * R * m)
        c = np.zeros(R * m)
    with limit_blas_threads(1):
        _moments.contract(X, r, G, n, B, want_b0, gram, sums, b1, b0, A, P, c, nt)
    out = {"s0": sums[:R], "s1": sums[R:2 * R], "s2": sums[2 * R:], "b1": b1.reshape(R, d)}
    if want_b0:
        out["b0"] = b0.reshape(R, d)
    if gram:
        A = A.reshape(R, d, d)
        upper = np.triu(A)
        out["A"] = upper + np.swapaxes(np.triu(A, 1), 1, 2)
    if B is not None:
        out["P"] = np.ascontiguousarray(P.reshape(d, R, m).transpose(1, 0, 2))
        out["c"] = c.reshape(R, m)
    return out


@np.errstate(invalid="ignore", over="ignore")  # non-finite X is reported by _checked
def assemble_matrix(raw, G, n, N):
    """M̂ (R, d, d) from the raw sums of a gram pass (identity and g-corrections)."""
    d, R = G.shape
    Gt = G.T  # (R, d)
    M = raw["A"].copy()
    M[:, np.arange(d), np.arange(d)] -= raw["s0"][:, None]
    gb = Gt[:, :, None] * raw["b1"][:, None, :]
    M -= n * (gb + np.swapaxes(gb, 1, 2))
    if n >= 2:
        M += (n * (n - 1)) * raw["s2"][:, None, None] * (Gt[:, :, None] * Gt[:, None, :])
    return M / N


@np.errstate(invalid="ignore", over="ignore")
def assemble_apply(raw, G, B, n, N):
    """M̂B (R, d, m) from the raw sums of an apply pass."""
    Gt = G.T  # (R, d)
    gB = Gt @ B  # (R, m)
    out = raw["P"] - raw["s0"][:, None, None] * B[None]
    out -= n * (Gt[:, :, None] * raw["c"][:, None, :] + raw["b1"][:, :, None] * gB[:, None, :])
    if n >= 2:
        out += (n * (n - 1)) * raw["s2"][:, None, None] * (Gt[:, :, None] * gB[:, None, :])
    return out / N

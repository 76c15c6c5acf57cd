"""Hermite contractions of dask arrays: the kernel mapped over row chunks, then reduced.

Each row block of X (with the matching block of r) goes through the compiled
kernel, which returns raw sums (Σw⁰, Σw¹, Σw², Xᵀw¹, Xᵀdiag(w⁰)X or
Xᵀ(w⁰ ⊙ XB), w¹ᵀXB); the sums are added pairwise in a fixed tree over the
block index (:func:`blocked_reduce`: the same result for any scheduler and
worker count, one set of sums on the client) and the identity and
g-corrections applied once with the total N. Moments thus come from data
larger than memory or from a Dask cluster; the result is a NumPy array
(R·d² numbers at most). Requires the ``dask`` extra.
"""
from __future__ import annotations

import numpy as np

from .._validation import as_float_array
from ._kernel import assemble_apply, assemble_matrix, run_kernel

__all__ = ["blocked_reduce", "hermite_contract_dask"]


def _block_sums(Xb, rb, offset, G, n, B, gram, n_threads):
    Xb = as_float_array(Xb, "X", ndim=2, finite=True)
    rb = as_float_array(rb, "r", dtype=np.float64, ndim=1, finite=True)
    if Xb.shape[0] == 0:
        return None
    return run_kernel(Xb, rb, G, n, B=B, gram=gram, n_threads=n_threads)


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return {k: a[k] + b[k] for k in a}


def blocked_reduce(fn, arrays, *args):
    """Σ_blocks ``fn(*blocks, offset, *args)`` (dicts of arrays), added in a fixed tree.

    ``arrays`` share their row chunks; ``offset`` is the block's first global row.
    """
    import dask
    blocks = [a.to_delayed().ravel() for a in arrays]
    starts = np.concatenate([[0], np.cumsum(arrays[0].chunks[0])[:-1]]).astype(int)
    level = [dask.delayed(fn)(*bs, int(s), *args) for *bs, s in zip(*blocks, starts)]
    add = dask.delayed(_add)
    while len(level) > 1:  # pairwise, by block index: the same tree for any scheduler
        nxt = [add(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    (out,) = dask.compute(level[0])
    return out


def hermite_contract_dask(X, r, G, order, *, apply_to=None, n_threads=None):
    """:func:`~zenkai_np.moments.hermite_contract` for dask ``X`` (N, d) and ``r`` (N,).

    Rows may be chunked arbitrarily (columns are merged into one chunk). Runs
    on dask's current scheduler; each block uses one kernel thread unless
    ``n_threads`` says otherwise (the workers supply the parallelism).
    """
    import dask.array as da

    if not isinstance(X, da.Array):
        X = da.from_array(np.asarray(X), chunks=(max(1, len(X) // 4), -1))
    if X.ndim != 2:
        raise ValueError(f"X: expected a 2D array, got {X.ndim}D array with shape {X.shape}")
    N, d = X.shape
    if N == 0 or d == 0:
        raise ValueError(f"X: expected a non-empty array, got shape {X.shape}")
    if not isinstance(r, da.Array):
        r = da.from_array(np.asarray(r, dtype=np.float64), chunks=(X.chunks[0],))
    if r.ndim != 1 or r.shape[0] != N:
        raise ValueError(f"r: expected shape ({N},) to match X, got {r.shape}")
    X = X.rechunk({1: -1})
    r = r.rechunk((X.chunks[0],))
    G = as_float_array(G, "G", dtype=np.float64, finite=True)
    squeeze = G.ndim == 1
    if squeeze:
        G = G[:, None]
    if G.ndim != 2 or G.shape[0] != d or G.shape[1] == 0:
        raise ValueError(f"G: expected shape ({d}, R) or ({d},), got {G.shape}")
    G = np.ascontiguousarray(G)
    B = None
    if apply_to is not None:
        B = as_float_array(apply_to, "apply_to", dtype=np.float64, finite=True)
        if B.ndim != 2 or B.shape[0] != d or B.shape[1] == 0:
            raise ValueError(f"apply_to: expected shape ({d}, m) with m >= 1, got {B.shape}")
    n = order - 2
    nt = 1 if n_threads is None else n_threads
    total = blocked_reduce(_block_sums, [X, r], G, n, B, B is None, nt)
    if B is None:
        out = assemble_matrix(total, G, n, N)
    else:
        out = assemble_apply(total, G, B, n, N)
    return out[0] if squeeze else out

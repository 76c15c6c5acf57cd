"""Eligibility traces of BP(λ): the compiled kernels behind a NumPy API.

For a linear synthesiser ``g(u) = Θ [u; 1]`` with ``Θ`` of shape ``(S, P)``
(``P = D + 1``: the bias is the last column) every batch element ``b`` keeps
a trace ``E_b`` of shape ``(S, S, P)``, ``E_b[i, j, p] = ∂(estimate of
G_i)/∂Θ[j, p]`` accumulated over time:

    E_b ← decay · J_b E_b + ∂g(u_b)/∂Θ,    (∂g/∂Θ)[i, j, p] = [i = j] · u_b[p]
    dΘ[j, p] = scale · Σ_{b,i} δ[b, i] · E[i, b, j, p]

with ``decay = γλ`` and ``J_b = ∂h_t/∂h_{t-1}`` for sample ``b``.

Layout ("i-major", docs/bplambda.md): ``E`` has shape ``(S, B, S, P)``, so that for a
Jacobian shared up to row factors, ``J_b = diag(a_b) W``, the push of the
whole batch is one GEMM ``W @ E`` (E seen as ``S × (B·S·P)``) and a row scale.
Explicit per-sample Jacobians ``J`` of shape ``(B, S, S)`` use one GEMM per b.
:func:`trace_step` fuses push, diagonal add and contraction in one pass over E.

Stability: the trace stays bounded only if ``‖decay · J‖ < 1`` along the
sequence; otherwise it grows geometrically and overflows to inf/NaN, which
the kernels propagate (they never raise on values). Learners check their
updates and raise.

Threads: results do not depend on ``n_threads``. The GEMMs run on NumPy's
bundled OpenBLAS (else SciPy's; ``zenkai_np.kernel_blas()``, ``ZENKAI_NP_BLAS``);
limit BLAS threads around training loops (:func:`limit_blas_threads`) to avoid
oversubscription with our OpenMP tiles.
"""
from __future__ import annotations

import numpy as np

from .. import _bplambda
from .._threads import limit_blas_threads, resolve_n_threads
from .._validation import as_float_array, check_finite, check_out

__all__ = [
    "EligibilityTrace",
    "limit_blas_threads",
    "raise_if_diverged",
    "trace_add_diag",
    "trace_contract",
    "trace_shape",
    "trace_step",
]

_EMPTY = {np.dtype(np.float32): np.empty(0, np.float32),
          np.dtype(np.float64): np.empty(0, np.float64)}


def trace_shape(S: int, B: int, P: int) -> tuple:
    """Shape ``(S, B, S, P)`` of the i-major trace."""
    for name, v in (("S", S), ("B", B), ("P", P)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name}: expected an int, got {type(v).__name__}")
        if v <= 0:
            raise ValueError(f"{name}: expected a positive int, got {v}")
    return (int(S), int(B), int(S), int(P))


def _check_trace(E, name="E") -> np.ndarray:
    if not isinstance(E, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(E).__name__}")
    if E.dtype not in _EMPTY:
        raise TypeError(f"{name}: expected float32 or float64, got dtype {E.dtype}")
    if E.ndim != 4 or E.shape[0] != E.shape[2]:
        raise ValueError(f"{name}: expected shape (S, B, S, P), got {E.shape}")
    if E.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got shape {E.shape}")
    if not E.flags.writeable:
        raise ValueError(f"{name}: array is read-only (the trace is updated in place)")
    if not E.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array")
    if E.shape[1] * E.shape[2] * E.shape[3] > 2**31 - 1:
        raise ValueError(f"{name}: B*S*P = {E.shape[1] * E.shape[2] * E.shape[3]} exceeds the "
                         "BLAS int range")
    return E


def _operand(value, name, shape, dtype, finite):
    """An operand of E's dtype and exact shape (float64 is never narrowed)."""
    arr = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if arr.dtype.kind == "f" and arr.dtype != dtype and arr.dtype.itemsize > dtype.itemsize:
        raise TypeError(f"{name}: dtype {arr.dtype} would be narrowed to the trace's "
                        f"{dtype}; convert it explicitly")
    arr = as_float_array(arr, name, dtype=dtype)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {arr.shape}")
    if finite:
        check_finite(arr, name)
    return arr


def _decay(value, name="decay"):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    return value


def trace_step(E, u=None, *, W=None, a=None, J=None, decay, delta=None, scale=1.0,
               out=None, E_out=None, check_finite=True, n_threads=None):
    """One fused trace step; returns ``dΘ`` when ``delta`` is given.

    Parameters
    ----------
    E : ndarray (S, B, S, P), float32 or float64, C-contiguous, writeable
        The trace; updated in place to ``decay · J_b E_b + [i=j] u_b`` unless
        ``E_out`` is given.
    u : array_like (B, P), optional
        The synthesiser's input for this step, with a trailing 1 for the bias
        column. None skips the diagonal add (a pure push).
    W, a : array_like (S, S) and (B, S), optional
        Shared-Jacobian path: ``J_b = diag(a_b) W`` (a = None: ``J_b = W``).
    J : array_like (B, S, S), optional
        Explicit per-sample Jacobians (instead of ``W``/``a``).
    decay : float
        γλ. 0 resets the trace to the diagonal term (no GEMM).
    delta : array_like (B, S), optional
        TD errors; when given, returns ``dΘ = scale · Σ_{b,i} δ[b,i] E_new[i,b]``.
    scale : float
        Factor of the contraction (1/B for the batch mean).
    out : ndarray (S, P), optional
        Buffer for ``dΘ``.
    E_out : ndarray (S, B, S, P) or (S + 1, B, S, P), optional
        Receives the new trace (E is then left unchanged; must not overlap E).
        Alternating two buffers saves a copy per step (the GEMM writes the
        result directly): :class:`EligibilityTrace` does this. With one spare
        leading row (shape (S+1, B, S, P); the trace is ``E_out[:S]``) the
        contraction is computed by the same GEMM, as one extra output row,
        instead of a second pass over the tile.
    check_finite : bool
        Reject NaN/inf in the small operands (not in E, which is large).
    n_threads : int, optional
        OpenMP threads (None: OpenMP's current maximum).

    Returns
    -------
    dtheta : ndarray (S, P) or None
    """
    E = _check_trace(E)
    S, B, _, P = E.shape
    dt = E.dtype
    decay = _decay(decay)
    scale = _decay(scale, "scale")
    if (W is None) == (J is None):
        raise ValueError("W, J: give exactly one of the shared matrix W (with optional row "
                         "factors a) or the per-sample Jacobians J")
    empty = _EMPTY[dt]
    if J is not None:
        if a is not None:
            raise ValueError("a: row factors go with W, not with explicit J")
        Jm = _operand(J, "J", (B, S, S), dt, check_finite)
        Wm = am = empty
    else:
        Wm = _operand(W, "W", (S, S), dt, check_finite)
        am = empty if a is None else _operand(a, "a", (B, S), dt, check_finite)
        Jm = empty
    um = empty if u is None else _operand(u, "u", (B, P), dt, check_finite)
    if delta is None:
        if out is not None:
            raise ValueError("out: only meaningful with delta")
        dm = empty
        res = empty
    else:
        dm = _operand(delta, "delta", (B, S), dt, check_finite)
        res = np.empty((S, P), dt) if out is None else check_out(out, "out", (S, P), dt)
    if E_out is None:
        Eo = empty
    else:
        Eo = E_out
        spare = (isinstance(Eo, np.ndarray) and Eo.ndim == 4 and Eo.shape[0] == S + 1
                 and Eo.shape[1:] == E.shape[1:])
        _check_trace(Eo[:S] if spare else Eo, "E_out")
        if not spare and Eo.shape != E.shape:
            raise ValueError(f"E_out: expected shape {E.shape} (or {(S + 1,) + E.shape[1:]} "
                             f"with a spare row), got {Eo.shape}")
        if Eo.dtype != dt:
            raise ValueError(f"E_out: expected dtype {dt}, got {Eo.dtype}")
        if np.shares_memory(Eo, E):
            raise ValueError("E_out: overlaps E (omit E_out to update in place)")
    nt = resolve_n_threads(n_threads)
    _bplambda.trace_step(E, Eo, Wm, am, Jm, decay, um, dm, scale, res, nt)
    return None if delta is None else res


def trace_contract(E, delta, *, scale=1.0, out=None, check_finite=True, n_threads=None):
    """``dΘ[j, p] = scale · Σ_{b,i} δ[b, i] E[i, b, j, p]`` (E unchanged); shape (S, P)."""
    E = _check_trace(E)
    S, B, _, P = E.shape
    dm = _operand(delta, "delta", (B, S), E.dtype, check_finite)
    scale = _decay(scale, "scale")
    res = np.empty((S, P), E.dtype) if out is None else check_out(out, "out", (S, P), E.dtype)
    _bplambda.trace_contract(E, dm, scale, res, resolve_n_threads(n_threads))
    return res


def trace_add_diag(E, u, *, check_finite=True):
    """``E[i, b, i, :] += u[b, :]`` in place (the ∂g/∂Θ term); returns E."""
    E = _check_trace(E)
    S, B, _, P = E.shape
    um = _operand(u, "u", (B, P), E.dtype, check_finite)
    _bplambda.trace_add_diag(E, um)
    return E


#: traces larger than this are updated in place (measured: once E is far
#: larger than L2, writing a second buffer costs its write-allocate reads);
#: the compiled ``trace_sequence`` applies the same constant
IN_PLACE_BYTES = _bplambda.IN_PLACE_BYTES


def raise_if_diverged(step: int) -> None:
    """Raise the learners' FloatingPointError when a trace step (>= 0) was non-finite."""
    if step >= 0:
        raise FloatingPointError(
            f"BP(lambda) trace diverged at step {step} (non-finite update): the state "
            "Jacobian scaled by gamma*lam has norm >= 1; lower gamma*lam or the recurrent "
            "weights")


class EligibilityTrace:
    """A trace of shape ``(S, B, S, P)``: two alternating buffers, or one updated in place.

    Each :meth:`step` writes the new trace into the other buffer (no copy) when
    the trace is at most ``IN_PLACE_BYTES``, else updates it in place (faster
    there); ``E`` is the current one. ``reset()`` zeroes it (at every sequence start).
    ``double_buffer=True`` keeps two buffers at any size (needed by
    :meth:`sequence_unchecked` and :meth:`step_numpy`).

    The ``*_unchecked`` methods are the learners' fast path: operands must
    already be C-contiguous arrays of the trace's dtype and exact shapes
    (nothing is validated, nothing copied).
    """

    def __init__(self, S, B, P, dtype=np.float64, *, double_buffer=False):
        dtype = np.dtype(dtype)
        if dtype not in _EMPTY:
            raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
        shape = trace_shape(S, B, P)
        spare = (shape[0] + 1,) + shape[1:]      # one spare row: see trace_step(E_out=)
        self.dtype = dtype
        self.in_place = (not double_buffer
                         and int(np.prod(shape)) * dtype.itemsize > IN_PLACE_BYTES)
        self._bufs = [np.zeros(spare, dtype)]
        if not self.in_place:
            self._bufs.append(np.zeros(spare, dtype))
        self._cur = 0
        self._dtheta = np.empty((S, P), dtype)
        self._empty = _EMPTY[dtype]

    @property
    def E(self) -> np.ndarray:
        return self._bufs[self._cur][:-1]

    @property
    def shape(self):
        return self.E.shape

    def reset(self):
        """Zero the trace (E_{-1} = 0)."""
        self.E.fill(0)
        return self

    def _swap(self):
        src = self._bufs[self._cur][:-1]
        dst = None if self.in_place else self._bufs[1 - self._cur]
        if not self.in_place:
            self._cur = 1 - self._cur
        return src, dst

    def step(self, u=None, *, W=None, a=None, J=None, decay, delta=None, scale=1.0,
             check_finite=True, n_threads=None):
        """:func:`trace_step` from the current buffer into the other one.

        The returned dΘ is a buffer reused by the next call.
        """
        src = self._bufs[self._cur][:-1]
        dst = None if self.in_place else self._bufs[1 - self._cur]
        res = trace_step(src, u, W=W, a=a, J=J, decay=decay, delta=delta, scale=scale,
                         out=None if delta is None else self._dtheta, E_out=dst,
                         check_finite=check_finite, n_threads=n_threads)
        if not self.in_place:
            self._cur = 1 - self._cur
        return res

    def step_unchecked(self, u, delta, *, W=None, a=None, J=None, decay, scale, n_threads):
        """The fused step without validation; returns dΘ (a reused buffer)."""
        e = self._empty
        src, dst = self._swap()
        _bplambda.trace_step(src, e if dst is None else dst, e if W is None else W,
                           e if a is None else a, e if J is None else J, decay, u, delta,
                           scale, self._dtheta, n_threads)
        return self._dtheta

    def step_numpy(self, u, delta, *, W, a=None, decay, scale):
        """The same step by its best plain-NumPy formulation (needs two buffers)."""
        if self.in_place:
            raise ValueError("step_numpy: needs EligibilityTrace(double_buffer=True)")
        from ._reference import trace_step_numpy
        src, dst = self._swap()
        trace_step_numpy(src, dst[:-1], W, a, decay, u, delta, scale, self._dtheta)
        return self._dtheta

    def sequence_unchecked(self, W, A, decay, U, Delta, scale, clip, acc, n_threads):
        """``n`` fused shared-W steps from a zero trace in one compiled call (no GIL).

        W (S, S), A (n, B, S) row factors or None, U (n, B, P), Delta (n, B, S);
        ``acc`` (S, P) receives ``−Σ_k clip₁(dΘ_k)`` (clip 0: none). Returns the
        first non-finite step or −1. Needs two buffers.
        """
        if self.in_place:
            raise ValueError("sequence_unchecked: needs EligibilityTrace(double_buffer=True)")
        return _bplambda.trace_sequence(self._bufs[0], self._bufs[1], W,
                                      self._empty if A is None else A, decay, U, Delta,
                                      scale, clip, acc, n_threads)

    def contract(self, delta, *, scale=1.0, n_threads=None):
        return trace_contract(self.E, delta, scale=scale, n_threads=n_threads)

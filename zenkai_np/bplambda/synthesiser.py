"""The linear synthesiser ``g(u) = u @ W + b`` (zero-initialised, as in Jaderberg et al.).

``g`` estimates the gradient of *future* losses with respect to the state it
reads: ``g(h_t) ≈ ∂L_{>t}/∂h_t`` (a row vector per batch element).
Parameters: ``W`` (D, S) and ``b`` (S,). In the trace kernels the same
parameters are seen as ``Θ`` (S, P) with ``Θ[j, :D] = W[:, j]``, ``Θ[j, D] = b[j]``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["ConditionedSynthesiser", "LinearSynthesiser", "clip_unit_norm",
           "sequence_context"]


def clip_unit_norm(v: np.ndarray, max_norm: float | None = 1.0) -> np.ndarray:
    """``v / ‖v‖ · max_norm`` when ``‖v‖ > max_norm`` (Frobenius), else ``v`` (clip₁)."""
    if max_norm is None:
        return v
    flat = v.reshape(-1)
    n = float(np.sqrt(np.dot(flat, flat)))
    if n > max_norm:
        return v * (max_norm / n)
    return v


def sequence_context(Y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The cDNI context of a batch: the target at the last target step, (B, O)."""
    return Y[:, np.flatnonzero(mask)[-1]]


class LinearSynthesiser:
    """``g(u) = u @ W + b``, W (D, S), b (S,), zero at start."""

    #: context features read besides the state (see ConditionedSynthesiser)
    n_context = 0

    def __init__(self, n_in: int, n_out: int, dtype=np.float64):
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.params = {"W": np.zeros((self.n_in, self.n_out), dtype),
                       "b": np.zeros(self.n_out, dtype)}

    @property
    def dtype(self):
        return self.params["W"].dtype

    def predict(self, u: np.ndarray) -> np.ndarray:
        """``g(u)`` for u (B, D) -> (B, S)."""
        return u @ self.params["W"] + self.params["b"]

    def inputs(self, state: np.ndarray, context=None) -> np.ndarray:
        """What g reads: the state (..., B, D) itself (no context)."""
        return state

    def grads_from_theta(self, dtheta: np.ndarray) -> dict:
        """Split a trace-layout ``dΘ`` (S, D+1) into ``{"W": (D, S), "b": (S,)}``."""
        return {"W": dtheta[:, : self.n_in].T, "b": dtheta[:, self.n_in]}

    def regression_grads(self, u: np.ndarray, target: np.ndarray) -> dict:
        """Gradient of ``mean_b ½‖g(u_b) − target_b‖²`` (the DNI synthesiser loss)."""
        r = (self.predict(u) - target) / u.shape[0]
        return {"W": u.T @ r, "b": r.sum(axis=0)}


class ConditionedSynthesiser(LinearSynthesiser):
    """cDNI-style (Jaderberg et al. 2017): ``g([u, y]) = [u, y] @ W + b`` also reads a
    context y (B, C) — the learners pass :func:`sequence_context`, the label.

    W (D + C, D), b (D,), zero at start. The traces are those of the linear
    synthesiser with input ``[u, y]``: the context rows of W are learned by the
    same TD(λ) rule; the state Jacobians act on the D predicted entries only.
    """

    def __init__(self, n_state: int, n_context: int, dtype=np.float64):
        for name, v in (("n_state", n_state), ("n_context", n_context)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{name}: expected a positive int, got {v!r}")
        super().__init__(n_state + n_context, n_state, dtype)
        self.n_context = int(n_context)

    def inputs(self, state: np.ndarray, context=None) -> np.ndarray:
        """``[state, context]``: state (..., B, D), context (B, C) broadcast over ``...``."""
        if context is None:
            raise ValueError("context: a conditioned synthesiser needs the batch's context")
        ctx = np.broadcast_to(context, state.shape[:-1] + context.shape[-1:])
        return np.concatenate([state, ctx.astype(state.dtype, copy=False)], axis=-1)

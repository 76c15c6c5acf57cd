"""The linear synthesiser ``g(u) = u @ W + b`` (zero-initialised, as in Jaderberg et al.).

``g`` estimates the gradient of *future* losses with respect to the state it
reads: ``g(h_t) ≈ ∂L_{>t}/∂h_t`` (a row vector per batch element).
Parameters: ``W`` (D, S) and ``b`` (S,). In the trace kernels the same
parameters are seen as ``Θ`` (S, P) with ``Θ[j, :D] = W[:, j]``, ``Θ[j, D] = b[j]``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["LinearSynthesiser", "clip_unit_norm"]


def clip_unit_norm(v: np.ndarray, max_norm: float | None = 1.0) -> np.ndarray:
    """``v / ‖v‖ · max_norm`` when ``‖v‖ > max_norm`` (Frobenius), else ``v`` (clip₁)."""
    if max_norm is None:
        return v
    flat = v.reshape(-1)
    n = float(np.sqrt(np.dot(flat, flat)))
    if n > max_norm:
        return v * (max_norm / n)
    return v


class LinearSynthesiser:
    """``g(u) = u @ W + b``, W (D, S), b (S,), zero at start."""

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

    def grads_from_theta(self, dtheta: np.ndarray) -> dict:
        """Split a trace-layout ``dΘ`` (S, D+1) into ``{"W": (D, S), "b": (S,)}``."""
        return {"W": dtheta[:, : self.n_in].T, "b": dtheta[:, self.n_in]}

    def regression_grads(self, u: np.ndarray, target: np.ndarray) -> dict:
        """Gradient of ``mean_b ½‖g(u_b) − target_b‖²`` (the DNI synthesiser loss)."""
        r = (self.predict(u) - target) / u.shape[0]
        return {"W": u.T @ r, "b": r.sum(axis=0)}

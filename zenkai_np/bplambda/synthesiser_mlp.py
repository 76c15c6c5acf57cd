"""A one-hidden-layer synthesiser and its dense eligibility trace (NumPy).

``g(u) = relu(u W1 + b1) W2 + b2`` with W1 (D, K), b1 (K,), W2 (K, S), b2 (S,);
as in the authors' ``synthesiser.py`` (``synth_nlayers: 1``, ``synth_nhid: 50``)
the last layer is zero-initialised and the first has PyTorch's Linear init
U(±1/√D). The TD(λ) trace is the one of the linear synthesiser with the MLP's
``∂g/∂θ`` (dense, (S, P) per sample, P = D·K + K + K·S + S, θ flattened in the
order W1, b1, W2, b2):

    E_b ← decay · J_b E_b + ∂g(u_b)/∂θ,    dθ = scale · Σ_b δ_b E_b
"""
from __future__ import annotations

import numpy as np

from .._validation import check_random_state
from .synthesiser import LinearSynthesiser

__all__ = ["DenseTrace", "MLPSynthesiser", "check_synthesiser"]


class MLPSynthesiser:
    """``g(u) = relu(u W1 + b1) W2 + b2``: prediction, ∂g/∂θ, DNI regression gradients."""

    names = ("W1", "b1", "W2", "b2")
    n_context = 0

    def __init__(self, n_in, n_out, n_hidden=50, dtype=np.float64, rng=None):
        for name, v in (("n_in", n_in), ("n_out", n_out), ("n_hidden", n_hidden)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{name}: expected a positive int, got {v!r}")
        rng = check_random_state(rng)
        D, K, S = int(n_in), int(n_hidden), int(n_out)
        self.n_in, self.n_hidden, self.n_out = D, K, S
        k = 1 / np.sqrt(D)
        self.params = {"W1": rng.uniform(-k, k, (D, K)).astype(dtype),
                       "b1": rng.uniform(-k, k, K).astype(dtype),
                       "W2": np.zeros((K, S), dtype), "b2": np.zeros(S, dtype)}

    @property
    def dtype(self):
        return self.params["W1"].dtype

    @property
    def n_params(self) -> int:
        return sum(v.size for v in self.params.values())

    def inputs(self, state, context=None):
        """What g reads: the state itself (no context)."""
        return state

    def predict(self, u):
        """g(u) for u (..., D) -> (..., S)."""
        p = self.params
        return np.maximum(u @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"]

    def jacobian_params(self, u):
        """∂g(u_b)/∂θ: (B, S, P) for u (B, D), θ flat in the order W1, b1, W2, b2."""
        p = self.params
        D, K, S = self.n_in, self.n_hidden, self.n_out
        B = u.shape[0]
        a = u @ p["W1"] + p["b1"]
        z = np.maximum(a, 0)
        r = (a > 0).astype(u.dtype)
        A = p["W2"].T[None] * r[:, None, :]               # (B, S, K): ∂g_i/∂a_k
        Jp = np.empty((B, S, self.n_params), u.dtype)
        o = 0
        Jp[:, :, o:o + D * K] = (u[:, None, :, None] * A[:, :, None, :]).reshape(B, S, D * K)
        o += D * K
        Jp[:, :, o:o + K] = A
        o += K
        eye = np.eye(S, dtype=u.dtype)
        Jp[:, :, o:o + K * S] = (z[:, None, :, None] * eye[None, :, None, :]).reshape(B, S,
                                                                                       K * S)
        o += K * S
        Jp[:, :, o:] = eye
        return Jp

    def unflatten(self, flat):
        """Split a flat (P,) vector into ``{"W1", "b1", "W2", "b2"}`` arrays."""
        out, o = {}, 0
        for k in self.names:
            v = self.params[k]
            out[k] = flat[o:o + v.size].reshape(v.shape)
            o += v.size
        return out

    def regression_grads(self, u, target):
        """Gradient of ``mean_b ½‖g(u_b) − target_b‖²`` (the DNI synthesiser loss)."""
        r = (self.predict(u) - target) / u.shape[0]
        Jp = self.jacobian_params(u)
        return self.unflatten(np.einsum("bi,bip->p", r, Jp))


class DenseTrace:
    """Per-sample traces E (B, S, P) of a non-linear synthesiser."""

    def __init__(self, S, B, P, dtype=np.float64):
        self.E = np.zeros((int(B), int(S), int(P)), dtype)

    def reset(self):
        self.E.fill(0)
        return self

    def step(self, dg, J, decay, delta, scale):
        """``E ← decay · J E + dg``; returns ``scale · Σ_b δ_b E_b`` (P,).

        dg (B, S, P) = ∂g/∂θ at this step, J (B, S, S), delta (B, S).
        """
        if decay != 0:
            self.E = decay * np.einsum("bij,bjp->bip", J, self.E) + dg
        else:
            self.E = dg.copy()
        return scale * np.einsum("bi,bip->p", delta, self.E)


def check_synthesiser(synth, H, dtype, n_context=None):
    """None -> a zero LinearSynthesiser(H, H); else a synthesiser reading and predicting H
    (a conditioned one reads ``n_context`` more features: the model's outputs)."""
    if synth is None:
        return LinearSynthesiser(H, H, dtype)
    if not isinstance(synth, (LinearSynthesiser, MLPSynthesiser)):
        raise TypeError("synthesiser: expected a LinearSynthesiser, ConditionedSynthesiser or "
                        f"MLPSynthesiser, got {type(synth).__name__}")
    C = getattr(synth, "n_context", 0)
    if synth.n_in - C != H or synth.n_out != H or synth.dtype != dtype:
        raise ValueError(f"synthesiser: expected to read and predict {H} state features, "
                         f"dtype {dtype}; got n_in = {synth.n_in} (with {C} context), n_out "
                         f"= {synth.n_out}, {synth.dtype}")
    if C and n_context is not None and C != n_context:
        raise ValueError(f"synthesiser: n_context = {C}, expected the model's {n_context} "
                         "outputs (the context is the label)")
    return synth

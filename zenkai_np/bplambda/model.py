"""The vanilla RNN of the BP(λ) experiments (docs/bplambda.md), batch-first API.

    c_t = x_t @ W_ih + h_{t−1} @ W_hh + b,   h_t = f(c_t),   h_{−1} = 0
    ŷ_t = h_t @ W_out + b_out

Weights are stored ``(n_in, n_out)`` and applied ``x @ W`` (the project's
convention), so the state Jacobian is ``J_t = ∂h_t/∂h_{t−1} = diag(f'(c_t)) W_hhᵀ``.
Loss: ``L = Σ_{t ∈ targets} 1/(2B) Σ_b ‖ŷ_t − y_t‖²``, so ``e_t = ∂L/∂ŷ_t =
(ŷ_t − y_t)/B`` (the authors' scaling) and ``l_t = ∂L_t/∂h_t = e_t W_outᵀ``.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_random_state
from ..framework.layers import Sigmoid

__all__ = ["VanillaRNN", "ACTIVATIONS", "check_sequences"]

ACTIVATIONS = ("identity", "tanh", "relu", "sigmoid")
#: activation codes of the compiled sequence passes (``_sequence.pyx``)
ACT_CODES = {"identity": 0, "tanh": 1, "relu": 2, "sigmoid": 3}
_SIGMOID = Sigmoid()


def _act(name, c):
    """(f(c), f'(c))."""
    if name == "identity":
        return c, np.ones_like(c)
    if name == "tanh":
        h = np.tanh(c)
        return h, 1 - h * h
    if name == "relu":
        return np.maximum(c, 0), (c > 0).astype(c.dtype)
    h = _SIGMOID.forward(c)    # the framework's overflow-free sigmoid
    return h, h * (1 - h)


def check_sequences(X, Y, mask, n_in, n_out, dtype):
    """Validate a batch of sequences: X (B, T, I), Y (B, T, O), mask (T,) bool or None."""
    for name, arr, n in (("X", X, n_in), ("Y", Y, n_out)):
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"{name}: expected a numpy.ndarray, got {type(arr).__name__}")
        if arr.ndim != 3:
            raise ValueError(f"{name}: expected a 3D array (batch, time, features), got "
                             f"{arr.ndim}D array with shape {arr.shape}")
        if arr.shape[2] != n:
            raise ValueError(f"{name}: expected {n} features, got {arr.shape[2]}")
        if arr.size == 0:
            raise ValueError(f"{name}: expected a non-empty array, got shape {arr.shape}")
        if arr.dtype != dtype:
            raise TypeError(f"{name}: dtype {arr.dtype} differs from the model's {dtype}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name}: contains NaN or inf")
    if X.shape[:2] != Y.shape[:2]:
        raise ValueError(f"X, Y: batch/time shapes differ: {X.shape[:2]} vs {Y.shape[:2]}")
    T = X.shape[1]
    if mask is None:
        return np.ones(T, bool)
    mask = np.asarray(mask)
    if mask.shape != (T,) or mask.dtype != bool:
        raise ValueError(f"mask: expected a bool array of shape ({T},), got "
                         f"{mask.dtype} {mask.shape}")
    return mask


def uniform_initialiser(n_hidden, dtype, rng):
    """``(dtype, H, u)`` with ``u(*shape)`` drawing U(±1/√H) arrays (PyTorch's RNN init)."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
    rng = check_random_state(rng)
    H = int(n_hidden)
    k = 1 / np.sqrt(H)

    def u(*shape):
        return rng.uniform(-k, k, shape).astype(dtype)
    return dtype, H, u


class VanillaRNN:
    """``h_t = f(x_t W_ih + h_{t−1} W_hh + b)`` with a linear readout: parameters, forward.

    Initialisation (PyTorch-like, as the authors' code): W_ih, W_hh ~ U(±1/√H); b is the
    sum of two U(±1/√H) draws; W_out, b_out ~ U(±1/√H).
    """

    #: the recurrent parameter group (learning rate ``lr_rnn``)
    rnn_keys = ("W_ih", "W_hh", "b")

    def __init__(self, n_in, n_hidden, n_out, *, activation="identity", dtype=np.float64,
                 rng=None):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {ACTIVATIONS}, got {activation!r}")
        for name, v in (("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{name}: expected a positive int, got {v!r}")
        dtype, H, u = uniform_initialiser(n_hidden, dtype, rng)
        self.n_in, self.n_hidden, self.n_out = int(n_in), H, int(n_out)
        self.activation = activation
        self.dtype = dtype
        self.params = {"W_ih": u(n_in, H), "W_hh": u(H, H), "b": u(H) + u(H),
                       "W_out": u(H, n_out), "b_out": u(n_out)}

    def cell(self, x_t, h_prev):
        """One step: returns (h_t, f'(c_t)), each (B, H)."""
        p = self.params
        c = x_t @ p["W_ih"] + h_prev @ p["W_hh"] + p["b"]
        return _act(self.activation, c)

    def run(self, X):
        """Forward over X (B, T, I): time-major h (T, B, H), f' (T, B, H), ŷ (T, B, O)."""
        B, T, _ = X.shape
        H = self.n_hidden
        h = np.empty((T, B, H), self.dtype)
        fp = np.empty((T, B, H), self.dtype)
        h_prev = np.zeros((B, H), self.dtype)
        for t in range(T):
            h[t], fp[t] = self.cell(X[:, t], h_prev)
            h_prev = h[t]
        yhat = h @ self.params["W_out"] + self.params["b_out"]
        return h, fp, yhat

    def predict(self, X):
        """ŷ (B, T, O) for X (B, T, I)."""
        return self.run(X)[2].transpose(1, 0, 2)

    def jacobians(self, fp):
        """Explicit ``J_t = diag(f'_t) W_hhᵀ`` for f' (..., B, H): shape (..., B, H, H)."""
        return fp[..., :, None] * self.params["W_hh"].T

    def loss(self, X, Y, mask=None):
        """Mean squared error over the target steps (mean over batch, steps and outputs)."""
        mask = check_sequences(X, Y, mask, self.n_in, self.n_out, self.dtype)
        yhat = self.predict(X)
        return float(np.mean((yhat[:, mask] - Y[:, mask]) ** 2))

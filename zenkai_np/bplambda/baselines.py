"""Baselines in the same API as :class:`BPLambdaRNN`: BPTT, truncated BPTT(n), DNI(n).

Windows (as in the authors' code): for truncation n the sequence is cut into
a remainder window of ``T mod n`` steps first, then full windows of n steps.
Gradients do not flow across a window start; one Adam step per sequence.

DNI / "BPTT+SG"(n) (Jaderberg et al. 2017): at the end of every window,
``sg_weight · g(h_end)`` is injected into the window's backward pass (the
last window included, as the authors' vanilla-RNN module does;
``sg_last_window=False`` puts 0 there instead, as their Table 2 LSTM does);
the gradient that then arrives at the state entering the window,
``h_{start−1}``, is the regression target of ``g(h_{start−1})`` (MSE, batch
mean). The synthesiser is linear and zero-initialised (or an MLP; or
conditioned on the label, cDNI, with a ConditionedSynthesiser).
"""
from __future__ import annotations

import numpy as np

from .._threads import one_blas_thread
from ._sequence_training import SequenceLearner
from .model import ACT_CODES
from .synthesiser import LinearSynthesiser, sequence_context
from .synthesiser_mlp import check_synthesiser

__all__ = ["TruncatedBPTTRNN", "DNIRNN", "windows"]


def windows(T: int, n: int | None) -> list:
    """[(start, stop), ...]: remainder window first, then full windows of n."""
    if n is None or n >= T:
        return [(0, T)]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"truncation: expected a positive int or None, got {n!r}")
    r = T % n
    bounds = ([(0, r)] if r else []) + [(s, s + n) for s in range(r, T, n)]
    return bounds


def check_backend(backend):
    if backend not in ("compiled", "numpy"):
        raise ValueError(f"backend: expected 'compiled' or 'numpy', got {backend!r}")
    return backend


class TruncatedBPTTRNN(SequenceLearner):
    """Full BPTT (``truncation=None``) or truncated BPTT(n) for a VanillaRNN.

    ``backend="compiled"`` runs the whole pass in one ``nogil`` call
    (``_sequence.rnn_bptt_grads``) for the built-in MSE readout; ``"numpy"`` (and
    other readouts or losses) the NumPy loops below.
    """

    def __init__(self, model, *, truncation=None, lr_rnn=1e-3, lr_readout=1e-3,
                 readout=None, backend="compiled"):
        if truncation is not None:
            windows(max(int(truncation), 1) + 1, truncation)  # validates
        self.truncation = truncation
        self.backend = check_backend(backend)
        self._work = None
        super().__init__(model, lr_rnn=lr_rnn, lr_readout=lr_readout, readout=readout)

    def _compiled(self):
        """Whether this pass can run compiled (built-in MSE readout, linear synthesiser)."""
        synth = getattr(self, "synth", None)
        return (self.backend == "compiled" and self.readout is None and self.loss == "mse"
                and (synth is None or (type(synth) is LinearSynthesiser)))

    def _pass_compiled(self, X, Y, mask):
        from . import _sequence
        model = self.model
        p = model.params
        B, T, _ = X.shape
        H, O = model.n_hidden, model.n_out
        size = _sequence.workspace_size(B, T, H, O)
        if self._work is None or self._work.size < size:
            self._work = np.empty(size, self.dtype)
        synth = getattr(self, "synth", None)
        sp = synth.params if synth is not None else {
            "W": np.zeros((H, H), self.dtype), "b": np.zeros(H, self.dtype)}
        g = {k: np.empty_like(v) for k, v in p.items()}
        gs = {"W": np.empty((H, H), self.dtype), "b": np.empty(H, self.dtype)}
        with one_blas_thread():
            sse, n_targets = _sequence.rnn_bptt_grads(
                np.ascontiguousarray(X), np.ascontiguousarray(Y), mask.view(np.uint8),
                p["W_ih"], p["W_hh"], p["b"], p["W_out"], p["b_out"], sp["W"], sp["b"],
                ACT_CODES[model.activation],
                0 if self.truncation is None else int(self.truncation), synth is not None,
                bool(getattr(self, "sg_last_window", False)),
                float(getattr(self, "sg_weight", 0)), g["W_ih"], g["W_hh"], g["b"],
                g["W_out"], g["b_out"], gs["W"], gs["b"], self._work)
        if synth is not None:
            g["synth_W"], g["synth_b"] = gs["W"], gs["b"]
        mse = sse / (n_targets * B * O) if n_targets else float("nan")
        return g, {"mse": float(mse)}

    def _forward(self, X, Y, mask, grads):
        model = self.model
        B, T, _ = X.shape
        H = model.n_hidden
        hs = np.empty((T + 1, B, H), self.dtype)  # hs[t + 1] = h_t, hs[0] = h_{-1} = 0
        hs[0] = 0
        a = np.empty((T, B, H), self.dtype)
        l = np.zeros((T, B, H), self.dtype)
        yhats, ys = [], []
        for t in range(T):
            hs[t + 1], a[t] = model.cell(X[:, t], hs[t])
            if mask[t]:
                yhat, l[t] = self._readout(hs[t + 1], Y[:, t], B, grads)
                yhats.append(yhat)
                ys.append(Y[:, t])
        return hs, a, l, self._mse(yhats, ys)

    def _backward_window(self, X, hs, a, l, s, e, dh_end, grads):
        """Backprop inside [s, e) starting from dh_end at h_{e−1}; returns dL/dh_{s−1}."""
        W_hh = self.model.params["W_hh"]
        dh = dh_end
        for t in range(e - 1, s - 1, -1):
            dh = dh + l[t]
            q = dh * a[t]
            grads["W_hh"] += hs[t].T @ q
            grads["W_ih"] += X[:, t].T @ q
            grads["b"] += q.sum(axis=0)
            dh = q @ W_hh.T
        return dh

    def _pass(self, X, Y, mask):
        if self._compiled():
            return self._pass_compiled(X, Y, mask)
        grads = self._zero_grads()
        hs, a, l, mse = self._forward(X, Y, mask, grads)
        zero = np.zeros_like(hs[0])
        for s, e in windows(X.shape[1], self.truncation):
            self._backward_window(X, hs, a, l, s, e, zero, grads)
        return grads, {"mse": mse}


class DNIRNN(TruncatedBPTTRNN):
    """DNI / BPTT+SG(n): truncated BPTT(n) with a bootstrapped linear synthetic gradient."""

    uses_synthesiser = True

    def __init__(self, model, *, truncation=1, sg_weight=1.0, sg_last_window=True,
                 lr_rnn=1e-3, lr_readout=1e-3, lr_synth=1e-4, readout=None, synthesiser=None,
                 backend="compiled"):
        self.synth = check_synthesiser(synthesiser, model.n_hidden, model.dtype, model.n_out)
        self.backend = check_backend(backend)
        self._work = None
        self.sg_weight = float(sg_weight)
        if not isinstance(sg_last_window, bool):
            raise TypeError(f"sg_last_window: expected a bool, got {type(sg_last_window).__name__}")
        self.sg_last_window = sg_last_window
        SequenceLearner.__init__(self, model, lr_rnn=lr_rnn, lr_readout=lr_readout,
                                 lr_synth=lr_synth, readout=readout)
        windows(int(truncation) + 1, truncation)
        self.truncation = int(truncation)

    def _pass(self, X, Y, mask):
        if self._compiled():
            return self._pass_compiled(X, Y, mask)
        grads = self._zero_grads()
        hs, a, l, mse = self._forward(X, Y, mask, grads)
        wins = windows(X.shape[1], self.truncation)
        zero = np.zeros_like(hs[0])
        synth = self.synth
        ctx = sequence_context(Y, mask) if synth.n_context else None
        for k, (s, e) in enumerate(wins):
            final = k == len(wins) - 1 and not self.sg_last_window
            dh_end = zero if final else self.sg_weight * synth.predict(synth.inputs(hs[e], ctx))
            arriving = self._backward_window(X, hs, a, l, s, e, dh_end, grads)
            if s >= 1:  # regress g(h_{s-1}) on the gradient arriving there
                for k, v in synth.regression_grads(synth.inputs(hs[s], ctx), arriving).items():
                    grads["synth_" + k] += v
        return grads, {"mse": mse}

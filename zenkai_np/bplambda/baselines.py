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

from ._sequence_training import SequenceLearner
from .synthesiser import sequence_context
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


class TruncatedBPTTRNN(SequenceLearner):
    """Full BPTT (``truncation=None``) or truncated BPTT(n) for a VanillaRNN."""

    def __init__(self, model, *, truncation=None, lr_rnn=1e-3, lr_readout=1e-3,
                 readout=None):
        if truncation is not None:
            windows(max(int(truncation), 1) + 1, truncation)  # validates
        self.truncation = truncation
        super().__init__(model, lr_rnn=lr_rnn, lr_readout=lr_readout, readout=readout)

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
                 lr_rnn=1e-3, lr_readout=1e-3, lr_synth=1e-4, readout=None, synthesiser=None):
        self.synth = check_synthesiser(synthesiser, model.n_hidden, model.dtype, model.n_out)
        self.sg_weight = float(sg_weight)
        if not isinstance(sg_last_window, bool):
            raise TypeError(f"sg_last_window: expected a bool, got {type(sg_last_window).__name__}")
        self.sg_last_window = sg_last_window
        SequenceLearner.__init__(self, model, lr_rnn=lr_rnn, lr_readout=lr_readout,
                                 lr_synth=lr_synth, readout=readout)
        windows(int(truncation) + 1, truncation)
        self.truncation = int(truncation)

    def _pass(self, X, Y, mask):
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

"""Baselines for the :class:`~zenkai_np.bplambda.lstm.LSTM`: BPTT, BPTT(n), BPTT+SG(n).

The same windows and DNI rule as :mod:`.baselines` for the vanilla RNN, on the
LSTM state ``s_t = [h_t, c_t]`` (2H) with the exact Jacobian ``J_t = ∂s_t/∂s_{t−1}``
(applied as ``LSTM.state_vjp``): inside a window the total gradient is
``Ĝ_t = l_t + Ĝ_{t+1} J_{t+1}`` (Ĝ at the
window end: 0, or ``sg_weight · g(s_end)`` for BPTT+SG), and the parameter
gradient is ``Σ_t Ĝ_t · ∂s_t/∂Ψ`` (``LSTM.immediate_grads``). BPTT+SG regresses
``g(s_{start−1})`` on the gradient arriving there, ``Ĝ_start J_start``.

``backend="compiled"`` (default) runs the whole pass in one ``nogil`` call
(``_lstm_sequence.lstm_bptt_grads``) for the built-in readout and a plain linear
synthesiser; ``"numpy"`` (and a conditioned synthesiser) the NumPy loops below.
"""
from __future__ import annotations

import numpy as np

from ._sequence_training import LOSSES, SequenceLearner
from .baselines import check_backend, windows
from .._threads import one_blas_thread
from .lstm import compiled_batch_loss
from .synthesiser import LinearSynthesiser, sequence_context
from .synthesiser_mlp import check_synthesiser

__all__ = ["DNILSTM", "TruncatedBPTTLSTM"]


class TruncatedBPTTLSTM(SequenceLearner):
    """Full BPTT (``truncation=None``) or BPTT(n) for an LSTM."""

    def __init__(self, model, *, truncation=None, lr_rnn=1e-3, lr_readout=1e-3,
                 backend="compiled"):
        if truncation is not None:
            windows(max(int(truncation), 1) + 1, truncation)  # validates
        self.truncation = truncation
        self.backend = check_backend(backend)
        self._work = None
        super().__init__(model, lr_rnn=lr_rnn, lr_readout=lr_readout)

    def _compiled(self):
        """Whether this pass runs in ``_lstm_sequence`` (plain linear synthesiser or none)."""
        synth = getattr(self, "synth", None)
        return self.backend == "compiled" and (synth is None or not synth.n_context)

    def _pass_compiled(self, X, Y, mask):
        from . import _lstm_sequence
        model, dt = self.model, self.dtype
        p = model.params
        B, T, I = X.shape
        H, O = model.n_hidden, model.n_out
        size = _lstm_sequence.workspace_size(B, T, I, H, O)
        if self._work is None or self._work.size < size:
            self._work = np.empty(size, dt)
        synth = getattr(self, "synth", None)
        sp = synth.params if synth is not None else {
            "W": np.zeros((2 * H, 2 * H), dt), "b": np.zeros(2 * H, dt)}
        g = {k: np.empty_like(v) for k, v in p.items()}
        gs = {k: np.empty_like(v) for k, v in sp.items()}
        with one_blas_thread():
            total, n_targets = _lstm_sequence.lstm_bptt_grads(
                np.ascontiguousarray(X), np.ascontiguousarray(Y), mask.view(np.uint8),
                p["W_x"], p["W_h"], p["b"], p["W_out"], p["b_out"], sp["W"], sp["b"],
                LOSSES.index(self.loss), 0 if self.truncation is None else int(self.truncation),
                synth is not None, bool(getattr(self, "sg_last_window", False)),
                float(getattr(self, "sg_weight", 0.0)), g["W_x"], g["W_h"], g["b"],
                g["W_out"], g["b_out"], gs["W"], gs["b"], self._work)
        if synth is not None:
            g["synth_W"], g["synth_b"] = gs["W"], gs["b"]
        return g, {"mse": compiled_batch_loss(self.loss, total, n_targets, B, O)}

    def _forward(self, X, Y, mask, grads):
        model = self.model
        B, T, _ = X.shape
        H = model.n_hidden
        h = c = np.zeros((B, H), self.dtype)
        steps, yhats, ys = [], [], []
        for t in range(T):
            h_prev = h
            h, c, cache = model.cell(X[:, t], h_prev, c)
            l = np.zeros((B, 2 * H), self.dtype)
            if mask[t]:
                yhat, l[:, :H] = self._readout(h, Y[:, t], B, grads)
                yhats.append(yhat)
                ys.append(Y[:, t])
            steps.append((h_prev, cache, l, np.concatenate([h, c], axis=1)))
        return steps, self._mse(yhats, ys)

    def _window(self, X, steps, s, e, G_end, grads):
        """Backprop inside [s, e) from Ĝ at s_{e−1}; returns the gradient at s_{s−1}."""
        model = self.model
        G = G_end
        for t in range(e - 1, s - 1, -1):
            h_prev, cache, l, _ = steps[t]
            G = G + l
            model.immediate_grads(X[:, t], h_prev, cache, G, grads)
            G = model.state_vjp(cache, G)
        return G

    def _end_gradient(self, steps, e, final):
        return np.zeros_like(steps[0][2])

    def _pass(self, X, Y, mask):
        if self._compiled():
            return self._pass_compiled(X, Y, mask)
        grads = self._zero_grads()
        steps, loss = self._forward(X, Y, mask, grads)
        wins = windows(X.shape[1], self.truncation)
        for k, (s, e) in enumerate(wins):
            arriving = self._window(X, steps, s, e,
                                    self._end_gradient(steps, e, k == len(wins) - 1), grads)
            self._regress(steps, s, arriving, grads)
        return grads, {"mse": loss}

    def _regress(self, steps, s, arriving, grads):
        pass


class DNILSTM(TruncatedBPTTLSTM):
    """BPTT+SG(n) for an LSTM: a zero-initialised linear synthesiser over [h, c]
    (``synthesiser``: a ConditionedSynthesiser(2H, n_out) for cDNI)."""

    uses_synthesiser = True

    def __init__(self, model, *, truncation=1, sg_weight=1.0, sg_last_window=True,
                 lr_rnn=1e-3, lr_readout=1e-3, lr_synth=1e-4, synthesiser=None,
                 backend="compiled"):
        S = 2 * model.n_hidden
        self.backend = check_backend(backend)
        self._work = None
        self.synth = check_synthesiser(synthesiser, S, model.dtype, model.n_out)
        if not isinstance(self.synth, LinearSynthesiser):
            raise TypeError("synthesiser: the LSTM learners take a LinearSynthesiser or "
                            f"ConditionedSynthesiser, got {type(self.synth).__name__}")
        self._context = None
        self.sg_weight = float(sg_weight)
        self.sg_last_window = bool(sg_last_window)
        SequenceLearner.__init__(self, model, lr_rnn=lr_rnn, lr_readout=lr_readout,
                                 lr_synth=lr_synth)
        windows(int(truncation) + 1, truncation)
        self.truncation = int(truncation)

    def _end_gradient(self, steps, e, final):
        if final and not self.sg_last_window:
            return np.zeros_like(steps[0][2])
        return self.sg_weight * self.synth.predict(self.synth.inputs(steps[e - 1][3],
                                                                      self._context))

    def _regress(self, steps, s, arriving, grads):
        if s >= 1:
            u = self.synth.inputs(steps[s - 1][3], self._context)
            for k, v in self.synth.regression_grads(u, arriving).items():
                grads["synth_" + k] += v

    def _pass(self, X, Y, mask):
        if self._compiled():
            return self._pass_compiled(X, Y, mask)
        self._context = sequence_context(Y, mask) if self.synth.n_context else None
        return super()._pass(X, Y, mask)

"""Shared machinery of the recurrent learners: readout signal, Adam groups, fit loop.

Every learner maps a batch of sequences ``X`` (B, T, I), targets ``Y``
(B, T, O) and a target-step ``mask`` (T,) to gradients of the model's
parameters (``gradients``) and applies them with Adam, β = (0.9, 0.98),
ε = 1e-9, one learning rate per group: ``lr_rnn`` (W_ih, W_hh, b),
``lr_readout`` (W_out, b_out) and ``lr_synth`` (synthesiser W, b).
"""
from __future__ import annotations

import numpy as np

from ..framework.machine import LearningMachine
from ..framework.state import State
from ._adam import GroupAdam
from .model import check_sequences

__all__ = ["SequenceLearner"]

RNN_KEYS = ("W_ih", "W_hh", "b")
READOUT_KEYS = ("W_out", "b_out")


def _unit_interval(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)):
        raise TypeError(f"{name}: expected a float, got {type(v).__name__}")
    if not 0 <= v <= 1:
        raise ValueError(f"{name}: expected a value in [0, 1], got {v}")
    return float(v)


def set_synthesiser_options(learner, gamma, lam, sg_weight, clip):
    """Validate and set the BP(lambda) options shared by the RNN and LSTM learners."""
    learner.gamma = _unit_interval("gamma", gamma)
    learner.lam = _unit_interval("lam", lam)
    if not np.isfinite(sg_weight):
        raise ValueError(f"sg_weight: expected a finite number, got {sg_weight}")
    learner.sg_weight = float(sg_weight)
    if clip is not None and not clip > 0:
        raise ValueError(f"clip: expected a positive number or None, got {clip}")
    learner.clip = clip


def _lr(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)):
        raise TypeError(f"{name}: expected a float, got {type(v).__name__}")
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {v}")
    return float(v)


class SequenceLearner:
    """Base class: subclasses implement ``_pass(X, Y, mask, record)`` -> grads dict.

    Parameters
    ----------
    model : VanillaRNN (or LSTM)
    lr_rnn, lr_readout, lr_synth : float
        Adam learning rates of the three parameter groups (0 freezes a group).
    readout : LearningMachine, optional
        Replaces the model's linear readout: at target steps it gets
        ``forward(h)``, ``accumulate(h, ŷ − e)`` and ``step_x(h, ŷ − e)`` (the
        hidden state's target; ``l_t = h − step_x``), and ``step`` after the
        sequence. A ``GradLearner(Linear)`` reproduces the built-in readout.
    """

    uses_synthesiser = False

    def __init__(self, model, *, lr_rnn=1e-3, lr_readout=1e-3, lr_synth=1e-4, readout=None):
        self.model = model
        self.dtype = model.dtype
        if readout is not None and not isinstance(readout, LearningMachine):
            raise TypeError(f"readout: expected a LearningMachine, got {type(readout).__name__}")
        self.readout = readout
        lrs = {k: _lr("lr_rnn", lr_rnn) for k in model.rnn_keys}
        lrs.update({k: _lr("lr_readout", lr_readout) for k in READOUT_KEYS})
        params = {k: model.params[k] for k in lrs}
        if self.uses_synthesiser:
            for k, v in self.synth.params.items():
                params["synth_" + k] = v
                lrs["synth_" + k] = _lr("lr_synth", lr_synth)
        self.params = params
        self.optimizer = GroupAdam(params, lrs)
        self.loss_curve_ = []

    # -- readout ---------------------------------------------------------------
    def _readout(self, h, y, B, grads):
        """ŷ_t, and the immediate signal l_t = ∂L_t/∂h_t (readout grads accumulated)."""
        if self.readout is None:
            p = self.model.params
            yhat = h @ p["W_out"] + p["b_out"]
            e = (yhat - y) / B
            grads["W_out"] += h.T @ e
            grads["b_out"] += e.sum(axis=0)
            return yhat, e @ p["W_out"].T
        st = State()
        yhat = self.readout.forward(h, st)
        e = (yhat - y) / B
        t_out = yhat - e
        self.readout.accumulate(h, t_out, st)
        h_target = self.readout.step_x(h, t_out, st)
        self._readout_pending = (h, t_out, st)
        return yhat, (h - h_target).astype(self.dtype, copy=False)

    def _zero_grads(self):
        return {k: np.zeros_like(v) for k, v in self.params.items()}

    def apply(self, grads):
        """One Adam step of every group (and the machine readout's own step)."""
        self.optimizer.step({k: g for k, g in grads.items()
                             if k in self.params and (self.readout is None
                                                      or k not in READOUT_KEYS)})
        pending = getattr(self, "_readout_pending", None)
        if self.readout is not None and pending is not None:
            self.readout.step(*pending)
            self._readout_pending = None

    # -- public API -------------------------------------------------------------
    def gradients(self, X, Y, mask=None, **kwargs):
        """One pass over the batch; returns ``(grads, info)`` without updating parameters.

        ``grads`` maps parameter names to gradients (descent direction sign);
        ``info`` has ``mse`` (before the update) and recorded signals.
        """
        mask = check_sequences(X, Y, mask, self.model.n_in, self.model.n_out, self.dtype)
        return self._pass(X, Y, mask, **kwargs)

    def train_batch(self, X, Y, mask=None):
        """Gradients of one batch, then one Adam step; returns the batch MSE (before)."""
        grads, info = self.gradients(X, Y, mask)
        self.apply(grads)
        self.loss_curve_.append(info["mse"])
        return info["mse"]

    def fit(self, task, *, n_iter=100, batch_size=10, rng=None, callback=None):
        """Train on ``task.sample(batch_size, rng)`` batches for ``n_iter`` iterations."""
        from .._validation import check_random_state
        rng = check_random_state(rng)
        for it in range(int(n_iter)):
            X, Y, mask = task.sample(batch_size, rng, dtype=self.dtype)
            mse = self.train_batch(X, Y, mask)
            if callback is not None:
                callback(self, it, mse)
        return self

    @staticmethod
    def _mse(yhats, Ys):
        if not yhats:
            return float("nan")
        return float(np.mean([np.mean((a - b) ** 2) for a, b in zip(yhats, Ys)]))

"""Sequence training of the recurrent learners: readout signal, Adam groups, ``fit``.

This is the one training entry point for sequence data: ``learner.fit(task,
n_iter=..., batch_size=...)`` draws ``task.sample(batch_size, rng)`` batches
(``X`` (B, T, I), ``Y`` (B, T, O), target-step ``mask`` (T,)); ``train_batch``
and ``gradients`` are its one-batch parts. (``zk.fit`` trains feed-forward
learning machines on (X, y) arrays; a recurrent learner needs whole sequences
and a task that samples them, hence its own loop.)

Every learner maps a batch to gradients of the model's parameters and applies
them with the framework's Adam (:class:`zenkai_np.framework.optim.Adam`),
β = (0.9, 0.98), ε = 1e-9 as in the BP(λ) authors' code, one learning rate per
group: ``lr_rnn`` (recurrent weights), ``lr_readout`` (W_out, b_out) and
``lr_synth`` (synthesiser). A group with learning rate 0 is frozen (not in the
optimizer). The synthesiser has its own Adam, so that in the online mode its
step count follows its own updates.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_interval, check_random_state
from ..framework.layers import Sigmoid
from ..framework.machine import LearningMachine
from ..framework.state import State
from ..framework.optim import Adam
from .model import check_sequences
from .synthesiser import clip_unit_norm
from .traces import raise_if_diverged

__all__ = ["SequenceLearner", "ADAM_BETAS", "ADAM_EPS"]

READOUT_KEYS = ("W_out", "b_out")
LOSSES = ("mse", "softmax", "bce")
ADAM_BETAS = (0.9, 0.98)
ADAM_EPS = 1e-9
_SIGMOID = Sigmoid()


def set_synthesiser_options(learner, gamma, lam, sg_weight, clip):
    """Validate and set the BP(lambda) options shared by the RNN and LSTM learners."""
    learner.gamma = check_interval(gamma, "gamma", 0.0, 1.0)
    learner.lam = check_interval(lam, "lam", 0.0, 1.0)
    learner.sg_weight = check_interval(sg_weight, "sg_weight")
    if clip is not None:
        check_interval(clip, "clip", 0.0, low_open=True)
    learner.clip = clip


def group_adam(groups):
    """A framework Adam over ``[(params dict, lr), ...]``, frozen (lr 0) groups left out."""
    live = [{"params": p, "lr": lr} for p, lr in groups if lr != 0 and p]
    if not live:
        return None
    return Adam(live, beta1=ADAM_BETAS[0], beta2=ADAM_BETAS[1], eps=ADAM_EPS)


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
    _loss = "mse"

    @property
    def loss(self) -> str:
        """The built-in readout's loss: 'mse' (default; ``e = (ŷ − y)/B``), 'softmax'
        (cross-entropy on one-hot y; ``e = (softmax(ŷ) − y)/B``) or 'bce' (sigmoid
        binary cross-entropy, mean over outputs; ``e = (σ(ŷ) − y)/(B·O)``)."""
        return self._loss

    @loss.setter
    def loss(self, value):
        if value not in LOSSES:
            raise ValueError(f"loss: expected one of {LOSSES}, got {value!r}")
        self._loss = value

    def __init__(self, model, *, lr_rnn=1e-3, lr_readout=1e-3, lr_synth=1e-4, readout=None):
        self.model = model
        self.dtype = model.dtype
        if readout is not None and not isinstance(readout, LearningMachine):
            raise TypeError(f"readout: expected a LearningMachine, got {type(readout).__name__}")
        self.readout = readout
        lr_rnn = check_interval(lr_rnn, "lr_rnn", 0.0)
        lr_readout = check_interval(lr_readout, "lr_readout", 0.0)
        lr_synth = check_interval(lr_synth, "lr_synth", 0.0)
        rnn = {k: model.params[k] for k in model.rnn_keys}
        out = {k: model.params[k] for k in READOUT_KEYS}
        params = {**rnn, **out}
        synth = {}
        if self.uses_synthesiser:
            synth = {"synth_" + k: v for k, v in self.synth.params.items()}
            params.update(synth)
        self.params = params
        # the machine readout learns by its own rule: its built-in weights stay out
        self.optimizer = group_adam([(rnn, lr_rnn),
                                     (out if readout is None else {}, lr_readout)])
        self.synth_optimizer = group_adam([(synth, lr_synth)])
        self.loss_curve_ = []

    # -- readout ---------------------------------------------------------------
    def _readout(self, h, y, B, grads):
        """ŷ_t, and the immediate signal l_t = ∂L_t/∂h_t (readout grads accumulated)."""
        if self.readout is None:
            p = self.model.params
            yhat = h @ p["W_out"] + p["b_out"]
            if self._loss == "mse":
                e = (yhat - y) / B
            elif self._loss == "softmax":
                z = yhat - yhat.max(axis=1, keepdims=True)
                np.exp(z, out=z)
                e = (z / z.sum(axis=1, keepdims=True) - y) / B
            else:
                e = (_SIGMOID.forward(yhat) - y) / (B * y.shape[1])
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

    def _synth_target(self, t, T, state, g_override, zeros):
        """g_t, the synthetic gradient at step ``t`` of ``T``: zero at the last step,
        ``g_override[t]`` when given, else the synthesiser's prediction from ``state``."""
        if t == T - 1:
            return zeros
        if g_override is not None:
            return np.asarray(g_override[t], zeros.dtype)
        return self.synth.predict(state)

    def _subtract_synth_grads(self, dtheta, t, grads):
        """Refuse a non-finite trace product ``dtheta`` (diverged at step ``t``), else
        subtract the synthesiser's clipped gradients from ``grads`` (synth_W, synth_b)."""
        if not np.isfinite(dtheta).all():
            raise_if_diverged(t)
        sg = self.synth.grads_from_theta(dtheta)
        grads["synth_W"] -= clip_unit_norm(sg["W"], self.clip)
        grads["synth_b"] -= clip_unit_norm(sg["b"], self.clip)

    def _zero_grads(self):
        return {k: np.zeros_like(v) for k, v in self.params.items()}

    def apply(self, grads):
        """One Adam step of every group in ``grads`` (and the machine readout's own step)."""
        model = {k: g for k, g in grads.items() if not k.startswith("synth_")}
        synth = {k: g for k, g in grads.items() if k.startswith("synth_")}
        if self.optimizer is not None and model:
            self.optimizer.step(model)
        if self.synth_optimizer is not None and synth:
            self.synth_optimizer.step(synth)
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
        rng = check_random_state(rng)
        for it in range(int(n_iter)):
            X, Y, mask = task.sample(batch_size, rng, dtype=self.dtype)
            mse = self.train_batch(X, Y, mask)
            if callback is not None:
                callback(self, it, mse)
        return self

    def _mse(self, yhats, Ys):
        """The batch loss before the update (MSE, cross-entropy or BCE in nats)."""
        if not yhats:
            return float("nan")
        if self._loss == "mse":
            return float(np.mean([np.mean((a - b) ** 2) for a, b in zip(yhats, Ys)]))
        if self._loss == "softmax":
            return float(np.mean([-np.sum(y * (a - a.max(1, keepdims=True) - np.log(np.exp(
                a - a.max(1, keepdims=True)).sum(1, keepdims=True))), 1).mean()
                for a, y in zip(yhats, Ys)]))
        # BCE with logits, stable: max(a, 0) − a y + log(1 + exp(−|a|))
        return float(np.mean([np.mean(np.maximum(a, 0) - a * y + np.log1p(np.exp(-np.abs(a))))
                              for a, y in zip(yhats, Ys)]))

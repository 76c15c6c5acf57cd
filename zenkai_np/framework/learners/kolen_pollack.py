"""Kolen-Pollack learning (Kolen & Pollack 1994; Akrout et al. 2019, arXiv 1904.05391).

Feedback alignment whose feedback array ``B`` learns: ``B`` receives exactly
the update applied to ``W`` (in column notation the *transposed* update, since
there ``B`` stands where ``W^T`` stands; here ``B`` has ``W``'s shape and
``B = W`` is backprop), and both decay by the same factor each step:

    W <- (1 - decay) * (W + dW),      B <- (1 - decay) * (B + dW),

where ``dW`` is the optimizer's step for the gradient ``x^T delta`` (the
weight gradient of FA).  Hence ``B - W = (1 - decay)^k (B_0 - W_0)`` after
``k`` steps, whatever the optimizer: ``B -> W`` and the rule becomes backprop.
Akrout et al. write the decay as ``lambda`` per unit learning rate with plain
SGD (``decay = lr * lambda``); a decoupled per-step factor keeps the identity
exact for Adam too.  Works on ``Linear`` and ``Conv2d`` layers.
"""
from __future__ import annotations

from .feedback_alignment import FALearner

__all__ = ["KPLearner"]


class KPLearner(FALearner):
    """Kolen-Pollack: FA with ``B`` updated like ``W`` and both decayed.

    Parameters
    ----------
    layer : Linear or Conv2d
    optimizer : Optimizer template (default ``SGD(lr=0.01)``)
    decay : float in [0, 1)
        Per-step multiplicative decay of ``W`` and ``B`` (the bias is not decayed).
    B, feedback_scale, rng, x_lr, param_options, lmode : as for ``FALearner``.
    """

    def __init__(self, layer, optimizer=None, *, decay=1e-3, **kwargs):
        super().__init__(layer, optimizer, **kwargs)
        decay = float(decay)
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must lie in [0, 1), got {decay!r}")
        self.decay = decay
        self._W_before = None

    def step(self, x=None, t=None, state=None):
        if not self._n_acc:
            return
        W = self.layer.params["W"]
        if self._W_before is None:
            self._W_before = W.copy()
        else:
            self._W_before[...] = W
        self.optimizer.step(self.grads)
        self._n_acc = 0
        B = self.B
        B += W
        B -= self._W_before            # B + dW
        if self.decay:
            keep = W.dtype.type(1.0 - self.decay)
            W *= keep
            B *= keep

    def __repr__(self):
        return f"KPLearner({self.layer!r}, decay={self.decay})"

"""Backprop as a learning machine (``GradLearner``).

``GradLearner`` wraps a layer.  Given a target ``t`` it uses the local loss
``0.5 * ||y - t||^2`` summed over the batch, so ``gy = y - t``; its weight
gradient is the layer's ``vjp_params(x, y, gy)`` and its input target is
``x - x_lr * vjp_x(x, y, gy)``.  With ``t = y - dL/dy`` from the machine after
it this is exactly backprop.
"""
from __future__ import annotations

import numpy as np

from ..layers import Layer
from ..machine import LearningMachine
from ..state import LMode
from ..optim import SGD, Optimizer

__all__ = ["GradLearner", "bind_optimizer"]


def bind_optimizer(optimizer, params, options=None, default=None):
    """Bind an optimizer template (or None -> ``default``) to ``params``."""
    if optimizer is None:
        optimizer = default if default is not None else SGD(lr=0.01)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an Optimizer, got {type(optimizer).__name__}")
    if optimizer.bound:
        return optimizer
    return optimizer.bind(params, options)


class GradLearner(LearningMachine):
    """Backprop as a learning machine.

    Parameters
    ----------
    layer : Layer
    optimizer : Optimizer template (default ``SGD(lr=0.01)``)
    x_lr : float
        Scale of the input-target step: ``x' = x - x_lr * dL/dx`` (1 = backprop).
    param_options : dict, optional
        Per-parameter optimizer overrides, merged over ``layer.param_options``.
    lmode : learning mode (see ``LMode``).
    keep_grads : bool
        Gradients accumulate over ``accumulate`` calls until ``step``;
        ``grads`` holds them.  By default a container's per-batch fast path
        lets plain SGD reuse the gradient buffers during the step (less memory
        traffic), so read ``grads`` between ``accumulate`` and ``step`` (e.g.
        with ``LMode.DEFERRED``) or pass ``keep_grads=True`` to keep them
        intact after the step.
    """

    accepts_grad = True

    def __init__(self, layer, optimizer=None, *, x_lr=1.0, param_options=None,
                 lmode=LMode.DEFAULT, keep_grads=False):
        super().__init__(lmode)
        self.keep_grads = bool(keep_grads)
        if not isinstance(layer, Layer):
            raise TypeError(f"layer must be a Layer, got {type(layer).__name__}")
        self.layer = layer
        self.x_lr = float(x_lr)
        opts = dict(layer.param_options)
        opts.update(param_options or {})
        self.optimizer = bind_optimizer(optimizer, layer.params, opts) if layer.params \
            else None
        self._bufs = {k: np.zeros_like(v) for k, v in layer.params.items()}
        self.grads = {}
        self._n_acc = 0
        self.n_in, self.n_out = layer.n_in, layer.n_out
        # the container's per-batch fast path may inline these methods only when
        # a subclass did not override them
        cls = type(self)
        self._inline_acc = (cls.accumulate_grad is GradLearner.accumulate_grad
                            and cls.step is GradLearner.step)
        self._inline_gx = cls.grad_x is GradLearner.grad_x

    def forward(self, x, state=None):
        y = self.layer.forward(x, state)
        if state is not None:
            state.y = y
        return y

    # -- gradient channel --------------------------------------------------
    def accumulate_grad(self, x, gy, state):
        layer = self.layer
        if not layer.params:
            return
        if self._n_acc == 0:
            if layer.supports_out:
                self.grads = layer.vjp_params(x, state.y, gy, state, out=self._bufs)
            else:
                self.grads = dict(layer.vjp_params(x, state.y, gy, state))
        else:
            if self.grads is not self._bufs:
                # own the buffers before adding in place
                for k, v in self.grads.items():
                    self._bufs[k][...] = v
                self.grads = self._bufs
            for k, v in layer.vjp_params(x, state.y, gy, state).items():
                self.grads[k] += v
        self._n_acc += 1

    def grad_x(self, x, gy, state):
        gx = self.layer.vjp_x(x, state.y, gy, state)
        if self.x_lr != 1.0:
            gx = gx * self.x_lr      # not in place: a VJP may return gy itself
        return gx

    def _default_backward(self, x, gy, state, need_x):
        """accumulate_grad, grad_x (if ``need_x``), step: the default mode in one call."""
        layer = self.layer
        if not self._inline_acc:
            return LearningMachine._default_backward(self, x, gy, state, need_x)
        y = state.y
        grads = None
        if layer.params:
            if self._n_acc == 0 and layer.supports_out:
                grads = self.grads = layer.vjp_params(x, y, gy, state, out=self._bufs)
            else:
                self.accumulate_grad(x, gy, state)
                grads = self.grads
        gx = None
        if need_x:
            if self._inline_gx:
                gx = layer.vjp_x(x, y, gy, state)
                if self.x_lr != 1.0:
                    gx = gx * self.x_lr
            else:
                gx = self.grad_x(x, gy, state)
        if grads is not None:
            # our own buffers are refilled on the next accumulate: let SGD reuse them
            self.optimizer.step(grads, consume=grads is self._bufs and not self.keep_grads)
            self._n_acc = 0
        return gx

    # -- target channel ----------------------------------------------------
    def _gy(self, t, state):
        if state.get("_t") is t:
            return state._gy
        gy = state.y - t
        state._t = t
        state._gy = gy
        return gy

    def accumulate(self, x, t, state):
        self.accumulate_grad(x, self._gy(t, state), state)

    def step_x(self, x, t, state):
        return x - self.grad_x(x, self._gy(t, state), state)

    def step(self, x=None, t=None, state=None):
        if self._n_acc:
            self.optimizer.step(self.grads)
            self._n_acc = 0

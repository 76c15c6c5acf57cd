"""Target propagation (TP) and difference target propagation (DTP).

A ``TPLearner`` wraps a forward layer ``f`` (often ``Chain(Linear, Tanh)``) and
a learned inverse ``g`` mapping outputs back to inputs.

* ``f`` learns toward its target with the local loss ``0.5 * ||f(x) - t||^2``
  (summed over the batch), through ``f``'s own VJPs.
* ``g`` learns by reconstruction: ``0.5 * ||g(f(x~)) - x~||^2`` with
  ``x~ = x + noise_std * N(0, 1)`` (Lee et al. 2015 corrupt the input).
* the input target is ``g(t)`` (TP) or ``x + g(t) - g(y)`` (DTP, Lee et al.
  2015: the difference correction cancels ``g``'s reconstruction error).

``state.recon_loss`` holds the reconstruction loss (mean over samples) of the
last ``accumulate``.
"""
from __future__ import annotations

import numpy as np

from ..layers import Layer
from ..machine import LearningMachine
from ..state import LMode, State
from .grad import bind_optimizer

__all__ = ["TPLearner", "DTPLearner"]


class TPLearner(LearningMachine):
    """Target propagation with a learned inverse.

    Parameters
    ----------
    layer : Layer, the forward map ``f: x -> y``
    inverse : Layer, ``g: y -> x`` (input size ``layer.n_out``, output ``layer.n_in``)
    optimizer, inverse_optimizer : Optimizer templates (default SGD lr 0.01)
    noise_std : float, corruption of ``x`` when training the inverse
    train_inverse : bool, set False to freeze ``g``
    rng : seed or Generator for the corruption noise
    """

    def __init__(self, layer, inverse, optimizer=None, inverse_optimizer=None, *,
                 noise_std=0.0, train_inverse=True, rng=None, lmode=LMode.DEFAULT):
        super().__init__(lmode)
        for name, l in (("layer", layer), ("inverse", inverse)):
            if not isinstance(l, Layer):
                raise TypeError(f"{name} must be a Layer, got {type(l).__name__}")
        if (inverse.n_in is not None and layer.n_out is not None
                and inverse.n_in != layer.n_out):
            raise ValueError(f"inverse expects {inverse.n_in} inputs but layer produces "
                             f"{layer.n_out}")
        if (inverse.n_out is not None and layer.n_in is not None
                and inverse.n_out != layer.n_in):
            raise ValueError(f"inverse produces {inverse.n_out} features but layer takes "
                             f"{layer.n_in}")
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        self.layer, self.inverse = layer, inverse
        self.optimizer = bind_optimizer(optimizer, layer.params, layer.param_options) \
            if layer.params else None
        self.inverse_optimizer = bind_optimizer(inverse_optimizer, inverse.params,
                                                inverse.param_options) \
            if inverse.params else None
        self.noise_std = float(noise_std)
        self.train_inverse = bool(train_inverse)
        self.rng = np.random.default_rng(rng)
        self.n_in, self.n_out = layer.n_in, layer.n_out
        self._grads = None
        self._inv_grads = None

    def parameters(self):
        p = dict(self.layer.params)
        p.update({f"inverse.{k}": v for k, v in self.inverse.params.items()})
        return p

    def _state_items(self):
        items = {f"param.{k}": v for k, v in self.parameters().items()}
        for prefix, opt in (("optim", self.optimizer), ("inverse_optim",
                                                        self.inverse_optimizer)):
            if opt is not None:
                items.update({f"{prefix}.{k}": v for k, v in opt.state_dict().items()})
        return items

    def load_state_dict(self, d, prefix=""):
        super().load_state_dict(d, prefix)
        if self.inverse_optimizer is not None:
            self.inverse_optimizer._after_load()

    def forward(self, x, state=None):
        y = self.layer.forward(x, state)
        if state is not None:
            state.y = y
        return y

    def reconstruction(self, x, state=None):
        """``(x~, g(f(x~)), inverse state)`` for ``x~ = x + noise``."""
        if self.noise_std > 0:
            xn = x + (self.noise_std * self.rng.standard_normal(x.shape)).astype(x.dtype)
            yn = self.layer.forward(xn)
        else:
            xn = x
            yn = state.y if state is not None else self.layer.forward(x)
        st = State()
        r = self.inverse.forward(yn, st)
        return xn, yn, r, st

    def accumulate(self, x, t, state):
        y = state.y
        if self.layer.params:
            g = self.layer.vjp_params(x, y, y - t, state)
            self._add(g, "_grads")
        if self.train_inverse and self.inverse.params:
            xn, yn, r, st = self.reconstruction(x, state)
            d = r - xn
            state.recon_loss = 0.5 * float(np.vdot(d, d)) / x.shape[0]
            self._add(self.inverse.vjp_params(yn, r, d, st), "_inv_grads")

    def _add(self, g, attr):
        cur = getattr(self, attr)
        if cur is None:
            setattr(self, attr, {k: np.array(v, copy=True) for k, v in g.items()})
        else:
            for k, v in g.items():
                cur[k] += v

    def step(self, x, t, state):
        if self._grads is not None:
            self.optimizer.step(self._grads)
            self._grads = None
        if self._inv_grads is not None:
            self.inverse_optimizer.step(self._inv_grads)
            self._inv_grads = None

    def step_x(self, x, t, state):
        return self.inverse.forward(t)

    def __repr__(self):
        return f"{type(self).__name__}({self.layer!r}, inverse={self.inverse!r})"


class DTPLearner(TPLearner):
    """Difference target propagation: input target ``x + g(t) - g(y)``."""

    def step_x(self, x, t, state):
        g = self.inverse.forward
        xt = g(t)
        xt -= g(state.y)
        xt += x
        return xt

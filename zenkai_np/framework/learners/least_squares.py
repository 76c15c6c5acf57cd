"""Closed-form learning: ridge regression for the weights and/or the input.

For ``y = x @ W + b`` and a target ``t``:

* weights (``step``): ``[W; b] = argmin ||[x, 1] [W; b] - t||^2 + alpha ||W||^2``,
  i.e. the ridge normal equations ``(X~^T X~ + alpha D) [W; b] = X~^T t`` with
  ``X~ = [x, 1]`` and ``D = diag(1, ..., 1, 0)`` (the bias is not penalised).
  ``alpha = 0`` gives ordinary least squares (solved with ``lstsq``, the
  minimum-norm solution, when the system is singular).
* input (``step_x``): ``x' = argmin ||x' W + b - t||^2 + x_alpha ||x' - x||^2``,
  i.e. ``x' (W W^T + x_alpha I) = (t - b) W^T + x_alpha x``; with
  ``x_alpha = 0`` the minimum-norm least-squares solution.

The sufficient statistics ``X~^T X~`` and ``X~^T t`` are accumulated over
``accumulate`` calls (in float64, for an accurate solve; the parameters keep
their dtype).  ``memory`` in [0, 1] keeps a decayed share of the previous
statistics after a ``step`` (0: each step solves only the batches accumulated
since the last step; 1: a running solve over everything seen).
"""
from __future__ import annotations

import numpy as np

from ..layers import Linear
from ..machine import LearningMachine
from ..state import LMode

__all__ = ["LeastSquaresLearner", "ridge_solve"]


def ridge_solve(xtx, xty, alpha, n_unpenalised=0):
    """Solve ``(xtx + alpha D) w = xty``; ``D`` is the identity with the last
    ``n_unpenalised`` diagonal entries zero.  ``alpha = 0`` uses ``lstsq``."""
    if alpha == 0:
        return np.linalg.lstsq(xtx, xty, rcond=None)[0]
    a = xtx.copy()
    idx = np.arange(a.shape[0] - n_unpenalised)
    a[idx, idx] += alpha
    return np.linalg.solve(a, xty)


class LeastSquaresLearner(LearningMachine):
    """A ``Linear`` layer trained by ridge regression (see the module docstring).

    Parameters
    ----------
    layer : Linear
    alpha : float, ridge penalty of the weight solve
    x_alpha : float, proximal penalty of the input solve
    fit_weights, fit_input : bool, which of the two solves to do
        (``fit_input=False`` makes ``step_x`` return ``x - dL/dx``, the
        backprop input target, so layers below can still learn)
    memory : float in [0, 1], share of old statistics kept after a step
    """

    def __init__(self, layer, *, alpha=1e-3, x_alpha=1e-3, fit_weights=True,
                 fit_input=True, memory=0.0, lmode=LMode.DEFAULT):
        super().__init__(lmode)
        if not isinstance(layer, Linear):
            raise TypeError(f"LeastSquaresLearner needs a Linear layer, got "
                            f"{type(layer).__name__}")
        for name, v in (("alpha", alpha), ("x_alpha", x_alpha)):
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if not 0 <= memory <= 1:
            raise ValueError(f"memory must lie in [0, 1], got {memory!r}")
        self.layer = layer
        self.alpha, self.x_alpha = float(alpha), float(x_alpha)
        self.fit_weights, self.fit_input = bool(fit_weights), bool(fit_input)
        self.memory = float(memory)
        self.n_in, self.n_out = layer.n_in, layer.n_out
        k = layer.n_in + (1 if layer.b is not None else 0)
        self._xtx = np.zeros((k, k))
        self._xty = np.zeros((k, layer.n_out))
        self._n = np.zeros(())

    def forward(self, x, state=None):
        y = self.layer.forward(x, state)
        if state is not None:
            state.y = y
        return y

    def _design(self, x):
        if self.layer.b is None:
            return x.astype(np.float64, copy=False)
        return np.hstack([x.astype(np.float64, copy=False), np.ones((x.shape[0], 1))])

    def accumulate(self, x, t, state):
        if not self.fit_weights:
            return
        if t.shape != (x.shape[0], self.n_out):
            raise ValueError(f"t must have shape {(x.shape[0], self.n_out)}, got {t.shape}")
        xd = self._design(x)
        self._xtx += xd.T @ xd
        self._xty += xd.T @ t.astype(np.float64, copy=False)
        self._n += x.shape[0]

    def solve_weights(self):
        """The ridge solution of the accumulated statistics, ``(W, b or None)``."""
        nb = 1 if self.layer.b is not None else 0
        w = ridge_solve(self._xtx, self._xty, self.alpha, n_unpenalised=nb)
        return (w[:-1], w[-1]) if nb else (w, None)

    def step(self, x, t, state):
        if not self.fit_weights or self._n == 0:
            return
        W, b = self.solve_weights()
        self.layer.params["W"][...] = W
        if b is not None:
            self.layer.params["b"][...] = b
        self._xtx *= self.memory
        self._xty *= self.memory
        self._n *= self.memory

    def step_x(self, x, t, state):
        W = self.layer.W
        if not self.fit_input:
            y = state.y
            return x - (y - t) @ W.T
        W64 = W.astype(np.float64, copy=False)
        r = t.astype(np.float64, copy=False)
        if self.layer.b is not None:
            r = r - self.layer.b
        a = W64 @ W64.T
        rhs = r @ W64.T
        if self.x_alpha > 0:
            a[np.diag_indices_from(a)] += self.x_alpha
            rhs += self.x_alpha * x
            xt = np.linalg.solve(a, rhs.T).T
        else:
            xt = np.linalg.lstsq(W64.T, r.T, rcond=None)[0].T
        return xt.astype(x.dtype, copy=False)

    def _state_items(self):
        items = super()._state_items()
        items["stats.xtx"] = self._xtx
        items["stats.xty"] = self._xty
        items["stats.n"] = self._n
        return items

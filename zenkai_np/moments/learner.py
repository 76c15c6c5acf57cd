"""A learning machine for the one-hidden-layer ReLU network, initialised by moments.

``MomentReLULearner`` holds the layer x → relu(x W₁) W₂ (bias-free; W₁ of
shape (d, k), W₂ of shape (k, 1)) as a framework ``Chain``. ``init_from_moments(X, y)``
fits :class:`~zenkai_np.moments.estimator.ReLUMomentRegressor` and writes
W₁ = ûᵀ and W₂ = λ̂ into the layer's arrays in place; afterwards the machine
learns by any rule: ``rule(layer)`` builds the inner learning machine
(default ``GradLearner(layer, Adam(lr=1e-3))``) to which forward/accumulate/
step/step_x (and the gradient channel) are delegated.

    m = MomentReLULearner(d, k, rule=lambda layer: GradLearner(layer, SGD(lr=0.01)))
    m.init_from_moments(X, y, rng=0)
    fit(m, X, y[:, None], loss=MSELoss(), epochs=5)
"""
from __future__ import annotations

import numbers

import numpy as np

from ..framework.layers import Chain, Linear, ReLU
from ..framework.learners.grad import GradLearner
from ..framework.machine import LearningMachine
from ..framework.optim import Adam
from .estimator import ReLUMomentRegressor

__all__ = ["MomentReLULearner"]


class MomentReLULearner(LearningMachine):
    """One-hidden-layer bias-free ReLU network: moment initialisation, then any rule.

    Parameters
    ----------
    n_in : int
        d, input features.
    n_neurons : int
        k, hidden units (k ≤ d).
    rule : callable, optional
        ``rule(layer) -> LearningMachine`` (default: GradLearner with Adam(lr=1e-3)).
    dtype : float32 or float64
    rng : None, int or Generator
        Initial (random) weights before ``init_from_moments``.
    """

    def __init__(self, n_in, n_neurons, *, rule=None, dtype=None, rng=None):
        for name, v in (("n_in", n_in), ("n_neurons", n_neurons)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"{name}: expected an int, got {type(v).__name__}")
        if not 1 <= n_neurons <= n_in:
            raise ValueError(f"n_neurons: expected 1 <= k <= n_in = {n_in}, got {n_neurons}")
        rng = np.random.default_rng(rng)
        self.layer = Chain(Linear(n_in, n_neurons, bias=False, dtype=dtype, rng=rng, init="he"),
                           ReLU(),
                           Linear(n_neurons, 1, bias=False, dtype=dtype, rng=rng))
        self.learner = (rule(self.layer) if rule is not None
                        else GradLearner(self.layer, Adam(lr=1e-3)))
        if not isinstance(self.learner, LearningMachine):
            raise TypeError("rule: expected rule(layer) to return a LearningMachine, got "
                            f"{type(self.learner).__name__}")
        super().__init__(self.learner.lmode)
        self.accepts_grad = self.learner.accepts_grad
        self.n_in, self.n_out = int(n_in), 1
        self.estimator_ = None

    # -- moments -----------------------------------------------------------
    def init_from_moments(self, X, y, **estimator_params):
        """Fit RC-learn on (X (N, d), y (N,) or (N, 1)) and load its neurons; returns self.

        X and y may be dask arrays (see ``ReLUMomentRegressor.fit``): nothing is
        materialised on the client.
        """
        if not type(y).__module__.startswith("dask."):
            y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        est = ReLUMomentRegressor(self.layer.layers[0].n_out, **estimator_params).fit(X, y)
        W1 = self.layer.layers[0].params["W"]
        W2 = self.layer.layers[2].params["W"]
        W1[...] = est.directions_.T.astype(W1.dtype)
        W2[...] = est.coef_[:, None].astype(W2.dtype)
        self.estimator_ = est
        return self

    # -- protocol: delegated to the rule -------------------------------------
    def forward(self, x, state=None):
        return self.learner.forward(x, state)

    def accumulate(self, x, t, state):
        self.learner.accumulate(x, t, state)

    def step(self, x, t, state):
        self.learner.step(x, t, state)

    def step_x(self, x, t, state):
        return self.learner.step_x(x, t, state)

    def accumulate_grad(self, x, gy, state):
        self.learner.accumulate_grad(x, gy, state)

    def grad_x(self, x, gy, state):
        return self.learner.grad_x(x, gy, state)

    def _state_items(self):
        return self.learner._state_items()

    def load_state_dict(self, d, prefix=""):
        # the inner rule owns the optimizer: it must see the load (Adam's step count)
        self.learner.load_state_dict(d, prefix)

"""Feedback alignment (FA) and direct feedback alignment (DFA).

FA (Lillicrap et al. 2016): the backward pass uses a fixed random matrix ``B``
in place of ``W^T``; the weight gradient stays ``delta x^T``.

DFA (Noekland 2016, textbook form): every hidden layer ``h = f(a)``,
``a = x W + b`` receives the *global* output error ``e = dL/dy_out`` through
its own fixed random matrix ``B_l`` and updates with
``delta_a = (B_l e) (.) f'(a)``, ``dW = delta_a x^T`` (column notation; here
``x.T @ ((e @ B_l) * f'(a))`` with ``B_l`` of shape ``(n_error, n_out)``).
The output layer is an ordinary ``GradLearner`` (its error *is* ``e``).  The
global error comes from the container's shared context
(``state.context.error``), so a ``DFALearner`` must live inside a
``Sequential``/``Graph``.  (Zenkai's ``DFALearner`` instead fits ``B h`` to the
global target; ours is the paper's rule.)
"""
from __future__ import annotations

import numpy as np

from .. import fusion
from ..layers import Layer, Linear, Identity
from .grad import GradLearner

__all__ = ["FALearner", "DFALearner"]


def _glorot_like(rng, shape, dtype, scale):
    lim = np.sqrt(6.0 / (shape[0] + shape[1]))
    return (rng.uniform(-lim, lim, shape) * scale).astype(dtype)


class FALearner(GradLearner):
    """Feedback alignment (Lillicrap et al. 2016) for a ``Linear`` layer.

    The weight gradient is exact for the local signal, ``gW = x^T delta``
    (``delta x^T`` in column notation) with ``delta = y - t``; the input target
    replaces ``W^T`` by a fixed random matrix: ``x' = x - x_lr * delta @ B.T``
    where ``B`` has ``W``'s shape ``(n_in, n_out)`` (column notation: ``B^T delta``).
    No averaging of the local loss: the signal is not shrunk layer by layer.

    ``B`` defaults to an independent draw with ``W``'s initial scale
    (uniform, Glorot limit) times ``feedback_scale``.
    """

    def __init__(self, layer, optimizer=None, *, B=None, feedback_scale=1.0, rng=None,
                 **kwargs):
        if not isinstance(layer, Linear):
            raise TypeError(f"FALearner needs a Linear layer, got {type(layer).__name__}")
        super().__init__(layer, optimizer, **kwargs)
        shape = layer.W.shape
        if B is None:
            rng = np.random.default_rng(rng)
            lim = np.sqrt(6.0 / (shape[0] + shape[1]))
            B = rng.uniform(-lim, lim, shape) * feedback_scale
        B = np.asarray(B)
        if B.shape != shape:
            raise ValueError(f"B must have W's shape {shape}, got {B.shape}")
        self.B = np.ascontiguousarray(B, dtype=layer.W.dtype)

    def _state_items(self):
        items = super()._state_items()
        items["feedback.B"] = self.B
        return items

    def grad_x(self, x, gy, state):
        gx = gy @ self.B.T
        if self.x_lr != 1.0:
            gx *= self.x_lr
        return gx


class DFALearner(GradLearner):
    """A hidden block ``h = activation(x @ W + b)`` trained by direct feedback alignment.

    Parameters
    ----------
    layer : Linear
    activation : Layer (default Identity)
    n_error : int
        Width of the global output error ``e`` (the network's output size).
    B : array ``(n_error, n_out)``, optional
        Fixed feedback matrix; default uniform with the Glorot limit of its
        shape times ``feedback_scale``.
    optimizer, x_lr, param_options, lmode : as for ``GradLearner``.

    The target or gradient handed to this machine by its successor is ignored
    (that is DFA); its own input target is ``x - x_lr * delta_a @ W.T`` so that
    non-DFA machines below it still get a signal.
    """

    def __init__(self, layer, activation=None, *, n_error, optimizer=None, B=None,
                 feedback_scale=1.0, rng=None, **kwargs):
        if not isinstance(layer, Linear):
            raise TypeError(f"DFALearner needs a Linear layer, got {type(layer).__name__}")
        activation = Identity() if activation is None else activation
        if not isinstance(activation, Layer) or activation.params:
            raise TypeError("activation must be a parameterless Layer")
        super().__init__(layer, optimizer, **kwargs)
        self.activation = activation
        if not isinstance(n_error, (int, np.integer)) or n_error <= 0:
            raise ValueError(f"n_error must be a positive int, got {n_error!r}")
        shape = (int(n_error), layer.n_out)
        if B is None:
            B = _glorot_like(np.random.default_rng(rng), shape, layer.W.dtype,
                             feedback_scale)
        B = np.asarray(B)
        if B.shape != shape:
            raise ValueError(f"B must have shape (n_error, n_out) = {shape}, got {B.shape}")
        self.B = np.ascontiguousarray(B, dtype=layer.W.dtype)

    def _state_items(self):
        items = super()._state_items()
        items["feedback.B"] = self.B
        return items

    def forward(self, x, state=None):
        ah = fusion.dfa_forward(self, x)        # compiled backend: one fused call
        if ah is None:
            a = self.layer.forward(x, state)
            h = self.activation.forward(a)
        else:
            a, h = ah
        if state is not None:
            state.a = a
            state.y = h
        return h

    def accumulate_grad(self, x, gy, state):
        ctx = state.get("context")
        if ctx is None:
            raise ValueError("DFALearner needs the global output error: use it inside a "
                             "Sequential or Graph (state.context is missing)")
        e = ctx.error
        if e.shape[1] != self.B.shape[0]:
            raise ValueError(f"global error has {e.shape[1]} features but B expects "
                             f"n_error={self.B.shape[0]}")
        da = fusion.dfa_delta(self, e, state.a, state.y)   # compiled backend, or None
        if da is None:
            da = self.activation.vjp_x(state.a, state.y, e @ self.B)
        state._da = da
        layer = self.layer
        if self._n_acc == 0:
            self.grads = layer.vjp_params(x, state.a, da, state, out=self._bufs)
        else:
            for k, v in layer.vjp_params(x, state.a, da, state).items():
                self.grads[k] += v
        self._n_acc += 1

    def accumulate(self, x, t, state):
        self.accumulate_grad(x, None, state)

    def grad_x(self, x, gy, state):
        da = state.get("_da")
        if da is None:
            raise ValueError("call accumulate before step_x")
        gx = da @ self.layer.W.T
        if self.x_lr != 1.0:
            gx *= self.x_lr
        return gx

    def step_x(self, x, t, state):
        return x - self.grad_x(x, None, state)

    def __repr__(self):
        return f"DFALearner({self.layer!r}, {self.activation!r})"

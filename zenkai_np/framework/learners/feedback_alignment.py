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

Both work on ``Linear`` and ``Conv2d`` layers.  On a convolution FA's feedback
is a convolution with fixed kernels ``B`` of ``W``'s shape (the backward
convolution of biotorch's ``fa`` layers, jsalbert/biotorch
``biotorch/autograd/fa/conv.py``), and DFA projects the flat error onto the
whole output map, ``B_l`` of shape ``(n_error, C_out*Ho*Wo)``.

Composition: FA changes only the *input* target, so FA on the first layer of a
network is exactly backprop for that layer (nothing below uses its ``B``).  A
``DFALearner`` hands its own input target down through ``W^T`` (default,
``x_feedback="W"``) or through a fixed random FA matrix (``x_feedback="B"``),
so "layer 1 by FA, layer 2 by DFA" is written
``Sequential(FALearner(l1), GradLearner(ReLU()), DFALearner(l2, ReLU(), ...), ...)``.
"""
from __future__ import annotations

import numpy as np

from .. import fused_ops
from ..conv import Conv2d
from ..init import glorot_uniform
from ..layers import Layer, Linear, Identity
from .grad import GradLearner

__all__ = ["FALearner", "DFALearner", "feedback_vjp", "feedback_init"]


def _check_feedback_layer(layer, who):
    if not isinstance(layer, (Linear, Conv2d)):
        raise TypeError(f"{who} needs a Linear or Conv2d layer, got "
                        f"{type(layer).__name__}")


def feedback_init(layer, rng, scale=1.0):
    """A fixed random feedback array of ``layer.W``'s shape: uniform with the Glorot
    limit of the layer (fan_in/fan_out include the kernel area for ``Conv2d``)."""
    W = layer.W
    if W.ndim == 2:
        fan_in, fan_out = W.shape
    else:
        area = W.shape[2] * W.shape[3]
        fan_in, fan_out = W.shape[1] * area, W.shape[0] * area
    return glorot_uniform(np.random.default_rng(rng), W.shape, W.dtype, scale,
                          fans=(fan_in, fan_out))


def feedback_vjp(layer, B, x, y, gy, state=None):
    """``dL/dx`` of a ``Linear``/``Conv2d`` layer with ``B`` (W's shape) in place of ``W``.

    ``B = layer.W`` gives the true VJP (backprop)."""
    if B.ndim == 2:
        return gy @ B.T
    return layer.vjp_x_with(B, x, y, gy, state)


class FALearner(GradLearner):
    """Feedback alignment (Lillicrap et al. 2016) for a ``Linear`` or ``Conv2d`` layer.

    The weight gradient is exact for the local signal, ``gW = x^T delta``
    (``delta x^T`` in column notation) with ``delta = y - t``; the input target
    replaces ``W^T`` by a fixed random matrix: ``x' = x - x_lr * delta @ B.T``
    where ``B`` has ``W``'s shape ``(n_in, n_out)`` (column notation: ``B^T delta``).
    No averaging of the local loss: the signal is not shrunk layer by layer.

    ``B`` defaults to an independent draw with ``W``'s initial scale
    (uniform, Glorot limit) times ``feedback_scale``.  ``B = W`` is backprop.
    On a ``Conv2d`` the input target is the transposed convolution of ``delta``
    with the kernels ``B`` (``(C_out, C_in, kh, kw)``).

    Note: the rule acts only through the input target, so on the first layer of
    a network FA *is* backprop (its ``B`` is never used).
    """

    def __init__(self, layer, optimizer=None, *, B=None, feedback_scale=1.0, rng=None,
                 **kwargs):
        _check_feedback_layer(layer, type(self).__name__)
        super().__init__(layer, optimizer, **kwargs)
        shape = layer.W.shape
        if B is None:
            B = feedback_init(layer, rng, feedback_scale)
        B = np.asarray(B)
        if B.shape != shape:
            raise ValueError(f"B must have W's shape {shape}, got {B.shape}")
        self.B = np.ascontiguousarray(B, dtype=layer.W.dtype)

    def _state_items(self):
        items = super()._state_items()
        items["feedback.B"] = self.B
        return items

    def feedback_weights(self):
        """The array used in place of ``W`` on the way back (for alignment metrics)."""
        return self.B

    def grad_x(self, x, gy, state):
        gx = feedback_vjp(self.layer, self.feedback_weights(), x, state.y, gy, state)
        if self.x_lr != 1.0:
            gx *= self.x_lr
        return gx


class DFALearner(GradLearner):
    """A hidden block ``h = activation(x @ W + b)`` trained by direct feedback alignment.

    Parameters
    ----------
    layer : Linear or Conv2d
    activation : Layer (default Identity)
    n_error : int
        Width of the global output error ``e`` (the network's output size).
    B : array ``(n_error, n_out)``, optional
        Fixed feedback matrix; default uniform with the Glorot limit of its
        shape times ``feedback_scale``.  For a ``Conv2d``, ``n_out`` is
        ``C_out*Ho*Wo`` (the flattened output map).
    input_shape : (C, H, W), required for a ``Conv2d`` (fixes ``Ho, Wo``).
    x_feedback : ``"W"`` (default) or ``"B"``
        The input target is ``x - x_lr * delta_a`` sent back through ``W^T``
        (the layer's true VJP) or through a fixed random FA array ``B_x`` of
        ``W``'s shape (so the machine below sees FA's signal).
    optimizer, x_lr, param_options, lmode : as for ``GradLearner``.

    The target or gradient handed to this machine by its successor is ignored
    (that is DFA); its own input target lets non-DFA machines below it learn.
    """

    uses_output_signal = False

    def __init__(self, layer, activation=None, *, n_error, optimizer=None, B=None,
                 feedback_scale=1.0, rng=None, input_shape=None, x_feedback="W",
                 **kwargs):
        _check_feedback_layer(layer, type(self).__name__)
        if x_feedback not in ("W", "B"):
            raise ValueError(f"x_feedback must be 'W' or 'B', got {x_feedback!r}")
        activation = Identity() if activation is None else activation
        if not isinstance(activation, Layer) or activation.params:
            raise TypeError("activation must be a parameterless Layer")
        super().__init__(layer, optimizer, **kwargs)
        self.activation = activation
        if not isinstance(n_error, (int, np.integer)) or n_error <= 0:
            raise ValueError(f"n_error must be a positive int, got {n_error!r}")
        if isinstance(layer, Conv2d):
            if input_shape is None or len(tuple(input_shape)) != 3:
                raise ValueError(f"input_shape=(C, H, W) is required for a Conv2d layer, "
                                 f"got {input_shape!r}")
            C, H, Wd = (int(v) for v in input_shape)
            if C != layer.in_channels:
                raise ValueError(f"input_shape has {C} channels but the layer expects "
                                 f"in_channels={layer.in_channels}")
            Ho, Wo = layer.output_shape(H, Wd)
            n_out = layer.out_channels * Ho * Wo
            self.input_shape = (C, H, Wd)
        else:
            n_out = layer.n_out
            self.input_shape = None
        shape = (int(n_error), n_out)
        rng = np.random.default_rng(rng)
        if B is None:
            B = glorot_uniform(rng, shape, layer.W.dtype, feedback_scale)
        B = np.asarray(B)
        if B.shape != shape:
            raise ValueError(f"B must have shape (n_error, n_out) = {shape}, got {B.shape}")
        self.B = np.ascontiguousarray(B, dtype=layer.W.dtype)
        self.x_feedback = x_feedback
        self.B_x = feedback_init(layer, rng) if x_feedback == "B" else None

    def _state_items(self):
        items = super()._state_items()
        items["feedback.B"] = self.B
        if self.B_x is not None:
            items["feedback.B_x"] = self.B_x
        return items

    def _global_signal(self, state):
        """The vector sent through ``B``: the global output error ``e``."""
        ctx = state.get("context")
        if ctx is None:
            raise ValueError(f"{type(self).__name__} needs the global output error: use it "
                             f"inside a Sequential or Graph (state.context is missing)")
        return ctx.error

    def forward(self, x, state=None):
        ah = fused_ops.dfa_forward(self, x)        # compiled backend: one fused call
        if ah is None:
            a = self.layer.forward(x, state)       # the layer's own checks come first
            shape = self.input_shape
            if shape is not None and tuple(np.shape(x)[1:]) != shape:
                raise ValueError(f"x: {type(self).__name__} was built for input_shape={shape} "
                                 f"(B's size depends on it), got images of shape "
                                 f"{tuple(np.shape(x)[1:])}")
            h = self.activation.forward(a)
        else:
            a, h = ah
        if state is not None:
            state.a = a
            state.y = h
        return h

    def accumulate_grad(self, x, gy, state):
        e = self._global_signal(state)
        if e.shape[1] != self.B.shape[0]:
            raise ValueError(f"global error has {e.shape[1]} features but B expects "
                             f"n_error={self.B.shape[0]}")
        if state.a[0].size != self.B.shape[1]:
            raise ValueError(f"the layer output has {state.a[0].size} values per sample but "
                             f"B expects {self.B.shape[1]} (check input_shape)")
        da = fused_ops.dfa_backward(self, e, x, state.a, state.y)   # compiled: delta and
        if da is not None:                                          # gradients in one call
            state._da = da
            self.grads = self._bufs
            self._n_acc = 1
            return
        da = fused_ops.dfa_delta(self, e, state.a, state.y)   # compiled backend, or None
        if da is None:
            da = self.activation.vjp_x(state.a, state.y,
                                       (e @ self.B).reshape(state.a.shape))
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
        B = self.layer.W if self.B_x is None else self.B_x
        gx = feedback_vjp(self.layer, B, x, state.a, da, state)
        if self.x_lr != 1.0:
            gx *= self.x_lr
        return gx

    def step_x(self, x, t, state):
        return x - self.grad_x(x, None, state)

    def __repr__(self):
        return f"DFALearner({self.layer!r}, {self.activation!r})"

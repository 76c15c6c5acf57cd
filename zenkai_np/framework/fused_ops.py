"""Compiled elementwise passes around a dense layer's GEMM (compiled backend).

The learner-agnostic half of the fusion (``fusion.py`` decides which machines
form a segment): :func:`dense_forward` runs ``a = x @ W`` (the kernels' BLAS,
``zenkai_np.kernel_blas()``: NumPy's own OpenBLAS where NumPy bundles one), bias
and activation in one compiled call; :func:`dfa_forward` / :func:`dfa_delta` do
the same for a ``DFALearner`` over a ``Linear``.  tanh and sigmoid are the
kernel's SIMD tanh (a few ulp from NumPy's, see ``csrc/framework/dense_body.inc``);
every other pass is bitwise NumPy's arithmetic.  Each returns ``None`` to
fall back to the unfused NumPy path (backend ``"numpy"``, a non-dense layer, a
buffer that is not C-contiguous, a dtype that differs).  Validation happens
here, in Python, before the ``nogil`` kernels run.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .layers import Identity, LeakyReLU, Linear, ReLU, Sigmoid, Tanh

__all__ = ["activation_code", "activation_slope", "usable_gy", "grad_buffers",
           "dense_forward", "dfa_forward", "dfa_delta", "dfa_backward"]

_ACT = {Identity: 0, Tanh: 1, Sigmoid: 2, ReLU: 3, LeakyReLU: 4}


def activation_code(layer):
    """The kernel's code for an elementwise activation layer, or None."""
    return _ACT.get(type(layer))


def activation_slope(layer):
    """The leaky ReLU's slope, 0 for the other activations (the kernel's parameter)."""
    return layer.slope if type(layer) is LeakyReLU else 0.0


def _usable_x(layer, x):
    """``x`` validated as the Linear's forward does, C-contiguous; None to fall back."""
    W = layer.params["W"]
    if (type(x) is not np.ndarray or x.ndim != 2 or x.shape[1] != layer.n_in
            or x.dtype != W.dtype):
        x = layer._bad_input(x)       # raises the Linear's own error, or a plain view
    if x.shape[0] == 0 or not W.flags.c_contiguous:
        return None
    b = layer.params.get("b")
    if b is not None and (b.dtype != W.dtype or not b.flags.c_contiguous):
        return None
    return np.ascontiguousarray(x)


def dense_forward(layer, act_layer, x):
    """``(x, a, y)`` with ``a = x @ W + b``, ``y = act(a)``; None to fall back.

    ``act_layer`` None means identity (``y is a``).  ``x`` comes back
    C-contiguous (the array the backward pass must use).
    """
    F = backend.fused_module()
    if F is None:
        return None
    x = _usable_x(layer, x)
    if x is None:
        return None
    code = 0 if act_layer is None else activation_code(act_layer)
    W = layer.params["W"]
    a = np.empty((x.shape[0], W.shape[1]), W.dtype)
    y = a if code == 0 else np.empty_like(a)
    F.dense_forward(x, W, layer.params.get("b"), a, y, code,
                    0.0 if act_layer is None else activation_slope(act_layer))
    return x, a, y


def usable_gy(gy, a):
    """``gy`` can go to the kernels as is: ndarray, ``a``'s dtype and shape, C-contiguous."""
    return (type(gy) is np.ndarray and gy.dtype == a.dtype and gy.shape == a.shape
            and gy.flags.c_contiguous)


def dfa_forward(m, x):
    """``(a, h)`` of a ``DFALearner`` in one compiled call; None to fall back."""
    code = activation_code(m.activation)
    if code is None or type(m.layer) is not Linear:
        return None
    r = dense_forward(m.layer, m.activation, x)
    return None if r is None else r[1:]


def dfa_delta(m, e, a, h):
    """``delta_a = (e @ B) * act'(a)`` (one GEMM and one fused pass); None to fall back."""
    F = backend.fused_module()
    code = activation_code(m.activation)
    if (F is None or code is None or type(m.layer) is not Linear or type(e) is not np.ndarray
            or e.dtype != a.dtype or not usable_gy(a, h)):
        return None
    d = np.matmul(e, m.B)
    if code:
        F.act_grad(d, a, h, d, code, activation_slope(m.activation))
    return d


def grad_buffers(lm, x, a):
    """``(W, gW, gb)`` when the learner ``lm`` of a ``Linear`` can take its gradients
    from one compiled call on input ``x`` (pre-activation ``a``): no accumulated
    gradients, ``x`` an ndarray of ``a``'s dtype, every buffer C-contiguous; else None."""
    if (lm._n_acc != 0 or type(x) is not np.ndarray or x.dtype != a.dtype
            or not x.flags.c_contiguous):
        return None
    W, gW, gb = lm.layer.params["W"], lm._bufs["W"], lm._bufs.get("b")
    if not (W.flags.c_contiguous and gW.flags.c_contiguous
            and (gb is None or gb.flags.c_contiguous)):
        return None
    return W, gW, gb


def dfa_backward(m, e, x, a, h):
    """``da = (e @ B) * act'(a)`` and the gradients ``dW = x^T da``, ``db = sum(da)``
    into ``m``'s buffers, one GEMM and one compiled call; ``da``, or None to fall back
    (also when ``m`` holds accumulated gradients)."""
    F = backend.fused_module()
    code = activation_code(m.activation)
    if (F is None or code is None or type(m.layer) is not Linear or type(e) is not np.ndarray
            or e.dtype != a.dtype or not usable_gy(a, h)):
        return None
    arrays = grad_buffers(m, x, a)
    if arrays is None:
        return None
    W, gW, gb = arrays
    d = np.matmul(e, m.B)
    F.dense_backward(x, a, h, d, W, d if code else None, gW, gb, None, code,
                     activation_slope(m.activation))
    return d

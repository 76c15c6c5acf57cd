"""Fusing a ``Linear`` with the elementwise activation after it (compiled backend).

A ``Sequential`` asks :func:`plan` which of its machines form a *dense
segment*: a plain ``GradLearner`` or ``FALearner`` over a ``Linear`` in the
default learning mode, optionally followed by a plain ``GradLearner`` over an
``Identity``/``Tanh``/``Sigmoid``/``ReLU``/``LeakyReLU``.  For a segment it
runs

* forward: ``a = x @ W`` (GEMM), then bias and activation in one compiled
  pass over the GEMM output (:func:`dense_forward`); the states keep ``a``
  (the Linear's output) and ``y`` exactly as the unfused walk records them, so
  any other code path can still use them;
* backward (gradient channel): ``gz = gy * act'(a)`` in one compiled pass,
  ``dW = x^T gz``, ``db = sum(gz)``, ``gx = gz @ M^T`` (``M = W``, or ``B``
  for FA), then the learner's optimizer step (one fused pass per parameter) --
  :func:`dense_backward`.

The GEMMs run on NumPy's BLAS (``np.matmul(..., out=)``), not SciPy's: on this
machine NumPy's OpenBLAS 0.3.31 executes 0.84 M instructions for the
64x256 @ 256x256 float32 GEMM, SciPy's 0.3.30 1.22 M (callgrind), and using the
same BLAS as the NumPy formulation keeps the two backends bitwise equal.

``DFALearner`` (a Linear and its activation in one machine) uses
:func:`dfa_forward` / :func:`dfa_delta`.  Everything here falls back to the
unfused NumPy path (returns ``None``) when the backend is ``"numpy"``, a
learner is subclassed, a buffer is not C-contiguous or a dtype differs: the
user's code never changes, only the speed.  Validation happens here, in
Python, before the ``nogil`` kernels run.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .layers import Identity, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from .learners.grad import GradLearner
from .machine import LMode

__all__ = ["plan", "activation_code", "dense_forward", "dense_backward", "dfa_forward",
           "dfa_delta"]

_ACT = {Identity: 0, Tanh: 1, Sigmoid: 2, ReLU: 3, LeakyReLU: 4}
_DENSE_TYPES = None


def _dense_types():
    global _DENSE_TYPES
    if _DENSE_TYPES is None:
        from .learners.feedback_alignment import FALearner   # import cycle otherwise
        _DENSE_TYPES = (GradLearner, FALearner)
    return _DENSE_TYPES


def activation_code(layer):
    """The kernel's code for an elementwise activation layer, or None."""
    return _ACT.get(type(layer))


def _slope(layer):
    return layer.slope if type(layer) is LeakyReLU else 0.0


def _is_dense(m):
    return (type(m) in _dense_types() and type(m.layer) is Linear
            and m.lmode == LMode.DEFAULT)


def _is_act(m):
    return (type(m) is GradLearner and type(m.layer) in _ACT and m.lmode == LMode.DEFAULT
            and m.x_lr == 1.0)


def plan(machines):
    """Dense segments of a machine list: ``{first index: last index}`` or None.

    ``last`` is ``first + 1`` when an activation machine follows, else ``first``.
    None when the backend is ``"numpy"`` or nothing fuses.
    """
    if backend.fused_module() is None:
        return None
    out = {}
    i, n = 0, len(machines)
    while i < n:
        if _is_dense(machines[i]):
            j = i + 1 if i + 1 < n and _is_act(machines[i + 1]) else i
            out[i] = j
            i = j + 1
        else:
            i += 1
    return out or None


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
    code = 0 if act_layer is None else _ACT[type(act_layer)]
    W = layer.params["W"]
    a = np.matmul(x, W)               # NumPy's BLAS (see module doc)
    y = a if code in (0, 1) else np.empty_like(a)
    b = layer.params.get("b")
    if b is not None or code > 1:
        F.bias_act(a, b, y, code, 0.0 if act_layer is None else _slope(act_layer))
    if code == 1:
        y = np.tanh(a)                # NumPy's SIMD tanh (see _fused.pyx)
    elif code == 2:
        np.tanh(y, out=y)
        F.sigmoid_finish(y)
    return x, a, y


def _usable_gy(gy, a):
    return (type(gy) is np.ndarray and gy.dtype == a.dtype and gy.shape == a.shape
            and gy.flags.c_contiguous)


def dense_backward(lm, act_layer, x, a, y, gy, need_x):
    """Fused VJP and optimizer step of a dense segment; ``gx`` (or None if not
    ``need_x``), or ``NotImplemented`` to fall back to the unfused walk.

    ``lm`` is the ``GradLearner``/``FALearner`` of the ``Linear``; ``a``/``y``
    the recorded pre-activation/activation; ``gy = dL/dy``.
    """
    F = backend.fused_module()
    layer = lm.layer
    if (F is None or lm._n_acc != 0 or not _usable_gy(gy, a) or type(x) is not np.ndarray
            or not x.flags.c_contiguous or x.dtype != a.dtype):
        return NotImplemented
    W = layer.params["W"]
    M = W if type(lm) is GradLearner else lm.B
    if not W.flags.c_contiguous:
        return NotImplemented
    code = 0 if act_layer is None else _ACT[type(act_layer)]
    bufs = lm._bufs
    gz = gy
    if code:
        gz = np.empty_like(gy)
        F.act_grad(gy, a, y, gz, code, _slope(act_layer))
    np.matmul(x.T, gz, out=bufs["W"])
    gb = bufs.get("b")
    if gb is not None:
        np.add.reduce(gz, 0, None, gb)
    gx = None
    if need_x:
        gx = np.matmul(gz, M.T)
        if lm.x_lr != 1.0:
            gx *= lm.x_lr
    lm.grads = bufs
    lm.optimizer.step(bufs, consume=not lm.keep_grads)
    lm._n_acc = 0
    return gx


def dfa_forward(m, x):
    """``(a, h)`` of a ``DFALearner`` in one compiled call; None to fall back."""
    code = _ACT.get(type(m.activation))
    if code is None or type(m.layer) is not Linear:
        return None
    r = dense_forward(m.layer, m.activation, x)
    return None if r is None else r[1:]


def dfa_delta(m, e, a, h):
    """``delta_a = (e @ B) * act'(a)`` (one GEMM and one fused pass); None to fall back."""
    F = backend.fused_module()
    code = _ACT.get(type(m.activation))
    if (F is None or code is None or type(e) is not np.ndarray or e.dtype != a.dtype
            or not _usable_gy(a, h)):
        return None
    d = np.matmul(e, m.B)
    if code:
        F.act_grad(d, a, h, d, code, _slope(m.activation))
    return d

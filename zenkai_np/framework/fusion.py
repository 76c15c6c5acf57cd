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
``fused_ops.dfa_forward`` / ``fused_ops.dfa_delta``.  Everything here falls back to the
unfused NumPy path (returns ``None``) when the backend is ``"numpy"``, a
learner is subclassed, a buffer is not C-contiguous or a dtype differs: the
user's code never changes, only the speed.  Validation happens here, in
Python, before the ``nogil`` kernels run.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .fused_ops import activation_code, activation_slope, dense_forward, usable_gy
from .layers import Linear
from .learners.feedback_alignment import FALearner
from .learners.grad import GradLearner
from .machine import LMode

__all__ = ["plan", "activation_code", "dense_forward", "dense_backward"]

_DENSE_TYPES = (GradLearner, FALearner)


def _is_dense(m):
    return (type(m) in _DENSE_TYPES and type(m.layer) is Linear
            and m.lmode == LMode.DEFAULT)


def _is_act(m):
    return (type(m) is GradLearner and activation_code(m.layer) is not None
            and m.lmode == LMode.DEFAULT and m.x_lr == 1.0)


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


def dense_backward(lm, act_layer, x, a, y, gy, need_x):
    """Fused VJP and optimizer step of a dense segment; ``gx`` (or None if not
    ``need_x``), or ``NotImplemented`` to fall back to the unfused walk.

    ``lm`` is the ``GradLearner``/``FALearner`` of the ``Linear``; ``a``/``y``
    the recorded pre-activation/activation; ``gy = dL/dy``.
    """
    F = backend.fused_module()
    layer = lm.layer
    if (F is None or lm._n_acc != 0 or not usable_gy(gy, a) or type(x) is not np.ndarray
            or not x.flags.c_contiguous or x.dtype != a.dtype):
        return NotImplemented
    W = layer.params["W"]
    M = W if type(lm) is GradLearner else lm.B
    if not W.flags.c_contiguous:
        return NotImplemented
    code = 0 if act_layer is None else activation_code(act_layer)
    bufs = lm._bufs
    gz = gy
    if code:
        gz = np.empty_like(gy)
        F.act_grad(gy, a, y, gz, code, activation_slope(act_layer))
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

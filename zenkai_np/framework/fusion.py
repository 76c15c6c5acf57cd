"""Fusing a ``Linear`` with the elementwise activation after it (compiled backend).

A ``Sequential`` asks :func:`plan` which of its machines form a *dense
segment*: a plain ``GradLearner`` or ``FALearner`` over a ``Linear`` in the
default learning mode, optionally followed by a plain ``GradLearner`` over an
``Identity``/``Tanh``/``Sigmoid``/``ReLU``/``LeakyReLU``.  For a segment it
runs

* forward: ``a = x @ W`` (GEMM), bias and activation in one compiled call
  (:func:`dense_forward`); the states keep ``a`` (the Linear's output) and
  ``y`` exactly as the unfused walk records them, so any other code path can
  still use them;
* backward (gradient channel): ``gz = gy * act'(a)``, ``dW = x^T gz``,
  ``db = sum(gz)``, ``gx = gz @ M^T`` (``M = W``, or ``B`` for FA) in one
  compiled call, then the learner's optimizer step (one fused pass per
  parameter) -- :func:`dense_backward`.

The GEMMs run on the kernels' BLAS (``zenkai_np.kernel_blas()``), which is
NumPy's own OpenBLAS where NumPy bundles one -- the library ``np.matmul``
calls, so the GEMMs are NumPy's (on this machine NumPy's OpenBLAS 0.3.31
executes 0.84 M instructions for the 64x256 @ 256x256 float32 GEMM, SciPy's
0.3.30 1.22 M, callgrind).

``DFALearner`` (a Linear and its activation in one machine) uses
``fused_ops.dfa_forward`` / ``fused_ops.dfa_backward``.  Everything here falls back to the
unfused NumPy path (returns ``None``) when the backend is ``"numpy"``, a
learner is subclassed, a buffer is not C-contiguous or a dtype differs: the
user's code never changes, only the speed.  Validation happens here, in
Python, before the ``nogil`` kernels run.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .fused_ops import (activation_code, activation_slope, dense_forward, grad_buffers,
                        usable_gy)
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
    arrays = None if F is None or not usable_gy(gy, a) else grad_buffers(lm, x, a)
    if arrays is None:
        return NotImplemented
    W, gW, gb = arrays
    M = W if type(lm) is GradLearner else lm.B
    if not (M.flags.c_contiguous and M.dtype == a.dtype):
        return NotImplemented
    code = 0 if act_layer is None else activation_code(act_layer)
    gz = np.empty_like(gy) if code else None
    gx = np.empty(x.shape, x.dtype) if need_x else None
    F.dense_backward(x, a, y, gy, M, gz, gW, gb, gx, code,
                     0.0 if act_layer is None else activation_slope(act_layer))
    if gx is not None and lm.x_lr != 1.0:
        gx *= lm.x_lr
    lm.grads = lm._bufs
    lm.optimizer.step(lm._bufs, consume=not lm.keep_grads)
    lm._n_acc = 0
    return gx

"""Losses that turn into output targets.

A loss gives ``value(y, t)``, ``grad(y, t)`` (``dL/dy``), ``value_and_grad``
and ``target(y, t, scale=1.0) = y - scale * dL/dy``, the output target handed
to the last learning machine.
"""
from __future__ import annotations

import numpy as np

from .._validation import _FLOATS
from .backend import fused_module

__all__ = ["Loss", "MSELoss", "CrossEntropyLoss"]


class Loss:
    """Base class.  Subclasses implement ``value_and_grad``."""

    def __init__(self, reduction="mean"):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction

    def value_and_grad(self, y, t):
        raise NotImplementedError

    def value(self, y, t):
        return self.value_and_grad(y, t)[0]

    def grad(self, y, t):
        return self.value_and_grad(y, t)[1]

    def __call__(self, y, t):
        return self.value(y, t)

    def target(self, y, t, scale=1.0):
        """The output target ``y - scale * dL/dy``."""
        return y - scale * self.grad(y, t)

    def __repr__(self):
        return f"{type(self).__name__}(reduction={self.reduction!r})"


def _check_y(y):
    if not isinstance(y, np.ndarray):
        raise TypeError(f"y must be a numpy array, got {type(y).__name__}")
    if y.ndim != 2:
        raise ValueError(f"y: expected 2D array (n_samples, n_outputs), got {y.ndim}D "
                         f"array of shape {y.shape} instead")
    if y.shape[0] == 0:
        raise ValueError("y is an empty batch (0 samples)")


class MSELoss(Loss):
    """``L = reduce_i 0.5 * ||y_i - t_i||^2`` (mean or sum over samples).

    Note the 0.5 and the sum over features: with ``reduction="sum"`` the
    output target ``y - dL/dy`` is exactly ``t``.
    """

    def value_and_grad(self, y, t):
        _check_y(y)
        if not isinstance(t, np.ndarray) or t.shape != y.shape:
            raise ValueError(f"targets: expected the network output's shape {y.shape}, got "
                             f"{getattr(t, 'shape', type(t).__name__)}")
        d = y - t
        if d.dtype != y.dtype:
            d = d.astype(y.dtype)
        v = 0.5 * float(np.vdot(d, d))
        if self.reduction == "mean":
            n = y.shape[0]
            v /= n
            d *= 1.0 / n
        return v, d


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits ``y``.

    ``t`` is integer labels ``(N,)`` or class probabilities ``(N, K)``.
    ``L = reduce_i -sum_k t_ik log softmax(y_i)_k``; ``dL/dy = softmax(y) - t``
    (divided by N for the mean).
    """

    def __init__(self, reduction="mean"):
        super().__init__(reduction)
        self._rows = {}

    def value_and_grad(self, y, t):
        _check_y(y)
        n, k = y.shape
        if not isinstance(t, np.ndarray):
            t = np.asarray(t)
        if t.ndim == 1:
            _check_labels(t, n, k)
            fused = fused_module()
            if fused is not None and y.dtype in _FLOATS and y.flags.c_contiguous:
                g = np.empty_like(y)
                scale = 1.0 / n if self.reduction == "mean" else 1.0
                total = fused.softmax_xent(y, np.ascontiguousarray(t, dtype=np.int64), g, scale)
                return (total / n if self.reduction == "mean" else total), g
        elif t.ndim != 2:
            raise ValueError(f"labels: expected labels ({n},) or class probabilities "
                             f"{y.shape}, got shape {t.shape}")
        elif t.shape != y.shape:
            raise ValueError(f"targets: expected class probabilities of the network "
                             f"output's shape {y.shape}, got {t.shape}")
        # ufunc reductions directly: this runs once per batch, keep it lean
        z = np.subtract(y, np.maximum.reduce(y, axis=1, keepdims=True))
        e = np.exp(z)
        s = np.add.reduce(e, axis=1)
        logs = np.log(s)
        if t.ndim == 1:
            rows = self._rows.get(n)
            if rows is None:
                rows = self._rows[n] = np.arange(n)
            total = float(np.add.reduce(logs) - np.add.reduce(z[rows, t]))
            e /= s[:, None]
            e[rows, t] -= 1
        else:
            total = float((t.sum(axis=1) * logs).sum() - np.vdot(t, z))
            e /= s[:, None]
            e -= t
        if self.reduction == "mean":
            total /= n
            e *= 1.0 / n
        return total, e


def _check_labels(t, n, k):
    """Integer class labels (n,) in [0, k)."""
    if t.shape[0] != n:
        raise ValueError(f"labels: expected {n} labels (one per sample), got {t.shape[0]}")
    if t.dtype.kind not in "iub":
        raise TypeError(f"labels: expected integer class labels (one per sample; "
                        f"convert float labels with y.astype(int)) or class "
                        f"probabilities of shape (n_samples, {k}), got a 1-D array "
                        f"of dtype {t.dtype}")
    if t.dtype.kind == "i" and np.minimum.reduce(t) < 0:
        raise ValueError(f"labels: expected values in [0, {k}), got {t.min()}")
    if np.maximum.reduce(t) >= k:
        raise ValueError(f"labels: expected values in [0, {k}), got {t.max()}")

"""Sign-symmetric feedback (Liao, Leibo & Poggio 2016, "How important is weight
symmetry in backpropagation?", arXiv 1510.05067; the layers ``usf``, ``brsf``
and ``frsf`` of jsalbert/biotorch, ``biotorch/layers/fa_constructor/*.py``).

Feedback alignment whose feedback array shares the *signs* of ``W`` (``B = W``
would be backprop; ``B`` has ``W``'s shape):

* ``"usf"`` -- uniform sign-concordant feedback: ``B = s * sign(W)``.
* ``"frsf"`` -- fixed random magnitude: ``B = |R| * sign(W)`` with ``R`` drawn
  once (uniform, Glorot limit of the layer) and kept.
* ``"brsf"`` -- batchwise random magnitude: the same with ``R`` redrawn for
  every batch (every use of the feedback).

``sign(0) = 0``.  ``B`` follows ``W``'s current signs at every backward pass.
For uSF the scale ``s`` defaults to ``sqrt(2 / (fan_in + fan_out))`` (biotorch's
``scaling_factor`` option, after Xiao et al. 2018, arXiv 1811.03567); the
magnitudes of the random variants come from the Glorot draw itself.  (biotorch's
``frsf`` multiplies its stored array by ``sign(W)`` at each forward, so its
signs drift with W's sign history; we use the paper's ``|R| * sign(W)``.)
Works on ``Linear`` and ``Conv2d`` layers.
"""
from __future__ import annotations

import numpy as np

from .feedback_alignment import FALearner, feedback_init

__all__ = ["SignSymmetryLearner"]

_MODES = ("usf", "brsf", "frsf")


def _fans(W):
    if W.ndim == 2:
        return W.shape
    area = W.shape[2] * W.shape[3]
    return W.shape[1] * area, W.shape[0] * area


class SignSymmetryLearner(FALearner):
    """Sign-concordant feedback (``mode`` in ``"usf"``, ``"brsf"``, ``"frsf"``).

    Parameters
    ----------
    layer : Linear or Conv2d
    optimizer : Optimizer template
    mode : str, default ``"usf"``
    scale : float, optional (uSF only; default ``sqrt(2 / (fan_in + fan_out))``)
    rng : seed or Generator (the random magnitudes of brSF/frSF)
    x_lr, param_options, lmode : as for ``GradLearner``.
    """

    def __init__(self, layer, optimizer=None, *, mode="usf", scale=None, rng=None,
                 **kwargs):
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if "B" in kwargs:
            raise TypeError("SignSymmetryLearner derives B from sign(W); do not pass B")
        self.rng = np.random.default_rng(rng)
        super().__init__(layer, optimizer, rng=self.rng, **kwargs)
        self.mode = mode
        if scale is None:
            fi, fo = _fans(layer.W)
            scale = np.sqrt(2.0 / (fi + fo))
        self.scale = float(scale)
        if mode == "frsf":
            np.abs(self.B, out=self.B)        # |R|, fixed (saved as feedback.B)

    def _state_items(self):
        items = super()._state_items()
        if self.mode != "frsf":
            del items["feedback.B"]           # derived from W (uSF) or redrawn (brSF)
        return items

    def feedback_weights(self):
        W = self.layer.params["W"]
        s = np.sign(W)
        if self.mode == "usf":
            s *= W.dtype.type(self.scale)
            return s
        if self.mode == "brsf":
            R = feedback_init(self.layer, self.rng)
            np.abs(R, out=R)
            return R * s
        return self.B * s

    def __repr__(self):
        return f"SignSymmetryLearner({self.layer!r}, mode={self.mode!r})"

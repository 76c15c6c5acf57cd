"""Direct random target projection (DRTP; Frenkel, Lefebvre & Bol 2021,
"Learning without feedback", Front. Neurosci. 15:629892, arXiv 1909.01311).

Like DFA, every hidden block ``h = f(a)``, ``a = x W + b`` (or a convolution)
gets its learning signal through its own fixed random matrix ``B_l``, but the
projected vector is the one-hot *target* ``y*``, not the output error: the
layer's output gradient estimate is ``delta_a = (-y* @ B_l) (.) f'(a)`` and
``dW = x^T delta_a`` (``delta_a x^T`` in column notation).  ``-y*`` is the
sign of the softmax cross-entropy error ``e = softmax(y) - y*`` on the label's
entry, so DRTP is DFA with ``e`` replaced by this error-sign surrogate; the
paper writes ``B^T y*`` with the sign folded into its update, the same rule in
distribution for a symmetric ``B``.  No forward result of later layers is
needed ("learning without feedback").

Where ``y*`` comes from: in a container walk with a loss the context holds
only the error ``dL/dy``; for ``CrossEntropyLoss`` with hard labels its only
negative entry per row is the label's, so ``y*`` = one-hot of the row's
minimum (exact; a row saturated to an all-zero float error, where the label is
no longer visible, falls back to its first class).  In a walk without a loss
(``learn(x, t)``) the output target ``t`` is used as ``y*``.  Other losses
(e.g. MSE, soft labels) are refused.
"""
from __future__ import annotations

import numpy as np

from .feedback_alignment import DFALearner

__all__ = ["DRTPLearner"]


class DRTPLearner(DFALearner):
    """A hidden block trained by DRTP; same parameters as ``DFALearner``
    (``n_error`` = number of classes)."""

    def _global_signal(self, state):
        ctx = state.get("context")
        if ctx is None:
            raise ValueError("DRTPLearner needs the global target: use it inside a "
                             "Sequential or Graph (state.context is missing)")
        if ctx.t is not None:
            return -ctx.t
        e = ctx.error
        if np.any((e < 0).sum(axis=1) > 1):
            raise ValueError("DRTPLearner recovers the one-hot target from the sign of "
                             "the output error, which needs CrossEntropyLoss with hard "
                             "(integer) labels; pass one-hot targets without a loss "
                             "otherwise")
        yt = np.zeros_like(e)          # the label's entry is each row's minimum
        np.put_along_axis(yt, np.argmin(e, axis=1)[:, None], -1, axis=1)
        return yt

    def __repr__(self):
        return f"DRTPLearner({self.layer!r}, {self.activation!r})"

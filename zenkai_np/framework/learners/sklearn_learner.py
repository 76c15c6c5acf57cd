"""A scikit-learn estimator as a learning machine (needs scikit-learn).

``forward`` calls the estimator's ``predict_proba``/``decision_function``/
``predict``; ``step`` calls ``fit`` (or ``partial_fit``) on the batch and its
target; ``step_x`` uses hill climbing through ``forward`` (gradient-free), or
returns ``x`` unchanged with ``x_search="none"``.  scikit-learn is imported
lazily: constructing a ``SklearnLearner`` without it raises ``ImportError``.
"""
from __future__ import annotations

import numpy as np

from ..machine import LearningMachine
from ..state import LMode
from .population import hill_climb_x

__all__ = ["SklearnLearner"]


def _require_sklearn():
    try:
        import sklearn  # noqa: F401
        from sklearn.base import is_classifier
    except ImportError as exc:  # pragma: no cover - exercised only without sklearn
        raise ImportError("SklearnLearner needs scikit-learn; install it with "
                          "`pip install scikit-learn` (or the `demo` extra)") from exc
    return is_classifier


class SklearnLearner(LearningMachine):
    """Wrap an estimator.

    Parameters
    ----------
    estimator : a scikit-learn estimator
    n_in, n_out : int, feature counts (``n_out`` = number of classes for classifiers)
    output : "auto" | "predict_proba" | "decision_function" | "predict"
        ("auto": ``predict_proba`` for classifiers, ``predict`` otherwise)
    target : "auto" | "argmax" | "raw"
        How a target becomes ``fit``'s ``y``: ``argmax`` (class labels, the
        default for classifiers) or the raw target array (regressors).
    partial : bool, use ``partial_fit`` (classes ``range(n_out)`` for classifiers)
    x_search : "hill_climb" | "none"
    dtype : output dtype (float64 default)
    """

    def __init__(self, estimator, n_in, n_out, *, output="auto", target="auto",
                 partial=False, x_search="hill_climb", x_candidates=8, x_std=0.1,
                 rng=None, dtype=np.float64, lmode=LMode.DEFAULT):
        super().__init__(lmode)
        is_classifier = _require_sklearn()
        self.estimator = estimator
        self.is_classifier = bool(is_classifier(estimator))
        if output == "auto":
            output = "predict_proba" if self.is_classifier else "predict"
        if output not in ("predict_proba", "decision_function", "predict"):
            raise ValueError(f"output must be 'auto', 'predict_proba', "
                             f"'decision_function' or 'predict', got {output!r}")
        if not hasattr(estimator, output):
            raise TypeError(f"estimator {type(estimator).__name__} has no {output}()")
        if target == "auto":
            target = "argmax" if self.is_classifier else "raw"
        if target not in ("argmax", "raw"):
            raise ValueError(f"target must be 'auto', 'argmax' or 'raw', got {target!r}")
        if partial and not hasattr(estimator, "partial_fit"):
            raise TypeError(f"estimator {type(estimator).__name__} has no partial_fit()")
        if x_search not in ("hill_climb", "none"):
            raise ValueError(f"x_search must be 'hill_climb' or 'none', got {x_search!r}")
        self.output, self.target, self.partial = output, target, bool(partial)
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.x_search, self.x_candidates, self.x_std = x_search, int(x_candidates), \
            float(x_std)
        self.rng = np.random.default_rng(rng)
        self._dtype = np.dtype(dtype)
        self.fitted = False
        self._staged = None

    @property
    def dtype(self):
        return self._dtype

    def forward(self, x, state=None):
        n = x.shape[0]
        if not self.fitted:
            y = np.zeros((n, self.n_out), self._dtype)
        else:
            raw = np.asarray(getattr(self.estimator, self.output)(x))
            if raw.ndim == 1:
                raw = raw[:, None]
            if self.is_classifier and self.output == "predict":
                y = np.zeros((n, self.n_out), self._dtype)
                y[np.arange(n), raw[:, 0].astype(int)] = 1
            elif (self.is_classifier and raw.shape[1] != self.n_out
                  and self.output == "predict_proba"):
                y = np.zeros((n, self.n_out), self._dtype)
                y[:, self.estimator.classes_.astype(int)] = raw
            else:
                y = raw.astype(self._dtype, copy=False)
        if state is not None:
            state.y = y
        return y

    def _fit_target(self, t):
        if self.target == "argmax":
            return np.argmax(t, axis=1) if t.ndim == 2 else t
        return t[:, 0] if t.ndim == 2 and t.shape[1] == 1 else t

    def accumulate(self, x, t, state):
        yt = self._fit_target(t)
        if self._staged is None:
            self._staged = (x, yt)
        else:
            self._staged = (np.concatenate([self._staged[0], x]),
                            np.concatenate([self._staged[1], yt]))

    def step(self, x, t, state):
        if self._staged is None:
            return
        xs, ys = self._staged
        self._staged = None
        if self.partial:
            kw = {"classes": np.arange(self.n_out)} if self.is_classifier else {}
            self.estimator.partial_fit(xs, ys, **kw)
        else:
            self.estimator.fit(xs, ys)
        self.fitted = True

    def step_x(self, x, t, state):
        if self.x_search == "none" or not self.fitted:
            return x
        return hill_climb_x(self.forward, x, t, n_candidates=self.x_candidates,
                            std=self.x_std, rng=self.rng)

    def _state_items(self):
        return {}

    def __repr__(self):
        return f"SklearnLearner({self.estimator!r})"

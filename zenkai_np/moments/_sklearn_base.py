"""scikit-learn base classes and input validation for the moment estimator, when available.

scikit-learn is optional.  With it, ``BaseEstimator``/``RegressorMixin`` and
``validate_data`` are scikit-learn's own (so the estimator passes
``parametrize_with_checks``); without it, small stand-ins give the same
``get_params``/``set_params``/``score`` and the same error messages for the
common cases.
"""
from __future__ import annotations

import inspect

import numpy as np

from .._validation import as_float_array

__all__ = [
    "HAVE_SKLEARN",
    "BaseEstimator",
    "RegressorMixin",
    "not_fitted",
    "validate_x",
    "validate_xy",
]

try:
    from sklearn.base import BaseEstimator, RegressorMixin
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import validate_data
    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised in a subprocess test
    HAVE_SKLEARN = False
    NotFittedError = ValueError
    validate_data = None

    class BaseEstimator:
        """Constructor parameters as in scikit-learn (get_params / set_params)."""

        @classmethod
        def _get_param_names(cls):
            return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

        def get_params(self, deep=True):
            return {n: getattr(self, n) for n in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for key, value in params.items():
                if key not in valid:
                    raise ValueError(f"set_params: unknown parameter {key!r}")
                setattr(self, key, value)
            return self

        def __repr__(self):
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
            return f"{type(self).__name__}({args})"

    class RegressorMixin:
        """``score``: the coefficient of determination R² of ``predict``."""

        def score(self, X, y):
            y = as_float_array(y, "y", dtype=np.float64, ndim=1)
            pred = self.predict(X)
            return float(1.0 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))


def not_fitted(est):
    """The error for a method that needs a fitted estimator (NotFittedError when available)."""
    return NotFittedError(f"This {type(est).__name__} instance is not fitted yet. Call "
                          "'fit' with appropriate arguments before using this estimator.")


def validate_xy(est, X, y):
    """(X float32/float64 (N, d), y float64 (N,)); sets ``n_features_in_``."""
    nx, ny = getattr(X, "shape", (None,)), getattr(y, "shape", (None,))
    if nx and ny and nx[0] is not None and ny[0] is not None and nx[0] != ny[0]:
        raise ValueError(f"y: expected {nx[0]} rows to match X, got shape {ny}")
    if HAVE_SKLEARN:
        X, y = validate_data(est, X, y, dtype=[np.float64, np.float32], y_numeric=True)
        return np.ascontiguousarray(X), np.ascontiguousarray(y, dtype=np.float64)
    X = as_float_array(X, "X", ndim=2, allow_empty=False, finite=True)
    y = as_float_array(y, "y", dtype=np.float64, ndim=1, finite=True)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y: expected shape ({X.shape[0]},) to match X, got {y.shape}")
    est.n_features_in_ = X.shape[1]
    return X, y


def validate_x(est, X):
    """X for prediction, checked against ``n_features_in_``."""
    if HAVE_SKLEARN:
        return np.ascontiguousarray(validate_data(est, X, reset=False,
                                                  dtype=[np.float64, np.float32]))
    X = as_float_array(X, "X", ndim=2, finite=True)
    if X.shape[1] != est.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(est).__name__} is "
                         f"expecting {est.n_features_in_} features as input")
    return X

"""scikit-learn estimators built from the framework: ``MLPClassifier`` and ``MLPRegressor``.

A network ``n_features -> hidden_layer_sizes... -> n_outputs`` is assembled
from the framework's public pieces and trained by the learning rule ``rule``:

* ``"bp"``  -- backprop (``GradLearner`` on every layer);
* ``"fa"``  -- feedback alignment (``FALearner`` on every ``Linear``);
* ``"dfa"`` -- direct feedback alignment (``DFALearner`` hidden layers, a
  backprop readout);
* ``"tp"``, ``"dtp"`` -- (difference) target propagation blocks
  ``Chain(Linear, activation)`` with learned inverses, a backprop readout
  whose input target is one per-sample gradient step.

``fit`` trains for ``epochs`` passes (``zenkai_np.fit``: shuffled mini-batches
of ``batch_size``); ``partial_fit`` runs one pass over the given batch,
keeping the network and its optimizer state.  ``random_state`` (None, an int,
a ``numpy.random.Generator`` or a ``RandomState``) seeds the initial weights,
the feedback matrices and the shuffling.  The estimators work in
``Pipeline``, ``GridSearchCV``, ``cross_val_score`` and
``dask_ml.wrappers.Incremental`` (which calls ``partial_fit`` per block).
Requires scikit-learn.
"""
from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .framework import containers, layers, learners, losses, optim
from .framework.train import fit as _fit_machine

__all__ = ["RULES", "MLPClassifier", "MLPRegressor"]

RULES = ("bp", "fa", "dfa", "tp", "dtp")
_ACTIVATIONS = {"relu": layers.ReLU, "tanh": layers.Tanh, "sigmoid": layers.Sigmoid,
                "identity": layers.Identity}
_OPTIMIZERS = {"adam": optim.Adam, "sgd": optim.SGD}


def _seed_from(random_state):
    """A fresh int seed from None / int / Generator / RandomState."""
    if random_state is None or isinstance(random_state, (numbers.Integral, np.random.Generator)):
        if isinstance(random_state, bool):
            raise TypeError("random_state: expected None, an int or a Generator, got bool")
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2 ** 31 - 1))
    raise TypeError("random_state: expected None, an int, a numpy Generator or a "
                    f"RandomState, got {type(random_state).__name__}")


class _BaseMLP(BaseEstimator):
    def __init__(self, hidden_layer_sizes=(32,), *, rule="bp", activation="relu",
                 optimizer="adam", learning_rate=1e-3, epochs=200, batch_size=64,
                 dtype="float64", random_state=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.rule = rule
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.dtype = dtype
        self.random_state = random_state

    # -- parameter checks (in fit, not __init__: scikit-learn convention) -------
    def _check_params(self):
        if self.rule not in RULES:
            raise ValueError(f"rule: expected one of {RULES}, got {self.rule!r}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation: expected one of {sorted(_ACTIVATIONS)}, "
                             f"got {self.activation!r}")
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer: expected one of {sorted(_OPTIMIZERS)}, "
                             f"got {self.optimizer!r}")
        sizes = self.hidden_layer_sizes
        sizes = (sizes,) if isinstance(sizes, numbers.Integral) else tuple(sizes)
        if any(isinstance(h, bool) or not isinstance(h, numbers.Integral) or h < 1
               for h in sizes):
            raise ValueError("hidden_layer_sizes: expected positive ints, got "
                             f"{self.hidden_layer_sizes!r}")
        if self.rule in ("dfa", "tp", "dtp") and not sizes:
            raise ValueError(f"hidden_layer_sizes: rule {self.rule!r} needs a hidden layer")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"{name}: expected an int, got {type(v).__name__}")
            if v < (0 if name == "epochs" else 1):
                raise ValueError(f"{name}: expected >= {0 if name == 'epochs' else 1}, "
                                 f"got {v}")
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0:
            raise ValueError(f"learning_rate: expected a positive number, got {lr!r}")
        dt = np.dtype(self.dtype)
        if dt not in (np.float32, np.float64):
            raise ValueError(f"dtype: expected float32 or float64, got {dt}")
        return [int(h) for h in sizes], dt

    # -- the network -------------------------------------------------------------
    def _build(self, n_in, n_out):
        sizes, dt = self._check_params()
        rng = _seed_from(self.random_state)

        def seed():
            return int(rng.integers(2 ** 31))

        opt = _OPTIMIZERS[self.optimizer](lr=float(self.learning_rate))
        act = _ACTIVATIONS[self.activation]
        widths = [n_in] + sizes + [n_out]
        ms = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            last = i == len(widths) - 2
            lin = layers.Linear(a, b, dtype=dt, rng=seed(),
                                init="he" if self.activation == "relu" else "glorot")
            if last:
                x_lr = float(self.batch_size) if self.rule in ("tp", "dtp") else 1.0
                ms.append(learners.FALearner(lin, opt, rng=seed()) if self.rule == "fa"
                          else learners.GradLearner(lin, opt, x_lr=x_lr))
            elif self.rule == "bp":
                ms += [learners.GradLearner(lin, opt), learners.GradLearner(act())]
            elif self.rule == "fa":
                ms += [learners.FALearner(lin, opt, rng=seed()), learners.GradLearner(act())]
            elif self.rule == "dfa":
                ms.append(learners.DFALearner(lin, act(), n_error=n_out, optimizer=opt,
                                              rng=seed()))
            else:
                cls = learners.TPLearner if self.rule == "tp" else learners.DTPLearner
                f = layers.Chain(lin, act())
                g = layers.Chain(layers.Linear(b, a, dtype=dt, rng=seed()), act())
                ms.append(cls(f, g, opt, opt, noise_std=0.1, rng=seed()))
        self._net = containers.Sequential(*ms)
        self._rng = rng

    def _train(self, X, T, epochs):
        bs = min(int(self.batch_size), X.shape[0])
        X = X.astype(self._net.dtype, copy=False)
        if T.dtype.kind == "f":
            T = T.astype(self._net.dtype, copy=False)
        _fit_machine(self._net, X, T, loss=self._loss(), epochs=epochs, batch_size=bs,
                     rng=self._rng)

    def _forward(self, X):
        check_is_fitted(self, "n_features_in_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return np.asarray(self._net.forward(X.astype(self._net.dtype, copy=False)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multi-layer perceptron classifier trained by a framework learning rule.

    Attributes: ``classes_`` (n_classes,), ``n_features_in_``, ``network_`` (the
    framework ``Sequential``), ``n_outputs_``.
    """

    def _loss(self):
        return losses.CrossEntropyLoss()

    def _prepare(self, X, y, reset, classes=None):
        X, y = validate_data(self, X, y, reset=reset, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        if reset:
            self.classes_ = np.unique(y if classes is None else np.asarray(classes))
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        if np.any(self.classes_[idx] != y):
            unknown = np.setdiff1d(np.unique(y), self.classes_)
            raise ValueError(f"y: labels {unknown.tolist()} are not in classes_ "
                             f"{self.classes_.tolist()}")
        return X, idx

    def fit(self, X, y):
        """Train from scratch for ``epochs`` epochs on X (N, d), labels y (N,); returns self."""
        X, idx = self._prepare(X, y, reset=True)
        self._build(X.shape[1], max(len(self.classes_), 2))
        self._train(X, idx, int(self.epochs))
        self.network_ = self._net
        self.n_outputs_ = len(self.classes_)
        return self

    def partial_fit(self, X, y, classes=None):
        """One epoch on (X, y); the first call needs ``classes`` (all labels)."""
        first = not hasattr(self, "network_")
        if first and classes is None:
            raise ValueError("classes: must be given on the first call to partial_fit")
        X, idx = self._prepare(X, y, reset=first, classes=classes)
        if first:
            self._build(X.shape[1], max(len(self.classes_), 2))
            self.network_ = self._net
            self.n_outputs_ = len(self.classes_)
        self._train(X, idx, 1)
        return self

    def predict_proba(self, X):
        """Class probabilities (N, n_classes), float64, rows summing to 1."""
        z = self._forward(X).astype(np.float64)
        if len(self.classes_) == 1:
            return np.ones((z.shape[0], 1))
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        return p

    def predict(self, X):
        """Most probable class of each row: (N,) of ``classes_``' dtype."""
        z = self._forward(X)
        if len(self.classes_) == 1:
            return np.repeat(self.classes_, z.shape[0])
        return self.classes_[np.argmax(z, axis=1)]


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multi-layer perceptron regressor (squared loss) trained by a learning rule.

    ``y`` is (N,) or (N, n_outputs); predictions have the same layout.
    """

    def _loss(self):
        return losses.MSELoss()

    def _prepare(self, X, y, reset):
        X, y = validate_data(self, X, y, reset=reset, dtype=[np.float64, np.float32],
                             multi_output=True, y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        if reset:
            self._y_1d = y.ndim == 1
        Y = y.reshape(len(y), -1)
        if hasattr(self, "n_outputs_") and not reset and Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y: expected {self.n_outputs_} outputs, got {Y.shape[1]}")
        return X, Y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        """Train from scratch for ``epochs`` epochs on X (N, d), y (N,) or (N, m); returns self."""
        X, Y = self._prepare(X, y, reset=True)
        self._build(X.shape[1], Y.shape[1])
        self.n_outputs_ = Y.shape[1]
        self._train(X, Y, int(self.epochs))
        self.network_ = self._net
        return self

    def partial_fit(self, X, y):
        """One epoch on (X, y), keeping the network (built on the first call)."""
        first = not hasattr(self, "network_")
        X, Y = self._prepare(X, y, reset=first)
        if first:
            self._build(X.shape[1], Y.shape[1])
            self.n_outputs_ = Y.shape[1]
            self.network_ = self._net
        self._train(X, Y, 1)
        return self

    def predict(self, X):
        """Predictions (N,) for a 1-D training target, else (N, n_outputs); float64."""
        out = self._forward(X).astype(np.float64)
        return out[:, 0] if self._y_1d else out

"""The training loop: ``fit(model, x, y, loss=..., epochs=..., batch_size=...)``."""
from __future__ import annotations

import time

import numpy as np

from .._threads import limit_blas_threads
from .._validation import check_batch, check_int, check_target
from .machine import LearningMachine
from .state import State

__all__ = ["fit", "History", "StopTraining", "accuracy", "evaluate"]


class StopTraining(Exception):
    """Raise from a callback to stop ``fit`` after the current epoch."""


class History:
    """Per-epoch record of a ``fit`` run.

    ``loss`` (mean training loss of the epoch's batches), ``metrics``
    (``{name: [...]}``: training metrics over the epoch's batches and
    ``"val_<name>"``/``"val_loss"`` on validation data), ``seconds`` (wall time
    of each epoch's training, excluding evaluation), ``epochs`` (count run) and
    ``stopped_early``.
    """

    def __init__(self):
        self.loss = []
        self.metrics = {}
        self.seconds = []
        self.stopped_early = False

    @property
    def epochs(self):
        return len(self.loss)

    @property
    def val_loss(self):
        return self.metrics.get("val_loss", [])

    def as_dict(self):
        d = {"loss": list(self.loss), "seconds": list(self.seconds),
             "stopped_early": self.stopped_early}
        d.update({k: list(v) for k, v in self.metrics.items()})
        return d

    def __repr__(self):
        last = f", last loss {self.loss[-1]:.4g}" if self.loss else ""
        return f"History({self.epochs} epochs{last})"


def accuracy(y, t):
    """Fraction of rows whose argmax matches the label (or the target's argmax)."""
    pred = np.argmax(y, axis=1)
    if t.ndim == 2:
        t = np.argmax(t, axis=1)
    return float(np.mean(pred == t))


_METRICS = {"accuracy": accuracy}


def _resolve_metrics(metrics):
    if metrics is None:
        return {}
    if isinstance(metrics, str):
        metrics = [metrics]
    if isinstance(metrics, dict):
        items = metrics.items()
    else:
        items = []
        for m in metrics:
            if isinstance(m, str):
                if m not in _METRICS:
                    raise ValueError(f"unknown metric {m!r}; known: {sorted(_METRICS)}")
                items.append((m, _METRICS[m]))
            elif callable(m):
                items.append((getattr(m, "__name__", "metric"), m))
            else:
                raise TypeError(f"metrics entries must be names or callables, got {m!r}")
    out = {}
    for k, f in items:
        if not callable(f):
            raise TypeError(f"metric {k!r} is not callable")
        out[k] = f
    return out


def evaluate(model, x, y, loss=None, metrics=("accuracy",), batch_size=1024):
    """``{"loss": ..., name: ...}`` of ``model`` on ``(x, y)`` (no learning)."""
    x = check_batch(x, "x", model.dtype)
    y = check_target(y, x.shape[0], "y", model.dtype)
    outs = [model.forward(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)]
    out = np.concatenate(outs) if len(outs) > 1 else outs[0]
    res = {}
    if loss is not None:
        res["loss"] = float(loss.value(out, y))
    for k, f in _resolve_metrics(metrics).items():
        res[k] = float(f(out, y))
    return res


def _chain_callbacks(cbs):
    for i, cb in enumerate(cbs):
        if not callable(cb):
            raise TypeError(f"callback[{i}] must be callable, got {cb!r}")

    def chained(epoch, hist, model):
        stop = False
        for cb in cbs:
            stop = bool(cb(epoch, hist, model)) or stop
        return stop
    return chained


def fit(model, x, y, *, loss, epochs=10, batch_size=64, rng=None, shuffle=True,
        callback=None, verbose=0, validation_data=None, metrics=None, drop_last=False,
        blas_threads=None):
    """Train ``model`` (a LearningMachine) on ``(x, y)``; returns a :class:`History`.

    Each epoch shuffles the samples (``rng``: seed or Generator, normalised by
    ``np.random.default_rng``; the global NumPy state is never touched), splits
    them into mini-batches of ``batch_size`` and calls ``model.learn`` on each:
    forward, loss -> output target, the reverse walk, the steps.

    ``callback(epoch, history, model)`` runs after each epoch; returning True or
    raising :class:`StopTraining` stops training (``history.stopped_early``).
    A list of callbacks runs in order (e.g. ``[AlignmentCallback(...), mine]``).
    ``metrics`` (names like ``"accuracy"`` or callables ``f(y_pred, y)``) are
    averaged over the epoch's batches; with ``validation_data=(xv, yv)`` the
    loss and metrics are also computed on it (keys ``val_loss``, ``val_<name>``).
    ``verbose >= 1`` prints one line per epoch.

    ``blas_threads``: limit BLAS to this many threads while training (needs
    ``threadpoolctl``; ignored without it).  Use 1 when layers interleave the
    library's OpenMP kernels with NumPy matmuls, to avoid oversubscription.
    """
    if blas_threads is not None:
        with limit_blas_threads(check_int(blas_threads, "blas_threads", low=1)):
            return fit(model, x, y, loss=loss, epochs=epochs, batch_size=batch_size,
                       rng=rng, shuffle=shuffle, callback=callback, verbose=verbose,
                       validation_data=validation_data, metrics=metrics,
                       drop_last=drop_last)
    if not isinstance(model, LearningMachine):
        raise TypeError(f"model must be a LearningMachine, got {type(model).__name__}")
    if loss is None or not hasattr(loss, "value_and_grad"):
        raise TypeError(f"loss must be a Loss (e.g. CrossEntropyLoss()), got {loss!r}")
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if isinstance(callback, (list, tuple)):
        callback = _chain_callbacks(callback)
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable")
    x = check_batch(x, "x", model.dtype)
    y = check_target(y, x.shape[0], "y", model.dtype)
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError("y contains NaN or inf")
    if not np.isfinite(x).all():
        raise ValueError("x contains NaN or inf")
    if validation_data is not None:
        if len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (x_val, y_val)")
        xv = check_batch(validation_data[0], "validation_data[0]", model.dtype)
        yv = check_target(validation_data[1], xv.shape[0], "validation_data[1]",
                          model.dtype)
    mets = _resolve_metrics(metrics)
    rng = np.random.default_rng(rng)
    n = x.shape[0]
    stops = list(range(batch_size, n, batch_size)) + [n]
    if drop_last and n % batch_size and len(stops) > 1:
        stops = stops[:-1]
    starts = [0] + stops[:-1]
    hist = History()
    learn = getattr(model, "_learn", None)
    state = State()
    for epoch in range(epochs):
        t0 = time.perf_counter()
        if shuffle:
            perm = rng.permutation(n)
            xe, ye = x[perm], y[perm]
        else:
            xe, ye = x, y
        total, sums = 0.0, dict.fromkeys(mets, 0.0)
        count = 0
        for a, b in zip(starts, stops):
            xb, yb = xe[a:b], ye[a:b]
            if learn is not None:
                v = learn(xb, yb, loss, state)
            else:
                v = model.learn(xb, yb, loss, state)
            k = b - a
            total += v * k
            count += k
            if mets:
                yp = state.y
                for name, f in mets.items():
                    sums[name] += f(yp, yb) * k
        hist.seconds.append(time.perf_counter() - t0)
        hist.loss.append(total / count)
        for name in mets:
            hist.metrics.setdefault(name, []).append(sums[name] / count)
        if validation_data is not None:
            res = evaluate(model, xv, yv, loss, mets)
            for k, v in res.items():
                hist.metrics.setdefault(f"val_{k}", []).append(v)
        if verbose:
            parts = [f"epoch {epoch + 1}/{epochs}", f"loss {hist.loss[-1]:.4f}"]
            parts += [f"{k} {v[-1]:.4f}" for k, v in hist.metrics.items()]
            parts.append(f"{hist.seconds[-1]:.3f}s")
            print("  ".join(parts), flush=True)
        if callback is not None:
            try:
                stop = callback(epoch, hist, model)
            except StopTraining:
                stop = True
            if stop:
                hist.stopped_early = True
                break
    return hist

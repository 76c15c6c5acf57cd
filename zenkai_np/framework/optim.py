"""Optimizers: SGD (momentum, Nesterov, weight decay) and Adam, with parameter groups.

An optimizer holds *groups*: ``{"params": {name: array}, **hyperparameters}``.
Each group may override any hyperparameter (e.g. a separate learning rate for
a parameter ``n``).  Parameters are updated **in place**; gradients are read,
never modified.

Built unbound as a template and bound by a learner::

    opt = Adam(lr=1e-3)                      # template
    bound = opt.bind(layer.params, options={"n": {"lr": 1e-4}})

or bound directly: ``SGD({"W": W}, lr=0.1)`` / ``SGD([{"params": {...}, "lr": ...}])``.
"""
from __future__ import annotations

import numpy as np

from .backend import fused_module

__all__ = ["Optimizer", "SGD", "Adam"]


def _fusable(p, g):
    """The compiled pass can take ``p`` and ``g`` as they are: same dtype and shape,
    C-contiguous, non-empty, ``p`` writable (its buffers are ``zeros_like(p)``)."""
    return (type(g) is np.ndarray and g.dtype == p.dtype and g.shape == p.shape
            and p.flags.c_contiguous and g.flags.c_contiguous and p.size != 0
            and p.flags.writeable)


class Optimizer:
    """Base class.  Subclasses define ``_hyper`` defaults, ``_buffers`` and ``_update``."""

    _hyper: dict = {}
    _buffers: tuple = ()
    #: ``(F, p, g, group, bufs, t)``: the update in one pass of the compiled module
    #: ``F``, with ``_update``'s arithmetic; None where there is none
    _compiled_update = None

    def __init__(self, params=None, **hyper):
        unknown = set(hyper) - set(self._hyper)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown hyperparameters "
                            f"{sorted(unknown)}; known: {sorted(self._hyper)}")
        self.defaults = dict(self._hyper)
        self.defaults.update(hyper)
        self._validate(self.defaults, "defaults")
        self.groups = []
        self._items = []      # (name, param, group, buffers dict, scratch)
        self.t = 0                          # number of steps taken
        self._t_arr = np.zeros((), np.int64)  # its saved/loaded mirror
        if params is not None:
            if isinstance(params, dict) and "params" not in params:
                self.add_group({"params": params})
            elif isinstance(params, dict):
                self.add_group(params)
            else:
                for g in params:
                    self.add_group(g)

    def _validate(self, h, where):
        lr = h.get("lr")
        if lr is not None and (not np.isfinite(lr) or lr < 0):
            raise ValueError(f"lr must be a finite number >= 0, got {lr!r} ({where})")

    @property
    def bound(self):
        return bool(self.groups)

    def bind(self, params, options=None):
        """A new optimizer with this one's hyperparameters over ``params``.

        ``options`` maps parameter names to hyperparameter overrides; each
        overridden parameter gets its own group.
        """
        new = type(self)(**self.defaults)
        options = options or {}
        unknown = set(options) - set(params)
        if unknown:
            raise ValueError(f"param_options name unknown parameters {sorted(unknown)}; "
                             f"parameters are {sorted(params)}")
        main = {k: v for k, v in params.items() if k not in options}
        if main:
            new.add_group({"params": main})
        for k, opts in options.items():
            new.add_group({"params": {k: params[k]}, **opts})
        return new

    def add_group(self, group):
        group = dict(group)
        params = group.get("params")
        if not isinstance(params, dict):
            raise TypeError("group['params'] must be a dict {name: array}")
        unknown = set(group) - set(self._hyper) - {"params"}
        if unknown:
            raise TypeError(f"group has unknown hyperparameters {sorted(unknown)}")
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._validate(group, "group")
        names = {it[0] for it in self._items}
        for name, p in params.items():
            if name in names:
                raise ValueError(f"parameter {name!r} is in two groups")
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                raise TypeError(f"parameter {name!r} must be a float numpy array")
            bufs = {b: np.zeros_like(p) for b in self._buffers}
            self._items.append((name, p, group, bufs, np.empty_like(p)))
        self.groups.append(group)

    @property
    def lr(self):
        return self.groups[0]["lr"] if self.groups else self.defaults["lr"]

    @lr.setter
    def lr(self, value):
        """Set the learning rate of every group."""
        self.defaults["lr"] = value
        for g in self.groups:
            g["lr"] = value

    def step(self, grads, consume=False):
        """Update every parameter whose name is in ``grads``.

        ``consume=True`` allows overwriting the gradient arrays (the caller
        will not read them again), which saves memory traffic.
        """
        self.t = t = self.t + 1
        F = fused_module()
        for name, p, group, bufs, scratch in self._items:
            g = grads.get(name)
            if g is None:
                continue
            if F is not None and self._compiled_update is not None and _fusable(p, g):
                self._compiled_update(F, p, g, group, bufs, t)
            else:
                self._update(p, g, group, bufs, scratch, t, consume)

    def _update(self, p, g, group, bufs, scratch, t, consume):
        """The NumPy update of ``p`` in place (``consume``: ``g`` may be overwritten)."""
        raise NotImplementedError

    def state_dict(self):
        self._t_arr[...] = self.t
        d = {"t": self._t_arr}
        for name, _p, _g, bufs, _ in self._items:
            for b, v in bufs.items():
                d[f"{name}.{b}"] = v
        return d

    def _after_load(self):
        """Called after the arrays of ``state_dict()`` were overwritten in place."""
        self.t = int(self._t_arr)

    def load_state_dict(self, d):
        for name, _p, _g, bufs, _ in self._items:
            for b, v in bufs.items():
                v[...] = d[f"{name}.{b}"]
        self._t_arr[...] = d["t"]
        self._after_load()

    def __repr__(self):
        return f"{type(self).__name__}({self.defaults})"


class SGD(Optimizer):
    """``v = momentum * v + g + weight_decay * p``; ``p -= lr * v`` (PyTorch convention).

    ``nesterov=True`` uses ``p -= lr * (g + momentum * v)``.
    """

    _hyper = {"lr": 0.01, "momentum": 0.0, "weight_decay": 0.0, "nesterov": False}
    _buffers = ("momentum_buffer",)

    def _compiled_update(self, F, p, g, group, bufs, t):
        F.sgd_step(p, g, bufs["momentum_buffer"], group["lr"], group["momentum"],
                   group["weight_decay"], bool(group["nesterov"]))

    def _update(self, p, g, group, bufs, scratch, t, consume):
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        if not (mu or wd):              # plain SGD: p -= lr * g
            if consume:
                scratch = g             # the caller gave its buffer away
            np.multiply(g, lr, out=scratch)
            p -= scratch
            return
        if wd:
            np.multiply(p, wd, out=scratch)
            scratch += g
            g = scratch
        if mu:
            v = bufs["momentum_buffer"]
            v *= mu
            v += g
            if group["nesterov"]:
                d = v * mu          # not into scratch: g may be scratch (weight decay)
                d += g
                g = d
            else:
                g = v
        np.multiply(g, lr, out=scratch)
        p -= scratch


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; ``weight_decay`` is L2 added to g."""

    _hyper = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}
    _buffers = ("m", "v")

    def _compiled_update(self, F, p, g, group, bufs, t):
        F.adam_step(p, g, bufs["m"], bufs["v"], group["lr"], group["beta1"], group["beta2"],
                    group["eps"], group["weight_decay"], t)

    def _update(self, p, g, group, bufs, scratch, t, consume):
        lr, b1, b2, eps = group["lr"], group["beta1"], group["beta2"], group["eps"]
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p
        m, v = bufs["m"], bufs["v"]
        m *= b1
        np.multiply(g, 1 - b1, out=scratch)
        m += scratch
        v *= b2
        np.multiply(g, g, out=scratch)
        scratch *= 1 - b2
        v += scratch
        c1 = 1 - b1 ** t
        c2 = 1 - b2 ** t
        # p -= lr/c1 * m / (sqrt(v / c2) + eps)
        np.multiply(v, 1.0 / c2, out=scratch)
        np.sqrt(scratch, out=scratch)
        scratch += eps
        np.divide(m, scratch, out=scratch)
        scratch *= lr / c1
        p -= scratch

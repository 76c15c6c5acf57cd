"""Layers: pure mathematics with hand-written vector-Jacobian products.

A layer maps ``x -> y`` and gives ``vjp_x`` (``dL/dx`` from ``gy = dL/dy``)
and ``vjp_params`` (``{name: dL/dparam}``).  How it *learns* is a learner's
business (see ``machine.py``).  Shapes are batch first; dense weights are
``(n_in, n_out)`` applied as ``x @ W + b``.  float32 and float64 are both native:
the computation keeps the input's dtype.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_random_state
from .defaults import resolve_dtype
from .init import glorot_uniform

__all__ = [
    "Layer",
    "Linear",
    "Identity",
    "Tanh",
    "Sigmoid",
    "ReLU",
    "LeakyReLU",
    "Softmax",
    "Sign",
    "Step",
    "ArgmaxSTE",
    "Chain",
    "Mean",
]


class Layer:
    """Base class: override ``forward``, ``vjp_x`` and (with params) ``vjp_params``.

    Attributes
    ----------
    params : dict[str, ndarray]
        Learnable arrays, updated in place by optimizers.
    param_options : dict[str, dict]
        Per-parameter optimizer overrides (e.g. ``{"n": {"lr": 1e-3}}``).
    n_in, n_out : int or None
        Feature counts when fixed (containers use them to check shapes).
    supports_out : bool
        True when ``vjp_params`` honours ``out=`` (dict of gradient buffers).
    """

    supports_out = False
    n_in = None
    n_out = None

    def __init__(self):
        self.params = {}
        self.param_options = {}

    def forward(self, x, state=None):
        raise NotImplementedError

    def vjp_x(self, x, y, gy, state=None):
        raise NotImplementedError

    def vjp_params(self, x, y, gy, state=None, out=None):
        return {}

    def __call__(self, x):
        return self.forward(x)

    @property
    def dtype(self):
        for p in self.params.values():
            return p.dtype
        return None

    def forward_population(self, x, params):
        """Forward with population parameters (leading axis P) -> ``(P, N, n_out)``.

        ``x`` is ``(N, n_in)`` (shared by all members) or ``(P, N, n_in)``.
        The default loops over members; layers override it with one batched call.
        """
        if not params:
            return self.forward(x)
        P = next(iter(params.values())).shape[0]
        saved = {k: v.copy() for k, v in self.params.items()}
        outs = []
        try:
            for i in range(P):
                for k, v in self.params.items():
                    v[...] = params[k][i]
                outs.append(self.forward(x[i] if x.ndim == 3 else x))
        finally:
            for k, v in self.params.items():
                v[...] = saved[k]
        return np.stack(outs)

    def __repr__(self):
        return f"{type(self).__name__}()"


class Linear(Layer):
    """``y = x @ W + b`` with ``W`` of shape ``(n_in, n_out)``.

    ``init``: ``"glorot"`` (uniform, default), ``"he"`` (normal, sqrt(2/n_in)),
    ``"lecun"`` (normal, sqrt(1/n_in)), ``"zeros"``, or a callable
    ``init(rng, (n_in, n_out), dtype) -> array``.  The bias starts at zero.
    """

    supports_out = True

    def __init__(self, n_in, n_out, *, bias=True, dtype=None, init="glorot",
                 rng=None, scale=1.0):
        super().__init__()
        for name, v in (("n_in", n_in), ("n_out", n_out)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise TypeError(f"{name} must be an int, got {type(v).__name__}")
            if v <= 0:
                raise ValueError(f"{name} must be positive, got {v}")
        dt = resolve_dtype(dtype)
        self.n_in, self.n_out = int(n_in), int(n_out)
        rng = check_random_state(rng)
        shape = (self.n_in, self.n_out)
        if callable(init):
            W = np.asarray(init(rng, shape, dt), dtype=dt)
        elif init == "glorot":
            W = glorot_uniform(rng, shape)
        elif init == "he":
            W = rng.standard_normal(shape) * np.sqrt(2.0 / n_in)
        elif init == "lecun":
            W = rng.standard_normal(shape) * np.sqrt(1.0 / n_in)
        elif init == "zeros":
            W = np.zeros(shape)
        else:
            raise ValueError(f"init must be 'glorot', 'he', 'lecun', 'zeros' or a "
                             f"callable, got {init!r}")
        W = np.ascontiguousarray(W * scale, dtype=dt)
        if W.shape != shape:
            raise ValueError(f"init returned shape {W.shape}, expected {shape}")
        self.params["W"] = W
        if bias:
            self.params["b"] = np.zeros(self.n_out, dt)
        self._bias = bool(bias)

    @property
    def W(self):
        return self.params["W"]

    @property
    def b(self):
        return self.params.get("b")

    def _bad_input(self, x):
        """Raise the right error for ``x`` (or return it as a plain ndarray)."""
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy array, got {type(x).__name__}")
        if type(x) is not np.ndarray:       # memmap or another subclass
            x = np.asarray(x)
            if x.ndim == 2 and x.shape[1] == self.n_in and x.dtype == self.W.dtype:
                return x
        if x.ndim != 2:
            raise ValueError(f"x: {self!r} expected 2D array (n_samples, {self.n_in}), "
                             f"got {x.ndim}D array of shape {x.shape} instead")
        if x.shape[1] != self.n_in:
            raise ValueError(f"x has {x.shape[1]} features but {self!r} expects "
                             f"{self.n_in}")
        raise TypeError(f"x has dtype {x.dtype} but {self!r} has dtype "
                        f"{self.params['W'].dtype} (no silent casts)")

    def forward(self, x, state=None):
        W = self.params["W"]
        if (type(x) is not np.ndarray or x.ndim != 2 or x.shape[1] != self.n_in
                or x.dtype != W.dtype):
            x = self._bad_input(x)
        y = x @ W
        if self._bias:
            y += self.params["b"]
        return y

    def vjp_x(self, x, y, gy, state=None):
        return gy @ self.params["W"].T

    def vjp_params(self, x, y, gy, state=None, out=None):
        if out is None:
            g = {"W": x.T @ gy}
            if self._bias:
                g["b"] = gy.sum(axis=0)
            return g
        np.matmul(x.T, gy, out=out["W"])
        if self._bias:
            np.add.reduce(gy, 0, None, out["b"])
        return out

    def forward_population(self, x, params):
        W = params["W"]
        if W.ndim != 3 or W.shape[1:] != (self.n_in, self.n_out):
            raise ValueError(f"params['W'] must have shape (P, {self.n_in}, {self.n_out}),"
                             f" got {W.shape}")
        y = np.matmul(x, W)
        if self._bias:
            y += params["b"][:, None, :]
        return y

    def __repr__(self):
        return f"Linear({self.n_in} -> {self.n_out}, {self.params['W'].dtype})"


class _Elementwise(Layer):
    """Parameterless elementwise layer; population forward is the plain forward."""

    def forward_population(self, x, params):
        return self.forward(x)


class Identity(_Elementwise):
    def forward(self, x, state=None):
        return x

    def vjp_x(self, x, y, gy, state=None):
        return gy


class Tanh(_Elementwise):
    """``y = tanh(x)``; ``dy/dx = 1 - y^2``."""

    def forward(self, x, state=None):
        return np.tanh(x)

    def vjp_x(self, x, y, gy, state=None):
        d = y * y
        np.subtract(1, d, out=d)
        d *= gy
        return d


def sigmoid(x):
    """``1 / (1 + exp(-x))`` elementwise, overflow-free, in ``x``'s dtype."""
    # 0.5 * (1 + tanh(x/2)) is exact, stable for large |x| and keeps the dtype
    y = np.tanh(x * 0.5)
    y += 1
    y *= 0.5
    return y


class Sigmoid(_Elementwise):
    """``y = 1 / (1 + exp(-x))`` (overflow-free); ``dy/dx = y (1 - y)``."""

    def forward(self, x, state=None):
        return sigmoid(x)

    def vjp_x(self, x, y, gy, state=None):
        d = 1 - y
        d *= y
        d *= gy
        return d


class ReLU(_Elementwise):
    """``y = max(x, 0)``; derivative 1 for x > 0, 0 otherwise (0 at x = 0)."""

    def forward(self, x, state=None):
        return np.maximum(x, 0)

    def vjp_x(self, x, y, gy, state=None):
        return gy * (x > 0)


class LeakyReLU(_Elementwise):
    """``y = x`` for x > 0, ``slope * x`` otherwise."""

    def __init__(self, slope=0.01):
        super().__init__()
        self.slope = float(slope)

    def forward(self, x, state=None):
        return np.where(x > 0, x, x * self.slope)

    def vjp_x(self, x, y, gy, state=None):
        return np.where(x > 0, gy, gy * self.slope)

    def __repr__(self):
        return f"LeakyReLU(slope={self.slope})"


class Softmax(_Elementwise):
    """Row-wise softmax; ``gx = y * (gy - sum(gy * y, axis=1))``."""

    def forward(self, x, state=None):
        z = x - x.max(axis=-1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=-1, keepdims=True)
        return z

    def vjp_x(self, x, y, gy, state=None):
        s = (gy * y).sum(axis=-1, keepdims=True)
        return y * (gy - s)


class Sign(_Elementwise):
    """``y = +1`` if x >= 0 else ``-1``; straight-through backward
    ``gx = gy * 1[|x| <= 1]`` (identity inside [-1, 1], zero outside)."""

    def forward(self, x, state=None):
        y = np.where(x >= 0, 1, -1).astype(x.dtype, copy=False)
        return y

    def vjp_x(self, x, y, gy, state=None):
        return gy * (np.abs(x) <= 1)


class Step(_Elementwise):
    """Heaviside ``y = 1`` if x > 0 else ``0``; straight-through backward
    ``gx = gy * 1[|x| <= 1]``."""

    def forward(self, x, state=None):
        return (x > 0).astype(x.dtype)

    def vjp_x(self, x, y, gy, state=None):
        return gy * (np.abs(x) <= 1)


class ArgmaxSTE(_Elementwise):
    """One-hot of the row-wise argmax; straight-through (identity) backward."""

    def forward(self, x, state=None):
        y = np.zeros_like(x)
        idx = np.argmax(x, axis=-1)
        np.put_along_axis(y, idx[..., None], 1, axis=-1)
        return y

    def vjp_x(self, x, y, gy, state=None):
        return gy


class Mean(_Elementwise):
    """Average ``k`` equal blocks of features: ``(N, k*F) -> (N, F)``.

    The aggregator of an ensemble whose member outputs are concatenated.
    """

    def __init__(self, k):
        super().__init__()
        if not isinstance(k, (int, np.integer)) or k <= 0:
            raise ValueError(f"k must be a positive int, got {k!r}")
        self.k = int(k)

    def forward(self, x, state=None):
        if x.shape[-1] % self.k:
            raise ValueError(f"x has {x.shape[-1]} features, not a multiple of k={self.k}")
        F = x.shape[-1] // self.k
        return x.reshape(*x.shape[:-1], self.k, F).mean(axis=-2)

    def vjp_x(self, x, y, gy, state=None):
        return np.tile(gy / self.k, self.k)

    def __repr__(self):
        return f"Mean(k={self.k})"


class Chain(Layer):
    """Composition of layers as one layer (params named ``"<index>.<name>"``)."""

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        if not layers:
            raise ValueError("Chain needs at least one layer")
        for i, l in enumerate(layers):
            if not isinstance(l, Layer):
                raise TypeError(f"layers[{i}] must be a Layer, got {type(l).__name__}")
        self.layers = list(layers)
        dims = [(l.n_in, l.n_out) for l in layers]
        prev, prev_i = None, None
        for i, (a, b) in enumerate(dims):
            if a is not None and prev is not None and a != prev:
                raise ValueError(f"layers[{i}] expects {a} input features but "
                                 f"layers[{prev_i}] produces {prev}")
            if b is not None:
                prev, prev_i = b, i
        # elementwise layers keep the feature count: first/last known dims
        ins = [d[0] for d in dims if d[0] is not None]
        outs = [d[1] for d in dims if d[1] is not None]
        self.n_in = ins[0] if ins else None
        self.n_out = outs[-1] if outs else None
        for i, l in enumerate(layers):
            for k, v in l.params.items():
                self.params[f"{i}.{k}"] = v
            for k, v in l.param_options.items():
                self.param_options[f"{i}.{k}"] = v

    def forward(self, x, state=None):
        if state is None:
            for l in self.layers:
                x = l.forward(x)
            return x
        from .state import State
        subs = state.get("_chain")
        if subs is None:
            subs = state._chain = [State() for _ in self.layers]
            state._chain_x = [None] * (len(self.layers) + 1)
        xs = state._chain_x
        for i, l in enumerate(self.layers):
            xs[i] = x
            x = l.forward(x, subs[i])
        xs[-1] = x
        return x

    def _check_state(self, state):
        if state is None or state.get("_chain") is None:
            raise ValueError("Chain VJPs need the state recorded by forward(x, state)")

    def vjp_x(self, x, y, gy, state=None):
        self._check_state(state)
        xs, subs = state._chain_x, state._chain
        for i in range(len(self.layers) - 1, -1, -1):
            gy = self.layers[i].vjp_x(xs[i], xs[i + 1], gy, subs[i])
        return gy

    def vjp_params(self, x, y, gy, state=None, out=None):
        self._check_state(state)
        xs, subs = state._chain_x, state._chain
        grads = {}
        for i in range(len(self.layers) - 1, -1, -1):
            l = self.layers[i]
            if l.params:
                for k, v in l.vjp_params(xs[i], xs[i + 1], gy, subs[i]).items():
                    grads[f"{i}.{k}"] = v
            if i > 0:
                gy = l.vjp_x(xs[i], xs[i + 1], gy, subs[i])
        return grads

    def forward_population(self, x, params):
        for i, l in enumerate(self.layers):
            p = {k: params[f"{i}.{k}"] for k in l.params}
            x = l.forward_population(x, p)
        return x

    def __repr__(self):
        return "Chain(" + ", ".join(repr(l) for l in self.layers) + ")"

"""Layers whose operation moves between addition and multiplication: fractional
iterates of exp with a learned iteration count n (Köpp, van der Smagt, Urban 2016;
docs/fractional.md).

* :class:`FracExp` -- elementwise ``y = exp^(n)(a)`` with one learnable n per
  unit (the authors' transfer function), optionally with squashing before or
  after (``relu_abel``, ``sigm_abel``, ``tanh_abel``, ``abel_sigm``,
  ``abel_tanh``, ``abel_sigm_abel``).
* :class:`FracExpLinear` -- ``y_i = exp^(n_out_i)(sum_j W_ji exp^(n_in_j)(x_j) + b_i)``
  with one n per input and one per output; ``n_in = -1, n_out = 1`` is a product
  unit ``e^b prod_j x_j^W_ji``, ``n_in = n_out = 0`` a linear unit.

Both are framework :class:`~zenkai_np.framework.layers.Layer` s (pure
mathematics with hand-written VJPs) usable under any learner (``GradLearner``,
feedback alignment, ...). The n parameters may get their own learning rate
through ``param_options`` (``n_lr=``).

Two constructions (``method``):

* ``"abel"`` (default): real, C^1. ``exp^(n)(x)`` exists only where
  ``psi(x) + n > -1`` (every x for n >= 0; x > 0 for n = -1). ``domain="clamp"``
  (default) clamps ``psi(x) + n`` to ``-1 + domain_eps``: the output is then
  ``log(domain_eps)`` and no gradient flows through the clamped element (to x or
  n). ``domain="nan"`` lets NaN through (for testing). Keep inputs in the domain
  by squashing (``relu_abel``/``sigm_abel``, ``input_squash="sigmoid"``) or by
  positive data.
* ``"schroeder"``: complex and holomorphic, defined on the whole plane (singular
  only on the orbit {0, 1, e, e^e, ...}). Activations inside a layer are complex;
  the layer's output is the real part (the read-out). Backprop follows
  ``g_in = conj(f'(z)) g_out`` with ``g = dL/dRe + i dL/dIm``; real parameters get
  ``Re(conj(g) dy/dtheta)``.
"""
from __future__ import annotations

import numpy as np

from ..framework.defaults import resolve_dtype
from .._validation import check_choice, check_int, check_random_state
from ..framework.init import glorot_uniform
from ..framework.layers import Layer, sigmoid
from .abel import METHODS, fracexp, fracexp_grad
from .schroeder import fracexp_schroeder, fracexp_schroeder_grad

__all__ = ["FracExp", "FracExpLinear", "FRACEXP_VARIANTS"]

_DOMAINS = ("clamp", "nan")

#: stage lists of the elementwise variants; ("fe", name) is exp^(params[name])
FRACEXP_VARIANTS = {
    "abel": (("fe", "n"),),
    "relu_abel": (("relu",), ("fe", "n")),
    "sigm_abel": (("sigm",), ("fe", "n")),
    "tanh_abel": (("tanh",), ("fe", "n")),
    "abel_sigm": (("fe", "n"), ("sigm",)),
    "abel_tanh": (("fe", "n"), ("tanh",)),
    "abel_sigm_abel": (("fe", "n_in"), ("sigm",), ("shift", 0.05), ("fe", "n_out")),
}


def fracexp_real_grad(x, n, method, domain, domain_eps):
    """Real-input fractional exp with derivatives, for layers.

    Returns ``(y, dy_dx, dy_dn)``: real for ``"abel"`` (domain handled as the
    module says); complex for ``"schroeder"``.
    """
    if method == "schroeder":
        return fracexp_schroeder_grad(x, n)
    y, dx, dn = fracexp_grad(x, n)
    if domain == "clamp":
        out = np.isnan(y) & np.isfinite(x)
        if out.any():
            y[out] = np.log(domain_eps)
            dx[out] = 0
            dn[out] = 0
    return y, dx, dn


def _fracexp_value(x, n, method, domain, domain_eps):
    if method == "schroeder":
        return fracexp_schroeder(x, n)
    y = fracexp(x, n)
    if domain == "clamp":
        out = np.isnan(y) & np.isfinite(x)
        if out.any():
            y[out] = np.log(domain_eps)
    return y


class _FracBase(Layer):
    def _setup(self, method, domain, domain_eps, n_lr, names):
        self.method = check_choice(method, "method", METHODS)
        self.domain = check_choice(domain, "domain", _DOMAINS)
        domain_eps = float(domain_eps)
        if not 0 < domain_eps < 1:
            raise ValueError(f"domain_eps must be in (0, 1), got {domain_eps}")
        self.domain_eps = domain_eps
        if n_lr is not None:
            n_lr = float(n_lr)
            if not n_lr >= 0:
                raise ValueError(f"n_lr must be >= 0, got {n_lr}")
            for name in names:
                self.param_options[name] = {"lr": n_lr}

    def _init_n(self, value, std, size, dt, rng, name):
        v = np.asarray(value, dtype=np.float64)
        if v.ndim > 1 or (v.ndim == 1 and v.size != size):
            raise ValueError(f"{name}: expected a scalar or shape ({size},), got {v.shape}")
        n = np.broadcast_to(v, (size,)).astype(dt)
        if std:
            n = n + rng.normal(0, std, size).astype(dt)
        return np.ascontiguousarray(n, dtype=dt)

    def _check_x(self, x, n_features):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy array, got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != n_features:
            raise ValueError(f"x: {self!r} expected 2D array (n_samples, {n_features}), "
                             f"got shape {x.shape}")
        if x.dtype != self.dtype:
            raise TypeError(f"x has dtype {x.dtype} but {self!r} has dtype {self.dtype} "
                            "(no silent casts)")

    def _fe(self, x, n, need_grad):
        if need_grad:
            return fracexp_real_grad(x, n, self.method, self.domain, self.domain_eps)
        return _fracexp_value(x, n, self.method, self.domain, self.domain_eps), None, None

    def forward(self, x, state=None):
        """``y = layer(x)``; with a ``state``, the derivatives ``_run`` computed
        alongside are kept in it for the VJPs."""
        self._check_x(x, self.n_in)
        y, cache = self._run(x, state is not None)
        if state is not None:
            state.fracexp_cache = cache
        return y

    def _cache(self, x, state):
        """What ``_run(x, need_grad=True)`` returns beside y: from ``state`` when
        ``forward`` recorded it, else recomputed."""
        c = state.get("fracexp_cache") if state is not None else None
        if c is None:
            c = self._run(x, True)[1]
        return c


class FracExp(_FracBase):
    """Elementwise fractional exponential with a learnable n per unit.

    ``y = exp^(n)(a)`` for ``variant="abel"``; the squashing variants compose it
    with relu/sigmoid/tanh as named (``sigm_abel`` = exp^(n)(sigmoid(a)),
    ``abel_sigm_abel`` = exp^(n_out)(sigmoid(exp^(n_in)(a)) + 0.05) with two n
    vectors). With ``method="schroeder"`` each fractional exp reads out the real
    part of the complex Schröder iterate.

    Parameters
    ----------
    units : int
    variant : str, one of :data:`FRACEXP_VARIANTS`
    method : "abel" | "schroeder"
    n_init : float or (units,) array, the initial n (0 = identity)
    n_std : float, std of Gaussian noise added to ``n_init``
    n_lr : float, optional, learning rate of the n parameters (``param_options``)
    domain, domain_eps : domain handling of the Abel form (module docstring)
    dtype, rng

    Shapes: x ``(batch, units)`` -> y ``(batch, units)``.
    """

    def __init__(self, units, *, variant="abel", method="abel", n_init=0.0, n_std=0.0,
                 n_lr=None, domain="clamp", domain_eps=1e-6, dtype=None, rng=None):
        super().__init__()
        self.n_in = self.n_out = check_int(units, "units", low=1)
        self.variant = check_choice(variant, "variant", tuple(FRACEXP_VARIANTS))
        self.stages = FRACEXP_VARIANTS[variant]
        names = [s[1] for s in self.stages if s[0] == "fe"]
        dt = resolve_dtype(dtype)
        rng = check_random_state(rng)
        for name in names:
            self.params[name] = self._init_n(n_init, n_std, self.n_in, dt, rng, "n_init")
        self._setup(method, domain, domain_eps, n_lr, names)

    @property
    def dtype(self):
        return next(iter(self.params.values())).dtype

    def _run(self, x, need_grad):
        """Forward through the stages; with need_grad also the per-stage derivatives."""
        v = x
        derivs = []  # per stage: (d out / d in, d out / d n or None)
        for st in self.stages:
            kind = st[0]
            if kind == "fe":
                y, dx, dn = self._fe(v, self.params[st[1]], need_grad)
                if self.method == "schroeder":
                    y = np.ascontiguousarray(y.real)
                    if need_grad:
                        dx, dn = dx.real, dn.real  # real read-out, real input
                derivs.append((dx, dn))
                v = y
            elif kind == "relu":
                derivs.append(((v > 0).astype(v.dtype) if need_grad else None, None))
                v = np.maximum(v, 0)
            elif kind == "sigm":
                v = sigmoid(v)
                derivs.append((v * (1 - v) if need_grad else None, None))
            elif kind == "tanh":
                v = np.tanh(v)
                derivs.append((1 - v * v if need_grad else None, None))
            elif kind == "shift":
                v = v + v.dtype.type(st[1])
                derivs.append((None, None))
        return v, derivs


    def _backward(self, x, gy, state):
        derivs = self._cache(x, state)
        g = gy
        grads = {}
        for st, (dx, dn) in zip(reversed(self.stages), reversed(derivs)):
            if st[0] == "fe":
                grads[st[1]] = (g * dn).sum(axis=0).astype(self.dtype, copy=False)
            if dx is not None:
                g = g * dx
        return g, grads

    def vjp_x(self, x, y, gy, state=None):
        return self._backward(x, gy, state)[0]

    def vjp_params(self, x, y, gy, state=None, out=None):
        return self._backward(x, gy, state)[1]

    def __repr__(self):
        return (f"FracExp({self.n_in}, variant={self.variant!r}, method={self.method!r}, "
                f"{self.dtype})")


class FracExpLinear(_FracBase):
    """``y = exp^(n_out)(exp^(n_in)(x) @ W + b)``: the general fractional layer.

    One ``n_in`` per input feature (ñ in docs/fractional.md) and one ``n_out`` per output
    (n^), so a forward pass costs ``n_in + n_out`` fractional exps per sample.
    ``n_in = 0, n_out = 0``: linear; ``n_in = -1, n_out = 1``: product units
    ``y_i = e^{b_i} prod_j x_j^{W_ji}`` (inputs must then be positive, or squashed
    with ``input_squash``).

    Parameters
    ----------
    n_in, n_out : int, feature counts (parameter arrays are named ``"n_in"`` and
        ``"n_out"`` in ``params``; ``"W"`` is ``(n_in, n_out)``, ``"b"`` ``(n_out,)``)
    method : "abel" | "schroeder" (complex inside; the output is the real part)
    n_in_init, n_out_init : float or array, initial iteration counts
    n_std : float, Gaussian noise on the initial n
    n_lr : float, optional, learning rate of both n vectors
    input_squash : None | "sigmoid" | "softplus", applied to x first to keep the
        inner iterate in its domain
    init_scale : float, scale of the Glorot-uniform W
    domain, domain_eps, dtype, rng : as in :class:`FracExp`
    """

    def __init__(self, n_in, n_out, *, method="abel", n_in_init=0.0, n_out_init=0.0,
                 n_std=0.0, n_lr=None, input_squash=None, init_scale=1.0, domain="clamp",
                 domain_eps=1e-6, dtype=None, rng=None):
        super().__init__()
        self.n_in = check_int(n_in, "n_in", low=1)
        self.n_out = check_int(n_out, "n_out", low=1)
        self.input_squash = check_choice(input_squash, "input_squash",
                                          (None, "sigmoid", "softplus"))
        dt = resolve_dtype(dtype)
        rng = check_random_state(rng)
        self.params["W"] = glorot_uniform(rng, (self.n_in, self.n_out), dt, init_scale)
        self.params["b"] = np.zeros(self.n_out, dt)
        self.params["n_in"] = self._init_n(n_in_init, n_std, self.n_in, dt, rng, "n_in_init")
        self.params["n_out"] = self._init_n(n_out_init, n_std, self.n_out, dt, rng,
                                            "n_out_init")
        self._setup(method, domain, domain_eps, n_lr, ("n_in", "n_out"))

    @property
    def dtype(self):
        return self.params["W"].dtype

    def flip_units(self, units):
        """Negate ``W[:, units]`` and ``b[units]`` in place; needs ``n_out[units] == 0``.

        At ``n_out = 0`` a unit is linear in its pre-activation, so together with
        negating the unit's weight in the next (linear) layer this changes no
        output. It picks which of the two equivalent sign branches a unit is on
        before its ``n_out`` starts to move (``exp^(n)`` is not odd, so only one
        branch leads to a product unit with a positive read-out).

        units : bool mask of shape ``(n_out,)`` or integer indices.
        """
        idx = np.arange(self.n_out)[np.asarray(units)]
        if np.any(self.params["n_out"][idx] != 0):
            raise ValueError("units: flip_units needs n_out == 0 on the flipped units "
                             "(only then is the flip function-preserving)")
        self.params["W"][:, idx] *= -1
        self.params["b"][idx] *= -1

    def _squash(self, x, need_grad):
        if self.input_squash is None:
            return x, None
        if self.input_squash == "sigmoid":
            s = sigmoid(x)
            return s, (s * (1 - s) if need_grad else None)
        s = np.logaddexp(0, x).astype(x.dtype, copy=False)  # softplus
        return s, (sigmoid(x) if need_grad else None)

    def _run(self, x, need_grad):
        p = self.params
        xs, dsq = self._squash(x, need_grad)
        u, du_dx, du_dn = self._fe(xs, p["n_in"], need_grad)
        s = u @ p["W"]
        s += p["b"]
        y, dy_ds, dy_dn = self._fe(s, p["n_out"], need_grad)
        cache = dict(dsq=dsq, u=u, du_dx=du_dx, du_dn=du_dn, dy_ds=dy_ds, dy_dn=dy_dn)
        if self.method == "schroeder":
            y = np.ascontiguousarray(y.real)
        return y, cache


    def _backward(self, x, gy, state, want_x, want_params):
        """Complex-encoded backprop (g = dL/dRe + i dL/dIm); real for Abel."""
        c = self._cache(x, state)
        W = self.params["W"]
        cplx = self.method == "schroeder"
        # output stage: g_y is real (the read-out); g_s = conj(f') g_y
        gs = np.conj(c["dy_ds"]) * gy if cplx else c["dy_ds"] * gy
        grads = {}
        if want_params:
            if cplx:
                grads["n_out"] = (gy * c["dy_dn"].real).sum(axis=0)
                grads["W"] = (c["u"].T @ np.conj(gs)).real
                grads["b"] = gs.real.sum(axis=0)
            else:
                grads["n_out"] = (gy * c["dy_dn"]).sum(axis=0)
                grads["W"] = c["u"].T @ gs
                grads["b"] = gs.sum(axis=0)
        gu = gs @ W.T
        if want_params:
            if cplx:
                grads["n_in"] = (np.conj(gu) * c["du_dn"]).real.sum(axis=0)
            else:
                grads["n_in"] = (gu * c["du_dn"]).sum(axis=0)
            grads = {k: np.ascontiguousarray(v, dtype=self.dtype) for k, v in grads.items()}
        gx = None
        if want_x:
            gx = (np.conj(c["du_dx"]) * gu).real if cplx else c["du_dx"] * gu
            if c["dsq"] is not None:
                gx = gx * c["dsq"]
            gx = np.ascontiguousarray(gx, dtype=self.dtype)
        return gx, grads

    def vjp_x(self, x, y, gy, state=None):
        return self._backward(x, gy, state, True, False)[0]

    def vjp_params(self, x, y, gy, state=None, out=None):
        return self._backward(x, gy, state, False, True)[1]

    def __repr__(self):
        return (f"FracExpLinear({self.n_in} -> {self.n_out}, method={self.method!r}, "
                f"{self.dtype})")

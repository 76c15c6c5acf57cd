"""``check_layer``: the contract of a :class:`~zenkai_np.framework.layers.Layer`.

Each ``check_layer_*`` function tests one property on deep copies of the
layer (the user's layer is never changed) and raises ``AssertionError`` whose
message names the property and says by how much it failed.
"""
from __future__ import annotations

import copy
import os
import tempfile

import numpy as np

from ..framework import GradLearner, Layer, State, load, save
from ._arrays import (
    _FLOATS,
    assert_array_shape,
    assert_close,
    assert_untouched,
    central_differences,
    fail,
    float64_twin,
    snapshot,
)

__all__ = [
    "check_layer",
    "check_layer_forward_population",
    "check_layer_inputs_untouched",
    "check_layer_save_load",
    "check_layer_shapes_and_dtypes",
    "check_layer_vjp_finite_differences",
    "check_layer_vjp_params_keys",
]


def _run(layer, x, gy_rng):
    """forward with a state, a random ``gy`` of y's shape, both VJPs."""
    state = State()
    y = layer.forward(x, state)
    gy = gy_rng.standard_normal(np.shape(y)).astype(getattr(y, "dtype", x.dtype), copy=False)
    return state, y, gy


def check_layer_shapes_and_dtypes(layer, x, *, rng=None):
    """``forward`` gives ``(N, n_out)`` in x's dtype (``(N, ...)`` for a layer whose output
    is not a matrix, e.g. ``Conv2d``); ``vjp_x`` gives x's shape and dtype;
    ``vjp_params`` gives each parameter's shape and dtype; forward with and without a
    state agree."""
    name = "check_layer_shapes_and_dtypes"
    layer = copy.deepcopy(layer)
    rng = np.random.default_rng(rng)
    state, y, gy = _run(layer, x, rng)
    # n_out None: the layer fixes no feature count (e.g. Mean), any width is allowed
    if np.ndim(y) == 2:
        n_out = layer.n_out if layer.n_out is not None else np.shape(y)[-1]
        expected = (x.shape[0], n_out)
    else:
        expected = (x.shape[0],) + tuple(np.shape(y)[1:])
    assert_array_shape(name, "forward(x)", y, expected, x.dtype)
    y_plain = layer.forward(x)
    tol = 64 * float(np.finfo(x.dtype).eps)
    assert_close(name, "forward(x) without a state (against forward(x, state))", y_plain, y,
                 tol, tol)
    gx = layer.vjp_x(x, y, gy, state)
    assert_array_shape(name, "vjp_x(x, y, gy)", gx, x.shape, x.dtype)
    for k, g in layer.vjp_params(x, y, gy, state).items():
        p = layer.params.get(k)
        if p is not None:
            assert_array_shape(name, f"vjp_params(...)[{k!r}]", g, p.shape, p.dtype)


def check_layer_inputs_untouched(layer, x, *, rng=None):
    """``forward``, ``vjp_x`` and ``vjp_params`` leave x, y, gy and params bit for bit."""
    name = "check_layer_inputs_untouched"
    layer = copy.deepcopy(layer)
    rng = np.random.default_rng(rng)
    xs = snapshot({"x": x})
    ps = snapshot(layer.params)
    state = State()
    y = layer.forward(x, state)
    assert_untouched(name, xs, {"x": x}, "forward(x, state): x")
    assert_untouched(name, ps, layer.params, "forward(x, state): params")
    y_keep = np.array(y, copy=True)        # y may be x itself (identity-like layers)
    gy = rng.standard_normal(y.shape).astype(y.dtype)
    seen = snapshot({"x": x, "y": y, "gy": gy})
    layer.forward(x)
    layer.vjp_x(x, y, gy, state)
    assert_untouched(name, seen, {"x": x, "y": y, "gy": gy}, "forward(x)/vjp_x(x, y, gy): input")
    layer.vjp_params(x, y, gy, state)
    assert_untouched(name, seen, {"x": x, "y": y, "gy": gy}, "vjp_params(x, y, gy): input")
    assert_untouched(name, ps, layer.params, "vjp_x/vjp_params: params")
    if not np.array_equal(y, y_keep, equal_nan=True):
        fail(name, "y modified in place")


def check_layer_vjp_params_keys(layer, x, *, rng=None):
    """``vjp_params`` returns exactly one gradient per key of ``params``."""
    name = "check_layer_vjp_params_keys"
    layer = copy.deepcopy(layer)
    state, y, gy = _run(layer, x, np.random.default_rng(rng))
    g = layer.vjp_params(x, y, gy, state)
    if not isinstance(g, dict):
        fail(name, f"vjp_params must return a dict, got {type(g).__name__}")
    missing = sorted(set(layer.params) - set(g))
    extra = sorted(set(g) - set(layer.params))
    if missing or extra:
        fail(name, f"vjp_params keys differ from params keys: missing {missing}, "
                   f"unexpected {extra}")


def _fd_against(name, layer, x, gy, state, y, *, eps, rtol, atol, vjp_x_exact, label):
    """Compare a float64 layer's VJPs with central differences of ``sum(gy * f(x))``."""
    x = np.array(x, dtype=np.float64)

    def loss():
        return float(np.vdot(gy, layer.forward(x)))

    if vjp_x_exact:
        fd = central_differences(loss, x, eps)
        assert_close(name, f"vjp_x{label} against central differences",
                     layer.vjp_x(x, y, gy, state), fd, rtol, atol)
    grads = layer.vjp_params(x, y, gy, state)
    for k, p in layer.params.items():
        fd = central_differences(loss, p, eps)
        assert_close(name, f"vjp_params{label}[{k!r}] against central differences",
                     grads[k], fd, rtol, atol)


def check_layer_vjp_finite_differences(layer, x, *, rng=None, rtol=1e-5, atol=1e-8,
                                       eps=1e-6, vjp_x_exact=True):
    """``vjp_x`` and ``vjp_params`` equal central differences of ``L = sum(gy * y)``.

    The differences are taken in float64: a float32 layer is checked through its
    float64 twin (the same layer with float64 parameters), and its own float32 VJPs
    against the twin's with ``max(rtol, 1e-3)``. ``vjp_x_exact=False`` skips ``vjp_x``
    (straight-through surrogates such as ``Sign`` are not derivatives).
    """
    name = "check_layer_vjp_finite_differences"
    layer = copy.deepcopy(layer)
    rng = np.random.default_rng(rng)
    twin = layer if x.dtype == np.float64 else float64_twin(layer, list(layer.params.values()))
    x64 = x.astype(np.float64)
    state64 = State()
    y64 = twin.forward(x64, state64)
    if np.asarray(y64).dtype != np.float64:
        fail(name, f"the float64 twin of the layer computes in {np.asarray(y64).dtype}; "
                   "pass a float64 layer to check its VJPs")
    gy64 = rng.standard_normal(y64.shape)
    _fd_against(name, twin, x64, gy64, state64, y64, eps=eps, rtol=rtol, atol=atol,
                vjp_x_exact=vjp_x_exact, label="")
    if x.dtype == np.float64:
        return
    r32, a32 = max(rtol, 1e-3), max(atol, 1e-6)
    state = State()
    y = layer.forward(x, state)
    gy = gy64.astype(x.dtype)
    if vjp_x_exact:
        assert_close(name, "float32 vjp_x against the float64 twin",
                     layer.vjp_x(x, y, gy, state), twin.vjp_x(x64, y64, gy64, state64), r32, a32)
    g32 = layer.vjp_params(x, y, gy, state)
    g64 = twin.vjp_params(x64, y64, gy64, state64)
    for k in layer.params:
        assert_close(name, f"float32 vjp_params[{k!r}] against the float64 twin", g32[k],
                     g64[k], r32, a32)


def check_layer_forward_population(layer, x, *, rng=None):
    """``forward_population(x, params)`` with a population of two equals two forwards."""
    name = "check_layer_forward_population"
    if not layer.params:
        return
    layer = copy.deepcopy(layer)
    rng = np.random.default_rng(rng)
    ps = snapshot(layer.params)
    pop = {k: np.stack([v, v + (0.01 * rng.standard_normal(v.shape)).astype(v.dtype)])
           for k, v in layer.params.items()}
    ypop = layer.forward_population(x, pop)
    assert_untouched(name, ps, layer.params, "forward_population: params")
    if ypop.ndim == 3:
        n_out = layer.n_out if layer.n_out is not None else ypop.shape[-1]
        expected = (2, x.shape[0], n_out)
    else:
        expected = (2, x.shape[0]) + tuple(ypop.shape[2:])
    assert_array_shape(name, "forward_population(x, params)", ypop, expected, x.dtype)
    tol = 1000 * float(np.finfo(x.dtype).eps)
    for i in range(2):
        for k, v in layer.params.items():
            v[...] = pop[k][i]
        assert_close(name, f"forward_population member {i} against forward", ypop[i],
                     layer.forward(x), tol, tol)


def check_layer_save_load(layer, x, *, rng=None):
    """A ``GradLearner`` around the layer survives ``save``/``load`` bit for bit."""
    name = "check_layer_save_load"
    rng = np.random.default_rng(rng)
    src = GradLearner(copy.deepcopy(layer))
    dst_layer = copy.deepcopy(layer)
    for v in dst_layer.params.values():
        v += (1 + rng.standard_normal(v.shape)).astype(v.dtype)
    dst = GradLearner(dst_layer)
    with tempfile.TemporaryDirectory() as tmp:
        path = save(src, os.path.join(tmp, "layer.npz"))
        load(dst, path)
    for k, v in src.layer.params.items():
        got = dst_layer.params[k]
        if got.dtype != v.dtype or not np.array_equal(got, v, equal_nan=True):
            fail(name, f"params[{k!r}] after load differs from the saved array "
                       f"(max |diff| {float(np.max(np.abs(got - v))):.3g})")
    if not np.array_equal(dst.forward(x), src.forward(x), equal_nan=True):
        fail(name, "forward(x) after load differs from forward(x) before save")


def _default_input(layer, dtype, rng):
    n = layer.n_in if layer.n_in is not None else 4
    x = rng.standard_normal((5, n))
    x += np.sign(x) * 0.1          # away from the kinks of relu-like layers at 0
    return x.astype(dtype)


def check_layer(layer, x=None, *, rng=None, rtol=1e-5, atol=1e-8, eps=1e-6,
                vjp_x_exact=True):
    """Check that ``layer`` keeps the Layer contract; raise AssertionError if not.

    Parameters
    ----------
    layer : Layer
        Not modified (every check works on a deep copy).
    x : ndarray (N, n_in), optional
        A batch inside the layer's domain, in the layer's dtype. Default: 5 rows
        of standard normal values (|x| >= 0.1). A layer without parameters is
        checked on ``x`` in both float32 and float64.
    rng : None, int or Generator
        Draws ``gy`` and the default ``x``.
    rtol, atol : float
        Tolerance of the float64 VJPs against central differences:
        ``max|vjp - fd| <= atol + rtol * max|fd|`` per array.
    eps : float
        Step of the central differences (float64).
    vjp_x_exact : bool
        False for straight-through layers, whose ``vjp_x`` is a chosen surrogate.

    Properties: shapes (``forward`` ``(N, n_out)``, ``vjp_x`` x's shape,
    ``vjp_params`` each parameter's shape), dtype kept, inputs and params untouched
    (bitwise), ``vjp_params`` keys = ``params`` keys, VJPs = finite differences,
    ``forward_population`` = member-wise ``forward``, save/load round trip.
    """
    if not isinstance(layer, Layer):
        raise TypeError(f"layer: expected a zenkai_np Layer, got {type(layer).__name__}")
    rng = np.random.default_rng(rng)
    own = layer.dtype
    if x is None:
        dtypes = [own] if own is not None else list(_FLOATS)
        xs = [_default_input(layer, dt, rng) for dt in dtypes]
    else:
        if not isinstance(x, np.ndarray) or x.ndim < 2:
            raise ValueError(f"x: expected a numpy array (N, n_in) or (N, C, H, W), got "
                             f"{type(x).__name__} {getattr(x, 'shape', '')}")
        if x.dtype not in _FLOATS:
            raise TypeError(f"x: expected float32 or float64, got {x.dtype}")
        if own is not None and x.dtype != own:
            raise TypeError(f"x: dtype {x.dtype} differs from the layer's {own}")
        xs = [x] if own is not None else [x.astype(dt) for dt in _FLOATS]
    before = snapshot(layer.params)
    for xi in xs:
        seed = int(rng.integers(2**32))
        check_layer_inputs_untouched(layer, xi, rng=seed)
        check_layer_shapes_and_dtypes(layer, xi, rng=seed)
        check_layer_vjp_params_keys(layer, xi, rng=seed)
        check_layer_vjp_finite_differences(layer, xi, rng=seed, rtol=rtol, atol=atol, eps=eps,
                                           vjp_x_exact=vjp_x_exact)
        check_layer_forward_population(layer, xi, rng=seed)
        check_layer_save_load(layer, xi, rng=seed)
    assert_untouched("check_layer", before, layer.params, "the user's layer params")

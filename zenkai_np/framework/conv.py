"""Convolutional layers (NCHW) with hand-written vector-Jacobian products.

``Conv2d`` (stride, zero padding, bias), ``MaxPool2d``, ``AvgPool2d``,
``Flatten`` and ``Unflatten``.  Images are ``(N, C, H, W)``; a convolution
weight is ``(C_out, C_in, kh, kw)`` and computes the cross-correlation

    y[n, o, i, j] = b[o] + sum_{c, p, q} W[o, c, p, q] * xp[n, c, i*s + p, j*s + q]

with ``xp`` the input zero-padded by ``padding`` on each side (PyTorch's
``Conv2d`` convention).  The implementation is im2col on BLAS: the patches are
gathered by ``kh*kw`` strided slice copies into one ``(C_in*kh*kw, N*Ho*Wo)``
matrix (the pooling layers use ``numpy.lib.stride_tricks.sliding_window_view``),
so the forward pass, ``dL/dW`` and the patch-gradient of ``dL/dx`` are each one
GEMM; ``dL/dx`` scatters the patch gradients back with ``kh*kw`` strided
additions (col2im).

The training loop feeds 2-D batches ``(N, features)``; put ``Unflatten((C, H,
W))`` first to turn them into images and ``Flatten()`` before dense layers.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .defaults import resolve_dtype
from .init import glorot_uniform
from .layers import Layer

__all__ = ["AvgPool2d", "Conv2d", "Flatten", "MaxPool2d", "Unflatten"]


def _pair(v, name, minimum):
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
        a, b = v
    else:
        a = b = v
    for e in (a, b):
        if not isinstance(e, (int, np.integer)) or isinstance(e, bool):
            raise TypeError(f"{name} must be an int or a pair of ints, got {v!r}")
        if e < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {v!r}")
    return int(a), int(b)


def _check_image(x, who, channels=None, dtype=None):
    """Validate a 4-D NCHW batch; returns it (``who``: a layer, shown in errors)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy array, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"x: {who} expects a 4-D array (N, C, H, W), got a {x.ndim}-D "
                         f"array of shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError("x is an empty batch (0 samples)")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"x has {x.shape[1]} channels but {who} expects "
                         f"in_channels={channels}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"x has dtype {x.dtype} but {who} computes in {dtype} "
                        f"(no silent casts)")
    if x.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"x must be float32 or float64, got {x.dtype}")
    return x


def _out_size(size, k, s, p, who, what="kernel_size"):
    """Output length; ``who`` (a layer or a name) appears in the error message."""
    padded = size + 2 * p
    if k > padded:
        raise ValueError(f"{what}={k} of {who} is larger than the padded input "
                         f"({size} + 2*padding={p} = {padded})")
    return (padded - k) // s + 1


def _windows(xp, kh, kw, sh, sw):
    """Strided view ``(N, C, Ho, Wo, kh, kw)`` of the patches of ``xp`` (no copy)."""
    return sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]


def _scatter_windows(part, shape, kh, kw, sh, sw, ph, pw, channels_first=False):
    """col2im: sum the patch gradients ``part(p, q)`` into an input-shaped gradient.

    ``part(p, q)`` is ``(N, C, Ho, Wo)`` (or ``(C, N, Ho, Wo)`` with
    ``channels_first``), the gradient w.r.t. ``xp[:, :, p + s*i, q + s*j]``;
    the padding is cropped and the result is ``(N, C, H, W)`` contiguous.
    """
    H, W = shape[2], shape[3]
    Hp, Wp = H + 2 * ph, W + 2 * pw
    g = None
    for p in range(kh):
        for q in range(kw):
            a = part(p, q)
            Ho, Wo = a.shape[2], a.shape[3]
            if g is None:
                g = np.zeros(a.shape[:2] + (Hp, Wp), dtype=a.dtype)
            g[:, :, p:p + sh * (Ho - 1) + 1:sh, q:q + sw * (Wo - 1) + 1:sw] += a
    g = g[:, :, ph:ph + H, pw:pw + W]
    if channels_first:
        g = g.transpose(1, 0, 2, 3)
    return np.ascontiguousarray(g)


class Conv2d(Layer):
    """2-D convolution (cross-correlation), NCHW, weight ``(C_out, C_in, kh, kw)``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride : int or (int, int); stride >= 1
    padding : int or (int, int) >= 0 (zeros on every side)
    bias : bool
    dtype : float32 or float64
    init : ``"glorot"`` (uniform, fan_in = C_in*kh*kw, fan_out = C_out*kh*kw),
        ``"he"`` (normal, sqrt(2 / fan_in)) or a callable ``init(rng, shape, dtype)``.
    rng : seed or Generator
    """

    def __init__(self, in_channels, out_channels, kernel_size, *, stride=1, padding=0,
                 bias=True, dtype=None, init="glorot", rng=None):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise TypeError(f"{name} must be an int, got {type(v).__name__}")
            if v <= 0:
                raise ValueError(f"{name} must be positive, got {v}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        dt = resolve_dtype(dtype)
        kh, kw = self.kernel_size
        shape = (self.out_channels, self.in_channels, kh, kw)
        rng = np.random.default_rng(rng)
        fan_in, fan_out = self.in_channels * kh * kw, self.out_channels * kh * kw
        if callable(init):
            W = np.asarray(init(rng, shape, dt))
        elif init == "glorot":
            W = glorot_uniform(rng, shape, dt, fans=(fan_in, fan_out))
        elif init == "he":
            W = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        else:
            raise ValueError(f"init must be 'glorot', 'he' or a callable, got {init!r}")
        if W.shape != shape:
            raise ValueError(f"init returned shape {W.shape}, expected {shape}")
        self.params["W"] = np.ascontiguousarray(W, dtype=dt)
        if bias:
            self.params["b"] = np.zeros(self.out_channels, dt)
        self._bias = bool(bias)

    @property
    def W(self):
        return self.params["W"]

    @property
    def b(self):
        return self.params.get("b")

    def output_shape(self, H, W):
        """``(Ho, Wo)`` for an ``H x W`` input (raises when the kernel does not fit)."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (_out_size(H, kh, sh, ph, self), _out_size(W, kw, sw, pw, self))

    def _ws(self, name, shape, dtype):
        """A cached scratch buffer (zero-filled when first made): reusing it avoids
        the page faults of a fresh multi-megabyte array on every call.  Only
        temporaries live here; outputs are always new arrays."""
        ws = self.__dict__.setdefault("_scratch", {})
        a = ws.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = ws[name] = np.zeros(shape, dtype)
        return a

    def _cols(self, x, cached=False):
        """im2col: ``(C_in*kh*kw, N*Ho*Wo)`` patch matrix (rows c-major, then p, q).

        ``cached``: write into the layer's scratch buffer (valid until the next
        cached call; ``forward`` tags states so a stale buffer is never used)."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        Ho, Wo = self.output_shape(x.shape[2], x.shape[3])
        N, C, H, W = x.shape
        xt = self._ws("xt", (C, N, H + 2 * ph, W + 2 * pw), x.dtype)  # zero border
        xt[:, :, ph:ph + H, pw:pw + W] = x.transpose(1, 0, 2, 3)
        shape = (C, kh, kw, N, Ho, Wo)
        cols = self._ws("cols", shape, x.dtype) if cached else np.empty(shape, x.dtype)
        for p in range(kh):          # kh*kw strided copies (rows of Wo contiguous)
            for q in range(kw):
                cols[:, p, q] = xt[:, :, p:p + sh * (Ho - 1) + 1:sh,
                                   q:q + sw * (Wo - 1) + 1:sw]
        return cols.reshape(C * kh * kw, N * Ho * Wo), Ho, Wo

    def forward(self, x, state=None):
        W = self.params["W"]
        _check_image(x, self, self.in_channels, W.dtype)
        cols, Ho, Wo = self._cols(x, cached=state is not None)
        N, Co = x.shape[0], self.out_channels
        y2 = self._ws("y2", (Co, N * Ho * Wo), W.dtype)
        np.matmul(W.reshape(Co, -1), cols, out=y2)                       # (C_out, N*L)
        y4 = y2.reshape(Co, N, Ho, Wo)
        if self._bias:
            y4 += self.params["b"][:, None, None, None]
        if state is not None:
            self._tag = self.__dict__.get("_tag", 0) + 1
            state.cols, state.cols_tag = cols, self._tag
        y = np.empty((N, Co, Ho, Wo), W.dtype)
        y[...] = y4.transpose(1, 0, 2, 3)
        return y

    def _gy2(self, gy):
        """``gy`` as ``(C_out, N*Ho*Wo)`` (a scratch buffer)."""
        N, Co, Ho, Wo = gy.shape
        g = self._ws("gy2", (Co, N, Ho, Wo), gy.dtype)
        g[...] = gy.transpose(1, 0, 2, 3)
        return g.reshape(Co, N * Ho * Wo)

    def vjp_x_with(self, K, x, y, gy, state=None):
        """``dL/dx`` computed with kernels ``K`` (W's shape) in place of ``W``.

        With ``K = W`` this is the true VJP; feedback-alignment learners pass
        their feedback kernels (the backward convolution of biotorch's FA).
        """
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        N, C, H, W = x.shape
        Ho, Wo = gy.shape[2], gy.shape[3]
        gcols = self._ws("gcols", (C * kh * kw, N * Ho * Wo), gy.dtype)
        np.matmul(K.reshape(self.out_channels, -1).T, self._gy2(gy), out=gcols)
        gcols = gcols.reshape(C, kh, kw, N, Ho, Wo)
        g = self._ws("gpad", (C, N, H + 2 * ph, W + 2 * pw), gy.dtype)
        g.fill(0)
        for p in range(kh):          # col2im: kh*kw strided additions
            for q in range(kw):
                g[:, :, p:p + sh * (Ho - 1) + 1:sh, q:q + sw * (Wo - 1) + 1:sw] += \
                    gcols[:, p, q]
        gx = np.empty(x.shape, gy.dtype)
        gx[...] = g[:, :, ph:ph + H, pw:pw + W].transpose(1, 0, 2, 3)
        return gx

    def vjp_x(self, x, y, gy, state=None):
        return self.vjp_x_with(self.params["W"], x, y, gy, state)

    def vjp_params(self, x, y, gy, state=None, out=None):
        cols = state.get("cols") if state is not None else None
        if cols is None or state.get("cols_tag") != self.__dict__.get("_tag"):
            cols = self._cols(x)[0]      # not recorded, or the buffer was reused since
        g = {"W": (self._gy2(gy) @ cols.T).reshape(self.params["W"].shape)}
        if self._bias:
            g["b"] = gy.sum(axis=(0, 2, 3))
        return g

    def __repr__(self):
        return (f"Conv2d({self.in_channels} -> {self.out_channels}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, {self.params['W'].dtype})")


class _Pool2d(Layer):
    """Shared checks of the pooling layers (no padding; stride defaults to the kernel)."""

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", 1)

    def _win(self, x):
        _check_image(x, repr(self))
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        _out_size(x.shape[2], kh, sh, 0, repr(self))
        _out_size(x.shape[3], kw, sw, 0, repr(self))
        return _windows(x, kh, kw, sh, sw)

    def forward_population(self, x, params):
        return self.forward(x)

    def __repr__(self):
        return f"{type(self).__name__}(kernel_size={self.kernel_size}, stride={self.stride})"


class MaxPool2d(_Pool2d):
    """Maximum over each ``kh x kw`` window; the gradient goes to the first maximum
    of each window (PyTorch's tie rule)."""

    def forward(self, x, state=None):
        win = self._win(x)
        N, C, Ho, Wo, kh, kw = win.shape
        flat = win.reshape(N, C, Ho, Wo, kh * kw)
        idx = np.argmax(flat, axis=-1)
        y = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
        if state is not None:
            state.argmax = idx
        return y

    def vjp_x(self, x, y, gy, state=None):
        idx = state.get("argmax") if state is not None else None
        if idx is None:
            win = self._win(x)
            idx = np.argmax(win.reshape(*win.shape[:4], -1), axis=-1)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        return _scatter_windows(lambda p, q: gy * (idx == p * kw + q), x.shape,
                                kh, kw, sh, sw, 0, 0)


class AvgPool2d(_Pool2d):
    """Mean over each ``kh x kw`` window."""

    def forward(self, x, state=None):
        win = self._win(x)
        return win.mean(axis=(4, 5), dtype=x.dtype)

    def vjp_x(self, x, y, gy, state=None):
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        g = gy * gy.dtype.type(1.0 / (kh * kw))
        return _scatter_windows(lambda p, q: g, x.shape, kh, kw, sh, sw, 0, 0)


class Flatten(Layer):
    """``(N, d1, d2, ...) -> (N, d1*d2*...)`` (C order); the VJP reshapes back."""

    def forward(self, x, state=None):
        if not isinstance(x, np.ndarray) or x.ndim < 2:
            raise ValueError(f"x: Flatten expects an array with a batch axis and at least "
                             f"one more, got {getattr(x, 'shape', type(x).__name__)}")
        return x.reshape(x.shape[0], -1)

    def vjp_x(self, x, y, gy, state=None):
        return gy.reshape(x.shape)

    def forward_population(self, x, params):
        return self.forward(x)


class Unflatten(Layer):
    """``(N, prod(shape)) -> (N, *shape)``, e.g. ``Unflatten((1, 8, 8))`` for images."""

    def __init__(self, shape):
        super().__init__()
        shape = tuple(int(s) for s in shape)
        if not shape or min(shape) <= 0:
            raise ValueError(f"shape must be a non-empty tuple of positive ints, got "
                             f"{shape!r}")
        self.shape = shape
        self.n_in = int(np.prod(shape))

    def forward(self, x, state=None):
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"x: Unflatten{self.shape} expects (N, {self.n_in}), got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        return x.reshape(x.shape[0], *self.shape)

    def vjp_x(self, x, y, gy, state=None):
        return gy.reshape(x.shape)

    def __repr__(self):
        return f"Unflatten({self.shape})"

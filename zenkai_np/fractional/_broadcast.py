"""Broadcasting of (x, n) pairs for elementwise kernels without copying n.

The common case is a per-unit vector n of shape (units,) against a batch x of
shape (batch, units). The kernels take x flat and n as a short pattern that
repeats along the flat array (x[i] pairs with n[i % period]); only when n does
not broadcast as such a trailing block is it materialised at full size.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["broadcast_pair"]

# Short patterns are tiled to at least this many elements so that the kernel's
# vector loop is not dominated by pattern wrap-arounds.
_MIN_PATTERN = 512


def broadcast_pair(x: np.ndarray, n: np.ndarray, x_name="x", n_name="n"):
    """Return ``(x_flat, n_pattern, shape)`` for an elementwise kernel.

    ``x_flat`` is C-contiguous with ``prod(shape)`` elements; ``n_pattern`` is
    C-contiguous and its size divides ``x_flat.size`` (or both are empty).
    """
    try:
        shape = np.broadcast_shapes(x.shape, n.shape)
    except ValueError:
        raise ValueError(f"{x_name} and {n_name}: shapes {x.shape} and {n.shape} do not "
                         "broadcast together") from None
    size = math.prod(shape)
    if x.shape != shape:
        x = np.ascontiguousarray(np.broadcast_to(x, shape))
    x_flat = x.reshape(-1)
    if size == 0:
        return x_flat, np.zeros(1, dtype=n.dtype), shape
    nshape = (1,) * (len(shape) - n.ndim) + n.shape
    # Smallest axis a with n constant along axes < a and full along axes >= a.
    axis = len(shape)
    while axis > 0 and nshape[axis - 1] == shape[axis - 1]:
        axis -= 1
    if all(d == 1 for d in nshape[:axis]):
        pattern = np.ascontiguousarray(n).reshape(-1)
        if pattern.size == 0:
            pattern = np.zeros(1, dtype=n.dtype)
        period = pattern.size
        if period < _MIN_PATTERN and size > period:
            reps = min(-(-_MIN_PATTERN // period), size // period)
            pattern = np.tile(pattern, reps)
    else:
        pattern = np.ascontiguousarray(np.broadcast_to(n, shape)).reshape(-1)
    return x_flat, pattern, shape

"""The model-level dtype: ``default_dtype`` sets it for every layer built inside.

A layer given ``dtype=None`` (the default) takes the current default, float64
unless a ``with default_dtype(np.float32):`` block says otherwise, so a whole
network is built in one precision without telling each layer::

    with zk.default_dtype(np.float32):
        net = zk.Sequential(zk.GradLearner(zk.Linear(64, 256)), ...)

The setting is per thread and per asyncio task (a ``contextvars`` variable),
never process-global state.
"""
from __future__ import annotations

import contextlib
import contextvars

import numpy as np

from .._validation import _FLOATS

__all__ = ["default_dtype", "get_default_dtype", "resolve_dtype"]

# np.dtype objects are immutable, so sharing the default is safe
_DEFAULT = contextvars.ContextVar("zenkai_np_default_dtype",
                                  default=np.dtype(np.float64))  # noqa: B039


def resolve_dtype(dtype, name: str = "dtype") -> np.dtype:
    """``dtype`` as float32/float64; None means the current default."""
    if dtype is None:
        return _DEFAULT.get()
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name}: expected float32 or float64, got {dtype!r}") from None
    if dt not in _FLOATS:
        raise TypeError(f"{name} must be float32 or float64, got {dt}")
    return dt


def get_default_dtype() -> np.dtype:
    """The dtype layers built now get when given ``dtype=None``."""
    return _DEFAULT.get()


@contextlib.contextmanager
def default_dtype(dtype):
    """Context manager: layers built inside the block default to ``dtype``."""
    token = _DEFAULT.set(resolve_dtype(dtype))
    try:
        yield _DEFAULT.get()
    finally:
        _DEFAULT.reset(token)

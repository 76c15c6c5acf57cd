"""Weight initialisations shared by layers and feedback matrices."""
from __future__ import annotations

import numpy as np

__all__ = ["glorot_uniform"]


def glorot_uniform(rng: np.random.Generator, shape, dtype=np.float64, scale=1.0,
                   fans=None) -> np.ndarray:
    """U(±scale·sqrt(6 / (fan_in + fan_out))) of ``shape``, C-contiguous.

    ``fans = (fan_in, fan_out)``; default ``shape[:2]`` (a (fan_in, fan_out) matrix).  A
    convolution kernel passes its own (channels × kernel area).
    """
    fan_in, fan_out = shape[:2] if fans is None else fans
    lim = np.sqrt(6.0 / (fan_in + fan_out)) * float(scale)
    return np.ascontiguousarray(rng.uniform(-lim, lim, shape), dtype=dtype)

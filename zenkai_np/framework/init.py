"""Weight initialisations shared by layers and feedback matrices."""
from __future__ import annotations

import numpy as np

__all__ = ["glorot_uniform"]


def glorot_uniform(rng: np.random.Generator, shape, dtype=np.float64, scale=1.0) -> np.ndarray:
    """U(±scale·sqrt(6 / (fan_in + fan_out))) of ``shape`` = (fan_in, fan_out), C-contiguous."""
    lim = np.sqrt(6.0 / (shape[0] + shape[1])) * float(scale)
    return np.ascontiguousarray(rng.uniform(-lim, lim, shape), dtype=dtype)

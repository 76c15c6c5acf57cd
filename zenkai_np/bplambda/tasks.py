"""The line-drawing toy task of the BP(λ) paper (spec §3; the authors' ``linedraw.py``).

A 10-dim binary pattern (fixed generator seed 123) is shown only at t = 0
(zeros afterwards); the target is a 2-D point on the unit circle, scored by
MSE at the final step only. With ``n_points = 1`` (the paper's setting) every
sample is the same pattern/point pair, so the network must carry the input
through T steps of its own dynamics.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_random_state

__all__ = ["LineDrawTask"]


class LineDrawTask:
    """Batches ``(X (B, T, n_in), Y (B, T, 2), mask (T,))`` of the line-drawing task."""

    n_out = 2

    def __init__(self, seq_len=10, *, n_in=10, n_points=1, radius=1.0, seed=123):
        if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) \
                or seq_len < 1:
            raise ValueError(f"seq_len: expected a positive int, got {seq_len!r}")
        if n_points < 1:
            raise ValueError(f"n_points: expected a positive int, got {n_points!r}")
        gen = np.random.default_rng(seed)
        self.seq_len, self.n_in, self.n_points = int(seq_len), int(n_in), int(n_points)
        self.patterns = gen.integers(0, 2, (self.n_points, self.n_in)).astype(np.float64)
        angles = 2 * np.pi * np.arange(self.n_points) / self.n_points
        self.points = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)

    def sample(self, batch_size, rng=None, dtype=np.float64):
        rng = check_random_state(rng)
        k = rng.integers(0, self.n_points, batch_size)
        T = self.seq_len
        X = np.zeros((batch_size, T, self.n_in), dtype)
        X[:, 0] = self.patterns[k]
        Y = np.zeros((batch_size, T, 2), dtype)
        Y[:, -1] = self.points[k]
        mask = np.zeros(T, bool)
        mask[-1] = True
        return X, Y, mask

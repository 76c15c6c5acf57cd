"""The line-drawing toy task of the BP(λ) paper (the authors' ``linedraw_continuous.py``).

Patterns, as the authors draw them: ``numpy.random.RandomState(seed).choice(
2**n_in, n_points, replace=False)`` picks distinct integers, each written in
binary, right-aligned, as an ``n_in``-dim 0/1 pattern. Targets are
``radius · (sin a_k, cos a_k)`` with ``a_k = 2πk / n_points`` (so the single
target of ``n_points = 1`` is (0, 1)). The pattern is shown at t = 0 only
(zeros afterwards); Gaussian noise of standard deviation ``noise_std`` is
added to **every** input step (the authors' first commit: 0.1; HEAD: 0); the
loss is the MSE at the last step only.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_random_state

__all__ = ["LineDrawTask", "authors_patterns", "check_seq_len", "circle_points"]


def check_seq_len(seq_len, name="seq_len"):
    """A sequence length T >= 2 (one step has no future to learn from)."""
    if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(seq_len).__name__}")
    if seq_len < 2:
        raise ValueError(f"{name}: expected an int >= 2 (T < 2 has no future steps), "
                         f"got {seq_len}")
    return int(seq_len)


def authors_patterns(n_in: int, n_points: int, seed: int = 123) -> np.ndarray:
    """(n_points, n_in) distinct binary patterns drawn as in the authors' code."""
    if n_points > 2 ** n_in:
        raise ValueError(f"n_points: at most 2**n_in = {2 ** n_in} distinct patterns, "
                         f"got {n_points}")
    numbers = np.random.RandomState(seed).choice(2 ** n_in, size=n_points, replace=False)
    shifts = np.arange(n_in - 1, -1, -1)
    return ((numbers[:, None] >> shifts) & 1).astype(np.float64)


def circle_points(n_points: int, radius: float = 1.0) -> np.ndarray:
    """(n_points, 2): ``radius · (sin a, cos a)``, a = 0, 2π/n, ..."""
    a = np.linspace(0, 2 * np.pi, n_points, endpoint=False)
    return radius * np.stack([np.sin(a), np.cos(a)], axis=1)


class LineDrawTask:
    """Batches ``(X (B, T, n_in), Y (B, T, 2), mask (T,))`` of the line-drawing task."""

    n_out = 2

    def __init__(self, seq_len=10, *, n_in=10, n_points=1, radius=1.0, noise_std=0.0,
                 seed=123):
        self.seq_len = check_seq_len(seq_len)
        for name, v in (("n_in", n_in), ("n_points", n_points)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: expected a positive int, got {v!r}")
        if not (np.isfinite(noise_std) and noise_std >= 0):
            raise ValueError(f"noise_std: expected a finite number >= 0, got {noise_std!r}")
        if not (np.isfinite(radius) and radius > 0):
            raise ValueError(f"radius: expected a finite number > 0, got {radius!r}")
        self.n_in, self.n_points = int(n_in), int(n_points)
        self.noise_std = float(noise_std)
        self.patterns = authors_patterns(self.n_in, self.n_points, seed)
        self.points = circle_points(self.n_points, radius)

    def sample(self, batch_size, rng=None, dtype=np.float64):
        """One batch; pattern indices (and noise) drawn from ``rng``."""
        rng = check_random_state(rng)
        k = rng.integers(0, self.n_points, batch_size)
        T = self.seq_len
        X = np.zeros((batch_size, T, self.n_in))
        X[:, 0] = self.patterns[k]
        if self.noise_std > 0:
            X += self.noise_std * rng.standard_normal(X.shape)
        Y = np.zeros((batch_size, T, 2))
        Y[:, -1] = self.points[k]
        mask = np.zeros(T, bool)
        mask[-1] = True
        return X.astype(dtype), Y.astype(dtype), mask

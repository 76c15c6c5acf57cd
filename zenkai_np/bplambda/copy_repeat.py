"""The copy-repeat task (Graves et al. 2014) and its curriculum, as the BP(λ) authors set
them up (``src/dataset/copy_repeat.py``, ``scripts/copy-repeat.py``).

A sequence of N random ``bits``-dim patterns must be written out R times.
Length ``T = (R + 1)·N + 3``. Input (``bits + 2`` channels): a start delimiter
at t = 0, the patterns at t = 1..N, the repeat count ``R / norm_repeat`` at
t = N + 1. Target (``bits + 1`` channels): the patterns tiled R times at
t = N + 2 .. T − 2 and an end delimiter at T − 1. The loss (binary
cross-entropy) counts from t = N + 2 on. Curriculum: start at N = R = 1;
after any batch whose loss is below ``threshold`` bits (mean BCE / ln 2),
R += 1 if R < N, else N += 1.
"""
from __future__ import annotations

import math

import numpy as np

from .._validation import check_interval, check_random_state

__all__ = ["CopyRepeatTask"]


class CopyRepeatTask:
    """Batches ``(X (B, T, bits+2), Y (B, T, bits+1), mask (T,))`` at the current level."""

    def __init__(self, *, bits=8, norm_repeat=10.0, threshold=0.15, N=1, R=1, max_N=None):
        for name, v in (("bits", bits), ("N", N), ("R", R)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: expected a positive int, got {v!r}")
        if R > N:
            raise ValueError(f"R: the curriculum keeps R <= N, got R = {R} > N = {N}")
        self.threshold = check_interval(threshold, "threshold", 0.0, low_open=True)
        self.norm_repeat = check_interval(norm_repeat, "norm_repeat", 0.0, low_open=True)
        if max_N is not None and (isinstance(max_N, bool) or not isinstance(
                max_N, (int, np.integer)) or max_N < N):
            raise ValueError(f"max_N: expected None or an int >= N = {N}, got {max_N!r}")
        self.bits, self.N, self.R, self.max_N = int(bits), int(N), int(R), max_N
        self.n_in, self.n_out = self.bits + 2, self.bits + 1

    @property
    def seq_len(self) -> int:
        return (self.R + 1) * self.N + 3

    @property
    def level(self) -> tuple:
        return (self.N, self.R)

    def sample(self, batch_size, rng=None, dtype=np.float64):
        rng = check_random_state(rng)
        N, R, d = self.N, self.R, self.bits
        T = self.seq_len
        X = np.zeros((batch_size, T, d + 2))
        Y = np.zeros((batch_size, T, d + 1))
        seq = rng.integers(0, 2, (batch_size, N, d)).astype(np.float64)
        X[:, 0, d] = 1
        X[:, 1:N + 1, :d] = seq
        X[:, N + 1, d + 1] = R / self.norm_repeat
        Y[:, N + 2:T - 1, :d] = np.tile(seq, (1, R, 1))
        Y[:, T - 1, d] = 1
        mask = np.zeros(T, bool)
        mask[N + 2:] = True
        return X.astype(dtype), Y.astype(dtype), mask

    def update(self, batch_bce_nats: float) -> bool:
        """Apply the curriculum rule to one batch's mean BCE (nats); True if it advanced.

        ValueError for a non-finite loss, and when the level cannot advance
        (``max_N`` reached with R = N).
        """
        if not math.isfinite(batch_bce_nats) or batch_bce_nats < 0:
            raise ValueError(f"batch_bce_nats: expected a finite loss >= 0, got "
                             f"{batch_bce_nats!r}")
        if batch_bce_nats / math.log(2) >= self.threshold:
            return False
        if self.R < self.N:
            self.R += 1
        elif self.max_N is not None and self.N >= self.max_N:
            raise ValueError(f"curriculum: cannot advance past N = R = {self.N} "
                             f"(max_N = {self.max_N})")
        else:
            self.N += 1
        return True

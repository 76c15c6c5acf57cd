"""Adam with parameter groups, as the BP(λ) authors use it (β = (0.9, 0.98), ε = 1e-9)."""
from __future__ import annotations

import numpy as np

__all__ = ["GroupAdam"]


class GroupAdam:
    """Adam over named arrays updated in place; ``lrs`` maps each name to its learning rate.

    ``step(grads)`` applies one bias-corrected Adam step (PyTorch's formula) to
    every name in ``grads``; a learning rate of 0 leaves the parameter frozen.
    """

    def __init__(self, params: dict, lrs: dict, betas=(0.9, 0.98), eps=1e-9):
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"betas: expected values in [0, 1), got {betas}")
        if not eps > 0:
            raise ValueError(f"eps: expected a positive number, got {eps}")
        for name, lr in lrs.items():
            if not np.isfinite(lr) or lr < 0:
                raise ValueError(f"lr of {name!r}: expected a finite number >= 0, got {lr}")
        self.params = params
        self.lrs = dict(lrs)
        self.betas = (float(b1), float(b2))
        self.eps = float(eps)
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = {k: 0 for k in params}

    def step(self, grads: dict) -> None:
        b1, b2 = self.betas
        for name, g in grads.items():
            lr = self.lrs[name]
            if lr == 0:
                continue
            p, m, v = self.params[name], self.m[name], self.v[name]
            self.t[name] += 1
            t = self.t[name]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            step = lr / (1 - b1 ** t)
            denom = np.sqrt(v / (1 - b2 ** t)) + self.eps
            p -= (step * m / denom).astype(p.dtype, copy=False)

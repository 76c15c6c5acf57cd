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
        # moments of all trained (lr > 0) parameters of one dtype live in two flat
        # buffers (self.m[name] / self.v[name] are views), so that a step of all
        # of them at once is a few whole-buffer operations instead of ~12 per name
        self._flat = [k for k in params if self.lrs.get(k, 0) != 0]
        dtypes = {params[k].dtype for k in self._flat}
        if len(dtypes) != 1:
            self._flat = []
        self.m, self.v = {}, {}
        if self._flat:
            dt = dtypes.pop()
            sizes = [params[k].size for k in self._flat]
            self._m_flat = np.zeros(sum(sizes), dt)
            self._v_flat = np.zeros(sum(sizes), dt)
            self._slices = {}
            o = 0
            for k, n in zip(self._flat, sizes):
                self._slices[k] = slice(o, o + n)
                self.m[k] = self._m_flat[o:o + n].reshape(params[k].shape)
                self.v[k] = self._v_flat[o:o + n].reshape(params[k].shape)
                o += n
            self._g_flat = np.empty(o, dt)
            self._lr_flat = np.concatenate([np.full(n, self.lrs[k], np.float64)
                                            for k, n in zip(self._flat, sizes)])
            self._same_lr = len({self.lrs[k] for k in self._flat}) == 1
        for k, v in params.items():
            if k not in self.m:
                self.m[k] = np.zeros_like(v)
                self.v[k] = np.zeros_like(v)
        self.t = {k: 0 for k in params}

    def step(self, grads: dict) -> None:
        b1, b2 = self.betas
        flat = self._flat
        if flat and all(k in grads for k in flat) and all(
                self.lrs[k] == 0 for k in grads if k not in self._slices) and len(
                {self.t[k] for k in flat}) == 1:
            self._step_flat(grads)
            return
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

    def _step_flat(self, grads):
        """The same arithmetic as ``step``, element for element, on the flat buffers."""
        b1, b2 = self.betas
        g = self._g_flat
        for k in self._flat:
            g[self._slices[k]] = grads[k].reshape(-1)
        t = self.t[self._flat[0]] + 1
        for k in self._flat:
            self.t[k] = t
        m, v = self._m_flat, self._v_flat
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        c1 = 1 - b1 ** t
        denom = np.sqrt(v / (1 - b2 ** t)) + self.eps
        if self._same_lr:
            upd = self.lrs[self._flat[0]] / c1 * m
        else:  # per-element lr / c1, rounded to the dtype as the scalar would be
            upd = (self._lr_flat / c1).astype(m.dtype) * m
        upd /= denom
        for k in self._flat:
            p = self.params[k]
            p -= upd[self._slices[k]].reshape(p.shape).astype(p.dtype, copy=False)

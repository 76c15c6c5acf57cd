"""Planted teachers f(x) = Σ λ_i relu(<u_i, x>) (docs/moments.md): generic, close, t2cancel.

* generic:  u_i uniform on the sphere, λ_i = ±U[0.5, 1.5] with random signs;
* close:    generic, but u_2 at 0.15 rad from u_1 and λ_2 = −0.8 λ_1;
* t2cancel: neurons 1–4 in a random plane: an orthonormal pair with λ = +1 and
  the same pair rotated 45° with λ = −1, so T₂ = E[y(xxᵀ − I)] vanishes
  exactly; neurons beyond the 4th are generic.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_random_state

__all__ = ["Teacher", "make_teacher", "TEACHER_FAMILIES"]

TEACHER_FAMILIES = ("generic", "close", "t2cancel")


@dataclass
class Teacher:
    """A planted network: ``coef`` (k,) and unit ``directions`` (k, d)."""

    coef: np.ndarray
    directions: np.ndarray
    family: str = "generic"

    @property
    def d(self) -> int:
        return self.directions.shape[1]

    @property
    def k(self) -> int:
        return self.directions.shape[0]

    def predict(self, X):
        """f(X), shape (N,)."""
        return np.maximum(np.asarray(X) @ self.directions.T, 0.0) @ self.coef

    def sample(self, n_samples, rng=None, noise=0.0, dtype=np.float64):
        """(X, y) with X ~ N(0, I_d) of shape (n_samples, d) and y = f(X) + noise·ε."""
        rng = check_random_state(rng)
        X = rng.standard_normal((int(n_samples), self.d)).astype(dtype, copy=False)
        y = self.predict(X.astype(np.float64, copy=False))
        if noise:
            y = y + noise * rng.standard_normal(y.shape[0])
        return X, y


def _unit_rows(M):
    return M / np.linalg.norm(M, axis=1, keepdims=True)


def _generic(d, k, rng):
    U = _unit_rows(rng.standard_normal((k, d)))
    lam = rng.uniform(0.5, 1.5, k) * rng.choice([-1.0, 1.0], k)
    return lam, U


def make_teacher(family, d, k, rng=None) -> Teacher:
    """A random teacher of the given family with k neurons in d dimensions."""
    rng = check_random_state(rng)
    if family not in TEACHER_FAMILIES:
        raise ValueError(f"family: expected one of {TEACHER_FAMILIES}, got {family!r}")
    if family == "generic":
        lam, U = _generic(d, k, rng)
    elif family == "close":
        if k < 2 or d < 2:
            raise ValueError(f"close teacher needs k >= 2 and d >= 2, got k={k}, d={d}")
        lam, U = _generic(d, k, rng)
        v = rng.standard_normal(d)
        v -= (v @ U[0]) * U[0]
        v /= np.linalg.norm(v)
        U[1] = np.cos(0.15) * U[0] + np.sin(0.15) * v
        lam[1] = -0.8 * lam[0]
    else:
        if k < 4 or d < 2:
            raise ValueError(f"t2cancel teacher needs k >= 4 and d >= 2, got k={k}, d={d}")
        lam, U = _generic(d, k, rng)
        Q, _ = np.linalg.qr(rng.standard_normal((d, 2)))
        e1, e2 = Q[:, 0], Q[:, 1]
        c = s = np.sqrt(0.5)
        U[0], U[1] = e1, e2
        U[2], U[3] = c * e1 + s * e2, -s * e1 + c * e2
        lam[:4] = [1.0, 1.0, -1.0, -1.0]
    return Teacher(coef=lam, directions=U, family=family)

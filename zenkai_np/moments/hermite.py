"""Hermite polynomials and the Hermite coefficients of the ReLU (docs/moments.md).

Probabilists' Hermite polynomials He_m, and the scaled version
H_m(s; σ²) = σ^m He_m(s/σ) with H_0 = 1, H_1 = s and
H_{m+1} = s H_m − m σ² H_{m−1} (the only special function the contraction
kernel needs). The ReLU coefficients are c_ℓ = E[relu(z) He_ℓ(z)], z ~ N(0, 1):
c_0 = 1/√(2π), c_1 = 1/2, c_ℓ = φ(0) He_{ℓ−2}(0) for ℓ ≥ 2, i.e.
(−1)^{ℓ/2−1} (ℓ−3)!!/√(2π) for even ℓ and 0 for odd ℓ ≥ 3. The orthonormal
coefficient is a_ℓ = c_ℓ/√(ℓ!). For f(x) = Σ λ_i relu(<u_i, x>) with unit u_i
and x ~ N(0, I), E[f(x) He_ℓ(x)] = c_ℓ Σ λ_i u_i^{⊗ℓ}.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["relu_hermite_coefficient", "relu_hermite_coefficients",
           "relu_orthonormal_coefficient", "hermite_e", "hermite_scaled"]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _check_order(order, name="order") -> int:
    if isinstance(order, bool) or not isinstance(order, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {type(order).__name__}")
    order = int(order)
    if order < 0:
        raise ValueError(f"{name}: expected a non-negative int, got {order}")
    return order


def _double_factorial_odd(m: int) -> float:
    """(m)!! for odd m >= -1 ((−1)!! = 1)."""
    out = 1.0
    for j in range(m, 0, -2):
        out *= j
    return out


def relu_hermite_coefficient(order: int) -> float:
    """c_ℓ = E_{z~N(0,1)}[relu(z) He_ℓ(z)] (a float)."""
    order = _check_order(order)
    if order == 0:
        return _INV_SQRT_2PI
    if order == 1:
        return 0.5
    if order % 2:
        return 0.0
    sign = -1.0 if (order // 2 - 1) % 2 else 1.0
    return sign * _double_factorial_odd(order - 3) * _INV_SQRT_2PI


def relu_hermite_coefficients(max_order: int) -> np.ndarray:
    """Array ``[c_0, ..., c_max_order]`` (float64, shape (max_order + 1,))."""
    max_order = _check_order(max_order, "max_order")
    return np.array([relu_hermite_coefficient(l) for l in range(max_order + 1)])


def relu_orthonormal_coefficient(order: int) -> float:
    """a_ℓ = c_ℓ / √(ℓ!), the coefficient of relu in the orthonormal Hermite basis."""
    order = _check_order(order)
    if order < 2:
        return relu_hermite_coefficient(order) / math.sqrt(math.factorial(order))
    if order % 2:
        return 0.0
    # |c_ℓ| = (2m−1)!!/√(2π) with 2m = ℓ − 2, and (2m−1)!! = (2m)!/(2^m m!): in logs.
    m = (order - 2) // 2
    log_abs = (math.lgamma(2 * m + 1) - m * math.log(2.0) - math.lgamma(m + 1)
               - 0.5 * math.log(2.0 * math.pi) - 0.5 * math.lgamma(order + 1))
    sign = -1.0 if (order // 2 - 1) % 2 else 1.0
    return sign * math.exp(log_abs)


def hermite_scaled(m: int, s, sigma2=1.0) -> np.ndarray:
    """H_m(s; σ²) = σ^m He_m(s/σ) by the three-term recurrence (float64, shape of s)."""
    m = _check_order(m, "m")
    s = np.asarray(s, dtype=np.float64)
    prev, cur = np.zeros_like(s), np.ones_like(s)
    for j in range(m):
        prev, cur = cur, s * cur - j * sigma2 * prev
    return cur


def hermite_e(m: int, s) -> np.ndarray:
    """Probabilists' Hermite polynomial He_m(s) (float64, shape of s)."""
    return hermite_scaled(m, s, 1.0)

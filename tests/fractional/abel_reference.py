"""Independent mpmath evaluation of the Abel fractional iterate (50 digits).

Straight from the closed form (docs/fractional.md), with no shared
code with the kernels: psi, psi^-1, exp^(n) = psi^-1(psi(x) + n) and the
derivatives dy/dx = psi'(x)/psi'(y), dy/dn = 1/psi'(y).
Also the algorithm's condition number, the error bound the tests scale eps by.
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 50


def psi(x):
    x = mp.mpf(x)
    if x < 0:
        return mp.expm1(x)
    k = 0
    while x >= 1:
        x = mp.log(x)
        k += 1
    return x + k


def psi_prime(x):
    x = mp.mpf(x)
    if x < 0:
        return mp.exp(x)
    d = mp.mpf(1)
    while x >= 1:
        d /= x
        x = mp.log(x)
    return d


def psi_inv(p):
    p = mp.mpf(p)
    if p <= -1:
        return mp.nan
    if p < 0:
        return mp.log1p(p)
    k = int(mp.floor(p))
    y = p - k
    for _ in range(k):
        y = mp.exp(y)
    return y


def fracexp(x, n):
    """(y, dy/dx, dy/dn) as mpf; NaN outside the domain."""
    p = psi(x) + mp.mpf(n)
    if p <= -1:
        return mp.nan, mp.nan, mp.nan
    y = psi_inv(p)
    dpy = psi_prime(y)
    return y, psi_prime(x) / dpy, 1 / dpy


def near_knot(x, n, tol=1e-3):
    """True where psi(x) or psi(x)+n is within tol of an integer (C^1 knots)."""
    p0 = psi(x)
    return any(abs(v - mp.nint(v)) < tol for v in (p0, p0 + mp.mpf(n)))


def algorithmic_condition(x, n, y, dydx, dydn):
    """Relative sensitivity of y to one rounding of x and of p = psi(x) + n.

    The construction adds integers inside psi, so p carries an absolute
    rounding error of ~eps * |p|; through dy/dn that is the dominant term for
    iterated exponentials (the spec's prototype sees 4e-13 on exp o exp).
    """
    p = np.abs(n) + 1 + np.log1p(np.abs(x))  # >= |psi(x) + n| (psi grows like log)
    return 1 + (np.abs(x * dydx) + p * np.abs(dydn)) / np.abs(y)

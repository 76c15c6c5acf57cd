"""Independent mpmath reference for the Schröder form of exp^(n) (docs/fractional.md, "Accuracy").

Koenigs limits at 60 digits with r0 = 1e-32 and the branch Im L in
[-0.5, 2 pi - 0.5); no series coefficients are involved:

* chi(z)    = c^k (L^k z - c), k the first index with |L^k z - c| <= r0;
* chi^-1(w) = exp^(k)(c + w / c^k), k the first index with |w / c^k| <= r0;
* exp^(n)(z) = chi^-1(c^n chi(z)), c^n = exp(n c).
"""
from __future__ import annotations

import mpmath as mp

DPS = 60
R0 = mp.mpf("1e-32")
LBP = mp.mpf("-0.5")


def _c():
    with mp.workdps(DPS):
        return mp.conj(-mp.lambertw(-1, 0))


def branch_log(z):
    """L(z) = log|z| + i arg z with arg in [-0.5, 2 pi - 0.5)."""
    th = mp.arg(z)
    if th < LBP:
        th += 2 * mp.pi
    return mp.log(abs(z)) + 1j * th


def chi(z, max_iter=2000):
    with mp.workdps(DPS):
        c = _c()
        z = mp.mpc(z)
        k = 0
        while abs(z - c) > R0:
            z = branch_log(z)
            k += 1
            if k > max_iter:
                raise ArithmeticError("Koenigs limit did not converge")
        return c ** k * (z - c)


def chi_inv(w, max_iter=4000):
    with mp.workdps(DPS):
        c = _c()
        w = mp.mpc(w)
        k = 0
        while abs(w) > R0:
            w = w / c
            k += 1
            if k > max_iter:
                raise ArithmeticError("too many steps")
        z = c + w
        for _ in range(k):
            z = mp.exp(z)
        return z


def fracexp(z, n):
    """exp^(n)(z), Schröder form, as a Python complex."""
    with mp.workdps(DPS):
        c = _c()
        w = mp.exp(mp.mpf(n) * c) * chi(z)
        return complex(chi_inv(w))


def fracexp_mp(z, n):
    """Same, as an mpmath mpc (for finite differences at high precision)."""
    with mp.workdps(DPS):
        c = _c()
        return chi_inv(mp.exp(mp.mpf(n) * c) * chi(z))


def fracexp_derivatives(z, n, h="1e-12"):
    """(dy/dz, dy/dn) by central differences at 60 digits (error ~h^2; much smaller h
    meets the 1e-32 noise of the Koenigs truncation)."""
    with mp.workdps(DPS):
        h = mp.mpf(h)
        z = mp.mpc(z)
        n = mp.mpf(n)
        dz = (fracexp_mp(z + h, n) - fracexp_mp(z - h, n)) / (2 * h)
        dn = (fracexp_mp(z, n + h) - fracexp_mp(z, n - h)) / (2 * h)
        return complex(dz), complex(dn)

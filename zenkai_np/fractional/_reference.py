"""NumPy references of the fractional-iterate kernels, for the tests and the bench alike.

* :class:`AbelNumpy` — the branch-free NumPy formulation of the Abel iterate
  (value and both derivatives), in cache-sized chunks with every temporary
  preallocated and reused (``out=``): the fastest way we know to write this
  maths in NumPy.
* :class:`SchroederNumpy` — the Schröder algorithm of the kernel (log chain to
  the disc |z - c| <= 1/2, the phi and eta series by Horner, the c^k tables,
  the masked exp chain) with NumPy complex arrays, on the kernel's own series
  (``_schroeder_coeffs``: 32 phi and 25 eta terms, generated with the C++ tables).

The maths is in docs/fractional.md. The independent high-precision oracles
(mpmath) the kernels are tested against live with the tests
(tests/fractional/abel_reference.py, schroeder_reference.py).
"""
from __future__ import annotations

import numpy as np

from . import _schroeder_coeffs as coeffs

__all__ = ["AbelNumpy", "SchroederNumpy"]


class AbelNumpy:
    """Abel iterate ``(y, dy/dx, dy/dn)`` in NumPy, ``chunk`` elements at a time.

    psi(x)    = expm1(min(x,0)) + sum_j min(c_j, 1),  c_0 = max(x,0), c_{j+1} = log(max(c_j,1))
    psi^-1(p) = log1p(min(p,0)) + phi^K(max(p,0) - K), phi(s) = exp(max(s,0)) + min(s,0)

    Derivatives ride along: psi'(x) = exp(min(x,0)) / prod_j max(c_j,1) and
    (psi^-1)'(p) = prod_j exp(max(s_j,0)) / (1 + min(p,0)). A fixed number of
    log (``N_LOGS + 1``) and exp (``N_EXPS``) passes: exact for x < e^e^e^e and
    psi(x) + n < ``N_EXPS``. y is NaN where psi(x) + n <= -1, as the kernel's;
    there the derivatives are not meaningful (the kernel gives NaN).
    """

    N_LOGS = 4
    N_EXPS = 5

    def __init__(self, dtype=np.float64, chunk=4096):
        self.chunk = chunk
        self.buf = [np.empty(chunk, dtype) for _ in range(6)]

    def grad(self, x, n, y, dydx, dydn):
        """Fill the 1-D arrays ``y, dydx, dydn`` (x.shape) from 1-D ``x`` and ``n``."""
        c = self.chunk
        for lo in range(0, x.size, c):
            hi = min(lo + c, x.size)
            self._grad_chunk(x[lo:hi], n[lo:hi], y[lo:hi], dydx[lo:hi], dydn[lo:hi])
        return y, dydx, dydn

    def _grad_chunk(self, x, n, y, dydx, dydn):
        m = x.size
        psi, cj, t, den, s, prod = (b[:m] for b in self.buf)
        # psi(x) and psi'(x) = dydx (numerator) / den
        np.minimum(x, 0, out=t)
        np.expm1(t, out=psi)
        np.exp(t, out=dydx)
        np.maximum(x, 0, out=cj)
        den.fill(1)
        for _ in range(self.N_LOGS + 1):
            np.minimum(cj, 1, out=t)
            psi += t
            np.maximum(cj, 1, out=cj)
            den *= cj
            np.log(cj, out=cj)
        psi += n                                   # p
        # psi^-1(p) and (psi^-1)'(p) = prod / (1 + min(p, 0))
        np.maximum(psi, 0, out=s)
        s -= self.N_EXPS
        prod.fill(1)
        for _ in range(self.N_EXPS):
            np.minimum(s, 0, out=t)
            np.maximum(s, 0, out=s)
            np.exp(s, out=s)
            prod *= s
            s += t
        np.minimum(psi, 0, out=t)
        np.log1p(t, out=y)
        y += s
        t += 1
        den *= t
        np.divide(prod, t, out=dydn)
        dydx *= prod
        dydx /= den


class SchroederNumpy:
    """Schröder iterate ``grad(z, n) -> (y, dy/dz, dy/dn)`` with NumPy complex arrays.

    The kernel's algorithm and series, chunked, each chain working only on the
    elements still active (index compaction).
    """

    def __init__(self, chunk=16384):
        self.c = coeffs.FIXED_POINT
        self.phi = np.array(coeffs.PHI)
        self.eta = np.array(coeffs.ETA)
        self.cpow = np.array(coeffs.CPOW)
        self.cinv = np.array(coeffs.CINVPOW)
        self.kmax = coeffs.MAX_ITER
        self.chunk = chunk
        self.logc = np.log(abs(self.c))

    @staticmethod
    def _series(coef, t):
        """sum_m coef[m-1] t^m and its derivative, by Horner."""
        p = np.full(t.shape, coef[-1], dtype=complex)
        d = np.zeros(t.shape, dtype=complex)
        for a in coef[-2::-1]:
            d *= t
            d += p
            p *= t
            p += a
        return t * p, p + t * d

    def _grad_chunk(self, z, n):
        c = self.c
        x = z.astype(complex)
        k = np.zeros(z.shape, dtype=np.int64)
        prod = np.ones(z.shape, dtype=complex)
        idx = np.flatnonzero(np.abs(x - c) > 0.5)
        for _ in range(self.kmax):
            if idx.size == 0:
                break
            xa = x[idx]
            prod[idx] *= xa
            la = np.log(xa)
            la += 2j * np.pi * (la.imag < -0.5)
            x[idx] = la
            k[idx] += 1
            idx = idx[np.abs(la - c) > 0.5]
        t = x - c
        ph, dph = self._series(self.phi, t)
        ck = self.cpow[k]
        chi = ck * ph
        dchi = ck * dph / prod
        cn = np.exp(n * c)
        w = cn * chi
        aw = np.abs(w)
        k2 = np.ceil(np.log(np.where(aw > 0, aw, 1.0)) / self.logc)
        k2 = np.clip(k2, 0, self.kmax).astype(np.int64)
        ci = self.cinv[k2]
        u = w * ci
        et, det = self._series(self.eta, u)
        e = c + et
        eprod = np.ones(z.shape, dtype=complex)
        for j in range(1, int(k2.max(initial=0)) + 1):
            idx = np.flatnonzero(k2 >= j)
            ee = np.exp(e[idx])
            e[idx] = ee
            eprod[idx] *= ee
        dinv = ci * det * eprod
        return e, dinv * cn * dchi, dinv * w * c

    def grad(self, z, n):
        """Flat complex128 ``(y, dy/dz, dy/dn)`` for ``z`` and ``n`` of one size (or scalar n)."""
        z = np.asarray(z).reshape(-1)
        n = np.broadcast_to(n, z.shape) if np.ndim(n) == 0 else n
        n = np.asarray(n).reshape(-1)
        y = np.empty(z.size, complex)
        dz = np.empty(z.size, complex)
        dn = np.empty(z.size, complex)
        with np.errstate(all="ignore"):
            for lo in range(0, z.size, self.chunk):
                hi = min(z.size, lo + self.chunk)
                y[lo:hi], dz[lo:hi], dn[lo:hi] = self._grad_chunk(z[lo:hi], n[lo:hi])
        return y, dz, dn

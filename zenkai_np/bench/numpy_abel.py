"""Branch-free NumPy formulation of the Abel fractional iterate (benchmark reference).

psi(x)    = expm1(min(x,0)) + sum_j min(c_j, 1),  c_0 = max(x,0), c_{j+1} = log(max(c_j,1))
psi^-1(p) = log1p(min(p,0)) + phi^K(max(p,0) - K), phi(s) = exp(max(s,0)) + min(s,0)

Derivatives ride along: psi'(x) = exp(min(x,0)) / prod_j max(c_j,1) and
(psi^-1)'(p) = prod_j exp(max(s_j,0)) / (1 + min(p,0)). Processed in
cache-sized chunks with every temporary preallocated and reused (``out=``),
which is the fastest way we know to write this maths in NumPy.
"""
import numpy as np

N_LOGS = 4
N_EXPS = 5


class AbelNumpy:
    """Reusable-buffer evaluator of (y, dy/dx, dy/dn); ``chunk`` elements at a time."""

    def __init__(self, dtype=np.float64, chunk=4096):
        self.chunk = chunk
        self.buf = [np.empty(chunk, dtype) for _ in range(6)]

    def grad(self, x, n, y, dydx, dydn):
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
        for _ in range(N_LOGS + 1):
            np.minimum(cj, 1, out=t)
            psi += t
            np.maximum(cj, 1, out=cj)
            den *= cj
            np.log(cj, out=cj)
        psi += n                                   # p
        # psi^-1(p) and (psi^-1)'(p) = prod / (1 + min(p, 0))
        np.maximum(psi, 0, out=s)
        s -= N_EXPS
        prod.fill(1)
        for _ in range(N_EXPS):
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

"""Schröder fractional iterate: value + both derivatives (``fracexp_schroeder_grad``).

Reference: the same algorithm (log chain to the disc |z - c| <= 1/2, the phi
and eta series by Horner, the c^k tables, the masked exp chain) written with
NumPy complex arrays in cache-sized chunks, each chain working only on the
elements still active (index compaction), the fastest NumPy form we know.
Inputs: x ~ U(-5, 5) (real) with a per-unit n ~ U(-1, 1) of 256 units. Also
reported: ``np.exp`` in the same run, so that the ns/element figure can be read
against the speed of this machine.
"""
from __future__ import annotations

import numpy as np

import zenkai_np as zk
from zenkai_np.fractional.schroeder import fracexp_schroeder, fracexp_schroeder_grad

from ._harness import Result, median_time

_C = complex(0.31813150520476414, 1.3372357014306894)


def _coefficients(n_phi=34, n_eta=26, kmax=64):
    """phi, eta (spec §3.2 recursions, in complex double) and c^{+-k} tables."""
    c = _C
    n = max(n_phi, n_eta)
    eta = [0j] * (n + 1)
    E = [0j] * (n + 1)
    eta[1], E[0], E[1] = 1 + 0j, 1 + 0j, 1 + 0j
    for m in range(2, n + 1):
        R = sum(j * eta[j] * E[m - j] for j in range(1, m)) / m
        eta[m] = c * R / (c ** m - c)
        E[m] = eta[m] + R
    # reversion phi(eta(u)) = u, order by order with truncated powers of eta
    powers = [None, np.array(eta)]
    for _ in range(2, n + 1):
        powers.append(np.convolve(powers[-1], eta)[: n + 1])
    phi = [0j] * (n + 1)
    phi[1] = 1 + 0j
    for m in range(2, n + 1):
        phi[m] = -sum(phi[j] * powers[j][m] for j in range(1, m))
    k = np.arange(kmax + 1)
    return (np.array(phi[1:n_phi + 1]), np.array(eta[1:n_eta + 1]),
            c ** k.astype(complex), c ** (-k.astype(complex)))


class SchroederNumpy:
    """``grad(z, n) -> (y, dy_dz, dy_dn)`` with NumPy complex arrays."""

    def __init__(self, chunk=16384):
        self.phi, self.eta, self.cpow, self.cinv = _coefficients()
        self.chunk = chunk
        self.logc = np.log(abs(_C))

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
        c = _C
        x = z.astype(complex)
        k = np.zeros(z.shape, dtype=np.int64)
        prod = np.ones(z.shape, dtype=complex)
        idx = np.flatnonzero(np.abs(x - c) > 0.5)
        for _ in range(64):
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
        k2 = np.clip(k2, 0, 64).astype(np.int64)
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
        z = np.asarray(z).reshape(-1)
        n = np.broadcast_to(n, np.asarray(z).shape) if np.ndim(n) == 0 else n
        n = np.asarray(n).reshape(-1)
        y = np.empty(z.size, complex)
        dz = np.empty(z.size, complex)
        dn = np.empty(z.size, complex)
        with np.errstate(all="ignore"):
            for lo in range(0, z.size, self.chunk):
                hi = min(z.size, lo + self.chunk)
                y[lo:hi], dz[lo:hi], dn[lo:hi] = self._grad_chunk(z[lo:hi], n[lo:hi])
        return y, dz, dn


def run(*, quick: bool, threads: list) -> list:
    size = 65_536 if quick else 262_144
    repeat = 3 if quick else 5
    units = 256
    rng = np.random.default_rng(0)
    x = rng.uniform(-5, 5, (size // units, units))
    n = rng.uniform(-1, 1, units)
    nfull = np.ascontiguousarray(np.broadcast_to(n, x.shape))
    ref = SchroederNumpy()
    yr, dzr, dnr = ref.grad(x, nfull)
    y, dz, dn = fracexp_schroeder_grad(x, n, n_threads=1)
    agree = max(float(np.max(np.abs(a.reshape(-1) - b) / np.maximum(np.abs(b), 1e-300)))
                for a, b in ((y, yr), (dz, dzr), (dn, dnr)))
    t_ref = median_time(lambda: ref.grad(x, nfull), repeat=repeat)
    xe = rng.uniform(-5, 5, size)
    t_exp = median_time(lambda: np.exp(xe), repeat=repeat)
    extra = {"max_rel_diff_vs_numpy": agree, "np_exp_ns_per_elem": t_exp / size * 1e9}
    rows = []

    def row(kernel, t, nt, dtype="float64", path=None, ref_ms=t_ref * 1e3,
            ref_name="NumPy complex, same algorithm, chunked, 1 thread"):
        rows.append(Result(kernel=kernel, case=f"{size} U(-5,5), n~U(-1,1)/unit",
                           dtype=dtype, threads=nt, simd=path or zk.simd_path(),
                           ours_ms=t * 1e3, ref_ms=ref_ms, ref_name=ref_name,
                           throughput=f"{t / size * 1e9:.1f} ns/elem",
                           extra=dict(extra, ns_per_elem=t / size * 1e9,
                                      ratio_to_np_exp=(t / size) / (t_exp / size))))

    outs = tuple(np.empty(x.shape, complex) for _ in range(3))  # reused across calls
    for nt in threads:
        t = median_time(lambda: fracexp_schroeder_grad(x, n, out=outs, n_threads=nt),
                        repeat=repeat)
        row("fracexp_schroeder_grad", t, nt)
    out = np.empty(x.shape, complex)
    t = median_time(lambda: fracexp_schroeder(x, n, out=out, n_threads=1), repeat=repeat)
    row("fracexp_schroeder value only", t, 1, ref_name="NumPy (value+grads)")
    x32, n32 = x.astype(np.float32), n.astype(np.float32)
    outs32 = tuple(np.empty(x.shape, np.complex64) for _ in range(3))
    t = median_time(lambda: fracexp_schroeder_grad(x32, n32, out=outs32, n_threads=1),
                    repeat=repeat)
    row("fracexp_schroeder_grad", t, 1, dtype="float32",
        ref_name="NumPy complex128 (same algorithm)")
    if not quick:
        # interleaved pairs (this machine is shared: load drifts between the
        # separate medians above); median of per-pair ratios
        import time
        t_ours, t_np = [], []
        for _ in range(15):
            t0 = time.perf_counter()
            fracexp_schroeder_grad(x, n, out=outs, n_threads=1)
            t1 = time.perf_counter()
            ref.grad(x, nfull)
            t2 = time.perf_counter()
            t_ours.append(t1 - t0)
            t_np.append(t2 - t1)
        ratios = sorted(b / a for a, b in zip(t_ours, t_np))
        t_med = sorted(t_ours)[len(t_ours) // 2]
        rows.append(Result(
            kernel="fracexp_schroeder_grad interleaved", case=f"{size}, 15 pairs",
            dtype="float64", threads=1, simd=zk.simd_path(), ours_ms=t_med * 1e3,
            ref_ms=sorted(t_np)[len(t_np) // 2] * 1e3,
            ref_name="NumPy, alternating calls", throughput=f"{t_med / size * 1e9:.1f} ns/elem",
            extra=dict(extra, ns_per_elem=t_med / size * 1e9,
                       median_pair_speedup=ratios[len(ratios) // 2])))
        for path in zk.supported_simd_paths():
            with zk.use_simd_path(path):
                t = median_time(lambda: fracexp_schroeder_grad(x, n, out=outs, n_threads=1),
                                repeat=repeat)
            row("fracexp_schroeder_grad by path", t, 1, path=path)
    rows.append(Result(kernel="np.exp (machine speed)", case=f"{size} U(-5,5)",
                       dtype="float64", threads=1, simd="numpy", ours_ms=t_exp * 1e3,
                       ref_ms=t_exp * 1e3, ref_name="itself",
                       throughput=f"{t_exp / size * 1e9:.2f} ns/elem"))
    return rows


if __name__ == "__main__":  # pragma: no cover
    import argparse
    import json

    from ._harness import format_table

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--json")
    a = ap.parse_args()
    res = run(quick=a.quick, threads=[int(t) for t in a.threads.split(",")])
    print(format_table(res))
    for r in res:
        if r.extra:
            shown = {k: (v if k == "max_rel_diff_vs_numpy" else round(v, 3))
                     for k, v in r.extra.items()}
            print(r.kernel, r.dtype, r.threads, r.simd, shown)
    if a.json:
        with open(a.json, "w") as f:
            json.dump([r.as_dict() for r in res], f, indent=1)

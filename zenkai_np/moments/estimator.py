"""ReLUMomentRegressor: RC-learn (docs/moments.md), random contractions of
Hermite moment tensors, then multistart and full-dimension L-BFGS.

Model: f(x) = Σ_{i≤k} λ_i relu(<u_i, x>), ‖u_i‖ = 1, x ~ N(0, I_d), no biases.

Steps (defaults as in docs/moments.md):

1. Low-order moments with control variates: t̂₁, T̂₂ and the residual
   r = y − ȳ − <t̂₁, x> − ½(xᵀT̂₂x − tr T̂₂); split-half noise levels τ₁, τ₂.
2. Subspace V (d, k): eigenvectors of T̂₂ with |eigenvalue| > τ₂, plus t̂₁'s
   orthogonal part if above τ₁ (dimension m_A). If m_A < k, two rounds of
   R = 4k order-4 contractions with g drawn inside the basis found so far;
   the top k − m_A eigenvectors of Q₄ = mean_r (P⊥ M̂₄(g_r) P⊥)²/c₄² are added
   (this finds neurons hidden from T₂ by cancellation). Q₄ is formed from
   the R gram-mode contractions of one kernel pass and diagonalised exactly
   (instead of 15 orthogonal iterations of the apply kernel: cheaper for
   d ≤ a few hundred and the same estimator).
3. Neurons inside V (z = Vᵀx): ± top eigenvectors of k×k contractions at
   ℓ ∈ {4, 6} (100 draws each) and of 5 Jennrich pairs, greedy clustering
   at 8°, starts from backward elimination, random k-subsets and random
   directions; L-BFGS on ≤ 20 000 rows (10 000 by default; successive
   halving: every start gets 40 iterations, the best 3 run to 200).
4. Full-dimension L-BFGS over (a, W) (gtol 1e-12): first on 20 000 random
   rows (≤ 1000 iterations), then on all rows (≤ 200 more); renormalise to
   unit directions.

``faithful=True`` (for d ≲ 20) adds full-space ℓ = 4 and 6 directions to the
step-2 search and ℓ = 8 to the step-3 candidates.
"""
from __future__ import annotations

import numbers
import time

import numpy as np

from .._validation import check_random_state
from .._threads import limit_blas_threads
from ._sklearn_base import BaseEstimator, RegressorMixin, not_fitted, validate_xy, validate_x
from .contract import hermite_contract, hermite_moment2, quadratic_form
from .dask_fit import (check_dask_xy, control_variate_residual_dask, is_dask,
                       refine_two_stage_dask, take_rows)
from .hermite import relu_hermite_coefficient
from .network import fit_relu_net_lbfgs, refine_two_stage, relu_net_predict

__all__ = ["ReLUMomentRegressor", "control_variate_residual", "moment_subspace"]


def _relu(t):
    return np.maximum(t, 0.0)


def control_variate_residual(X, y, *, n_threads=None):
    """Step 1: (t̂₁, T̂₂, r, τ₁, τ₂) with the unbiased control variates.

    t̂₁ (d,), T̂₂ (d, d), residual r (N,); τ₁ = ‖t̂₁ᵃ − t̂₁ᵇ‖ and τ₂ = ‖T̂₂ᵃ − T̂₂ᵇ‖_op
    from the two halves of the rows.
    """
    N, d = X.shape
    y0 = y - y.mean()
    h = N // 2
    t1a = X[:h].T @ y0[:h] / h
    t1b = X[h:].T @ y0[h:] / (N - h)
    t1 = (h * t1a + (N - h) * t1b) / N
    r1 = y0 - X @ t1
    T2a = hermite_moment2(X[:h], r1[:h], n_threads=n_threads)
    T2b = hermite_moment2(X[h:], r1[h:], n_threads=n_threads)
    T2 = (h * T2a + (N - h) * T2b) / N
    T2 = 0.5 * (T2 + T2.T)
    q = quadratic_form(X, T2, n_threads=n_threads)
    r = r1 - 0.5 * (q - np.trace(T2))
    tau1 = float(np.linalg.norm(t1a - t1b))
    tau2 = float(np.linalg.norm(T2a - T2b, 2))
    return t1, T2, r, tau1, tau2


def _orthonormal(M):
    if M.shape[1] == 0:
        return M
    Q, _ = np.linalg.qr(M)
    return Q


def moment_subspace(X, r, k, t1, T2, tau1, tau2, rng, *, n_directions=None, n_rounds=2,
                    faithful=False, n_threads=None):
    """Step 2: (V (d, k) orthonormal, m_A, T₂-only basis (d, k))."""
    N, d = X.shape
    evals, evecs = np.linalg.eigh(T2)
    order = np.argsort(-np.abs(evals))
    top = order[:k]
    t2_basis = evecs[:, top]
    A = evecs[:, [i for i in top if abs(evals[i]) > tau2]]
    if A.shape[1] < k:
        t_perp = t1 - A @ (A.T @ t1)
        if np.linalg.norm(t_perp) > tau1 and np.linalg.norm(t_perp) > 0:
            A = np.hstack([A, (t_perp / np.linalg.norm(t_perp))[:, None]])
    m_A = A.shape[1]
    if m_A >= k:
        return _orthonormal(A[:, :k]), m_A, t2_basis
    R = n_directions if n_directions is not None else 4 * k
    c4sq = relu_hermite_coefficient(4) ** 2
    P = np.eye(d) - A @ A.T
    basis = A
    for _ in range(n_rounds):
        if basis.shape[1] == 0:
            G = rng.standard_normal((d, R))
        else:
            G = basis @ rng.standard_normal((basis.shape[1], R))
        M = hermite_contract(X, r, G, 4, n_threads=n_threads)
        PMP = P @ M @ P
        Q = np.einsum("rij,rjk->ik", PMP, PMP) / (R * c4sq)
        if faithful:
            for ell in (4, 6):
                Gf = rng.standard_normal((d, R))
                Mf = P @ hermite_contract(X, r, Gf, ell, n_threads=n_threads) @ P
                Qf = np.einsum("rij,rjk->ik", Mf, Mf) / R
                # Normalise so a neuron's mean contribution matches the ℓ = 4 in-span scale.
                Q += Qf / (relu_hermite_coefficient(ell) ** 2 * d ** (ell - 2) / k ** 2)
        w, U = np.linalg.eigh(0.5 * (Q + Q.T))
        C = U[:, np.argsort(-w)[:k - m_A]]
        basis = np.hstack([A, C])
    return _orthonormal(basis), m_A, t2_basis


def _top_eigvec(M):
    w, U = np.linalg.eigh(0.5 * (M + M.T))
    return U[:, np.argmax(np.abs(w))]


def _cluster_directions(cands, angle_deg, max_clusters):
    """Greedy clustering of unit vectors at ``angle_deg``; centres ranked by size."""
    cos_t = np.cos(np.deg2rad(angle_deg))
    centres, sums, sizes = [], [], []
    for c in cands:
        if centres:
            sims = np.array(centres) @ c
            j = int(np.argmax(sims))
            if sims[j] >= cos_t:
                sums[j] += c
                sizes[j] += 1
                continue
        centres.append(c.copy())
        sums.append(c.copy())
        sizes.append(1)
    order = np.argsort(-np.array(sizes), kind="stable")[:max_clusters]
    out = np.array([sums[i] / np.linalg.norm(sums[i]) for i in order])
    return out, np.array(sizes)[order]


def _lstsq_weights(F, y, ridge=1e-12):
    G = F.T @ F
    G[np.diag_indices_from(G)] += ridge * max(np.trace(G) / max(G.shape[0], 1), 1e-300)
    return np.linalg.solve(G, F.T @ y)


def _backward_elimination(F, y, k, ridge=1e-12):
    """Indices of k columns of F kept by greedy backward elimination (normal equations)."""
    G = F.T @ F
    b = F.T @ y
    G[np.diag_indices_from(G)] += ridge * max(np.trace(G) / max(G.shape[0], 1), 1e-300)
    keep = list(range(F.shape[1]))
    while len(keep) > k:
        best, best_fit = None, -np.inf
        for j in keep:
            S = [i for i in keep if i != j]
            sol = np.linalg.solve(G[np.ix_(S, S)], b[S])
            fit = float(b[S] @ sol)  # y'y − RSS
            if fit > best_fit:
                best, best_fit = j, fit
        keep.remove(best)
    return keep


class ReLUMomentRegressor(RegressorMixin, BaseEstimator):
    """Learn f(x) = Σ_{i≤k} λ_i relu(<u_i, x>) from Gaussian samples by RC-learn.

    ``fit`` takes NumPy arrays or dask arrays (X (N, d) and y (N,) with the
    same row chunks): with dask every pass over the data is a blocked
    reduction on dask's current scheduler (e.g. a ``distributed.Client``) and
    only sums and the ≤ 20 000 search/refinement rows reach the client; the
    fitted model matches the in-memory one to rounding.  With scikit-learn
    installed this is a scikit-learn regressor (it passes
    ``parametrize_with_checks``).

    Parameters
    ----------
    n_neurons : int
        k, the number of hidden units (1 ≤ k ≤ d).
    n_directions : int, optional
        R, order-4 directions per subspace round (default 4k).
    n_rounds : int
        Subspace-search rounds when T₂ misses neurons (default 2).
    candidate_orders : tuple of int
        Even orders of the in-subspace contractions (default (4, 6)).
    n_candidate_draws : int
        Random directions per candidate order (default 100).
    n_jennrich : int
        Jennrich pairs (default 5).
    cluster_angle : float
        Clustering angle in degrees (default 8).
    n_subset_starts, n_random_starts : int
        Multistart sizes (default 10 and 30).
    search_rows : int
        Rows used by the k-dimensional search (default 10 000; the method allows ≤ 20 000).
    search_maxiter : int
        L-BFGS iterations per surviving start (default 200).
    search_short_maxiter, n_survivors : int
        Successive halving: every start first runs ``search_short_maxiter``
        iterations (default 40); the ``n_survivors`` best (default 3) continue.
    refine_rows : int
        Rows of the first full-dimension refinement (default 20 000; then all rows).
    refine_maxiter : int, refine_gtol : float
        Full-dimension L-BFGS limits (default 1000, 1e-12).
    refine_full_maxiter : int
        Iteration cap of the final all-rows stage when a row subset was refined
        first (default 200: from the subset optimum it needs few).
    faithful : bool
        Also search with full-space directions at ℓ = 4, 6 and use ℓ = 8
        candidates (needs N ≫ d^{ℓ−1}; for d ≲ 20).
    rng : None, int or numpy.random.Generator
    verbose : int
        0 silent, 1 prints one line per step.
    n_threads : int, optional
        Threads of the contraction kernel.

    Attributes
    ----------
    coef_ : (k,) λ̂;  directions_ : (k, d) unit û;  subspace_ : (d, k) V;
    t2_subspace_ : (d, k) top-k |eigenvalue| eigenvectors of T̂₂ (the T₂-only
    subspace); n_subspace_from_t2_ : m_A; train_loss_ : ½ mean((f̂ − y)²)/mean(y²);
    timings_ : seconds per step; n_features_in_ : d.
    """

    def __init__(self, n_neurons=2, *, n_directions=None, n_rounds=2,
                 candidate_orders=(4, 6), n_candidate_draws=100, n_jennrich=5,
                 cluster_angle=8.0, n_subset_starts=10, n_random_starts=30,
                 search_rows=10000, search_maxiter=200, search_short_maxiter=40,
                 n_survivors=3, refine_rows=20000,
                 refine_maxiter=1000, refine_full_maxiter=200, refine_gtol=1e-12,
                 faithful=False, rng=None,
                 verbose=0, n_threads=None):
        self.n_neurons = n_neurons
        self.n_directions = n_directions
        self.n_rounds = n_rounds
        self.candidate_orders = candidate_orders
        self.n_candidate_draws = n_candidate_draws
        self.n_jennrich = n_jennrich
        self.cluster_angle = cluster_angle
        self.n_subset_starts = n_subset_starts
        self.n_random_starts = n_random_starts
        self.search_rows = search_rows
        self.search_maxiter = search_maxiter
        self.search_short_maxiter = search_short_maxiter
        self.n_survivors = n_survivors
        self.refine_rows = refine_rows
        self.refine_maxiter = refine_maxiter
        self.refine_full_maxiter = refine_full_maxiter
        self.refine_gtol = refine_gtol
        self.faithful = faithful
        self.rng = rng
        self.verbose = verbose
        self.n_threads = n_threads

    # ------------------------------------------------------------------ helpers
    def _log(self, msg):
        if self.verbose:
            print(f"[ReLUMomentRegressor] {msg}", flush=True)

    def _check_k(self):
        k = self.n_neurons
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(f"n_neurons: expected an int, got {type(k).__name__}")
        if k < 1:
            raise ValueError(f"n_neurons: expected k >= 1, got {k}")
        for order in self.candidate_orders:
            if order < 4 or order % 2:
                raise ValueError(f"candidate_orders: expected even orders >= 4, got {order}")
        return int(k)

    def _check_sizes(self, N, d, k):
        if k > d:
            raise ValueError(f"n_neurons: k = {k} is larger than the input dimension "
                             f"(n_features = {d})")
        if N < max(d, 4):
            raise ValueError(f"X: needs at least d = {d} samples (and 4), got "
                             f"n_samples = {N}")

    def _validate(self, X, y):
        k = self._check_k()
        X, y = validate_xy(self, X, y)
        N, d = X.shape
        self._check_sizes(N, d, k)
        if not np.any(y != y[0]):
            raise ValueError("y: is constant; nothing to learn")
        return X, y, k

    def _validate_dask(self, X, y):
        import dask
        k = self._check_k()
        X, y = check_dask_xy(X, y)
        N, d = X.shape
        self._check_sizes(N, d, k)
        lo, hi = dask.compute(y.min(), y.max())
        if not lo < hi:
            raise ValueError("y: is constant (or holds NaN); nothing to learn")
        return X, y, k

    # ---------------------------------------------------------------- step 3
    def _candidates(self, z, r, k, t1v, T2v, rng):
        nt = self.n_threads
        cands, M4 = [], None
        orders = tuple(self.candidate_orders) + ((8,) if self.faithful else ())
        for ell in orders:
            H = rng.standard_normal((k, self.n_candidate_draws))
            M = hermite_contract(z, r, H, ell, n_threads=nt)
            if ell == 4:
                M4 = M
            for Mi in M:
                e = _top_eigvec(Mi)
                cands += [e, -e]
        if M4 is None:
            M4 = hermite_contract(z, r, rng.standard_normal((k, 2 * self.n_jennrich)), 4,
                                  n_threads=nt)
        for p in range(min(self.n_jennrich, len(M4) // 2)):
            w, U = np.linalg.eig(M4[2 * p] @ np.linalg.pinv(M4[2 * p + 1]))
            for j in range(U.shape[1]):
                v = np.real(U[:, j])
                nv = np.linalg.norm(v)
                if nv > 0:
                    cands += [v / nv, -v / nv]
        # Low-order hints (cheap): eigenvectors of V'T2V and the direction of V't1.
        w, U = np.linalg.eigh(T2v)
        for j in range(k):
            cands += [U[:, j], -U[:, j]]
        if np.linalg.norm(t1v) > 0:
            cands += [t1v / np.linalg.norm(t1v), -t1v / np.linalg.norm(t1v)]
        return np.array(cands)

    def _search(self, zs, ys, centres, k, rng):
        """Multistart L-BFGS on the k-dimensional problem; returns (a, C, loss)."""
        F = _relu(zs @ centres.T)
        starts = []
        if len(centres) >= k:
            keep = _backward_elimination(F, ys, k)
            starts.append((_lstsq_weights(F[:, keep], ys), centres[keep]))
            for _ in range(self.n_subset_starts):
                S = rng.choice(len(centres), size=k, replace=False)
                starts.append((_lstsq_weights(F[:, S], ys), centres[S]))
        for _ in range(self.n_random_starts):
            C = rng.standard_normal((k, k))
            C /= np.linalg.norm(C, axis=1, keepdims=True)
            starts.append((_lstsq_weights(_relu(zs @ C.T), ys), C))
        scale = float(np.mean(ys * ys))
        short = max(1, min(self.search_short_maxiter, self.search_maxiter))
        runs = []
        for a, C in starts:
            a2, C2, loss, _ = fit_relu_net_lbfgs(zs, ys, a, C, maxiter=short, gtol=1e-14,
                                                 scale=scale)
            runs.append((loss, a2, C2))
        runs.sort(key=lambda t: t[0])
        best = None
        for _loss, a, C in runs[:self.n_survivors]:
            a2, C2, loss2, _ = fit_relu_net_lbfgs(zs, ys, a, C, maxiter=self.search_maxiter,
                                                  gtol=1e-14, scale=scale)
            if best is None or loss2 < best[2]:
                best = (a2, C2, loss2)
        return best

    # ---------------------------------------------------------------- fit
    def fit(self, X, y):
        """Fit on X (N, d) and y (N,) (NumPy or dask arrays); returns self."""
        lazy = is_dask(X) or is_dask(y)
        X, y, k = self._validate_dask(X, y) if lazy else self._validate(X, y)
        rng = check_random_state(self.rng)
        N, d = X.shape
        nt = self.n_threads
        timings = {}
        t0 = time.perf_counter()
        if lazy:
            t1, T2, r, tau1, tau2 = control_variate_residual_dask(X, y)
        else:
            t1, T2, r, tau1, tau2 = control_variate_residual(X, y, n_threads=nt)
        timings["moments"] = time.perf_counter() - t0
        self._log(f"step 1: moments, tau1={tau1:.3g} tau2={tau2:.3g} "
                  f"({timings['moments']:.2f} s)")

        t0 = time.perf_counter()
        V, m_A, t2_basis = moment_subspace(X, r, k, t1, T2, tau1, tau2, rng,
                                           n_directions=self.n_directions,
                                           n_rounds=self.n_rounds, faithful=self.faithful,
                                           n_threads=nt)
        timings["subspace"] = time.perf_counter() - t0
        self._log(f"step 2: subspace, m_A={m_A} of k={k} ({timings['subspace']:.2f} s)")

        t0 = time.perf_counter()
        Xd = X if X.dtype == np.float64 else X.astype(np.float64)
        z = Xd @ V
        cands = self._candidates(z, r, k, V.T @ t1, V.T @ T2 @ V, rng)
        centres, _ = _cluster_directions(cands, self.cluster_angle, 8 * k)
        rows = rng.choice(N, size=min(N, int(self.search_rows)), replace=False)
        zs, ys = (take_rows(z, rows), take_rows(y, rows)) if lazy else (z[rows], y[rows])
        with limit_blas_threads(1):  # many small problems: BLAS threads only cost
            a, C, loss_k = self._search(zs, ys, centres, k, rng)
        timings["search"] = time.perf_counter() - t0
        self._log(f"step 3: {len(cands)} candidates -> {len(centres)} clusters, "
                  f"k-dim loss {loss_k:.3g} ({timings['search']:.2f} s)")

        t0 = time.perf_counter()
        refine = refine_two_stage_dask if lazy else refine_two_stage
        lam, U, loss, n_iter = refine(Xd, y, a, C @ V.T, rng,
                                                subset_rows=self.refine_rows,
                                                maxiter=self.refine_maxiter,
                                                full_maxiter=self.refine_full_maxiter,
                                                gtol=self.refine_gtol)
        timings["refine"] = time.perf_counter() - t0
        self._log(f"step 4: refine, loss {loss:.3g} after {n_iter} iterations "
                  f"({timings['refine']:.2f} s)")

        order = np.lexsort(U.T[::-1])  # a canonical neuron order (ties between
        lam, U = lam[order], U[order]   # permuted optima are broken by rounding)
        self.coef_ = lam
        self.directions_ = U
        self.subspace_ = V
        self.t2_subspace_ = t2_basis
        self.n_subspace_from_t2_ = m_A
        self.train_loss_ = float(loss)
        self.n_iter_ = n_iter
        self.n_candidates_ = len(cands)
        self.n_clusters_ = len(centres)
        self.timings_ = timings
        self.n_features_in_ = d
        return self

    def predict(self, X):
        """f̂(X) = Σ λ̂_i relu(<û_i, x>), shape (N,) (float64)."""
        if not hasattr(self, "coef_"):
            raise not_fitted(self)
        X = validate_x(self, X)
        return relu_net_predict(X.astype(np.float64, copy=False), self.coef_, self.directions_)

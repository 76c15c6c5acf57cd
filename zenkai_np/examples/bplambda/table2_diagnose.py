"""Why BP(0) and the every-window DNI diverge on the Table 2 toy (docs/bplambda.md).

    python -m zenkai_np.examples.bplambda.table2_diagnose [--quick] [--seeds N]
        [--n-iter N] [--n-iter-dni N] [--ns 2,5] [--variants V,...]
        [--only runs|frozen|fixedpoint|both] [--trace VARIANT[:n]:SEED]

Same setting as :mod:`.table2` (3 noisy patterns, linear RNN H = 30, T = 10,
batch 10, Adam 1e-3 for every group, γ = 0.9, sg_weight 0.5, float32). Each
run logs, every 100 iterations (25 with ``--trace``), on a fixed probe batch
of 200 sequences (float64, linear RNN only):

* ``rho``: spectral radius of W_hh;
* ``kappa``: the largest real part of the synthesiser's *mean update
  operator* K (see :func:`synth_operator`), divided by the largest eigenvalue
  of its state covariance; ``kappa > 0`` means that, at these RNN weights,
  the expected TD(0) (or DNI-regression) update makes g grow exponentially
  instead of converging; ``reg``: the same without the bootstrap terms;
* ``g/F``: mean ‖g(h_t)‖ over t < T−1 against F, the γ-discounted BPTT
  future gradient at the current weights; ``|g-g*|/F``: the distance of g
  from the fixed point g* of its mean update (:func:`mean_fixed_point`);
* ``end``: ‖sg_weight · g(h_{T−1})‖ / ‖l_{T−1}‖, the synthetic gradient the
  every-window DNI injects at the last step (whose true value is 0) relative
  to the real loss gradient there;
* ``|θ|``: Frobenius norm of the synthesiser (W and b).

Parts: ``runs`` (the table's runs and the variants with one suspected cause
removed, :data:`VARIANTS`), ``frozen`` (RNN frozen at its initialisation, the
synthesiser alone: its fluctuation around g* by rule and learning rate) and
``fixedpoint`` (BP(0): g* and the least-squares fit of F at snapshots of a
run's RNN weights).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from zenkai_np.bplambda import (DNIRNN, BPLambdaRNN, LineDrawTask, VanillaRNN,
                                future_gradients, limit_blas_threads, windows)

from ._common import DIVERGED, H

T = 10
BATCH = 10
GAMMA = 0.9
SG_WEIGHT = 0.5
DTYPE = np.float32


# -- the synthesiser's mean update operator ---------------------------------------------
def bootstrap_pairs(method, T, n=None, sg_last_window=True, gamma=GAMMA, sg_weight=SG_WEIGHT,
                    end_target=False):
    """Where the synthesiser is trained and where its target bootstraps from.

    Returns ``(trained, pairs)``: ``trained`` the steps a whose ``g(h_a)`` is
    regressed; ``pairs`` (a, b, p, c): the target of ``g(h_a)`` contains
    ``c · g(h_b) · (W_hhᵀ)^p`` (linear RNN). BP(0): a = t−1, b = t, p = 1,
    c = γ, for t ≤ T−2 (g = 0 at the last step). DNI(n): a = s−1, b = e−1,
    p = e−s, c = sg_weight, for every window [s, e) with s ≥ 1; the last
    window's pair (b = T−1) only when the synthetic gradient is injected there;
    ``end_target`` (:class:`DNIEndTarget`) adds a = T−1 (target 0, no pair).
    """
    if method == "bp0":
        return list(range(T - 1)), [(t - 1, t, 1, gamma) for t in range(1, T - 1)]
    if method == "dni":
        trained, pairs = [], []
        for s, e in windows(T, n):
            if s >= 1:
                trained.append(s - 1)
                if e < T or sg_last_window:
                    pairs.append((s - 1, e - 1, e - s, sg_weight))
        if end_target:
            trained.append(T - 1)
        return trained, pairs
    raise ValueError(f"method: expected 'bp0' or 'dni', got {method!r}")


def synth_operator(h, W_hh, trained, pairs):
    """The linear map K with ``E[Δθ] = K θ + const`` (gradient flow, batch sum).

    ``h`` (T, B, H) states, θ (H+1, S) the linear synthesiser on ũ = [h, 1]
    (column-stacked). The regression of ``g(h_a) = ũ_a θ`` on its target gives
    ``Δθ = Σ_a ũ_aᵀ (target_a − ũ_a θ)``; the homogeneous part is
    ``Σ_pairs c ũ_aᵀ ũ_b θ (W_hhᵀ)^p − Σ_a ũ_aᵀ ũ_a θ``, i.e. with
    vec(AθB) = (Bᵀ ⊗ A) vec θ:  ``K = Σ c (W_hh^p ⊗ C_ab) − I ⊗ C_aa``.
    """
    h = np.asarray(h, np.float64)
    Tn, B, Hn = h.shape
    u = np.concatenate([h, np.ones((Tn, B, 1))], axis=2)
    C0 = sum(u[a].T @ u[a] for a in trained)
    W = np.asarray(W_hh, np.float64)
    K = -np.kron(np.eye(W.shape[1]), C0)
    for a, b, p, c in pairs:
        K += c * np.kron(np.linalg.matrix_power(W, p), u[a].T @ u[b])
    return K, C0


def kappa(h, W_hh, trained, pairs):
    """max Re eig(K) / λ_max(C0): > 0 means the synthesiser's mean dynamics are unstable.

    With W_hh = V diag(μ) V⁻¹, K is similar to the block-diagonal matrix with
    blocks ``Σ c μ_i^p C_ab − C0`` (one per eigenvalue μ_i), so its spectrum is
    the union of the blocks' spectra (30 eigenproblems of size H+1 instead of
    one of size H(H+1)).
    """
    h = np.asarray(h, np.float64)
    Tn, B, Hn = h.shape
    u = np.concatenate([h, np.ones((Tn, B, 1))], axis=2)
    C0 = sum(u[a].T @ u[a] for a in trained)
    Cab = [(c, p, u[a].T @ u[b]) for a, b, p, c in pairs]
    top = -np.inf
    for mu in np.linalg.eigvals(np.asarray(W_hh, np.float64)):
        M = -C0.astype(complex)
        for c, p, C in Cab:
            M += c * mu ** p * C
        top = max(top, float(np.linalg.eigvals(M).real.max()))
    return top / float(np.linalg.eigvalsh(C0).max())


def mean_fixed_point(h, l, W_hh, method, n=None, sg_last_window=True, gamma=GAMMA,
                     end_target=False):
    """θ* with E[Δθ] = 0: where the synthesiser's expected update leads (linear RNN).

    The constant part of the targets: BP(0) ``l_{a+1} W_hhᵀ``; DNI(n) the
    window's losses carried back to h_{s−1}, ``Σ_{t=s}^{e−1} l_t (W_hhᵀ)^{t−s+1}``.
    Solves ``K vec θ = −vec Σ_a ũ_aᵀ const_a`` (dense; H(H+1) unknowns).
    """
    h, l = np.asarray(h, np.float64), np.asarray(l, np.float64)
    W = np.asarray(W_hh, np.float64)
    Tn, B, Hn = h.shape
    trained, pairs = bootstrap_pairs(method, Tn, n, sg_last_window, gamma=gamma,
                                     end_target=end_target)
    u = np.concatenate([h, np.ones((Tn, B, 1))], axis=2)
    C = np.zeros((Hn + 1, Hn))
    if method == "bp0":
        for a in trained:
            C += u[a].T @ (l[a + 1] @ W.T)
    else:
        for s, e in windows(Tn, n):
            if s >= 1:
                dh = np.zeros((B, Hn))
                for t in range(e - 1, s - 1, -1):
                    dh = (dh + l[t]) @ W.T
                C += u[s - 1].T @ dh
    K, _ = synth_operator(h, W, trained, pairs)
    sol = np.linalg.solve(K, -C.reshape(-1, order="F"))
    return sol.reshape((Hn + 1, Hn), order="F")


def fixed_point_ratio(h, l, W_hh, gamma=GAMMA):
    """BP(0): (‖g*‖/‖F‖, cos(g*, F)) over t < T−1 at the TD(0) fixed point θ*,
    and the same for the least-squares fit of F (the λ = 1 solution), F the
    γ-discounted BPTT future gradient."""
    h, l = np.asarray(h, np.float64), np.asarray(l, np.float64)
    Tn, B, Hn = h.shape
    J = np.broadcast_to(np.asarray(W_hh, np.float64).T, (Tn, B, Hn, Hn))
    F = future_gradients(l, J, gamma)[:-1]
    u = np.concatenate([h, np.ones((Tn, B, 1))], axis=2)[:-1]
    th0 = mean_fixed_point(h, l, W_hh, "bp0", gamma=gamma)
    th1 = np.linalg.lstsq(u.reshape(-1, Hn + 1), F.reshape(-1, Hn), rcond=None)[0]
    out = []
    for th in (th0, th1):
        g = u @ th
        out += [float(np.linalg.norm(g) / np.linalg.norm(F)),
                float(np.sum(g * F) / (np.linalg.norm(g) * np.linalg.norm(F)))]
    return tuple(out)


# -- logging --------------------------------------------------------------------------
def spectral_radius(W):
    return float(np.abs(np.linalg.eigvals(np.asarray(W, np.float64))).max())


def probe(learner, X, Y, mask, method, n=None, sg_last_window=True, gamma=GAMMA):
    """The logged numbers (module docstring) at the learner's current weights."""
    end_target = isinstance(learner, DNIEndTarget)
    model = learner.model
    p = {k: v.astype(np.float64) for k, v in model.params.items()}
    th = {k: v.astype(np.float64) for k, v in learner.synth.params.items()}
    theta = float(np.sqrt(sum(np.sum(v * v) for v in th.values())))
    if model.activation != "identity":   # the operator analysis assumes a linear RNN
        nan = float("nan")
        return {"rho": spectral_radius(p["W_hh"]), "kappa": nan, "kappa_reg": nan,
                "g_over_F": nan, "dist": nan, "end": nan, "theta": theta}
    B = X.shape[0]
    h = np.empty((T, B, H))
    hp = np.zeros((B, H))
    for t in range(T):
        hp = X[:, t] @ p["W_ih"] + hp @ p["W_hh"] + p["b"]
        h[t] = hp
    e = ((h @ p["W_out"] + p["b_out"]) - Y.transpose(1, 0, 2)) / B * mask[:, None, None]
    l = e @ p["W_out"].T
    J = np.broadcast_to(p["W_hh"].T, (T, B, H, H))
    F = future_gradients(l, J, gamma)
    g = h @ th["W"] + th["b"]
    with np.errstate(all="ignore"):
        gF = float(np.linalg.norm(g[:-1], axis=-1).mean() / np.linalg.norm(F[:-1], axis=-1).mean())
        end = float(np.linalg.norm(SG_WEIGHT * g[-1], axis=-1).mean()
                    / np.linalg.norm(l[-1], axis=-1).mean())
        trained, pairs = bootstrap_pairs(method, T, n, sg_last_window, gamma=gamma,
                                         end_target=end_target)
        try:
            k = kappa(h, p["W_hh"], trained, pairs)
            k_reg = kappa(h, p["W_hh"], trained, [])
            ts = mean_fixed_point(h, l, p["W_hh"], method, n, sg_last_window, gamma=gamma,
                                  end_target=end_target)
            dist = float(np.linalg.norm((h[:-1] @ (th["W"] - ts[:H]) + th["b"] - ts[H]))
                         / np.linalg.norm(F[:-1]))
        except np.linalg.LinAlgError:
            k = k_reg = dist = float("nan")
    return {"rho": spectral_radius(p["W_hh"]), "kappa": k, "kappa_reg": k_reg,
            "g_over_F": gF, "dist": dist, "end": end, "theta": theta}


# -- learners and variants ----------------------------------------------------------------
class DNIEndTarget(DNIRNN):
    """Every-window DNI whose synthesiser is also regressed at h_{T−1} on 0.

    0 is the true future gradient at the last step; the table's DNI never
    trains g there, so what it injects at the end of the last window is an
    extrapolation of g from the window-start states.
    """

    def _pass(self, X, Y, mask):
        grads, info = super()._pass(X, Y, mask)
        hs = self.model.run(X)[0]
        for k, v in self.synth.regression_grads(hs[-1], np.zeros_like(hs[-1])).items():
            grads["synth_" + k] += v
        return grads, info


VARIANTS = {
    # name: (method, learner options, description)
    "bp0": ("bp0", {}, "BP(0) as in the table"),
    "bp0_frozen_rnn": ("bp0", {"lr_rnn": 0.0}, "BP(0), W_ih/W_hh/b frozen"),
    "bp0_sg_weight_0": ("bp0", {"sg_weight": 0.0},
                        "BP(0), synthesiser learns but the RNN ignores it"),
    "bp0_lr_synth_1e-4": ("bp0", {"lr_synth": 1e-4}, "BP(0), lr_synth 1e-4"),
    "bp0_gamma_0.5": ("bp0", {"gamma": 0.5}, "BP(0), γ = 0.5"),
    "bp1": ("bp0", {"lam": 1.0}, "BP(1) (reference; kappa is still TD(0)'s)"),
    "dni": ("dni", {}, "DNI(n), SG at the end of every window (the table)"),
    "dni_zero_last": ("dni", {"sg_last_window": False}, "DNI(n), no SG after the last window"),
    "dni_frozen_rnn": ("dni", {"lr_rnn": 0.0}, "DNI(n) every window, W_ih/W_hh/b frozen"),
    "dni_end_target": ("dni", {"end_target": True},
                       "DNI(n) every window, g also regressed on 0 at h_{T-1}"),
    "dni_lr_synth_1e-4": ("dni", {"lr_synth": 1e-4}, "DNI(n) every window, lr_synth 1e-4"),
    "bp0_tanh": ("bp0", {"activation": "tanh"}, "BP(0), tanh RNN (bounded states)"),
    "dni_tanh": ("dni", {"activation": "tanh"}, "DNI(n) every window, tanh RNN"),
}


def make_learner(variant, model, n=None):
    method, opts, _ = VARIANTS[variant]
    opts = dict(opts)
    lrs = {"lr_rnn": opts.pop("lr_rnn", 1e-3), "lr_readout": 1e-3,
           "lr_synth": opts.pop("lr_synth", 1e-3)}
    if method == "bp0":
        return BPLambdaRNN(model, gamma=opts.get("gamma", GAMMA), lam=opts.get("lam", 0.0),
                           sg_weight=opts.get("sg_weight", SG_WEIGHT), n_threads=1, **lrs)
    cls = DNIEndTarget if opts.get("end_target") else DNIRNN
    return cls(model, truncation=n, sg_weight=SG_WEIGHT,
               sg_last_window=opts.get("sg_last_window", True), **lrs)


def run(variant, seed, n_iter, *, n=None, every=50, log=None, keep_params_at=()):
    """One run of the Table 2 toy; returns a dict with the log and the divergence iteration.

    ``keep_params_at``: iterations at which a copy of the model's parameters is kept.
    """
    method = VARIANTS[variant][0]
    task = LineDrawTask(T, n_points=3, noise_std=0.1)
    model = VanillaRNN(task.n_in, H, 2, dtype=DTYPE, rng=seed,
                       activation=VARIANTS[variant][1].get("activation", "identity"))
    learner = make_learner(variant, model, n)
    sg_last = getattr(learner, "sg_last_window", True)
    gamma = getattr(learner, "gamma", GAMMA)
    rng = np.random.default_rng(2000 + seed)
    Xp, Yp, mp = task.sample(200, np.random.default_rng(4000 + seed), dtype=np.float64)
    rows, mses, kept, diverged_at = [], [], {}, None
    for it in range(n_iter):
        if it in keep_params_at:
            kept[it] = {k: v.copy() for k, v in model.params.items()}
        if it % every == 0:
            row = {"it": it, **probe(learner, Xp, Yp, mp, method, n, sg_last, gamma)}
            rows.append(row)
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                mse = learner.train_batch(*task.sample(BATCH, rng, dtype=DTYPE))
        except FloatingPointError:
            mse = float("inf")
        mses.append(mse)
        if it % every == 0:
            rows[-1]["mse"] = mse
            if log:
                log(fmt_row(rows[-1]))
        if not np.isfinite(mse) or mse > DIVERGED:
            diverged_at = it
            break
    tail = mses[-100:]
    return {"variant": variant, "n": n, "seed": seed, "diverged_at": diverged_at,
            "train_mse2": None if diverged_at is not None else 2 * float(np.mean(tail)),
            "log": rows, "kept": kept}


def fmt_row(r):
    return (f"it {r['it']:5d} mse {r.get('mse', float('nan')):9.4g} rho {r['rho']:.3f} "
            f"kappa {r['kappa']:+.2e} (reg {r['kappa_reg']:+.2e}) g/F {r['g_over_F']:8.3g} "
            f"|g-g*|/F {r['dist']:8.3g} end {r['end']:8.3g} "
            f"|θ| {r['theta']:.3g}")


def first_crossing(rows, key, level):
    for r in rows:
        if np.isfinite(r[key]) and r[key] > level:
            return r["it"]
    return None


# -- the synthesiser alone: how far its fluctuations carry it from its fixed point -------------
def frozen_synthesiser(seed, lam, gamma, lr_synth, n_iter, every=100, burn_in=None):
    """RNN and readout frozen at their initial weights; a zero synthesiser learns by TD(λ).

    Returns ``(fluct, gstar)``: the mean over the logged points after ``burn_in``
    of ``‖g − g*‖ / ‖F‖`` and ``‖g*‖ / ‖F‖`` over t < T−1 on the probe batch,
    g* the rule's mean fixed point (λ = 0: :func:`mean_fixed_point`; λ = 1:
    the least-squares fit of F) and F the γ-discounted BPTT future gradient.
    The loss does not depend on g here, so nothing feeds back into the RNN.
    """
    task = LineDrawTask(T, n_points=3, noise_std=0.1)
    model = VanillaRNN(task.n_in, H, 2, dtype=DTYPE, rng=seed)
    learner = BPLambdaRNN(model, gamma=gamma, lam=lam, sg_weight=SG_WEIGHT, n_threads=1,
                          lr_rnn=0.0, lr_readout=0.0, lr_synth=lr_synth)
    rng = np.random.default_rng(5000 + seed)
    X, Y, m = task.sample(200, np.random.default_rng(4000 + seed), dtype=np.float64)
    m64 = _float64_copy(model)
    p = m64.params
    h, _, yhat = m64.run(X)
    l = ((yhat - Y.transpose(1, 0, 2)) / 200 * m[:, None, None]) @ p["W_out"].T
    J = np.broadcast_to(p["W_hh"].T, (T, 200, H, H))
    F = future_gradients(l, J, gamma)[:-1]
    u = np.concatenate([h, np.ones((T, 200, 1))], axis=2)[:-1]
    if lam == 0:
        ts = mean_fixed_point(h, l, p["W_hh"], "bp0", gamma=gamma)
    else:
        ts = np.linalg.lstsq(u.reshape(-1, H + 1), F.reshape(-1, H), rcond=None)[0]
    gs = u @ ts
    nF = np.linalg.norm(F)
    fl = []
    burn_in = n_iter // 2 if burn_in is None else burn_in
    for it in range(n_iter):
        learner.train_batch(*task.sample(BATCH, rng, dtype=DTYPE))
        if it >= burn_in and it % every == 0:
            th = learner.synth.params
            g = u @ np.vstack([th["W"], th["b"][None]]).astype(np.float64)
            fl.append(np.linalg.norm(g - gs) / nF)
    return float(np.mean(fl)), float(np.linalg.norm(gs) / nF)


def _float64_copy(model):
    out = VanillaRNN(model.n_in, model.n_hidden, model.n_out, activation=model.activation)
    for k, v in model.params.items():
        out.params[k] = v.astype(np.float64)
    return out


# -- CLI ------------------------------------------------------------------------------------
def part_runs(seeds, n_iter, n_iter_dni, ns, log, variants=None):
    out = []
    plan = [(v, None, n_iter) for v in VARIANTS if VARIANTS[v][0] == "bp0"]
    plan += [(v, n, n_iter_dni) for n in ns for v in VARIANTS if VARIANTS[v][0] == "dni"]
    for variant, n, n_it in plan:
        if variants and variant not in variants:
            continue
        for seed in range(seeds):
            t0 = time.time()
            r = run(variant, seed, n_it, n=n, every=100)
            rows = r["log"]
            last = rows[-1]
            out.append(r)
            mse2 = r["train_mse2"] if r["train_mse2"] is None else round(r["train_mse2"], 4)
            log(f"{variant:18s} n={n!s:4s} seed={seed} diverged_at={r['diverged_at']!s:5s} "
                f"train_mse2={mse2!s:7s} "
                f"rho>1 at {first_crossing(rows, 'rho', 1.0)!s:5s} "
                f"kappa>0 at {first_crossing(rows, 'kappa', 0.0)!s:5s} "
                f"max rho {max(x['rho'] for x in rows):.3f} last: {fmt_row(last)} "
                f"({time.time() - t0:.0f} s)")
    return out


def part_frozen(seeds, n_iter, log):
    """The synthesiser alone (RNN frozen at its initialisation): fluctuation by rule and lr."""
    out = []
    for lam, gamma in ((0.0, 0.9), (0.0, 0.5), (1.0, 0.9)):
        for lr in (1e-3, 1e-4):
            res = [frozen_synthesiser(s, lam, gamma, lr, n_iter) for s in range(seeds)]
            fl = [r[0] for r in res]
            gs = [r[1] for r in res]
            out.append({"lam": lam, "gamma": gamma, "lr_synth": lr, "fluct": fl, "gstar": gs})
            log(f"frozen RNN, TD({lam:g}) gamma {gamma:g} lr_synth {lr:g}: |g - g*|/|F| "
                + " ".join(f"{v:.3g}" for v in fl) + "  (|g*|/|F| "
                + " ".join(f"{v:.2g}" for v in gs) + ")")
    return out


def part_fixedpoint(seeds, n_iter, log, every=500):
    """BP(0): at snapshots of a run's weights, g* (TD(0)) and the least-squares fit of F."""
    out = []
    task = LineDrawTask(T, n_points=3, noise_std=0.1)
    for seed in range(seeds):
        r = run("bp0", seed, n_iter, every=10 ** 9, keep_params_at=range(0, n_iter, every))
        X, Y, m = task.sample(200, np.random.default_rng(4000 + seed), dtype=np.float64)
        for it in sorted(r["kept"]):
            model = VanillaRNN(task.n_in, H, 2)
            model.params.update({k: v.astype(np.float64) for k, v in r["kept"][it].items()})
            h, _, yhat = model.run(X)
            l = ((yhat - Y.transpose(1, 0, 2)) / 200 * m[:, None, None]) @ model.params["W_out"].T
            r0, c0, r1, c1 = fixed_point_ratio(h, l, model.params["W_hh"])
            rho = spectral_radius(model.params["W_hh"])
            out.append({"seed": seed, "it": it, "rho": rho, "td0_ratio": r0, "td0_cos": c0,
                        "ls_ratio": r1, "ls_cos": c1, "run_diverged_at": r["diverged_at"]})
            log(f"seed={seed} it {it:5d} rho {rho:.3f}: TD(0) fixed point |g*|/|F| {r0:.3g} "
                f"cos {c0:+.2f}; least-squares fit |g|/|F| {r1:.3g} cos {c1:+.2f} "
                f"(run diverged at {r['diverged_at']})")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m zenkai_np.examples.bplambda.table2_diagnose",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 seed, 300 iterations")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--n-iter", type=int, default=8000, help="BP(0) runs (they diverge "
                    "after 3000-7500 iterations)")
    ap.add_argument("--n-iter-dni", type=int, default=2000)
    ap.add_argument("--variants", help="comma-separated subset of: " + ",".join(VARIANTS))
    ap.add_argument("--ns", default="2,5", help="DNI truncations (comma-separated)")
    ap.add_argument("--only", choices=("runs", "frozen", "fixedpoint", "both"), default="both",
                    help="'both': runs and frozen")
    ap.add_argument("--trace", help="print the full log of one run: VARIANT[:n]:SEED")
    a = ap.parse_args(argv)
    limit_blas_threads(1)
    seeds, n_iter, n_iter_dni = (1, 300, 300) if a.quick else (a.seeds, a.n_iter, a.n_iter_dni)
    ns = [int(x) for x in a.ns.split(",")]
    if a.trace:
        parts = a.trace.split(":")
        variant, seed = parts[0], int(parts[-1])
        n = int(parts[1]) if len(parts) == 3 else None
        r = run(variant, seed, n_iter, n=n, every=25, log=print)
        print(f"diverged_at {r['diverged_at']} train_mse2 {r['train_mse2']}")
        return {"trace": r}
    out = {}
    if a.only in ("runs", "both"):
        out["runs"] = part_runs(seeds, n_iter, n_iter_dni, ns, print,
                                a.variants.split(",") if a.variants else None)
    if a.only in ("frozen", "both"):
        out["frozen"] = part_frozen(seeds, 300 if a.quick else 3000, print)
    if a.only == "fixedpoint":
        out["fixedpoint"] = part_fixedpoint(seeds, n_iter, print)
    return out


if __name__ == "__main__":
    main()

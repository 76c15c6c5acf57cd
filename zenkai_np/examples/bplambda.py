"""Reproduction of the BP(λ) toy results (spec bplambda.md §3, §4 recipe 1–2).

(a) Alignment (Fig 2): a frozen linear RNN (H = 30) on the line-drawing task;
    only the synthesiser learns (Adam, γ = 1). After training, on a fresh
    batch, the learning signal ``LS_t = l_t + g(h_t)`` is compared with BPTT's
    ``∂L/∂h_t`` by three cosines: the mean over steps t < T−1 of the per-step
    cosine, the cosine of the whole signal sequence (all steps concatenated,
    so steps weigh by the size of their gradient), and the cosine between the
    RNN weight gradient this signal gives and BPTT's.
(b) Learning (Fig 3): the RNN learns; final MSE of BP(λ), full BPTT,
    truncated BPTT(n) and DNI(n), n = 1..5, over several seeds. With the
    paper's single pattern/target pair the readout bias alone solves the task,
    so (b) uses 4 patterns and 4 targets on the circle: the input shown at
    t = 0 must be carried to the last step, which needs credit assignment
    over the whole sequence.

    python -m zenkai_np.examples.bplambda [--quick] [--json PATH] [--seeds N] [--plot PATH]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from zenkai_np.bplambda import (DNIRNN, BPLambdaRNN, TruncatedBPTTRNN, VanillaRNN,
                                future_gradients, limit_blas_threads)
from zenkai_np.bplambda.tasks import LineDrawTask

H = 30
BATCH = 10
DIVERGED = 1e3   # a final MSE above this (targets lie on the unit circle) counts as diverged


def _cos(a, b):
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(np.sum(a * b) / (na * nb)) if na > 0 and nb > 0 else 0.0


def alignment(T, lam, *, n_iter, lr_synth, seed):
    """Train the synthesiser of a frozen RNN; return the three cosines."""
    task = LineDrawTask(T)
    model = VanillaRNN(task.n_in, H, 2, rng=seed)
    learner = BPLambdaRNN(model, gamma=1.0, lam=lam, lr_rnn=0.0, lr_readout=0.0,
                          lr_synth=lr_synth, n_threads=1)
    rng = np.random.default_rng(seed + 1000)
    learner.fit(task, n_iter=n_iter, batch_size=BATCH, rng=rng)
    X, Y, mask = task.sample(BATCH, rng)
    _, info = learner.gradients(X, Y, mask, record=True)
    h, fp, yhat = model.run(X)
    e = (yhat - Y.transpose(1, 0, 2)) / BATCH * mask[:, None, None]
    l = e @ model.params["W_out"].T
    G = l + future_gradients(l, model.jacobians(fp))          # BPTT dL/dh_t
    LS = info["LS"]
    per_step = [_cos(LS[t], G[t]) for t in range(T - 1)]
    # RNN weight gradients from a signal S: sum_t h_{t-1}^T (S_t * f'), x_t^T (S_t * f')
    h_prev = np.concatenate([np.zeros_like(h[:1]), h[:-1]])
    Xt = X.transpose(1, 0, 2)

    def rnn_grad(sig):
        q = sig * fp
        return np.concatenate([np.einsum("tbi,tbj->ij", h_prev, q).ravel(),
                               np.einsum("tbi,tbj->ij", Xt, q).ravel(), q.sum((0, 1))])

    return {"T": T, "lam": lam, "seed": seed, "cos_step_mean": float(np.mean(per_step)),
            "cos_step_min": float(np.min(per_step)), "cos_sequence": _cos(LS, G),
            "cos_rnn_grad": _cos(rnn_grad(LS), rnn_grad(G)), "cos_per_step": per_step}


def _methods(quick):
    lams = (0.0, 1.0) if quick else (0.0, 0.5, 1.0)
    ns = (1, 3) if quick else (1, 2, 3, 4, 5)
    out = [(f"BP({lam:g})", "bp", lam) for lam in lams]
    out.append(("BPTT", "bptt", None))
    out += [(f"BPTT({n})", "bptt", n) for n in ns]
    out += [(f"DNI({n})", "dni", n) for n in ns]
    return out


def learning(T, method, arg, *, n_iter, seed, lrs):
    task = LineDrawTask(T, n_points=4)
    model = VanillaRNN(task.n_in, H, 2, rng=seed)
    if method == "bp":
        learner = BPLambdaRNN(model, gamma=1.0, lam=arg, n_threads=1, **lrs)
    elif method == "bptt":
        learner = TruncatedBPTTRNN(model, truncation=arg, lr_rnn=lrs["lr_rnn"],
                                   lr_readout=lrs["lr_readout"])
    else:
        learner = DNIRNN(model, truncation=arg, **lrs)
    rng = np.random.default_rng(seed + 2000)
    learner.fit(task, n_iter=n_iter, batch_size=BATCH, rng=rng)
    X, Y, mask = task.sample(200, np.random.default_rng(seed + 3000))
    return model.loss(X, Y, mask)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a < 1 minute version")
    ap.add_argument("--json", help="write all results to this JSON file")
    ap.add_argument("--seeds", type=int, default=None, help="seeds of part (b) (default 5)")
    ap.add_argument("--plot", help="PNG path prefix for the figures (needs matplotlib)")
    ap.add_argument("--part", choices=("a", "b", "both"), default="both",
                    help="(a) alignment, (b) learning, or both")
    args = ap.parse_args(argv)
    quick = args.quick
    seeds = args.seeds or (2 if quick else 5)
    Ts_a = (10,) if quick else (10, 20, 40, 60)
    lams = (0.0, 0.25, 0.5, 0.75, 1.0)
    n_iter_a = 300 if quick else 1000
    Ts_b = (10,) if quick else (10, 20)
    n_iter_b = 200 if quick else 1000
    lrs = {"lr_rnn": 1e-3, "lr_readout": 1e-3, "lr_synth": 1e-3}
    lr_synth_a = 1e-3
    t0 = time.time()
    res = {"config": {"H": H, "batch": BATCH, "quick": quick, "n_iter_alignment": n_iter_a,
                      "n_iter_learning": n_iter_b, "lr_synth_alignment": lr_synth_a,
                      "learning_rates": lrs, "seeds_learning": seeds}}
    with limit_blas_threads(1):
        print("(a) alignment of the learning signal with BPTT (frozen linear RNN, gamma=1)")
        print(f"{'T':>3} {'lambda':>6} {'cos/step':>9} {'min':>7} {'cos seq':>8} "
              f"{'cos dW':>7}")
        rows = []
        for T in (Ts_a if args.part in ("a", "both") else ()):
            for lam in lams:
                r = alignment(T, lam, n_iter=n_iter_a, lr_synth=lr_synth_a, seed=0)
                rows.append(r)
                print(f"{T:3d} {lam:6.2f} {r['cos_step_mean']:9.4f} {r['cos_step_min']:7.3f} "
                      f"{r['cos_sequence']:8.4f} {r['cos_rnn_grad']:7.4f}", flush=True)
        res["alignment"] = rows
        print(f"\n(b) final MSE (4 patterns, mean ± sd over {seeds} seeds, {n_iter_b} "
              "iterations)")
        table = []
        for T in (Ts_b if args.part in ("b", "both") else ()):
            for name, method, arg in _methods(quick):
                mses = [learning(T, method, arg, n_iter=n_iter_b, seed=s, lrs=lrs)
                        for s in range(seeds)]
                ok = [m for m in mses if np.isfinite(m) and m < DIVERGED]
                row = {"T": T, "method": name, "mse": mses, "median": float(np.median(mses)),
                       "mean": float(np.mean(ok)) if ok else float("nan"),
                       "sd": float(np.std(ok)) if ok else float("nan"),
                       "diverged": len(mses) - len(ok)}
                table.append(row)
                print(f"T={T:3d} {name:9s} median {row['median']:.4f}  mean {row['mean']:.4f} "
                      f"± {row['sd']:.4f} (diverged {row['diverged']}/{len(mses)})", flush=True)
        res["learning"] = table
    res["seconds"] = time.time() - t0
    print(f"\ntotal {res['seconds']:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    if args.plot:
        _plot(res, args.plot)
    return res


def _plot(res, prefix):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots")
        return
    prefix = prefix[:-4] if prefix.endswith(".png") else prefix
    rows = res["alignment"]
    Ts = sorted({r["T"] for r in rows})
    if rows:
        _plot_alignment(plt, rows, Ts, prefix)
    if res["learning"]:
        _plot_learning(plt, res["learning"], prefix)


def _plot_alignment(plt, rows, Ts, prefix):
    fig, axes = plt.subplots(1, len(Ts), figsize=(4 * len(Ts), 3.2), squeeze=False)
    for ax, T in zip(axes[0], Ts):
        for r in rows:
            if r["T"] == T:
                ax.plot(r["cos_per_step"], label=f"λ={r['lam']:g}")
        ax.set_title(f"T = {T}")
        ax.set_xlabel("step t")
        ax.set_ylim(-1.05, 1.05)
    axes[0][0].set_ylabel("cos(LS_t, BPTT dL/dh_t)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(prefix + "_alignment.png", dpi=110)
    print(f"wrote {prefix}_alignment.png")


def _plot_learning(plt, table, prefix):
    fig, axes = plt.subplots(1, len({r["T"] for r in table}), figsize=(9, 3.4), squeeze=False)
    for ax, T in zip(axes[0], sorted({r["T"] for r in table})):
        sub = [r for r in table if r["T"] == T]
        med = [r["median"] if np.isfinite(r["median"]) else np.inf for r in sub]
        ax.bar(range(len(sub)), [min(m, 10.0) for m in med])
        for k, m in enumerate(med):
            if m > 10:
                ax.text(k, 10.0, "diverged", rotation=90, ha="center", va="top", fontsize=7,
                        color="white")
        ax.set_yscale("log")
        ax.set_ylim(top=10.0)
        ax.set_xticks(range(len(sub)))
        ax.set_xticklabels([r["method"] for r in sub], rotation=70, fontsize=7)
        ax.set_title(f"median final MSE, T = {T}")
    fig.tight_layout()
    fig.savefig(prefix + "_learning.png", dpi=110)
    print(f"wrote {prefix}_learning.png")


if __name__ == "__main__":
    main()

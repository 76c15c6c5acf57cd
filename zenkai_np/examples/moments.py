"""Reproduce the recovery experiments of docs/moments.md ("Results").

    python -m zenkai_np.examples.moments [--quick] [--json PATH] [--seeds N] [--plot PATH]
                                          [--no-mlp]

For each teacher family (generic, close, t2cancel; k ≤ 5, d ≤ 200) and seed:
RC-learn (ReLUMomentRegressor), random-init exact-width L-BFGS (4 restarts),
the Zhong-style tensor initialisation, and (full run, scikit-learn installed)
MLPRegressor on the baseline instances; a sample-size sweep (d = 50, k = 4) and,
with matplotlib, a PNG of recovery error against N. "Exact" means test
relMSE < 1e-10 on 5e4 fresh points.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ..moments import (ReLUMomentRegressor, fit_random_init, fit_zhong_style, make_teacher,
                       parameter_error, relative_mse, subspace_error)

EXACT = 1e-10

FULL_CASES = [  # (family, d, k, N, min seeds); the "done when" instances come early
    ("generic", 10, 2, 10_000, 0), ("generic", 10, 3, 20_000, 0),
    ("generic", 50, 3, 50_000, 0), ("t2cancel", 20, 4, 40_000, 5),
    ("generic", 100, 5, 200_000, 0), ("close", 20, 5, 40_000, 0),
    ("t2cancel", 20, 5, 40_000, 0), ("generic", 50, 5, 100_000, 0),
    ("t2cancel", 50, 5, 100_000, 0), ("close", 50, 5, 100_000, 0),
    ("generic", 200, 3, 200_000, 0),
]
QUICK_CASES = [("generic", 10, 2, 10_000, 0), ("t2cancel", 20, 4, 40_000, 0)]
MLP_CASES = [("t2cancel", 20, 4, 40_000), ("generic", 50, 5, 40_000), ("close", 20, 5, 40_000)]
SWEEP_NS = [5_000, 10_000, 20_000, 50_000]


def _relmse(teacher, coef, dirs, Xt, yt):
    return relative_mse(np.maximum(Xt @ dirs.T, 0.0) @ coef, yt)


def run_case(family, d, k, N, seed, *, baselines=True, n_restarts=4):
    """One (teacher, seed): RC-learn and the baselines; a dict of metrics."""
    rng = np.random.default_rng(seed)
    teacher = make_teacher(family, d, k, rng)
    X, y = teacher.sample(N, rng)
    Xt, yt = teacher.sample(50_000, rng)
    t0 = time.perf_counter()
    est = ReLUMomentRegressor(k, rng=seed).fit(X, y)
    fit_s = time.perf_counter() - t0
    row = {
        "family": family, "d": d, "k": k, "N": N, "seed": seed,
        "rc_relmse": relative_mse(est.predict(Xt), yt),
        "rc_param_error": parameter_error(teacher.coef, teacher.directions, est.coef_,
                                          est.directions_),
        "subspace_t2": subspace_error(teacher.directions, est.t2_subspace_),
        "subspace_final": subspace_error(teacher.directions, est.subspace_),
        "m_A": est.n_subspace_from_t2_, "rc_seconds": fit_s,
        "rc_timings": est.timings_,
    }
    if baselines:
        restarts = fit_random_init(X, y, k, n_restarts=n_restarts, rng=seed + 1000)
        errs = [_relmse(teacher, c, u, Xt, yt) for c, u, _ in restarts]
        best = int(np.argmin([loss for _, _, loss in restarts]))
        row["random_relmse"] = errs
        row["random_success_rate"] = float(np.mean([e < EXACT for e in errs]))
        row["random_best_relmse"] = errs[best]
        c, u, _ = fit_zhong_style(X, y, k, rng=seed + 2000)
        row["zhong_relmse"] = _relmse(teacher, c, u, Xt, yt)
    return row


def run_mlp(family, d, k, N, seed, *, adam_epochs=100):
    """scikit-learn MLPRegressor (has biases: a superset model) at widths k and 8k."""
    from sklearn.neural_network import MLPRegressor
    rng = np.random.default_rng(seed)
    teacher = make_teacher(family, d, k, rng)
    X, y = teacher.sample(N, rng)
    Xt, yt = teacher.sample(50_000, rng)
    out = {"family": family, "d": d, "k": k, "N": N, "seed": seed}
    for width in (k, 8 * k):
        for solver in ("adam", "lbfgs"):
            kw = dict(hidden_layer_sizes=(width,), activation="relu", alpha=0.0,
                      solver=solver, random_state=seed)
            if solver == "adam":
                kw.update(learning_rate_init=1e-3, batch_size=256, max_iter=adam_epochs,
                          tol=0.0, n_iter_no_change=adam_epochs + 1)
            else:
                kw.update(max_iter=2000, tol=0.0, max_fun=20000)
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = MLPRegressor(**kw).fit(X, y)
            out[f"w{'k' if width == k else '8k'}_{solver}"] = relative_mse(m.predict(Xt), yt)
    return out


def _sweep_point(family, N, d, k, seed):
    rng = np.random.default_rng(seed)
    teacher = make_teacher(family, d, k, rng)
    X, y = teacher.sample(N, rng)
    Xt, yt = teacher.sample(50_000, rng)
    est = ReLUMomentRegressor(k, rng=seed).fit(X, y)
    return {"rc_relmse": relative_mse(est.predict(Xt), yt)}


def run_sweep(seeds, Ns, d=50, k=4, executor=None):
    """Sample-size sweep: exact recoveries and relMSE against N (generic and t2cancel).

    ``executor``: None, or a dask Client / Executor running the grid (zenkai_np.sweep).
    """
    from ..sweep import sweep
    rows = sweep(_sweep_point, {"family": ["generic", "t2cancel"], "N": list(Ns), "d": [d],
                                "k": [k]}, seeds=seeds, executor=executor)
    for r in rows:
        print(f"  sweep {r['family']} N={r['N']} seed={r['seed']}: relMSE "
              f"{r['rc_relmse']:.2e}", flush=True)
    return rows


def _fmt_range(vals, fmt="{:.2g}"):
    lo, hi = min(vals), max(vals)
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}–{fmt.format(hi)}"


def recovery_table(rows):
    """Markdown table of docs/moments.md's results shape, one line per (family, d, k, N)."""
    keys = []
    for r in rows:
        key = (r["family"], r["d"], r["k"], r["N"])
        if key not in keys:
            keys.append(key)
    lines = ["| d | k | family | N | RC-learn exact (relMSE<1e-10) | RC-learn relMSE | "
             "subspace error T₂-only → final | RC-learn fit s | random-init success/restart | "
             "random best-of-4 fails | Zhong-style exact |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for family, d, k, N in keys:
        rs = [r for r in rows if (r["family"], r["d"], r["k"], r["N"]) == (family, d, k, N)]
        exact = sum(r["rc_relmse"] < EXACT for r in rs)
        line = (f"| {d} | {k} | {family} | {N:.0e} | {exact}/{len(rs)} | "
                f"{_fmt_range([r['rc_relmse'] for r in rs], '{:.1e}')} | "
                f"{_fmt_range([r['subspace_t2'] for r in rs])} → "
                f"{_fmt_range([r['subspace_final'] for r in rs])} | "
                f"{_fmt_range([r['rc_seconds'] for r in rs], '{:.1f}')} |")
        if "random_relmse" in rs[0]:
            rate = _fmt_range([100 * r["random_success_rate"] for r in rs], "{:.0f}") + "%"
            fails = [r["random_best_relmse"] for r in rs if r["random_best_relmse"] >= EXACT]
            fail_txt = f"{len(fails)}/{len(rs)}" + (
                f" ({_fmt_range(fails, '{:.1e}')})" if fails else "")
            zh = [r["zhong_relmse"] for r in rs]
            zh_ok = sum(z < EXACT for z in zh)
            zh_txt = f"{zh_ok}/{len(rs)}" + (
                f" (fails {_fmt_range([z for z in zh if z >= EXACT], '{:.1e}')})"
                if zh_ok < len(rs) else "")
            line += f" {rate} | {fail_txt} | {zh_txt} |"
        else:
            line += " – | – | – |"
        lines.append(line)
    return "\n".join(lines)


def mlp_table(rows):
    cols = ["wk_adam", "wk_lbfgs", "w8k_adam", "w8k_lbfgs"]
    lines = ["| instance | seed | width k, adam | width k, lbfgs | width 8k, adam | "
             "width 8k, lbfgs |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['family']}, d={r['d']}, k={r['k']} | {r['seed']} | "
                     + " | ".join(f"{r[c]:.1e}" for c in cols) + " |")
    return "\n".join(lines)


def sweep_table(rows):
    Ns = sorted({r["N"] for r in rows})
    lines = ["| family | " + " | ".join(f"N={N:.0e}" for N in Ns) + " |",
             "|---|" + "---|" * len(Ns)]
    for family in ("generic", "t2cancel"):
        cells = []
        for N in Ns:
            rs = [r["rc_relmse"] for r in rows if r["family"] == family and r["N"] == N]
            if rs:
                cells.append(f"{sum(e < EXACT for e in rs)}/{len(rs)} exact "
                             f"(max {max(rs):.1e})")
            else:
                cells.append("–")
        lines.append(f"| {family} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_sweep(rows, path):
    """PNG of test relMSE against N (one line per family, every seed shown)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for family, colour in (("generic", "C0"), ("t2cancel", "C3")):
        rs = [r for r in rows if r["family"] == family]
        Ns = sorted({r["N"] for r in rs})
        med = [np.median([r["rc_relmse"] for r in rs if r["N"] == N]) for N in Ns]
        ax.plot(Ns, np.maximum(med, 1e-32), "-o", color=colour, label=f"{family} (median)")
        ax.scatter([r["N"] for r in rs], np.maximum([r["rc_relmse"] for r in rs], 1e-32),
                   color=colour, alpha=0.35, s=14)
    ax.axhline(EXACT, color="grey", ls="--", lw=0.8, label="exact threshold 1e-10")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N (samples)")
    ax.set_ylabel("test relMSE")
    d, k = rows[0]["d"], rows[0]["k"]
    ax.set_title(f"RC-learn recovery error vs N (d={d}, k={k})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small run (< 1 minute)")
    p.add_argument("--json", metavar="PATH", help="write every result to PATH")
    p.add_argument("--seeds", type=int, default=None, help="seeds per case (default 3; quick 1)")
    p.add_argument("--plot", metavar="PATH", default=None,
                   help="PNG of recovery error vs N (needs matplotlib)")
    p.add_argument("--no-mlp", action="store_true", help="skip scikit-learn's MLPRegressor")
    p.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="run the N sweep on the dask scheduler at ADDRESS "
                        "('local': a LocalCluster)")
    p.add_argument("--resume", action="store_true",
                   help="keep the results already in --json PATH and run only the missing ones")
    args = p.parse_args(argv)
    n_seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    cases = QUICK_CASES if args.quick else FULL_CASES
    out = {"quick": args.quick, "rows": [], "mlp": [], "sweep": []}
    if args.resume and args.json:
        try:
            with open(args.json) as f:
                out.update({key: v for key, v in json.load(f).items() if key in out})
        except FileNotFoundError:
            pass
    done = {(r["family"], r["d"], r["k"], r["N"], r["seed"]) for r in out["rows"]}

    def dump():
        if args.json:
            with open(args.json, "w") as f:
                json.dump(out, f, indent=1)

    t_start = time.perf_counter()
    for family, d, k, N, min_seeds in cases:
        for seed in range(max(n_seeds, min_seeds)):
            if (family, d, k, N, seed) in done:
                continue
            row = run_case(family, d, k, N, seed, n_restarts=1 if args.quick else 4)
            out["rows"].append(row)
            print(f"{family} d={d} k={k} N={N} seed={seed}: RC relMSE {row['rc_relmse']:.2e} "
                  f"({row['rc_seconds']:.1f} s), subspace {row['subspace_t2']:.2f} -> "
                  f"{row['subspace_final']:.2f}, random {row['random_success_rate']:.0%}, "
                  f"Zhong {row['zhong_relmse']:.2e}", flush=True)
            dump()
    sweep_seeds = range(1 if args.quick else min(n_seeds, 2))
    if not out["sweep"]:
        client = None
        if args.dask:
            from distributed import Client
            client = Client() if args.dask == "local" else Client(args.dask)
        out["sweep"] = run_sweep(sweep_seeds, [2_000, 10_000] if args.quick else SWEEP_NS,
                                 d=10 if args.quick else 50, k=4, executor=client)
        if client is not None:
            client.close()
        dump()
    if not args.no_mlp and not args.quick and not out["mlp"]:
        try:
            import sklearn  # noqa: F401
        except ImportError:
            print("scikit-learn not installed: MLPRegressor baseline skipped")
        else:
            for family, d, k, N in MLP_CASES:
                for seed in (0,):
                    out["mlp"].append(run_mlp(family, d, k, N, seed))
                    print(f"  MLP {out['mlp'][-1]}", flush=True)
                    dump()
    dump()
    print()
    print(recovery_table(out["rows"]))
    if out["mlp"]:
        print()
        print(mlp_table(out["mlp"]))
    print()
    print(sweep_table(out["sweep"]))
    if args.plot:
        try:
            plot_sweep(out["sweep"], args.plot)
            print(f"\nplot written to {args.plot}")
        except ImportError:
            print("matplotlib not installed: no plot")
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")
    return out


if __name__ == "__main__":
    main()

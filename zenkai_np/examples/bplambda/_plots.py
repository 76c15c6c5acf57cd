"""PNG figures of a run (matplotlib, Agg): alignment curves, learning, Table 2 bars."""
from __future__ import annotations

import os
from collections import defaultdict

import numpy as np


def _curves(ax, rows, key_idx, label_of):
    by = defaultdict(list)
    for r in rows:
        by[label_of(r)].append(np.array(r["curve"], float))
    for label, cs in sorted(by.items(), key=lambda kv: str(kv[0])):
        n = min(len(c) for c in cs)
        c = np.stack([c[:n] for c in cs])
        ax.plot(c[0, :, 0], c[:, :, key_idx].mean(0), label=label)


def plot_all(res, directory, log=print):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed: no plots")
        return
    os.makedirs(directory, exist_ok=True)
    for name in ("fig2", "fig3"):
        rows = [r for r in res.get(name, []) if r.get("lam") is not None]
        if not rows:
            continue
        for lr in sorted({r["lr_synth"] for r in rows}):
            sub = [r for r in rows if r["lr_synth"] == lr]
            Ts = sorted({r["T"] for r in sub})
            fig, axes = plt.subplots(3, len(Ts), figsize=(3.4 * len(Ts), 7.5), squeeze=False)
            for j, T in enumerate(Ts):
                for i, (k, title) in enumerate(((1, "per-step cos"), (2, "sequence cos"),
                                                (3, "weight-gradient cos"))):
                    ax = axes[i][j]
                    _curves(ax, [r for r in sub if r["T"] == T], k,
                            lambda r: f"λ={r['lam']:g}")
                    ax.set_ylim(-0.2, 1.02)
                    ax.set_title(f"T={T}: {title}", fontsize=8)
                    if i == 2:
                        ax.set_xlabel("iteration")
            axes[0][-1].legend(fontsize=7)
            fig.suptitle(f"{name}: cosine with BPTT at the current weights, lr_synth={lr:g} "
                         "(mean over seeds)", fontsize=9)
            fig.tight_layout()
            path = os.path.join(directory, f"bplambda_{name}_lr{lr:g}.png")
            fig.savefig(path, dpi=90)
            plt.close(fig)
            log(f"wrote {path}")
    rows = res.get("table2", [])
    if rows:
        methods = list(dict.fromkeys(r["method"] for r in rows if r["T"] == rows[0]["T"]))
        T = rows[0]["T"]
        med = [np.nanmedian([np.nan if r["train_mse2"] is None else r["train_mse2"]
                             for r in rows if r["method"] == m and r["T"] == T])
               for m in methods]
        fig, ax = plt.subplots(figsize=(9, 3.4))
        ax.bar(range(len(methods)), med)
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels(methods, rotation=70, fontsize=7)
        ax.set_yscale("log")
        ax.set_title(f"Table 2 toy, T={T}: median last-epoch training MSE x 2", fontsize=9)
        fig.tight_layout()
        path = os.path.join(directory, "bplambda_table2.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        log(f"wrote {path}")

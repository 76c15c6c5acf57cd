"""Markdown tables of a run's JSON: ``python -m zenkai_np.examples.bplambda.tables PATH``."""
from __future__ import annotations

import json
import sys
from collections import defaultdict

from ._common import mean_sem, median_spread


def _grid(rows, key, Ts, lams, lr):
    out = ["| T | " + " | ".join(f"λ={lam:g}" for lam in lams) + " |",
           "|---|" + "---|" * len(lams)]
    for T in Ts:
        cells = []
        for lam in lams:
            v = [r[key] for r in rows if r["T"] == T and r["lam"] == lam
                 and r.get("lr_synth") == lr]
            m, s = mean_sem(v)
            cells.append(f"{m:.3f} ± {s:.3f} (n={len(v)})" if v else "–")
        out.append(f"| {T} | " + " | ".join(cells) + " |")
    return out


def fig2_tables(rows, title="fig2"):
    out = []
    for lr in sorted({r["lr_synth"] for r in rows if r.get("lr_synth") is not None}):
        sub = [r for r in rows if r.get("lr_synth") == lr]
        Ts = sorted({r["T"] for r in sub})
        lams = sorted({r["lam"] for r in sub if r["lam"] is not None})
        for key in ("cos_step", "cos_seq", "cos_weight"):
            out += ["", f"{title}, lr_synth = {lr:g}, {key} at the end (mean ± sem over seeds):",
                    ""] + _grid(sub, key, Ts, lams, lr)
    return out


def table2_table(rows):
    by = defaultdict(list)
    order = []
    for r in rows:
        k = (r["T"], r["method"])
        if k not in by:
            order.append(k)
        by[k].append(r)
    out = ["| T | method | train MSE×2: median [25%, 75%] | held-out MSE: median [25%, 75%] "
           "| diverged |", "|---|---|---|---|---|"]
    for k in order:
        rs = by[k]
        a = median_spread([r["train_mse2"] for r in rs])
        b = median_spread([r["test_mse"] for r in rs])
        out.append(f"| {k[0]} | {k[1]} | {a[0]:.4f} [{a[1]:.4f}, {a[2]:.4f}] | "
                   f"{b[0]:.4f} [{b[1]:.4f}, {b[2]:.4f}] | "
                   f"{sum(r['diverged'] for r in rs)}/{len(rs)} |")
    return out


def fig3_table(rows):
    out = ["| T | method | lr_synth | cos_step | cos_weight | final train MSE (median) | n |",
           "|---|---|---|---|---|---|---|"]
    by = defaultdict(list)
    for r in rows:
        by[(r["T"], r["method"], r["lr_synth"])].append(r)
    for (T, m, lr), rs in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                             kv[0][2] or 0)):
        cs, cw = mean_sem([r["cos_step"] for r in rs]), mean_sem([r["cos_weight"] for r in rs])
        mse = median_spread([r["final_train_mse"] for r in rs])[0]
        out.append(f"| {T} | {m} | {lr if lr is not None else '–'} | {cs[0]:.3f} | "
                   f"{cw[0]:.3f} | {mse:.3g} | {len(rs)} |")
    return out


def patterns4_table(rows):
    out = ["| T | variant | held-out MSE median [25%, 75%] | diverged | last cos W_ih / W_hh / b "
           "(median) | ‖G_0‖/‖G_T−2‖ (median) |", "|---|---|---|---|---|---|"]
    by = defaultdict(list)
    for r in rows:
        by[(r["T"], r["method"])].append(r)
    for (T, m), rs in by.items():
        a = median_spread([r["test_mse"] for r in rs])
        last = [r["curve"][-1] for r in rs if r["curve"]]
        cos = (" / ".join(f"{median_spread([c[i] for c in last])[0]:.2f}" for i in (1, 2, 3))
               if last else "–")
        ratio = f"{median_spread([c[5] for c in last])[0]:.2e}" if last else "–"
        out.append(f"| {T} | {m} | {a[0]:.4f} [{a[1]:.4f}, {a[2]:.4f}] | "
                   f"{sum(r['diverged'] for r in rs)}/{len(rs)} | {cos} | {ratio} |")
    return out


def seqdigits_table(rows):
    """Methods × modes: test accuracy at the best-validation epoch, mean ± sem over seeds."""
    modes = [m for m in ("row", "pixel") if any(r["mode"] == m for r in rows)]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    out = ["| method | " + " | ".join(f"{m} (T = {8 if m == 'row' else 64})" for m in modes)
           + " |", "|---|" + "---|" * len(modes)]
    for meth in methods:
        cells = []
        for m in modes:
            v = [r["test_acc"] for r in rows if r["mode"] == m and r["method"] == meth]
            a, e = mean_sem(v)
            cells.append(f"{a:.3f} ± {e:.3f} (n={len(v)})" if v else "–")
        out.append(f"| {meth} | " + " | ".join(cells) + " |")
    return out


def copyrepeat_table(rows):
    """Curriculum level (N, R) reached per method: each seed's, and the median N."""
    by = defaultdict(list)
    for r in rows:
        by[r["method"]].append(r)
    out = ["| method | (N, R) per seed | median N | first increment to N = 2 (iteration) "
           "| diverged |", "|---|---|---|---|---|"]
    for meth, rs in by.items():
        levels = ", ".join(f"({r['level_N']}, {r['level_R']})" for r in rs)
        firsts = [next((it for it, N, _ in r["increments"] if N >= 2), None) for r in rs]
        first = ", ".join("–" if f is None else str(f) for f in firsts)
        med = median_spread([r["level_N"] for r in rs])[0]
        out.append(f"| {meth} | {levels} | {med:g} | {first} | "
                   f"{sum(bool(r.get('diverged')) for r in rs)}/{len(rs)} |")
    return out


def markdown(res) -> str:
    out = []
    if res.get("fig2"):
        out += ["### fig2"] + fig2_tables(res["fig2"])
    if res.get("fig3"):
        out += ["", "### fig3", ""] + fig3_table(res["fig3"])
    if res.get("table2"):
        out += ["", "### table2", ""] + table2_table(res["table2"])
    if res.get("seqdigits"):
        out += ["", "### seqdigits", ""] + seqdigits_table(res["seqdigits"])
    if res.get("copyrepeat"):
        out += ["", "### copyrepeat", ""] + copyrepeat_table(res["copyrepeat"])
    if res.get("patterns4"):
        out += ["", "### patterns4", ""] + patterns4_table(res["patterns4"])
    return "\n".join(out)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(markdown(json.load(f)))

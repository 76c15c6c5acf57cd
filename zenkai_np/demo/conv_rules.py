"""Tour, part two: learning rules on a small conv net, with alignment curves.

    python -m zenkai_np.demo.conv_rules [--full] [--seeds 0,1,2] [--epochs N]
                                        [--rules bp,fa,...] [--plot PATH] [--json PATH]

Digits (1x8x8 images, the tour's split and standardisation), float32, batch
64, SGD lr 0.02 with momentum 0.9 for every rule and both nets (with Adam 1e-3
FA's conv layers ran away: loss rising, chance accuracy), one BLAS thread.
The conv net is

    conv 1->16 3x3 pad 1, ReLU, max-pool 2  ->  conv 16->32 3x3 pad 1, ReLU
    ->  flatten 512 -> 64 ReLU -> 10

and the MLP is the tour's 64-256-256-10 (ReLU).  Rules:

* bp   -- GradLearner everywhere (exact backprop)
* fa   -- FALearner on every conv/linear layer (fixed random B)
* kp   -- KPLearner (Kolen-Pollack: B gets W's updates, both decay 3.75e-3 per step)
* usf  -- SignSymmetryLearner(mode="usf") (B = s * sign(W))
* dfa  -- DFALearner hidden blocks (global error through fixed B_l), GradLearner readout
* drtp -- DRTPLearner hidden blocks (one-hot target through fixed B_l), GradLearner readout,
          with tanh hidden units: the setting of Frenkel et al.'s reference code (its
          ``--conv-act`` and ``--hidden-act`` default to tanh)
* drtp-relu -- the same with ReLU hidden units (a labelled variant; on the conv net it
          diverged to NaN in every seed measured)

After every epoch ``zenkai_np.alignment`` measures, on 256 training samples,
each layer's angle between the rule's update and the true gradient (and, for
fa/kp/usf, the angle between W and B).  Prints a table (test accuracy per seed,
final angles) and saves the curves (MLP and conv, one panel per layer).  The
tour runs seed 0 with few epochs; ``--full`` runs seeds 0, 1, 2 (the README
table).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

RULES = ("bp", "fa", "kp", "usf", "dfa", "drtp", "drtp-relu")
DIRECT = ("dfa", "drtp", "drtp-relu")      # hidden blocks with their own B_l; GradLearner readout
KP_DECAY = 3.75e-3
LR = 0.02


def _opt():
    """SGD with momentum 0.9 for every rule (Adam drives FA's conv layers unstable)."""
    import zenkai_np as zk
    return zk.SGD(lr=LR, momentum=0.9)


def _learner(rule, layer, opt, seed, **dfa_kw):
    """A learner of ``rule`` for a hidden parameterised layer."""
    import zenkai_np as zk
    if rule == "bp":
        return zk.GradLearner(layer, opt)
    if rule == "fa":
        return zk.FALearner(layer, opt, rng=seed)
    if rule == "kp":
        return zk.KPLearner(layer, opt, rng=seed, decay=KP_DECAY)
    if rule == "usf":
        return zk.SignSymmetryLearner(layer, opt, mode="usf", rng=seed)
    cls = zk.DFALearner if rule == "dfa" else zk.DRTPLearner      # drtp, drtp-relu
    return cls(layer, dfa_kw.pop("activation"), n_error=10, optimizer=opt, rng=seed,
               **dfa_kw)


def _readout(rule, layer, opt, seed):
    import zenkai_np as zk
    if rule in DIRECT:
        return zk.GradLearner(layer, opt)
    return _learner(rule, layer, opt, seed)


def _hidden_act(rule):
    """Hidden units: tanh for ``drtp`` (the DRTP authors' setting: bounded units, so the
    signal -y* B_l, which never vanishes, cannot drive them without bound), ReLU for
    every other rule and for the ``drtp-relu`` variant."""
    import zenkai_np as zk
    return zk.Tanh() if rule == "drtp" else zk.ReLU()


def _act(rule, act):
    """The activation machine after a layer (folded into DFA/DRTP blocks)."""
    import zenkai_np as zk
    return [] if rule in DIRECT else [zk.GradLearner(act)]


def build_conv(rule, dtype, seed):
    import zenkai_np as zk
    opt = _opt()
    G = zk.GradLearner
    c1 = zk.Conv2d(1, 16, 3, padding=1, dtype=dtype, init="he", rng=seed)
    c2 = zk.Conv2d(16, 32, 3, padding=1, dtype=dtype, init="he", rng=seed + 1)
    f1 = zk.Linear(512, 64, dtype=dtype, init="he", rng=seed + 2)
    f2 = zk.Linear(64, 10, dtype=dtype, init="he", rng=seed + 3)
    direct = rule in DIRECT
    kw = tuple({"activation": _hidden_act(rule)} for _ in range(3))
    if direct:
        kw[0]["input_shape"] = (1, 8, 8)
        kw[1]["input_shape"] = (16, 4, 4)
    ms = [G(zk.Unflatten((1, 8, 8))),
          _learner(rule, c1, opt, seed + 10, **kw[0]), *_act(rule, zk.ReLU()),
          G(zk.MaxPool2d(2)),
          _learner(rule, c2, opt, seed + 11, **kw[1]), *_act(rule, zk.ReLU()),
          G(zk.Flatten()),
          _learner(rule, f1, opt, seed + 12, **kw[2]), *_act(rule, zk.ReLU()),
          _readout(rule, f2, opt, seed + 13)]
    return zk.Sequential(*ms)


def build_mlp(rule, dtype, seed):
    import zenkai_np as zk
    opt = _opt()
    ls = [zk.Linear(a, b, dtype=dtype, init="he", rng=seed + i)
          for i, (a, b) in enumerate(((64, 256), (256, 256), (256, 10)))]
    ms = []
    for i, layer in enumerate(ls[:2]):
        ms += [_learner(rule, layer, opt, seed + 10 + i, activation=_hidden_act(rule)),
               *_act(rule, zk.ReLU())]
    ms.append(_readout(rule, ls[2], opt, seed + 12))
    return zk.Sequential(*ms)


def run_one(arch, rule, data, dtype, epochs, seed):
    """Train one network; returns a result row and its per-epoch alignment rows."""
    import zenkai_np as zk
    xtr, ytr, xte, yte = data
    net = (build_conv if arch == "conv" else build_mlp)(rule, dtype, seed)
    loss = zk.CrossEntropyLoss()
    pick = np.random.default_rng(1000 + seed).choice(len(xtr), 256, replace=False)
    cb = zk.AlignmentCallback(xtr[pick], ytr[pick], loss=loss)
    initial = zk.alignment(net, xtr[pick], ytr[pick], loss=loss)
    hist = zk.fit(net, xtr, ytr, loss=loss, epochs=epochs, batch_size=64, rng=seed,
                  callback=cb)
    acc = zk.evaluate(net, xte, yte)["accuracy"]
    return ({"arch": arch, "rule": rule, "seed": seed, "test_accuracy": acc,
             "epochs": hist.epochs,
             "seconds_per_epoch": float(np.mean(hist.seconds)) if hist.seconds else 0.0,
             "final": cb.rows[-1] if cb.rows else initial},
            [initial] + cb.rows)


def _fmt_angles(rows, key):
    return " ".join("  -  " if np.isnan(r[key]) else f"{r[key]:5.1f}" for r in rows)


def save_curves(curves, path):
    """``curves[arch][rule]`` = per-epoch alignment rows; one panel per layer."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = {"mlp": ("fc1 64->256", "fc2 256->256", "readout 256->10"),
             "conv": ("conv1 1->16", "conv2 16->32", "fc1 512->64", "readout 64->10")}
    archs = [a for a in ("mlp", "conv") if curves.get(a)]
    ncol = max(len(next(iter(curves[a].values()))[0]) for a in archs)
    fig, axes = plt.subplots(len(archs), ncol, figsize=(3.2 * ncol, 2.9 * len(archs)),
                             squeeze=False)
    for r, arch in enumerate(archs):
        n_layers = len(next(iter(curves[arch].values()))[0])
        for rule, per_epoch in curves[arch].items():
            for c in range(n_layers):
                vals = [rows[c]["angle"] for rows in per_epoch]
                axes[r, c].plot(range(len(vals)), vals, label=rule)
        for c in range(ncol):
            ax = axes[r, c]
            if c >= n_layers:
                ax.axis("off")
                continue
            label = names[arch][c] if len(names[arch]) == n_layers else f"layer {c}"
            ax.set_title(f"{arch}: {label}", fontsize=9)
            ax.set_ylim(0, 120)
            ax.axhline(90, color="gray", lw=0.6, ls=":")
            ax.grid(alpha=0.3)
            ax.set_xlabel("epoch", fontsize=8)
            if c == 0:
                ax.set_ylabel("update-gradient angle (deg)", fontsize=8)
        axes[r, 0].legend(fontsize=7, ncol=2)
    fig.suptitle("zenkai_np: angle between each rule's update and the backprop gradient "
                 "(digits)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return os.path.abspath(path)


def run(rules=RULES, seeds=(0,), epochs_conv=30, epochs_mlp=30, dtype=np.float32,
        plot=None, json_path=None, verbose=True):
    """Train every rule on the conv net (all ``seeds``) and the MLP (first seed)."""
    from .._threads import limit_blas_threads
    from .data import load_data
    data = load_data(dtype)
    rows, curves = [], {"conv": {}, "mlp": {}}
    t0 = time.perf_counter()
    with limit_blas_threads(1):
        for arch, epochs, arch_seeds in (("conv", epochs_conv, seeds),
                                         ("mlp", epochs_mlp, seeds[:1])):
            for rule in rules:
                for seed in arch_seeds:
                    row, per_epoch = run_one(arch, rule, data, dtype, epochs, seed)
                    rows.append(row)
                    if seed == seeds[0]:
                        curves[arch][rule] = per_epoch
                    if verbose:
                        print(f"  {arch:<4} {rule:<9} seed {seed}  test "
                              f"{row['test_accuracy']:.4f}  angles "
                              f"[{_fmt_angles(row['final'], 'angle')}]  W-B "
                              f"[{_fmt_angles(row['final'], 'fb_angle')}]  "
                              f"{row['seconds_per_epoch'] * 1e3:.0f} ms/epoch", flush=True)
    if verbose:
        print_table(rows)
        print(f"total {time.perf_counter() - t0:.1f} s")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(rows, f, indent=1, default=float)
    if plot:
        where = save_curves(curves, plot)
        if verbose and where:
            print(f"alignment curves saved to {where}")
    return rows, curves


def print_table(rows):
    """Mean (and per-seed) test accuracy and seed-0 final angles per rule and net."""
    print(f"\n{'net':<5}{'rule':<10}{'test accuracy (per seed)':<34}"
          f"{'final angle per layer (deg)':<32}W-B angle")
    for arch in ("conv", "mlp"):
        for rule in RULES:
            rs = [r for r in rows if r["arch"] == arch and r["rule"] == rule]
            if not rs:
                continue
            accs = [r["test_accuracy"] for r in rs]
            per = ", ".join(f"{a:.4f}" for a in accs)
            acc = f"{np.mean(accs):.4f} ({per})" if len(accs) > 1 else f"{accs[0]:.4f}"
            f = rs[0]["final"]
            print(f"{arch:<5}{rule:<10}{acc:<34}{_fmt_angles(f, 'angle'):<32}"
                  f"{_fmt_angles(f, 'fb_angle')}")


def main(argv=None):
    global KP_DECAY
    p = argparse.ArgumentParser(prog="python -m zenkai_np.demo.conv_rules",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true",
                   help="seeds 0,1,2 and 40 epochs (the README table)")
    p.add_argument("--seeds", help="comma-separated seeds (default 0, or 0,1,2 with --full)")
    p.add_argument("--epochs", type=int, help="epochs for every network")
    p.add_argument("--rules", default=",".join(RULES))
    p.add_argument("--plot", default="zenkai_np_alignment.png", metavar="PATH")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--kp-decay", type=float, default=KP_DECAY,
                   help=f"KPLearner per-step decay (default {KP_DECAY})")
    args = p.parse_args(argv)
    KP_DECAY = args.kp_decay
    rules = tuple(r.strip() for r in args.rules.split(",") if r.strip())
    bad = [r for r in rules if r not in RULES]
    if bad:
        p.error(f"unknown rules {bad}; choose from {list(RULES)}")
    if args.epochs is not None and args.epochs < 1:
        p.error("--epochs must be >= 1")
    seeds = tuple(int(s) for s in args.seeds.split(",")) if args.seeds else \
        ((0, 1, 2) if args.full else (0,))
    epochs = args.epochs or (40 if args.full else 15)
    return run(rules, seeds, epochs, epochs, np.dtype(args.dtype), args.plot, args.json)[0]


if __name__ == "__main__":
    main()

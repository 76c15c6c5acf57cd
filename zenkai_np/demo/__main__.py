"""The tour: compare learning rules on the handwritten-digits set.

    python -m zenkai_np.demo [--quick] [--json PATH] [--epochs N] [--plot PATH]
                             [--rules bp,fa,...] [--dtype float32|float64]

Trains a 64-256-256-10 network on ``sklearn.datasets.load_digits`` (80/20
stratified split with ``random_state=0``, standardised with the training
statistics) with each learning rule, and prints test accuracy and seconds per
epoch.  Needs scikit-learn (the ``demo`` extra); with matplotlib it also
saves a PNG of the learning curves.  BLAS runs on one thread.

Rules (batch 64 unless noted):

* bp   -- GradLearner everywhere, ReLU, Adam 1e-3 (exact backprop)
* fa   -- FALearner linear layers (fixed random B instead of W^T), ReLU, Adam
* dfa  -- two DFALearner blocks (global error through fixed B_l), GradLearner readout
* tp   -- two TPLearner tanh blocks with learned inverses, backprop readout whose
          input target is h - 64 * dL/dh (one per-sample gradient step)
* dtp  -- the same with DTPLearner (input target x + g(t) - g(y))
* ste  -- sign activations with straight-through VJPs, Adam
* lsq  -- tanh hidden layers trained toward the input target of a ridge
          least-squares readout fitted to one-hot labels (MSE, sum)
* es   -- a 64-10 softmax layer trained by antithetic evolution strategies (Adam)
* ga   -- a 64-10 layer evolved by a genetic algorithm (population 128, elitism 8,
          squared error to one-hot labels as fitness, batch 256)

A reference line shows the tp/dtp network with frozen random hidden layers:
digits is easy for random tanh features, so compare train accuracies too.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import time

import numpy as np

from .._threads import limit_blas_threads
from .data import load_data


# ---------------------------------------------------------------------------
# one builder per rule: returns (model, loss, fit keyword arguments)
# ---------------------------------------------------------------------------

H = 256


def _lin(n_in, n_out, dtype, seed, **kw):
    import zenkai_np as zk
    return zk.Linear(n_in, n_out, dtype=dtype, rng=seed, **kw)


def build_bp(dtype, seed):
    import zenkai_np as zk
    opt = zk.Adam(lr=1e-3)
    net = zk.Sequential(
        zk.GradLearner(_lin(64, H, dtype, seed, init="he"), opt), zk.GradLearner(zk.ReLU()),
        zk.GradLearner(_lin(H, H, dtype, seed + 1, init="he"), opt),
        zk.GradLearner(zk.ReLU()),
        zk.GradLearner(_lin(H, 10, dtype, seed + 2, init="he"), opt))
    return net, zk.CrossEntropyLoss(), {"batch_size": 64}


def build_fa(dtype, seed):
    import zenkai_np as zk
    opt = zk.Adam(lr=1e-3)
    net = zk.Sequential(
        zk.FALearner(_lin(64, H, dtype, seed, init="he"), opt, rng=seed + 10),
        zk.GradLearner(zk.ReLU()),
        zk.FALearner(_lin(H, H, dtype, seed + 1, init="he"), opt, rng=seed + 11),
        zk.GradLearner(zk.ReLU()),
        zk.FALearner(_lin(H, 10, dtype, seed + 2, init="he"), opt, rng=seed + 12))
    return net, zk.CrossEntropyLoss(), {"batch_size": 64}


def build_dfa(dtype, seed):
    import zenkai_np as zk
    opt = zk.Adam(lr=1e-3)
    net = zk.Sequential(
        zk.DFALearner(_lin(64, H, dtype, seed, init="he"), zk.ReLU(), n_error=10,
                      optimizer=opt, rng=seed + 10),
        zk.DFALearner(_lin(H, H, dtype, seed + 1, init="he"), zk.ReLU(), n_error=10,
                      optimizer=opt, rng=seed + 11),
        zk.GradLearner(_lin(H, 10, dtype, seed + 2, init="he"), opt))
    return net, zk.CrossEntropyLoss(), {"batch_size": 64}


def _tp_block(cls, n_in, n_out, dtype, seed, lr, inv_lr, noise):
    import zenkai_np as zk
    f = zk.Chain(_lin(n_in, n_out, dtype, seed), zk.Tanh())
    g = zk.Chain(_lin(n_out, n_in, dtype, seed + 100), zk.Tanh())
    return cls(f, g, zk.Adam(lr=lr), zk.Adam(lr=inv_lr), noise_std=noise, rng=seed + 200,
               train_inverse=inv_lr > 0)


def _build_tp(cls, dtype, seed, lr=1e-3, inv_lr=1e-3, noise=0.1, x_lr=64.0):
    """Two TP/DTP tanh blocks under a backprop softmax readout.

    The readout's input target is ``h - x_lr * dL/dh`` with the batch-mean loss,
    i.e. one per-sample gradient step for batch 64 and x_lr 64.
    """
    import zenkai_np as zk
    net = zk.Sequential(
        _tp_block(cls, 64, H, dtype, seed, lr, inv_lr, noise),
        _tp_block(cls, H, H, dtype, seed + 1, lr, inv_lr, noise),
        zk.GradLearner(_lin(H, 10, dtype, seed + 2), zk.Adam(lr=1e-3), x_lr=x_lr))
    return net, zk.CrossEntropyLoss(), {"batch_size": 64}


def build_tp(dtype, seed):
    import zenkai_np as zk
    return _build_tp(zk.TPLearner, dtype, seed)


def build_dtp(dtype, seed):
    import zenkai_np as zk
    return _build_tp(zk.DTPLearner, dtype, seed)


def build_frozen(dtype, seed):
    """Reference: the TP architecture with frozen random hidden layers."""
    import zenkai_np as zk
    return _build_tp(zk.DTPLearner, dtype, seed, lr=0.0, inv_lr=0.0)


def build_ste(dtype, seed):
    import zenkai_np as zk
    opt = zk.Adam(lr=1e-3)
    net = zk.Sequential(
        zk.GradLearner(_lin(64, H, dtype, seed), opt), zk.GradLearner(zk.Sign()),
        zk.GradLearner(_lin(H, H, dtype, seed + 1), opt), zk.GradLearner(zk.Sign()),
        zk.GradLearner(_lin(H, 10, dtype, seed + 2, scale=0.1), opt))
    return net, zk.CrossEntropyLoss(), {"batch_size": 64}


def build_lsq(dtype, seed):
    import zenkai_np as zk
    opt = zk.SGD(lr=0.001, momentum=0.9)
    net = zk.Sequential(
        zk.GradLearner(_lin(64, H, dtype, seed), opt), zk.GradLearner(zk.Tanh()),
        zk.GradLearner(_lin(H, H, dtype, seed + 1), opt), zk.GradLearner(zk.Tanh()),
        zk.LeastSquaresLearner(_lin(H, 10, dtype, seed + 2), alpha=1.0, x_alpha=10.0,
                               memory=0.9))
    return net, zk.MSELoss("sum"), {"batch_size": 64, "one_hot": True}


def build_es(dtype, seed):
    import zenkai_np as zk
    net = zk.Sequential(
        zk.ESLearner(_lin(64, 10, dtype, seed, scale=0.1), zk.Adam(lr=0.01), pop_size=32,
                     sigma=0.05, x_search="none", rng=seed))
    return net, zk.CrossEntropyLoss(), {"batch_size": 64}


def build_ga(dtype, seed):
    import zenkai_np as zk
    # selection needs the real loss as fitness: squared error to the one-hot labels
    net = zk.Sequential(
        zk.GALearner(_lin(64, 10, dtype, seed, scale=0.1), pop_size=128, elite=8,
                     mutation_std=0.03, mutation_rate=0.05, x_search="none", rng=seed))
    return net, zk.MSELoss("sum"), {"batch_size": 256, "one_hot": True}


RULES = {
    # rule: (builder, full epochs, quick epochs, description)
    "bp": (build_bp, 40, 8, "backprop (GradLearner), ReLU, Adam"),
    "fa": (build_fa, 40, 8, "feedback alignment, ReLU, Adam"),
    "dfa": (build_dfa, 40, 8, "direct feedback alignment, ReLU, Adam"),
    "tp": (build_tp, 40, 6, "target propagation, tanh, Adam"),
    "dtp": (build_dtp, 40, 6, "difference target propagation"),
    "ste": (build_ste, 40, 8, "sign activations, straight-through, Adam"),
    "lsq": (build_lsq, 30, 5, "least-squares readout"),
    "es": (build_es, 60, 10, "evolution strategies, 64-10"),
    "ga": (build_ga, 150, 10, "genetic algorithm, 64-10"),
}


def run_rule(rule, data, dtype, epochs, seed=0):
    import zenkai_np as zk
    builder = build_frozen if rule == "frozen" else RULES[rule][0]
    xtr, ytr, xte, yte = data
    model, loss, kw = builder(dtype, seed)
    one_hot = kw.pop("one_hot", False)
    ytr_fit = np.eye(10, dtype=dtype)[ytr] if one_hot else ytr
    curve = []

    def record(epoch, hist, m):
        curve.append(zk.evaluate(m, xte, yte, metrics=("accuracy",))["accuracy"])

    hist = zk.fit(model, xtr, ytr_fit, loss=loss, epochs=epochs, rng=seed, callback=record,
                  **kw)
    acc = zk.evaluate(model, xte, yte)["accuracy"]
    train_acc = zk.evaluate(model, xtr, ytr)["accuracy"]
    return {"rule": rule, "test_accuracy": acc,
            "seconds_per_epoch": float(np.mean(hist.seconds)) if hist.seconds else 0.0,
            "dtype": np.dtype(dtype).name, "epochs": hist.epochs}, curve, train_acc


def save_plot(curves, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for rule, c in curves.items():
        ax.plot(np.arange(1, len(c) + 1), c, label=rule)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.set_title("zenkai_np tour: digits, 64-256-256-10")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(ncol=3, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return os.path.abspath(path)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m zenkai_np.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="few epochs (under a minute)")
    p.add_argument("--json", metavar="PATH", help="write the result rows as JSON")
    p.add_argument("--epochs", type=int, help="epochs for every rule (overrides defaults)")
    p.add_argument("--plot", metavar="PATH", default="zenkai_np_tour.png",
                   help="where to save the learning curves (needs matplotlib)")
    p.add_argument("--rules", default=",".join(RULES),
                   help=f"comma-separated subset of {','.join(RULES)}")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-reference", action="store_true",
                   help="skip the frozen-hidden-layer reference run")
    p.add_argument("--no-conv", action="store_true",
                   help="skip part two (conv net, alignment curves; see conv_rules)")
    args = p.parse_args(argv)
    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    bad = [r for r in rules if r not in RULES]
    if bad:
        p.error(f"unknown rules {bad}; choose from {list(RULES)}")
    if args.epochs is not None and args.epochs < 1:
        p.error("--epochs must be >= 1")
    dtype = np.dtype(args.dtype)
    limiter = contextlib.ExitStack()     # one BLAS thread for the timed part
    limiter.enter_context(limit_blas_threads(1))
    data = load_data(dtype)
    print(f"digits: {len(data[0])} train / {len(data[2])} test, {dtype.name}, "
          f"{'quick' if args.quick else 'full'} run", flush=True)
    rows, curves, train_accs = [], {}, {}
    t0 = time.perf_counter()
    for rule in rules:
        _, full, quick, desc = RULES[rule]
        epochs = args.epochs or (quick if args.quick else full)
        row, curve, train_acc = run_rule(rule, data, dtype, epochs, seed=args.seed)
        rows.append(row)
        curves[rule] = curve
        train_accs[rule] = train_acc
        print(f"  {rule:<4} {desc:<40} test {row['test_accuracy']:.4f}  train "
              f"{train_acc:.4f}  {row['seconds_per_epoch'] * 1e3:7.1f} ms/epoch  "
              f"({epochs} epochs)", flush=True)
    reference = None
    if not args.no_reference and ("tp" in rules or "dtp" in rules):
        epochs = args.epochs or (RULES["dtp"][2] if args.quick else RULES["dtp"][1])
        reference, _, ref_train = run_rule("frozen", data, dtype, epochs, seed=args.seed)
        reference["train_accuracy"] = ref_train
    limiter.close()
    print()
    print(f"{'rule':<6}{'test accuracy':>14}{'s / epoch':>12}{'epochs':>8}")
    for r in rows:
        print(f"{r['rule']:<6}{r['test_accuracy']:>14.4f}{r['seconds_per_epoch']:>12.4f}"
              f"{r['epochs']:>8d}")
    if reference is not None:
        print(f"reference: the tp/dtp network with its hidden layers frozen at their random "
              f"initialisation (readout trained only) reaches test "
              f"{reference['test_accuracy']:.4f}, train {reference['train_accuracy']:.4f}; "
              f"digits is easy for random tanh features, so compare the train accuracies "
              f"above to see what the hidden-layer rule adds.")
    print(f"total {time.perf_counter() - t0:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
        print(f"rows written to {args.json}")
    where = save_plot(curves, args.plot)
    if where:
        print(f"learning curves saved to {where}")
    else:
        print("(install matplotlib for a plot of the learning curves)")
    if not args.no_conv:     # part two: python -m zenkai_np.demo.conv_rules --full for 3 seeds
        from . import conv_rules
        print("\npart two: conv net and MLP, alignment with the backprop gradient", flush=True)
        conv_epochs = args.epochs or (3 if args.quick else 15)
        tour_rules = [r for r in conv_rules.RULES if r != "drtp-relu"]   # a diverging variant
        conv_rules.run(rules=tour_rules, seeds=(args.seed,), epochs_conv=conv_epochs,
                       epochs_mlp=conv_epochs,
                       dtype=dtype, plot=os.path.splitext(args.plot)[0] + "_alignment.png")
    return rows


def cli(argv=None) -> int:
    """Console-script entry point (``zenkai-np-tour``): run the tour, exit status 0."""
    main(argv)
    return 0


if __name__ == "__main__":
    main()

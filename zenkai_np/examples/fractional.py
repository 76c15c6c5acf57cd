"""Fractional-exponential networks against tanh and ReLU MLPs (experiments of docs/fractional.md).

    python -m zenkai_np.examples.fractional [--quick] [--json PATH] [--seeds N] [--plot PATH]

Tasks (targets standardised with the training mean and std; MSE is reported on
that scale, so 1.0 is "predict the mean"):

* ``product``      y = x1 x2,              x ~ U(0.2, 4)^2
* ``product_sum``  y = x1 x2 + x3 x4,      x ~ U(0.2, 4)^4
* ``missing``      x ~ U(0.2, 4)^3, each value dropped (set to 0) with
                   probability 0.25 and the mask supplied as 3 more inputs;
                   y = prod_j (m_j x_j + 1 - m_j), the product of the observed
                   values, so the target needs mask x value interactions
* ``diabetes``     scikit-learn's diabetes regression set (442 x 10), a random
                   70/30 split per seed (skipped when scikit-learn is missing)

Models, all trained by backprop (``GradLearner`` + Adam, mini-batches of 64):

* ``fracexp``  FracExpLinear(d, H) -> Linear(H, 1): y = W2 exp^(n_out)(W1 exp^(n_in)(x) + b1) + b2
  with one n per input and one per hidden unit, all n starting at 0 (additive),
  Abel form; diabetes squashes the inputs with softplus first (its features are
  signed). Training recipe of the n: their own Adam step rate (0.03 whatever the
  weights' rate on the synthetic tasks, the weights' rate on diabetes: ``N_LR``),
  frozen for the first sixth of the epochs while the weights fit the additive network,
  then released after flipping every hidden unit whose read-out weight is negative
  (exact at n = 0; see :func:`canonical_signs`)
* ``fracexp_schroeder``  the same with the complex Schröder form (real read-out),
  on the synthetic tasks (an ablation)
* ``tanh``, ``relu``  Linear(d, H') -> act -> Linear(H', 1), H' chosen so that the
  parameter count is as close as possible to the fracexp model's

Each model's Adam learning rate is chosen per seed from {0.003, 0.01, 0.03}
(--quick: 0.03 only) on a validation split (20% of the training set).
Reported: test MSE mean +- std over seeds, and the learned n (histogram PNG when
matplotlib is installed). n_in -> -1 together with an n_out -> +1 is a product
unit (printed per seed for y = x1 x2).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from ..fractional.layers import FracExpLinear
from ..framework import GradLearner, Linear, MSELoss, ReLU, Sequential, Tanh, fit
from ..framework.optim import Adam

TASKS = ("product", "product_sum", "missing", "diabetes")
HIDDEN = {"product": 4, "product_sum": 6, "missing": 6, "diabetes": 8}
#: step rate of the n vectors per task (None: the weights' rate). 0.03 lets n travel
#: from 0 to +-1 within the epochs after the warm-up on the synthetic tasks; on
#: diabetes (247 fitting samples) it overfits (test MSE 1.19 +- 0.89 against
#: 0.54 +- 0.07 with the weights' rate), so there n steps with the weights.
N_LR = {"product": 0.03, "product_sum": 0.03, "missing": 0.03, "diabetes": None}


def make_task(name, seed, n_train, n_test):
    """Return (x_train, y_train, x_test, y_test) with standardised targets, or None."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    if name == "product":
        x = rng.uniform(0.2, 4, (n, 2))
        y = x[:, 0] * x[:, 1]
    elif name == "product_sum":
        x = rng.uniform(0.2, 4, (n, 4))
        y = x[:, 0] * x[:, 1] + x[:, 2] * x[:, 3]
    elif name == "missing":
        v = rng.uniform(0.2, 4, (n, 3))
        m = (rng.random((n, 3)) >= 0.25).astype(float)
        x = np.concatenate([v * m, m], axis=1)
        y = np.prod(v * m + 1 - m, axis=1)
    elif name == "diabetes":
        try:
            from sklearn.datasets import load_diabetes
        except ImportError:
            return None
        d = load_diabetes()
        perm = rng.permutation(d.data.shape[0])
        x, y = d.data[perm], d.target[perm].astype(float)
        n_train = int(round(0.7 * x.shape[0]))
        mu, sd = x[:n_train].mean(0), x[:n_train].std(0)
        x = (x - mu) / sd
    else:
        raise ValueError(f"unknown task {name!r}")
    y = y[:, None]
    mu, sd = y[:n_train].mean(), y[:n_train].std()
    y = (y - mu) / sd
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def n_params(model):
    return int(sum(p.size for p in model.parameters().values()))


def fracexp_model(d, H, seed, method, squash, n_lr, lr, n_std=0.1):
    """FracExpLinear(d, H) -> Linear(H, 1), Adam; the n vectors step at ``n_lr``."""
    layer = FracExpLinear(d, H, method=method, n_std=n_std, n_lr=n_lr, input_squash=squash,
                          rng=seed)
    model = Sequential(GradLearner(layer, Adam(lr=lr)),
                       GradLearner(Linear(H, 1, rng=seed + 1), Adam(lr=lr)))
    return model, layer


def _n_groups(model):
    """The optimizer groups of the n parameters of a :func:`fracexp_model`."""
    opt = model.children()[0].optimizer
    return [g for g in opt.groups if set(g["params"]) & {"n_in", "n_out"}]


def canonical_signs(model):
    """Flip every hidden unit whose read-out weight is negative (needs n_out == 0).

    At n_out = 0 a unit is linear, so ``(W1[:, i], b1[i], W2[i]) -> -(...)`` leaves
    the network's function unchanged; afterwards every unit is on the branch with
    a positive read-out, the one from which n_out -> +1 (exp, a product unit
    ``e^b prod x^W``) is reachable: exp^(n) is not odd, and on the other branch the
    curvature the target asks for makes n_out go negative (towards log), where the
    pre-activation soon leaves the domain and the unit is clamped. Returns the
    number of flipped units.
    """
    layer = model.children()[0].layer
    readout = model.children()[-1].layer
    neg = readout.params["W"][:, 0] < 0
    layer.flip_units(neg)
    readout.params["W"][neg, 0] *= -1
    return int(neg.sum())


def fit_fracexp(model, x, y, *, epochs, batch_size, rng, n_lr, n_warmup, sign_canon):
    """Train a :func:`fracexp_model`: n frozen for ``n_warmup`` epochs, then canonical
    unit signs (``sign_canon``) and n learning at ``n_lr``."""
    groups = _n_groups(model)
    if n_warmup <= 0:
        if sign_canon:
            canonical_signs(model)
        return fit(model, x, y, loss=MSELoss(), epochs=epochs, batch_size=batch_size, rng=rng)
    for g in groups:
        g["lr"] = 0.0

    def release(epoch, history, m):
        if epoch + 1 == n_warmup:
            if sign_canon:
                canonical_signs(model)
            for g in groups:
                g["lr"] = n_lr

    return fit(model, x, y, loss=MSELoss(), epochs=epochs, batch_size=batch_size, rng=rng,
               callback=release)


def mlp_model(d, H, act, seed, lr):
    return Sequential(GradLearner(Linear(d, H, rng=seed), Adam(lr=lr)), GradLearner(act()),
                      GradLearner(Linear(H, 1, rng=seed + 1), Adam(lr=lr)))


def matched_width(d, target):
    """Hidden width H' of a d -> H' -> 1 MLP whose parameter count is closest to target."""
    best = min(range(1, 4 * target), key=lambda h: (abs(h * (d + 2) + 1 - target), h))
    return best


def run(*, quick=False, seeds=5, tasks=TASKS, epochs=None, verbose=True, schroeder=True,
        lrs=None, n_std=0.0, models=None, batch_size=64, n_lr="task", n_warmup=None,
        sign_canon=True):
    """Train every model on every task and seed; return a result dict.

    Each model's learning rate (the n parameters use the same rate) is chosen per
    seed from ``lrs`` by the MSE on a validation split (the last 20% of the
    training set; training uses the first 80%); the Schröder ablation reuses the
    rate chosen for the Abel fracexp model. The test MSE is that of the chosen run.

    The fracexp models' n vectors have their own step rate ``n_lr`` (None: the
    weights' rate; "task": :data:`N_LR`), are frozen for the first ``n_warmup`` epochs
    (None: epochs // 6) while the weights fit the additive (n = 0) network, and are then
    released after :func:`canonical_signs` (``sign_canon``).
    """
    if epochs is None:
        epochs = 120 if quick else 600
    if lrs is None:
        lrs = (0.03,) if quick else (0.003, 0.01, 0.03)
    if n_warmup is None:
        n_warmup = epochs // 6
    n_train, n_test = (600, 1000) if quick else (1000, 2000)
    models_filter = None if models is None else set(models)
    out = {"config": dict(quick=quick, seeds=seeds, epochs=epochs, n_train=n_train,
                          n_test=n_test, lrs=list(lrs), n_std=n_std, batch_size=batch_size,
                          n_lr=N_LR if n_lr == "task" else n_lr, n_warmup=n_warmup,
                          sign_canon=sign_canon,
                          optimizer="Adam", validation_fraction=0.2),
           "tasks": {}}
    for task in tasks:
        H = HIDDEN[task]
        task_n_lr = N_LR[task] if n_lr == "task" else n_lr
        res = {}
        for seed in range(seeds):
            data = make_task(task, 1000 + seed, n_train, n_test)
            if data is None:
                break
            xtr, ytr, xte, yte = data
            n_fit = int(round(0.8 * xtr.shape[0]))
            xf, yf, xv, yv = xtr[:n_fit], ytr[:n_fit], xtr[n_fit:], ytr[n_fit:]
            d = xtr.shape[1]
            squash = "softplus" if task == "diabetes" else None
            names = ["fracexp"]
            if schroeder and task != "diabetes":
                names.append("fracexp_schroeder")
            names += ["tanh", "relu"]
            target = n_params(fracexp_model(d, H, seed, "abel", squash, 0.01, 0.01)[0])
            Hm = matched_width(d, target)

            def build(name, lr):
                nlr = lr if task_n_lr is None else task_n_lr
                if name == "fracexp":
                    return fracexp_model(d, H, seed, "abel", squash, nlr, lr, n_std)
                if name == "fracexp_schroeder":
                    return fracexp_model(d, H, seed, "schroeder", squash, nlr, lr, n_std)
                return mlp_model(d, Hm, Tanh if name == "tanh" else ReLU, seed, lr), None

            chosen = {}
            for name in names:
                if models_filter is not None and name not in models_filter:
                    continue
                grid = ([chosen["fracexp"]] if name == "fracexp_schroeder" and "fracexp" in chosen
                        else list(lrs))
                t0 = time.perf_counter()
                best = None
                for lr in grid:
                    model, layer = build(name, lr)
                    with np.errstate(all="ignore"):
                        if layer is not None:
                            fit_fracexp(model, xf, yf, epochs=epochs, batch_size=batch_size,
                                        rng=seed, n_lr=lr if task_n_lr is None else task_n_lr,
                                        n_warmup=n_warmup, sign_canon=sign_canon)
                        else:
                            fit(model, xf, yf, loss=MSELoss(), epochs=epochs,
                                batch_size=batch_size, rng=seed)
                        val = float(np.mean((model.predict(xv) - yv) ** 2))
                    val = val if np.isfinite(val) else np.inf
                    if best is None or val < best[0]:
                        best = (val, lr, model, layer)
                val, lr, model, layer = best
                chosen[name] = lr
                with np.errstate(all="ignore"):
                    mse = float(np.mean((model.predict(xte) - yte) ** 2))
                r = res.setdefault(name, {"mse": [], "params": n_params(model), "lr": [],
                                          "seconds": [], "n_in": [], "n_out": []})
                r["mse"].append(mse)
                r["lr"].append(lr)
                r["seconds"].append(time.perf_counter() - t0)
                if layer is not None:
                    r["n_in"].append(layer.params["n_in"].tolist())
                    r["n_out"].append(layer.params["n_out"].tolist())
                if verbose:
                    print(f"  {task:12s} seed {seed} {name:18s} test MSE {mse:.3e} lr {lr:g} "
                          f"({r['params']} params, {r['seconds'][-1]:.1f} s)", flush=True)
        for r in res.values():
            m = np.array(r["mse"])
            r["mse_mean"] = float(np.nanmean(m)) if np.isfinite(m).any() else float("nan")
            r["mse_std"] = float(np.nanstd(m)) if np.isfinite(m).any() else float("nan")
            r["n_failed"] = int((~np.isfinite(m)).sum())
        if res:
            out["tasks"][task] = res
    out["product_units"] = product_unit_summary(out)
    return out


PRODUCT_UNIT_TOL = 0.1


def product_unit_summary(result, tol=PRODUCT_UNIT_TOL):
    """On y = x1 x2: how close the learned n come to a product unit (n_in = -1, n_out = 1).

    Per seed: the learned n_in, the hidden unit whose n_out is closest to +1, and
    ``product_unit`` = every |n_in + 1| < tol and that unit's |n_out - 1| < tol
    (a unit computing e^b x1^W1 x2^W2); with the paired test MSEs of fracexp and
    tanh (same data and seed).
    """
    res = result["tasks"].get("product", {})
    r = res.get("fracexp")
    if not r:
        return None
    n_in = np.array(r["n_in"])    # (seeds, 2)
    n_out = np.array(r["n_out"])  # (seeds, H)
    best = np.abs(n_out - 1).argmin(axis=1)
    n_out_best = n_out[np.arange(n_out.shape[0]), best]
    log_side = np.all(np.abs(n_in + 1) < tol, axis=1)
    pu = log_side & (np.abs(n_out_best - 1) < tol)
    tanh = res.get("tanh")
    out = {
        "tol": tol,
        "n_in_per_seed": n_in.tolist(),
        "n_out_closest_to_1_per_seed": n_out_best.tolist(),
        "product_unit_per_seed": pu.tolist(),
        "seeds_with_product_unit": int(pu.sum()),
        "seeds_with_n_in_at_minus_1": int(log_side.sum()),
        "seeds": int(n_in.shape[0]),
        "fracexp_mse_per_seed": list(r["mse"]),
        "n_in_mean": n_in.mean(axis=0).tolist(),
        "max_abs_n_in_plus_1_per_seed": np.abs(n_in + 1).max(axis=1).tolist(),
        "closest_n_out_to_1_distance_per_seed": np.abs(n_out_best - 1).tolist(),
    }
    if tanh:
        out["tanh_mse_per_seed"] = list(tanh["mse"])
        out["fracexp_beats_tanh"] = bool(r["mse_mean"] < tanh["mse_mean"])
    return out


def product_unit_table(summary):
    """Markdown table, one row per seed: n_in, the n_out closest to 1, test MSEs."""
    tanh = summary.get("tanh_mse_per_seed")
    lines = ["| seed | ñ (n_in) | n̂ closest to 1 | product unit | fracexp test MSE "
             "| tanh test MSE |",
             "|---|---|---|---|---|---|"]
    for i in range(summary["seeds"]):
        ni = ", ".join(f"{v:.3f}" for v in summary["n_in_per_seed"][i])
        t = f"{tanh[i]:.2e}" if tanh else "n/a"
        lines.append(f"| {i} | ({ni}) | {summary['n_out_closest_to_1_per_seed'][i]:.3f} | "
                     f"{'yes' if summary['product_unit_per_seed'][i] else 'no'} | "
                     f"{summary['fracexp_mse_per_seed'][i]:.2e} | {t} |")
    return "\n".join(lines)


def table(result):
    """Markdown table: task x model, test MSE mean +- std (params)."""
    models = ["fracexp", "fracexp_schroeder", "tanh", "relu"]
    lines = ["| task | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for task, res in result["tasks"].items():
        cells = []
        for m in models:
            r = res.get(m)
            if r is None:
                cells.append("n/a")
                continue
            fail = f", {r['n_failed']} NaN" if r["n_failed"] else ""
            cells.append(f"{r['mse_mean']:.2e} ± {r['mse_std']:.1e} ({r['params']} p{fail})")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(result, path):
    """Histogram of the learned n (n_in and n_out of the Abel fracexp model) per task."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    tasks = [t for t in result["tasks"] if "fracexp" in result["tasks"][t]]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.2), squeeze=False)
    bins = np.linspace(-3, 3, 49)
    for ax, task in zip(axes[0], tasks):
        r = result["tasks"][task]["fracexp"]
        n_in = np.clip(np.concatenate([np.ravel(v) for v in r["n_in"]]), -3, 3)
        n_out = np.clip(np.concatenate([np.ravel(v) for v in r["n_out"]]), -3, 3)
        ax.hist(n_in, bins=bins, alpha=0.6, label="n_in (per input)")
        ax.hist(n_out, bins=bins, alpha=0.6, label="n_out (per hidden unit)")
        for v in (-1, 0, 1):
            ax.axvline(v, color="k", lw=0.5, ls=":")
        ax.set_title(task)
        ax.set_xlabel("learned n (clipped to [-3, 3])")
    axes[0][0].set_ylabel("count over seeds")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="2 seeds, 120 epochs, one learning rate (< 1 minute)")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--json", help="write the results as JSON")
    ap.add_argument("--plot", help="write the learned-n histogram PNG (needs matplotlib)")
    ap.add_argument("--no-schroeder", action="store_true")
    a = ap.parse_args(argv)
    seeds = a.seeds if a.seeds is not None else (2 if a.quick else 5)
    if seeds < 1:
        ap.error("--seeds must be >= 1")
    tasks = [t for t in a.tasks.split(",") if t]
    for t in tasks:
        if t not in TASKS:
            ap.error(f"unknown task {t!r}; expected some of {TASKS}")
    t0 = time.perf_counter()
    result = run(quick=a.quick, seeds=seeds, tasks=tasks, epochs=a.epochs,
                 schroeder=not a.no_schroeder)
    result["seconds"] = time.perf_counter() - t0
    print()
    print(table(result))
    pu = result["product_units"]
    if pu:
        print(f"\nproduct task: product unit (|n_in + 1| and |n_out - 1| < {pu['tol']:g}) "
              f"in {pu['seeds_with_product_unit']} of {pu['seeds']} seeds")
        print(product_unit_table(pu))
    print(f"\n{result['seconds']:.1f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    if a.plot:
        if plot(result, a.plot):
            print(f"wrote {a.plot}")
        else:
            print("matplotlib not installed: no plot")
    return 0


if __name__ == "__main__":
    sys.exit(main())

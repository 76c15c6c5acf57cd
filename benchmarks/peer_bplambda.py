"""Peer timing: our BP(λ) toy training step against the authors' PyTorch code.

Measures one training step of the line-drawing task (their config: linear RNN
H = 30, input 10, output 2, B = 10, T = 10, γ = 1; λ = 1 and 0.5; float32; Adam
β = (0.9, 0.98), ε = 1e-9): their per-batch training function (the
``_training_loop`` of ``training/engine.py``'s ``create_rnn_trainer``: forward with
all BP(λ) bookkeeping, loss, Adam) vs ``BPLambdaRNN.train_batch`` (compiled unrolled
traces; also ``backend="numpy"`` and ``traces="recursive"``). One thread everywhere;
blocks of ``--block`` steps interleaved, order rotated each round; median/min/max of
the per-round ratios authors / ours.

The authors' code (github.com/neuralml/bp_lambda) is NOT included: it is imported
from the checkout given by ``--authors``. One lr (``--lr``, default 1e-3, their first
commit's) for all groups in both: HEAD's config freezes RNN and readout (lr 0).
Same work: ours starts from their weights (transposed) on their batches; losses and
final weights compared in float32 and float64 (the "readout/2" row applies their
extra 1/2 on the readout gradient, visible only through Adam's ε). Shims: theirs
runs ``zero_grad(set_to_none=False)`` (PyTorch 2 sets None; they add into .grad);
without pytorch-ignite / PyYAML, minimal stand-ins are registered (only ignite's
``_prepare_batch``, a no-op ``Tensor.to(cpu)``, is on the timed path).

Usage (needs SciPy importable beside NumPy, torch and the built zenkai_np)::

    PYTHONPATH=/work/main /work/venv-torch/bin/python benchmarks/peer_bplambda.py \\
        --authors /path/to/bp_lambda [--pairs N]
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import functools  # noqa: E402
import io  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402

import numpy as np  # noqa: E402
from peer_env import cpu_flags, cpu_model, cpu_ticks, git_head  # noqa: E402
import torch  # noqa: E402

try:
    import zenkai_np  # noqa: E402
    from zenkai_np.bplambda import BPLambdaRNN, VanillaRNN  # noqa: E402
except ImportError as exc:  # e.g. SciPy (our BLAS source) missing from this environment
    sys.exit(f"cannot import zenkai_np ({exc}); run with PYTHONPATH=<repo> and SciPy installed")

#: our variants: (label, BPLambdaRNN keyword arguments)
VARIANTS = (("compiled, unrolled", {"backend": "compiled", "traces": "unrolled"}),
            ("numpy, unrolled", {"backend": "numpy", "traces": "unrolled"}),
            ("compiled, recursive", {"backend": "compiled", "traces": "recursive"}))
#: our parameter name -> (their parameter name, transpose?)
PARAM_MAP = {"W_ih": ("w_ih", True), "W_hh": ("w_hh", True), "b": ("b", False),
             "W_out": ("w_out", True), "b_out": ("b_out", False),
             "synth_W": ("synthesiser.input_trigger.weight", True),
             "synth_b": ("synthesiser.input_trigger.bias", False)}


# -- environment ----------------------------------------------------------------------
# -- the authors' code --------------------------------------------------------------
def _scalar(text):
    text = text.strip()
    if text in ("", "null", "~"):
        return None
    if text in ("True", "true"):
        return True
    if text in ("False", "false"):
        return False
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def read_config(path):
    """Their flat YAML configs (``key: value``, one level of nesting)."""
    try:
        import yaml
        with open(path) as f:
            return yaml.safe_load(f)
    except ImportError:
        pass
    out, nested = {}, None
    with open(path) as f:
        for raw in f:
            if not raw.strip():
                continue
            key, _, value = raw.strip().partition(":")
            if raw[0] in " \t" and nested is not None:
                nested[key] = _scalar(value)
            elif not value.strip():
                nested = out[key] = {}
            else:
                nested = None
                out[key] = _scalar(value)
    return out


def _register_stand_ins():
    """Minimal ``ignite.engine`` / ``yaml`` modules when not installed; returns their names."""
    used = []
    try:
        import ignite.engine  # noqa: F401
    except ImportError:
        eng = types.ModuleType("ignite.engine")

        class Events:
            EPOCH_STARTED = "epoch_started"
            EPOCH_COMPLETED = "epoch_completed"
            ITERATION_STARTED = "iteration_started"
            EXCEPTION_RAISED = "exception_raised"

        class Engine:
            def __init__(self, process_function):
                self._process_function = process_function
                self.state = types.SimpleNamespace(hidden=None)

            def add_event_handler(self, *args, **kwargs):
                pass

        def _prepare_batch(batch, device=None, non_blocking=False):  # as ignite 0.4.2
            x, y = batch
            return tuple(t.to(device=device, non_blocking=non_blocking)
                         if device is not None else t for t in (x, y))

        eng.Events, eng.Engine, eng._prepare_batch = Events, Engine, _prepare_batch
        pkg = types.ModuleType("ignite")
        pkg.engine = eng
        sys.modules["ignite"], sys.modules["ignite.engine"] = pkg, eng
        used.append("ignite.engine")
    try:
        import yaml  # noqa: F401
    except ImportError:
        mod = types.ModuleType("yaml")  # model/init.py imports it; only load_meta uses it

        def safe_load(stream):
            raise NotImplementedError("yaml stand-in")
        mod.safe_load = safe_load
        sys.modules["yaml"] = mod
        used.append("yaml")
    return used


def load_authors(path):
    src = os.path.join(path, "src")
    if not os.path.isdir(os.path.join(src, "model")):
        sys.exit(f"--authors {path}: no src/model there (expected a bp_lambda checkout)")
    cfg_dir = os.path.join(path, "scripts", "configs")
    cfg = {k: read_config(os.path.join(cfg_dir, f"{k}_linedraw.yaml"))
           for k in ("dataset", "model", "training")}   # before any yaml stand-in
    stand_ins = _register_stand_ins()
    sys.path.insert(0, src)
    from dataset.linedraw_continuous import load_linedraw_continuous
    from model.init import init_rnn
    from training.engine import create_rnn_trainer
    from training.optimizer import init_optimizer
    try:
        import ignite
        ignite_version = getattr(ignite, "__version__", "?")
    except ImportError:
        ignite_version = "?"
    return types.SimpleNamespace(
        init_rnn=init_rnn, create_rnn_trainer=create_rnn_trainer,
        init_optimizer=init_optimizer, load_data=load_linedraw_continuous, cfg=cfg,
        stand_ins=stand_ins, head=git_head(path),
        ignite=("stand-in" if "ignite.engine" in stand_ins else ignite_version))


def authors_learner(A, lam, lr, seed):
    """Their model, Adam and per-batch training function, as scripts/linedraw.py sets them up."""
    ds, mc, tr = A.cfg["dataset"], dict(A.cfg["model"]), A.cfg["training"]
    mc["synth_params"] = dict(mc["synth_params"], synth_lambda=lam)
    mc.update(input_size=ds["input_D"], output_size=2, bptt=tr["bptt"], classification=False,
              batch_size=tr["batch_size"], seqlen=ds["seq_len"], predict_last=ds["end_only"])
    torch.manual_seed(seed)
    with contextlib.redirect_stdout(io.StringIO()):   # their "initialising synthesiser"
        model = A.init_rnn(**mc)
    if ds["end_only"]:
        model.train = model.wrap_predlast_train(model.train)
    opt = A.init_optimizer(tr["optimizer"], model, lr_rnn=lr, lr_readout=lr,
                           lr_synthesiser=lr, l2_norm=tr["l2_norm"])
    # shim: PyTorch >= 2 zero_grad() sets .grad to None; their code adds into .grad
    opt.zero_grad = functools.partial(opt.zero_grad, set_to_none=False)
    trainer = A.create_rnn_trainer(model, opt, torch.nn.MSELoss(), device=torch.device("cpu"))
    trainer.state.hidden = None
    return model, functools.partial(trainer._process_function, trainer)


def authors_batches(A, n, seed):
    ds, tr = A.cfg["dataset"], A.cfg["training"]
    gen, _, _ = A.load_data(batch_size=tr["batch_size"],
                            random_state=np.random.RandomState(seed), **ds)
    return [gen.next_batch() for _ in range(n)]


def as_ours(batch, dtype=np.float32):
    """(X (B, T, I), Y (B, T, O), mask (T,)) from their (inputs, end-only targets)."""
    x, y = (t.numpy() for t in batch)
    X = np.ascontiguousarray(x, dtype)
    B, T, _ = X.shape
    Y = np.zeros((B, T, y.shape[-1]), dtype)
    mask = np.zeros(T, bool)
    Y[:, -1], mask[-1] = y, True
    return X, Y, mask


# -- ours -------------------------------------------------------------------------------
def their_params(model):
    return {k: v.detach().numpy() for k, v in model.named_parameters()}


def our_learner(model_t, cfg, lam, lr, kwargs, dtype=np.float32):
    """BPLambdaRNN started from the authors' model's weights (synthesiser: zero in both)."""
    theirs = their_params(model_t)
    n_out, n_hidden = theirs["w_out"].shape
    net = VanillaRNN(theirs["w_ih"].shape[1], n_hidden, n_out, dtype=dtype, rng=0)
    sp = cfg["model"]["synth_params"]
    learner = BPLambdaRNN(net, gamma=float(sp["synth_gamma"]), lam=lam,
                          sg_weight=float(sp["sg_weight"]), lr_rnn=lr, lr_readout=lr,
                          lr_synth=lr, n_threads=1, **kwargs)
    for ours, (name, transpose) in PARAM_MAP.items():
        w = theirs[name].T if transpose else theirs[name]
        learner.params[ours][...] = w   # in place: the optimizers hold these arrays
    return learner


# -- same-work check ----------------------------------------------------------------
def halve_readout_grads(learner):
    """Give ``learner`` their readout-gradient scale: with end-only targets (B, O) their
    ``update_readout_grads`` divides W_out/b_out grads by ``target.shape[1]`` = O = 2. Adam
    removes the scale but for its ε (1e-9), which the float64 check resolves."""
    apply = learner.apply

    def apply_halved(grads):
        grads = dict(grads, W_out=grads["W_out"] / 2, b_out=grads["b_out"] / 2)
        return apply(grads)
    learner.apply = apply_halved
    return learner


def same_work(A, lam, lr, steps, seed, dtype):
    """Train theirs and each of ours for ``steps`` steps from the same start on the same
    batches; print loss and final-weight differences. float64: theirs with
    ``torch.set_default_dtype(torch.float64)`` (their code reads the default dtype)."""
    tdt = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    default = torch.get_default_dtype()
    torch.set_default_dtype(tdt)
    try:
        model_t, step_t = authors_learner(A, lam, lr, seed)
        start = their_params(model_t)
        if any(np.any(start[PARAM_MAP[k][0]]) for k in ("synth_W", "synth_b")):
            print("  NOTE: their synthesiser does not start at zero")
        ours = {label: our_learner(model_t, A.cfg, lam, lr, kw, dtype) for label, kw in VARIANTS}
        if dtype == np.float64:
            ours["compiled, readout/2"] = halve_readout_grads(
                our_learner(model_t, A.cfg, lam, lr, VARIANTS[0][1], dtype))
        batches = [tuple(t.to(tdt) for t in b) for b in authors_batches(A, steps, seed)]
        loss_t = np.array([step_t(b) for b in batches])
    finally:
        torch.set_default_dtype(default)
    theirs = their_params(model_t)
    for label, learner in ours.items():
        loss_o = np.array([learner.train_batch(*as_ours(b, dtype)) for b in batches])
        d = np.abs(loss_o - loss_t)
        rel_w = []
        for k, (name, transpose) in PARAM_MAP.items():
            w = theirs[name].T if transpose else theirs[name]
            rel_w.append(np.max(np.abs(learner.params[k] - w)) / np.max(np.abs(w)))
        print(f"  {np.dtype(dtype).name:7s} {lam:4g} {label:20s} {loss_t[0]:.6f} -> "
              f"{loss_t[-1]:.3e} {np.max(d / loss_t):9.1e} {np.max(d) / loss_t[0]:9.1e}  "
              + " ".join(f"{x:7.1e}" for x in rel_w))


# -- timing -----------------------------------------------------------------------------
def time_pairs(A, lam, lr, pairs, block, seed):
    model_t, step_t = authors_learner(A, lam, lr, seed)
    batches_t = authors_batches(A, 100, seed)
    batches_o = [as_ours(b) for b in batches_t]
    impls = {"authors": (step_t, batches_t)}
    for label, kw in VARIANTS:
        impls[label] = (our_learner(model_t, A.cfg, lam, lr, kw).train_batch, batches_o)
    names = list(impls)
    pos = {name: 0 for name in names}

    def run_block(name):
        """(wall, thread CPU) seconds per step of one block."""
        fn, batches = impls[name]
        n, i = len(batches), pos[name]
        c0, t0 = time.thread_time(), time.perf_counter()
        for j in range(i, i + block):
            b = batches[j % n]
            fn(b) if name == "authors" else fn(*b)
        t1, c1 = time.perf_counter(), time.thread_time()
        pos[name] = (i + block) % n
        return (t1 - t0) / block, (c1 - c0) / block

    for name in names:   # warm-up block
        run_block(name)
    per_step = {name: [] for name in names}
    ticks0 = cpu_ticks()
    for r in range(pairs):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            per_step[name].append(run_block(name))
    ticks1 = cpu_ticks()
    steal = (None if ticks0 is None or ticks1 is None or ticks1[1] == ticks0[1]
             else 100.0 * (ticks1[0] - ticks0[0]) / (ticks1[1] - ticks0[1]))
    return {name: np.array(v) for name, v in per_step.items()}, steal


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--authors", required=True, help="checkout of neuralml/bp_lambda")
    ap.add_argument("--pairs", type=int, default=100, help="interleaved rounds (>= 50)")
    ap.add_argument("--block", type=int, default=10, help="steps per timed block")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam lr of every group, both")
    ap.add_argument("--check-steps", type=int, default=100)
    ap.add_argument("--lams", type=float, nargs="+", default=[1.0, 0.5])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    A = load_authors(os.path.abspath(args.authors))
    ds, mc = A.cfg["dataset"], A.cfg["model"]
    print(f"CPU: {cpu_model()} ({cpu_flags()}), {os.cpu_count()} logical CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, torch {torch.__version__}"
          f" (threads {torch.get_num_threads()}), zenkai_np {zenkai_np.__version__} "
          f"({git_head(os.path.dirname(os.path.dirname(zenkai_np.__file__)))})")
    print(f"authors: {os.path.abspath(args.authors)} at {A.head}; ignite {A.ignite}"
          + (f"; stand-ins for {', '.join(A.stand_ins)}" if A.stand_ins else ""))
    print(f"task: {mc['rnn_type']} (identity), H = {mc['hidden_size']}, input "
          f"{ds['input_D']}, output 2, B = {A.cfg['training']['batch_size']}, "
          f"T = {ds['seq_len']}, float32, gamma = {mc['synth_params']['synth_gamma']}, "
          f"sg_weight = {mc['synth_params']['sg_weight']}, Adam lr {args.lr:g} for all groups "
          f"(their config: rnn {A.cfg['training']['lr_rnn']}, readout "
          f"{A.cfg['training']['lr_readout']}, synthesiser "
          f"{A.cfg['training']['lr_synthesiser']})")

    print(f"\nsame work: {args.check_steps} steps from their initial weights on their batches; "
          "loss rel = max over steps |ours - theirs| / theirs, /loss0 = max |ours - theirs| / "
          "their first loss; weights: max |ours - theirs| / max |theirs| per tensor at the end")
    print(f"  {'dtype':7s} {'lam':>4s} {'ours':20s} {'their loss':22s} {'loss rel':>9s} "
          f"{'/loss0':>9s}  " + " ".join(f"{k:>7s}" for k in PARAM_MAP))
    for dtype in (np.float32, np.float64):
        for lam in args.lams:
            same_work(A, lam, args.lr, args.check_steps, args.seed, dtype)

    print(f"\ntiming: {args.pairs} rounds, blocks of {args.block} steps, order rotated; "
          "ms/step = median over blocks; ratio = authors / ours per round (median, min, max); "
          "wall = perf_counter, cpu = this thread's CPU time (not counting time-slices lost "
          "to other processes)")
    head = f"{'authors':>8s} {'ours':>7s} {'ratio':>7s} {'min':>6s} {'max':>6s}"
    print(f"  {'lambda':>6s} {'ours':20s} wall: {head}   cpu: {head}")
    for lam in args.lams:
        per_step, steal = time_pairs(A, lam, args.lr, args.pairs, args.block, args.seed)
        ta = per_step["authors"]
        for label, _ in VARIANTS:
            cols = []
            for c in (0, 1):
                ratio = ta[:, c] / per_step[label][:, c]
                cols.append(f"{1e3 * np.median(ta[:, c]):8.2f} "
                            f"{1e3 * np.median(per_step[label][:, c]):7.3f} "
                            f"{np.median(ratio):6.1f}x {ratio.min():6.1f} {ratio.max():6.1f}")
            print(f"  {lam:6g} {label:20s} wall: {cols[0]}   cpu: {cols[1]}")
        if steal is not None:
            print(f"         (steal time during these rounds: {steal:.1f}% of all CPU time, "
                  f"load average {os.getloadavg()[0]:.2f})")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Peer timing: one backprop / feedback-alignment training epoch of the digits MLP in
zenkai_np, hand-written NumPy, PyTorch and Zenkai 0.0.9, in the same run.

Network 64-256-256-10 (tanh, softmax cross-entropy, mean over the batch), batch 64,
Adam lr 1e-3 (betas 0.9, 0.999, eps 1e-8), float32, one epoch over 1437 samples (the
digits training-split size) of the synthetic data of ``zenkai_np/bench/bench_framework.py``
(``_data(np.float32)``: standard normal x (1437, 64), labels 0..9, ``default_rng(0)``);
every epoch shuffles with a permutation from a seeded generator (``default_rng(1)``, the
same stream in every contender). One thread everywhere (OMP/OPENBLAS/MKL = 1 before any
import, ``torch.set_num_threads(1)``).

Contenders (all start from the same Glorot weights: those of ``zk.Linear(rng=i)``,
transposed into ``nn.Linear``; zero biases):

1. ``zenkai_np bp``   -- ``zk.fit`` of ``Sequential(GradLearner(Linear, Adam), GradLearner(Tanh),
   ...)``.
2. ``zenkai_np FA``   -- the same with ``FALearner(Linear, Adam, rng=10 + i)`` for the three
   linear layers.
3. ``NumPy bp``       -- hand-written backprop, Adam as in-place ufunc passes through one
   scratch buffer per parameter (the arithmetic of ``optim.Adam``'s NumPy formulation).
4. ``PyTorch bp``     -- ``nn.Sequential(Linear, Tanh, Linear, Tanh, Linear)``,
   ``torch.optim.Adam`` (defaults: per-parameter loop on CPU), ``nn.CrossEntropyLoss``;
   zero_grad, forward, loss, backward, step. Batches are slices of the permuted tensors
   (no DataLoader: it would time per-sample collation, not the framework).
5. ``Zenkai bp``      -- Zenkai 0.0.9's learning-machine protocol driven by autograd, as its
   README and tests (``tests/lm/test_grad.py``) show: each ``nn.Linear`` is wrapped in a
   ``GradLearner`` subclass that owns a ``torch.optim.Adam`` and steps it in ``step``
   (0.0.9's ``GradLearner.step`` is a no-op and it takes no optimizer), the tanh layers in
   plain ``GradLearner(nn.Tanh())``; ``set_lmode(net, LMode.WithStep)``; per batch
   ``CrossEntropyLoss()(net(x), y).backward()``, which in each machine's ``LearningF.backward``
   forms the target ``t = y - dL/dy``, re-runs autograd on its stored graph against the
   learn criterion ``NNLoss('MSELoss', 'sum', 0.5)`` (GradLearner's default: its gradient is
   ``y - t = dL/dy``), takes ``x' = x - x.grad`` and steps; the returned ``x - x'`` is the
   input gradient. So it is backprop up to the rounding of ``y - (y - g)`` and
   ``x - (x - gx)``.
6. ``Zenkai FA``      -- ``zenkai.feedback.FALearner(net=nn.Linear, netB=nn.Linear,
   activation=nn.Tanh() (none on the last), optim_factory=OptimFactory(torch.optim.Adam,
   lr=1e-3), learn_criterion=NNLoss('MSELoss', 'sum', 0.5))`` per layer. The criterion is
   passed explicitly: FALearner's default ``"MSELoss"`` (mean) would scale each layer's
   signal by 2 / (batch * width) on the way down -- not the loss's gradient, and with Adam
   only partly undone (eps). ``netB.weight`` is set to ``B.T`` of the matching zenkai_np
   ``FALearner`` (``x.grad = g @ netB.weight = g @ B.T``, zenkai_np's ``x' = x - delta @
   B.T``), so the two FA contenders follow the same trajectory and are checked like the
   backprop ones; with independent random feedback (a Zenkai user's default) they would not
   agree, nor need to. Zenkai's FALearner runs ``netB`` forward again in ``accumulate`` (its
   docstring: "somewhat computationally wasteful") and computes the input gradient of the
   first layer too; zenkai_np's ``Sequential.learn`` skips the unused input target.

Same work: every contender trains one epoch from the same start on the same batches; the
script prints each one's epoch-mean loss and, per weight tensor, ``max |w - w_ref| / max
|w_ref|`` of the final weights against hand-written NumPy (backprop) or zenkai_np FA (FA),
in float32 and again with every contender in float64 (where rounding differences shrink
to ~1e-13 and a different algorithm would not).

Timing: blocks of ``--block`` epochs per contender, interleaved, the order rotated each
round; per contender the median (min, max) over rounds of the per-epoch wall time, and the
medians of the per-round ratios to hand-written NumPy and to zenkai_np bp (contender time /
reference time: > 1 is slower), for wall time and for this thread's CPU time (everything
runs on the main thread; the script prints process / thread CPU to show it). On a shared
machine the CPU-time figures are the ones to quote: wall time includes time-slices lost
to other processes.

Usage (needs torch, zenkai 0.0.9 and the built zenkai_np importable)::

    PYTHONPATH=/work/main /work/venv-torch/bin/python benchmarks/peer_framework.py \\
        [--pairs N] [--block EPOCHS] [--quick]
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from peer_env import cpu_flags, cpu_model, cpu_ticks, git_head  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

try:
    import zenkai_np as zk  # noqa: E402
    from zenkai_np.bench.bench_framework import HandWritten  # noqa: E402
except ImportError as exc:
    sys.exit(f"cannot import zenkai_np ({exc}); run with PYTHONPATH=<repo>")

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import zenkai  # noqa: E402
        from zenkai.feedback import FALearner as ZenkaiFALearner  # noqa: E402
    ZENKAI_ERROR = None
except Exception as exc:   # noqa: BLE001 -- report why and run the others
    zenkai, ZenkaiFALearner, ZENKAI_ERROR = None, None, f"{type(exc).__name__}: {exc}"

N_TRAIN = 1437
SIZES = (64, 256, 256, 10)
BATCH = 64
LR, BETA1, BETA2, EPS = 1e-3, 0.9, 0.999, 1e-8
DATA_SEED, SHUFFLE_SEED = 0, 1
NAMES = ("zenkai_np bp", "zenkai_np FA", "NumPy bp", "PyTorch bp", "Zenkai bp", "Zenkai FA")
PARAMS = ("W1", "b1", "W2", "b2", "W3", "b3")


# -- environment ----------------------------------------------------------------------
def blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return ", ".join(f"{d.get('internal_api')} {d.get('num_threads')}"
                     for d in threadpool_info()) or "none loaded"


# -- data and initial weights ---------------------------------------------------------
def make_data():
    """``bench_framework._data(np.float32)``."""
    rng = np.random.default_rng(DATA_SEED)
    x = rng.standard_normal((N_TRAIN, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], N_TRAIN)
    return x, y


def batch_bounds(n=N_TRAIN, b=BATCH):
    return [(a, min(a + b, n)) for a in range(0, n, b)]   # zk.fit's split (last one short)


def initial_weights():
    """[(W (n_in, n_out), b)] of ``zk.Linear(n_in, n_out, rng=i)``, float32."""
    out = []
    for i in range(3):
        lin = zk.Linear(SIZES[i], SIZES[i + 1], dtype=np.float32, rng=i)
        out.append((lin.params["W"].copy(), lin.params["b"].copy()))
    return out


# -- contenders: each is (epoch(), params() -> {name: (n_in, n_out)-layout array}) -------
class ZenkaiNp:
    """zenkai_np ``Sequential`` trained by ``zk.fit``; ``rule`` "bp" or "fa"."""

    def __init__(self, x, y, init, rule):
        self.x, self.y = x, y
        self.lins = []
        machines = []
        for i, (W, b) in enumerate(init):
            lin = zk.Linear(SIZES[i], SIZES[i + 1], dtype=x.dtype, rng=i)
            lin.params["W"][...] = W
            lin.params["b"][...] = b
            self.lins.append(lin)
            opt = zk.Adam(lr=LR, beta1=BETA1, beta2=BETA2, eps=EPS)
            machines.append(zk.FALearner(lin, opt, rng=10 + i) if rule == "fa"
                            else zk.GradLearner(lin, opt))
            if i < 2:
                machines.append(zk.GradLearner(zk.Tanh()))
        self.fa = [m for m in machines if isinstance(m, zk.FALearner)]
        self.net = zk.Sequential(*machines)
        self.loss = zk.CrossEntropyLoss()
        self.rng = np.random.default_rng(SHUFFLE_SEED)

    def feedback(self):
        """The FA feedback matrices B (W's shape)."""
        return [m.B for m in self.fa]

    def epoch(self):
        hist = zk.fit(self.net, self.x, self.y, loss=self.loss, epochs=1, batch_size=BATCH,
                      rng=self.rng)
        return hist.loss[-1]

    def params(self):
        return {k: lin.params[p] for i, lin in enumerate(self.lins)
                for k, p in ((f"W{i + 1}", "W"), (f"b{i + 1}", "b"))}


class NumpyBackprop:
    """Hand-written NumPy backprop with hand-written Adam: the bench's reference loop
    (``zenkai_np.bench.bench_framework.HandWritten``), started from ``init``."""

    def __init__(self, x, y, init):
        self.x, self.y = x, y
        self.ref = HandWritten(x.dtype, rule="bp", optimizer="adam")
        for W, b, (W0, b0) in zip(self.ref.Ws, self.ref.bs, init):
            W[...] = W0        # in place: the Adam of the loop holds these arrays
            b[...] = b0
        self.Ws, self.bs = self.ref.Ws, self.ref.bs
        self.rng = np.random.default_rng(SHUFFLE_SEED)
        self.bounds = batch_bounds()

    def batch(self, x, labels):
        return self.ref.batch(x, labels)

    def epoch(self):
        perm = self.rng.permutation(N_TRAIN)
        xe, ye = self.x[perm], self.y[perm]
        total = 0.0
        for a, b in self.bounds:
            total += self.batch(xe[a:b], ye[a:b]) * (b - a)
        return total / N_TRAIN

    def params(self):
        return {f"{k}{i + 1}": arr[i] for i in range(3)
                for k, arr in (("W", self.Ws), ("b", self.bs))}


def _torch_linear(W, b, dtype):
    lin = nn.Linear(W.shape[0], W.shape[1], dtype=dtype)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
        lin.bias.copy_(torch.from_numpy(b))
    return lin


def _torch_adam(params):
    return torch.optim.Adam(params, lr=LR, betas=(BETA1, BETA2), eps=EPS)


class TorchLoop:
    """Shared data handling of the torch-based contenders."""

    def __init__(self, x, y):
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
        self.dtype = self.x.dtype
        self.rng = np.random.default_rng(SHUFFLE_SEED)
        self.bounds = batch_bounds()
        self.criterion = nn.CrossEntropyLoss()

    def shuffled(self):
        perm = torch.from_numpy(self.rng.permutation(N_TRAIN))
        return self.x[perm], self.y[perm]

    def params(self):
        return {k: v for i, lin in enumerate(self.lins)
                for k, v in ((f"W{i + 1}", lin.weight.detach().numpy().T),
                             (f"b{i + 1}", lin.bias.detach().numpy()))}


class PyTorchBackprop(TorchLoop):
    def __init__(self, x, y, init):
        super().__init__(x, y)
        self.lins = [_torch_linear(W, b, self.dtype) for W, b in init]
        l1, l2, l3 = self.lins
        self.model = nn.Sequential(l1, nn.Tanh(), l2, nn.Tanh(), l3)
        self.opt = _torch_adam(self.model.parameters())

    def epoch(self):
        xe, ye = self.shuffled()
        total = 0.0
        for a, b in self.bounds:
            self.opt.zero_grad()
            loss = self.criterion(self.model(xe[a:b]), ye[a:b])
            loss.backward()
            self.opt.step()
            total += loss.item() * (b - a)
        return total / N_TRAIN


if zenkai is not None:
    class ZenkaiAdamGradLearner(zenkai.GradLearner):
        """A Zenkai 0.0.9 GradLearner that steps its own Adam (as tests/lm/test_grad.py)."""

        def __init__(self, module):
            super().__init__(module, learn_criterion=zenkai.NNLoss("MSELoss", "sum", 0.5))
            self._optim = _torch_adam(module.parameters())

        def step(self, x, t, state):
            self._optim.step()
            self._optim.zero_grad()


class ZenkaiNet(TorchLoop):
    """Zenkai 0.0.9 learning machines driven by autograd (``LMode.WithStep``)."""

    def __init__(self, x, y, init, rule, feedback=None):
        super().__init__(x, y)
        self.lins = [_torch_linear(W, b, self.dtype) for W, b in init]
        machines = []
        for i, lin in enumerate(self.lins):
            if rule == "fa":
                netB = nn.Linear(SIZES[i], SIZES[i + 1], dtype=self.dtype)
                with torch.no_grad():
                    netB.weight.copy_(torch.from_numpy(np.ascontiguousarray(feedback[i].T)))
                machines.append(ZenkaiFALearner(
                    lin, netB, activation=nn.Tanh() if i < 2 else None,
                    optim_factory=zenkai.OptimFactory(torch.optim.Adam, lr=LR,
                                                      betas=(BETA1, BETA2), eps=EPS),
                    learn_criterion=zenkai.NNLoss("MSELoss", "sum", 0.5)))
            else:
                machines.append(ZenkaiAdamGradLearner(lin))
                if i < 2:
                    machines.append(zenkai.GradLearner(nn.Tanh()))
        self.net = nn.Sequential(*machines)
        zenkai.set_lmode(self.net, zenkai.LMode.WithStep)

    def epoch(self):
        xe, ye = self.shuffled()
        total = 0.0
        for a, b in self.bounds:
            loss = self.criterion(self.net(xe[a:b]), ye[a:b])
            loss.backward()          # every machine accumulates, step_x's and steps
            total += loss.item() * (b - a)
        return total / N_TRAIN


def build(x, y, init):
    """{name: contender}; {name: reason} for the ones that could not be built."""
    out, skipped = {}, {}
    out["zenkai_np bp"] = ZenkaiNp(x, y, init, "bp")
    out["zenkai_np FA"] = ZenkaiNp(x, y, init, "fa")
    out["NumPy bp"] = NumpyBackprop(x, y, init)
    out["PyTorch bp"] = PyTorchBackprop(x, y, init)
    if zenkai is None:
        skipped["Zenkai bp"] = skipped["Zenkai FA"] = f"import zenkai failed: {ZENKAI_ERROR}"
        return out, skipped
    for name, kw in (("Zenkai bp", {"rule": "bp"}),
                     ("Zenkai FA", {"rule": "fa",
                                    "feedback": out["zenkai_np FA"].feedback()})):
        try:
            c = ZenkaiNet(x, y, init, **kw)
            c.epoch()                      # must run; rebuilt below for the check
            out[name] = ZenkaiNet(x, y, init, **kw)
        except Exception as exc:   # noqa: BLE001 -- report why and run the others
            skipped[name] = f"{type(exc).__name__}: {exc}"
    return out, skipped


# -- same-work check ------------------------------------------------------------------
def same_work(x, y, init, dtype):
    """One epoch of every contender in ``dtype`` from the same start on the same batches;
    print epoch losses and final-weight differences; return {name: reason} of those
    that could not be built."""
    x = x.astype(dtype)
    init = [(W.astype(dtype), b.astype(dtype)) for W, b in init]
    contenders, skipped = build(x, y, init)
    losses = {name: c.epoch() for name, c in contenders.items()}
    params = {name: {k: np.array(v) for k, v in c.params().items()}
              for name, c in contenders.items()}
    dt = np.dtype(dtype).name
    for name in contenders:
        ref = "zenkai_np FA" if name.endswith("FA") else "NumPy bp"
        cols = []
        for k in PARAMS:
            w, r = params[name][k], params[ref][k]
            cols.append(f"{np.max(np.abs(w - r)) / np.max(np.abs(r)):8.1e}")
        print(f"  {dt:7s} {name:13s} {ref if name != ref else '(reference)':13s} "
              f"{losses[name]:11.8f}  " + " ".join(cols))
    start = dict(zip(PARAMS, [a for W, b in init for a in (W, b)]))
    moved = [np.max(np.abs(params["NumPy bp"][k] - start[k])) / np.max(np.abs(start[k]))
             if np.any(start[k]) else np.max(np.abs(params["NumPy bp"][k]))
             for k in PARAMS]
    print(f"  {dt:7s} (NumPy bp's change over the epoch, same scale; biases start at 0: "
          "max |b|)     " + " ".join(f"{v:8.1e}" for v in moved))
    return skipped


# -- timing ---------------------------------------------------------------------------
def time_rounds(contenders, pairs, block):
    names = list(contenders)

    def run_block(name):
        """(wall, thread CPU, process CPU) seconds per epoch of one block."""
        epoch = contenders[name].epoch
        p0, c0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
        for _ in range(block):
            epoch()
        t1, c1, p1 = time.perf_counter(), time.thread_time(), time.process_time()
        return (t1 - t0) / block, (c1 - c0) / block, (p1 - p0) / block

    for name in names:   # warm-up block
        run_block(name)
    per_epoch = {name: [] for name in names}
    ticks0 = cpu_ticks()
    for r in range(pairs):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            per_epoch[name].append(run_block(name))
    ticks1 = cpu_ticks()
    steal = (None if ticks0 is None or ticks1 is None or ticks1[1] == ticks0[1]
             else 100.0 * (ticks1[0] - ticks0[0]) / (ticks1[1] - ticks0[1]))
    return {name: np.array(v) for name, v in per_epoch.items()}, steal


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=15,
                    help="interleaved rounds (each contender once per round)")
    ap.add_argument("--block", type=int, default=3, help="epochs per timed block")
    ap.add_argument("--quick", action="store_true", help="3 rounds of 1-epoch blocks")
    args = ap.parse_args(argv)
    if args.quick:
        args.pairs, args.block = 3, 1
    if args.pairs < 1 or args.block < 1:
        ap.error("--pairs and --block must be >= 1")

    torch.set_num_threads(1)
    x, y = make_data()
    init = initial_weights()
    print(f"CPU: {cpu_model()} ({cpu_flags()}), {os.cpu_count()} logical CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, torch "
          f"{torch.__version__} (threads {torch.get_num_threads()}), zenkai "
          f"{getattr(zenkai, '__version__', 'not importable')}, zenkai_np {zk.__version__} "
          f"({git_head(os.path.dirname(os.path.dirname(zk.__file__)))})")
    print(f"task: MLP {'-'.join(map(str, SIZES))} tanh, softmax cross-entropy (mean), "
          f"batch {BATCH}, {N_TRAIN} samples/epoch ({len(batch_bounds())} batches), "
          f"float32, Adam lr {LR:g} betas ({BETA1}, {BETA2}) eps {EPS:g}")

    print("\nsame work: one epoch from the same weights on the same batches; final weights "
          "against hand-written NumPy (bp) or zenkai_np FA (FA; Zenkai FA got zenkai_np's "
          "feedback matrices, transposed); float64 = the same code in float64")
    print(f"  {'dtype':7s} {'contender':13s} {'reference':13s} {'epoch loss':>11s}  "
          + " ".join(f"{k:>8s}" for k in PARAMS) + "  (max |w - ref| / max |ref|)")
    skipped = {}
    for dtype in (np.float32, np.float64):
        skipped.update(same_work(x, y, init, dtype))
    for name, why in skipped.items():
        print(f"NOT RUN: {name}: {why}")

    contenders, _ = build(x, y, init)     # timing: float32, fresh nets
    print(f"BLAS/OpenMP pools after setup: {blas_threads()}")
    print(f"\ntiming: {args.pairs} rounds, blocks of {args.block} epoch(s), order rotated "
          "each round; ms/epoch = median (min-max) over rounds, wall = perf_counter, "
          "cpu = this thread's CPU time; ratios = contender / reference per round, "
          "median (min-max)")
    per_epoch, steal = time_rounds(contenders, args.pairs, args.block)
    refs = [r for r in ("NumPy bp", "zenkai_np bp") if r in per_epoch]
    for c, clock in ((0, "wall"), (1, "cpu")):
        print(f"  {clock + ':':5s} {'contender':13s} {'ms/epoch (min-max)':>24s}  "
              + "  ".join(f"{'/ ' + ref + ' (min-max)':>26s}" for ref in refs))
        for name, t in per_epoch.items():
            cols = []
            for ref in refs:
                ratio = t[:, c] / per_epoch[ref][:, c]
                cols.append(f"{np.median(ratio):12.2f} ({ratio.min():5.2f}-{ratio.max():5.2f})")
            ms = 1e3 * t[:, c]
            print(f"  {'':5s} {name:13s} {np.median(ms):8.2f} ({ms.min():6.2f}-{ms.max():6.2f})"
                  "  " + "  ".join(cols))
    for name, why in skipped.items():
        print(f"        {name:13s} not run: {why}")
    print("  process CPU / thread CPU (1.00 = no work on other threads): "
          + ", ".join(f"{name} {np.sum(t[:, 2]) / np.sum(t[:, 1]):.2f}"
                      for name, t in per_epoch.items()))
    if steal is not None:
        print(f"  (steal time during these rounds: {steal:.1f}% of all CPU time)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

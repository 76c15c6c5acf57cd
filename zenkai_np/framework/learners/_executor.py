"""Population evaluation, locally or on an executor, with the same bits either way.

Member ``i`` of a generation with key ``key`` draws its noise from NumPy's
Philox4x64-10 counter-based generator, ``Philox(key=key, counter=[0, i, 0, 0])``
(one standard normal array per parameter, in ``layer.params`` order): every
member owns a disjoint block of 2^64 counters, so a worker can rebuild any
member from its index alone and no noise is shipped.  One ``Philox`` per call,
re-pointed at each member's block, costs ~3 us a member against ~13 us for
seeding a fresh generator per member.  Evaluation always runs with one
BLAS/OpenMP thread (in a worker task and locally): a member's loss then does
not depend on which task, how many workers or how many threads computed it,
and local and distributed runs agree bit for bit (on workers with the same CPU
and libraries).  The one exception is the compiled kernel of a ``Linear``
layer (``population_losses_of``), whose losses are the same bits for any
thread count: a local evaluation runs it on ``n_threads`` OpenMP threads.
That is 1 unless asked: NumPy's OpenBLAS threads spin for a while after each
BLAS call of the step (forward, gradient estimate), and a second kernel
thread competing with them made an ES generation slower, 8.7 against 6.1 ms
(full batch of 1500, 128 members, 2 vCPUs); with BLAS at one thread
(``threadpoolctl``) two kernel threads took it from 4.7 to 3.7 ms.
"""
from __future__ import annotations

import numpy as np

from ..._threads import resolve_n_threads
from ...distributed import as_runner, single_threaded_call
from ..population_kernel import population_losses, population_losses_of

__all__ = ["PopulationEvaluator", "losses_of", "member_noise", "perturbed", "population_noise"]


losses_of = population_losses


def member_noise(params, key, i):
    """Standard normal noise of member ``i``: ``{name: array like params[name]}``."""
    return {k: e[0] for k, e in population_noise(params, key, [i]).items()}


def population_noise(params, key, members):
    """Noise of the given member indices stacked on a leading axis: ``(len, *shape)``."""
    members = [int(i) for i in members]
    bits = np.random.Philox(key=int(key))
    gen = np.random.Generator(bits)
    state = bits.state  # a fresh generator's: nothing buffered
    out = {k: np.empty((len(members),) + v.shape, v.dtype) for k, v in params.items()}
    for j, i in enumerate(members):
        # the state right after Philox(key=key, counter=[0, i, 0, 0])
        state["state"]["counter"] = np.array([0, i, 0, 0], np.uint64)
        bits.state = state
        for k, v in params.items():
            gen.standard_normal(v.shape, dtype=v.dtype, out=out[k][j])
    return out


def _perturbed_losses(layer, x, t, key, members, scale, antithetic, eps=None, n_threads=1):
    """Losses of ``theta + scale e_i`` (and ``theta - scale e_i``): (m,) or (2, m).

    ``eps``: the members' noise when the caller already has it (else rebuilt from ``key``).
    """
    params = layer.params
    if eps is None:
        eps = population_noise(params, key, members)
    pop = {k: perturbed(params[k], e, scale, antithetic) for k, e in eps.items()}
    losses = population_losses_of(layer, x, pop, t, n_threads)
    return losses.reshape(2, len(members)) if antithetic else losses


def perturbed(theta, e, scale, antithetic):
    """``theta + scale e[i]`` for every member ``i``, then ``theta - scale e[i]`` when
    antithetic: ``(m, *shape)`` or ``(2 m, *shape)``. Built in place in one array: the
    temporaries of the plain expression cost more in page faults than the arithmetic
    (64 members of a 64-256 layer: 17 against 1.3 ms)."""
    m = e.shape[0]
    pop = np.empty(((2 * m) if antithetic else m,) + e.shape[1:], e.dtype)
    step = np.multiply(e, scale, out=pop[m:] if antithetic else pop)
    if antithetic:
        np.add(theta, step, out=pop[:m])
        np.subtract(theta, step, out=step)
    else:
        np.add(theta, step, out=step)
    return pop


def _given_losses(layer, x, t, pop, n_threads=1):
    return population_losses_of(layer, x, pop, t, n_threads)


def _split(n, n_tasks):
    n_tasks = max(1, min(n, n_tasks))
    bounds = np.linspace(0, n, n_tasks + 1).round().astype(int)
    return [range(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


class PopulationEvaluator:
    """Scores population members locally (``executor=None``) or on an executor.

    ``n_tasks``: population chunks per evaluation (default: the worker count).
    ``n_threads``: OpenMP threads of a local evaluation by the compiled kernel
    (the same losses for any value; see the module docstring).
    """

    def __init__(self, executor=None, n_tasks=None, n_threads=1):
        self.n_threads = resolve_n_threads(n_threads)
        self.runner = as_runner(executor)
        if n_tasks is not None:
            if isinstance(n_tasks, bool) or not isinstance(n_tasks, (int, np.integer)):
                raise TypeError(f"n_tasks: expected an int, got {type(n_tasks).__name__}")
            if n_tasks < 1:
                raise ValueError(f"n_tasks: expected >= 1, got {n_tasks}")
        self.n_tasks = n_tasks

    def _chunks(self, n):
        if self.runner is None:
            return [range(n)]
        self.runner._check_open()
        return _split(n, self.n_tasks or self.runner.n_workers)

    def perturbed(self, layer, x, t, key, n, scale, antithetic, noise=None):
        """Losses of members ``0..n-1`` (rebuilt from ``key``): (n,) or (2, n) antithetic.

        ``noise``: ``population_noise(layer.params, key, range(n))`` if the caller has it;
        evaluated locally it is used as is (workers rebuild their members' noise).
        """
        chunks = self._chunks(n)
        if self.runner is None:
            return single_threaded_call(_perturbed_losses, layer, x, t, key, chunks[0],
                                        scale, antithetic, noise, self.n_threads)
        xs, ts = self.runner.scatter(x, "x"), self.runner.scatter(t, "t")
        parts = self.runner.map(_perturbed_losses,
                                [(layer, xs, ts, key, c, scale, antithetic) for c in chunks],
                                what="population evaluation")
        return np.concatenate(parts, axis=-1)

    def given(self, layer, x, t, pop):
        """Losses of explicit members ``pop[name]`` of shape ``(P, *shape)``: (P,)."""
        P = next(iter(pop.values())).shape[0]
        chunks = self._chunks(P)
        if self.runner is None:
            return single_threaded_call(_given_losses, layer, x, t, pop, self.n_threads)
        xs, ts = self.runner.scatter(x, "x"), self.runner.scatter(t, "t")
        args = [(layer, xs, ts, {k: v[c.start:c.stop] for k, v in pop.items()})
                for c in chunks]
        return np.concatenate(self.runner.map(_given_losses, args,
                                              what="population evaluation"))

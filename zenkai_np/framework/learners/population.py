"""Gradient-free learners: hill climbing, evolution strategies, a genetic algorithm.

All of them score candidates with the local loss ``0.5 * ||f(x) - t||^2``
(summed over the batch).  Parameter candidates carry a leading **population
axis** ``P`` and are evaluated in **one batched call** of
``layer.forward_population(x, params)`` (e.g. ``matmul`` of ``(N, n_in)`` with
``(P, n_in, n_out)``).

* ``hill_climb_x``: per-sample hill climbing for the input target; each
  sample keeps its best candidate, so the local loss never increases.
* ``HillClimbLearner``: (1 + K) hill climbing on the parameters (keeps the
  best of the current parameters and K Gaussian perturbations).
* ``ESLearner``: evolution-strategies gradient estimate
  ``g = 1/(2 sigma P) sum_i (L(theta + sigma e_i) - L(theta - sigma e_i)) e_i``
  (antithetic) or ``1/(sigma P) sum_i (L(theta + sigma e_i) - L(theta)) e_i``,
  an unbiased estimate of the gradient of the Gaussian-smoothed loss (equal to
  the true gradient for a quadratic), applied by an optimizer.
* ``GALearner``: a population with elitism, tournament selection, uniform
  crossover and Gaussian mutation; the layer holds the best member.

Their ``step_x`` is ``hill_climb_x`` by default (``x_search="none"`` returns
``x`` unchanged).

``executor=`` (a ``concurrent.futures.Executor`` or a ``dask.distributed.Client``)
evaluates the population in ``n_tasks`` chunks on the workers (data scattered
once, one BLAS/OpenMP thread per task).  Member ``i``'s noise comes from its
own index (see :mod:`._executor`), and evaluation is single-threaded locally
too, so every result is bitwise the same for any executor and worker count.
``n_threads=`` lets a local evaluation of a ``Linear`` run the compiled kernel
on more OpenMP threads (same bits; worth it with BLAS at one thread).
"""
from __future__ import annotations

import numpy as np

from ..layers import Layer
from ..machine import LearningMachine
from ..state import LMode
from ..optim import SGD
from ._executor import PopulationEvaluator, losses_of, perturbed, population_noise
from .grad import bind_optimizer

__all__ = [
    "ESLearner",
    "GALearner",
    "HillClimbLearner",
    "hill_climb_x",
    "population_losses",
]


population_losses = losses_of


def hill_climb_x(forward, x, t, *, n_candidates=8, std=0.1, n_iters=1, rng=None):
    """Per-sample hill climbing of ``x`` toward ``forward(x) ~ t``.

    Each iteration draws ``n_candidates`` Gaussian perturbations of every
    sample (std ``std``), evaluates all of them in one ``forward`` call on a
    ``(n_candidates * N, n_in)`` batch and keeps, per sample, the best of the
    current point and its candidates.  Returns the new input target.
    """
    if n_candidates < 1 or n_iters < 0:
        raise ValueError("n_candidates must be >= 1 and n_iters >= 0")
    rng = np.random.default_rng(rng)
    n, d = x.shape
    cur = np.array(x, copy=True)
    y = forward(cur)
    cur_loss = 0.5 * ((y - t) ** 2).sum(axis=1)
    rows = np.arange(n)
    for _ in range(n_iters):
        noise = rng.standard_normal((n_candidates, n, d)).astype(x.dtype, copy=False)
        cand = cur[None] + std * noise
        yc = forward(cand.reshape(n_candidates * n, d)).reshape(n_candidates, n, -1)
        lc = 0.5 * ((yc - t) ** 2).sum(axis=2)
        best = np.argmin(lc, axis=0)
        best_loss = lc[best, rows]
        better = best_loss < cur_loss
        cur[better] = cand[best[better], rows[better]]
        cur_loss = np.where(better, best_loss, cur_loss)
    return cur


class _PopulationBase(LearningMachine):
    def __init__(self, layer, *, x_search, x_candidates, x_std, x_iters, rng, lmode,
                 executor=None, n_tasks=None, n_threads=1):
        super().__init__(lmode)
        if not isinstance(layer, Layer):
            raise TypeError(f"layer must be a Layer, got {type(layer).__name__}")
        if not layer.params:
            raise ValueError("a population learner needs a layer with parameters")
        if x_search not in ("hill_climb", "none"):
            raise ValueError(f"x_search must be 'hill_climb' or 'none', got {x_search!r}")
        self.layer = layer
        self.rng = np.random.default_rng(rng)
        self.x_search, self.x_candidates = x_search, int(x_candidates)
        self.x_std, self.x_iters = float(x_std), int(x_iters)
        self.n_in, self.n_out = layer.n_in, layer.n_out
        self.evaluator = PopulationEvaluator(executor, n_tasks, n_threads)

    def _generation_key(self):
        """A fresh key; member i's noise is ``member_noise(params, key, i)``."""
        return int(self.rng.integers(2 ** 63))

    def forward(self, x, state=None):
        y = self.layer.forward(x, state)
        if state is not None:
            state.y = y
        return y

    def step_x(self, x, t, state):
        if self.x_search == "none":
            return x
        return hill_climb_x(self.layer.forward, x, t, n_candidates=self.x_candidates,
                            std=self.x_std, n_iters=self.x_iters, rng=self.rng)


class HillClimbLearner(_PopulationBase):
    """(1 + K) hill climbing over the parameters; the loss on a batch never rises.

    ``accumulate`` evaluates ``K = n_candidates`` perturbations
    ``theta + std * e`` in one batched call and stages the best if it beats the
    current parameters; ``step`` applies it.
    """

    def __init__(self, layer, *, n_candidates=16, std=0.02, x_search="hill_climb",
                 x_candidates=8, x_std=0.1, x_iters=1, rng=None, lmode=LMode.DEFAULT,
                 executor=None, n_tasks=None, n_threads=1):
        super().__init__(layer, x_search=x_search, x_candidates=x_candidates,
                         x_std=x_std, x_iters=x_iters, rng=rng, lmode=lmode,
                         executor=executor, n_tasks=n_tasks, n_threads=n_threads)
        self.n_candidates, self.std = int(n_candidates), float(std)
        self._best = None

    def accumulate(self, x, t, state):
        params = self.layer.params
        key = self._generation_key()
        losses = self.evaluator.perturbed(self.layer, x, t, key, self.n_candidates,
                                          self.std, False)
        cur = population_losses(state.y[None], t)[0]
        i = int(np.argmin(losses))
        self._best = None
        if losses[i] < cur:
            e = population_noise(params, key, [i])
            self._best = {k: perturbed(params[k], e[k], self.std, False)[0] for k in params}
        state.candidate_losses = losses

    def step(self, x, t, state):
        if self._best is not None:
            for k, v in self._best.items():
                self.layer.params[k][...] = v
            self._best = None


class ESLearner(_PopulationBase):
    """Evolution strategies: an ES gradient estimate applied by an optimizer.

    Parameters
    ----------
    layer : Layer with ``forward_population``
    optimizer : Optimizer template (default ``SGD(lr=0.01)``)
    pop_size : int, number of perturbations (pairs when antithetic)
    sigma : float, perturbation scale
    antithetic : bool, mirrored sampling (exact directional derivative on quadratics)
    executor : None, concurrent.futures.Executor or dask.distributed.Client
    n_tasks : int, population chunks per evaluation (default: worker count)
    n_threads : int, OpenMP threads of a local evaluation of a ``Linear`` (same bits)
    """

    def __init__(self, layer, optimizer=None, *, pop_size=32, sigma=0.02,
                 antithetic=True, x_search="hill_climb", x_candidates=8, x_std=0.1,
                 x_iters=1, rng=None, lmode=LMode.DEFAULT, executor=None, n_tasks=None,
                 n_threads=1):
        super().__init__(layer, x_search=x_search, x_candidates=x_candidates,
                         x_std=x_std, x_iters=x_iters, rng=rng, lmode=lmode,
                         executor=executor, n_tasks=n_tasks, n_threads=n_threads)
        if pop_size < 1 or sigma <= 0:
            raise ValueError("pop_size must be >= 1 and sigma > 0")
        self.pop_size, self.sigma, self.antithetic = int(pop_size), float(sigma), \
            bool(antithetic)
        self.optimizer = bind_optimizer(optimizer, layer.params, layer.param_options,
                                        default=SGD(lr=0.01))
        self.grads = None

    def estimate_grad(self, x, t, y=None):
        """One ES estimate of ``d/dtheta 0.5 ||f(x; theta) - t||^2``."""
        params, P, s = self.layer.params, self.pop_size, self.sigma
        key = self._generation_key()
        eps = population_noise(params, key, range(P))
        L = self.evaluator.perturbed(self.layer, x, t, key, P, s, self.antithetic, noise=eps)
        if self.antithetic:
            w = (L[0] - L[1]) / (2 * s * P)
        else:
            if y is None:
                y = self.layer.forward(x)
            L0 = population_losses(y[None], t)[0]
            w = (L - L0) / (s * P)
        w = w.astype(next(iter(params.values())).dtype, copy=False)
        return {k: np.tensordot(w, e, axes=1) for k, e in eps.items()}

    def accumulate(self, x, t, state):
        g = self.estimate_grad(x, t, state.y)
        if self.grads is None:
            self.grads = g
        else:
            for k, v in g.items():
                self.grads[k] += v

    def step(self, x, t, state):
        if self.grads is not None:
            self.optimizer.step(self.grads)
            self.grads = None


class GALearner(_PopulationBase):
    """A genetic algorithm over the layer's parameters.

    The population (``population[name]`` of shape ``(P, *param.shape)``) starts
    as the current parameters (member 0) and ``P - 1`` mutants.  ``accumulate``
    scores every member on the batch in one batched call; ``step`` keeps the
    ``elite`` best unchanged, fills the rest with children of tournament-selected
    parents (uniform crossover, Gaussian mutation of std ``mutation_std`` on a
    ``mutation_rate`` share of the entries) and copies the best member into the
    layer.  With elitism the best loss on a fixed batch never increases.
    """

    def __init__(self, layer, *, pop_size=32, elite=2, tournament=3, mutation_std=0.02,
                 mutation_rate=1.0, x_search="hill_climb", x_candidates=8, x_std=0.1,
                 x_iters=1, rng=None, lmode=LMode.DEFAULT, executor=None, n_tasks=None,
                 n_threads=1):
        super().__init__(layer, x_search=x_search, x_candidates=x_candidates,
                         x_std=x_std, x_iters=x_iters, rng=rng, lmode=lmode,
                         executor=executor, n_tasks=n_tasks, n_threads=n_threads)
        if not 1 <= elite < pop_size:
            raise ValueError(f"need 1 <= elite < pop_size, got elite={elite}, "
                             f"pop_size={pop_size}")
        if tournament < 1 or mutation_std < 0 or not 0 <= mutation_rate <= 1:
            raise ValueError("tournament >= 1, mutation_std >= 0, 0 <= mutation_rate <= 1")
        self.pop_size, self.elite, self.tournament = int(pop_size), int(elite), \
            int(tournament)
        self.mutation_std, self.mutation_rate = float(mutation_std), float(mutation_rate)
        noise = population_noise(layer.params, self._generation_key(), range(self.pop_size))
        self.population = {}
        for k, v in layer.params.items():
            pop = perturbed(v, noise[k], self.mutation_std, False)  # contiguous, v's dtype
            pop[0] = v
            self.population[k] = pop
        self.fitness = None

    def accumulate(self, x, t, state):
        self.fitness = self.evaluator.given(self.layer, x, t, self.population)
        state.fitness = self.fitness

    def _mutate(self, child):
        noise = self.rng.standard_normal(child.shape).astype(child.dtype, copy=False)
        noise *= self.mutation_std
        if self.mutation_rate < 1:
            noise *= self.rng.random(child.shape) < self.mutation_rate
        child += noise

    def step(self, x, t, state):
        if self.fitness is None:
            return
        P, E = self.pop_size, self.elite
        order = np.argsort(self.fitness, kind="stable")
        n_child = P - E
        cand = self.rng.integers(0, P, (2, n_child, self.tournament))
        fit = self.fitness[cand]
        parents = np.take_along_axis(cand, np.argmin(fit, axis=2)[..., None], 2)[..., 0]
        for k, pop in self.population.items():
            elites = pop[order[:E]]
            p1, p2 = pop[parents[0]], pop[parents[1]]
            mask = self.rng.random(p1.shape) < 0.5
            child = np.where(mask, p1, p2)
            self._mutate(child)
            new = np.concatenate([elites, child])
            pop[...] = new
            self.layer.params[k][...] = pop[0]
        self.fitness = None

    def _state_items(self):
        items = super()._state_items()
        items.update({f"population.{k}": v for k, v in self.population.items()})
        return items

"""Each learning rule is exactly what its paper says."""
import numpy as np
import pytest

import zenkai_np as zk
from zenkai_np.framework.backend import use_backend
from zenkai_np.framework.state import State


def task(n=400, seed=0, dtype=np.float64):
    """A small nonlinear 3-class problem (not linearly separable)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4))
    r = np.sqrt(x[:, 0] ** 2 + x[:, 1] ** 2)
    y = np.where(r < 0.9, 0, np.where(x[:, 2] > 0, 1, 2))
    return x.astype(dtype), y


def test_fa_input_target_uses_B_and_weight_gradient_is_delta_x():
    rng = np.random.default_rng(0)
    lin = zk.Linear(4, 3, rng=1)
    fa = zk.FALearner(lin, zk.SGD(lr=0.0), rng=2)
    x, t = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    st = State()
    y = fa.forward(x, st)
    delta = y - t
    fa.accumulate(x, t, st)
    np.testing.assert_allclose(fa.grads["W"], x.T @ delta, rtol=1e-12)
    np.testing.assert_allclose(fa.grads["b"], delta.sum(0), rtol=1e-12)
    xt = fa.step_x(x, t, st)
    np.testing.assert_allclose(xt, x - delta @ fa.B.T, rtol=1e-12)
    # and not the transpose of W
    assert not np.allclose(xt, x - delta @ lin.W.T)
    # inside a Sequential (gradient channel) the upstream learner sees delta @ B.T
    up = zk.GradLearner(zk.Linear(2, 4, rng=3), zk.SGD(lr=0.0), keep_grads=True)
    fa2 = zk.FALearner(zk.Linear(4, 3, rng=1), zk.SGD(lr=0.0), rng=2)
    net = zk.Sequential(up, fa2)
    x0 = rng.standard_normal((5, 2))
    st = State()
    y = net.forward(x0, st)
    net.accumulate(x0, t, st)
    h = st._xs[1]
    np.testing.assert_allclose(up.grads["W"], x0.T @ ((y - t) @ fa2.B.T), rtol=1e-12)
    np.testing.assert_allclose(fa2.grads["W"], h.T @ (y - t), rtol=1e-12)


def mlp(kind, seed=0, lr=0.05, hidden=32):
    sizes = [4, hidden, hidden, 3]
    ms = []
    for i in range(3):
        lin = zk.Linear(sizes[i], sizes[i + 1], rng=seed + i)
        opt = zk.SGD(lr=lr, momentum=0.9)
        if i == 2:
            ms.append(zk.GradLearner(lin, opt))
        elif kind == "fa":
            ms += [zk.FALearner(lin, opt, rng=seed + 10 + i), zk.GradLearner(zk.Tanh())]
        elif kind == "dfa":
            ms.append(zk.DFALearner(lin, zk.Tanh(), n_error=3, optimizer=opt,
                                    rng=seed + 10 + i))
    return zk.Sequential(*ms)


@pytest.mark.parametrize("kind", ["fa", "dfa"])
def test_feedback_alignment_networks_learn_the_task(kind):
    x, y = task()
    xt, yt = task(seed=1)
    net = mlp(kind)
    before = zk.evaluate(net, xt, yt)["accuracy"]
    zk.fit(net, x, y, loss=zk.CrossEntropyLoss(), epochs=40, batch_size=32, rng=0)
    after = zk.evaluate(net, xt, yt)["accuracy"]
    # the hidden layers must contribute: compare with a plain linear classifier
    lin = zk.Sequential(zk.GradLearner(zk.Linear(4, 3, rng=0), zk.SGD(lr=0.05, momentum=0.9)))
    zk.fit(lin, x, y, loss=zk.CrossEntropyLoss(), epochs=40, batch_size=32, rng=0)
    ref = zk.evaluate(lin, xt, yt)["accuracy"]
    assert after > 0.85 and after > before + 0.2 and after > ref + 0.1, (before, ref, after)


def test_dfa_update_is_B_e_times_fprime_a_x():
    rng = np.random.default_rng(1)
    net = mlp("dfa")
    net.machines[0].optimizer.lr = 0.0
    net.machines[1].optimizer.lr = 0.0
    x = rng.standard_normal((6, 4))
    labels = rng.integers(0, 3, 6)
    st = State()
    out = net.forward(x, st)
    e = zk.CrossEntropyLoss().grad(out, labels)
    net.learn(x, labels, zk.CrossEntropyLoss(), state=st)
    for i, m in enumerate(net.machines[:2]):
        xi = st._xs[i]
        a = xi @ m.layer.W + m.layer.b
        fprime = 1 - np.tanh(a) ** 2
        da = (e @ m.B) * fprime                      # (B_l e) (.) f'(a), row form
        # atol: the compiled tanh is within 3 ulp (tests/framework/test_fused.py), which
        # sums with cancellation turn into relative errors on their smallest entries
        for got, ref in ((m.grads["W"], xi.T @ da), (m.grads["b"], da.sum(0))):
            np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    # the error is the global one even though a hidden layer sits in between
    assert net.machines[0].B.shape == (3, 32)


def test_dfa_outside_a_container_raises():
    m = zk.DFALearner(zk.Linear(2, 3, rng=0), zk.Tanh(), n_error=2)
    x = np.ones((2, 2))
    st = State()
    m.forward(x, st)
    with pytest.raises(ValueError, match="global output error"):
        m.accumulate(x, np.zeros((2, 3)), st)


def tp_pair(n_in, n_out, seed, cls=zk.DTPLearner, **kw):
    f = zk.Chain(zk.Linear(n_in, n_out, rng=seed), zk.Tanh())
    g = zk.Chain(zk.Linear(n_out, n_in, rng=seed + 100), zk.Tanh())
    return cls(f, g, zk.SGD(lr=kw.pop("lr", 0.01)), zk.SGD(lr=kw.pop("inv_lr", 0.01)),
               rng=seed, **kw)


def test_dtp_correction_is_exactly_x_plus_g_t_minus_g_y():
    rng = np.random.default_rng(2)
    m = tp_pair(5, 4, 0)
    x, t = rng.standard_normal((7, 5)), rng.standard_normal((7, 4))
    st = State()
    y = m.forward(x, st)
    g = m.inverse.forward
    np.testing.assert_allclose(m.step_x(x, t, st), x + g(t) - g(y), rtol=0, atol=1e-15)
    # TP is g(t); with t = y DTP returns x exactly
    tp = tp_pair(5, 4, 0, cls=zk.TPLearner)
    tp.forward(x, State())
    np.testing.assert_array_equal(tp.step_x(x, t, st), g(t))
    np.testing.assert_allclose(m.step_x(x, y, st), x, atol=1e-15)


def test_tp_layer_gradient_is_the_local_loss_gradient():
    rng = np.random.default_rng(3)
    m = tp_pair(3, 2, 1, lr=0.5, inv_lr=0.0)
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    lin = m.layer.layers[0]
    W0, b0 = lin.W.copy(), lin.b.copy()
    st = State()
    y = m.forward(x, st)
    m.accumulate(x, t, st)
    m.step(x, t, st)
    da = (y - t) * (1 - y ** 2)
    np.testing.assert_allclose(lin.W, W0 - 0.5 * x.T @ da, rtol=1e-12)
    np.testing.assert_allclose(lin.b, b0 - 0.5 * da.sum(0), rtol=1e-12)


def test_tp_reconstruction_loss_falls():
    rng = np.random.default_rng(4)
    m = tp_pair(6, 8, 2, lr=0.0, inv_lr=0.002, noise_std=0.05)
    x = np.tanh(rng.standard_normal((200, 6)))
    losses = []
    for _epoch in range(100):
        st = State()
        y = m.forward(x, st)
        m.accumulate(x, y, st)
        m.step(x, y, st)
        losses.append(st.recon_loss)
    losses = np.array(losses)
    assert losses[-10:].mean() < 0.5 * losses[:10].mean()
    # it falls steadily: each block of 10 steps ends lower than the previous one
    blocks = losses.reshape(10, 10).mean(axis=1)
    assert np.all(np.diff(blocks) < 0), blocks


@pytest.mark.parametrize("cls,lr,inv_lr,x_lr,epochs", [
    (zk.TPLearner, 0.003, 0.03, 16.0, 80),
    (zk.DTPLearner, 0.01, 0.01, 32.0, 40),
])
def test_target_propagation_networks_learn_the_task(cls, lr, inv_lr, x_lr, epochs):
    x, y = task()
    xt, yt = task(seed=1)
    net = zk.Sequential(
        tp_pair(4, 32, 0, cls=cls, lr=lr, inv_lr=inv_lr, noise_std=0.1),
        tp_pair(32, 32, 1, cls=cls, lr=lr, inv_lr=inv_lr, noise_std=0.1),
        zk.GradLearner(zk.Linear(32, 3, rng=2), zk.SGD(lr=0.1, momentum=0.9), x_lr=x_lr),
    )
    before = zk.evaluate(net, xt, yt)["accuracy"]
    zk.fit(net, x, y, loss=zk.CrossEntropyLoss(), epochs=epochs, batch_size=32, rng=0)
    after = zk.evaluate(net, xt, yt)["accuracy"]
    # the same network with its hidden layers frozen (readout trained only)
    frozen = zk.Sequential(
        tp_pair(4, 32, 0, cls=cls, lr=0.0, inv_lr=0.0),
        tp_pair(32, 32, 1, cls=cls, lr=0.0, inv_lr=0.0),
        zk.GradLearner(zk.Linear(32, 3, rng=2), zk.SGD(lr=0.1, momentum=0.9)),
    )
    zk.fit(frozen, x, y, loss=zk.CrossEntropyLoss(), epochs=epochs, batch_size=32, rng=0)
    ref = zk.evaluate(frozen, xt, yt)["accuracy"]
    assert after > 0.8 and after > before + 0.2 and after > ref + 0.15, (before, ref, after)


def design(x):
    return np.hstack([x, np.ones((x.shape[0], 1))])


def test_least_squares_weights_equal_lstsq_and_ridge_normal_equations():
    rng = np.random.default_rng(5)
    x, t = rng.standard_normal((30, 4)), rng.standard_normal((30, 3))
    m = zk.LeastSquaresLearner(zk.Linear(4, 3, rng=0), alpha=0.0)
    st = State()
    m.forward(x[:10], st)
    m.accumulate(x[:10], t[:10], st)     # statistics accumulate over batches
    m.forward(x[10:], st)
    m.accumulate(x[10:], t[10:], st)
    m.step(x, t, st)
    w = np.linalg.lstsq(design(x), t, rcond=None)[0]
    np.testing.assert_allclose(m.layer.W, w[:-1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(m.layer.b, w[-1], rtol=1e-9, atol=1e-12)
    # ridge: (X~'X~ + a D) w = X~'t, bias unpenalised
    a = 2.5
    m = zk.LeastSquaresLearner(zk.Linear(4, 3, rng=0), alpha=a)
    m.forward(x, st)
    m.accumulate(x, t, st)
    m.step(x, t, st)
    X = design(x)
    D = np.diag([1.0] * 4 + [0.0])
    w = np.linalg.solve(X.T @ X + a * D, X.T @ t)
    np.testing.assert_allclose(m.layer.W, w[:-1], rtol=1e-10)
    np.testing.assert_allclose(m.layer.b, w[-1], rtol=1e-10, atol=1e-13)


def test_least_squares_input_target_solves_the_input_problem():
    rng = np.random.default_rng(6)
    lin = zk.Linear(5, 3, rng=1)
    lin.params["b"][:] = rng.standard_normal(3)
    x, t = rng.standard_normal((8, 5)), rng.standard_normal((8, 3))
    st = State()
    # proximal ridge: x'(W W' + b I) = (t - b) W' + b x
    m = zk.LeastSquaresLearner(lin, x_alpha=0.7, fit_weights=False)
    m.forward(x, st)
    W = lin.W
    want = np.linalg.solve(W @ W.T + 0.7 * np.eye(5), (W @ (t - lin.b).T + 0.7 * x.T)).T
    np.testing.assert_allclose(m.step_x(x, t, st), want, rtol=1e-10)
    # x_alpha = 0: minimum-norm least squares, i.e. lstsq of W^T x'^T = (t - b)^T
    m0 = zk.LeastSquaresLearner(lin, x_alpha=0.0, fit_weights=False)
    want0 = np.linalg.lstsq(W.T, (t - lin.b).T, rcond=None)[0].T
    np.testing.assert_allclose(m0.step_x(x, t, st), want0, rtol=1e-10)


def test_population_forward_equals_separate_forwards():
    rng = np.random.default_rng(7)
    for dtype in (np.float32, np.float64):
        ch = zk.Chain(zk.Linear(3, 5, rng=0, dtype=dtype), zk.Tanh(),
                      zk.Linear(5, 2, rng=1, dtype=dtype), zk.Sigmoid())
        P = 6
        pop = {k: (v[None] + 0.3 * rng.standard_normal((P,) + v.shape)).astype(dtype)
               for k, v in ch.params.items()}
        x = rng.standard_normal((4, 3)).astype(dtype)
        got = ch.forward_population(x, pop)
        assert got.shape == (P, 4, 2) and got.dtype == dtype
        saved = {k: v.copy() for k, v in ch.params.items()}
        for i in range(P):
            for k in ch.params:
                ch.params[k][...] = pop[k][i]
            np.testing.assert_allclose(got[i], ch.forward(x),
                                       rtol=1e-5 if dtype == np.float32 else 1e-13)
        for k in ch.params:
            ch.params[k][...] = saved[k]


def test_default_population_forward_loop_matches_and_restores_params():
    class Scale(zk.Layer):
        def __init__(self):
            super().__init__()
            self.params["s"] = np.array([1.0, 2.0])

        def forward(self, x, state=None):
            return x * self.params["s"]

    l = Scale()
    pop = {"s": np.array([[1.0, 1.0], [3.0, -1.0]])}
    x = np.array([[1.0, 2.0]])
    np.testing.assert_array_equal(l.forward_population(x, pop), [[[1, 2]], [[3, -2]]])
    np.testing.assert_array_equal(l.params["s"], [1.0, 2.0])


@pytest.mark.parametrize("antithetic", [True, False])
def test_es_estimate_is_unbiased_on_a_quadratic(antithetic):
    """The local loss of a Linear layer is quadratic in (W, b), so the ES
    estimate's mean is the exact gradient.  Per component j the single-sample
    antithetic estimate (g.e) e_j has variance ||g||^2 + g_j^2; the bound is 5
    standard errors of the mean (|Z| > 5 has probability 6e-7 per component)."""
    rng = np.random.default_rng(8)
    lin = zk.Linear(3, 2, rng=0)
    x, t = rng.standard_normal((10, 3)), rng.standard_normal((10, 2))
    es = zk.ESLearner(lin, pop_size=20000, sigma=0.1, antithetic=antithetic, rng=9)
    y = lin.forward(x)
    g = lin.vjp_params(x, y, y - t)
    est = es.estimate_grad(x, t, y)
    gflat = np.concatenate([g["W"].ravel(), g["b"].ravel()])
    eflat = np.concatenate([est["W"].ravel(), est["b"].ravel()])
    P = es.pop_size
    if antithetic:
        var = gflat @ gflat + gflat ** 2
    else:
        # (L(th + s e) - L0)/s e_j = (g.e + s/2 e'He) e_j; with H = block-diag
        # of the design Gram matrix the variance is estimated from a pilot run
        pilot = zk.ESLearner(zk.Linear(3, 2, rng=0), pop_size=1, sigma=0.1,
                             antithetic=False, rng=10)
        samples = np.array([np.concatenate([v.ravel() for v in
                                            pilot.estimate_grad(x, t, y).values()])
                            for _ in range(4000)])
        var = samples.var(axis=0)
    se = np.sqrt(var / P)
    assert np.all(np.abs(eflat - gflat) < 5 * se), (eflat - gflat) / se
    # and the bound is informative: a wrong gradient (scaled by 1.5) fails it
    assert not np.all(np.abs(eflat - 1.5 * gflat) < 5 * se)


def test_es_learner_reduces_the_loss():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((50, 3))
    W_true = rng.standard_normal((3, 2))
    t = x @ W_true
    lin = zk.Linear(3, 2, rng=0)
    es = zk.ESLearner(lin, zk.SGD(lr=0.005), pop_size=16, sigma=0.05, rng=1)
    l0 = zk.MSELoss().value(lin.forward(x), t)
    for _ in range(200):
        es.learn(x, t)
    assert zk.MSELoss().value(lin.forward(x), t) < 0.05 * l0


def test_ga_best_loss_never_increases_on_a_fixed_batch():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((40, 3))
    t = np.tanh(x @ rng.standard_normal((3, 2)))
    layer = zk.Chain(zk.Linear(3, 2, rng=0), zk.Tanh())
    ga = zk.GALearner(layer, pop_size=24, elite=2, mutation_std=0.1, rng=3)
    best = []
    for _ in range(40):
        st = State()
        ga.forward(x, st)
        ga.accumulate(x, t, st)
        best.append(st.fitness.min())
        ga.step(x, t, st)
    best = np.array(best)
    assert np.all(np.diff(best) <= 0)
    assert best[-1] < 0.5 * best[0]
    # the layer holds the best member found
    np.testing.assert_allclose(zk.framework.learners.population_losses(
        layer.forward(x)[None], t)[0], best[-1], rtol=1e-12)


def test_hill_climbing_is_monotone():
    rng = np.random.default_rng(13)
    lin = zk.Linear(3, 2, rng=0)
    x = rng.standard_normal((30, 3))
    t = rng.standard_normal((30, 2))
    per_sample = lambda z: 0.5 * ((lin.forward(z) - t) ** 2).sum(1)  # noqa: E731
    xt = zk.framework.learners.hill_climb_x(lin.forward, x, t, n_candidates=16, std=0.3,
                                            n_iters=5, rng=0)
    assert np.all(per_sample(xt) <= per_sample(x))
    assert per_sample(xt).sum() < per_sample(x).sum()
    hc = zk.HillClimbLearner(zk.Linear(3, 2, rng=1), n_candidates=8, std=0.1, rng=2)
    losses = []
    for _ in range(30):
        st = State()
        y = hc.forward(x, st)
        losses.append(0.5 * ((y - t) ** 2).sum())
        hc.accumulate(x, t, st)
        hc.step(x, t, st)
    assert np.all(np.diff(losses) <= 0) and losses[-1] < losses[0]


def test_ensemble_members_receive_the_aggregators_input_target():
    rng = np.random.default_rng(14)
    members = [zk.GradLearner(zk.Linear(3, 2, rng=i), zk.SGD(lr=0.0)) for i in range(3)]
    agg = zk.GradLearner(zk.Linear(6, 2, rng=7), zk.SGD(lr=0.0))
    ens = zk.EnsembleLearner(members, agg)
    x, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    st = State()
    y = ens.forward(x, st)
    ens.accumulate(x, t, st)
    cat = np.concatenate([m.layer.forward(x) for m in members], 1)
    agg_xt = cat - (y - t) @ agg.layer.W.T        # the aggregator's step_x
    for i, tm in enumerate(st.member_targets):
        np.testing.assert_allclose(tm, agg_xt[:, 2 * i:2 * i + 2], rtol=1e-12)
        ym = members[i].layer.forward(x)
        np.testing.assert_allclose(members[i].grads["W"], x.T @ (ym - tm), rtol=1e-10)
    # the ensemble's input target sums the members' displacements
    want = x - sum((members[i].layer.forward(x) - st.member_targets[i])
                   @ members[i].layer.W.T for i in range(3))
    np.testing.assert_allclose(ens.step_x(x, t, st), want, rtol=1e-10)


def test_default_mean_ensemble_learns():
    x, y = task()
    opt = zk.SGD(lr=0.1, momentum=0.9)
    members = [zk.Sequential(zk.GradLearner(zk.Linear(4, 16, rng=i), opt),
                             zk.GradLearner(zk.Tanh()),
                             zk.GradLearner(zk.Linear(16, 3, rng=10 + i), opt))
               for i in range(3)]
    ens = zk.Sequential(zk.EnsembleLearner(members))
    h = zk.fit(ens, x, y, loss=zk.CrossEntropyLoss(), epochs=30, batch_size=32, rng=0,
               metrics="accuracy")
    assert h.metrics["accuracy"][-1] > 0.85


def test_sklearn_learner_reaches_the_estimators_own_accuracy():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    xtr, ytr, xte, yte = x[:1200], y[:1200], x[1200:], y[1200:]
    ref = LogisticRegression(max_iter=300).fit(xtr, ytr)
    ref_acc = ref.score(xte, yte)
    learner = zk.SklearnLearner(LogisticRegression(max_iter=300), 64, 10)
    net = zk.Sequential(learner)
    zk.fit(net, xtr, ytr, loss=zk.CrossEntropyLoss(), epochs=1, batch_size=1200,
           shuffle=False)
    acc = zk.evaluate(net, xte, yte)["accuracy"]
    assert acc == pytest.approx(ref_acc, abs=1e-12)
    assert acc > 0.9


def test_sklearn_learner_composes_with_hill_climbing_input_targets():
    pytest.importorskip("sklearn")
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(15)
    x = rng.standard_normal((60, 3))
    t = x @ rng.standard_normal((3, 2))
    sk = zk.SklearnLearner(Ridge(alpha=1e-3), 3, 2, rng=0)
    net = zk.Sequential(zk.GradLearner(zk.Linear(3, 3, rng=1), zk.SGD(lr=0.01)), sk)
    st = State()
    net.forward(x, st)
    net.learn(x, t)            # first step fits the estimator
    st = State()
    net.forward(x, st)
    xt = sk.step_x(st._xs[1], t, st._subs[1])
    before = ((sk.forward(st._xs[1]) - t) ** 2).sum(1)
    after = ((sk.forward(xt) - t) ** 2).sum(1)
    assert np.all(after <= before + 1e-12)


@pytest.mark.parametrize("backend", ["numpy", "compiled"])
@pytest.mark.parametrize("lmode", ["default", "deferred"])
def test_walk_skips_input_targets_nobody_reads(lmode, backend):
    """DFA ignores the signal from its successor, so the walk does not compute it
    (a GEMM per hidden block); the updates are those of the full walk."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 4))
    labels = rng.integers(0, 3, 16)
    mode = zk.LMode.DEFAULT if lmode == "default" else zk.LMode.DEFERRED
    nets, calls = [], []
    for skip in (True, False):
        net = zk.Sequential(
            zk.DFALearner(zk.Linear(4, 8, rng=0), zk.Tanh(), n_error=3, rng=1,
                          optimizer=zk.SGD(lr=0.1), lmode=mode),
            zk.DFALearner(zk.Linear(8, 8, rng=2), zk.Tanh(), n_error=3, rng=3,
                          optimizer=zk.SGD(lr=0.1), lmode=mode),
            zk.GradLearner(zk.Linear(8, 3, rng=4), zk.SGD(lr=0.1)))
        count = []
        def counted(f, c=count):
            return lambda *a, **k: (c.append(1), f(*a, **k))[1]
        for m in net.machines:
            m.uses_output_signal = m.uses_output_signal if skip else True
            m.grad_x = counted(m.grad_x)
        net.machines[2].layer.vjp_x = counted(net.machines[2].layer.vjp_x)
        with use_backend(backend):
            net.learn(x, labels, loss=zk.CrossEntropyLoss())
        nets.append(net)
        calls.append(len(count))
    if backend == "numpy":          # (the compiled readout computes its gx inside a kernel)
        assert calls == [0, 2]      # both input gradients are unused: skipped, else 2
    for (k, a), b in zip(nets[0].parameters().items(), nets[1].parameters().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)

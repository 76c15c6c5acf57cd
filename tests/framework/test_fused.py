"""Compiled (Cython) framework backend against its NumPy formulation.

``zenkai_np.framework._fused`` is compiled without target attributes: it has
one code path (x86-64 baseline), so ``use_simd_path`` does not apply to it;
the NumPy reference it is compared with is NumPy's own dispatch.  The
elementwise passes and optimizers use NumPy's operation order and the GEMMs
stay NumPy's, so the two backends are compared **bitwise**; the VJPs are also
checked against central finite differences, the optimizers against textbook
formulas in Python floats.
"""
import numpy as np
import pytest

import zenkai_np as zk
from finite_differences import central_differences
from zenkai_np.framework import fusion
from zenkai_np.framework.backend import get_backend, set_backend, use_backend

F = pytest.importorskip("zenkai_np.framework._fused")
threadpoolctl = pytest.importorskip("threadpoolctl")

DTYPES = (np.float32, np.float64)
ACTS = [zk.Identity(), zk.Tanh(), zk.Sigmoid(), zk.ReLU(), zk.LeakyReLU(0.1)]


def _act_id(a):
    return type(a).__name__


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def n_threads(request):
    with threadpoolctl.threadpool_limits(request.param):
        yield request.param


# -- kernels -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS, ids=_act_id)
def test_bias_act_and_act_grad_bitwise(dtype, act):
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((33, 17)) * 3).astype(dtype)
    z[0, :3] = 0                              # the derivative's corner cases
    b = rng.standard_normal(17).astype(dtype)
    code = fusion.activation_code(act)
    a, y = z.copy(), np.empty_like(z)
    F.bias_act(a, b, y, code, getattr(act, "slope", 0.0))
    ref_a = z + b
    np.testing.assert_array_equal(a, ref_a)
    if code == 1:
        y = np.tanh(a)
    elif code == 2:
        np.tanh(y, out=y)
        F.sigmoid_finish(y)
    elif code == 0:
        y = a
    np.testing.assert_array_equal(y, act.forward(ref_a))
    gy = rng.standard_normal(z.shape).astype(dtype)
    gz = np.empty_like(gy)
    gy0 = gy.copy()
    F.act_grad(gy, a, y, gz, code, getattr(act, "slope", 0.0))
    np.testing.assert_array_equal(gz, act.vjp_x(a, y, gy))
    np.testing.assert_array_equal(gy, gy0)    # input not modified


def _opt_run(opt_factory, dtype, steps=5, shape=(7, 5)):
    rng = np.random.default_rng(1)
    p = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(steps)]
    opt = opt_factory({"p": p})
    for g in grads:
        g0 = g.copy()
        opt.step({"p": g})
        np.testing.assert_array_equal(g, g0)   # gradients are read, never modified
    return p, grads


OPTS = {
    "sgd": lambda P: zk.SGD(P, lr=0.1),
    "sgd_momentum": lambda P: zk.SGD(P, lr=0.1, momentum=0.9),
    "sgd_nesterov_wd": lambda P: zk.SGD(P, lr=0.1, momentum=0.8, nesterov=True,
                                        weight_decay=0.01),
    "sgd_wd": lambda P: zk.SGD(P, lr=0.1, weight_decay=0.05),
    "adam": lambda P: zk.Adam(P, lr=1e-2),
    "adam_wd": lambda P: zk.Adam(P, lr=1e-2, weight_decay=0.1, beta1=0.8, eps=1e-6),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(OPTS))
def test_optimizers_bitwise_equal_numpy(dtype, name):
    with use_backend("compiled"):
        pc, _ = _opt_run(OPTS[name], dtype)
    with use_backend("numpy"):
        pn, _ = _opt_run(OPTS[name], dtype)
    np.testing.assert_array_equal(pc, pn)


def test_adam_and_nesterov_match_textbook():
    """float64 compiled updates against the formulas in Python floats, entry by entry."""
    with use_backend("compiled"):
        p, grads = _opt_run(lambda P: zk.Adam(P, lr=0.05, weight_decay=0.1),
                            np.float64, shape=(4,))
    p0 = np.random.default_rng(1).standard_normal(4)
    for j in range(4):
        th, m, v = float(p0[j]), 0.0, 0.0
        for t, g in enumerate(grads, 1):
            gj = float(g[j]) + 0.1 * th
            m = 0.9 * m + 0.1 * gj
            v = 0.999 * v + 0.001 * gj * gj
            th -= 0.05 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        assert p[j] == pytest.approx(th, rel=1e-13, abs=1e-15)
    for backend in ("compiled", "numpy"):
        with use_backend(backend):
            p, grads = _opt_run(lambda P: zk.SGD(P, lr=0.1, momentum=0.9, nesterov=True,
                                                 weight_decay=0.05), np.float64, shape=(4,))
        for j in range(4):
            th, buf = float(p0[j]), 0.0
            for g in grads:
                gj = float(g[j]) + 0.05 * th
                buf = 0.9 * buf + gj
                th -= 0.1 * (gj + 0.9 * buf)
            assert p[j] == pytest.approx(th, rel=1e-13, abs=1e-15), backend


# -- networks: compiled backend = NumPy backend ----------------------------------
def _net(rule, act, dtype, seed=0):
    lin = [zk.Linear(12, 16, dtype=dtype, rng=seed), zk.Linear(16, 16, dtype=dtype, rng=seed + 1),
           zk.Linear(16, 3, dtype=dtype, rng=seed + 2)]
    opt = zk.Adam(lr=1e-2)
    if rule == "bp":
        return zk.Sequential(zk.GradLearner(lin[0], opt), zk.GradLearner(act),
                             zk.GradLearner(lin[1], zk.SGD(lr=0.05, momentum=0.9)),
                             zk.GradLearner(act), zk.GradLearner(lin[2], opt))
    if rule == "fa":
        return zk.Sequential(zk.FALearner(lin[0], opt, rng=seed), zk.GradLearner(act),
                             zk.FALearner(lin[1], opt, rng=seed + 1), zk.GradLearner(act),
                             zk.FALearner(lin[2], opt, rng=seed + 2, x_lr=0.5))
    return zk.Sequential(zk.DFALearner(lin[0], act, n_error=3, optimizer=opt, rng=seed),
                         zk.DFALearner(lin[1], act, n_error=3, optimizer=opt, rng=seed + 1),
                         zk.GradLearner(lin[2], opt))


def _train(rule, act, dtype, backend, steps=4):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((20, 12)).astype(dtype)
    labels = rng.integers(0, 3, 20)
    net = _net(rule, act, dtype)
    losses = []
    with use_backend(backend):
        for _ in range(steps):
            losses.append(net.learn(x, labels, loss=zk.CrossEntropyLoss()))
        y = net.forward(x)
    return net, losses, y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS, ids=_act_id)
@pytest.mark.parametrize("rule", ["bp", "fa", "dfa"])
def test_training_bitwise_equal_numpy_backend(rule, act, dtype, n_threads):
    net_c, loss_c, y_c = _train(rule, act, dtype, "compiled")
    net_n, loss_n, y_n = _train(rule, act, dtype, "numpy")
    assert loss_c == loss_n
    np.testing.assert_array_equal(y_c, y_n)
    pc, pn = net_c.parameters(), net_n.parameters()
    assert pc.keys() == pn.keys()
    for k in pc:
        np.testing.assert_array_equal(pc[k], pn[k], err_msg=k)
    for (k, a), b in zip(net_c._state_items().items(), net_n._state_items().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)        # optimizer moments too


@pytest.mark.parametrize("dtype", DTYPES)
def test_results_independent_of_thread_count(dtype):
    out = []
    for n in (1, 2):
        with threadpoolctl.threadpool_limits(n):
            out.append(_train("bp", zk.Tanh(), dtype, "compiled")[2])
    np.testing.assert_array_equal(out[0], out[1])


def test_plan_fuses_linear_activation_pairs():
    with use_backend("compiled"):
        net = _net("bp", zk.Tanh(), np.float64)
        assert fusion.plan(net.machines) == {0: 1, 2: 3, 4: 4}
        assert fusion.plan(_net("fa", zk.ReLU(), np.float64).machines) == {0: 1, 2: 3, 4: 4}

        class MyGrad(zk.GradLearner):             # subclasses may override anything
            pass

        lin = zk.Linear(4, 4)
        m = zk.Sequential(MyGrad(lin), zk.GradLearner(zk.Tanh()), zk.GradLearner(
            zk.Linear(4, 4), lmode=zk.LMode.DEFERRED), zk.GradLearner(zk.Softmax()))
        assert fusion.plan(m.machines) is None
    with use_backend("numpy"):
        assert fusion.plan(net.machines) is None


def test_fused_gradients_match_finite_differences():
    """The compiled walk's dL/dW (kept by keep_grads, lr = 0) = central differences."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5))
    labels = rng.integers(0, 3, 6)
    lin1, lin2 = zk.Linear(5, 4, rng=1), zk.Linear(4, 3, rng=2)
    lin1.params["b"][:] = rng.standard_normal(4)
    g1 = zk.GradLearner(lin1, zk.SGD(lr=0.0), keep_grads=True)
    g2 = zk.GradLearner(lin2, zk.SGD(lr=0.0), keep_grads=True)
    net = zk.Sequential(g1, zk.GradLearner(zk.Sigmoid()), g2)
    loss = zk.CrossEntropyLoss()
    with use_backend("compiled"):
        assert fusion.plan(net.machines) == {0: 1, 2: 2}
        net.learn(x, labels, loss=loss)
    f = lambda: loss.value_and_grad(net.forward(x), labels)[0]       # noqa: E731
    for lrn in (g1, g2):
        for k in ("W", "b"):
            np.testing.assert_allclose(lrn.grads[k], central_differences(f, lrn.layer.params[k]),
                                       rtol=1e-6, atol=1e-9)


# -- input handling ---------------------------------------------------------------
def test_bad_input_same_errors_and_inputs_untouched():
    net = _net("bp", zk.Tanh(), np.float32)
    for backend in ("compiled", "numpy"):
        with use_backend(backend):
            with pytest.raises(TypeError, match="x"):
                net.forward(np.zeros((3, 12)))           # float64 into a float32 net
            with pytest.raises(ValueError, match="features"):
                net.forward(np.zeros((3, 11), np.float32))
    x = np.asfortranarray(np.random.default_rng(0).standard_normal((9, 12)).astype(np.float32))
    x0 = x.copy()
    with use_backend("compiled"):
        yc = net.forward(x)
    with use_backend("numpy"):
        yn = net.forward(x)
    np.testing.assert_array_equal(yc, yn)               # non-contiguous input works
    np.testing.assert_array_equal(x, x0)


def test_read_only_parameter_is_a_value_error():
    for backend in ("compiled", "numpy"):
        p = np.ones(4)
        p.flags.writeable = False
        with use_backend(backend), pytest.raises(ValueError):
            zk.Adam({"p": p}, lr=0.1).step({"p": np.ones(4)})


def test_backend_switch_validates():
    old = get_backend()
    with pytest.raises(ValueError, match="backend"):
        set_backend("torch")
    assert get_backend() == old

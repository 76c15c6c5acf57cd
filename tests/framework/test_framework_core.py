"""Core protocol: layer VJPs, losses, GradLearner == backprop, optimizers, modes."""
import numpy as np
import pytest

import zenkai_np as zk
from finite_differences import central_differences
from zenkai_np.framework.state import State


def fd_vjp_x(f, x, gy, eps=1e-6):
    """Central finite differences of <gy, f(x)> with respect to x (x is not modified)."""
    xc = np.array(x, copy=True)
    return central_differences(lambda: np.vdot(gy, f(xc)), xc, eps)


def fd_param(layer, name, x, gy, eps=1e-6):
    """Central finite differences of <gy, layer.forward(x)> with respect to params[name]."""
    return central_differences(lambda: np.vdot(gy, layer.forward(x)), layer.params[name], eps)


def smooth_layers():
    return [zk.Tanh(), zk.Sigmoid(), zk.ReLU(), zk.LeakyReLU(0.1), zk.Softmax(),
            zk.Identity(), zk.Mean(2)]


@pytest.mark.parametrize("layer", smooth_layers(), ids=lambda l: type(l).__name__)
def test_activation_vjp_matches_finite_differences(layer):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 6)) * 2
    # keep ReLU/LeakyReLU away from the kink so FD is valid
    x[np.abs(x) < 1e-3] = 0.5
    y = layer.forward(x)
    gy = rng.standard_normal(y.shape)
    got = layer.vjp_x(x, y, gy)
    want = fd_vjp_x(layer.forward, x, gy)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def test_linear_vjps_match_finite_differences():
    rng = np.random.default_rng(2)
    lin = zk.Linear(4, 3, rng=0)
    lin.params["b"][:] = rng.standard_normal(3)
    x = rng.standard_normal((6, 4))
    y = lin.forward(x)
    gy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(lin.vjp_x(x, y, gy), fd_vjp_x(lin.forward, x, gy),
                               rtol=1e-6, atol=1e-9)
    g = lin.vjp_params(x, y, gy)
    for name in ("W", "b"):
        np.testing.assert_allclose(g[name], fd_param(lin, name, x, gy), rtol=1e-6,
                                   atol=1e-9)
    # the out= path writes the same numbers into the given buffers
    bufs = {k: np.empty_like(v) for k, v in lin.params.items()}
    g2 = lin.vjp_params(x, y, gy, out=bufs)
    assert g2["W"] is bufs["W"]
    np.testing.assert_array_equal(g2["W"], g["W"])


def test_chain_vjps_match_finite_differences():
    rng = np.random.default_rng(3)
    ch = zk.Chain(zk.Linear(3, 5, rng=1), zk.Tanh(), zk.Linear(5, 2, rng=2), zk.Sigmoid())
    x = rng.standard_normal((4, 3))
    st = State()
    y = ch.forward(x, st)
    gy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(ch.vjp_x(x, y, gy, st), fd_vjp_x(ch.forward, x, gy),
                               rtol=1e-6, atol=1e-9)
    g = ch.vjp_params(x, y, gy, st)
    assert set(g) == set(ch.params) == {"0.W", "0.b", "2.W", "2.b"}
    for name in ch.params:
        np.testing.assert_allclose(g[name], fd_param(ch, name, x, gy), rtol=1e-6,
                                   atol=1e-9)


@pytest.mark.parametrize("cls", [zk.Sign, zk.Step])
def test_straight_through_vjp_is_the_definition(cls):
    x = np.array([[-2.0, -1.0, -0.5, 0.0, 0.3, 1.0, 1.5]])
    layer = cls()
    y = layer.forward(x)
    if cls is zk.Sign:
        np.testing.assert_array_equal(y, [[-1, -1, -1, 1, 1, 1, 1]])
    else:
        np.testing.assert_array_equal(y, [[0, 0, 0, 0, 1, 1, 1]])
    gy = np.arange(1.0, 8.0)[None]
    np.testing.assert_array_equal(layer.vjp_x(x, y, gy), gy * (np.abs(x) <= 1))


def test_argmax_ste_forward_one_hot_backward_identity():
    x = np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5]], dtype=np.float32)
    l = zk.ArgmaxSTE()
    y = l.forward(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[0, 1, 0], [1, 0, 0]])
    gy = np.ones_like(x) * 3
    np.testing.assert_array_equal(l.vjp_x(x, y, gy), gy)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_loss_gradients_match_finite_differences(reduction):
    rng = np.random.default_rng(4)
    y = rng.standard_normal((5, 4))
    t_val = rng.standard_normal((5, 4))
    labels = rng.integers(0, 4, 5)
    probs = rng.dirichlet(np.ones(4), 5)
    for loss, t in ((zk.MSELoss(reduction), t_val), (zk.CrossEntropyLoss(reduction), labels),
                    (zk.CrossEntropyLoss(reduction), probs)):
        v, g = loss.value_and_grad(y, t)
        want = fd_vjp_x(lambda yy: np.array(loss.value(yy, t)), y, np.array(1.0))
        np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(loss.target(y, t), y - g)


def test_cross_entropy_value_and_label_forms_agree():
    rng = np.random.default_rng(5)
    y = rng.standard_normal((6, 3))
    labels = rng.integers(0, 3, 6)
    onehot = np.eye(3)[labels]
    ce = zk.CrossEntropyLoss()
    v1, g1 = ce.value_and_grad(y, labels)
    v2, g2 = ce.value_and_grad(y, onehot)
    logp = y - np.log(np.exp(y).sum(1, keepdims=True))
    np.testing.assert_allclose(v1, -logp[np.arange(6), labels].mean(), rtol=1e-12)
    np.testing.assert_allclose(v2, v1, rtol=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-12)


def test_mse_sum_target_is_the_true_target():
    rng = np.random.default_rng(6)
    y, t = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    np.testing.assert_allclose(zk.MSELoss("sum").target(y, t), t, rtol=1e-14)


def make_mlp(dtype=np.float64, lr=0.1, seed=0, act=zk.Tanh, lmode=zk.LMode.DEFAULT,
             keep_grads=True):
    sizes = [5, 7, 6, 3]
    ms = []
    for i in range(3):
        ms.append(zk.GradLearner(zk.Linear(sizes[i], sizes[i + 1], dtype=dtype, rng=seed + i),
                                 zk.SGD(lr=lr), lmode=lmode, keep_grads=keep_grads))
        if i < 2:
            ms.append(zk.GradLearner(act()))
    return zk.Sequential(*ms)


def hand_backprop(Ws, bs, x, labels, act="tanh"):
    """Hand-written backprop for the MLP above (cross-entropy, mean)."""
    h0 = x
    a1 = h0 @ Ws[0] + bs[0]
    h1 = np.tanh(a1)
    a2 = h1 @ Ws[1] + bs[1]
    h2 = np.tanh(a2)
    z = h2 @ Ws[2] + bs[2]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    n = x.shape[0]
    dz = p.copy()
    dz[np.arange(n), labels] -= 1
    dz /= n
    gW3, gb3 = h2.T @ dz, dz.sum(0)
    da2 = (dz @ Ws[2].T) * (1 - h2 ** 2)
    gW2, gb2 = h1.T @ da2, da2.sum(0)
    da1 = (da2 @ Ws[1].T) * (1 - h1 ** 2)
    gW1, gb1 = h0.T @ da1, da1.sum(0)
    gx = da1 @ Ws[0].T
    return [gW1, gW2, gW3], [gb1, gb2, gb3], gx


@pytest.mark.parametrize("lmode", [zk.LMode.DEFAULT, zk.LMode.DEFERRED])
def test_sequential_of_grad_learners_is_exactly_backprop(lmode):
    rng = np.random.default_rng(7)
    net = make_mlp(lmode=lmode)
    for m in net.machines:
        if "b" in m.layer.params:
            m.layer.params["b"][:] = rng.standard_normal(m.layer.params["b"].shape)
    lins = [m.layer for m in net.machines if isinstance(m.layer, zk.Linear)]
    Ws = [l.W.copy() for l in lins]
    bs = [l.b.copy() for l in lins]
    x = rng.standard_normal((8, 5))
    labels = rng.integers(0, 3, 8)
    gW, gb, gx = hand_backprop(Ws, bs, x, labels)

    # 1) gradients staged by accumulate, through the target channel (no loss given)
    st = State()
    y = net.forward(x, st)
    g_out = zk.CrossEntropyLoss().grad(y, labels)
    net.accumulate(x, y - g_out, st)
    learners = [m for m in net.machines if isinstance(m.layer, zk.Linear)]
    for i, m in enumerate(learners):
        np.testing.assert_allclose(m.grads["W"], gW[i], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(m.grads["b"], gb[i], rtol=1e-10, atol=1e-14)
    # the input target is x - dL/dx
    np.testing.assert_allclose(net.step_x(x, y - g_out, st), x - gx, rtol=1e-10,
                               atol=1e-14)
    net.step(x, y - g_out, st)

    # 2) learn() (gradient channel) performs exactly W -= lr * grad, also when the
    #    optimizer may reuse the gradient buffers (keep_grads=False)
    net2 = make_mlp(lmode=lmode, keep_grads=False)
    for m2, m in zip(net2.machines, net.machines):
        for k in m2.layer.params:
            m2.layer.params[k][...] = m.layer.params[k]
    # re-sync to the starting point and compare one SGD step
    for l, W, b in zip([m.layer for m in learners], Ws, bs):
        l.params["W"][...] = W
        l.params["b"][...] = b
    for m2, m in zip(net2.machines, net.machines):
        for k in m2.layer.params:
            m2.layer.params[k][...] = m.layer.params[k]
    net2.learn(x, labels, zk.CrossEntropyLoss())
    lins2 = [m.layer for m in net2.machines if isinstance(m.layer, zk.Linear)]
    for i, l in enumerate(lins2):
        np.testing.assert_allclose(l.W, Ws[i] - 0.1 * gW[i], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(l.b, bs[i] - 0.1 * gb[i], rtol=1e-10, atol=1e-14)


def test_step_priority_input_target_sees_new_weights():
    rng = np.random.default_rng(8)
    lin = zk.Linear(3, 2, rng=0)
    m = zk.GradLearner(lin, zk.SGD(lr=0.5), lmode=zk.LMode.STEP_PRIORITY)
    net = zk.Sequential(zk.GradLearner(zk.Identity()), m)
    x = rng.standard_normal((4, 3))
    t = rng.standard_normal((4, 2))
    st = State()
    y = net.forward(x, st)
    W0 = lin.W.copy()
    net.accumulate(x, t, st)
    gW = x.T @ (y - t)
    W1 = W0 - 0.5 * gW
    np.testing.assert_allclose(lin.W, W1, rtol=1e-12)
    np.testing.assert_allclose(net.step_x(x, t, st), x - (y - t) @ W1.T, rtol=1e-12)
    # default mode uses the old weights instead
    lin2 = zk.Linear(3, 2, rng=0)
    net2 = zk.Sequential(zk.GradLearner(zk.Identity()), zk.GradLearner(lin2, zk.SGD(lr=0.5)))
    st2 = State()
    net2.forward(x, st2)
    net2.accumulate(x, t, st2)
    np.testing.assert_allclose(net2.step_x(x, t, st2), x - (y - t) @ W0.T, rtol=1e-12)


def test_deferred_mode_waits_for_container_step():
    lin = zk.Linear(3, 2, rng=0)
    net = zk.Sequential(zk.GradLearner(lin, zk.SGD(lr=0.5), lmode=zk.LMode.DEFERRED))
    x = np.ones((2, 3))
    t = np.zeros((2, 2))
    st = State()
    net.forward(x, st)
    W0 = lin.W.copy()
    net.accumulate(x, t, st)
    np.testing.assert_array_equal(lin.W, W0)
    net.step(x, t, st)
    assert not np.array_equal(lin.W, W0)


def test_x_lr_scales_the_input_step():
    rng = np.random.default_rng(9)
    lin = zk.Linear(3, 2, rng=0)
    m = zk.GradLearner(lin, x_lr=0.25)
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    st = State()
    y = m.forward(x, st)
    np.testing.assert_allclose(m.step_x(x, t, st), x - 0.25 * (y - t) @ lin.W.T)


def test_sgd_momentum_and_adam_match_reference_formulas():
    rng = np.random.default_rng(10)
    p0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(4)]
    # SGD with momentum, Nesterov off, weight decay
    p = p0.copy()
    opt = zk.SGD({"p": p}, lr=0.1, momentum=0.9, weight_decay=0.01)
    ref, v = p0.copy(), np.zeros(5)
    for g in grads:
        opt.step({"p": g})
        gg = g + 0.01 * ref
        v = 0.9 * v + gg
        ref = ref - 0.1 * v
    np.testing.assert_allclose(p, ref, rtol=1e-13)
    # Adam
    p = p0.copy()
    opt = zk.Adam({"p": p}, lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7)
    ref, m, v = p0.copy(), np.zeros(5), np.zeros(5)
    for t, g in enumerate(grads, 1):
        opt.step({"p": g})
        m = 0.8 * m + 0.2 * g
        v = 0.99 * v + 0.01 * g * g
        ref = ref - 0.01 * (m / (1 - 0.8 ** t)) / (np.sqrt(v / (1 - 0.99 ** t)) + 1e-7)
    np.testing.assert_allclose(p, ref, rtol=1e-12)


def test_parameter_groups_have_their_own_learning_rate():
    class Scaled(zk.Layer):
        def __init__(self):
            super().__init__()
            self.params["w"] = np.ones(2)
            self.params["n"] = np.ones(2)
            self.param_options = {"n": {"lr": 0.01}}

        def forward(self, x, state=None):
            return x * self.params["w"] * self.params["n"]

        def vjp_x(self, x, y, gy, state=None):
            return gy * self.params["w"] * self.params["n"]

        def vjp_params(self, x, y, gy, state=None, out=None):
            return {"w": (gy * x * self.params["n"]).sum(0),
                    "n": (gy * x * self.params["w"]).sum(0)}

    layer = Scaled()
    m = zk.GradLearner(layer, zk.SGD(lr=1.0))
    st = State()
    x = np.ones((1, 2))
    m.forward(x, st)
    m.accumulate(x, x * 0, st)  # gy = y - 0 = 1
    m.step(x, None, st)
    np.testing.assert_allclose(layer.params["w"], 0.0)
    np.testing.assert_allclose(layer.params["n"], 0.99)
    # learner-level override wins over the layer's option
    layer2 = Scaled()
    m2 = zk.GradLearner(layer2, zk.SGD(lr=1.0), param_options={"n": {"lr": 0.5}})
    m2.forward(x, st)
    m2.accumulate(x, x * 0, st)
    m2.step(x, None, st)
    np.testing.assert_allclose(layer2.params["n"], 0.5)


def test_unbound_optimizer_template_is_not_shared():
    tmpl = zk.SGD(lr=0.1, momentum=0.9)
    a = zk.GradLearner(zk.Linear(2, 2, rng=0), tmpl)
    b = zk.GradLearner(zk.Linear(2, 2, rng=1), tmpl)
    assert a.optimizer is not b.optimizer and not tmpl.bound
    assert a.optimizer.defaults == b.optimizer.defaults


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved_end_to_end(dtype):
    net = make_mlp(dtype=dtype)
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(dtype)
    st = State()
    y = net.forward(x, st)
    assert y.dtype == dtype
    net.learn(x, np.array([0, 1, 2, 0]), zk.CrossEntropyLoss())
    for m in net.machines:
        for p in m.parameters().values():
            assert p.dtype == dtype
        for g in getattr(m, "grads", {}).values():
            assert g.dtype == dtype


def test_graph_with_skip_equals_backprop_of_the_sum():
    rng = np.random.default_rng(11)
    l1 = zk.Linear(3, 4, rng=1)
    l2 = zk.Linear(4, 4, rng=2)
    l3 = zk.Linear(8, 2, rng=3)
    g = zk.Graph()
    g.add("h", zk.GradLearner(l1, zk.SGD(lr=0.0)))
    g.add("a", zk.GradLearner(zk.Tanh()), inputs="h")
    g.add("b", zk.GradLearner(l2, zk.SGD(lr=0.0)), inputs="a")
    g.add("s", zk.GradLearner(zk.Identity()), inputs=["a", "b"], combine="sum")
    g.add("out", zk.GradLearner(l3, zk.SGD(lr=0.0)), inputs=["s", "h"], combine="concat")
    x = rng.standard_normal((5, 3))
    t = rng.standard_normal((5, 2))
    st = State()
    y = g.forward(x, st)
    # hand-written forward/backward
    h = x @ l1.W + l1.b
    a = np.tanh(h)
    b = a @ l2.W + l2.b
    s = a + b
    c = np.concatenate([s, h], 1)
    np.testing.assert_allclose(y, c @ l3.W + l3.b, rtol=1e-12)
    gy = y - t
    gc = gy @ l3.W.T
    gs, gh = gc[:, :4], gc[:, 4:].copy()
    ga = gs + gs @ l2.W.T
    gh += ga * (1 - a ** 2)
    gx = gh @ l1.W.T
    g.accumulate(x, t, st)
    np.testing.assert_allclose(g.nodes["out"][0].grads["W"], c.T @ gy, rtol=1e-10)
    np.testing.assert_allclose(g.nodes["b"][0].grads["W"], a.T @ gs, rtol=1e-10)
    np.testing.assert_allclose(g.nodes["h"][0].grads["W"], x.T @ gh, rtol=1e-10)
    np.testing.assert_allclose(g.step_x(x, t, st), x - gx, rtol=1e-10)


def test_x_lr_does_not_modify_the_incoming_gradient():
    m = zk.GradLearner(zk.Identity(), x_lr=0.5)
    x = np.zeros((2, 3))
    st = State()
    m.forward(x, st)
    gy = np.ones((2, 3))
    np.testing.assert_array_equal(m.grad_x(x, gy, st), 0.5)
    np.testing.assert_array_equal(gy, 1.0)


def test_single_machine_learn_equals_one_sgd_step():
    rng = np.random.default_rng(12)
    lin = zk.Linear(3, 2, rng=0)
    m = zk.GradLearner(lin, zk.SGD(lr=0.1))
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    W0 = lin.W.copy()
    v = m.learn(x, t, zk.MSELoss())
    y0 = x @ W0
    np.testing.assert_allclose(v, 0.5 * ((y0 - t) ** 2).sum() / 4, rtol=1e-12)
    np.testing.assert_allclose(lin.W, W0 - 0.1 * x.T @ ((y0 - t) / 4), rtol=1e-12)


class Recorder(zk.LearningMachine):
    """Identity machine that logs the order of its learning calls."""

    def __init__(self, log, name, lmode):
        super().__init__(lmode)
        self.log, self.name = log, name

    def forward(self, x, state=None):
        if state is not None:
            state.y = x
        return x

    def accumulate(self, x, t, state):
        self.log.append((self.name, "accumulate"))

    def step(self, x, t, state):
        self.log.append((self.name, "step"))

    def step_x(self, x, t, state):
        self.log.append((self.name, "step_x"))
        return t


@pytest.mark.parametrize("lmode,order", [
    (zk.LMode.DEFAULT, ["accumulate", "step_x", "step"]),
    (zk.LMode.STEP_PRIORITY, ["accumulate", "step", "step_x"]),
])
def test_learning_modes_order_the_calls(lmode, order):
    log = []
    net = zk.Sequential(Recorder(log, "a", lmode), Recorder(log, "b", lmode))
    x = np.zeros((2, 3))
    st = State()
    net.forward(x, st)
    net.accumulate(x, x + 1, st)
    assert log == [("b", o) for o in order] + [("a", o) for o in order]
    net.step(x, x + 1, st)
    assert len(log) == 6


def test_deferred_mode_steps_after_the_whole_walk():
    log = []
    net = zk.Sequential(Recorder(log, "a", zk.LMode.DEFERRED),
                        Recorder(log, "b", zk.LMode.DEFERRED))
    x = np.zeros((2, 3))
    net.learn(x, x + 1)
    # learn() needs no input target from the first machine
    assert log == [("b", "accumulate"), ("b", "step_x"), ("a", "accumulate"),
                   ("b", "step"), ("a", "step")]


@pytest.mark.parametrize("layer", smooth_layers() + [zk.Sign(), zk.Step(), zk.ArgmaxSTE()],
                         ids=lambda l: type(l).__name__)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_keep_the_dtype(layer, dtype):
    x = np.linspace(-2, 2, 12, dtype=dtype).reshape(3, 4)
    y = layer.forward(x)
    assert y.dtype == dtype
    assert layer.vjp_x(x, y, np.ones_like(y)).dtype == dtype


def test_linear_accepts_ndarray_subclasses(tmp_path):
    lin = zk.Linear(3, 2, rng=0)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float64,
                                   shape=(4, 3))
    mm[:] = 1.0
    np.testing.assert_array_equal(lin.forward(mm), lin.forward(np.ones((4, 3))))


def test_nested_sequential_is_bit_identical_to_the_flat_one():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((6, 5))
    labels = rng.integers(0, 3, 6)
    flat = make_mlp(keep_grads=False)
    nested_src = make_mlp(keep_grads=False)
    ms = nested_src.machines
    nested = zk.Sequential(zk.Sequential(*ms[:2]), zk.Sequential(*ms[2:4]), ms[4])
    for _ in range(3):
        flat.learn(x, labels, zk.CrossEntropyLoss())
        nested.learn(x, labels, zk.CrossEntropyLoss())
    for (k, a), (_, b) in zip(flat.parameters().items(), nested_src.parameters().items()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    # and the input target of a nested container is x - dL/dx
    st = State()
    y = nested.forward(x, st)
    g = zk.CrossEntropyLoss().grad(y, labels)
    st2 = State()
    flat.forward(x, st2)
    nested.accumulate(x, y - g, st)
    flat.accumulate(x, y - g, st2)
    np.testing.assert_allclose(nested.step_x(x, y - g, st), flat.step_x(x, y - g, st2),
                               rtol=1e-12)

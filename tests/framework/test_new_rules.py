"""Kolen-Pollack, sign symmetry, DRTP, FA/DFA on Conv2d, composition, save/load."""
import numpy as np
import pytest

import zenkai_np as zk
from zenkai_np.framework.state import State


def conv_pair(make, seed=0):
    """Two identical small conv nets built by ``make(layer, opt)`` for conv/linear layers."""
    def build():
        G = zk.GradLearner
        c = zk.Conv2d(2, 3, 3, padding=1, rng=seed)
        f = zk.Linear(3 * 2 * 2, 4, rng=seed + 1)
        return zk.Sequential(G(zk.Unflatten((2, 6, 6))), G(zk.Conv2d(2, 2, 3, stride=1,
                                                                      rng=seed + 2)),
                             G(zk.Tanh()), make(c), G(zk.Tanh()), G(zk.MaxPool2d(2)),
                             G(zk.Flatten()), make(f))
    return build


def _data(n=5, d=72, k=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, k, n)


def test_fa_with_B_equal_W_on_conv_is_backprop_exactly():
    x, y = _data()
    bp = conv_pair(lambda l: zk.GradLearner(l, zk.SGD(lr=0.1)))()
    fa = conv_pair(lambda l: zk.FALearner(l, zk.SGD(lr=0.1), B=l.W.copy()))()
    loss = zk.CrossEntropyLoss()
    bp.learn(x, y, loss)
    fa.learn(x, y, loss)
    for (k, a), (k2, b) in zip(bp.parameters().items(), fa.parameters().items()):
        assert k == k2
        np.testing.assert_array_equal(a, b)


def test_fa_conv_input_target_uses_B_kernels():
    layer = zk.Conv2d(2, 3, 3, padding=1, rng=0)
    B = np.random.default_rng(1).standard_normal(layer.W.shape)
    m = zk.FALearner(layer, B=B)
    x = np.random.default_rng(2).standard_normal((2, 2, 5, 5))
    s = State()
    y = m.forward(x, s)
    gy = np.random.default_rng(3).standard_normal(y.shape)
    ref = zk.Conv2d(2, 3, 3, padding=1, bias=False)
    ref.params["W"][...] = B
    # the FA input gradient is the true VJP of a convolution whose kernels are B
    np.testing.assert_allclose(m.grad_x(x, gy, s), ref.vjp_x(x, ref.forward(x), gy),
                               rtol=1e-13)


def test_kp_B_tracks_W_exactly():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 5)), rng.integers(0, 3, 16)
    decay = 0.05
    kp = zk.KPLearner(zk.Linear(8, 3, rng=2), zk.Adam(lr=1e-2), decay=decay, rng=3)
    net = zk.Sequential(zk.GradLearner(zk.Linear(5, 8, rng=1), zk.Adam(lr=1e-2)),
                        zk.GradLearner(zk.Tanh()), kp)
    d0 = kp.B - kp.layer.W
    for k in range(1, 21):
        net.learn(x, y, zk.CrossEntropyLoss())
        np.testing.assert_allclose(kp.B - kp.layer.W, (1 - decay) ** k * d0,
                                   rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="decay"):
        zk.KPLearner(zk.Linear(2, 2), decay=1.0)


def test_kp_without_decay_on_conv_keeps_B_minus_W_fixed():
    x, y = _data()
    net = conv_pair(lambda l: zk.KPLearner(l, zk.SGD(lr=0.1), decay=0.0, rng=5))()
    kps = [m for m in net.machines if isinstance(m, zk.KPLearner)]
    d0 = [m.B - m.layer.W for m in kps]
    for _ in range(3):
        net.learn(x, y, zk.CrossEntropyLoss())
    for m, d in zip(kps, d0):
        np.testing.assert_allclose(m.B - m.layer.W, d, atol=1e-12)
        assert not np.allclose(m.layer.W, m.B)


@pytest.mark.parametrize("layer", [zk.Linear(4, 3, rng=0), zk.Conv2d(2, 3, 3, rng=0)])
def test_sign_symmetry_definitions(layer):
    W = layer.W
    fi = W.shape[0] if W.ndim == 2 else W.shape[1] * 9
    fo = W.shape[1] if W.ndim == 2 else W.shape[0] * 9
    usf = zk.SignSymmetryLearner(layer, mode="usf")
    np.testing.assert_array_equal(usf.feedback_weights(), np.sign(W) * np.sqrt(2 / (fi + fo)))
    fr = zk.SignSymmetryLearner(layer, mode="frsf", rng=1)
    R = fr.B.copy()
    assert (R >= 0).all()
    np.testing.assert_array_equal(fr.feedback_weights(), R * np.sign(W))
    W[...] *= -1                         # B follows W's current signs
    np.testing.assert_array_equal(fr.feedback_weights(), R * np.sign(W))
    br = zk.SignSymmetryLearner(layer, mode="brsf", rng=2)
    b1, b2 = br.feedback_weights(), br.feedback_weights()
    assert not np.array_equal(b1, b2)        # redrawn magnitudes
    np.testing.assert_array_equal(np.sign(b1), np.sign(W))
    np.testing.assert_array_equal(np.sign(b2), np.sign(W))
    with pytest.raises(ValueError, match="mode"):
        zk.SignSymmetryLearner(layer, mode="nope")


def _direct_net(cls, x_feedback="W"):
    G = zk.GradLearner
    return zk.Sequential(
        G(zk.Linear(5, 6, rng=0), zk.SGD(lr=0.1)), G(zk.Tanh()),
        cls(zk.Linear(6, 7, rng=1), zk.Tanh(), n_error=3, optimizer=zk.SGD(lr=0.1), rng=2,
            x_feedback=x_feedback),
        G(zk.Linear(7, 3, rng=3), zk.SGD(lr=0.1)))


def test_drtp_projects_the_one_hot_target():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 5)), rng.integers(0, 3, 8)
    net = _direct_net(zk.DRTPLearner)
    m = net.machines[2]
    h0 = net.machines[1].forward(net.machines[0].forward(x))
    a = m.layer.forward(h0)
    W0 = m.layer.W.copy()
    net.learn(x, y, zk.CrossEntropyLoss())
    onehot = np.eye(3)[y]
    da = (-onehot @ m.B) * (1 - np.tanh(a) ** 2)
    np.testing.assert_allclose(W0 - m.layer.W, 0.1 * h0.T @ da, rtol=1e-10, atol=1e-14)
    # without a loss the output target is the one-hot target itself
    net2 = _direct_net(zk.DRTPLearner)
    m2 = net2.machines[2]
    net2.learn(x, onehot)
    np.testing.assert_allclose(W0 - m2.layer.W, 0.1 * h0.T @ da, rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="CrossEntropyLoss"):
        _direct_net(zk.DRTPLearner).learn(x, onehot * 0.5 + 0.1, zk.MSELoss())


def test_dfa_x_feedback_through_B_or_W():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 5)), rng.integers(0, 3, 8)
    for choice in ("W", "B"):
        net = _direct_net(zk.DFALearner, choice)
        m = net.machines[2]
        s = State()
        net.forward(x, s)
        sub = s._subs[2]
        # run the walk and read the input target DFA handed to the tanh below
        net.accumulate(x, net.forward(x, s) - zk.CrossEntropyLoss().grad(s.y, y), s)
        M = m.layer.W if choice == "W" else m.B_x
        assert M.shape == m.layer.W.shape
        np.testing.assert_allclose(sub._da @ M.T, m.grad_x(s._xs[2], None, sub), rtol=1e-12)
        if choice == "B":
            assert not np.allclose(m.B_x, m.layer.W)
    with pytest.raises(ValueError, match="x_feedback"):
        _direct_net(zk.DFALearner, "T")


def test_fa_then_dfa_composition_trains():
    """Layer 1 by FA (= backprop there), layer 2 by DFA (input target through B)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 4))
    y = (x[:, 0] * x[:, 1] > 0).astype(int)
    net = zk.Sequential(
        zk.FALearner(zk.Linear(4, 32, rng=0), zk.Adam(lr=1e-2), rng=1), zk.GradLearner(zk.Tanh()),
        zk.DFALearner(zk.Linear(32, 32, rng=2), zk.Tanh(), n_error=2, optimizer=zk.Adam(lr=1e-2),
                      rng=3, x_feedback="B"),
        zk.GradLearner(zk.Linear(32, 2, rng=4), zk.Adam(lr=1e-2)))
    h = zk.fit(net, x, y, loss=zk.CrossEntropyLoss(), epochs=60, batch_size=32, rng=0)
    assert h.loss[-1] < 0.5 * h.loss[0]


def _first_layer_net(first, second=None, seed=0):
    """conv (``first``) -> tanh -> pool -> flatten -> linear (``second``) -> 3 classes."""
    G = zk.GradLearner
    second = second or (lambda l: G(l, zk.SGD(lr=0.1)))
    return zk.Sequential(
        G(zk.Unflatten((2, 6, 6))), first(zk.Conv2d(2, 3, 3, padding=1, rng=seed)),
        G(zk.Tanh()), G(zk.MaxPool2d(2)), G(zk.Flatten()),
        second(zk.Linear(27, 3, rng=seed + 1)))


FEEDBACK_RULES = [
    lambda l: zk.FALearner(l, zk.SGD(lr=0.1), rng=7),
    lambda l: zk.KPLearner(l, zk.SGD(lr=0.1), decay=0.0, rng=7),
    lambda l: zk.SignSymmetryLearner(l, zk.SGD(lr=0.1), mode="usf"),
    lambda l: zk.SignSymmetryLearner(l, zk.SGD(lr=0.1), mode="frsf", rng=7)]


@pytest.mark.parametrize("make", FEEDBACK_RULES)
def test_feedback_rule_on_the_first_layer_is_backprop(make):
    """Point 6: FA-type rules act only through the input target, so on the first
    parameterised layer they give exactly backprop's update; one layer higher
    (with a layer below to receive the target) the same rule differs."""
    x, y = _data(n=6, d=72, k=3)
    loss = zk.CrossEntropyLoss()
    bp = _first_layer_net(lambda l: zk.GradLearner(l, zk.SGD(lr=0.1)))
    first = _first_layer_net(make)
    bp.learn(x, y, loss)
    first.learn(x, y, loss)
    for (k, a), (k2, b) in zip(bp.parameters().items(), first.parameters().items()):
        assert k == k2
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)
    # the control: the rule on the readout sends a B-made target to the conv layer
    second = _first_layer_net(lambda l: zk.GradLearner(l, zk.SGD(lr=0.1)), make)
    second.learn(x, y, loss)
    W_bp, W_2 = bp.machines[1].layer.W, second.machines[1].layer.W
    assert not np.allclose(W_2, W_bp, rtol=1e-6, atol=1e-9)


def test_fa_below_dfa_gets_the_exact_gradient_of_what_dfa_sends():
    """"Layer 1 by FA, layer 2 by DFA": layer 1 (first layer, so FA = backprop there)
    learns exactly as a GradLearner would from the target the DFA block hands down."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 4)), rng.integers(0, 2, 16)

    def build(first):
        return zk.Sequential(
            first(zk.Linear(4, 8, rng=0)), zk.GradLearner(zk.Tanh()),
            zk.DFALearner(zk.Linear(8, 8, rng=2), zk.Tanh(), n_error=2,
                          optimizer=zk.SGD(lr=0.1), rng=3, x_feedback="B"),
            zk.GradLearner(zk.Linear(8, 2, rng=4), zk.SGD(lr=0.1)))
    fa = build(lambda l: zk.FALearner(l, zk.SGD(lr=0.1), rng=1))
    bp = build(lambda l: zk.GradLearner(l, zk.SGD(lr=0.1)))
    W0 = fa.machines[0].layer.W.copy()
    fa.learn(x, y, zk.CrossEntropyLoss())
    bp.learn(x, y, zk.CrossEntropyLoss())
    np.testing.assert_allclose(fa.machines[0].layer.W, bp.machines[0].layer.W,
                               rtol=1e-12, atol=1e-15)
    assert not np.array_equal(fa.machines[0].layer.W, W0)        # it did learn


def test_dfa_and_drtp_on_conv():
    x, y = _data()
    for cls in (zk.DFALearner, zk.DRTPLearner):
        G = zk.GradLearner
        m = cls(zk.Conv2d(2, 3, 3, padding=1, rng=0), zk.ReLU(), n_error=4,
                optimizer=zk.SGD(lr=0.1), input_shape=(2, 6, 6), rng=1)
        assert m.B.shape == (4, 3 * 6 * 6)
        net = zk.Sequential(G(zk.Unflatten((2, 6, 6))), m, G(zk.Flatten()),
                            G(zk.Linear(108, 4, rng=2), zk.SGD(lr=0.1)))
        W0 = m.layer.W.copy()
        s = State()
        net.forward(x, s)
        e = zk.CrossEntropyLoss().grad(s.y, y)
        sig = e if cls is zk.DFALearner else -np.eye(4)[y]
        sub = s._subs[1]
        da = (sig @ m.B).reshape(sub.a.shape) * (sub.a > 0)
        gW = m.layer.vjp_params(s._xs[1], sub.a, da)["W"]
        net.learn(x, y, zk.CrossEntropyLoss())
        np.testing.assert_allclose(W0 - m.layer.W, 0.1 * gW, rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="input_shape"):
        zk.DFALearner(zk.Conv2d(2, 3, 3), n_error=4)
    with pytest.raises(ValueError, match="channels"):
        zk.DFALearner(zk.Conv2d(2, 3, 3), n_error=4, input_shape=(3, 6, 6))
    m = cls(zk.Conv2d(2, 3, 3, padding=1, rng=0), zk.ReLU(), n_error=4,
            input_shape=(2, 6, 6), rng=1)
    with pytest.raises(ValueError, match=r"input_shape=\(2, 6, 6\).*\(2, 7, 7\)"):
        m.forward(np.zeros((1, 2, 7, 7)))   # found at once, not at the first backward pass


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [
    lambda l: zk.KPLearner(l, zk.Adam(lr=1e-2), rng=1),
    lambda l: zk.SignSymmetryLearner(l, zk.Adam(lr=1e-2), mode="usf"),
    lambda l: zk.SignSymmetryLearner(l, zk.Adam(lr=1e-2), mode="frsf", rng=1),
    lambda l: zk.SignSymmetryLearner(l, zk.Adam(lr=1e-2), mode="brsf", rng=1),
    lambda l: zk.FALearner(l, zk.Adam(lr=1e-2), rng=1)])
def test_save_load_round_trip(tmp_path, make, dtype):
    def build():
        G = zk.GradLearner
        return zk.Sequential(G(zk.Unflatten((1, 4, 4))),
                             make(zk.Conv2d(1, 2, 3, padding=1, dtype=dtype, rng=0)),
                             G(zk.ReLU()), G(zk.Flatten()),
                             make(zk.Linear(32, 3, dtype=dtype, rng=1)))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((10, 16)).astype(dtype), rng.integers(0, 3, 10)
    a, b = build(), build()
    for _ in range(3):
        a.learn(x, y, zk.CrossEntropyLoss())
    zk.save(a, tmp_path / "m.npz")
    zk.load(b, tmp_path / "m.npz")
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    for m1, m2 in zip(a.machines, b.machines):
        if hasattr(m1, "B") and getattr(m1, "mode", "") != "brsf":
            np.testing.assert_array_equal(m1.feedback_weights(), m2.feedback_weights())
    a.learn(x, y, zk.CrossEntropyLoss())         # optimizer state restored too
    b.learn(x, y, zk.CrossEntropyLoss())
    if all(getattr(m, "mode", "") != "brsf" for m in a.machines):
        np.testing.assert_array_equal(a.predict(x), b.predict(x))


def test_save_load_drtp_and_dfa_with_B_x(tmp_path):
    a, b = _direct_net(zk.DRTPLearner, "B"), _direct_net(zk.DRTPLearner, "B")
    b.machines[2].B_x[...] = 0
    b.machines[2].B[...] = 0
    zk.save(a, tmp_path / "d.npz")
    zk.load(b, tmp_path / "d.npz")
    np.testing.assert_array_equal(a.machines[2].B_x, b.machines[2].B_x)
    np.testing.assert_array_equal(a.machines[2].B, b.machines[2].B)


@pytest.mark.parametrize("arch", ["conv", "mlp"])
def test_conv_rules_demo_wires_drtp_tanh_and_the_relu_variant(arch):
    """The tour's drtp uses the DRTP authors' tanh hidden units; drtp-relu is ReLU;
    kp's learners carry the demo's decay."""
    from zenkai_np.demo import conv_rules as cr
    build = cr.build_conv if arch == "conv" else cr.build_mlp
    for rule, act in (("drtp", zk.Tanh), ("drtp-relu", zk.ReLU)):
        hidden = [m for m in build(rule, np.float64, 0).machines
                  if isinstance(m, zk.DRTPLearner)]
        assert len(hidden) == (3 if arch == "conv" else 2)
        assert all(type(m.activation) is act for m in hidden)
    kp = [m for m in build("kp", np.float64, 0).machines if isinstance(m, zk.KPLearner)]
    assert kp and all(m.decay == cr.KP_DECAY for m in kp)

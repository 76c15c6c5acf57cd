"""alignment(): update-gradient angles against an independent backprop, shadow walk is inert."""
import copy

import numpy as np
import pytest

import zenkai_np as zk


def _mlp(make, seed=0, dtype=np.float64):
    return zk.Sequential(make(zk.Linear(5, 7, rng=seed, dtype=dtype)), zk.GradLearner(zk.Tanh()),
                         make(zk.Linear(7, 6, rng=seed + 1, dtype=dtype)),
                         zk.GradLearner(zk.Tanh()),
                         make(zk.Linear(6, 3, rng=seed + 2, dtype=dtype)))


def _data(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 5)), rng.integers(0, 3, n)


def _angle(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))


def test_angle_between_reference_values():
    assert zk.angle_between([1, 0], [0, 2]) == pytest.approx(90)
    assert zk.angle_between([1, 1], [2, 2]) == pytest.approx(0, abs=1e-5)
    assert zk.angle_between([1, 0], [-1, 0]) == pytest.approx(180)
    assert np.isnan(zk.angle_between([0, 0], [1, 0]))
    assert np.isnan(zk.angle_between([np.nan, 1], [1, 0]))
    assert np.isnan(zk.angle_between([np.inf, 1], [1, 0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradlearner_angle_zero_and_norm_ratio_one(dtype):
    x, y = _data()
    net = _mlp(lambda l: zk.GradLearner(l, zk.Adam(lr=1e-2)), dtype=dtype)
    rows = zk.alignment(net, x.astype(dtype), y, loss=zk.CrossEntropyLoss())
    assert [r["layer"] for r in rows] == ["0", "2", "4"]
    tol = 1e-2 if dtype == np.float32 else 1e-5
    for r in rows:
        assert r["angle"] == pytest.approx(0, abs=tol)
        assert r["norm_ratio"] == pytest.approx(1, rel=1e-5)
        assert np.isnan(r["fb_angle"])


def test_fa_with_B_equal_W_angle_zero():
    x, y = _data()
    net = _mlp(lambda l: zk.FALearner(l, zk.SGD(lr=0.1), B=l.W.copy()))
    for r in zk.alignment(net, x, y, loss=zk.CrossEntropyLoss()):
        assert r["angle"] == pytest.approx(0, abs=1e-5)
        assert r["fb_angle"] == pytest.approx(0, abs=1e-5)
        assert r["fb_norm_ratio"] == pytest.approx(1)


def test_hand_computed_two_layer_fa():
    """y = tanh(x W1) W2, MSE (sum): FA's W1 update uses e B2^T, the truth e W2^T."""
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    B2 = rng.standard_normal((4, 2))
    l1 = zk.Linear(3, 4, bias=False, rng=0)
    l2 = zk.Linear(4, 2, bias=False, rng=1)
    W1, W2 = l1.W.copy(), l2.W.copy()
    net = zk.Sequential(zk.GradLearner(l1, zk.SGD(lr=0.1)), zk.GradLearner(zk.Tanh()),
                        zk.FALearner(l2, zk.SGD(lr=0.1), B=B2))
    h = np.tanh(x @ W1)
    e = h @ W2 - t
    true1 = x.T @ ((e @ W2.T) * (1 - h ** 2))
    fa1 = x.T @ ((e @ B2.T) * (1 - h ** 2))
    rows = zk.alignment(net, x, t, loss=zk.MSELoss(reduction="sum"))
    assert rows[0]["angle"] == pytest.approx(_angle(fa1, true1), abs=1e-8)
    assert rows[0]["norm_ratio"] == pytest.approx(np.linalg.norm(fa1) / np.linalg.norm(true1))
    assert rows[1]["angle"] == pytest.approx(0, abs=1e-6)
    assert rows[1]["fb_angle"] == pytest.approx(_angle(W2, B2), abs=1e-8)
    assert "first layer" not in rows[1]["note"]


def test_fa_first_layer_is_flagged():
    x, y = _data()
    net = _mlp(lambda l: zk.FALearner(l, zk.SGD(lr=0.1), rng=4))
    rows = zk.alignment(net, x, y, loss=zk.CrossEntropyLoss())
    assert "first layer" in rows[0]["note"]
    assert rows[-1]["angle"] == pytest.approx(0, abs=1e-5)      # readout: exact
    assert rows[0]["angle"] > 1                                  # below FA layers: not


def _snapshot(net):
    return {k: v.copy() for k, v in net.state_dict().items()}


@pytest.mark.parametrize("make", [
    lambda l: zk.GradLearner(l, zk.Adam(lr=1e-2)),
    lambda l: zk.KPLearner(l, zk.Adam(lr=1e-2), rng=1),
    lambda l: zk.SignSymmetryLearner(l, zk.SGD(lr=0.1, momentum=0.9), mode="brsf", rng=1),
    lambda l: zk.ESLearner(l, zk.Adam(lr=1e-2), rng=1)])
def test_shadow_walk_changes_nothing_bitwise(make):
    x, y = _data()
    net = _mlp(make)
    net.learn(x, y, zk.CrossEntropyLoss())        # non-trivial optimizer state
    before = _snapshot(net)
    rngs = [copy.deepcopy(m.rng.bit_generator.state) for m in net.machines
            if hasattr(m, "rng")]
    rows = zk.alignment(net, x, y, loss=zk.CrossEntropyLoss())
    assert len(rows) == 3
    after = _snapshot(net)
    assert before.keys() == after.keys()
    for k in before:
        assert before[k].tobytes() == after[k].tobytes(), k
    assert rngs == [m.rng.bit_generator.state for m in net.machines if hasattr(m, "rng")]


def test_alignment_callback_records_history_and_fa_aligns():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 5))
    y = (x[:, 0] + x[:, 1] ** 2 > 1).astype(int)
    net = zk.Sequential(zk.FALearner(zk.Linear(5, 32, rng=0), zk.SGD(lr=0.05), rng=1),
                        zk.GradLearner(zk.Tanh()),
                        zk.FALearner(zk.Linear(32, 32, rng=2), zk.SGD(lr=0.05), rng=3),
                        zk.GradLearner(zk.Tanh()),
                        zk.FALearner(zk.Linear(32, 2, rng=4), zk.SGD(lr=0.05), rng=5))
    cb = zk.AlignmentCallback(x, y, loss=zk.CrossEntropyLoss(), every=2)
    seen = []
    h = zk.fit(net, x, y, loss=zk.CrossEntropyLoss(), epochs=20, batch_size=32, rng=0,
               callback=[cb, lambda e, hist, m: seen.append(e)])
    assert seen == list(range(20))
    assert len(cb.rows) == 20 and cb.rows[0] is None and cb.rows[1] is not None
    assert len(h.metrics["angle/2"]) == 10 and len(h.metrics["fb_angle/4"]) == 10
    # FA's textbook behaviour: the last hidden layer's update aligns (< 90 deg)
    assert h.metrics["angle/2"][-1] < 90


def test_alignment_bad_input():
    x, y = _data()
    net = _mlp(lambda l: zk.GradLearner(l))
    with pytest.raises(TypeError, match="loss"):
        zk.alignment(net, x, y, loss=None)
    with pytest.raises(TypeError, match="net"):
        zk.alignment("net", x, y, loss=zk.CrossEntropyLoss())
    g = zk.Graph().add("h", zk.GradLearner(zk.Linear(5, 3)))
    with pytest.raises(TypeError, match="Sequential"):
        zk.alignment(g, x, y, loss=zk.CrossEntropyLoss())
    with pytest.raises(ValueError, match="every"):
        zk.AlignmentCallback(x, y, loss=zk.CrossEntropyLoss(), every=0)

"""The "new layer / new learner in a few lines" recipes of machine.py work as written."""
import numpy as np

import zenkai_np as zk
from zenkai_np import GradLearner, LearningMachine, Layer, Linear, Sequential, Tanh

from test_framework_core import fd_param, fd_vjp_x


class Scale(Layer):
    """y = x * s, with a learnable per-unit scale s."""

    def __init__(self, n, dtype=np.float64):
        super().__init__()
        self.n_in = self.n_out = n
        self.params["s"] = np.ones(n, dtype)

    def forward(self, x, state=None):
        return x * self.params["s"]

    def vjp_x(self, x, y, gy, state=None):
        return gy * self.params["s"]

    def vjp_params(self, x, y, gy, state=None, out=None):
        return {"s": (gy * x).sum(axis=0)}


class DeltaRule(LearningMachine):
    """Widrow-Hoff on a Linear layer; input target through W^T."""

    def __init__(self, layer, lr=0.01):
        super().__init__()
        self.layer, self.lr = layer, lr
        self.n_in, self.n_out = layer.n_in, layer.n_out

    def forward(self, x, state=None):
        y = self.layer.forward(x)
        if state is not None:
            state.y = y
        return y

    def accumulate(self, x, t, state):
        state.dW = x.T @ (t - state.y)

    def step(self, x, t, state):
        self.layer.params["W"] += self.lr * state.dW

    def step_x(self, x, t, state):
        return x + (t - state.y) @ self.layer.W.T


class TransposeFA(GradLearner):
    """A 'new rule' in two lines: feed back through sign(W)^T."""

    def grad_x(self, x, gy, state):
        return (gy @ np.sign(self.layer.W).T) * self.x_lr


def test_new_layer_vjps_and_training():
    rng = np.random.default_rng(0)
    sc = Scale(3)
    sc.params["s"][:] = rng.standard_normal(3)
    x = rng.standard_normal((4, 3))
    y = sc.forward(x)
    gy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(sc.vjp_x(x, y, gy), fd_vjp_x(sc.forward, x, gy), rtol=1e-6)
    np.testing.assert_allclose(sc.vjp_params(x, y, gy)["s"], fd_param(sc, "s", x, gy),
                               rtol=1e-6)


def test_new_learners_compose_with_built_in_ones(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 4))
    labels = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)
    def make(seed):
        return Sequential(TransposeFA(Linear(4, 8, rng=seed), zk.SGD(lr=0.2, momentum=0.9)),
                          GradLearner(Tanh()), GradLearner(Scale(8), zk.SGD(lr=0.2)),
                          DeltaRule(Linear(8, 3, rng=seed + 1), lr=1.0))

    net = make(0)
    h = zk.fit(net, x, labels, loss=zk.CrossEntropyLoss(), epochs=30, rng=0,
               metrics="accuracy")
    assert h.metrics["accuracy"][-1] > 0.9
    # save/load come for free through self.layer
    p = zk.save(net, tmp_path / "ext.npz")
    net2 = make(5)
    zk.load(net2, p)
    np.testing.assert_array_equal(net2.predict(x), net.predict(x))


def test_delta_rule_update_and_input_target():
    rng = np.random.default_rng(2)
    lin = Linear(3, 2, rng=0)
    m = DeltaRule(lin, lr=0.1)
    x, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    W0 = lin.W.copy()
    st = zk.State()
    y = m.forward(x, st)
    m.accumulate(x, t, st)
    xt = m.step_x(x, t, st)
    m.step(x, t, st)
    np.testing.assert_allclose(lin.W, W0 + 0.1 * x.T @ (t - y))
    np.testing.assert_allclose(xt, x + (t - y) @ W0.T)

"""FracExp / FracExpLinear layers: values against the kernels, VJPs against
finite differences (Abel and Schröder), product units, domain handling,
per-parameter learning rates and training under learners of the framework."""
import numpy as np
import pytest

import zenkai_np
from zenkai_np import GradLearner, Sequential, State
from zenkai_np.fractional import fracexp_schroeder
from zenkai_np.fractional.layers import FRACEXP_VARIANTS, FracExp, FracExpLinear
from zenkai_np.framework.optim import SGD, Adam

from finite_differences import central_differences


def loss_and_grads(layer, x, w):
    """L = sum(w * y); analytic dL/dx and dL/dparams from the layer's VJPs."""
    st = State()
    y = layer.forward(x, st)
    gy = w.astype(y.dtype)
    return float((w * y).sum()), layer.vjp_x(x, y, gy, st), layer.vjp_params(x, y, gy, st)


def fd_check(layer, x, w, h=1e-6, tol=1e-5):
    _, gx, gp = loss_and_grads(layer, x, w)
    def f():
        return float((w * layer.forward(x)).sum())

    for name, p, analytic in [("x", x, gx)] + [(k, v, gp[k]) for k, v in layer.params.items()]:
        fd = central_differences(f, p, h)
        bad = np.abs(fd - analytic) > tol * np.maximum(1.0, np.abs(fd))
        assert not bad.any(), (name, np.argwhere(bad)[:3], fd[bad][:3],
                               np.asarray(analytic)[bad][:3])


@pytest.mark.parametrize("variant", sorted(FRACEXP_VARIANTS))
@pytest.mark.parametrize("method", ["abel", "schroeder"])
def test_fracexp_vjp(variant, method):
    rng = np.random.default_rng(11)
    layer = FracExp(4, variant=variant, method=method, n_init=0.3, n_std=0.2, rng=1)
    # positive inputs away from the Abel knots (psi integer) and the Schröder orbit
    x = rng.uniform(1.2, 2.4, (5, 4))
    x[x > 2.5] = 2.4
    w = rng.normal(size=(5, 4))
    fd_check(layer, x, w)


def test_fracexp_values_match_kernels():
    rng = np.random.default_rng(2)
    x = rng.uniform(0.2, 3, (6, 3))
    n = np.array([-0.5, 0.2, 0.9])
    layer = FracExp(3, n_init=n)
    np.testing.assert_array_equal(layer.forward(x), zenkai_np.fracexp(x, n))
    layer = FracExp(3, n_init=n, method="schroeder")
    np.testing.assert_array_equal(layer.forward(x), fracexp_schroeder(x, n).real)
    s = FracExp(3, variant="abel_sigm_abel", n_init=n)
    sig = 1 / (1 + np.exp(-zenkai_np.fracexp(x, n)))
    np.testing.assert_allclose(s.forward(x), zenkai_np.fracexp(sig + 0.05, n), rtol=1e-14)


@pytest.mark.parametrize("method", ["abel", "schroeder"])
@pytest.mark.parametrize("squash", [None, "sigmoid", "softplus"])
def test_fracexp_linear_vjp(method, squash):
    rng = np.random.default_rng(3)
    layer = FracExpLinear(3, 2, method=method, n_in_init=[-0.4, 0.3, 0.6],
                          n_out_init=[0.35, -0.3], input_squash=squash, rng=4, init_scale=0.5)
    layer.params["b"][:] = [1.3, 1.6]
    x = rng.uniform(1.2, 2.3, (4, 3))
    w = rng.normal(size=(4, 2))
    fd_check(layer, x, w, tol=2e-5)


def test_schroeder_linear_follows_the_complex_rule():
    # y = Re exp^(n_out)(W^T exp^(n_in)(x) + b), against a direct complex evaluation
    rng = np.random.default_rng(5)
    layer = FracExpLinear(2, 3, method="schroeder", n_in_init=0.5, n_out_init=-0.4, rng=6)
    x = rng.uniform(0.2, 0.8, (7, 2))
    u = fracexp_schroeder(x, layer.params["n_in"])
    s = u @ layer.params["W"] + layer.params["b"]
    np.testing.assert_allclose(layer.forward(x),
                               fracexp_schroeder(s, layer.params["n_out"]).real, rtol=1e-13)


def test_product_unit():
    # n_in = -1, n_out = 1: e^b prod x^W, for both constructions
    rng = np.random.default_rng(6)
    x = rng.uniform(0.3, 3, (10, 2))
    for method in ("abel", "schroeder"):
        layer = FracExpLinear(2, 1, method=method, n_in_init=-1.0, n_out_init=1.0)
        layer.params["W"][:] = [[1.0], [1.0]]
        layer.params["b"][:] = 0.0
        np.testing.assert_allclose(layer.forward(x)[:, 0], x[:, 0] * x[:, 1], rtol=1e-12)
        layer.params["W"][:] = [[2.0], [-1.0]]
        layer.params["b"][:] = 0.5
        np.testing.assert_allclose(layer.forward(x)[:, 0],
                                   np.exp(0.5) * x[:, 0] ** 2 / x[:, 1], rtol=1e-12)
    # n = 0: a linear layer
    lin = FracExpLinear(2, 1, rng=0)                 # seeded: the same sums every run
    np.testing.assert_allclose(lin.forward(x), x @ lin.params["W"] + lin.params["b"],
                               rtol=1e-14)


def test_domain_clamp_and_nan_mode():
    x = np.array([[-0.5, 0.5, 2.0]])
    layer = FracExp(3, n_init=-1.0)  # log: needs x > 0
    st = State()
    y = layer.forward(x, st)
    assert y[0, 0] == pytest.approx(np.log(1e-6))
    np.testing.assert_allclose(y[0, 1:], np.log([0.5, 2.0]), rtol=1e-14)
    gx = layer.vjp_x(x, y, np.ones_like(y), st)
    gn = layer.vjp_params(x, y, np.ones_like(y), st)["n"]
    assert gx[0, 0] == 0 and gn[0] == 0  # no gradient through the clamp
    assert np.all(np.isfinite(gx)) and np.all(np.isfinite(gn))
    raw = FracExp(3, n_init=-1.0, domain="nan")
    assert np.isnan(raw.forward(x)[0, 0])
    # squashing keeps every input in the domain: no clamp needed
    sq = FracExp(3, variant="sigm_abel", n_init=-1.0, domain="nan")
    assert np.all(np.isfinite(sq.forward(np.array([[-30.0, 0.0, 30.0]]))))
    lin = FracExpLinear(3, 2, n_in_init=-1.0, n_out_init=1.0, input_squash="softplus",
                        domain="nan")
    assert np.all(np.isfinite(lin.forward(np.array([[-5.0, 0.0, 5.0]]))))


def test_n_learning_rate_option_and_training_under_grad_learner():
    layer = FracExpLinear(2, 1, n_in_init=-0.5, n_out_init=0.5, n_lr=0.0, rng=0)
    assert layer.param_options == {"n_in": {"lr": 0.0}, "n_out": {"lr": 0.0}}
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 2, (64, 2))
    t = x[:, :1] * x[:, 1:]
    model = Sequential(GradLearner(layer, SGD(lr=0.01)))
    n0 = (layer.params["n_in"].copy(), layer.params["n_out"].copy())
    w0 = layer.params["W"].copy()
    loss = zenkai_np.MSELoss()
    model.learn(x, t, loss)
    np.testing.assert_array_equal(layer.params["n_in"], n0[0])  # lr 0: frozen
    np.testing.assert_array_equal(layer.params["n_out"], n0[1])
    assert not np.array_equal(layer.params["W"], w0)


@pytest.mark.parametrize("init", [1, 4])
def test_single_unit_discovers_the_product_unit(init):
    # one FracExpLinear unit learns y = x1 x2 from n = 0 (additive) under full-batch
    # Adam and ends at the exact product unit: n_in = -1 (log), n_out = +1 (exp),
    # W = (1, 1), b = 0, i.e. exp(log x1 + log x2). Nothing is initialised at +-1.
    rng = np.random.default_rng(1)
    x = rng.uniform(0.5, 2, (256, 2))
    t = x[:, :1] * x[:, 1:]
    layer = FracExpLinear(2, 1, n_in_init=0.0, n_out_init=0.0, rng=init)
    model = Sequential(GradLearner(layer, Adam(lr=0.02)))
    loss = zenkai_np.MSELoss()
    first = model.learn(x, t, loss)
    for _ in range(2000):
        last = model.learn(x, t, loss)
    assert last < 1e-6 * first
    np.testing.assert_allclose(layer.params["n_in"], [-1.0, -1.0], atol=0.01)
    np.testing.assert_allclose(layer.params["n_out"], [1.0], atol=0.01)
    np.testing.assert_allclose(layer.params["W"][:, 0], [1.0, 1.0], atol=0.01)
    np.testing.assert_allclose(layer.params["b"], [0.0], atol=0.01)
    xt = rng.uniform(0.5, 2, (50, 2))
    np.testing.assert_allclose(layer.forward(xt)[:, 0], xt[:, 0] * xt[:, 1], rtol=1e-3)


@pytest.mark.parametrize("method", ["abel", "schroeder"])
def test_flip_units_is_exact_at_n_out_zero(method):
    # at n_out = 0 a unit is linear: negating (W[:, i], b[i]) and its read-out weight
    # leaves W2 . layer(x) unchanged; reference: the direct formula with numpy
    rng = np.random.default_rng(8)
    layer = FracExpLinear(3, 4, method=method, n_in_init=[-0.6, 0.2, 0.4], rng=3)
    x = rng.uniform(1.2, 2.3, (6, 3))
    w2 = rng.normal(size=4)
    before = layer.forward(x) @ w2
    u = (fracexp_schroeder(x, layer.params["n_in"]).real if method == "schroeder"
         else zenkai_np.fracexp(x, layer.params["n_in"]))
    mask = np.array([True, False, True, False])
    layer.flip_units(mask)
    w2[mask] *= -1
    np.testing.assert_allclose(layer.forward(x) @ w2, before, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.forward(x), u @ layer.params["W"] + layer.params["b"],
                               rtol=1e-12, atol=1e-12)
    layer.params["n_out"][1] = 0.3
    with pytest.raises(ValueError, match="units"):
        layer.flip_units([1])
    layer.flip_units([0])  # unit 0 still has n_out = 0


def test_float32_layers_keep_dtype():
    x = np.random.default_rng(0).uniform(0.5, 2, (4, 3)).astype(np.float32)
    for method in ("abel", "schroeder"):
        lin = FracExpLinear(3, 2, method=method, n_in_init=-0.5, n_out_init=0.5,
                            dtype=np.float32)
        st = State()
        y = lin.forward(x, st)
        assert y.dtype == np.float32
        assert lin.vjp_x(x, y, np.ones_like(y), st).dtype == np.float32
        assert all(g.dtype == np.float32
                   for g in lin.vjp_params(x, y, np.ones_like(y), st).values())
        fe = FracExp(3, variant="sigm_abel", method=method, dtype=np.float32)
        assert fe.forward(x).dtype == np.float32
    with pytest.raises(TypeError, match="dtype"):
        FracExp(3).forward(x)


def test_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        FracExp(3, variant="nope")
    with pytest.raises(ValueError, match="method"):
        FracExpLinear(2, 2, method="nope")
    with pytest.raises(ValueError, match="domain"):
        FracExp(3, domain="wrap")
    with pytest.raises(TypeError, match="units"):
        FracExp(2.5)
    with pytest.raises(ValueError, match="n_in"):
        FracExpLinear(0, 2)
    with pytest.raises(ValueError, match="n_init"):
        FracExp(3, n_init=[1.0, 2.0])
    with pytest.raises(ValueError, match="x"):
        FracExp(3).forward(np.ones((2, 4)))

"""Convolution and pooling layers: forward vs direct loops, VJPs vs finite differences."""
import numpy as np
import pytest
from finite_differences import central_differences

import zenkai_np as zk
from zenkai_np.framework.state import State


def conv_loop(x, W, b, stride, padding):
    """Direct seven-loop cross-correlation (the reference)."""
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    N, C, Hp, Wp = xp.shape
    O, _, kh, kw = W.shape
    Ho, Wo = (Hp - kh) // sh + 1, (Wp - kw) // sw + 1
    y = np.zeros((N, O, Ho, Wo))
    for n in range(N):
        for o in range(O):
            for i in range(Ho):
                for j in range(Wo):
                    acc = 0.0 if b is None else b[o]
                    for c in range(C):
                        for p in range(kh):
                            for q in range(kw):
                                acc += W[o, c, p, q] * xp[n, c, i * sh + p, j * sw + q]
                    y[n, o, i, j] = acc
    return y


CASES = [((2, 3, 7, 6), 4, (3, 2), (2, 1), (1, 2)),
         ((1, 1, 5, 5), 2, 3, 1, 0),
         ((2, 2, 6, 5), 3, (2, 3), (3, 2), (0, 1))]


@pytest.mark.parametrize("shape,cout,k,s,p", CASES)
def test_conv_forward_matches_direct_loop(shape, cout, k, s, p):
    rng = np.random.default_rng(0)
    layer = zk.Conv2d(shape[1], cout, k, stride=s, padding=p, rng=1)
    layer.params["b"][:] = rng.standard_normal(cout)
    x = rng.standard_normal(shape)
    ref = conv_loop(x, layer.W, layer.b, layer.stride, layer.padding)
    np.testing.assert_allclose(layer.forward(x), ref, rtol=1e-12, atol=1e-12)
    assert layer.output_shape(*shape[2:]) == ref.shape[2:]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_keeps_dtype(dtype):
    layer = zk.Conv2d(2, 3, 3, padding=1, dtype=dtype, rng=0)
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5)).astype(dtype)
    s = State()
    y = layer.forward(x, s)
    assert y.dtype == dtype
    assert layer.vjp_x(x, y, y, s).dtype == dtype
    assert all(g.dtype == dtype for g in layer.vjp_params(x, y, y, s).values())


@pytest.mark.parametrize("shape,cout,k,s,p", CASES)
def test_conv_vjps_match_finite_differences(shape, cout, k, s, p):
    rng = np.random.default_rng(2)
    layer = zk.Conv2d(shape[1], cout, k, stride=s, padding=p, rng=3)
    layer.params["b"][:] = rng.standard_normal(cout)
    x = rng.standard_normal(shape)
    st = State()
    y = layer.forward(x, st)
    gy = rng.standard_normal(y.shape)
    def f():
        return float(np.sum(layer.forward(x) * gy))
    np.testing.assert_allclose(layer.vjp_x(x, y, gy, st), central_differences(f, x),
                               rtol=1e-6, atol=1e-8)
    g = layer.vjp_params(x, y, gy, st)
    for k_ in ("W", "b"):
        np.testing.assert_allclose(g[k_], central_differences(f, layer.params[k_]),
                                   rtol=1e-6, atol=1e-8)
    # without the recorded state the gradients are the same
    np.testing.assert_allclose(layer.vjp_params(x, y, gy)["W"], g["W"], rtol=1e-14)


def test_conv_state_survives_a_later_forward():
    """The im2col scratch buffer is reused; an older state must still give its own VJP."""
    rng = np.random.default_rng(5)
    layer = zk.Conv2d(2, 3, 3, padding=1, rng=0)
    x1, x2 = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 5, 5))
    s1, s2 = State(), State()
    y1 = layer.forward(x1, s1)
    y2 = layer.forward(x2, s2)
    gy = rng.standard_normal(y1.shape)
    np.testing.assert_allclose(layer.vjp_params(x1, y1, gy, s1)["W"],
                               layer.vjp_params(x1, y1, gy)["W"], rtol=1e-14)
    def f():
        return float(np.sum(layer.forward(x1) * gy))
    np.testing.assert_allclose(layer.vjp_params(x1, y1, gy, s1)["W"],
                               central_differences(f, layer.params["W"]), rtol=1e-6)
    assert y2.shape[0] == 3


@pytest.mark.parametrize("cls", [zk.MaxPool2d, zk.AvgPool2d])
@pytest.mark.parametrize("k,s", [(2, None), (3, 2), ((2, 3), (1, 2))])
def test_pool_forward_and_vjp(cls, k, s):
    rng = np.random.default_rng(4)
    layer = cls(k, s)
    x = rng.standard_normal((2, 3, 7, 8))
    st = State()
    y = layer.forward(x, st)
    (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
    red = np.max if cls is zk.MaxPool2d else np.mean
    ref = np.empty(y.shape)
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            ref[:, :, i, j] = red(x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw], axis=(2, 3))
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-15)
    gy = rng.standard_normal(y.shape)
    def f():
        return float(np.sum(layer.forward(x) * gy))
    np.testing.assert_allclose(layer.vjp_x(x, y, gy, st), central_differences(f, x),
                               rtol=1e-6, atol=1e-8)


def test_maxpool_ties_go_to_first_maximum():
    x = np.zeros((1, 1, 2, 2))
    layer = zk.MaxPool2d(2)
    st = State()
    y = layer.forward(x, st)
    g = layer.vjp_x(x, y, np.ones_like(y), st)
    np.testing.assert_array_equal(g[0, 0], [[1, 0], [0, 0]])


def test_flatten_unflatten_round_trip():
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    f, u = zk.Flatten(), zk.Unflatten((3, 2, 2))
    y = f.forward(x)
    assert y.shape == (2, 12)
    np.testing.assert_array_equal(u.forward(y), x)
    np.testing.assert_array_equal(f.vjp_x(x, y, y), x)
    np.testing.assert_array_equal(u.vjp_x(y, x, x), y)


def test_conv_bad_input_names_the_argument():
    layer = zk.Conv2d(3, 4, 5, padding=1)
    with pytest.raises(ValueError, match="channels.*in_channels=3"):
        layer.forward(np.zeros((1, 2, 9, 9)))
    with pytest.raises(ValueError, match="kernel_size=5.*larger than the padded input"):
        layer.forward(np.zeros((1, 3, 2, 9)))
    with pytest.raises(ValueError, match="x: .*4-D"):
        layer.forward(np.zeros((3, 9, 9)))
    with pytest.raises(TypeError, match="dtype"):
        layer.forward(np.zeros((1, 3, 9, 9), np.float32))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        zk.Conv2d(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        zk.MaxPool2d(2, stride=-1)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        zk.Conv2d(1, 1, 3, padding=-1)
    with pytest.raises(TypeError, match="kernel_size"):
        zk.Conv2d(1, 1, 2.5)
    with pytest.raises(ValueError, match="out_channels must be positive"):
        zk.Conv2d(1, 0, 3)
    with pytest.raises(ValueError, match="kernel_size=3.*larger"):
        zk.MaxPool2d(3).forward(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="x: Unflatten"):
        zk.Unflatten((1, 2, 2)).forward(np.zeros((2, 5)))


@pytest.mark.parametrize("make", [
    lambda: zk.Conv2d(3, 4, 3, padding=1), lambda: zk.MaxPool2d(2), lambda: zk.AvgPool2d(2)])
@pytest.mark.parametrize("shape", [(6, 6), (2, 3, 6), (2, 3, 6, 6, 1)])
def test_non_4d_input_names_x(make, shape):
    with pytest.raises(ValueError, match=r"x: .*expects a 4-D array"):
        make().forward(np.zeros(shape))


@pytest.mark.parametrize("cls", [zk.Conv2d, zk.MaxPool2d, zk.AvgPool2d])
@pytest.mark.parametrize("stride", [0, -2, (1, 0), (0, 1), (-1, 2)])
def test_stride_not_positive_names_stride(cls, stride):
    with pytest.raises(ValueError, match="stride must be >= 1"):
        cls(1, 1, 2, stride=stride) if cls is zk.Conv2d else cls(2, stride=stride)


@pytest.mark.parametrize("layer, shape", [
    (lambda: zk.Conv2d(1, 2, (1, 5), padding=1), (1, 1, 9, 2)),      # too wide
    (lambda: zk.Conv2d(1, 2, (5, 1), padding=(0, 1)), (1, 1, 4, 9)),  # too tall, pad 0
    (lambda: zk.Conv2d(1, 2, 3, padding=0), (1, 1, 2, 2)),
    (lambda: zk.AvgPool2d((1, 3)), (1, 1, 4, 2)),
    (lambda: zk.MaxPool2d((3, 1)), (1, 1, 2, 4))])
def test_kernel_larger_than_padded_input_names_kernel_size(layer, shape):
    with pytest.raises(ValueError, match=r"kernel_size=\d+ of .* is larger than the padded"):
        layer().forward(np.zeros(shape))


@pytest.mark.parametrize("make", [
    lambda c: zk.FALearner(c, rng=1), lambda c: zk.KPLearner(c, rng=1),
    lambda c: zk.SignSymmetryLearner(c, mode="brsf", rng=1),
    lambda c: zk.DFALearner(c, zk.ReLU(), n_error=3, input_shape=(3, 6, 6), rng=1),
    lambda c: zk.DRTPLearner(c, zk.Tanh(), n_error=3, input_shape=(3, 6, 6), rng=1)])
def test_learners_on_conv_pass_the_layer_checks_through(make):
    m = make(zk.Conv2d(3, 4, 3, padding=1, rng=0))
    with pytest.raises(ValueError, match="x has 2 channels .* expects in_channels=3"):
        m.forward(np.zeros((2, 2, 6, 6)))
    with pytest.raises(ValueError, match="x: .*4-D"):
        m.forward(np.zeros((2, 3, 6)))
    with pytest.raises(ValueError, match="kernel_size=3 .* larger than the padded"):
        make(zk.Conv2d(3, 4, 3, rng=0)).forward(np.zeros((2, 3, 2, 6)))


def test_conv_net_trains_by_backprop_in_fit():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 16))
    y = (x[:, :8].sum(axis=1) > 0).astype(int)
    net = zk.Sequential(
        zk.GradLearner(zk.Unflatten((1, 4, 4))),
        zk.GradLearner(zk.Conv2d(1, 4, 3, padding=1, rng=0), zk.Adam(lr=1e-2)),
        zk.GradLearner(zk.ReLU()), zk.GradLearner(zk.MaxPool2d(2)),
        zk.GradLearner(zk.Flatten()), zk.GradLearner(zk.Linear(16, 2, rng=1), zk.Adam(lr=1e-2)))
    h = zk.fit(net, x, y, loss=zk.CrossEntropyLoss(), epochs=30, batch_size=16, rng=0)
    assert h.loss[-1] < 0.5 * h.loss[0]

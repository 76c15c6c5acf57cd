"""Compiled framework backend (``zenkai_np._framework``) against its NumPy formulation.

The elementwise passes use NumPy's operation order without FMA contraction
and the GEMMs run on the BLAS NumPy calls, so the two backends are compared
**bitwise**, except tanh and sigmoid: the kernel's SIMD tanh is within
``TANH_ULP`` ulp of the exact value (checked against mpmath / float64), so
networks with them are compared to a stated tolerance; likewise the softmax
cross-entropy (exp and log of the C library, not NumPy's).  Every pass runs on
every SIMD path the CPU has; the VJPs are also checked against central finite
differences, the optimizers against textbook formulas in Python floats.
"""
import mpmath
import numpy as np
import pytest

import zenkai_np as zk
from finite_differences import central_differences
from zenkai_np._simd import supported_simd_paths, use_simd_path
from zenkai_np.framework import fusion
from zenkai_np.framework.backend import get_backend, set_backend, use_backend

F = pytest.importorskip("zenkai_np._framework")
threadpoolctl = pytest.importorskip("threadpoolctl")

pytestmark = pytest.mark.kernel

DTYPES = (np.float32, np.float64)
ACTS = [zk.Identity(), zk.Tanh(), zk.Sigmoid(), zk.ReLU(), zk.LeakyReLU(0.1)]
TANH_ULP = 3          # measured: 2.5 (float32), 2.0 (float64) on every path
SMOOTH = (zk.Tanh, zk.Sigmoid)


def _act_id(a):
    return type(a).__name__


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def n_threads(request):
    with threadpoolctl.threadpool_limits(request.param):
        yield request.param


@pytest.fixture(params=supported_simd_paths())
def simd_path(request):
    with use_simd_path(request.param):
        yield request.param


def _ulps(y, ref, dtype):
    """|y - ref| in units of the last place of ``ref`` rounded to ``dtype``."""
    ref = np.asarray(ref, np.float64)
    spacing = np.spacing(np.abs(ref).astype(dtype)).astype(np.float64)
    return np.abs(np.asarray(y, np.float64) - ref) / spacing


# -- kernels -------------------------------------------------------------------
def test_tanh_within_stated_ulps_of_exact(simd_path):
    """tanh against float64 (float32 results) and mpmath (float64), special values exact."""
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.uniform(-12, 12, 3000), rng.standard_normal(3000) * 0.3,
                        10.0 ** rng.uniform(-12, 1.5, 1000) * rng.choice([-1, 1], 1000)])
    for dtype in DTYPES:
        x = z.astype(dtype)[None, :]
        a, y = np.empty_like(x), np.empty_like(x)
        F.dense_forward(np.ones((1, 1), dtype), x, None, a, y, 1, 0.0)
        if dtype == np.float32:
            ref = np.tanh(x.astype(np.float64))
        else:
            mpmath.mp.prec = 80
            ref = np.array([[float(mpmath.tanh(mpmath.mpf(float(v)))) for v in x[0]]])
        assert _ulps(y, ref, dtype).max() <= TANH_ULP, dtype
        special = np.array([[0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30, 40.0, -40.0,
                             np.finfo(dtype).tiny / 4]], dtype)
        a, y = np.empty_like(special), np.empty_like(special)
        F.dense_forward(np.ones((1, 1), dtype), special, None, a, y, 1, 0.0)
        np.testing.assert_array_equal(y, np.tanh(a))   # a: the GEMM's output (its -0 is +0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS, ids=_act_id)
def test_dense_forward_and_backward_match_numpy(dtype, act, simd_path):
    rng = np.random.default_rng(0)
    n, k, f = 33, 12, 17                      # odd sizes: every vector tail
    x = rng.standard_normal((n, k)).astype(dtype)
    W = (rng.standard_normal((k, f)) * 2).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    x[0] = 0                                  # a row of zeros: act'(b) corner cases
    b[:2] = 0
    code, slope = fusion.activation_code(act), getattr(act, "slope", 0.0)
    x0, W0, b0 = x.copy(), W.copy(), b.copy()
    a, y = np.empty((n, f), dtype), np.empty((n, f), dtype)
    F.dense_forward(x, W, b, a, a if code == 0 else y, code, slope)
    y = a if code == 0 else y
    ref_a = np.matmul(x, W) + b
    np.testing.assert_array_equal(a, ref_a)
    if isinstance(act, zk.Tanh):
        assert _ulps(y, act.forward(ref_a.astype(np.float64)), dtype).max() <= TANH_ULP
    elif isinstance(act, zk.Sigmoid):     # (tanh(a/2) + 1) / 2: absolute error, as NumPy's
        np.testing.assert_allclose(y, act.forward(ref_a), rtol=0,
                                   atol=TANH_ULP * np.finfo(dtype).eps)
    else:
        np.testing.assert_array_equal(y, act.forward(ref_a))
    gy = rng.standard_normal((n, f)).astype(dtype)
    gy0, y0 = gy.copy(), y.copy()
    gz, gW, gb, gx = (np.empty_like(gy), np.empty((k, f), dtype), np.empty(f, dtype),
                      np.empty((n, k), dtype))
    F.dense_backward(x, a, y, gy, W, gz if code else None, gW, gb, gx, code, slope)
    ref_gz = act.vjp_x(a, y, gy)
    if code:
        np.testing.assert_array_equal(gz, ref_gz)
    np.testing.assert_array_equal(gW, np.matmul(x.T, ref_gz))
    np.testing.assert_array_equal(gb, np.add.reduce(ref_gz, 0))
    np.testing.assert_array_equal(gx, np.matmul(ref_gz, W.T))
    for arr, arr0 in ((x, x0), (W, W0), (b, b0), (gy, gy0), (y, y0)):
        np.testing.assert_array_equal(arr, arr0)        # inputs not modified
    gz2 = np.empty_like(gy)
    F.act_grad(gy, a, y, gz2, code, slope)
    np.testing.assert_array_equal(gz2, ref_gz)


def test_kernels_refuse_wrong_buffers():
    x, W = np.ones((4, 3), np.float32), np.ones((3, 5), np.float32)
    a = np.empty((4, 5), np.float32)
    with pytest.raises(TypeError):
        F.dense_forward(x, W.astype(np.float64), None, a, a, 0, 0.0)   # mixed dtypes
    with pytest.raises(ValueError, match="b"):
        F.dense_forward(x, W, np.ones(5), a, a, 0, 0.0)               # b of another dtype
    with pytest.raises(ValueError, match="y"):
        F.dense_forward(x, W, None, a, np.empty((4, 4), np.float32), 1, 0.0)
    ro = np.empty((4, 5), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError):
        F.dense_forward(x, W, None, ro, ro, 0, 0.0)
    with pytest.raises(ValueError, match="act"):
        F.act_grad(a, a, a, a, 7, 0.0)


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
def test_optimizers_bitwise_equal_numpy(dtype, name, simd_path):
    with use_backend("compiled"):
        pc, _ = _opt_run(OPTS[name], dtype, shape=(7, 5))
        pc_long, _ = _opt_run(OPTS[name], dtype, shape=(37, 11))    # every vector tail
    with use_backend("numpy"):
        pn, _ = _opt_run(OPTS[name], dtype, shape=(7, 5))
        pn_long, _ = _opt_run(OPTS[name], dtype, shape=(37, 11))
    np.testing.assert_array_equal(pc, pn)
    np.testing.assert_array_equal(pc_long, pn_long)


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


def _train(rule, act, dtype, backend, steps=4, loss="mse"):
    """Train 4 steps. MSE on one-hot targets has no compiled pass of its own, so
    the comparison isolates the dense and optimizer kernels; "xent" runs the
    compiled softmax cross-entropy too (exp, log: not NumPy's roundings)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((20, 12)).astype(dtype)
    labels = rng.integers(0, 3, 20)
    if loss == "mse":
        fn, t = zk.MSELoss(), np.eye(3, dtype=dtype)[labels]
    else:
        fn, t = zk.CrossEntropyLoss(), labels
    net = _net(rule, act, dtype)
    losses = []
    with use_backend(backend):
        for _ in range(steps):
            losses.append(net.learn(x, t, loss=fn))
        y = net.forward(x)
    return net, losses, y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS, ids=_act_id)
@pytest.mark.parametrize("rule", ["bp", "fa", "dfa"])
def test_training_equals_numpy_backend(rule, act, dtype, n_threads, simd_path):
    """Bitwise for identity/ReLU/leaky ReLU; with tanh/sigmoid the two backends
    differ by the tanh's few ulp, which 4 training steps carry to the stated rtol."""
    net_c, loss_c, y_c = _train(rule, act, dtype, "compiled")
    net_n, loss_n, y_n = _train(rule, act, dtype, "numpy")
    pc, pn = net_c.parameters(), net_n.parameters()
    assert pc.keys() == pn.keys()
    pairs = [(k, pc[k], pn[k]) for k in pc]
    pairs += [(k, a, b) for (k, a), b in zip(net_c._state_items().items(),
                                             net_n._state_items().values())]
    pairs.append(("y", y_c, y_n))
    if isinstance(act, SMOOTH):
        rtol = 2e-4 if dtype == np.float32 else 1e-11
        np.testing.assert_allclose(loss_c, loss_n, rtol=rtol)
        for k, a, b in pairs:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max(), err_msg=k)
    else:
        assert loss_c == loss_n
        for k, a, b in pairs:
            np.testing.assert_array_equal(a, b, err_msg=k)     # optimizer moments too


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rule", ["bp", "dfa"])
def test_training_with_cross_entropy_close_to_numpy_backend(rule, dtype):
    """The compiled softmax cross-entropy differs from NumPy's by exp/log roundings."""
    net_c, loss_c, y_c = _train(rule, zk.ReLU(), dtype, "compiled", loss="xent")
    net_n, loss_n, y_n = _train(rule, zk.ReLU(), dtype, "numpy", loss="xent")
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(loss_c, loss_n, rtol=rtol)
    np.testing.assert_allclose(y_c, y_n, rtol=rtol, atol=rtol * np.abs(y_n).max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
def test_cross_entropy_compiled_equals_numpy_formulation(dtype, reduction, scale):
    """Value and gradient against the NumPy formulation, also for logits large
    enough that a softmax without the max shift would overflow."""
    rng = np.random.default_rng(11)
    y = (rng.standard_normal((33, 7)) * scale).astype(dtype)
    labels = rng.integers(0, 7, 33)
    loss = zk.CrossEntropyLoss(reduction)
    y0 = y.copy()
    with use_backend("compiled"):
        v_c, g_c = loss.value_and_grad(y, labels)
    with use_backend("numpy"):
        v_n, g_n = loss.value_and_grad(y, labels)
    np.testing.assert_array_equal(y, y0)
    assert g_c.dtype == dtype and g_c.shape == y.shape
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(v_c, v_n, rtol=16 * eps, atol=16 * eps)
    np.testing.assert_allclose(g_c, g_n, rtol=0, atol=8 * eps * np.abs(g_n).max())


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_cross_entropy_label_errors_and_nan(backend):
    y = np.zeros((4, 3), np.float32)
    loss = zk.CrossEntropyLoss()
    with use_backend(backend):
        with pytest.raises(ValueError, match=r"labels: expected values in \[0, 3\), got 3"):
            loss.value_and_grad(y, np.array([0, 1, 2, 3]))
        with pytest.raises(ValueError, match=r"labels: expected values in \[0, 3\), got -1"):
            loss.value_and_grad(y, np.array([0, -1, 2, 0]))
        with pytest.raises(ValueError, match="labels: expected 4 labels"):
            loss.value_and_grad(y, np.array([0, 1]))
        labels = np.array([0, 9, 1, 9, 2, 9, 0, 9])[::2]     # strided, as from a slice
        ro = np.arange(12, dtype=np.float32).reshape(4, 3)
        ro.flags.writeable = False                            # read-only, as from a memmap
        with use_backend("numpy"):
            want = loss.value_and_grad(ro, labels)
        got = loss.value_and_grad(ro, list(labels))
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-7)
        y[1, 2] = np.nan
        v, g = loss.value_and_grad(y, np.array([0, 1, 2, 0], np.uint8))
        assert np.isnan(v) and np.isnan(g[1]).all() and np.isfinite(g[[0, 2, 3]]).all()


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
    np.testing.assert_allclose(yc, yn, rtol=1e-5, atol=1e-6)   # non-contiguous input works (tanh)
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


def test_read_only_weights_still_predict():
    """A model whose parameters are read-only (e.g. loaded from a memmap) can predict."""
    net = _net("bp", zk.Tanh(), np.float32)
    x = np.random.default_rng(0).standard_normal((5, 12)).astype(np.float32)
    with use_backend("numpy"):
        y_ref = net.forward(x)
    for p in net.parameters().values():
        p.flags.writeable = False
    with use_backend("compiled"):
        np.testing.assert_allclose(net.forward(x), y_ref, rtol=1e-5, atol=1e-6)

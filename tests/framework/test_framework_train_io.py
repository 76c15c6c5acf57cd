"""Training loop, save/load and input validation."""
import numpy as np
import pytest

import zenkai_np as zk
from zenkai_np.framework.state import State


def data(n=90, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(dtype)
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 0.5)
    return x, y


def net(dtype=np.float64, opt=None, seed=0):
    opt = opt or zk.Adam(lr=0.01)
    return zk.Sequential(
        zk.GradLearner(zk.Linear(4, 8, dtype=dtype, rng=seed), opt),
        zk.GradLearner(zk.Tanh()),
        zk.FALearner(zk.Linear(8, 8, dtype=dtype, rng=seed + 1), opt, rng=seed),
        zk.GradLearner(zk.ReLU()),
        zk.GradLearner(zk.Linear(8, 3, dtype=dtype, rng=seed + 2), opt),
    )


def test_fit_history_lengths_and_metrics():
    x, y = data()
    xv, yv = data(30, seed=1)
    h = zk.fit(net(), x, y, loss=zk.CrossEntropyLoss(), epochs=7, batch_size=16, rng=0,
               metrics=["accuracy"], validation_data=(xv, yv))
    assert h.epochs == 7 and len(h.loss) == 7 and len(h.seconds) == 7
    for k in ("accuracy", "val_loss", "val_accuracy"):
        assert len(h.metrics[k]) == 7
    assert not h.stopped_early
    assert h.loss[-1] < h.loss[0]
    assert all(0 <= a <= 1 for a in h.metrics["accuracy"])


def test_fit_loss_is_the_sample_weighted_mean_of_batch_losses():
    x, y = data(10)
    m1, m2 = net(seed=3), net(seed=3)
    h = zk.fit(m1, x, y, loss=zk.CrossEntropyLoss(), epochs=1, batch_size=4, shuffle=False)
    vals = [m2.learn(x[a:a + 4], y[a:a + 4], zk.CrossEntropyLoss()) for a in (0, 4, 8)]
    assert h.loss[0] == pytest.approx((4 * vals[0] + 4 * vals[1] + 2 * vals[2]) / 10,
                                      rel=1e-12)


@pytest.mark.parametrize("how", ["return", "raise"])
def test_callback_stops_training(how):
    x, y = data()
    seen = []

    def cb(epoch, history, model):
        seen.append(epoch)
        if epoch == 2:
            if how == "raise":
                raise zk.StopTraining
            return True
        return None

    h = zk.fit(net(), x, y, loss=zk.CrossEntropyLoss(), epochs=10, callback=cb, rng=0)
    assert seen == [0, 1, 2] and h.epochs == 3 and h.stopped_early


def test_fit_is_reproducible_with_a_seed_and_leaves_global_state_alone():
    x, y = data()
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    h1 = zk.fit(net(), x, y, loss=zk.CrossEntropyLoss(), epochs=3, rng=5)
    h2 = zk.fit(net(), x, y, loss=zk.CrossEntropyLoss(), epochs=3,
                rng=np.random.default_rng(5))
    assert h1.loss == h2.loss
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_verbose_prints_one_line_per_epoch(capsys):
    x, y = data()
    zk.fit(net(), x, y, loss=zk.CrossEntropyLoss(), epochs=2, verbose=1, rng=0,
           metrics="accuracy")
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2") and "accuracy" in lines[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip_is_bit_exact(tmp_path, dtype):
    x, y = data(dtype=dtype)
    m = net(dtype)
    zk.fit(m, x, y, loss=zk.CrossEntropyLoss(), epochs=2, rng=0)
    path = zk.save(m, tmp_path / "model.npz")
    m2 = net(dtype, seed=42)     # different initial weights
    assert not np.array_equal(m2.predict(x), m.predict(x))
    zk.load(m2, path)
    np.testing.assert_array_equal(m2.predict(x), m.predict(x))
    # optimizer state too: one more identical step gives identical parameters
    m.learn(x[:16], y[:16], zk.CrossEntropyLoss())
    m2.learn(x[:16], y[:16], zk.CrossEntropyLoss())
    for (k, a), (_, b) in zip(m.parameters().items(), m2.parameters().items()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    # no pickle inside
    with np.load(path, allow_pickle=False) as f:
        assert all(f[k].dtype != object for k in f.files)
        assert any(k.endswith(".m") for k in f.files)    # Adam moments are stored


def test_save_load_other_learners(tmp_path):
    def build(seeds):  # the same architecture; different seeds, so load must overwrite
        a, b, c, d = seeds
        return zk.Sequential(
            zk.DTPLearner(zk.Chain(zk.Linear(4, 5, rng=a), zk.Tanh()),
                          zk.Chain(zk.Linear(5, 4, rng=b), zk.Tanh()),
                          zk.SGD(lr=0.01, momentum=0.9), zk.SGD(lr=0.01, momentum=0.9)),
            zk.GALearner(zk.Linear(5, 3, rng=c), pop_size=6, rng=0),
            zk.LeastSquaresLearner(zk.Linear(3, 3, rng=d)),
        )

    m = build((0, 1, 2, 3))
    x, y = data()
    zk.fit(m, x, y, loss=zk.CrossEntropyLoss(), epochs=1, rng=0)
    p = zk.save(m, tmp_path / "m")
    assert p.endswith(".npz")
    m2 = build((9, 8, 7, 6))
    zk.load(m2, p)
    np.testing.assert_array_equal(m2.predict(x), m.predict(x))
    np.testing.assert_array_equal(m2[1].population["W"], m[1].population["W"])


def test_load_rejects_mismatched_architecture(tmp_path):
    p = zk.save(net(), tmp_path / "a.npz")
    other = zk.Sequential(zk.GradLearner(zk.Linear(4, 8, rng=0), zk.SGD()),
                          zk.GradLearner(zk.Linear(8, 3, rng=0), zk.SGD()))
    with pytest.raises(ValueError):
        zk.load(other, p)
    np.savez(tmp_path / "junk.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a zenkai_np"):
        zk.load(net(), tmp_path / "junk.npz")


# -- bad input -------------------------------------------------------------

def test_wrong_shapes_between_layers_are_caught_at_construction():
    with pytest.raises(ValueError, match=r"machines\[1\].*expects 5 input features.*"
                                         r"machines\[0\] produces 8"):
        zk.Sequential(zk.GradLearner(zk.Linear(4, 8)), zk.GradLearner(zk.Linear(5, 2)))
    with pytest.raises(ValueError, match=r"layers\[2\] expects 3"):
        zk.Chain(zk.Linear(2, 4), zk.Tanh(), zk.Linear(3, 1))


def test_wrong_input_shape_names_x():
    m = net()
    with pytest.raises(ValueError, match="x has 5 features"):
        m.predict(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="x: expected a 2D array"):
        zk.fit(m, np.zeros(4), np.zeros(4, int), loss=zk.CrossEntropyLoss())


def test_one_dtype_policy_data_is_converted_to_the_model_dtype():
    m = net(np.float32)
    x, y = data()                                   # float64 features
    yp = m.predict(x)
    assert yp.dtype == np.float32
    np.testing.assert_array_equal(yp, m.predict(x.astype(np.float32)))
    np.testing.assert_array_equal(yp, m.predict(x.tolist()))
    h = zk.fit(m, x, y, loss=zk.CrossEntropyLoss(), epochs=1)
    assert np.isfinite(h.loss[0])
    # integer inputs are converted too, in fit and predict alike
    xi = (x * 10).astype(int)
    assert m.predict(xi).dtype == np.float32
    assert np.isfinite(zk.fit(m, xi, y, loss=zk.CrossEntropyLoss(), epochs=1).loss[0])
    # an (N, 1) column of labels is a column of labels
    e1 = zk.evaluate(m, x, y.reshape(-1, 1), loss=zk.CrossEntropyLoss())
    assert e1 == zk.evaluate(m, x, y, loss=zk.CrossEntropyLoss())


def test_wrong_types_raise_type_error_naming_the_argument():
    m = net(np.float32)
    with pytest.raises(TypeError, match="x must be a numpy array"):
        zk.Linear(2, 2).forward("abc")
    with pytest.raises(TypeError, match="x: expected an array"):
        m.predict("abc")
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        zk.Linear(2, 2, dtype=np.int32)
    with pytest.raises(TypeError, match="labels: expected integer class labels"):
        zk.CrossEntropyLoss().value(np.zeros((2, 3)), np.array([0.5, 1.0]))


def test_nan_targets_and_inputs_are_rejected():
    m = net()
    x, y = data()
    yf = np.eye(3)[y]
    yf[3, 1] = np.nan
    with pytest.raises(ValueError, match="y: contains NaN"):
        zk.fit(m, x, yf, loss=zk.MSELoss())
    with pytest.raises(ValueError, match="t: contains NaN"):
        m.learn(x, yf, zk.MSELoss())
    xn = x.copy()
    xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="x: contains NaN"):
        zk.fit(m, xn, y, loss=zk.CrossEntropyLoss())


def test_empty_batches_and_bad_fit_arguments():
    m = net()
    x, y = data()
    with pytest.raises(ValueError, match="x: expected at least 1 sample"):
        zk.fit(m, x[:0], y[:0], loss=zk.CrossEntropyLoss())
    with pytest.raises(ValueError, match="x: expected at least 1 sample"):
        m.learn(x[:0], y[:0], zk.CrossEntropyLoss())
    with pytest.raises(ValueError, match="batch_size must be positive"):
        zk.fit(m, x, y, loss=zk.CrossEntropyLoss(), batch_size=0)
    with pytest.raises(TypeError, match="epochs must be an int"):
        zk.fit(m, x, y, loss=zk.CrossEntropyLoss(), epochs=2.5)
    with pytest.raises(ValueError, match=r"y: expected 90 samples \(as in x\), got 89"):
        zk.fit(m, x, y[:-1], loss=zk.CrossEntropyLoss())
    with pytest.raises(ValueError, match=r"labels: expected values in \[0, 3\)"):
        zk.fit(m, x, y + 5, loss=zk.CrossEntropyLoss())
    with pytest.raises(ValueError, match=r"labels: expected values in \[0, 3\), got -1"):
        zk.fit(m, x, y - 1, loss=zk.CrossEntropyLoss())
    with pytest.raises(TypeError, match="loss must be a Loss"):
        zk.fit(m, x, y, loss=None)
    with pytest.raises(ValueError, match="lr must be"):
        zk.SGD(lr=-1.0)
    with pytest.raises(TypeError, match="unknown hyperparameters"):
        zk.Adam(lr=0.1, momentum=0.9)


def test_bad_learner_configuration():
    with pytest.raises(TypeError, match="must be a LearningMachine"):
        zk.Sequential(zk.Linear(2, 2))
    with pytest.raises(TypeError, match="FALearner needs a Linear"):
        zk.FALearner(zk.Tanh())
    with pytest.raises(ValueError, match="lmode must be one of"):
        zk.GradLearner(zk.Tanh(), lmode="sometimes")
    with pytest.raises(ValueError, match="B must have W's shape"):
        zk.FALearner(zk.Linear(2, 3), B=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="inverse expects 4 inputs"):
        zk.TPLearner(zk.Linear(2, 3), zk.Linear(4, 2))
    with pytest.raises(ValueError, match="param_options name unknown"):
        zk.GradLearner(zk.Linear(2, 2), param_options={"n": {"lr": 0.1}})


def test_container_state_and_protocol_methods():
    m = net()
    x, y = data(8)
    st = State()
    with pytest.raises(ValueError, match="call forward"):
        m.accumulate(x, np.zeros((8, 3)), st)
    out = m.forward(x, st)
    assert out.shape == (8, 3) and st.y is out
    # step_x without accumulate walks the container first
    xt = m.step_x(x, out, st)
    assert xt.shape == x.shape


def test_mixed_dtypes_in_a_sequential_are_rejected():
    with pytest.raises(TypeError, match=r"machines\[1\] computes in float32"):
        zk.Sequential(zk.GradLearner(zk.Linear(2, 3)),
                      zk.GradLearner(zk.Linear(3, 1, dtype=np.float32)))


def test_fit_with_blas_threads_gives_the_same_result():
    x, y = data()
    h1 = zk.fit(net(), x, y, loss=zk.CrossEntropyLoss(), epochs=2, rng=0)
    h2 = zk.fit(net(), x, y, loss=zk.CrossEntropyLoss(), epochs=2, rng=0, blas_threads=1)
    np.testing.assert_allclose(h1.loss, h2.loss, rtol=1e-12)
    with pytest.raises(ValueError, match=r"blas_threads: expected an int in \[1, inf\]"):
        zk.fit(net(), x, y, loss=zk.CrossEntropyLoss(), blas_threads=0)


def test_float_targets_are_converted_to_the_model_dtype():
    m = net(np.float32)
    x, y = data(dtype=np.float32)
    m2 = net(np.float32)
    h64 = zk.fit(m, x, np.eye(3)[y], loss=zk.MSELoss(), epochs=1, rng=0)
    h32 = zk.fit(m2, x, np.eye(3, dtype=np.float32)[y], loss=zk.MSELoss(), epochs=1, rng=0)
    assert h64.loss == h32.loss
    for k, v in m.parameters().items():
        np.testing.assert_array_equal(v, m2.parameters()[k])


def test_sklearn_learner_without_sklearn_raises_a_clear_import_error(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.base", None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        zk.SklearnLearner(object(), 2, 2)

"""The model-level dtype (default_dtype) and the one data dtype policy."""
import threading

import numpy as np
import pytest

import zenkai_np as zk


def build():
    return zk.Sequential(zk.GradLearner(zk.Linear(4, 8, rng=0), zk.Adam(lr=1e-2)),
                         zk.GradLearner(zk.Tanh()),
                         zk.FALearner(zk.Linear(8, 3, rng=1), zk.Adam(lr=1e-2), rng=2))


def test_default_dtype_sets_every_layer_and_is_restored():
    with zk.default_dtype(np.float32):
        net = build()
        frac = zk.FracExp(5)
        moment = zk.MomentReLULearner(6, 2, rng=0)
    assert {p.dtype for p in net.parameters().values()} == {np.dtype(np.float32)}
    assert frac.dtype == np.float32 and moment.dtype == np.float32
    assert zk.Linear(2, 2).params["W"].dtype == np.float64     # restored after the block
    # an explicit dtype still wins inside the block
    with zk.default_dtype(np.float32):
        assert zk.Linear(2, 2, dtype=np.float64).params["W"].dtype == np.float64


def test_default_dtype_is_per_thread():
    seen = {}
    with zk.default_dtype(np.float32):
        t = threading.Thread(target=lambda: seen.setdefault("d", zk.Linear(2, 2).params["W"].dtype))
        t.start()
        t.join()
    assert seen["d"] == np.float64


def test_float32_model_trains_on_float64_data_like_on_float32_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4))
    y = rng.integers(0, 3, 40)
    with zk.default_dtype(np.float32):
        a, b = build(), build()
    ha = zk.fit(a, x, y, loss=zk.CrossEntropyLoss(), epochs=2, rng=0)
    hb = zk.fit(b, x.astype(np.float32), y, loss=zk.CrossEntropyLoss(), epochs=2, rng=0)
    assert ha.loss == hb.loss
    assert a.predict(x).dtype == np.float32


def test_bad_default_dtype_is_a_type_error():
    with pytest.raises(TypeError, match="dtype"):
        with zk.default_dtype(np.int32):
            pass

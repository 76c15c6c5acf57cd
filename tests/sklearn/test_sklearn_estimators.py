"""scikit-learn's own estimator checks and tooling for MLPClassifier, MLPRegressor and
ReLUMomentRegressor."""
import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import zenkai_np as zk  # noqa: E402
from zenkai_np.moments import ReLUMomentRegressor, make_teacher  # noqa: E402
from zenkai_np.sklearn import RULES, MLPClassifier, MLPRegressor  # noqa: E402

ESTIMATORS = [  # small budgets: the checks fit ~60 times on small data sets
    MLPClassifier(random_state=0, epochs=60),
    MLPRegressor(random_state=0, epochs=60),
    ReLUMomentRegressor(rng=0, n_random_starts=2, n_subset_starts=1, n_candidate_draws=8,
                        candidate_orders=(4,), n_jennrich=1, search_maxiter=30,
                        search_short_maxiter=10, n_survivors=1, refine_maxiter=100,
                        refine_full_maxiter=20),
]


def expected_failed_checks(estimator):
    """Checks declared as expected failures (none are; kept as the one place to say why)."""
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _digits(n=600):
    X, y = load_digits(return_X_y=True)
    return X[:n] / 16.0, y[:n]


@pytest.mark.parametrize("rule", RULES)
def test_every_rule_learns_digits(rule):
    X, y = _digits()
    clf = MLPClassifier((32,), rule=rule, activation="tanh", epochs=15, batch_size=32,
                        learning_rate=3e-3,
                        random_state=0).fit(X[:400], y[:400])
    assert clf.score(X[400:], y[400:]) > 0.7  # chance is 0.1
    assert clf.n_features_in_ == 64 and list(clf.classes_) == list(range(10))
    p = clf.predict_proba(X[400:])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(clf.classes_[p.argmax(axis=1)], clf.predict(X[400:]))


def test_bp_equals_the_framework_network_by_hand():
    """rule='bp' is exactly zk.fit on the Sequential it builds (same seeds)."""
    X, y = _digits(200)
    clf = MLPClassifier((16,), epochs=3, batch_size=50, random_state=7).fit(X, y)
    rng = np.random.default_rng(7)
    s1, s2 = int(rng.integers(2 ** 31)), int(rng.integers(2 ** 31))
    net = zk.Sequential(zk.GradLearner(zk.Linear(64, 16, rng=s1, init="he"), zk.Adam(lr=1e-3)),
                        zk.GradLearner(zk.ReLU()),
                        zk.GradLearner(zk.Linear(16, 10, rng=s2, init="he"), zk.Adam(lr=1e-3)))
    zk.fit(net, X, y, loss=zk.CrossEntropyLoss(), epochs=3, batch_size=50, rng=rng)
    np.testing.assert_array_equal(clf.network_.forward(X), net.forward(X))


def test_partial_fit_string_labels_and_bad_params():
    X, y = _digits(300)
    labels = np.array(list("abcdefghij"))[y]
    clf = MLPClassifier((32,), random_state=0, batch_size=30)
    for _ in range(20):
        clf.partial_fit(X, labels, classes=np.unique(labels))
    assert clf.score(X, labels) > 0.8 and clf.predict(X[:3]).dtype == labels.dtype
    with pytest.raises(ValueError, match="classes"):
        MLPClassifier().partial_fit(X, labels)
    with pytest.raises(ValueError, match="rule"):
        MLPClassifier(rule="magic").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        MLPRegressor(hidden_layer_sizes=(0,)).fit(X, y.astype(float))
    with pytest.raises(TypeError, match="random_state"):
        MLPRegressor(random_state="x").fit(X, y.astype(float))


def test_regressor_multioutput_and_float32():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 5))
    Y = np.stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]], axis=1)
    reg = MLPRegressor((64,), activation="tanh", epochs=150, learning_rate=1e-2,
                       random_state=0, dtype="float32").fit(X, Y)
    assert reg.predict(X).shape == (400, 2) and reg.score(X, Y) > 0.8
    assert reg.network_.dtype == np.float32


def test_pipeline_gridsearch_and_cross_val():
    X, y = _digits(400)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(epochs=30, batch_size=32,
                                                             learning_rate=3e-3,
                                                             random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__rule": ["bp", "fa"],
                               "mlpclassifier__hidden_layer_sizes": [(16,), (32,)]}, cv=2)
    grid.fit(X, y)
    assert grid.best_score_ > 0.7 and len(grid.cv_results_["params"]) == 4
    scores = cross_val_score(ReLUMomentRegressor(2, rng=0, n_random_starts=3),
                             *make_teacher("generic", 6, 2, rng=0).sample(6000, rng=1), cv=2)
    assert np.all(scores > 0.99)


def test_dask_ml_incremental():
    dask_ml = pytest.importorskip("dask_ml.wrappers")
    import dask
    import dask.array as da
    X, y = _digits(600)
    Xd, yd = da.from_array(X, chunks=(100, 64)), da.from_array(y, chunks=100)
    with dask.config.set(scheduler="synchronous"):
        inc = dask_ml.Incremental(MLPClassifier((32,), random_state=0, batch_size=25),
                                  scoring="accuracy", shuffle_blocks=False)
        for _ in range(8):
            inc.partial_fit(Xd, yd, classes=np.arange(10))
        acc = inc.score(Xd, yd)
    # the same partial_fit calls in memory, block by block, give the same network
    ref = MLPClassifier((32,), random_state=0, batch_size=25)
    for _ in range(8):
        for a in range(0, 600, 100):
            ref.partial_fit(X[a:a + 100], y[a:a + 100], classes=np.arange(10))
    np.testing.assert_array_equal(inc.estimator_.predict_proba(X), ref.predict_proba(X))
    assert acc > 0.8


def test_relu_moment_regressor_without_scikit_learn(tmp_path):
    """With scikit-learn unimportable the estimator keeps its API and error messages."""
    import subprocess
    import sys
    code = """
import sys
sys.modules["sklearn"] = None
import numpy as np
from zenkai_np.moments import ReLUMomentRegressor, make_teacher
from zenkai_np.moments import _sklearn_base
assert not _sklearn_base.HAVE_SKLEARN
X, y = make_teacher("generic", 5, 2, rng=0).sample(4000, rng=1)
est = ReLUMomentRegressor(2, rng=0, n_random_starts=3)
try:
    est.predict(X)
except ValueError as e:
    assert "not fitted" in str(e)
est.fit(X, y)
assert est.score(X, y) > 0.999999 and est.get_params()["n_neurons"] == 2
assert est.set_params(n_neurons=1) is est and "n_neurons=1" in repr(est)
try:
    est.predict(X[:, :3])
except ValueError as e:
    assert "X has 3 features, but ReLUMomentRegressor is expecting 5" in str(e)
print("ok")
"""
    # cwd outside the source tree: `python -c` puts the cwd first on sys.path, and from the
    # repository root that would import the unbuilt source package instead of the installed one
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"

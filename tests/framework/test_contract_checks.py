"""zenkai_np.testing: the contract checks pass on every public layer and learning
machine of the library (found from the public exports: a new class without a case
here fails), and fail on layers and machines that break the contract."""
import inspect

import numpy as np
import pytest

import zenkai_np as zk
from zenkai_np import bplambda, fractional, framework, moments
from zenkai_np.framework import Layer, LearningMachine
from zenkai_np.testing import check_layer, check_learning_machine

from test_framework_extending import DeltaRule, Scale

DTYPES = [np.float64, np.float32]
N, D_IN, D_OUT = 5, 4, 3


def _public_classes(base):
    found = {}
    for mod in (zk, framework, fractional, moments, bplambda):
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name, None)
            if inspect.isclass(obj) and issubclass(obj, base) and obj is not base:
                found[obj.__qualname__] = obj
    return found


def _x(dtype, rows=N, cols=D_IN, low=None, high=None, seed=0):
    rng = np.random.default_rng(seed)
    if low is None:
        x = rng.standard_normal((rows, cols))
        x += np.sign(x) * 0.1
    else:
        x = rng.uniform(low, high, (rows, cols))
    return x.astype(dtype)


def _img(dtype, seed=0):
    """A batch of 2-channel 5x5 images, NCHW, without ties (max pooling is smooth there)."""
    rng = np.random.default_rng(seed)
    return rng.permutation(N * 2 * 5 * 5).reshape(N, 2, 5, 5).astype(dtype) / 25.0


# ---- layers: name -> list of (case id, factory(dtype) -> (layer, x, check kwargs)) ----

def _fracexp_cases():
    cases = []
    for variant in fractional.FRACEXP_VARIANTS:
        cases.append((f"abel-{variant}", lambda dt, v=variant: (
            zk.FracExp(D_IN, variant=v, n_init=0.3, n_std=0.1, rng=1, dtype=dt), None, {})))
    # Schröder: real inputs away from the singular orbit {0, 1, e, ...}
    for variant in ("abel", "abel_sigm"):
        cases.append((f"schroeder-{variant}", lambda dt, v=variant: (
            zk.FracExp(D_IN, variant=v, method="schroeder", n_init=0.3, n_std=0.1, rng=1,
                       dtype=dt), _x(dt, low=1.5, high=2.3), {})))
    return cases


def _fracexp_linear_cases():
    return [
        ("abel", lambda dt: (zk.FracExpLinear(D_IN, D_OUT, n_in_init=0.3, n_out_init=0.2,
                                              n_std=0.1, rng=2, dtype=dt), None, {})),
        ("abel-product-units", lambda dt: (zk.FracExpLinear(
            D_IN, D_OUT, n_in_init=-1.0, n_out_init=1.0, init_scale=0.3, rng=2, dtype=dt),
            _x(dt, low=0.5, high=2.0), {})),
        ("abel-softplus", lambda dt: (zk.FracExpLinear(
            D_IN, D_OUT, n_in_init=-0.5, input_squash="softplus", rng=3, dtype=dt), None, {})),
        ("schroeder", lambda dt: (zk.FracExpLinear(
            D_IN, D_OUT, method="schroeder", n_in_init=0.3, n_out_init=0.0, rng=2, dtype=dt),
            _x(dt, low=1.5, high=2.3), {})),
    ]


LAYER_CASES = {
    "Linear": [("bias", lambda dt: (zk.Linear(D_IN, D_OUT, dtype=dt, rng=0), None, {})),
               ("no-bias", lambda dt: (zk.Linear(D_IN, D_OUT, bias=False, dtype=dt, rng=0),
                                       None, {}))],
    "Identity": [("", lambda dt: (zk.Identity(), _x(dt), {}))],
    "Tanh": [("", lambda dt: (zk.Tanh(), _x(dt), {}))],
    "Sigmoid": [("", lambda dt: (zk.Sigmoid(), _x(dt), {}))],
    "ReLU": [("", lambda dt: (zk.ReLU(), _x(dt), {}))],
    "LeakyReLU": [("", lambda dt: (zk.LeakyReLU(0.2), _x(dt), {}))],
    "Softmax": [("", lambda dt: (zk.Softmax(), _x(dt), {}))],
    # straight-through layers: vjp_x is a chosen surrogate (tested against its
    # formula in test_framework_core.py), every other property is checked
    "Sign": [("", lambda dt: (zk.Sign(), _x(dt), {"vjp_x_exact": False}))],
    "Step": [("", lambda dt: (zk.Step(), _x(dt), {"vjp_x_exact": False}))],
    "ArgmaxSTE": [("", lambda dt: (zk.ArgmaxSTE(), _x(dt), {"vjp_x_exact": False}))],
    "Mean": [("", lambda dt: (zk.Mean(2), _x(dt), {}))],
    "Chain": [("", lambda dt: (zk.Chain(zk.Linear(D_IN, 6, dtype=dt, rng=0), zk.Tanh(),
                                        zk.Linear(6, D_OUT, dtype=dt, rng=1)), None, {}))],
    "Conv2d": [("stride-pad", lambda dt: (zk.Conv2d(2, 3, 3, stride=2, padding=1, rng=0,
                                                    dtype=dt), _img(dt), {})),
               ("no-bias", lambda dt: (zk.Conv2d(2, 2, 2, bias=False, rng=1, dtype=dt),
                                       _img(dt), {}))],
    "MaxPool2d": [("", lambda dt: (zk.MaxPool2d(2), _img(dt), {}))],
    "AvgPool2d": [("", lambda dt: (zk.AvgPool2d(2, stride=1), _img(dt), {}))],
    "Flatten": [("", lambda dt: (zk.Flatten(), _img(dt), {}))],
    "Unflatten": [("", lambda dt: (zk.Unflatten((2, 2, 3)), _x(dt, cols=12), {}))],
    "FracExp": _fracexp_cases(),
    "FracExpLinear": _fracexp_linear_cases(),
}


def _lin(dt, seed=1, n_in=D_IN, n_out=D_OUT):
    return zk.Linear(n_in, n_out, dtype=dt, rng=seed)


def _graph(dt):
    g = zk.Graph()
    g.add("h", zk.GradLearner(_lin(dt, 1, D_IN, 5)))
    g.add("a", zk.GradLearner(zk.Tanh()), inputs="h")
    g.add("out", zk.GradLearner(_lin(dt, 2, 10, D_OUT)), inputs=["h", "a"])
    return g


def _sklearn(dt):
    from sklearn.linear_model import SGDRegressor
    from sklearn.multioutput import MultiOutputRegressor
    return zk.SklearnLearner(MultiOutputRegressor(SGDRegressor(random_state=0)), D_IN, D_OUT,
                             partial=True, rng=0, dtype=dt)


MACHINE_CASES = {
    "GradLearner": [("adam", lambda dt: (zk.GradLearner(_lin(dt), zk.Adam(lr=1e-2)), {})),
                    ("step-priority", lambda dt: (zk.GradLearner(
                        _lin(dt), zk.SGD(lr=0.1), lmode=zk.LMode.STEP_PRIORITY), {}))],
    "FALearner": [("", lambda dt: (zk.FALearner(_lin(dt), zk.SGD(lr=0.1), rng=2), {}))],
    "KPLearner": [("", lambda dt: (zk.KPLearner(_lin(dt), zk.SGD(lr=0.1), rng=2), {}))],
    "SignSymmetryLearner": [(mode, lambda dt, m=mode: (zk.SignSymmetryLearner(
        _lin(dt), zk.SGD(lr=0.1), mode=m, rng=2), {})) for mode in ("usf", "brsf", "frsf")],
    "DRTPLearner": [("", lambda dt: (zk.DRTPLearner(_lin(dt), zk.Tanh(), n_error=D_OUT, rng=3,
                                                    optimizer=zk.SGD(lr=0.1)), {}))],
    "DFALearner": [("", lambda dt: (zk.DFALearner(_lin(dt), zk.Tanh(), n_error=D_OUT, rng=3,
                                                  optimizer=zk.SGD(lr=0.1)), {}))],
    "TPLearner": [("", lambda dt: (zk.TPLearner(zk.Chain(_lin(dt), zk.Tanh()),
                                                _lin(dt, 4, D_OUT, D_IN), noise_std=0.1,
                                                rng=5), {}))],
    "DTPLearner": [("", lambda dt: (zk.DTPLearner(zk.Chain(_lin(dt), zk.Tanh()),
                                                  _lin(dt, 4, D_OUT, D_IN), rng=5), {}))],
    "LeastSquaresLearner": [("", lambda dt: (zk.LeastSquaresLearner(_lin(dt)), {})),
                            ("deferred", lambda dt: (zk.LeastSquaresLearner(
                                _lin(dt), fit_input=False, lmode=zk.LMode.DEFERRED), {}))],
    "HillClimbLearner": [("", lambda dt: (zk.HillClimbLearner(_lin(dt), rng=6), {}))],
    "ESLearner": [("", lambda dt: (zk.ESLearner(_lin(dt), rng=7), {}))],
    "GALearner": [("", lambda dt: (zk.GALearner(_lin(dt), rng=8), {}))],
    "SklearnLearner": [("", lambda dt: (_sklearn(dt), {}))],
    "EnsembleLearner": [("", lambda dt: (zk.EnsembleLearner(
        [zk.GradLearner(_lin(dt, 1)), zk.FALearner(_lin(dt, 2), rng=3)]), {}))],
    "Sequential": [("", lambda dt: (zk.Sequential(
        zk.GradLearner(_lin(dt, 1, D_IN, 5)), zk.GradLearner(zk.Tanh()),
        zk.DFALearner(_lin(dt, 2, 5, 5), zk.ReLU(), n_error=D_OUT, rng=4),
        zk.FALearner(_lin(dt, 3, 5, D_OUT), rng=5)), {}))],
    "Graph": [("", lambda dt: (_graph(dt), {}))],
    "MomentReLULearner": [("adam", lambda dt: (zk.MomentReLULearner(D_IN, 2, dtype=dt,
                                                                    rng=0), {})),
                          ("tp-rule", lambda dt: (zk.MomentReLULearner(
                              D_IN, 2, dtype=dt, rng=0,
                              rule=lambda layer: zk.TPLearner(layer, _lin(dt, 9, 1, D_IN))),
                              {}))],
}


def _cases(table):
    return [pytest.param(name, i, dt, id=f"{name}-{cid or i}-{np.dtype(dt).name}")
            for name, cases in table.items() for i, (cid, _) in enumerate(cases)
            for dt in DTYPES]


@pytest.mark.parametrize("name", sorted(_public_classes(Layer)))
def test_every_public_layer_has_a_contract_case(name):
    assert name in LAYER_CASES, f"public layer {name} has no case in LAYER_CASES"


@pytest.mark.parametrize("name", sorted(_public_classes(LearningMachine)))
def test_every_public_machine_has_a_contract_case(name):
    assert name in MACHINE_CASES, f"public learning machine {name} has no case in MACHINE_CASES"


@pytest.mark.parametrize("name, i, dtype", _cases(LAYER_CASES))
def test_check_layer_passes_on_library_layers(name, i, dtype):
    layer, x, kwargs = LAYER_CASES[name][i][1](dtype)
    check_layer(layer, x, rng=0, **kwargs)


@pytest.mark.parametrize("name, i, dtype", _cases(MACHINE_CASES))
def test_check_learning_machine_passes_on_library_machines(name, i, dtype):
    machine, kwargs = MACHINE_CASES[name][i][1](dtype)
    x = _x(dtype, rows=8, seed=1)
    n_out = machine.n_out
    t = np.random.default_rng(2).standard_normal((8, n_out)).astype(dtype)
    check_learning_machine(machine, x, t, **kwargs)


# ---- the checks fail on layers and machines that break the contract -----------------

class _Scale(Scale):
    """y = x * s (the docs' example layer, with scales that are not all 1); subclasses
    below break one rule each."""

    def __init__(self, n=D_IN, dtype=np.float64):
        super().__init__(n, dtype)
        self.params["s"][:] = np.linspace(0.5, 1.5, n)


class _WrongVjpX(_Scale):
    def vjp_x(self, x, y, gy, state=None):
        return gy * self.params["s"] * 1.001     # 0.1 % off


class _WrongVjpParams(_Scale):
    def vjp_params(self, x, y, gy, state=None, out=None):
        return {"s": (gy * x).sum(axis=0) + 1e-3}


class _ModifiesInputInForward(_Scale):
    def forward(self, x, state=None):
        x *= 1.0 + 1e-12                         # in place: the caller's x changes
        return x * self.params["s"]


class _ModifiesGyInVjp(_Scale):
    def vjp_x(self, x, y, gy, state=None):
        gy *= self.params["s"]
        return gy


class _WrongKeys(_Scale):
    def vjp_params(self, x, y, gy, state=None, out=None):
        return {"scale": (gy * x).sum(axis=0)}


class _Upcasts(_Scale):
    def forward(self, x, state=None):
        return x.astype(np.float64) * self.params["s"]


class _WrongShapeVjpX(_Scale):
    def vjp_x(self, x, y, gy, state=None):
        return (gy * self.params["s"])[:, :-1]


def test_check_layer_passes_on_the_docs_example_layer():
    for dt in DTYPES:
        check_layer(_Scale(dtype=dt), rng=0)


@pytest.mark.parametrize("layer, match", [
    (_WrongVjpX(), r"check_layer_vjp_finite_differences: vjp_x against central differences "
                   r"differs by"),
    (_WrongVjpParams(), r"vjp_params\['s'\] against central differences differs by"),
    (_WrongVjpX(dtype=np.float32), r"check_layer_vjp_finite_differences: vjp_x"),
    (_ModifiesInputInForward(), r"check_layer_inputs_untouched: forward\(x, state\): x "
                                r"modified in place"),
    (_ModifiesGyInVjp(), r"check_layer_inputs_untouched: .*vjp_x.*modified in place"),
    (_WrongKeys(), r"check_layer_vjp_params_keys: vjp_params keys differ from params keys: "
                   r"missing \['s'\], unexpected \['scale'\]"),
    (_Upcasts(dtype=np.float32), r"check_layer_shapes_and_dtypes: forward\(x\) has dtype "
                                 r"float64, expected float32"),
    (_WrongShapeVjpX(), r"check_layer_shapes_and_dtypes: vjp_x\(x, y, gy\) has shape"),
], ids=lambda v: type(v).__name__ if isinstance(v, Layer) else "")
def test_check_layer_fails_on_a_broken_layer(layer, match):
    with pytest.raises(AssertionError, match=match):
        check_layer(layer, rng=0)


def test_check_layer_reports_the_size_of_a_vjp_error():
    with pytest.raises(AssertionError) as err:
        check_layer(_WrongVjpX(), rng=0)
    msg = str(err.value)
    assert "tolerance" in msg and "rtol 1e-05" in msg
    # a 0.1 % error on O(1) values is far outside the default tolerance ...
    size = float(msg.split("differs by ")[1].split()[0])
    assert 1e-4 < size < 1e-2
    # ... and inside a loose one: the tolerance is honoured
    check_layer(_WrongVjpX(), rng=0, rtol=1e-2)


def test_check_layer_leaves_the_layer_and_x_unchanged():
    layer = zk.FracExpLinear(D_IN, D_OUT, n_in_init=0.3, rng=0)
    before = {k: v.copy() for k, v in layer.params.items()}
    x = _x(np.float64)
    x0 = x.copy()
    check_layer(layer, x, rng=0)
    assert all(np.array_equal(before[k], v) for k, v in layer.params.items())
    assert np.array_equal(x, x0)


def test_check_layer_rejects_bad_arguments():
    with pytest.raises(TypeError, match="layer"):
        check_layer(zk.GradLearner(zk.Tanh()))
    with pytest.raises(TypeError, match="x: dtype float32 differs"):
        check_layer(_Scale(), _x(np.float32))
    with pytest.raises(ValueError, match=r"x: expected a numpy array \(N, n_in\)"):
        check_layer(_Scale(), np.ones(4))


class _Delta(DeltaRule):
    """Widrow-Hoff on a Linear layer (the docs' example learner), its step applying an
    accumulated dW once; subclasses below break one rule each."""

    def __init__(self, dtype=np.float64, lr=0.05):
        super().__init__(_lin(dtype), lr)

    def step(self, x, t, state):
        dW = state.get("dW")
        if dW is not None:
            self.layer.params["W"] += self.lr * dW
            state.dW = None


class _StepsInAccumulate(_Delta):
    def accumulate(self, x, t, state):
        self.layer.params["W"] += self.lr * (x.T @ (t - state.y))


class _ModifiesTarget(_Delta):
    def accumulate(self, x, t, state):
        t -= state.y                               # in place: the caller's t changes
        state.dW = x.T @ t


class _GlobalRandom(_Delta):
    def step_x(self, x, t, state):
        return x + 0.01 * np.random.standard_normal(x.shape)   # not through rng=


class _WrongDtypeTarget(_Delta):
    def step_x(self, x, t, state):
        return (x + (t - state.y) @ self.layer.W.T).astype(np.float64)


class _NoStateY(_Delta):
    def forward(self, x, state=None):
        return self.layer.forward(x)


class _UnsavedCounter(_Delta):
    """Keeps a learning-rate schedule outside the state dict: save/load loses it."""

    def __init__(self):
        super().__init__()
        self.lr_now = np.array(1.0)

    def step(self, x, t, state):
        super().step(x, t, state)
        self.lr_now *= 0.5

    def forward(self, x, state=None):
        y = super().forward(x, state) * self.lr_now
        if state is not None:
            state.y = y
        return y


def test_check_learning_machine_passes_on_the_docs_example_learner():
    for dt in DTYPES:
        x = _x(dt, rows=8)
        t = np.random.default_rng(1).standard_normal((8, D_OUT)).astype(dt)
        check_learning_machine(_Delta(dt), x, t)


@pytest.mark.parametrize("machine, match", [
    (_StepsInAccumulate(), r"check_machine_protocol: accumulate changed parameters "
                           r"\['W'\]"),
    (_ModifiesTarget(), r"check_machine_protocol: the learning methods: the user's array "
                        r"modified in place: \['t'\]"),
    (_GlobalRandom(), r"check_machine_deterministic: step_x differs between two identical "
                      r"copies"),
    (_WrongDtypeTarget(np.float32), r"step_x\(x, t, state\) \(the input target\) has dtype "
                                    r"float64, expected float32"),
    (_NoStateY(), r"check_machine_forward: forward\(x, state\) did not record state.y"),
    (_UnsavedCounter(), r"check_machine_save_load: forward\(x\) after load differs"),
    (_Delta(lr=0.0), r"accumulate \+ step changed no parameter"),
], ids=lambda v: type(v).__name__ if isinstance(v, LearningMachine) else "")
def test_check_learning_machine_fails_on_a_broken_machine(machine, match):
    dt = machine.dtype
    x = _x(dt, rows=8)
    t = np.random.default_rng(1).standard_normal((8, D_OUT)).astype(dt)
    with pytest.raises(AssertionError, match=match):
        check_learning_machine(machine, x, t)


def test_check_learning_machine_frozen_parameters():
    x = _x(np.float64, rows=8)
    t = np.random.default_rng(1).standard_normal((8, D_OUT))
    with pytest.raises(AssertionError, match=r"frozen parameters changed: \['W'\]"):
        check_learning_machine(zk.GradLearner(_lin(np.float64)), x, t, frozen=["W"])
    frozen_b = zk.GradLearner(_lin(np.float64), zk.SGD(lr=0.1), param_options={"b": {"lr": 0}})
    check_learning_machine(frozen_b, x, t, frozen=["b"])

"""T4 (oracle synthesiser = BPTT), baselines against finite differences, T8 boundaries,
modes, dtypes, the framework readout adapter and bad input."""
import numpy as np
import pytest

from zenkai_np.bplambda import (DNIRNN, BPLambdaRNN, TruncatedBPTTRNN, VanillaRNN,
                                future_gradients, windows)

from bplambda_reference import fd_grads, fd_window_grads, sequence_quantities

ALL = ("W_ih", "W_hh", "b", "W_out", "b_out")


def _setup(activation="tanh", T=6, B=3, H=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    model = VanillaRNN(2, H, 2, activation=activation, rng=rng, dtype=dtype)
    X = rng.standard_normal((B, T, 2)).astype(dtype)
    Y = rng.standard_normal((B, T, 2)).astype(dtype)
    mask = rng.random(T) < 0.6
    mask[-1] = True
    return model, X, Y, mask, rng


def _assert_grads(grads, ref, rtol=1e-6):
    for k, v in ref.items():
        np.testing.assert_allclose(grads[k], v, rtol=rtol, atol=1e-8, err_msg=k)


@pytest.mark.parametrize("activation", ["identity", "tanh", "sigmoid"])
def test_T4_oracle_synthesiser_gives_full_bptt(activation):
    model, X, Y, mask, _ = _setup(activation)
    L = BPLambdaRNN(model, gamma=1.0, lam=1.0)
    h, l, g, J = sequence_quantities(model, L.synth, X, Y, mask)
    oracle = future_gradients(l, J)                   # ∂L_{>t}/∂h_t
    grads, _ = L.gradients(X, Y, mask, g_override=oracle)
    _assert_grads(grads, fd_grads(model, X, Y, mask, ALL))


def test_full_bptt_matches_finite_differences():
    model, X, Y, mask, _ = _setup("tanh", T=7)
    grads, _ = TruncatedBPTTRNN(model).gradients(X, Y, mask)
    _assert_grads(grads, fd_grads(model, X, Y, mask, ALL))


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_truncated_bptt_matches_finite_differences_of_windowed_objective(n):
    model, X, Y, mask, _ = _setup("tanh", T=7)
    wins = windows(7, n)
    assert wins[0][0] == 0 and wins[-1][1] == 7
    assert all(e - s == n for s, e in wins[1:]) and wins[0][1] - wins[0][0] in (7 % n or n, n)
    grads, _ = TruncatedBPTTRNN(model, truncation=n).gradients(X, Y, mask)
    _assert_grads(grads, fd_window_grads(model, X, Y, mask, ALL, wins))


@pytest.mark.parametrize("sg_last_window", [True, False])
def test_dni_rnn_and_synthesiser_gradients_match_finite_differences(sg_last_window):
    model, X, Y, mask, rng = _setup("tanh", T=7)
    learner = DNIRNN(model, truncation=3, sg_weight=0.7, sg_last_window=sg_last_window)
    for v in learner.synth.params.values():
        v[...] = 0.3 * rng.standard_normal(v.shape)
    grads, _ = learner.gradients(X, Y, mask)
    wins = windows(7, 3)                                  # [(0,1), (1,4), (4,7)]
    h, _, _ = model.run(X)
    # the authors inject at every window end, the last included (h_{T-1}); the
    # zero-last variant puts nothing there
    inject = [0.7 * learner.synth.predict(h[e - 1])
              if k < len(wins) - 1 or sg_last_window else None
              for k, (s, e) in enumerate(wins)]
    _assert_grads(grads, fd_window_grads(model, X, Y, mask, ALL, wins, inject))
    # synthesiser: regress g(h_{s-1}) on dObjective_k/dh_{s-1}, found by differences
    B, eps = X.shape[0], 1e-6
    p = model.params
    W_ref = np.zeros_like(learner.synth.params["W"])
    b_ref = np.zeros_like(learner.synth.params["b"])
    for k, (s, e) in enumerate(wins):
        if s == 0:
            continue

        def window_obj(h_in, k=k, s=s, e=e):
            hp, L = h_in, 0.0
            for t in range(s, e):
                hp, _ = model.cell(X[:, t], hp)
                if mask[t]:
                    L += np.sum((hp @ p["W_out"] + p["b_out"] - Y[:, t]) ** 2) / (2 * B)
            return L + (np.sum(inject[k] * hp) if inject[k] is not None else 0.0)

        target = np.zeros_like(h[s - 1])
        for idx in np.ndindex(target.shape):
            hp = h[s - 1].copy()
            hp[idx] += eps
            lp = window_obj(hp)
            hp[idx] -= 2 * eps
            target[idx] = (lp - window_obj(hp)) / (2 * eps)
        r = (learner.synth.predict(h[s - 1]) - target) / B
        W_ref += h[s - 1].T @ r
        b_ref += r.sum(axis=0)
    np.testing.assert_allclose(grads["synth_W"], W_ref, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(grads["synth_b"], b_ref, rtol=1e-6, atol=1e-9)


class TestT8Boundaries:
    def test_no_synthesiser_update_from_a_single_step(self):
        model, X, Y, mask, rng = _setup(T=1)
        L = BPLambdaRNN(model, clip=None)
        L.synth.params["W"][...] = rng.standard_normal((4, 4))
        grads, _ = L.gradients(X, Y, mask)
        assert not grads["synth_W"].any() and not grads["synth_b"].any()

    def test_synthetic_gradient_is_zero_at_the_last_step(self):
        model, X, Y, mask, rng = _setup(T=5)
        L = BPLambdaRNN(model)
        L.synth.params["b"][...] = 1.0
        _, info = L.gradients(X, Y, mask, record=True)
        assert not info["g"][-1].any()
        np.testing.assert_array_equal(info["LS"][-1], info["l"][-1])
        np.testing.assert_allclose(info["g"][0], L.synth.predict(model.run(X)[0][0]))

    def test_traces_reset_at_every_sequence(self):
        model, X, Y, mask, rng = _setup(T=6)
        X2, Y2 = X[:, ::-1].copy(), Y[:, ::-1].copy()
        L = BPLambdaRNN(model, gamma=0.9, lam=0.8, clip=None)
        L.synth.params["W"][...] = 0.2 * rng.standard_normal((4, 4))
        L.gradients(X, Y, mask)
        second, _ = L.gradients(X2, Y2, mask)
        fresh = BPLambdaRNN(model, gamma=0.9, lam=0.8, clip=None)
        fresh.synth.params["W"][...] = L.synth.params["W"]
        ref, _ = fresh.gradients(X2, Y2, mask)
        for k in ref:
            np.testing.assert_array_equal(second[k], ref[k])


def test_update_per_step_matches_manual_online_schedule():
    model, X, Y, mask, rng = _setup("tanh", T=4)
    lr = 1e-2
    L = BPLambdaRNN(model, gamma=0.9, lam=0.6, clip=None, update="step", lr_rnn=0.0,
                    lr_readout=0.0, lr_synth=lr)
    L.synth.params["W"][...] = 0.2 * rng.standard_normal((4, 4))
    # manual: after each step t >= 1 an Adam step with -mean_b delta_{t-1} E_{t-1}
    Wsyn, bsyn = L.synth.params["W"].copy(), L.synth.params["b"].copy()
    ref = {"W": Wsyn, "b": bsyn}
    opt = _AdamReference(ref, lr)
    h, fp, yhat = model.run(X)
    B, T = X.shape[0], X.shape[1]
    e = (yhat - Y.transpose(1, 0, 2)) / B * mask[:, None, None]
    l = e @ model.params["W_out"].T
    J = model.jacobians(fp)
    u = np.concatenate([h, np.ones((T, B, 1))], axis=2)
    E = np.zeros((B, 4, 4, 5))                       # per-sample (i, j, p) traces
    g_prev = h[0] @ Wsyn + bsyn
    for t in range(1, T):
        g = np.zeros((B, 4)) if t == T - 1 else h[t] @ Wsyn + bsyn
        delta = np.einsum("bi,bij->bj", l[t] + 0.9 * g, J[t]) - g_prev
        E = 0.9 * 0.6 * np.einsum("bil,bljp->bijp", J[t - 1], E)
        for i in range(4):
            E[:, i, i, :] += u[t - 1]
        d = np.einsum("bi,bijp->jp", delta, E) / B
        opt.step({"W": -d[:, :4].T, "b": -d[:, 4]})
        g_prev = np.zeros((B, 4)) if t == T - 1 else h[t] @ Wsyn + bsyn
    L.train_batch(X, Y, mask)
    np.testing.assert_allclose(L.synth.params["W"], Wsyn, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(L.synth.params["b"], bsyn, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("cls", [BPLambdaRNN, TruncatedBPTTRNN, DNIRNN])
def test_float32_stays_float32_and_agrees_with_float64(cls):
    m64, X, Y, mask, _ = _setup("tanh", seed=3)
    m32 = VanillaRNN(2, 4, 2, activation="tanh", dtype=np.float32, rng=0)
    for k in m32.params:
        m32.params[k][...] = m64.params[k]
    g64, _ = cls(m64).gradients(X, Y, mask)
    g32, _ = cls(m32).gradients(X.astype(np.float32), Y.astype(np.float32), mask)
    for k in g64:
        assert g32[k].dtype == np.float32, k
        np.testing.assert_allclose(g32[k], g64[k], rtol=1e-4, atol=1e-5, err_msg=k)


def test_trace_threads_do_not_change_the_learner():
    model, X, Y, mask, rng = _setup("tanh", T=5, H=12, B=4)
    outs = []
    for nt in (1, 2):
        L = BPLambdaRNN(model, gamma=0.9, lam=0.9, n_threads=nt)
        L.synth.params["W"][...] = 0.1
        outs.append(L.gradients(X, Y, mask)[0])
    for k in outs[0]:
        np.testing.assert_array_equal(outs[0][k], outs[1][k])


def test_framework_readout_machine_reproduces_builtin_readout():
    from zenkai_np.framework import Adam, GradLearner, Linear, LeastSquaresLearner
    model, X, Y, _, _ = _setup("tanh", T=5)
    mask = np.zeros(5, bool)
    mask[-1] = True
    ref_model = VanillaRNN(2, 4, 2, activation="tanh", rng=0)
    for k in ref_model.params:
        ref_model.params[k][...] = model.params[k]
    layer = Linear(4, 2)
    layer.params["W"][...] = model.params["W_out"]
    layer.params["b"][...] = model.params["b_out"]
    readout = GradLearner(layer, Adam(lr=1e-2, beta1=0.9, beta2=0.98, eps=1e-9))
    L = BPLambdaRNN(model, lr_rnn=1e-2, lr_readout=1e-2, readout=readout)
    R = BPLambdaRNN(ref_model, lr_rnn=1e-2, lr_readout=1e-2)
    for _ in range(3):
        assert L.train_batch(X, Y, mask) == pytest.approx(R.train_batch(X, Y, mask), rel=1e-12)
    np.testing.assert_allclose(layer.params["W"], ref_model.params["W_out"], rtol=1e-12)
    np.testing.assert_allclose(model.params["W_hh"], ref_model.params["W_hh"], rtol=1e-12)
    # any learner works as readout, e.g. least squares onto the framework's output
    # target t = y_hat - dL/dy_hat = y_hat - (y_hat - y)/B
    model8, X8, Y8, _, _ = _setup("tanh", T=5, B=8)
    ls = LeastSquaresLearner(Linear(4, 2, rng=2), alpha=1e-9, fit_input=False)
    yhat0 = ls.predict(model8.run(X8)[0][-1])
    L2 = BPLambdaRNN(model8, lr_rnn=0.0, readout=ls)
    L2.train_batch(X8, Y8, mask)
    h = model8.run(X8)[0][-1]
    W, b = ls.layer.params["W"], ls.layer.params["b"]
    design = np.hstack([h, np.ones((8, 1))])
    coef = np.linalg.lstsq(design, yhat0 - (yhat0 - Y8[:, -1]) / 8, rcond=None)[0]
    np.testing.assert_allclose(np.vstack([W, b]), coef, rtol=1e-4, atol=1e-6)


class TestBadInput:
    def test_sequences(self):
        model, X, Y, mask, _ = _setup()
        L = BPLambdaRNN(model)
        with pytest.raises(ValueError, match="X: expected a 3D"):
            L.gradients(X[0], Y, mask)
        with pytest.raises(ValueError, match="X, Y"):
            L.gradients(X, Y[:, :3], mask)
        with pytest.raises(ValueError, match="Y: expected 2 features"):
            L.gradients(X, Y[:, :, :1], mask)
        Xn = X.copy()
        Xn[0, 0, 0] = np.nan
        with pytest.raises(ValueError, match="X: contains NaN"):
            L.gradients(Xn, Y, mask)
        with pytest.raises(TypeError, match="X: dtype float32"):
            L.gradients(X.astype(np.float32), Y, mask)
        with pytest.raises(ValueError, match="mask"):
            L.gradients(X, Y, mask[:2])

    def test_hyper_parameters(self):
        model = VanillaRNN(2, 3, 1, rng=0)
        with pytest.raises(ValueError, match="lam"):
            BPLambdaRNN(model, lam=1.5)
        with pytest.raises(ValueError, match="update"):
            BPLambdaRNN(model, update="epoch")
        with pytest.raises(ValueError, match="lr_synth"):
            BPLambdaRNN(model, lr_synth=-1.0)
        with pytest.raises(ValueError, match="activation"):
            VanillaRNN(2, 3, 1, activation="gelu")
        with pytest.raises(ValueError, match="n_threads"):
            BPLambdaRNN(model, n_threads=0)
        with pytest.raises(TypeError, match="readout"):
            BPLambdaRNN(model, readout=object())

    def test_unstable_recurrence_raises_a_clear_error(self):
        model = VanillaRNN(1, 3, 1, dtype=np.float32, rng=0)
        model.params["W_hh"][...] = 40 * np.eye(3, dtype=np.float32)
        X = np.ones((1, 40, 1), np.float32) * 1e-3
        Y = np.zeros((1, 40, 1), np.float32)
        L = BPLambdaRNN(model)
        L.synth.params["b"][...] = 1.0
        with np.errstate(over="ignore", invalid="ignore"), \
                pytest.raises(FloatingPointError, match="trace diverged"):
            L.gradients(X, Y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_and_numpy_trace_backends_agree(dtype):
    model, X, Y, mask, rng = _setup("relu", T=6, H=7, B=3, dtype=dtype)
    outs = []
    for backend in ("compiled", "numpy"):
        L = BPLambdaRNN(model, gamma=0.9, lam=0.8, clip=None, backend=backend)
        L.synth.params["W"][...] = 0.2
        outs.append(L.gradients(X, Y, mask)[0])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for k in outs[0]:
        np.testing.assert_allclose(outs[0][k], outs[1][k], rtol=tol, atol=tol, err_msg=k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["identity", "tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_whole_sequence_path_matches_the_step_by_step_schedule(dtype, activation, backend):
    # update="sequence" runs the trace steps in one compiled call (or the NumPy
    # loop) and everything else for all steps at once; the step-by-step
    # schedule of the module docstring is the reference. clip 0.05 is active
    # on most steps (the synthesiser is not small), None checks the raw sums.
    model, X, Y, mask, rng = _setup(activation, T=7, H=6, B=3, dtype=dtype, seed=5)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    for gamma, lam, clip in ((1.0, 1.0, 0.05), (0.9, 0.6, None), (0.8, 0.0, 0.05)):
        outs = []
        for stepwise in (False, True):
            L = BPLambdaRNN(model, gamma=gamma, lam=lam, clip=clip, backend=backend)
            L.synth.params["W"][...] = 0.3 * np.random.default_rng(1).standard_normal((6, 6))
            L.synth.params["b"][...] = 0.1
            L._stepwise = stepwise
            outs.append(L.gradients(X, Y, mask, record=True))
        (g_seq, i_seq), (g_ref, i_ref) = outs
        for k in g_ref:
            assert g_seq[k].dtype == dtype, k
            scale = max(np.abs(g_ref[k]).max(), 1e-30)
            assert np.abs(g_seq[k] - g_ref[k]).max() <= tol * scale, (k, gamma, lam, clip)
        for k in ("LS", "g", "l", "delta"):
            np.testing.assert_allclose(i_seq[k], i_ref[k], rtol=tol, atol=tol, err_msg=k)
        assert i_seq["mse"] == pytest.approx(i_ref["mse"], rel=tol)


def test_whole_sequence_path_is_identical_for_any_thread_count():
    # (40, 6, 41)-sized traces run the kernel's OpenMP tiles with 2 threads
    model, X, Y, mask, _ = _setup("tanh", T=5, H=40, B=6, seed=2)
    outs = []
    for nt in (1, 2, 3):
        L = BPLambdaRNN(model, gamma=0.9, lam=0.9, clip=0.01, n_threads=nt)
        L.synth.params["W"][...] = 0.01
        outs.append(L.gradients(X, Y, mask)[0])
    for o in outs[1:]:
        for k in o:
            np.testing.assert_array_equal(o[k], outs[0][k], err_msg=k)


class _AdamReference:
    """PyTorch's Adam, written out per parameter (β = (0.9, 0.98), ε = 1e-9)."""

    def __init__(self, params, lr):
        self.params, self.lr, self.t = params, lr, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads):
        self.t += 1
        t = self.t
        for k, g in grads.items():
            self.m[k] = 0.9 * self.m[k] + (1 - 0.9) * g
            self.v[k] = 0.98 * self.v[k] + (1 - 0.98) * g * g
            self.params[k] -= (self.lr / (1 - 0.9 ** t) * self.m[k]
                               / (np.sqrt(self.v[k] / (1 - 0.98 ** t)) + 1e-9))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_learner_adam_groups_are_pytorchs_formula_with_one_lr_per_group(dtype):
    rng = np.random.default_rng(4)
    model = VanillaRNN(2, 4, 2, activation="tanh", dtype=dtype, rng=0)
    lrs = {"lr_rnn": 1e-3, "lr_readout": 3e-2, "lr_synth": 7e-4}
    L = BPLambdaRNN(model, **lrs)
    group = {k: "lr_rnn" for k in ("W_ih", "W_hh", "b")}
    group.update({"W_out": "lr_readout", "b_out": "lr_readout",
                  "synth_W": "lr_synth", "synth_b": "lr_synth"})
    refs = {k: _AdamReference({k: L.params[k].astype(np.float64)}, lrs[group[k]])
            for k in L.params}
    for _ in range(5):
        grads = {k: rng.standard_normal(v.shape).astype(dtype) for k, v in L.params.items()}
        L.apply(grads)
        for k, g in grads.items():
            refs[k].step({k: g.astype(np.float64)})
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for k, v in L.params.items():
        assert v.dtype == dtype
        np.testing.assert_allclose(v, refs[k].params[k], rtol=tol, atol=tol, err_msg=k)
    # a frozen group (lr 0) never moves
    frozen = BPLambdaRNN(VanillaRNN(2, 4, 2, dtype=dtype, rng=1), lr_rnn=0.0, lr_readout=0.0)
    before = {k: v.copy() for k, v in frozen.params.items()}
    frozen.apply({k: np.ones_like(v) for k, v in frozen.params.items()})
    for k in ("W_ih", "W_hh", "b", "W_out", "b_out"):
        np.testing.assert_array_equal(frozen.params[k], before[k], err_msg=k)
    assert not np.array_equal(frozen.params["synth_W"], before["synth_W"])

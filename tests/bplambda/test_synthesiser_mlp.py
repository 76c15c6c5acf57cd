"""The one-hidden-layer synthesiser: ∂g/∂θ against finite differences, and its
traces (forward view = backward view, T1) in BP(λ) and DNI."""
import numpy as np
import pytest
from finite_differences import central_differences

from zenkai_np.bplambda import (
    DNIRNN,
    BPLambdaRNN,
    MLPSynthesiser,
    VanillaRNN,
    lambda_targets,
)


def _synth(rng, D=4, S=4, K=5):
    s = MLPSynthesiser(D, S, n_hidden=K, rng=rng)
    for v in s.params.values():            # non-zero last layer, mixed relu signs
        v[...] = rng.standard_normal(v.shape)
    return s


def test_parameter_jacobian_matches_finite_differences():
    rng = np.random.default_rng(0)
    s = _synth(rng)
    u = rng.standard_normal((3, 4))
    Jp = s.jacobian_params(u)                              # (B, S, P)
    o = 0
    for k in s.names:
        p = s.params[k]
        for b in range(3):
            for i in range(4):
                fd = central_differences(lambda b=b, i=i: s.predict(u)[b, i], p)
                np.testing.assert_allclose(Jp[b, i, o:o + p.size], fd.ravel(), rtol=1e-7,
                                           atol=1e-9, err_msg=k)
        o += p.size
    assert o == s.n_params


def test_last_layer_starts_at_zero_and_first_has_pytorch_linear_init():
    s = MLPSynthesiser(30, 30, rng=0)
    assert not s.params["W2"].any() and not s.params["b2"].any()
    assert s.params["W1"].shape == (30, 50)
    assert np.abs(s.params["W1"]).max() <= 1 / np.sqrt(30)
    np.testing.assert_array_equal(s.predict(np.ones((2, 30))), 0)


@pytest.mark.parametrize("activation", ["identity", "tanh"])
@pytest.mark.parametrize("gamma,lam", [(1.0, 1.0), (0.9, 0.6), (0.8, 0.0)])
def test_T1_forward_view_equals_backward_view_for_the_mlp_synthesiser(activation, gamma,
                                                                         lam):
    rng = np.random.default_rng(1)
    B, T, H = 3, 6, 4
    model = VanillaRNN(2, H, 2, activation=activation, rng=2)
    model.params["W_hh"] *= 0.8
    s = _synth(rng, D=H, S=H)
    X = rng.standard_normal((B, T, 2))
    Y = rng.standard_normal((B, T, 2))
    mask = np.array([False, True, False, True, False, True])
    L = BPLambdaRNN(model, gamma=gamma, lam=lam, clip=None, synthesiser=s)
    grads, _ = L.gradients(X, Y, mask)
    # forward view: Σ_t mean_b (G^λ_t − g_t) ∂g(h_t)/∂θ, G^λ by the backward recursion
    h, fp, yhat = model.run(X)
    e = (yhat - Y.transpose(1, 0, 2)) / B * mask[:, None, None]
    l = e @ model.params["W_out"].T
    g = s.predict(h)
    g[T - 1] = 0
    G = lambda_targets(l, g, model.jacobians(fp), gamma, lam)
    ref = sum(np.einsum("bi,bip->p", G[t] - g[t], s.jacobian_params(h[t])) / B
              for t in range(T - 1))
    for k, v in s.unflatten(ref).items():
        np.testing.assert_allclose(grads["synth_" + k], -v, rtol=1e-12, atol=1e-12,
                                   err_msg=k)


def test_dni_regresses_the_mlp_on_the_arriving_gradient():
    rng = np.random.default_rng(3)
    model = VanillaRNN(2, 4, 2, activation="tanh", rng=0)
    s = _synth(rng)
    X, Y = rng.standard_normal((3, 5, 2)), rng.standard_normal((3, 5, 2))
    L = DNIRNN(model, truncation=2, sg_weight=0.5, synthesiser=s)
    grads, _ = L.gradients(X, Y)
    # the regression gradient of one window start against finite differences of its loss
    u, tgt = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    rg = s.regression_grads(u, tgt)
    for k in s.names:
        fd = central_differences(lambda: 0.5 * np.sum((s.predict(u) - tgt) ** 2) / 3,
                                 s.params[k])
        np.testing.assert_allclose(rg[k], fd, rtol=1e-6, atol=1e-7, err_msg=k)
    assert all(np.isfinite(grads["synth_" + k]).all() for k in s.names)


def test_bad_synthesiser_arguments():
    model = VanillaRNN(2, 4, 2, rng=0)
    with pytest.raises(ValueError, match="synthesiser"):
        BPLambdaRNN(model, synthesiser=MLPSynthesiser(5, 4))
    with pytest.raises(TypeError, match="synthesiser"):
        BPLambdaRNN(model, synthesiser="mlp")
    with pytest.raises(ValueError, match="update"):
        BPLambdaRNN(model, synthesiser=MLPSynthesiser(4, 4), update="step")
    with pytest.raises(ValueError, match="n_hidden"):
        MLPSynthesiser(4, 4, n_hidden=0)

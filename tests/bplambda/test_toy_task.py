"""T6: on the toy task a frozen linear RNN's synthesiser, trained with λ = γ = 1,
converges to the BPTT future gradient; the line-drawing task itself."""
import numpy as np

from zenkai_np.bplambda import BPLambdaRNN, VanillaRNN, future_gradients
from zenkai_np.bplambda.tasks import LineDrawTask


def _trained_alignment(lam):
    task = LineDrawTask(6, n_in=4)
    model = VanillaRNN(4, 8, 2, rng=3)
    learner = BPLambdaRNN(model, gamma=1.0, lam=lam, lr_rnn=0.0, lr_readout=0.0,
                          lr_synth=3e-3, n_threads=1)
    rng = np.random.default_rng(0)
    learner.fit(task, n_iter=2000, batch_size=2, rng=rng)
    X, Y, mask = task.sample(2, rng)
    _, info = learner.gradients(X, Y, mask, record=True)
    h, fp, yhat = model.run(X)
    e = (yhat - Y.transpose(1, 0, 2)) / 2 * mask[:, None, None]
    F = future_gradients(e @ model.params["W_out"].T, model.jacobians(fp))
    g = info["g"]
    return np.array([np.sum(g[t] * F[t]) / np.linalg.norm(g[t]) / np.linalg.norm(F[t])
                     for t in range(5)])


def test_T6_lambda_one_synthesiser_converges_to_bptt_future_gradient():
    cos1 = _trained_alignment(1.0)
    cos0 = _trained_alignment(0.0)
    assert cos1.min() > 0.99
    assert cos1.min() > cos0.min()     # the biased TD(0) target aligns worse at equal budget


def test_line_draw_task_batches():
    task = LineDrawTask(7, n_points=4)
    X, Y, mask = task.sample(50, np.random.default_rng(1), dtype=np.float32)
    assert X.shape == (50, 7, 10) and Y.shape == (50, 7, 2) and X.dtype == np.float32
    assert not X[:, 1:].any() and not Y[:, :-1].any()
    np.testing.assert_allclose(np.linalg.norm(Y[:, -1], axis=1), 1.0, rtol=1e-6)
    assert mask.tolist() == [False] * 6 + [True]
    assert set(map(tuple, X[:, 0])) <= set(map(tuple, task.patterns.astype(np.float32)))
    # the same pattern always comes with the same target
    for k in range(4):
        sel = (X[:, 0] == task.patterns[k]).all(axis=1)
        np.testing.assert_allclose(Y[sel, -1], np.broadcast_to(task.points[k], (sel.sum(), 2)),
                                   rtol=1e-6)

"""Shared references for the BP(λ) tests: the loss, finite differences, sequence quantities."""
import numpy as np
from finite_differences import central_differences


def total_loss(model, X, Y, mask):
    """L = Σ_{t ∈ mask} 1/(2B) Σ_b ‖ŷ_t − y_t‖² (float64)."""
    yhat = model.predict(X)
    B = X.shape[0]
    return float(np.sum((yhat[:, mask] - Y[:, mask]) ** 2) / (2 * B))


def fd_grads(model, X, Y, mask, keys, eps=1e-6):
    """Central finite differences of total_loss for every entry of params[keys]."""
    return {k: central_differences(lambda: total_loss(model, X, Y, mask), model.params[k], eps)
            for k in keys}


def fd_future_gradient(model, X, Y, mask, t, eps=1e-6):
    """∂L_{>t}/∂h_t by central differences: perturb h_t and rerun steps t+1..T−1."""
    h, _, _ = model.run(X)
    B, T, _ = X.shape
    p = model.params

    def future_loss(h_t):
        hp, L = h_t, 0.0
        for s in range(t + 1, T):
            hp, _ = model.cell(X[:, s], hp)
            if mask[s]:
                yh = hp @ p["W_out"] + p["b_out"]
                L += np.sum((yh - Y[:, s]) ** 2) / (2 * B)
        return L

    G = np.zeros_like(h[t])
    for idx in np.ndindex(G.shape):
        hp = h[t].copy()
        hp[idx] += eps
        lp = future_loss(hp)
        hp[idx] -= 2 * eps
        lm = future_loss(hp)
        G[idx] = (lp - lm) / (2 * eps)
    return G


def sequence_quantities(model, synth, X, Y, mask):
    """Time-major h, l (immediate loss gradients), g (synthesiser), J (explicit)."""
    h, fp, yhat = model.run(X)
    B = X.shape[0]
    e = (yhat - Y.transpose(1, 0, 2)) / B * mask[:, None, None]
    l = e @ model.params["W_out"].T
    g = synth.predict(h)
    J = model.jacobians(fp)
    return h, l, g, J


def fd_window_grads(model, X, Y, mask, keys, wins, inject=None, eps=1e-6):
    """Finite differences of the truncated objective: the states entering each window are
    held at their unperturbed values, and ``inject[k]`` (B, H) adds ⟨inject, h_{stop−1}⟩
    (a constant synthetic gradient at the window end) to window k."""
    h0, _, _ = model.run(X)
    B = X.shape[0]
    H = model.n_hidden

    def objective():
        p = model.params
        L = 0.0
        for k, (s, e) in enumerate(wins):
            hp = h0[s - 1] if s >= 1 else np.zeros((B, H))
            for t in range(s, e):
                hp, _ = model.cell(X[:, t], hp)
                if mask[t]:
                    L += np.sum((hp @ p["W_out"] + p["b_out"] - Y[:, t]) ** 2) / (2 * B)
            if inject is not None and inject[k] is not None:
                L += np.sum(inject[k] * hp)
        return L

    return {key: central_differences(objective, model.params[key], eps) for key in keys}


def lstm_sequence_quantities(model, X, Y, mask):
    """Time-major states [h, c], immediate loss gradients [l^h, 0] and explicit Jacobians
    of an LSTM (float64 loops, MSE readout)."""
    B, T, _ = X.shape
    H = model.n_hidden
    h = c = np.zeros((B, H))
    S, L, Js = [], [], []
    p = model.params
    for t in range(T):
        h, c, cache = model.cell(X[:, t], h, c)
        S.append(np.concatenate([h, c], axis=1))
        Js.append(model.jacobian(cache))
        e = (h @ p["W_out"] + p["b_out"] - Y[:, t]) / B * mask[t]
        L.append(np.concatenate([e @ p["W_out"].T, np.zeros((B, H))], axis=1))
    return np.array(S), np.array(L), np.array(Js)

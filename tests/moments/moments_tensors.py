"""Independent reference: the full Hermite tensor by the matching sum (docs/moments.md).

E[r He_ℓ(x)] entry (j_1..j_ℓ) = Σ over partial matchings P of the ℓ slots of
(−1)^{|P|} Π_{(a,b)∈P} δ_{j_a j_b} · (Σ_n r_n Π_{c unmatched} x_{n, j_c}) / N.
Built with einsum from the weighted moment tensors; d^ℓ entries, so small d only.
"""
from __future__ import annotations

import string

import numpy as np


def partial_matchings(slots):
    """All partial matchings of the slot tuple: list of (pairs, unmatched)."""
    if not slots:
        return [([], [])]
    first, rest = slots[0], slots[1:]
    out = []
    for pairs, single in partial_matchings(rest):
        out.append((pairs, [first] + single))
    for i, other in enumerate(rest):
        remaining = rest[:i] + rest[i + 1:]
        for pairs, single in partial_matchings(remaining):
            out.append(([(first, other)] + pairs, single))
    return out


def hermite_tensor_mean(X, r, order):
    """(1/N) Σ_n r_n He_ℓ(x_n) as a full (d,)*ℓ array."""
    X = np.asarray(X, float)
    r = np.asarray(r, float)
    N, d = X.shape
    letters = string.ascii_letters[:order]
    cache = {}

    def moment(u):
        if u not in cache:
            ops = [r]
            subs = ["z"]
            for c in range(u):
                ops.append(X)
                subs.append("z" + string.ascii_letters[26 + c])
            cache[u] = np.einsum(",".join(subs) + "->" + string.ascii_letters[26:26 + u],
                                 *ops) / N
        return cache[u]

    total = np.zeros((d,) * order)
    eye = np.eye(d)
    for pairs, single in partial_matchings(tuple(range(order))):
        ops = [moment(len(single))]
        subs = ["".join(letters[s] for s in single)]
        for a, b in pairs:
            ops.append(eye)
            subs.append(letters[a] + letters[b])
        term = np.einsum(",".join(subs) + "->" + letters, *ops)
        total += (-1) ** len(pairs) * term
    return total


def contract_leading(T, g, times):
    """T[g, …, g (times), ·, …]: contract the first ``times`` axes with g."""
    for _ in range(times):
        T = np.tensordot(g, T, axes=(0, 0))
    return T

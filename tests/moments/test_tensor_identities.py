"""The matching-sum Hermite tensor (the reference of the kernel tests) and its identities."""
import itertools

import numpy as np
import pytest

from zenkai_np.moments import hermite_e

from moments_tensors import contract_leading, hermite_tensor_mean



@pytest.mark.parametrize("order", [2, 3, 4, 5, 6])
def test_tensor_is_symmetric(order):
    rng = np.random.default_rng(order)
    x = rng.standard_normal((1, 3))
    T = hermite_tensor_mean(x, np.ones(1), order)
    for perm in itertools.islice(itertools.permutations(range(order)), 1, 24):
        np.testing.assert_allclose(np.transpose(T, perm), T, rtol=0, atol=1e-12 * abs(T).max())


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5, 6])
def test_full_contraction_with_unit_vector_is_univariate(order):
    rng = np.random.default_rng(10 + order)
    x = rng.standard_normal(4)
    u = rng.standard_normal(4)
    u /= np.linalg.norm(u)
    T = hermite_tensor_mean(x[None], np.ones(1), order)
    val = contract_leading(T, u, order)
    assert val == pytest.approx(float(hermite_e(order, u @ x)), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("order", [2, 3, 4, 5])
def test_recursion(order):
    # He_{ℓ+1}(x) = Sym(x ⊗ He_ℓ) − ℓ Sym(I ⊗ He_{ℓ−1}); compare as polynomials in v:
    # T_{ℓ+1}[v^{ℓ+1}] = <v,x> T_ℓ[v^ℓ] − ℓ |v|² T_{ℓ−1}[v^{ℓ−1}] for many v.
    rng = np.random.default_rng(20 + order)
    x = rng.standard_normal(3)
    Tm, T0, Tp = (hermite_tensor_mean(x[None], np.ones(1), o) for o in (order - 1, order,
                                                                         order + 1))
    for _ in range(5):
        v = rng.standard_normal(3)
        lhs = contract_leading(Tp, v, order + 1)
        rhs = (v @ x) * contract_leading(T0, v, order) - order * (v @ v) * contract_leading(
            Tm, v, order - 1)
        assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("order", [2, 4, 6])
def test_orthonormal_projection(order):
    # He_ℓ(x)[V, …, V] = He_ℓ(Vᵀx) for V with orthonormal columns.
    rng = np.random.default_rng(30 + order)
    X = rng.standard_normal((3, 4))
    r = rng.standard_normal(3)
    V, _ = np.linalg.qr(rng.standard_normal((4, 2)))
    T = hermite_tensor_mean(X, r, order)
    for _ in range(order):
        T = np.tensordot(T, V, axes=(0, 0))  # rotates axes: each pass projects one slot
    ref = hermite_tensor_mean(X @ V, r, order)
    np.testing.assert_allclose(T, ref, rtol=0, atol=1e-12 * max(1.0, abs(ref).max()))

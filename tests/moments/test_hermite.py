"""c_ℓ against quadrature and Parseval; Hermite recurrences against NumPy's HermiteE."""
import math

import numpy as np
import pytest
from numpy.polynomial import hermite_e as npherm
from scipy import integrate

from zenkai_np.moments import (hermite_e, hermite_scaled, relu_hermite_coefficient,
                               relu_hermite_coefficients, relu_orthonormal_coefficient)


@pytest.mark.parametrize("order", range(13))
def test_coefficient_matches_quadrature(order):
    coeffs = np.zeros(order + 1)
    coeffs[order] = 1.0

    def integrand(z):
        return z * npherm.hermeval(z, coeffs) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    ref, _ = integrate.quad(integrand, 0.0, 60.0, epsabs=1e-12, epsrel=1e-12, limit=400)
    assert abs(relu_hermite_coefficient(order) - ref) < 1e-10 * max(1.0, abs(ref))


def test_parseval_sum_of_orthonormal_coefficients():
    # Σ_{ℓ≤20000} c_ℓ²/ℓ! summed in logs is E[relu(z)²] = 1/2 up to the slow tail.
    total = 0.0
    for order in range(20001):
        total += relu_orthonormal_coefficient(order) ** 2
    assert abs(total - 0.5) < 1e-7


def test_coefficient_array_and_values():
    c = relu_hermite_coefficients(10)
    assert c.shape == (11,)
    assert np.all(c[3::2] == 0.0)
    # closed form for even orders via φ(0) He_{ℓ-2}(0)
    for order in range(2, 31):
        a = relu_orthonormal_coefficient(order)
        assert a == pytest.approx(relu_hermite_coefficient(order) / math.sqrt(
            math.factorial(order)), rel=1e-12, abs=0)
    for order in range(2, 11, 2):
        assert c[order] == pytest.approx(hermite_e(order - 2, 0.0) / math.sqrt(2 * math.pi),
                                         rel=1e-14)


@pytest.mark.parametrize("m", range(9))
def test_hermite_e_matches_numpy(m):
    s = np.linspace(-3, 3, 17)
    coeffs = np.zeros(m + 1)
    coeffs[m] = 1.0
    np.testing.assert_allclose(hermite_e(m, s), npherm.hermeval(s, coeffs), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("m", range(8))
def test_hermite_scaled_is_sigma_power_times_he(m):
    s = np.linspace(-2, 2, 9)
    sigma2 = 2.7
    sig = math.sqrt(sigma2)
    np.testing.assert_allclose(hermite_scaled(m, s, sigma2), sig ** m * hermite_e(m, s / sig),
                               rtol=1e-12, atol=1e-12)


def test_bad_order():
    with pytest.raises(ValueError, match="order"):
        relu_hermite_coefficient(-1)
    with pytest.raises(TypeError, match="order"):
        relu_hermite_coefficient(2.0)

"""Learning one-hidden-layer ReLU networks from Hermite moments (spec relu_moments.md).

* :func:`hermite_contract` (and the vector/scalar/ℓ = 2/quadratic-form variants):
  streaming contractions of empirical Hermite moment tensors (C++ kernel).
* :func:`relu_hermite_coefficient`: c_ℓ = E[relu(z) He_ℓ(z)].
"""
from .contract import (MAX_ORDER, hermite_contract, hermite_contract_scalar,
                       hermite_contract_vector, hermite_moment2, quadratic_form)
from .hermite import (hermite_e, hermite_scaled, relu_hermite_coefficient,
                      relu_hermite_coefficients, relu_orthonormal_coefficient)

__all__ = [
    "MAX_ORDER",
    "hermite_contract",
    "hermite_contract_scalar",
    "hermite_contract_vector",
    "hermite_e",
    "hermite_moment2",
    "hermite_scaled",
    "quadratic_form",
    "relu_hermite_coefficient",
    "relu_hermite_coefficients",
    "relu_orthonormal_coefficient",
]

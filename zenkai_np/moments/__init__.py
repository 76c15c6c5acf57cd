"""Learning one-hidden-layer ReLU networks from Hermite moments (docs/moments.md).

* :func:`hermite_contract` (and the vector/scalar/ℓ = 2/quadratic-form variants):
  streaming contractions of empirical Hermite moment tensors (C++ kernel;
  dask arrays are mapped over row chunks).
* :class:`ReLUMomentRegressor`: RC-learn, a scikit-learn-style estimator of
  f(x) = Σ λ_i relu(<u_i, x>) under Gaussian input.
* :class:`MomentReLULearner`: the same network as a framework learning machine,
  initialised by moments and then trained by any rule.
* :func:`make_teacher`, metrics and baselines for the experiments.
* :func:`relu_hermite_coefficient`: c_ℓ = E[relu(z) He_ℓ(z)].
"""
from .baselines import fit_random_init, fit_zhong_style
from .contract import (MAX_ORDER, hermite_contract, hermite_contract_scalar,
                       hermite_contract_vector, hermite_moment2, quadratic_form)
from .estimator import ReLUMomentRegressor
from .hermite import (hermite_e, hermite_scaled, relu_hermite_coefficient,
                      relu_hermite_coefficients, relu_orthonormal_coefficient)
from .learner import MomentReLULearner
from .metrics import parameter_error, relative_mse, subspace_error
from .teachers import TEACHER_FAMILIES, Teacher, make_teacher

__all__ = [
    "MAX_ORDER",
    "MomentReLULearner",
    "ReLUMomentRegressor",
    "TEACHER_FAMILIES",
    "Teacher",
    "fit_random_init",
    "fit_zhong_style",
    "hermite_contract",
    "hermite_contract_scalar",
    "hermite_contract_vector",
    "hermite_e",
    "hermite_moment2",
    "hermite_scaled",
    "make_teacher",
    "parameter_error",
    "quadratic_form",
    "relative_mse",
    "relu_hermite_coefficient",
    "relu_hermite_coefficients",
    "relu_orthonormal_coefficient",
    "subspace_error",
]

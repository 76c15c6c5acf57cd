"""Contract checks you can run on your own layers and learning machines.

In the spirit of scikit-learn's ``check_estimator``::

    from zenkai_np.testing import check_layer, check_learning_machine
    check_layer(MyLayer(4, 3))                       # raises AssertionError on a breach
    check_learning_machine(MyLearner(MyLayer(4, 3)), x, t)

Every check works on deep copies and raises ``AssertionError`` whose message
names the property (``check_layer_vjp_finite_differences: vjp_x ... differs by
...``). The single checks (``check_layer_*``, ``check_machine_*``) can be run on
their own. See docs/framework_contract.md.
"""
from .layer_checks import (
                           check_layer,
                           check_layer_forward_population,
                           check_layer_inputs_untouched,
                           check_layer_save_load,
                           check_layer_shapes_and_dtypes,
                           check_layer_vjp_finite_differences,
                           check_layer_vjp_params_keys,
)
from .machine_checks import (
                           check_learning_machine,
                           check_machine_deterministic,
                           check_machine_forward,
                           check_machine_protocol,
                           check_machine_save_load,
)

__all__ = [
    "check_layer",
    "check_layer_forward_population",
    "check_layer_inputs_untouched",
    "check_layer_save_load",
    "check_layer_shapes_and_dtypes",
    "check_layer_vjp_finite_differences",
    "check_layer_vjp_params_keys",
    "check_learning_machine",
    "check_machine_deterministic",
    "check_machine_forward",
    "check_machine_protocol",
    "check_machine_save_load",
]

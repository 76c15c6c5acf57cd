"""Type stub for the compiled module zenkai_np._fractional (csrc/bindings/_fractional.cpp)."""
import numpy as np
import numpy.typing as npt

def simd_level() -> str: ...
def set_simd_level(name: str) -> None: ...
def omp_max_threads() -> int: ...

# Flat, C-contiguous, same dtype (float32 or float64); n is a pattern that
# repeats along x (x[i] pairs with n[i % n.size]). Validation is done by the
# Python wrappers in zenkai_np.fractional.
def fracexp_abel(x: npt.NDArray[np.floating], n: npt.NDArray[np.floating],
                 out: npt.NDArray[np.floating], n_threads: int) -> None: ...
def fracexp_abel_grad(x: npt.NDArray[np.floating], n: npt.NDArray[np.floating],
                      y: npt.NDArray[np.floating], dydx: npt.NDArray[np.floating],
                      dydn: npt.NDArray[np.floating], n_threads: int) -> None: ...
# For tests: Abel outputs of at least `bytes` per call are stored non-temporally
# (csrc/fractional/abel.hpp); returns the previous threshold.
def _set_abel_stream_min_bytes(bytes: int) -> int: ...

# Schröder (complex) form: z float or complex of the same precision as n; the
# outputs are complex64/complex128. min_modulus floors log|z| (> 0).
def fracexp_schroeder(z: npt.NDArray[np.floating] | npt.NDArray[np.complexfloating],
                      n: npt.NDArray[np.floating], out: npt.NDArray[np.complexfloating],
                      min_modulus: float, n_threads: int) -> None: ...
def fracexp_schroeder_grad(z: npt.NDArray[np.floating] | npt.NDArray[np.complexfloating],
                           n: npt.NDArray[np.floating], y: npt.NDArray[np.complexfloating],
                           dydz: npt.NDArray[np.complexfloating],
                           dydn: npt.NDArray[np.complexfloating], min_modulus: float,
                           n_threads: int) -> None: ...

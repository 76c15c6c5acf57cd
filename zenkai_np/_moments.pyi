"""Type stub of the compiled module zenkai_np._moments (csrc/bindings/_moments.cpp).

Arguments must arrive validated (zenkai_np/moments/contract.py): C-contiguous,
float64 except X (float32 or float64). Outputs are float64 buffers filled in place.
"""
from typing import Optional

import numpy as np
import numpy.typing as npt

chunk_rows: int
max_order: int

def contract(X: npt.NDArray[np.floating], r: npt.NDArray[np.float64],
             G: npt.NDArray[np.float64], n: int, B: Optional[npt.NDArray[np.float64]],
             want_b0: bool, gram: bool, sums: npt.NDArray[np.float64],
             b1: npt.NDArray[np.float64], b0: Optional[npt.NDArray[np.float64]],
             A: Optional[npt.NDArray[np.float64]], P: Optional[npt.NDArray[np.float64]],
             c: Optional[npt.NDArray[np.float64]], n_threads: int,
             chunk_rows: int = 0) -> None:
    """One pass of the Hermite contraction kernel: raw sums (see contract.hpp)."""

def quadratic_form(X: npt.NDArray[np.floating], A: npt.NDArray[np.float64],
                   out: npt.NDArray[np.float64], n_threads: int) -> None:
    """out[j] = x_j^T A x_j."""

def simd_level() -> str: ...
def set_simd_level(name: str) -> None: ...
def omp_max_threads() -> int: ...

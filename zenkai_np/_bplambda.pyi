"""Type stub for the compiled module zenkai_np._bplambda (BP(lambda) eligibility traces).

Arrays are C-contiguous and of one dtype (float32 or float64); the Python API in
zenkai_np.bplambda.traces validates them. E has the i-major layout (S, B, S, P)
with P = D + 1 (the synthesiser's bias is the last column). Optional arrays are
passed as size-0 arrays.
"""
import numpy as np
import numpy.typing as npt

_A = npt.NDArray[np.floating]

IN_PLACE_BYTES: int

def simd_level() -> str: ...
def set_simd_level(name: str) -> None: ...
def omp_max_threads() -> int: ...

def trace_step(E: _A, E_out: _A, W: _A, a: _A, J: _A, decay: float, u: _A, delta: _A,
               scale: float, dtheta: _A, n_threads: int) -> None:
    """E_out <- decay * J_b E_b + [i == j] u_b; dtheta = scale * sum delta E_out (fused)."""
def trace_sequence(E0: _A, E1: _A, W: _A, a: _A, decay: float, U: _A, Delta: _A,
                   scale: float, clip: float, acc: _A, n_threads: int) -> int:
    """n_steps fused shared-W steps from a zero trace (E0, E1: (S+1, B, S, P), alternating);
    acc (S, P) = -sum_k clip(dtheta_k) per tensor (W part, bias column). Returns -1 or the
    first step with a non-finite dtheta."""
def trace_contract(E: _A, delta: _A, scale: float, dtheta: _A, n_threads: int) -> None:
    """dtheta[j, p] = scale * sum_{b, i} delta[b, i] E[i, b, j, p]."""
def trace_add_diag(E: _A, u: _A) -> None:
    """E[i, b, i, :] += u[b, :]."""
def _set_tile_cols(cols: int) -> None: ...
def _tile_cols() -> int: ...
def _set_contract_mode(mode: int) -> None: ...

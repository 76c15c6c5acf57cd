"""Fractional iterates of exp and the neurons built on them."""
from .abel import fracexp, fracexp_grad
from .layers import FRACEXP_VARIANTS, FracExp, FracExpLinear
from .schroeder import SCHROEDER_FIXED_POINT, fracexp_schroeder, fracexp_schroeder_grad

__all__ = ["fracexp", "fracexp_grad", "fracexp_schroeder", "fracexp_schroeder_grad",
           "SCHROEDER_FIXED_POINT", "FracExp", "FracExpLinear", "FRACEXP_VARIANTS"]

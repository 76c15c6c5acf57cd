"""Fractional iterates of exp and the neurons built on them."""
from .abel import fracexp, fracexp_grad

__all__ = ["fracexp", "fracexp_grad"]

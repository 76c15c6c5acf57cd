"""The tour's data: scikit-learn's digits, 80/20 stratified split, standardised."""
from __future__ import annotations

import sys

__all__ = ["load_data"]


def load_data(dtype):
    """(x_train, y_train, x_test, y_test); x (N, 64) in ``dtype``, standardised with the
    training statistics; y integer labels (N,)."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        sys.exit("the tour needs scikit-learn: pip install scikit-learn "
                 "(or pip install 'zenkai_np[demo]')")
    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    mu = xtr.mean(axis=0)
    sd = xtr.std(axis=0)
    sd[sd == 0] = 1.0          # constant (always-blank) pixels
    xtr = ((xtr - mu) / sd).astype(dtype)
    xte = ((xte - mu) / sd).astype(dtype)
    return xtr, ytr, xte, yte

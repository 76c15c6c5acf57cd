"""The one validation layer of zenkai_np: every part checks its arguments here.

Rules (see README, "Conventions"):

* float32 and float64 arrays are kept as they are; other real dtypes (ints,
  bools, float16) become float64; complex, object and string arrays are a
  TypeError. float64 is never narrowed silently.
* Non-contiguous inputs are copied to C order; inputs are never modified.
* ``out=`` must be an ndarray of exactly the expected shape and dtype,
  writeable and C-contiguous, otherwise ValueError (TypeError if it is not an
  ndarray at all). Kernels write into it and return it.
* Models (learning machines) compute in one dtype, the model's: data passed
  to ``learn``/``fit``/``predict``/``evaluate`` is converted to it
  (:func:`check_batch`, :func:`check_target`); integer class labels stay
  integers.
* Errors name the argument and say what was expected, in one style:
  ``"<name>: expected <what>, got <what>"``.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "as_float_array",
    "check_batch",
    "check_choice",
    "check_int",
    "check_target",
    "check_finite",
    "check_out",
    "output_arrays",
    "check_random_state",
    "check_interval",
    "is_weak_scalar",
    "result_dtype",
]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def is_weak_scalar(value) -> bool:
    """True for a plain Python int/float/bool, which adopts the other operand's dtype."""
    return type(value) in (int, float, bool)


def as_float_array(value, name: str, *, dtype=None, ndim=None, allow_empty=True,
                   finite=False) -> np.ndarray:
    """Return ``value`` as a C-contiguous float32/float64 ndarray.

    ``dtype`` forces a floating dtype (a conversion, done on a copy).
    ``ndim`` checks the number of dimensions; ``allow_empty=False`` rejects
    size-0 arrays; ``finite=True`` rejects NaN and inf.
    """
    try:
        arr = np.asarray(value)
    except Exception as exc:  # e.g. ragged nested lists
        raise TypeError(f"{name}: could not be converted to an array ({exc})") from None
    kind = arr.dtype.kind
    if kind in "c":
        raise TypeError(f"{name}: expected a real array, got dtype {arr.dtype}")
    if kind not in "fiub":
        raise TypeError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if dtype is not None:
        target = np.dtype(dtype)
        if target not in _FLOATS:
            raise TypeError(f"dtype: expected float32 or float64, got {target}")
    elif arr.dtype in _FLOATS:
        target = arr.dtype
    else:
        target = np.dtype(np.float64)
    arr = np.asarray(arr, dtype=target, order="C")  # keeps 0-d (ascontiguousarray would not)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}D array, got {arr.ndim}D array "
                         f"with shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got shape {arr.shape}")
    if finite:
        check_finite(arr, name)
    return arr


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise ValueError if ``arr`` holds NaN or inf."""
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = "NaN" if np.isnan(arr).any() else "inf"
        raise ValueError(f"{name}: contains {bad}; expected finite values")


def result_dtype(*values) -> np.dtype:
    """float32 if every array operand is float32, else float64.

    Plain Python scalars are "weak" and adopt the dtype of the arrays.
    """
    dtypes = [np.asarray(v).dtype for v in values if not is_weak_scalar(v)]
    if dtypes and all(d == np.float32 for d in dtypes):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def check_out(out, name: str, shape, dtype) -> np.ndarray:
    """Validate a user-supplied output array; return it."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(out).__name__}")
    shape = tuple(shape)
    if out.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {out.shape}")
    if out.dtype != np.dtype(dtype):
        raise ValueError(f"{name}: expected dtype {np.dtype(dtype)}, got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name}: array is read-only")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array")
    return out


def output_arrays(out, name: str, shape, dtype, count: int) -> tuple:
    """``count`` result arrays: new ones if ``out`` is None, else the tuple ``out``, checked.

    Each array must pass :func:`check_out`, and no two may share memory.
    """
    if out is None:
        return tuple(np.empty(shape, dtype=dtype) for _ in range(count))
    if not isinstance(out, tuple) or len(out) != count:
        raise TypeError(f"{name}: expected a tuple of {count} arrays, got "
                        f"{type(out).__name__}")
    arrays = tuple(check_out(o, f"{name}[{i}]", shape, dtype) for i, o in enumerate(out))
    for i in range(count):
        for j in range(i + 1, count):
            if np.shares_memory(arrays[i], arrays[j]):
                raise ValueError(f"{name}: {name}[{i}] and {name}[{j}] share memory")
    return arrays


def check_random_state(rng) -> np.random.Generator:
    """Normalise ``rng`` (None, int seed, SeedSequence or Generator) to a Generator.

    Never touches NumPy's global random state.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (numbers.Integral, np.random.SeedSequence,
                                       np.random.BitGenerator)):
        if isinstance(rng, bool):
            raise TypeError("rng: expected None, an int seed or a numpy.random.Generator, "
                            "got bool")
        return np.random.default_rng(rng)
    raise TypeError("rng: expected None, an int seed or a numpy.random.Generator, "
                    f"got {type(rng).__name__}")


def check_interval(value, name: str, low=-np.inf, high=np.inf, *, low_open=False,
                   high_open=False) -> float:
    """A finite real number in the interval [low, high] (open ends on request), as a float.

    TypeError for a non-real (bool included); ValueError naming the argument and
    the interval for NaN or a value outside it.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    v = float(value)
    ok = (np.isfinite(v) and (v > low if low_open else v >= low)
          and (v < high if high_open else v <= high))
    if not ok:
        lb, rb = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name}: expected a value in {lb}{low:g}, {high:g}{rb}, "
                         f"got {value!r}")
    return v


def check_int(value, name: str, *, low=None, high=None) -> int:
    """``value`` as an int in ``[low, high]`` (either bound optional); bool is refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name}: expected an int in {_interval(low, high, True, True)}, "
                         f"got {value}")
    return value


def _interval(low, high, closed_low, closed_high) -> str:
    left = ("[" if closed_low else "(") + ("-inf" if low is None else f"{low}")
    right = ("inf" if high is None else f"{high}") + ("]" if closed_high else ")")
    return f"{left}, {right}"


def check_choice(value, name: str, choices):
    """``value`` if it is one of ``choices``, else ValueError listing them."""
    try:
        ok = value in choices
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{name}: expected one of {tuple(choices)}, got {value!r}")
    return value


def check_batch(x, name: str = "x", dtype=None, n_features=None) -> np.ndarray:
    """A batch ``(n_samples, n_features)`` for a model that computes in ``dtype``.

    Any real numeric array (or nested list) is accepted and converted to
    ``dtype`` (float64 when None); NaN/inf are refused.
    """
    if x is None or isinstance(x, (str, bytes, dict)):
        raise TypeError(f"{name}: expected an array of shape (n_samples, n_features), "
                        f"got {type(x).__name__}")
    x = as_float_array(x, name, dtype=dtype if dtype is not None else None)
    if dtype is None and x.dtype not in _FLOATS:
        x = x.astype(np.float64)
    if x.ndim != 2:
        hint = " (reshape a single sample with x.reshape(1, -1))" if x.ndim == 1 else ""
        raise ValueError(f"{name}: expected a 2D array (n_samples, n_features), got a "
                         f"{x.ndim}D array of shape {x.shape}{hint}")
    if x.shape[0] == 0:
        raise ValueError(f"{name}: expected at least 1 sample, got shape {x.shape}")
    if n_features is not None and x.shape[1] != n_features:
        raise ValueError(f"{name}: expected {n_features} features, got {x.shape[1]}")
    check_finite(x, name)
    return x


def check_target(t, n_samples: int, name: str = "y", dtype=None) -> np.ndarray:
    """Labels or targets for ``n_samples`` samples of a model computing in ``dtype``.

    Integer (or bool) arrays are class labels and stay integers; an
    ``(n_samples, 1)`` label column is flattened.  Float arrays are targets
    and are converted to ``dtype``; NaN/inf are refused.
    """
    try:
        t = np.asarray(t)
    except Exception as exc:  # ragged nested lists
        raise TypeError(f"{name}: could not be converted to an array ({exc})") from None
    if t.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected integer labels or float targets, got dtype "
                        f"{t.dtype}")
    if t.ndim == 0:
        raise ValueError(f"{name}: expected one label or target row per sample, got a "
                         "scalar")
    if t.shape[0] != n_samples:
        raise ValueError(f"{name}: expected {n_samples} samples (as in x), got "
                         f"{t.shape[0]}")
    if t.dtype.kind in "biu":
        if t.ndim == 2 and t.shape[1] == 1:
            t = t.reshape(-1)
        return t
    if dtype is not None and t.dtype != dtype:
        t = t.astype(dtype)
    elif t.dtype not in _FLOATS:
        t = t.astype(np.float64)
    check_finite(t, name)
    return t

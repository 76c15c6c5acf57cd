"""Input validation shared by every kernel wrapper.

Rules (see README, "Conventions"):

* float32 and float64 arrays are kept as they are; other real dtypes (ints,
  bools, float16) become float64; complex, object and string arrays are a
  TypeError. float64 is never narrowed silently.
* Non-contiguous inputs are copied to C order; inputs are never modified.
* ``out=`` must be an ndarray of exactly the expected shape and dtype,
  writeable and C-contiguous, otherwise ValueError (TypeError if it is not an
  ndarray at all). Kernels write into it and return it.
* Errors name the argument and say what was expected.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "as_float_array",
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
    ok = np.isfinite(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        lb, rb = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name}: expected a value in {lb}{low:g}, {high:g}{rb}, got {value!r}")
    return v

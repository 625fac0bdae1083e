"""Argument checks shared by every public op.

Every check raises TypeError (wrong kind of thing) or ValueError (right kind, wrong value) with a
message that names the argument, what was expected and what was given. Kernels never see an
argument that has not passed through here.
"""

import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_array(x, name, ndim=None):
    """Return ``x`` as a C-contiguous float32/float64 ndarray, or raise.

    x : array-like. Must already have dtype float32 or float64: integer, bool, float16 and
        complex arrays are refused rather than silently converted.
    ndim : int or tuple of int, optional. The allowed number(s) of dimensions.
    """
    if not isinstance(x, np.ndarray):
        if isinstance(x, (list, tuple, numbers.Number)):
            raise TypeError(
                f"{name}: expected a numpy.ndarray of float32 or float64, got {type(x).__name__}; "
                f"convert it with np.asarray({name}, dtype=np.float32)")
        raise TypeError(f"{name}: expected a numpy.ndarray of float32 or float64, "
                        f"got {type(x).__module__}.{type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected dtype float32 or float64, got {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name}: expected a {want}-D array, got {x.ndim}-D with shape {x.shape}")
    # np.ascontiguousarray would turn a 0-d array into shape (1,): copy only what needs it.
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def same_dtype(**arrays):
    """Raise TypeError unless every given (non-None) array has the same dtype; return that dtype."""
    items = [(k, a) for k, a in arrays.items() if a is not None]
    first_name, first = items[0]
    for name, a in items[1:]:
        if a.dtype != first.dtype:
            raise TypeError(f"{name}: dtype {a.dtype} does not match {first_name} dtype {first.dtype}; "
                            f"mixed dtypes are not allowed, cast one of them")
    return first.dtype


def boolean(value, name):
    """Return ``value`` as a Python bool if it is a bool (or NumPy bool), else raise TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def int_tuple(value, name, n, minimum):
    """Normalise an int or a length-``n`` tuple of ints to a tuple of Python ints >= ``minimum``."""
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_)):
        values = (int(value),) * n
    elif isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"{name}: expected an int or a tuple of {n} ints, "
                             f"got a {type(value).__name__} of length {len(value)}: {value!r}")
        for v in value:
            if not isinstance(v, (numbers.Integral, np.integer)) or isinstance(v, (bool, np.bool_)):
                raise TypeError(f"{name}: expected ints, got {type(v).__name__} in {value!r}")
        values = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{name}: expected an int or a tuple of {n} ints, got {type(value).__name__}: {value!r}")
    for v in values:
        if v < minimum:
            raise ValueError(f"{name}: every entry must be >= {minimum}, got {value!r}")
    return values


def shape_equals(x, expected, name):
    """Raise ValueError unless ``x.shape == expected``."""
    expected = tuple(int(s) for s in expected)
    if x.shape != expected:
        raise ValueError(f"{name}: expected shape {expected}, got {x.shape}")


def window_output_size(size, kernel, stride, pad_lo, pad_hi, dim_name, kernel_name):
    """Output length of a sliding window: floor((size + pad_lo + pad_hi - kernel) / stride) + 1.

    Raises ValueError naming ``kernel_name`` when the window is larger than the padded input.
    """
    padded = size + pad_lo + pad_hi
    if kernel > padded:
        raise ValueError(f"{kernel_name}: window of {kernel} along {dim_name} is larger than the "
                         f"padded input ({size} + padding {pad_lo + pad_hi} = {padded})")
    return (padded - kernel) // stride + 1

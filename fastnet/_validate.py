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
    """Raise TypeError unless every given (non-None) array has the same dtype; return that dtype.
    (Every op calls it: a plain loop, no list of the items.)"""
    first_name = first = None
    for name, a in arrays.items():
        if a is None:
            continue
        if first is None:
            first_name, first = name, a
        elif a.dtype != first.dtype:
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
    if type(value) is int and value >= minimum:   # the usual case, without the ABC checks (0.7 -> 0.1 us)
        return (value,) * n
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


# ----------------------------------------------------------------------------------------------
# hints for a newcomer's usual mistakes (shapes, layouts, labels, data)


def finite_data(x, name, chunk=4096):
    """Raise ValueError naming the first NaN/inf element of a float array ``x`` (samples on axis 0).

    Checked ``chunk`` samples at a time, so the check needs little memory for large data sets.
    Integer and bool arrays are always finite and pass.
    """
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fc":
        return
    flat = x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(-1, 1)
    for start in range(0, flat.shape[0], chunk):
        bad = ~np.isfinite(flat[start:start + chunk])
        if bad.any():
            i = start + int(np.flatnonzero(bad.any(axis=1))[0])
            index = np.unravel_index(int(np.flatnonzero(bad[i - start])[0]), x.shape[1:]) if x.ndim > 1 else ()
            index = (i,) + tuple(int(j) for j in index)
            count = int(np.count_nonzero(~np.isfinite(x)))
            raise ValueError(
                f"{name}: the data holds {count} non-finite value(s) (NaN or inf); the first is "
                f"{x[index]} at index {index[0] if len(index) == 1 else index} (sample {i}). "
                f"Clean or drop those samples before training, e.g. "
                f"keep = np.isfinite({name}.reshape(len({name}), -1)).all(axis=1)")


_LAYOUTS = {2: "(N, features)", 3: "(N, C, L)", 4: "(N, C, H, W)", 5: "(N, C, D, H, W)"}


def batch_ndim(x, ndim, name="x", layout=None):
    """Raise ValueError unless ``x.ndim == ndim``; for one sample (one or two axes short) the
    message says to add the batch axis (and the channel axis)."""
    if x.ndim == ndim:
        return
    layout = layout or _LAYOUTS.get(ndim, "")
    message = f"{name}: expected a {ndim}-D array {layout}, got {x.ndim}-D {x.shape}".replace("  ", " ")
    if x.ndim == ndim - 1:
        message += ": add a batch axis, e.g. x[None] (a single sample is a batch of one)"
    elif x.ndim == ndim - 2 and ndim >= 4:
        message += ": add a batch and a channel axis, e.g. x[None, None]"
    elif ndim == 2 and x.ndim > 2:
        message += ": put a Flatten() layer in front to turn each sample into a vector"
    raise ValueError(message)


def channels_first(x, channels, name="x"):
    """Raise ValueError unless ``x.shape[1] == channels``; if the channel count is found on the last
    axis instead, the message says the data looks channels-last (NHWC) and how to transpose it."""
    if x.shape[1] == channels:
        return
    message = f"{name}: expected {channels} channels (axis 1), got shape {x.shape}"
    if x.shape[-1] == channels:
        last = x.ndim - 1
        order = (0, last) + tuple(range(1, last))
        first, last_name = ("NCHW", "NHWC") if x.ndim == 4 else ("NCDHW", "NDHWC") if x.ndim == 5 else \
            ("channels first", "channels last")
        message += (f": the channels look like the last axis ({last_name}); fastnet expects {first} "
                    f"(channels first, as PyTorch): use x.transpose{order}")
    raise ValueError(message)


def class_indices(labels, name="labels", num_classes=None):
    """Raise unless ``labels`` are class indices: an integer ndarray of shape (N,).

    Float or 2-D labels (one-hot rows, probabilities) get a TypeError/ValueError saying "class
    indices" and how to convert them (``y.argmax(1)``, ``y.astype(np.int64)``). ``num_classes``
    (the scores' C) recognises integer one-hot rows (N, C).
    """
    if not isinstance(labels, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray of integers (class indices (N,)), "
                        f"got {type(labels).__name__}")
    integer = labels.dtype != np.bool_ and np.issubdtype(labels.dtype, np.integer)
    if labels.ndim == 2 and labels.shape[1] > 1 and (num_classes is None or labels.shape[1] == num_classes
                                                     or not integer):
        raise (ValueError if integer else TypeError)(
            f"{name}: expected class indices (N,) int; got one-hot {labels.dtype} {labels.shape}: "
            f"use y.argmax(1) to get the class indices")
    if not integer:
        hint = "use y.astype(np.int64)" if labels.dtype.kind == "f" else "convert them to int64"
        raise TypeError(f"{name}: expected an integer dtype, got {labels.dtype}: class indices (N,) int "
                        f"are expected; {hint}")
    if labels.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got {labels.ndim}-D with shape {labels.shape}: "
                         f"class indices (N,) int are expected")

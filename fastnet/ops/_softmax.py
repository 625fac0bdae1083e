"""Softmax and log-softmax along any axis, stable for any finite input, with backward functions."""

import numbers

import numpy as np

from .. import _validate
from .._trace import traced
from ..kernels import softmax as _kernels


def _axis(axis, x):
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (numbers.Integral, np.integer)):
        raise TypeError(f"axis: expected an int, got {type(axis).__name__}: {axis!r}")
    axis = int(axis)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis: expected an int in [{-x.ndim}, {x.ndim}) for a {x.ndim}-D x of shape "
                         f"{x.shape}, got {axis}")
    return axis % x.ndim


def _as_3d(a, axis):
    """The (A, L, B) view of ``a`` with L = a.shape[axis]."""
    outer = int(np.prod(a.shape[:axis], dtype=np.int64))
    return a.reshape(outer, a.shape[axis], -1)


def _forward(x, axis, log):
    x = _validate.float_array(x, "x")
    if x.ndim < 1:
        raise ValueError("x: expected at least a 1-D array, got a 0-D array")
    axis = _axis(axis, x)
    y = np.empty(x.shape, dtype=x.dtype)
    if x.size:
        _kernels.softmax_forward(_as_3d(x, axis), _as_3d(y, axis), log)
    return y


def _backward(y, dy, axis, log):
    y = _validate.float_array(y, "y")
    dy = _validate.float_array(dy, "dy")
    _validate.same_dtype(y=y, dy=dy)
    _validate.shape_equals(dy, y.shape, "dy")
    if y.ndim < 1:
        raise ValueError("y: expected at least a 1-D array, got a 0-D array")
    axis = _axis(axis, y)
    dx = np.empty(y.shape, dtype=y.dtype)
    if y.size:
        _kernels.softmax_backward(_as_3d(y, axis), _as_3d(dy, axis), _as_3d(dx, axis), log)
    return dx


@traced("softmax")
def softmax(x, axis=1):
    """Softmax along ``axis``: ``exp(x - max) / sum(exp(x - max))``.

    Parameters
    ----------
    x : ndarray of any shape with at least one axis, float32 or float64
    axis : int, default 1 (the class axis of (N, C) logits); negative counts from the end

    Returns
    -------
    y : ndarray of x's shape and dtype; each line along ``axis`` sums to 1. Finite inputs never
        overflow (``softmax([1000, 0]) == [1, 0]``); a NaN makes its line NaN.
    """
    return _forward(x, axis, False)


@traced("log_softmax")
def log_softmax(x, axis=1):
    """Log-softmax along ``axis``: ``x - max - log(sum(exp(x - max)))``, stable for finite input.

    Parameters
    ----------
    x : ndarray of any shape with at least one axis, float32 or float64
    axis : int, default 1

    Returns
    -------
    y : ndarray of x's shape and dtype (values <= 0).
    """
    return _forward(x, axis, True)


@traced("softmax_backward")
def softmax_backward(y, dy, axis=1):
    """Gradient of :func:`softmax` from its OUTPUT: ``dx = y * (dy - sum(dy * y, axis))``.

    Parameters
    ----------
    y : ndarray, float32 or float64: ``softmax(x, axis)``
    dy : ndarray of y's shape and dtype: the upstream gradient
    axis : int, the forward's axis

    Returns
    -------
    dx : ndarray of y's shape and dtype.
    """
    return _backward(y, dy, axis, False)


@traced("log_softmax_backward")
def log_softmax_backward(y, dy, axis=1):
    """Gradient of :func:`log_softmax` from its OUTPUT: ``dx = dy - exp(y) * sum(dy, axis)``.

    Parameters
    ----------
    y : ndarray, float32 or float64: ``log_softmax(x, axis)``
    dy : ndarray of y's shape and dtype: the upstream gradient
    axis : int, the forward's axis

    Returns
    -------
    dx : ndarray of y's shape and dtype.
    """
    return _backward(y, dy, axis, True)

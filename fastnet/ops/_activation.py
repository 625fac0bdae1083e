"""Pointwise activations: sigmoid, tanh, relu, leaky_relu and their backward functions."""

import numbers

import numpy as np

from .. import _validate
from .._trace import traced
from ..kernels import activations as _kernels


def _unary(kernel, x, name):
    x = _validate.float_array(x, name)
    out = np.empty(x.shape, dtype=x.dtype)
    if x.size:
        kernel(x.reshape(-1), out.reshape(-1))
    return out


def _binary(kernel, a, dy, a_name):
    a = _validate.float_array(a, a_name)
    dy = _validate.float_array(dy, "dy")
    _validate.same_dtype(**{a_name: a, "dy": dy})
    _validate.shape_equals(dy, a.shape, "dy")
    dx = np.empty(a.shape, dtype=a.dtype)
    if a.size:
        kernel(a.reshape(-1), dy.reshape(-1), dx.reshape(-1))
    return dx


@traced("sigmoid")
def sigmoid(x):
    """Logistic sigmoid, ``1 / (1 + exp(-x))``, elementwise and overflow-free.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64

    Returns
    -------
    y : ndarray of the same shape and dtype, values in [0, 1]. ``sigmoid(1000) == 1`` and
        ``sigmoid(-1000) == 0`` without warnings; NaN gives NaN.
    """
    return _unary(_kernels.sigmoid_forward, x, "x")


@traced("sigmoid_backward")
def sigmoid_backward(y, dy):
    """Gradient of sigmoid from its OUTPUT: ``dx = dy * y * (1 - y)``.

    Parameters
    ----------
    y : ndarray of any shape, float32 or float64. ``sigmoid(x)``.
    dy : ndarray of y's shape and dtype. Upstream gradient.

    Returns
    -------
    dx : ndarray of y's shape and dtype.
    """
    return _binary(_kernels.sigmoid_backward, y, dy, "y")


@traced("tanh")
def tanh(x):
    """Hyperbolic tangent, elementwise.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64

    Returns
    -------
    y : ndarray of the same shape and dtype, values in [-1, 1]; NaN gives NaN.
    """
    return _unary(_kernels.tanh_forward, x, "x")


@traced("tanh_backward")
def tanh_backward(y, dy):
    """Gradient of tanh from its OUTPUT: ``dx = dy * (1 - y**2)``.

    Parameters
    ----------
    y : ndarray of any shape, float32 or float64. ``tanh(x)``.
    dy : ndarray of y's shape and dtype. Upstream gradient.

    Returns
    -------
    dx : ndarray of y's shape and dtype.
    """
    return _binary(_kernels.tanh_backward, y, dy, "y")


@traced("relu")
def relu(x):
    """Rectified linear unit, ``max(x, 0)``, elementwise. NaN gives NaN (as PyTorch).

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64

    Returns
    -------
    y : ndarray of the same shape and dtype.
    """
    return _unary(_kernels.relu_forward, x, "x")


@traced("relu_backward")
def relu_backward(x, dy):
    """Gradient of relu from its INPUT: ``dx = dy where x > 0, else 0``.

    Where ``x`` is NaN, ``dx`` is NaN (a NaN is never hidden; PyTorch gives 0 there). The
    subgradient at ``x == 0`` is 0, as in PyTorch.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64. relu's input.
    dy : ndarray of x's shape and dtype. Upstream gradient.

    Returns
    -------
    dx : ndarray of x's shape and dtype.
    """
    return _binary(_kernels.relu_backward, x, dy, "x")


def _slope(negative_slope):
    if isinstance(negative_slope, (bool, np.bool_)) or not isinstance(negative_slope, (numbers.Real, np.floating,
                                                                                         np.integer)):
        raise TypeError(f"negative_slope: expected a real number, got {type(negative_slope).__name__}: "
                        f"{negative_slope!r}")
    value = float(negative_slope)
    if value != value:
        raise ValueError("negative_slope: expected a number, got NaN")
    return value


@traced("leaky_relu")
def leaky_relu(x, negative_slope=0.01):
    """Leaky ReLU, ``x if x > 0 else negative_slope * x``, elementwise. NaN gives NaN.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64
    negative_slope : float, default 0.01

    Returns
    -------
    y : ndarray of the same shape and dtype.
    """
    slope = _slope(negative_slope)
    return _unary(lambda a, out: _kernels.leaky_relu_forward(a, slope, out), x, "x")


@traced("leaky_relu_backward")
def leaky_relu_backward(x, dy, negative_slope=0.01):
    """Gradient of leaky_relu from its INPUT: ``dx = dy where x > 0, else negative_slope * dy``
    (the slope at ``x == 0``, as PyTorch); NaN where x is NaN.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64. leaky_relu's input.
    dy : ndarray of x's shape and dtype. Upstream gradient.
    negative_slope : float, the forward's slope

    Returns
    -------
    dx : ndarray of x's shape and dtype.
    """
    slope = _slope(negative_slope)
    return _binary(lambda a, g, dx: _kernels.leaky_relu_backward(a, g, slope, dx), x, dy, "x")

"""Batch normalisation (``batch_norm``), with PyTorch's ``torch.nn.functional.batch_norm`` semantics."""

import numbers

import numpy as np

from .. import _validate
from .._trace import traced
from ..kernels import normalization as _kernels


def _real(value, name, lo, hi, lo_open=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}: {value!r}")
    value = float(value)
    ok = (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        lo_bracket = "(" if lo_open else "["
        raise ValueError(f"{name}: expected a number in {lo_bracket}{lo}, {hi}], got {value!r}")
    return value


def _as_3d(x):
    """(N, C, ...) -> the (N, C, S) view the kernels use."""
    return x.reshape(x.shape[0], x.shape[1], -1)


def _channel_vector(v, name, x, writable=False):
    if v is None:
        return None
    if writable and not isinstance(v, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray of shape ({x.shape[1]},) updated in place, "
                        f"got {type(v).__name__}")
    if writable:
        if v.dtype not in _validate.FLOAT_DTYPES:
            raise TypeError(f"{name}: expected dtype float32 or float64, got {v.dtype}")
        if v.ndim != 1:
            raise ValueError(f"{name}: expected a 1-D array, got {v.ndim}-D with shape {v.shape}")
    else:
        v = _validate.float_array(v, name, ndim=1)
    if v.shape[0] != x.shape[1]:
        raise ValueError(f"{name}: expected shape ({x.shape[1]},) (one value per channel, x.shape[1]), "
                         f"got {v.shape} for x.shape = {x.shape}")
    return v


def _check_x(x):
    x = _validate.float_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x: expected an (N, C) or (N, C, ...) array, got {x.ndim}-D with shape {x.shape}")
    if x.shape[0] < 1 or x.shape[1] < 1 or x.size == 0:
        raise ValueError(f"x: expected at least one sample and one channel with data, got shape {x.shape}")
    return x


@traced("batch_norm")
def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Batch normalisation, as ``torch.nn.functional.batch_norm``.

    ``y = (x - mean) / sqrt(var + eps) * gamma + beta`` per channel (axis 1). In training the
    mean and the BIASED variance are those of the batch, over every axis but 1, and the running
    statistics are updated in place with the UNBIASED variance:
    ``running_mean = (1 - momentum) * running_mean + momentum * mean`` and
    ``running_var = (1 - momentum) * running_var + momentum * var * M / (M - 1)``, M = the number of
    values per channel. In eval (``training=False``) the running statistics are used instead.

    Parameters
    ----------
    x : ndarray of shape (N, C) or (N, C, ...) (e.g. (N, C, H, W)), float32 or float64
    gamma : ndarray of shape (C,), x's dtype, or None (ones): the scale
    beta : ndarray of shape (C,), x's dtype, or None (zeros): the shift
    running_mean, running_var : ndarray of shape (C,), x's dtype, or None
        Updated in place in training (so they must be writable arrays); required in eval.
    training : bool
    momentum : float in [0, 1], default 0.1
    eps : float > 0, default 1e-5

    Returns
    -------
    y : ndarray of x's shape and dtype.
    """
    x = _check_x(x)
    training = _validate.boolean(training, "training")
    momentum = _real(momentum, "momentum", 0.0, 1.0)
    eps = _real(eps, "eps", 0.0, np.inf, lo_open=True)
    gamma = _channel_vector(gamma, "gamma", x)
    beta = _channel_vector(beta, "beta", x)
    running_mean = _channel_vector(running_mean, "running_mean", x, writable=True)
    running_var = _channel_vector(running_var, "running_var", x, writable=True)
    _validate.same_dtype(x=x, gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean, running_var: pass both or neither")
    x3 = _as_3d(x)
    count = x3.shape[0] * x3.shape[2]
    if training:
        if count < 2:
            raise ValueError(f"x: expected more than 1 value per channel in training, got shape {x.shape}; "
                             f"use a larger batch, or eval mode")
        mean = np.empty(x.shape[1], np.float64)
        var = np.empty(x.shape[1], np.float64)
        _kernels.batch_norm_stats(x3, mean, var)
    else:
        if running_mean is None:
            raise ValueError("running_mean, running_var: required when training=False (eval mode "
                             "normalises with the running statistics)")
        mean = running_mean.astype(np.float64)
        var = running_var.astype(np.float64)
    scale = 1.0 / np.sqrt(var + eps)
    if gamma is not None:
        scale = scale * gamma
    shift = -mean * scale
    if beta is not None:
        shift = shift + beta
    y = np.empty(x.shape, dtype=x.dtype)
    _kernels.batch_norm_forward(x3, shift.astype(x.dtype), scale.astype(x.dtype), _as_3d(y))
    if training and running_mean is not None:
        running_mean[...] = (1.0 - momentum) * running_mean + momentum * mean
        running_var[...] = (1.0 - momentum) * running_var + momentum * var * (count / (count - 1))
    return y


@traced("batch_norm_backward")
def batch_norm_backward(x, gamma, dy, eps=1e-5):
    """Training-mode gradients of :func:`batch_norm` (batch statistics recomputed from x).

    Parameters
    ----------
    x : ndarray of shape (N, C) or (N, C, ...), float32 or float64. The forward input.
    gamma : ndarray of shape (C,), x's dtype, or None (ones)
    dy : ndarray of x's shape and dtype: the upstream gradient
    eps : float > 0, the forward's eps

    Returns
    -------
    dx : ndarray of x's shape and dtype
    dgamma : ndarray of shape (C,): ``sum(dy * xhat)`` over every axis but 1
    dbeta : ndarray of shape (C,): ``sum(dy)`` over every axis but 1
    """
    x = _check_x(x)
    gamma = _channel_vector(gamma, "gamma", x)
    dy = _validate.float_array(dy, "dy")
    _validate.same_dtype(x=x, gamma=gamma, dy=dy)
    _validate.shape_equals(dy, x.shape, "dy")
    eps = _real(eps, "eps", 0.0, np.inf, lo_open=True)
    if gamma is None:
        gamma = np.ones(x.shape[1], dtype=x.dtype)
    dx = np.empty(x.shape, dtype=x.dtype)
    dgamma = np.empty(x.shape[1], dtype=x.dtype)
    dbeta = np.empty(x.shape[1], dtype=x.dtype)
    _kernels.batch_norm_backward(_as_3d(x), gamma, _as_3d(dy), eps, _as_3d(dx), dgamma, dbeta)
    return dx, dgamma, dbeta

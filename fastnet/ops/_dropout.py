"""Inverted dropout (``dropout``) with a mask drawn from a seeded NumPy generator."""

import numbers

import numpy as np

from .. import _validate
from .._trace import traced
from ..kernels import dropout as _kernels


def _probability(p):
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"p: expected a float in [0, 1) (the probability of zeroing an element), "
                        f"got {type(p).__name__}: {p!r}")
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p: expected a probability in [0, 1) (the share of elements zeroed), got {p!r}"
                         + ("; p = 1 would zero everything and divide by 0" if p == 1.0 else ""))
    return p


def _generator(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, (numbers.Integral, np.integer)) and not isinstance(seed, (bool, np.bool_))):
        if seed is not None and seed < 0:
            raise ValueError(f"seed: expected a non-negative int, got {seed}")
        return np.random.default_rng(seed)
    raise TypeError(f"seed: expected None, an int or a numpy.random.Generator, got {type(seed).__name__}")


@traced("dropout")
def dropout(x, p=0.5, seed=None):
    """Inverted dropout: zero each element with probability p, scale the rest by ``1 / (1 - p)``.

    The expected value of each output equals its input, so eval mode is the identity (the layer
    :class:`fastnet.layers.Dropout` skips this op there).

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64
    p : float in [0, 1), default 0.5: the probability of zeroing an element
    seed : int, numpy.random.Generator or None
        Draws the mask: ``mask = rng.random(x.shape) >= p``. The same int seed gives the same mask
        (for any thread count); a Generator advances, giving a fresh mask per call; None uses fresh
        entropy.

    Returns
    -------
    y : ndarray of x's shape and dtype: ``x * mask / (1 - p)``
    mask : ndarray of x's shape and dtype holding 1 (kept) and 0 (dropped); pass it to
        :func:`dropout_backward`.
    """
    x = _validate.float_array(x, "x")
    p = _probability(p)
    rng = _generator(seed)
    mask = (rng.random(x.shape) >= p).astype(x.dtype)
    y = np.empty(x.shape, dtype=x.dtype)
    if x.size:
        _kernels.dropout_forward(x.reshape(-1), mask.reshape(-1), 1.0 / (1.0 - p), y.reshape(-1))
    return y, mask


@traced("dropout_backward")
def dropout_backward(dy, mask, p):
    """Gradient of :func:`dropout`: ``dx = dy * mask / (1 - p)``.

    Parameters
    ----------
    dy : ndarray of any shape, float32 or float64: the upstream gradient
    mask : ndarray of dy's shape and dtype: the mask :func:`dropout` returned
    p : float in [0, 1): the forward's p

    Returns
    -------
    dx : ndarray of dy's shape and dtype.
    """
    dy = _validate.float_array(dy, "dy")
    mask = _validate.float_array(mask, "mask")
    _validate.same_dtype(dy=dy, mask=mask)
    _validate.shape_equals(mask, dy.shape, "mask")
    p = _probability(p)
    dx = np.empty(dy.shape, dtype=dy.dtype)
    if dy.size:
        _kernels.dropout_backward(dy.reshape(-1), mask.reshape(-1), 1.0 / (1.0 - p), dx.reshape(-1))
    return dx

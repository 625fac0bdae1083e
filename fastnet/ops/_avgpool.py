"""Average pooling over NCHW images: windows (``avgpool2d``) and the global average, with backward."""

import numpy as np

from .. import _validate
from .._trace import traced
from ..kernels import avgpool as _kernels
from ._pool import _pool_geometry


@traced("avgpool2d")
def avgpool2d(x, kernel_size, stride=None, padding=0):
    """2-D average pooling with PyTorch ``avg_pool2d``'s defaults.

    Zero padding counts in the divisor (``count_include_pad=True``) and the output size is floored
    (``ceil_mode=False``), so every output is its window's sum divided by ``kH * kW``.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), float32 or float64
    kernel_size : int or tuple (kH, kW), each >= 1
    stride : int or tuple (sH, sW), each >= 1, optional. Defaults to kernel_size.
    padding : int or tuple (pH, pW), each in [0, k // 2] (as PyTorch requires). Zeros.

    Returns
    -------
    y : ndarray of shape (N, C, Ho, Wo), x's dtype. NaN in a window gives NaN.

    Shape
    -----
    Ho = floor((H + 2 pH - kH) / sH) + 1,  Wo = floor((W + 2 pW - kW) / sW) + 1
    """
    x = _validate.float_array(x, "x", ndim=4)
    (kh, kw), (sh, sw), (ph, pw), out_hw = _pool_geometry(x, kernel_size, stride, padding, 2)
    y = np.empty(x.shape[:2] + out_hw, dtype=x.dtype)
    if y.size:
        _kernels.avgpool2d_forward(x, y, kh, kw, sh, sw, ph, pw)
    return y


@traced("avgpool2d_backward")
def avgpool2d_backward(x, dy, kernel_size, stride=None, padding=0):
    """Gradient of :func:`avgpool2d` with respect to x.

    Each window spreads ``dy / (kH * kW)`` over its real cells; overlapping windows accumulate.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), float32 or float64. The forward input (only its shape and
        dtype are used).
    dy : ndarray of shape (N, C, Ho, Wo) (avgpool2d's output shape), x's dtype.
    kernel_size, stride, padding : as in :func:`avgpool2d`.

    Returns
    -------
    dx : ndarray of shape (N, C, H, W), x's dtype.
    """
    x = _validate.float_array(x, "x", ndim=4)
    dy = _validate.float_array(dy, "dy", ndim=4)
    _validate.same_dtype(x=x, dy=dy)
    (kh, kw), (sh, sw), (ph, pw), out_hw = _pool_geometry(x, kernel_size, stride, padding, 2)
    _validate.shape_equals(dy, x.shape[:2] + out_hw, "dy")
    dx = np.empty_like(x)  # the kernel writes every element
    if dy.size:
        _kernels.avgpool2d_backward(dy, dx, kh, kw, sh, sw, ph, pw)
    return dx


def _check_global(x):
    x = _validate.float_array(x, "x", ndim=4)
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"x: expected H >= 1 and W >= 1, got shape {x.shape}")
    return x


@traced("global_avgpool2d")
def global_avgpool2d(x):
    """Global average pooling: the mean of each channel's plane (``x.mean(axis=(2, 3))``).

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), float32 or float64

    Returns
    -------
    y : ndarray of shape (N, C), x's dtype (sums accumulated in float64).
    """
    x = _check_global(x)
    n, c, h, w = x.shape
    y = np.empty((n, c), dtype=x.dtype)
    if y.size:
        _kernels.global_avgpool2d_forward(x.reshape(n * c, h * w), y.reshape(n * c))
    return y


@traced("global_avgpool2d_backward")
def global_avgpool2d_backward(x, dy):
    """Gradient of :func:`global_avgpool2d`: ``dx[n, c, :, :] = dy[n, c] / (H * W)``.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), float32 or float64. The forward input (shape and dtype).
    dy : ndarray of shape (N, C), x's dtype.

    Returns
    -------
    dx : ndarray of shape (N, C, H, W), x's dtype.
    """
    x = _check_global(x)
    dy = _validate.float_array(dy, "dy", ndim=2)
    _validate.same_dtype(x=x, dy=dy)
    _validate.shape_equals(dy, x.shape[:2], "dy")
    n, c, h, w = x.shape
    dx = np.empty(x.shape, dtype=x.dtype)
    if dx.size:
        _kernels.global_avgpool2d_backward(dy.reshape(n * c), dx.reshape(n * c, h * w))
    return dx

"""Max pooling over 2-D (NCHW) and 3-D (NCDHW) inputs, with backward functions."""

import numpy as np

from .. import _validate
from .._trace import traced
from ..kernels import pooling as _kernels
from ..kernels import pooling3d as _kernels3d

_DIM_NAMES = {2: ("H", "W"), 3: ("D", "H", "W")}


def _pool_geometry(x, kernel_size, stride, padding, n_spatial):
    """Validate the window arguments; return (kernel, stride, padding, output spatial shape)."""
    kernel = _validate.int_tuple(kernel_size, "kernel_size", n_spatial, 1)
    stride = kernel if stride is None else _validate.int_tuple(stride, "stride", n_spatial, 1)
    padding = _validate.int_tuple(padding, "padding", n_spatial, 0)
    names = _DIM_NAMES[n_spatial]
    for size, name in zip(x.shape[2:], names):
        if size < 1:
            raise ValueError(f"x: expected every spatial dimension >= 1, got {name}={size} in shape {x.shape}")
    for k, p, name in zip(kernel, padding, names):
        if p > k // 2:
            raise ValueError(f"padding: must be at most kernel_size // 2 along each dimension "
                             f"(so that every window holds a real cell), got padding {p} > {k} // 2 "
                             f"along {name} (padding={padding!r}, kernel_size={kernel!r})")
    out_shape = tuple(
        _validate.window_output_size(size, k, s, p, p, name, "kernel_size")
        for size, k, s, p, name in zip(x.shape[2:], kernel, stride, padding, names))
    return kernel, stride, padding, out_shape


@traced("maxpool2d")
def maxpool2d(x, kernel_size, stride=None, padding=0):
    """2-D max pooling (PyTorch ``max_pool2d``, floor mode, implicit -inf padding).

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), float32 or float64
    kernel_size : int or tuple (kH, kW), each >= 1
    stride : int or tuple (sH, sW), each >= 1, optional. Defaults to kernel_size.
    padding : int or tuple (pH, pW), each in [0, k // 2]. Padded cells never win.

    Returns
    -------
    y : ndarray of shape (N, C, Ho, Wo), x's dtype. A window holding a NaN gives NaN.

    Shape
    -----
    Ho = floor((H + 2 pH - kH) / sH) + 1,  Wo = floor((W + 2 pW - kW) / sW) + 1
    """
    x = _validate.float_array(x, "x", ndim=4)
    (kh, kw), (sh, sw), (ph, pw), out_hw = _pool_geometry(x, kernel_size, stride, padding, 2)
    y = np.empty(x.shape[:2] + out_hw, dtype=x.dtype)
    if y.size:
        _kernels.maxpool2d_forward(x, y, kh, kw, sh, sw, ph, pw)
    return y


@traced("maxpool2d_backward")
def maxpool2d_backward(x, dy, kernel_size, stride=None, padding=0):
    """Gradient of :func:`maxpool2d` with respect to x.

    Each window's gradient goes to its max (the FIRST in row-major order on ties; the first NaN
    when the window holds one); overlapping windows (stride < kernel) accumulate.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), float32 or float64. The forward input.
    dy : ndarray of shape (N, C, Ho, Wo) (maxpool2d's output shape), x's dtype.
    kernel_size, stride, padding : as in :func:`maxpool2d`.

    Returns
    -------
    dx : ndarray of shape (N, C, H, W), x's dtype.
    """
    x = _validate.float_array(x, "x", ndim=4)
    dy = _validate.float_array(dy, "dy", ndim=4)
    _validate.same_dtype(x=x, dy=dy)
    (kh, kw), (sh, sw), (ph, pw), out_hw = _pool_geometry(x, kernel_size, stride, padding, 2)
    _validate.shape_equals(dy, x.shape[:2] + out_hw, "dy")
    dx = np.empty_like(x)  # the kernel zeroes each plane before accumulating
    if dy.size:
        _kernels.maxpool2d_backward(x, dy, dx, kh, kw, sh, sw, ph, pw)
    return dx


@traced("maxpool3d")
def maxpool3d(x, kernel_size, stride=None, padding=0):
    """3-D max pooling (PyTorch ``max_pool3d``, floor mode, implicit -inf padding).

    Parameters
    ----------
    x : ndarray of shape (N, C, D, H, W), float32 or float64
    kernel_size : int or tuple (kD, kH, kW), each >= 1
    stride : int or tuple (sD, sH, sW), each >= 1, optional. Defaults to kernel_size.
    padding : int or tuple (pD, pH, pW), each in [0, k // 2]. Padded cells never win.

    Returns
    -------
    y : ndarray of shape (N, C, Do, Ho, Wo), x's dtype. A window holding a NaN gives NaN.

    Shape
    -----
    Do = floor((D + 2 pD - kD) / sD) + 1, and likewise Ho, Wo.
    """
    x = _validate.float_array(x, "x", ndim=5)
    (kd, kh, kw), (sd, sh, sw), (pd, ph, pw), out_dhw = _pool_geometry(
        x, kernel_size, stride, padding, 3)
    y = np.empty(x.shape[:2] + out_dhw, dtype=x.dtype)
    if y.size:
        _kernels3d.maxpool3d_forward(x, y, kd, kh, kw, sd, sh, sw, pd, ph, pw)
    return y


@traced("maxpool3d_backward")
def maxpool3d_backward(x, dy, kernel_size, stride=None, padding=0):
    """Gradient of :func:`maxpool3d` with respect to x (first max in (d, h, w) order on ties).

    Parameters
    ----------
    x : ndarray of shape (N, C, D, H, W), float32 or float64. The forward input.
    dy : ndarray of shape (N, C, Do, Ho, Wo) (maxpool3d's output shape), x's dtype.
    kernel_size, stride, padding : as in :func:`maxpool3d`.

    Returns
    -------
    dx : ndarray of shape (N, C, D, H, W), x's dtype.
    """
    x = _validate.float_array(x, "x", ndim=5)
    dy = _validate.float_array(dy, "dy", ndim=5)
    _validate.same_dtype(x=x, dy=dy)
    (kd, kh, kw), (sd, sh, sw), (pd, ph, pw), out_dhw = _pool_geometry(
        x, kernel_size, stride, padding, 3)
    _validate.shape_equals(dy, x.shape[:2] + out_dhw, "dy")
    dx = np.empty_like(x)  # the kernel zeroes each plane before accumulating
    if dy.size:
        # fast=True passed, not left to its default: Numba compiles an omitted argument as a
        # signature of its own, a second copy of the kernel beside the tests' fast=False calls
        _kernels3d.maxpool3d_backward(x, dy, dx, kd, kh, kw, sd, sh, sw, pd, ph, pw, True)
    return dx


# --- 1-D max pooling: maxpool2d with a unit height ------------------------------------------------

_maxpool2d_op = maxpool2d.__wrapped__
_maxpool2d_backward_op = maxpool2d_backward.__wrapped__


def _pool1d_args(x, kernel_size, stride, padding):
    """Validate a 1-D pooling call with 1-D names; return the (1, k) / (1, s) / (0, p) 2-D args."""
    (k,) = _validate.int_tuple(kernel_size, "kernel_size", 1, 1)
    (s,) = (k,) if stride is None else _validate.int_tuple(stride, "stride", 1, 1)
    (p,) = _validate.int_tuple(padding, "padding", 1, 0)
    if x.shape[2] < 1:
        raise ValueError(f"x: expected L >= 1, got shape {x.shape}")
    if p > k // 2:
        raise ValueError(f"padding: must be at most kernel_size // 2 (so that every window holds a "
                         f"real cell), got padding {p} > {k} // 2")
    out_len = _validate.window_output_size(x.shape[2], k, s, p, p, "L", "kernel_size")
    return (1, k), (1, s), (0, p), x.shape[:2] + (out_len,)


@traced("maxpool1d")
def maxpool1d(x, kernel_size, stride=None, padding=0):
    """1-D max pooling (PyTorch ``max_pool1d``, floor mode, implicit -inf padding).

    Runs on the 2-D max-pooling kernels with a unit height (same tie and NaN rules).

    Parameters
    ----------
    x : ndarray of shape (N, C, L), float32 or float64
    kernel_size : int >= 1 (or a 1-tuple)
    stride : int >= 1, optional. Defaults to kernel_size.
    padding : int in [0, kernel_size // 2]. Padded cells never win.

    Returns
    -------
    y : ndarray of shape (N, C, Lo), x's dtype.

    Shape
    -----
    Lo = floor((L + 2 padding - kernel_size) / stride) + 1
    """
    x = _validate.float_array(x, "x", ndim=3)
    kernel, stride2, padding2, out_shape = _pool1d_args(x, kernel_size, stride, padding)
    return _maxpool2d_op(x[:, :, None, :], kernel, stride2, padding2).reshape(out_shape)


@traced("maxpool1d_backward")
def maxpool1d_backward(x, dy, kernel_size, stride=None, padding=0):
    """Gradient of :func:`maxpool1d` with respect to x (first max on ties; overlaps accumulate).

    Parameters
    ----------
    x : ndarray of shape (N, C, L), float32 or float64. The forward input.
    dy : ndarray of shape (N, C, Lo) (maxpool1d's output shape), x's dtype.
    kernel_size, stride, padding : as in :func:`maxpool1d`.

    Returns
    -------
    dx : ndarray of shape (N, C, L), x's dtype.
    """
    x = _validate.float_array(x, "x", ndim=3)
    dy = _validate.float_array(dy, "dy", ndim=3)
    _validate.same_dtype(x=x, dy=dy)
    kernel, stride2, padding2, out_shape = _pool1d_args(x, kernel_size, stride, padding)
    _validate.shape_equals(dy, out_shape, "dy")
    dx = _maxpool2d_backward_op(x[:, :, None, :], dy[:, :, None, :], kernel, stride2, padding2)
    return dx.reshape(x.shape)

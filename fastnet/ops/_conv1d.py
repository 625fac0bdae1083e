"""1-D convolution, forward and backward, on the shared convolution core.

``conv1d`` is ``conv2d`` with a unit height: x (N, C, L) is viewed as (N, C, 1, L) and w (K, C, F)
as (K, C, 1, F) (free reshapes, no copies), so 1-D layers run on the same validated direct
convolution kernels as 2-D ones (:mod:`fastnet.kernels.conv2d`) rather than on a fourth core.
"""

from .. import _validate
from .._trace import traced
from ._conv import conv2d as _conv2d
from ._conv import conv2d_backward as _conv2d_backward

# the undecorated ops: a profiler records conv1d, not a nested conv2d
_conv2d_op = getattr(_conv2d, "__wrapped__", _conv2d)
_conv2d_backward_op = getattr(_conv2d_backward, "__wrapped__", _conv2d_backward)


def _check(x, w, b, stride, padding):
    """Validate a conv1d call with 1-D names; return (x, w, b, stride, padding, output shape)."""
    x = _validate.float_array(x, "x", ndim=3)
    w = _validate.float_array(w, "w", ndim=3)
    if b is not None:
        b = _validate.float_array(b, "b", ndim=1)
    _validate.same_dtype(x=x, w=w, b=b)
    (stride,) = _validate.int_tuple(stride, "stride", 1, 1)
    (padding,) = _validate.int_tuple(padding, "padding", 1, 0)
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w: expected {x.shape[1]} input channels (x.shape[1]) in w.shape[1], "
                         f"got w.shape = {w.shape} for x.shape = {x.shape}")
    if b is not None and b.shape[0] != w.shape[0]:
        raise ValueError(f"b: expected shape ({w.shape[0]},) (one bias per output channel of w), "
                         f"got {b.shape}")
    if min(w.shape) == 0:
        raise ValueError(f"w: every dimension must be >= 1, got shape {w.shape}")
    out_len = _validate.window_output_size(x.shape[2], w.shape[2], stride, padding, padding, "L", "w")
    return x, w, b, stride, padding, (x.shape[0], w.shape[0], out_len)


@traced("conv1d")
def conv1d(x, w, b=None, stride=1, padding=0):
    """1-D convolution (cross-correlation, as in PyTorch's ``conv1d``) over a batch of series.

    The lectures' filter slid over a series, ``s_t = sum_a x_{t-a} w_{-a}``, is this op with the
    filter stored in the order ``(w_{-F+1}, ..., w_{-1}, w_0)``: ``y[i] = s_{i+F-1}``.

    Parameters
    ----------
    x : ndarray of shape (N, C, L), float32 or float64
        Input series: N samples, C channels, length L.
    w : ndarray of shape (K, C, F), same dtype as x
        Filters: K output channels, C input channels, F taps.
    b : ndarray of shape (K,), same dtype as x, or None
    stride : int >= 1, or a 1-tuple
    padding : int >= 0, or a 1-tuple. Zeros added at both ends of L.

    Returns
    -------
    y : ndarray of shape (N, K, Lo), same dtype as x, C-contiguous
        ``y[n, k, i] = b[k] + sum_{c, f} w[k, c, f] * xpad[n, c, i*stride + f]``.

    Shape
    -----
    Lo = floor((L + 2*padding - F) / stride) + 1.
    """
    x, w, b, stride, padding, out_shape = _check(x, w, b, stride, padding)
    y = _conv2d_op(x[:, :, None, :], w[:, :, None, :], b, stride=(1, stride), padding=(0, padding))
    return y.reshape(out_shape)


@traced("conv1d_backward")
def conv1d_backward(x, w, dy, stride=1, padding=0, input_grad=True):
    """Gradients of ``sum(conv1d(x, w, b, stride, padding) * dy)``.

    Parameters
    ----------
    x : ndarray of shape (N, C, L), float32 or float64
    w : ndarray of shape (K, C, F), same dtype
    dy : ndarray of shape (N, K, Lo), same dtype: the upstream gradient (shape of conv1d's y)
    stride, padding : as in :func:`conv1d`
    input_grad : bool, default True. False skips dx (returned as None).

    Returns
    -------
    dx : ndarray of shape (N, C, L), or None when ``input_grad`` is False
    dw : ndarray of shape (K, C, F)
    db : ndarray of shape (K,): dy summed over N and Lo
    """
    _validate.boolean(input_grad, "input_grad")
    x, w, _, stride, padding, out_shape = _check(x, w, None, stride, padding)
    dy = _validate.float_array(dy, "dy", ndim=3)
    _validate.same_dtype(x=x, w=w, dy=dy)
    _validate.shape_equals(dy, out_shape, "dy")
    dx, dw, db = _conv2d_backward_op(x[:, :, None, :], w[:, :, None, :], dy[:, :, None, :],
                                     stride=(1, stride), padding=(0, padding), input_grad=input_grad)
    return (None if dx is None else dx.reshape(x.shape)), dw.reshape(w.shape), db

"""The best pure-NumPy version of every op a competent user would write: the benchmarks' baseline.

Same signatures and conventions as :mod:`fastnet.ops` (NCHW / NCDHW, convolution weights
(out_channels, in_channels, *kernel), dense weights (out_features, in_features), float32 or
float64 in, same dtype out), but no argument validation: these are baselines, not a public API.

* Convolution forward: ``sliding_window_view`` of the padded input + ``np.tensordot`` (im2col +
  one BLAS GEMM; the patch matrix is materialised, which is what costs memory on big inputs).
* Convolution backward: ``dw`` is a ``tensordot`` of ``dy`` with the same windows; ``dx`` is a
  ``tensordot`` of ``w`` with ``dy`` (the column matrix) followed by col2im: one strided ``+=``
  per kernel offset into the padded input gradient.
* Max-pool: an elementwise ``np.maximum`` over the kernel offsets (strided views); the backward
  routes ``dy`` to the first maximum of each window (row-major order, as PyTorch does).
* Activations are single NumPy expressions (``1 / (1 + np.exp(-x))`` for sigmoid), dense is ``@``.
"""

import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "relu", "relu_backward",
    "dense", "dense_backward",
    "conv2d", "conv2d_backward", "conv3d", "conv3d_backward",
    "maxpool2d", "maxpool2d_backward", "maxpool3d", "maxpool3d_backward",
    "mse_loss", "cross_entropy", "squared_error",
]


def _tuple(value, n):
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value)
    return (int(value),) * n


# ------------------------------------------------------------------------------ activations

def sigmoid(x):
    """y = 1 / (1 + exp(-x)). x: any shape, float32/float64. exp overflow (x < -88 in float32)
    gives the right limit 0, so its warning is silenced."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def sigmoid_backward(y, dy):
    """dx = dy * y * (1 - y), with y the forward output."""
    return dy * y * (1 - y)


def tanh(x):
    return np.tanh(x)


def tanh_backward(y, dy):
    """dx = dy * (1 - y**2), with y the forward output."""
    return dy * (1 - y * y)


def relu(x):
    return np.maximum(x, 0)


def relu_backward(x, dy):
    """dx = dy where x > 0, else 0 (x is the forward input)."""
    return dy * (x > 0)


# ------------------------------------------------------------------------------ dense

def dense(x, w, b=None):
    """y = x @ w.T + b. x: (N, in), w: (out, in), b: (out,) -> y: (N, out)."""
    y = x @ w.T
    if b is not None:
        y += b
    return y


def dense_backward(x, w, dy):
    """Returns (dx (N, in), dw (out, in), db (out,))."""
    return dy @ w, dy.T @ x, dy.sum(axis=0)


# ------------------------------------------------------------------------------ convolution

def _pad_spatial(x, padding, value=0.0):
    if not any(padding):
        return x
    pads = ((0, 0), (0, 0)) + tuple((p, p) for p in padding)
    return np.pad(x, pads, constant_values=value)


def _windows(xp, kernel, stride):
    """Strided view (N, C, *out, *kernel) of the padded input: every receptive field."""
    nd = len(kernel)
    spatial_axes = tuple(range(2, 2 + nd))
    view = sliding_window_view(xp, kernel, axis=spatial_axes)
    return view[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)]


def _conv_forward(x, w, b, stride, padding, nd):
    stride, padding = _tuple(stride, nd), _tuple(padding, nd)
    kernel = w.shape[2:]
    win = _windows(_pad_spatial(x, padding), kernel, stride)            # (N, C, *out, *kernel)
    contract = (1,) + tuple(range(2 + nd, 2 + 2 * nd))
    y = np.tensordot(win, w, axes=(contract, (1,) + tuple(range(2, 2 + nd))))  # (N, *out, K)
    y = np.moveaxis(y, -1, 1)
    if b is not None:
        y += b.reshape((1, -1) + (1,) * nd)
    return np.ascontiguousarray(y)


def _conv_backward(x, w, dy, stride, padding, nd):
    stride, padding = _tuple(stride, nd), _tuple(padding, nd)
    kernel = w.shape[2:]
    out = dy.shape[2:]
    xp = _pad_spatial(x, padding)
    win = _windows(xp, kernel, stride)                                  # (N, C, *out, *kernel)
    out_axes = tuple(range(2, 2 + nd))
    # dw[k, c, f...] = sum_{n, o...} dy[n, k, o...] * win[n, c, o..., f...]
    dw = np.tensordot(dy, win, axes=((0,) + out_axes, (0,) + out_axes))  # (K, C, *kernel)
    db = dy.sum(axis=(0,) + out_axes)
    # col[c, f..., n, o...] = sum_k w[k, c, f...] * dy[n, k, o...], then col2im
    col = np.tensordot(w, dy, axes=((0,), (1,)))                        # (C, *kernel, N, *out)
    dxp = np.zeros(xp.shape, dtype=dy.dtype)
    for offset in itertools.product(*(range(f) for f in kernel)):
        target = (slice(None), slice(None)) + tuple(
            slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(offset, stride, out))
        dxp[target] += np.moveaxis(col[(slice(None),) + offset], 0, 1)   # (N, C, *out)
    crop = (slice(None), slice(None)) + tuple(slice(p, p + n) for p, n in zip(padding, x.shape[2:]))
    return np.ascontiguousarray(dxp[crop]), dw, db


def conv2d(x, w, b=None, stride=1, padding=0):
    """x: (N, C, H, W), w: (K, C, FH, FW), b: (K,) -> y: (N, K, Ho, Wo),
    Ho = (H + 2 * padding - FH) // stride + 1."""
    return _conv_forward(x, w, b, stride, padding, 2)


def conv2d_backward(x, w, dy, stride=1, padding=0):
    """Returns (dx like x, dw like w, db (K,))."""
    return _conv_backward(x, w, dy, stride, padding, 2)


def conv3d(x, w, b=None, stride=1, padding=0):
    """x: (N, C, D, H, W), w: (K, C, FD, FH, FW), b: (K,) -> y: (N, K, Do, Ho, Wo)."""
    return _conv_forward(x, w, b, stride, padding, 3)


def conv3d_backward(x, w, dy, stride=1, padding=0):
    return _conv_backward(x, w, dy, stride, padding, 3)


# ------------------------------------------------------------------------------ max-pool

def _pool_geometry(x, kernel_size, stride, padding, nd):
    kernel = _tuple(kernel_size, nd)
    stride = kernel if stride is None else _tuple(stride, nd)
    padding = _tuple(padding, nd)
    out = tuple((n + 2 * p - k) // s + 1 for n, p, k, s in zip(x.shape[2:], padding, kernel, stride))
    return kernel, stride, padding, out


def _offset_view(xp, offset, stride, out):
    return xp[(slice(None), slice(None)) + tuple(
        slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(offset, stride, out))]


def _maxpool_forward(x, kernel_size, stride, padding, nd):
    kernel, stride, padding, out = _pool_geometry(x, kernel_size, stride, padding, nd)
    xp = _pad_spatial(x, padding, value=-np.inf)
    offsets = list(itertools.product(*(range(k) for k in kernel)))
    y = _offset_view(xp, offsets[0], stride, out).copy()
    for offset in offsets[1:]:
        np.maximum(y, _offset_view(xp, offset, stride, out), out=y)
    return y


def _maxpool_backward(x, dy, kernel_size, stride, padding, nd):
    kernel, stride, padding, out = _pool_geometry(x, kernel_size, stride, padding, nd)
    xp = _pad_spatial(x, padding, value=-np.inf)
    offsets = list(itertools.product(*(range(k) for k in kernel)))
    y = _offset_view(xp, offsets[0], stride, out).copy()
    for offset in offsets[1:]:
        np.maximum(y, _offset_view(xp, offset, stride, out), out=y)
    dxp = np.zeros(xp.shape, dtype=dy.dtype)
    taken = np.zeros(y.shape, dtype=bool)
    for offset in offsets:  # row-major: the first maximum of a window gets the gradient
        hit = _offset_view(xp, offset, stride, out) == y
        hit &= ~taken
        taken |= hit
        _offset_view(dxp, offset, stride, out)[...] += np.where(hit, dy, 0)
    crop = (slice(None), slice(None)) + tuple(slice(p, p + n) for p, n in zip(padding, x.shape[2:]))
    return np.ascontiguousarray(dxp[crop])


def maxpool2d(x, kernel_size, stride=None, padding=0):
    """x: (N, C, H, W) -> y: (N, C, Ho, Wo), Ho = (H + 2 * padding - kernel) // stride + 1;
    stride defaults to kernel_size, padding is with -inf."""
    return _maxpool_forward(x, kernel_size, stride, padding, 2)


def maxpool2d_backward(x, dy, kernel_size, stride=None, padding=0):
    """dx (N, C, H, W): dy routed to the (first) maximum of each window, summed over windows."""
    return _maxpool_backward(x, dy, kernel_size, stride, padding, 2)


def maxpool3d(x, kernel_size, stride=None, padding=0):
    return _maxpool_forward(x, kernel_size, stride, padding, 3)


def maxpool3d_backward(x, dy, kernel_size, stride=None, padding=0):
    return _maxpool_backward(x, dy, kernel_size, stride, padding, 3)


# ------------------------------------------------------------------------------ losses

def mse_loss(pred, target):
    """loss = mean((pred - target)**2) over every element; dpred = 2 (pred - target) / pred.size."""
    diff = pred - target
    loss = np.mean(diff * diff)
    return pred.dtype.type(loss), diff * pred.dtype.type(2.0 / pred.size)


def squared_error(pred, target):
    """loss = 0.5 * sum((pred - target)**2) (a sum, not a mean); dpred = pred - target."""
    diff = pred - target
    return pred.dtype.type(0.5 * np.sum(diff * diff)), diff


def cross_entropy(logits, labels):
    """Mean over the batch of -log softmax(logits)[label]. logits: (N, classes), labels: (N,) int.
    Returns (loss, dlogits) with dlogits = (softmax - onehot) / N."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    n = logits.shape[0]
    rows = np.arange(n)
    loss = np.mean(np.log(total[:, 0]) - shifted[rows, labels])
    dlogits = exp / total
    dlogits[rows, labels] -= 1
    dlogits /= n
    return logits.dtype.type(loss), dlogits


# --- issue 12: 1-D convolution, average pooling, batch norm, softmax ------------------------------

def conv1d(x, w, b=None, stride=1, padding=0):
    """conv2d on a unit height."""
    return conv2d(x[:, :, None, :], w[:, :, None, :], b, stride=(1, stride), padding=(0, padding))[:, :, 0, :]


def conv1d_backward(x, w, dy, stride=1, padding=0):
    dx, dw, db = conv2d_backward(x[:, :, None, :], w[:, :, None, :], dy[:, :, None, :],
                                 stride=(1, stride), padding=(0, padding))
    return dx[:, :, 0, :], dw[:, :, 0, :], db


def avgpool2d(x, kernel_size, stride=None, padding=0):
    """Mean over sliding windows of the zero-padded input (count_include_pad=True)."""
    k = kernel_size
    s = k if stride is None else stride
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    return windows.mean(axis=(4, 5)).astype(x.dtype)


def avgpool2d_backward(x, dy, kernel_size, stride=None, padding=0):
    k = kernel_size
    s = k if stride is None else stride
    n, c, h, w = x.shape
    dxp = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=x.dtype)
    g = dy / (k * k)
    ho, wo = dy.shape[2], dy.shape[3]
    for i in range(k):
        for j in range(k):
            dxp[:, :, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s] += g
    return dxp[:, :, padding:padding + h, padding:padding + w]


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        m = x.size // x.shape[1]
        if running_mean is not None:
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean
            running_var[...] = (1 - momentum) * running_var + momentum * var * m / (m - 1)
    else:
        mean, var = running_mean, running_var
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if gamma is not None:
        y = y * gamma.reshape(shape)
    if beta is not None:
        y = y + beta.reshape(shape)
    return y.astype(x.dtype)


def batch_norm_backward(x, gamma, dy, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes).reshape(shape)
    invstd = 1.0 / np.sqrt(x.var(axis=axes).reshape(shape) + eps)
    xhat = (x - mean) * invstd
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    g = 1.0 if gamma is None else gamma.reshape(shape)
    m = x.size // x.shape[1]
    dx = g * invstd * (dy - dbeta.reshape(shape) / m - xhat * dgamma.reshape(shape) / m)
    return dx.astype(x.dtype), dgamma.astype(x.dtype), dbeta.astype(x.dtype)


def softmax(x, axis=1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(y, dy, axis=1):
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True))


def leaky_relu(x, negative_slope=0.01):
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def leaky_relu_backward(x, dy, negative_slope=0.01):
    """dy where x > 0, dy * negative_slope elsewhere; a NaN in x passes through (as fastnet's)."""
    dx = np.where(x > 0, dy, dy * dy.dtype.type(negative_slope))
    return np.where(np.isnan(x), x, dx)


def dropout(x, p=0.5, seed=None):
    """Inverted dropout with the same mask draw as fastnet.ops.dropout (``rng.random >= p``)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    mask = (rng.random(x.shape) >= p).astype(x.dtype)
    return x * mask * x.dtype.type(1.0 / (1.0 - p)), mask


def dropout_backward(dy, mask, p):
    return dy * mask * dy.dtype.type(1.0 / (1.0 - p))

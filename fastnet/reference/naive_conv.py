"""Obviously-correct convolution loops, for reading and for testing, not for speed.

Same signatures and conventions as :mod:`fastnet.ops` (PyTorch layouts, cross-correlation, zero
padding on both sides of each spatial dim). Each output element is an explicit loop over the kernel
taps; each gradient is the explicit loop of the chain rule

    y[n, k, o] = b[k] + sum_{c, t} w[k, c, t] * xpad[n, c, o * stride + t]
    dx[n, c, o * stride + t - padding] += w[k, c, t] * dy[n, k, o]
    dw[k, c, t] += dy[n, k, o] * xpad[n, c, o * stride + t]
    db[k] += dy[n, k, o]

where ``o`` and ``t`` are tuples of spatial indices (output position, kernel tap). The loops run
over every output position and every tap; per (o, t) the sum over input channels is one small
matrix product over all images and channels (float64), so that tests can afford the shapes that
reach several work chunks. Only basic argument normalisation is done here; the validated ops are
in :mod:`fastnet.ops`.
"""

import itertools

import numpy as np


def _tuple(value, n):
    return (int(value),) * n if np.isscalar(value) else tuple(int(v) for v in value)


def _conv_nd(x, w, b, stride, padding, nd):
    x = np.asarray(x)
    w = np.asarray(w)
    stride = _tuple(stride, nd)
    padding = _tuple(padding, nd)
    n_batch = x.shape[0]
    n_out = w.shape[0]
    taps = w.shape[2:]
    xpad = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding]).astype(np.float64)
    w64 = w.astype(np.float64)
    out_size = tuple((xpad.shape[2 + i] - taps[i]) // stride[i] + 1 for i in range(nd))
    y = np.zeros((n_batch, n_out) + out_size, dtype=np.float64)
    every = (slice(None), slice(None))
    for o in itertools.product(*[range(s) for s in out_size]):
        total = np.zeros((n_batch, n_out)) if b is None else np.tile(np.asarray(b, np.float64), (n_batch, 1))
        for t in itertools.product(*[range(f) for f in taps]):
            pos = tuple(o[i] * stride[i] + t[i] for i in range(nd))
            # (N, C) @ (C, K): the sum over input channels, for every image and output channel
            with np.errstate(invalid="ignore"):   # inf * 0 is NaN, as in the scalar loop
                total += xpad[every + pos] @ w64[every + t].T
        y[every + o] = total
    return y.astype(x.dtype)


def _conv_nd_backward(x, w, dy, stride, padding, nd):
    x = np.asarray(x)
    w = np.asarray(w)
    dy = np.asarray(dy)
    stride = _tuple(stride, nd)
    padding = _tuple(padding, nd)
    n_out = w.shape[0]
    taps = w.shape[2:]
    xpad = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding]).astype(np.float64)
    w64 = w.astype(np.float64)
    dxpad = np.zeros(xpad.shape, dtype=np.float64)
    dw = np.zeros(w.shape, dtype=np.float64)
    db = np.zeros(n_out, dtype=np.float64)
    out_size = dy.shape[2:]
    every = (slice(None), slice(None))
    for o in itertools.product(*[range(s) for s in out_size]):
        g = dy[every + o].astype(np.float64)   # (N, K)
        db += g.sum(axis=0)
        for t in itertools.product(*[range(f) for f in taps]):
            pos = tuple(o[i] * stride[i] + t[i] for i in range(nd))
            with np.errstate(invalid="ignore"):   # inf * 0 is NaN, as in the scalar loop
                dxpad[every + pos] += g @ w64[every + t]      # (N, K) @ (K, C)
                dw[every + t] += g.T @ xpad[every + pos]      # (K, N) @ (N, C)
    crop = tuple(slice(p, p + s) for p, s in zip(padding, x.shape[2:]))
    dx = dxpad[every + crop]
    return dx.astype(x.dtype), dw.astype(x.dtype), db.astype(x.dtype)


def conv2d(x, w, b=None, stride=1, padding=0):
    """x (N, C, H, W), w (K, C, FH, FW), b (K,) or None -> y (N, K, Ho, Wo); Ho = (H + 2ph - FH)//sh + 1."""
    return _conv_nd(x, w, b, stride, padding, 2)


def conv2d_backward(x, w, dy, stride=1, padding=0):
    """-> (dx (N, C, H, W), dw (K, C, FH, FW), db (K,)), the gradients of sum(conv2d(x, w) * dy)."""
    return _conv_nd_backward(x, w, dy, stride, padding, 2)


def conv3d(x, w, b=None, stride=1, padding=0):
    """x (N, C, D, H, W), w (K, C, FD, FH, FW), b (K,) or None -> y (N, K, Do, Ho, Wo)."""
    return _conv_nd(x, w, b, stride, padding, 3)


def conv3d_backward(x, w, dy, stride=1, padding=0):
    """-> (dx (N, C, D, H, W), dw (K, C, FD, FH, FW), db (K,)), the gradients of sum(conv3d(x, w) * dy)."""
    return _conv_nd_backward(x, w, dy, stride, padding, 3)

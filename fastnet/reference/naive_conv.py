"""Obviously-correct convolution loops, for reading and for testing, not for speed.

Same signatures and conventions as :mod:`fastnet.ops` (PyTorch layouts, cross-correlation, zero
padding on both sides of each spatial dim). Each output element is an explicit loop over the kernel
taps; each gradient is the explicit loop of the chain rule

    y[n, k, o] = b[k] + sum_{c, t} w[k, c, t] * xpad[n, c, o * stride + t]
    dx[n, c, o * stride + t - padding] += w[k, c, t] * dy[n, k, o]
    dw[k, c, t] += dy[n, k, o] * xpad[n, c, o * stride + t]
    db[k] += dy[n, k, o]

where ``o`` and ``t`` are tuples of spatial indices (output position, kernel tap). Only basic
argument normalisation is done here; the validated ops are in :mod:`fastnet.ops`.
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
    n_batch, channels = x.shape[:2]
    n_out = w.shape[0]
    taps = w.shape[2:]
    xpad = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    out_size = tuple((xpad.shape[2 + i] - taps[i]) // stride[i] + 1 for i in range(nd))
    y = np.zeros((n_batch, n_out) + out_size, dtype=x.dtype)
    for n in range(n_batch):
        for k in range(n_out):
            for o in itertools.product(*[range(s) for s in out_size]):
                total = 0.0 if b is None else float(b[k])
                for c in range(channels):
                    for t in itertools.product(*[range(f) for f in taps]):
                        pos = tuple(o[i] * stride[i] + t[i] for i in range(nd))
                        total += float(w[(k, c) + t]) * float(xpad[(n, c) + pos])
                y[(n, k) + o] = total
    return y


def _conv_nd_backward(x, w, dy, stride, padding, nd):
    x = np.asarray(x)
    w = np.asarray(w)
    dy = np.asarray(dy)
    stride = _tuple(stride, nd)
    padding = _tuple(padding, nd)
    n_batch, channels = x.shape[:2]
    n_out = w.shape[0]
    taps = w.shape[2:]
    xpad = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding]).astype(np.float64)
    dxpad = np.zeros(xpad.shape, dtype=np.float64)
    dw = np.zeros(w.shape, dtype=np.float64)
    db = np.zeros(n_out, dtype=np.float64)
    out_size = dy.shape[2:]
    for n in range(n_batch):
        for k in range(n_out):
            for o in itertools.product(*[range(s) for s in out_size]):
                g = float(dy[(n, k) + o])
                db[k] += g
                for c in range(channels):
                    for t in itertools.product(*[range(f) for f in taps]):
                        pos = tuple(o[i] * stride[i] + t[i] for i in range(nd))
                        dxpad[(n, c) + pos] += float(w[(k, c) + t]) * g
                        dw[(k, c) + t] += g * xpad[(n, c) + pos]
    crop = tuple(slice(p, p + s) for p, s in zip(padding, x.shape[2:]))
    dx = dxpad[(slice(None), slice(None)) + crop]
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

"""Obviously-correct plain loops for the pointwise, dense, pooling and loss ops.

Written for reading, not speed: every function loops over the output one element (or one window)
at a time, in float64 where rounding could matter, and casts back to the input dtype. Signatures
match :mod:`fastnet.ops`. Inputs are assumed valid (the checks live in fastnet.ops). Tests compare
every kernel with these; the benchmarks use them as the "numpy_loops" baseline.
"""

import math

import numpy as np


def _pair(value, n):
    return (value,) * n if isinstance(value, (int, np.integer)) else tuple(value)


# --- activations -----------------------------------------------------------------------------------

def _sigmoid_scalar(v):
    """1 / (1 + exp(-v)), evaluated on the side where exp cannot overflow."""
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)          # v < 0, or NaN: exp(NaN) is NaN
    return e / (1.0 + e)


def sigmoid(x):
    y = np.empty(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        y[idx] = _sigmoid_scalar(float(x[idx]))
    return y.astype(x.dtype)


def sigmoid_backward(y, dy):
    dx = np.empty(y.shape, dtype=np.float64)
    for idx in np.ndindex(y.shape):
        s = float(y[idx])
        dx[idx] = float(dy[idx]) * s * (1.0 - s)
    return dx.astype(y.dtype)


def tanh(x):
    y = np.empty(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        y[idx] = math.tanh(float(x[idx]))
    return y.astype(x.dtype)


def tanh_backward(y, dy):
    dx = np.empty(y.shape, dtype=np.float64)
    for idx in np.ndindex(y.shape):
        t = float(y[idx])
        dx[idx] = float(dy[idx]) * (1.0 - t * t)
    return dx.astype(y.dtype)


def relu(x):
    y = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        v = x[idx]
        y[idx] = v if (v > 0 or math.isnan(v)) else 0.0
    return y


def relu_backward(x, dy):
    """dy where x > 0, 0 where x <= 0, NaN where x is NaN."""
    dx = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        v = x[idx]
        if math.isnan(v):
            dx[idx] = np.nan
        elif v > 0:
            dx[idx] = dy[idx]
        else:
            dx[idx] = 0.0
    return dx


# --- dense -----------------------------------------------------------------------------------------

def dense(x, w, b=None):
    """y[i, j] = sum_k x[i, k] * w[j, k] + b[j]: one float64 dot product per output element."""
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    y = np.empty((x.shape[0], w.shape[0]), dtype=np.float64)
    for i in range(x.shape[0]):
        for j in range(w.shape[0]):
            y[i, j] = np.dot(x64[i], w64[j]) + (0.0 if b is None else float(b[j]))
    return y.astype(x.dtype)


def dense_backward(x, w, dy):
    """Accumulate each output element's contribution: dx[i] += dy[i, j] * w[j],
    dw[j] += dy[i, j] * x[i], db[j] += dy[i, j]."""
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    dx = np.zeros(x.shape, dtype=np.float64)
    dw = np.zeros(w.shape, dtype=np.float64)
    db = np.zeros(w.shape[0], dtype=np.float64)
    for i in range(x.shape[0]):
        for j in range(w.shape[0]):
            g = float(dy[i, j])
            dx[i] += g * w64[j]
            dw[j] += g * x64[i]
            db[j] += g
    return dx.astype(x.dtype), dw.astype(x.dtype), db.astype(x.dtype)


# --- max pooling -----------------------------------------------------------------------------------

def _window_argmax(x, window):
    """Index of the max of x over the in-bounds cells of ``window`` (a list of index tuples),
    visited in row-major order: the first maximum wins ties, the first NaN wins outright."""
    best = None
    for idx in window:
        inside = all(0 <= i < s for i, s in zip(idx, x.shape))
        if not inside:
            continue                      # padding is -inf: it never wins
        v = x[idx]
        if best is None:
            best = idx
        elif math.isnan(x[best]):
            pass                          # a NaN already won
        elif math.isnan(v) or v > x[best]:
            best = idx
    return best


def _windows(out_shape, kernel, stride, padding):
    """Yield (output index, list of input indices of its window in row-major order)."""
    for out_idx in np.ndindex(*out_shape):
        starts = [o * s - p for o, s, p in zip(out_idx, stride, padding)]
        cells = [tuple(start + k for start, k in zip(starts, offs)) for offs in np.ndindex(*kernel)]
        yield out_idx, cells


def _pool_output_shape(spatial, kernel, stride, padding):
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(spatial, kernel, stride, padding))


def _maxpool(x, kernel_size, stride, padding, n_spatial):
    kernel = _pair(kernel_size, n_spatial)
    stride = kernel if stride is None else _pair(stride, n_spatial)
    padding = _pair(padding, n_spatial)
    out_spatial = _pool_output_shape(x.shape[2:], kernel, stride, padding)
    y = np.empty(x.shape[:2] + out_spatial, dtype=x.dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            plane = x[n, c]
            for out_idx, cells in _windows(out_spatial, kernel, stride, padding):
                y[(n, c) + out_idx] = plane[_window_argmax(plane, cells)]
    return y


def _maxpool_backward(x, dy, kernel_size, stride, padding, n_spatial):
    kernel = _pair(kernel_size, n_spatial)
    stride = kernel if stride is None else _pair(stride, n_spatial)
    padding = _pair(padding, n_spatial)
    out_spatial = dy.shape[2:]
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            plane = x[n, c]
            for out_idx, cells in _windows(out_spatial, kernel, stride, padding):
                dx[(n, c) + _window_argmax(plane, cells)] += dy[(n, c) + out_idx]
    return dx


def maxpool2d(x, kernel_size, stride=None, padding=0):
    return _maxpool(x, kernel_size, stride, padding, 2)


def maxpool2d_backward(x, dy, kernel_size, stride=None, padding=0):
    return _maxpool_backward(x, dy, kernel_size, stride, padding, 2)


def maxpool3d(x, kernel_size, stride=None, padding=0):
    return _maxpool(x, kernel_size, stride, padding, 3)


def maxpool3d_backward(x, dy, kernel_size, stride=None, padding=0):
    return _maxpool_backward(x, dy, kernel_size, stride, padding, 3)


# --- losses ----------------------------------------------------------------------------------------

def mse_loss(pred, target):
    total = 0.0
    dpred = np.empty(pred.shape, dtype=np.float64)
    n = pred.size
    for idx in np.ndindex(pred.shape):
        d = float(pred[idx]) - float(target[idx])
        total += d * d
        dpred[idx] = 2.0 * d / n
    return pred.dtype.type(total / n), dpred.astype(pred.dtype)


def squared_error(pred, target):
    total = 0.0
    dpred = np.empty(pred.shape, dtype=np.float64)
    for idx in np.ndindex(pred.shape):
        d = float(pred[idx]) - float(target[idx])
        total += d * d
        dpred[idx] = d
    return pred.dtype.type(0.5 * total), dpred.astype(pred.dtype)


def cross_entropy(logits, labels):
    n_rows, n_classes = logits.shape
    total = 0.0
    dlogits = np.empty((n_rows, n_classes), dtype=np.float64)
    for i in range(n_rows):
        row = [float(v) for v in logits[i]]
        shift = max(row) if not any(math.isnan(v) for v in row) else math.nan
        exps = [math.exp(v - shift) for v in row]
        norm = sum(exps)
        label = int(labels[i])
        total += math.log(norm) + shift - row[label]
        for j in range(n_classes):
            onehot = 1.0 if j == label else 0.0
            dlogits[i, j] = (exps[j] / norm - onehot) / n_rows
    return logits.dtype.type(total / n_rows), dlogits.astype(logits.dtype)

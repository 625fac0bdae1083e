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


def cross_entropy_weighted(logits, labels, label_smoothing=0.0, weight=None):
    """torch.nn.CrossEntropyLoss(weight, label_smoothing), mean: sum_i sum_j q[i, j] w[j] (-log p[i, j])
    / sum_i w[y_i], with the smoothed target q = (1 - eps) onehot + eps / C."""
    n_rows, n_classes = logits.shape
    w = [1.0] * n_classes if weight is None else [float(v) for v in weight]
    eps = float(label_smoothing)
    grad = np.zeros((n_rows, n_classes), dtype=np.float64)
    total = 0.0
    weight_sum = sum(w[int(y)] for y in labels)
    for i in range(n_rows):
        row = [float(v) for v in logits[i]]
        shift = max(row)
        lse = math.log(sum(math.exp(v - shift) for v in row)) + shift
        probs = [math.exp(v - lse) for v in row]
        y = int(labels[i])
        for j in range(n_classes):
            # coefficient of -log p[i, j]: (1 - eps) w[y] [j == y] + eps / C w[j]
            c = (1.0 - eps) * w[y] * (1.0 if j == y else 0.0) + eps / n_classes * w[j]
            total += c * (lse - row[j])
            for k in range(n_classes):       # d(-log p_j)/dx_k = p_k - [j == k]
                grad[i, k] += c * (probs[k] - (1.0 if j == k else 0.0))
    return logits.dtype.type(total / weight_sum), (grad / weight_sum).astype(logits.dtype)


def nll_loss(log_probs, labels, weight=None, ignore_index=None):
    n_rows, n_classes = log_probs.shape
    w = [1.0] * n_classes if weight is None else [float(v) for v in weight]
    grad = np.zeros((n_rows, n_classes), dtype=np.float64)
    kept = [i for i in range(n_rows) if ignore_index is None or int(labels[i]) != ignore_index]
    weight_sum = sum(w[int(labels[i])] for i in kept)
    total = 0.0
    for i in kept:
        y = int(labels[i])
        total -= w[y] * float(log_probs[i, y])
        grad[i, y] = -w[y] / weight_sum
    return log_probs.dtype.type(total / weight_sum), grad.astype(log_probs.dtype)


def binary_cross_entropy_with_logits(logits, target, pos_weight=None):
    """-[p y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))], with log sigmoid(x) = -log(1 + exp(-x))
    written on the side where exp cannot overflow."""
    n = logits.size
    pw = np.ones(logits.shape) if pos_weight is None else np.broadcast_to(np.asarray(pos_weight, np.float64),
                                                                           logits.shape)
    total = 0.0
    grad = np.empty(logits.shape, dtype=np.float64)
    for idx in np.ndindex(logits.shape):
        x, y, p = float(logits[idx]), float(target[idx]), float(pw[idx])
        log_sig = -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))        # log sigmoid(x)
        log_one_minus = -x + log_sig                                                         # log sigmoid(-x)
        total -= p * y * log_sig + (1 - y) * log_one_minus
        sig = _sigmoid_scalar(x)
        grad[idx] = (p * y * (sig - 1.0) + (1 - y) * sig) / n
    return logits.dtype.type(total / n), grad.astype(logits.dtype)


def l1_loss(pred, target):
    n = pred.size
    total = 0.0
    grad = np.empty(pred.shape, dtype=np.float64)
    for idx in np.ndindex(pred.shape):
        d = float(pred[idx]) - float(target[idx])
        total += abs(d)
        grad[idx] = (1.0 if d > 0 else -1.0 if d < 0 else 0.0) / n
    return pred.dtype.type(total / n), grad.astype(pred.dtype)


def huber_loss(pred, target, delta=1.0):
    n = pred.size
    total = 0.0
    grad = np.empty(pred.shape, dtype=np.float64)
    for idx in np.ndindex(pred.shape):
        d = float(pred[idx]) - float(target[idx])
        if abs(d) < delta:
            total += 0.5 * d * d
            grad[idx] = d / n
        else:
            total += delta * (abs(d) - 0.5 * delta)
            grad[idx] = math.copysign(delta, d) / n
    return pred.dtype.type(total / n), grad.astype(pred.dtype)

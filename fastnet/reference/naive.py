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
# --- issue 12: 1-D convolution and pooling, average pooling, batch norm, dropout, softmax ---------

def conv1d(x, w, b=None, stride=1, padding=0):
    """x (N, C, L), w (K, C, F) -> y (N, K, Lo): y[n,k,o] = b[k] + sum_{c,f} w[k,c,f] xpad[n,c,o*s+f]."""
    n_batch, channels, length = x.shape
    n_out, _, taps = w.shape
    xpad = np.zeros((n_batch, channels, length + 2 * padding))
    xpad[:, :, padding:padding + length] = x
    out_len = (length + 2 * padding - taps) // stride + 1
    y = np.zeros((n_batch, n_out, out_len))
    for n in range(n_batch):
        for k in range(n_out):
            for o in range(out_len):
                total = 0.0 if b is None else float(b[k])
                for c in range(channels):
                    for f in range(taps):
                        total += float(w[k, c, f]) * xpad[n, c, o * stride + f]
                y[n, k, o] = total
    return y.astype(x.dtype)


def conv1d_backward(x, w, dy, stride=1, padding=0):
    """-> (dx (N, C, L), dw (K, C, F), db (K,)), the gradients of sum(conv1d(x, w) * dy)."""
    n_batch, channels, length = x.shape
    n_out, _, taps = w.shape
    xpad = np.zeros((n_batch, channels, length + 2 * padding))
    xpad[:, :, padding:padding + length] = x
    dxpad = np.zeros_like(xpad)
    dw = np.zeros(w.shape)
    db = np.zeros(n_out)
    for n in range(n_batch):
        for k in range(n_out):
            for o in range(dy.shape[2]):
                g = float(dy[n, k, o])
                db[k] += g
                for c in range(channels):
                    for f in range(taps):
                        dxpad[n, c, o * stride + f] += float(w[k, c, f]) * g
                        dw[k, c, f] += g * xpad[n, c, o * stride + f]
    dx = dxpad[:, :, padding:padding + length]
    return dx.astype(x.dtype), dw.astype(x.dtype), db.astype(x.dtype)


def maxpool1d(x, kernel_size, stride=None, padding=0):
    return _maxpool(x, kernel_size, stride, padding, 1)


def maxpool1d_backward(x, dy, kernel_size, stride=None, padding=0):
    return _maxpool_backward(x, dy, kernel_size, stride, padding, 1)


def avgpool2d(x, kernel_size, stride=None, padding=0):
    """Window sums over the zero-padded input divided by kH*kW (count_include_pad=True)."""
    kernel = _pair(kernel_size, 2)
    stride = kernel if stride is None else _pair(stride, 2)
    padding = _pair(padding, 2)
    out_spatial = _pool_output_shape(x.shape[2:], kernel, stride, padding)
    y = np.empty(x.shape[:2] + out_spatial, dtype=np.float64)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            plane = x[n, c]
            for out_idx, cells in _windows(out_spatial, kernel, stride, padding):
                total = 0.0
                for idx in cells:
                    if all(0 <= i < s for i, s in zip(idx, plane.shape)):
                        total += float(plane[idx])      # padded cells add 0
                y[(n, c) + out_idx] = total / (kernel[0] * kernel[1])
    return y.astype(x.dtype)


def avgpool2d_backward(x, dy, kernel_size, stride=None, padding=0):
    kernel = _pair(kernel_size, 2)
    stride = kernel if stride is None else _pair(stride, 2)
    padding = _pair(padding, 2)
    dx = np.zeros(x.shape, dtype=np.float64)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for out_idx, cells in _windows(dy.shape[2:], kernel, stride, padding):
                g = float(dy[(n, c) + out_idx]) / (kernel[0] * kernel[1])
                for idx in cells:
                    if all(0 <= i < s for i, s in zip(idx, x.shape[2:])):
                        dx[(n, c) + idx] += g
    return dx.astype(x.dtype)


def global_avgpool2d(x):
    y = np.empty(x.shape[:2], dtype=np.float64)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            total = 0.0
            for idx in np.ndindex(x.shape[2:]):
                total += float(x[(n, c) + idx])
            y[n, c] = total / (x.shape[2] * x.shape[3])
    return y.astype(x.dtype)


def global_avgpool2d_backward(x, dy):
    dx = np.empty(x.shape, dtype=np.float64)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for idx in np.ndindex(x.shape[2:]):
                dx[(n, c) + idx] = float(dy[n, c]) / (x.shape[2] * x.shape[3])
    return dx.astype(x.dtype)


def _channel_values(x, c):
    """Every value of channel c of an (N, C, ...) array, as a list of floats."""
    return [float(x[(n, c) + idx]) for n in range(x.shape[0]) for idx in np.ndindex(x.shape[2:])]


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """As torch.nn.functional.batch_norm; updates running_mean/running_var in place in training."""
    y = np.empty(x.shape, dtype=np.float64)
    for c in range(x.shape[1]):
        if training:
            values = _channel_values(x, c)
            m = len(values)
            mean = sum(values) / m
            var = sum((v - mean) ** 2 for v in values) / m            # biased, for normalising
            if running_mean is not None:
                running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean
                running_var[c] = (1 - momentum) * running_var[c] + momentum * var * m / (m - 1)
        else:
            mean, var = float(running_mean[c]), float(running_var[c])
        g = 1.0 if gamma is None else float(gamma[c])
        b = 0.0 if beta is None else float(beta[c])
        for n in range(x.shape[0]):
            for idx in np.ndindex(x.shape[2:]):
                y[(n, c) + idx] = (float(x[(n, c) + idx]) - mean) / math.sqrt(var + eps) * g + b
    return y.astype(x.dtype)


def batch_norm_backward(x, gamma, dy, eps=1e-5):
    """Training-mode gradients, from the chain rule through mean and variance written out."""
    dx = np.empty(x.shape, dtype=np.float64)
    dgamma = np.zeros(x.shape[1])
    dbeta = np.zeros(x.shape[1])
    for c in range(x.shape[1]):
        xs = _channel_values(x, c)
        gs = _channel_values(dy, c)
        m = len(xs)
        mean = sum(xs) / m
        var = sum((v - mean) ** 2 for v in xs) / m
        invstd = 1.0 / math.sqrt(var + eps)
        g = 1.0 if gamma is None else float(gamma[c])
        xhat = [(v - mean) * invstd for v in xs]
        dbeta[c] = sum(gs)
        dgamma[c] = sum(gi * hi for gi, hi in zip(gs, xhat))
        dxhat = [gi * g for gi in gs]
        dvar = sum(d * (v - mean) for d, v in zip(dxhat, xs)) * -0.5 * invstd ** 3
        dmean = -invstd * sum(dxhat) + dvar * sum(-2.0 * (v - mean) for v in xs) / m
        i = 0
        for n in range(x.shape[0]):
            for idx in np.ndindex(x.shape[2:]):
                dx[(n, c) + idx] = dxhat[i] * invstd + dvar * 2.0 * (xs[i] - mean) / m + dmean / m
                i += 1
    return dx.astype(x.dtype), dgamma.astype(x.dtype), dbeta.astype(x.dtype)


def dropout(x, p=0.5, seed=None):
    """Inverted dropout with the same mask draw as fastnet.ops.dropout."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    draws = rng.random(x.shape)
    mask = np.empty(x.shape, dtype=x.dtype)
    y = np.empty(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        keep = draws[idx] >= p
        mask[idx] = 1.0 if keep else 0.0
        y[idx] = float(x[idx]) / (1.0 - p) if keep else 0.0 * float(x[idx])
    return y.astype(x.dtype), mask


def dropout_backward(dy, mask, p):
    dx = np.empty(dy.shape, dtype=np.float64)
    for idx in np.ndindex(dy.shape):
        dx[idx] = float(dy[idx]) * float(mask[idx]) / (1.0 - p)
    return dx.astype(dy.dtype)


def _lines(shape, axis):
    """Yield, for every line along ``axis``, the list of its index tuples."""
    rest = shape[:axis] + shape[axis + 1:]
    for r in np.ndindex(*rest):
        yield [r[:axis] + (i,) + r[axis:] for i in range(shape[axis])]


def softmax(x, axis=1):
    axis %= x.ndim
    y = np.empty(x.shape, dtype=np.float64)
    for line in _lines(x.shape, axis):
        values = [float(x[i]) for i in line]
        top = max(values)
        exps = [math.exp(v - top) for v in values]
        total = sum(exps)
        for i, e in zip(line, exps):
            y[i] = e / total
    return y.astype(x.dtype)


def log_softmax(x, axis=1):
    axis %= x.ndim
    y = np.empty(x.shape, dtype=np.float64)
    for line in _lines(x.shape, axis):
        values = [float(x[i]) for i in line]
        top = max(values)
        log_total = math.log(sum(math.exp(v - top) for v in values))
        for i, v in zip(line, values):
            y[i] = v - top - log_total
    return y.astype(x.dtype)


def softmax_backward(y, dy, axis=1):
    """dx_i = sum_j dy_j * dy_j/dx_i with the softmax Jacobian y_j (delta_ij - y_i)."""
    axis %= y.ndim
    dx = np.empty(y.shape, dtype=np.float64)
    for line in _lines(y.shape, axis):
        for i in line:
            dx[i] = sum(float(dy[j]) * float(y[j]) * ((1.0 if i == j else 0.0) - float(y[i])) for j in line)
    return dx.astype(y.dtype)


def log_softmax_backward(y, dy, axis=1):
    """dx_i = sum_j dy_j * (delta_ij - softmax_i), softmax_i = exp(y_i)."""
    axis %= y.ndim
    dx = np.empty(y.shape, dtype=np.float64)
    for line in _lines(y.shape, axis):
        for i in line:
            dx[i] = sum(float(dy[j]) * ((1.0 if i == j else 0.0) - math.exp(float(y[i]))) for j in line)
    return dx.astype(y.dtype)


def leaky_relu(x, negative_slope=0.01):
    y = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        v = x[idx]
        y[idx] = v if v > 0 else v * negative_slope
    return y


def leaky_relu_backward(x, dy, negative_slope=0.01):
    dx = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        v = x[idx]
        dx[idx] = v if math.isnan(v) else (dy[idx] if v > 0 else dy[idx] * negative_slope)
    return dx

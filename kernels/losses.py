"""Loss kernels: mean squared error, half squared error, softmax cross-entropy (plain, and with
class weights / label smoothing), binary cross-entropy on logits, negative log-likelihood, L1, Huber.

Each kernel computes the loss and its gradient in one pass and returns the (un-normalised) sum as
a float64; the wrapper divides and casts. Sums are reduced deterministically: fixed-size blocks
(independent of the thread count) each summed by one prange iteration in float64, then the block
sums added in order, so the result is bitwise reproducible for any number of threads.

Shapes: pred, target, dpred flat (n,) C-contiguous of one dtype; logits, dlogits (N, C); labels
(N,) int64, already checked to lie in [0, C) (nll_loss: or equal to ignore_index); weight (C,) of
the logits' dtype.
"""

import math

import numpy as np
from numba import prange

from ._config import accumulator_kernel, parallel_kernel, serial_kernel
from .softmax import _line_exp_sum, _line_max

_BLOCK = 4096


@accumulator_kernel
def _ordered_sum(partials):
    """sum(partials) in index order; partials : (B,) float64 for either data dtype."""
    total = 0.0
    for i in range(partials.shape[0]):
        total += partials[i]
    return total


@parallel_kernel
def mse_loss_forward(pred, target, dpred):
    """Return sum((pred - target)**2); write dpred = 2 * (pred - target) / n."""
    n = pred.shape[0]
    scale = pred.dtype.type(2.0 / n)
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    partials = np.zeros(n_blocks, dtype=np.float64)
    for blk in prange(n_blocks):
        start = blk * _BLOCK
        stop = min(start + _BLOCK, n)
        acc = 0.0
        for i in range(start, stop):
            d = pred[i] - target[i]
            dpred[i] = scale * d
            acc += np.float64(d) * np.float64(d)
        partials[blk] = acc
    return _ordered_sum(partials)


@parallel_kernel
def squared_error_forward(pred, target, dpred):
    """Return sum((pred - target)**2); write dpred = pred - target."""
    n = pred.shape[0]
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    partials = np.zeros(n_blocks, dtype=np.float64)
    for blk in prange(n_blocks):
        start = blk * _BLOCK
        stop = min(start + _BLOCK, n)
        acc = 0.0
        for i in range(start, stop):
            d = pred[i] - target[i]
            dpred[i] = d
            acc += np.float64(d) * np.float64(d)
        partials[blk] = acc
    return _ordered_sum(partials)


@serial_kernel
def _row_exp_sum(row, exps):
    """exps[j] = exp(row[j] - m) for a (C,) row whose max is m; returns (m as float64, the sum of
    exps as float64): logsumexp(row) = log(sum) + m without overflow. A NaN in the row makes m,
    the sum and every exps[j] NaN. The two vectorised passes of the softmax kernels
    (:func:`fastnet.kernels.softmax._line_max`, ``_line_exp_sum``)."""
    m = _line_max(row)
    return np.float64(m), _line_exp_sum(row, m, exps)


@parallel_kernel
def cross_entropy_forward(logits, labels, dlogits):
    """Return sum_i (logsumexp(logits[i]) - logits[i, labels[i]]); write dlogits = (softmax - onehot) / N.

    With the max-shift, so logits of +-1e4 neither overflow nor warn: the exponentials in the
    logits' dtype by the softmax kernels' vectorised passes (written into dlogits, then scaled),
    their sum, the loss and each gradient entry in float64 from them. A NaN in a row makes that
    row's loss and gradient NaN. (1024, 1000) float32 on one Zen 4 thread: 0.64 ms, PyTorch's
    cross_entropy forward and backward 1.51; scalar float64 ``math.exp`` before: 10.4 ms. The
    float32 gradient lies within 1.7e-7 / N of the float64 result (3e-8 with float64
    exponentials; PyTorch's 5e-7).
    """
    n_rows, n_classes = logits.shape
    row_loss = np.zeros(n_rows, dtype=np.float64)
    inv_n = 1.0 / n_rows
    for i in prange(n_rows):
        row = logits[i]
        grad = dlogits[i]
        m, total = _row_exp_sum(row, grad)           # grad[j] = exp(row[j] - m) for now
        log_total = math.log(total)
        inv_total = 1.0 / total
        label = labels[i]
        for j in range(n_classes):
            g = np.float64(grad[j]) * inv_total
            if j == label:
                g -= 1.0
            grad[j] = g * inv_n
        row_loss[i] = log_total + m - np.float64(row[label])
    return _ordered_sum(row_loss)


@parallel_kernel
def cross_entropy_weighted_forward(logits, labels, weight, label_smoothing, inv_weight_sum, dlogits):
    """torch.nn.CrossEntropyLoss with class ``weight`` and ``label_smoothing`` (eps), before the mean.

    Returns sum_i [(1 - eps) w[y_i] (lse_i - x[i, y_i]) + eps/C sum_c w[c] (lse_i - x[i, c])], with
    lse_i = logsumexp(x[i]); writes its gradient times ``inv_weight_sum`` (1 / sum_i w[y_i], the
    wrapper's normaliser) into dlogits:
    dlogits[i, j] = (p[i, j] ((1 - eps) w[y_i] + eps/C sum_c w[c]) - (1 - eps) w[y_i] [j == y_i] - eps/C w[j]) / W.
    """
    n_rows, n_classes = logits.shape
    row_loss = np.zeros(n_rows, dtype=np.float64)
    keep = 1.0 - label_smoothing
    spread = label_smoothing / n_classes
    weight_total = 0.0
    for j in range(n_classes):
        weight_total += np.float64(weight[j])
    for i in prange(n_rows):
        row = logits[i]
        grad = dlogits[i]
        m, total = _row_exp_sum(row, grad)           # grad[j] = exp(row[j] - m) for now
        lse = math.log(total) + m
        inv_total = 1.0 / total
        label = labels[i]
        w_label = np.float64(weight[label])
        p_scale = keep * w_label + spread * weight_total
        smooth = 0.0
        for j in range(n_classes):
            w_j = np.float64(weight[j])
            g = np.float64(grad[j]) * inv_total * p_scale - spread * w_j
            if j == label:
                g -= keep * w_label
            grad[j] = g * inv_weight_sum
            if spread != 0.0:
                smooth += w_j * (lse - np.float64(row[j]))
        row_loss[i] = keep * w_label * (lse - np.float64(row[label])) + spread * smooth
    return _ordered_sum(row_loss)


@serial_kernel
def nll_loss_forward(logp, labels, weight, ignore_index, dlogp):
    """torch.nn.NLLLoss (mean): returns (sum_i -w[y_i] logp[i, y_i], sum_i w[y_i]) over the rows with
    y_i != ignore_index; writes dlogp[i, y_i] = -w[y_i] / sum_i w[y_i] and zeros elsewhere."""
    n_rows, n_classes = logp.shape
    weight_sum = 0.0
    for i in range(n_rows):
        if labels[i] != ignore_index:
            weight_sum += np.float64(weight[labels[i]])
    inv = 1.0 / weight_sum
    total = 0.0
    for i in range(n_rows):
        for j in range(n_classes):
            dlogp[i, j] = 0.0
        label = labels[i]
        if label != ignore_index:
            w = np.float64(weight[label])
            total -= w * np.float64(logp[i, label])
            dlogp[i, label] = -w * inv
    return total, weight_sum


@parallel_kernel
def bce_with_logits_forward(pred, target, pos_weight, dpred):
    """Return sum of the stable binary cross-entropy on logits; write dpred = its gradient / n.

    Per element (x = pred, y = target, p = pos_weight or 1 when ``pos_weight`` is empty)::

        loss = (1 - y) x + (1 + (p - 1) y) softplus(-x),  softplus(-x) = max(-x, 0) + log1p(exp(-|x|))
        dloss/dx = (1 - y) - (1 + (p - 1) y) sigmoid(-x)     (= sigmoid(x) - y when p = 1)

    exp is only taken of -|x|, so logits of +-1e4 neither overflow nor warn; NaN propagates.
    """
    n = pred.shape[0]
    inv_n = 1.0 / n
    weighted = pos_weight.shape[0] > 0
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    partials = np.zeros(n_blocks, dtype=np.float64)
    for blk in prange(n_blocks):
        start = blk * _BLOCK
        stop = min(start + _BLOCK, n)
        acc = 0.0
        for i in range(start, stop):
            x = np.float64(pred[i])
            y = np.float64(target[i])
            scale = 1.0
            if weighted:
                scale = 1.0 + (np.float64(pos_weight[i]) - 1.0) * y
            e = math.exp(-abs(x))                       # in (0, 1]; NaN for NaN x
            neg_part = -x if x < 0 else 0.0             # max(-x, 0)
            softplus_neg = neg_part + math.log1p(e)
            if x >= 0:
                sig_neg = e / (1.0 + e)                 # sigmoid(-x) for x >= 0
            else:
                sig_neg = 1.0 / (1.0 + e)               # for x < 0 (and NaN: NaN through e)
            acc += (1.0 - y) * x + scale * softplus_neg
            dpred[i] = ((1.0 - y) - scale * sig_neg) * inv_n
        partials[blk] = acc
    return _ordered_sum(partials)


@parallel_kernel
def l1_loss_forward(pred, target, dpred):
    """Return sum |pred - target|; write dpred = sign(pred - target) / n (sign(0) = 0, NaN stays NaN)."""
    n = pred.shape[0]
    inv_n = 1.0 / n
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    partials = np.zeros(n_blocks, dtype=np.float64)
    for blk in prange(n_blocks):
        start = blk * _BLOCK
        stop = min(start + _BLOCK, n)
        acc = 0.0
        for i in range(start, stop):
            d = np.float64(pred[i]) - np.float64(target[i])
            acc += abs(d)
            if d > 0:
                dpred[i] = inv_n
            elif d < 0:
                dpred[i] = -inv_n
            elif d == 0:
                dpred[i] = 0.0
            else:
                dpred[i] = d                            # NaN
        partials[blk] = acc
    return _ordered_sum(partials)


@parallel_kernel
def huber_loss_forward(pred, target, delta, dpred):
    """Return sum of Huber terms (0.5 d^2 if |d| < delta, else delta (|d| - delta / 2)), d = pred - target;
    write dpred = clip(d, -delta, delta) / n (NaN stays NaN)."""
    n = pred.shape[0]
    inv_n = 1.0 / n
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    partials = np.zeros(n_blocks, dtype=np.float64)
    for blk in prange(n_blocks):
        start = blk * _BLOCK
        stop = min(start + _BLOCK, n)
        acc = 0.0
        for i in range(start, stop):
            d = np.float64(pred[i]) - np.float64(target[i])
            a = abs(d)
            if a < delta:
                acc += 0.5 * d * d
            else:
                acc += delta * (a - 0.5 * delta)        # NaN lands here: a < delta is False
            if d > delta:
                dpred[i] = delta * inv_n
            elif d < -delta:
                dpred[i] = -delta * inv_n
            else:
                dpred[i] = d * inv_n
        partials[blk] = acc
    return _ordered_sum(partials)

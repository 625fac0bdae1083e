"""Loss kernels: mean squared error, half squared error, softmax cross-entropy.

Each kernel computes the loss and its gradient in one pass and returns the (un-normalised) sum as
a float64; the wrapper divides and casts. Sums are reduced deterministically: fixed-size blocks
(independent of the thread count) each summed by one prange iteration in float64, then the block
sums added in order, so the result is bitwise reproducible for any number of threads.

Shapes: pred, target, dpred flat (n,) C-contiguous of one dtype; logits, dlogits (N, C); labels
(N,) int64, already checked to lie in [0, C).
"""

import math

import numpy as np
from numba import prange

from ._config import parallel_kernel, serial_kernel

_BLOCK = 4096


@serial_kernel
def _ordered_sum(partials):
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


@parallel_kernel
def cross_entropy_forward(logits, labels, dlogits):
    """Return sum_i (logsumexp(logits[i]) - logits[i, labels[i]]); write dlogits = (softmax - onehot) / N.

    Computed in float64 with the max-shift, so logits of +-1e4 neither overflow nor warn. A NaN in
    a row makes that row's loss and gradient NaN.
    """
    n_rows, n_classes = logits.shape
    row_loss = np.zeros(n_rows, dtype=np.float64)
    inv_n = 1.0 / n_rows
    for i in prange(n_rows):
        row = logits[i]
        grad = dlogits[i]
        m = np.float64(row[0])
        for j in range(n_classes):
            v = np.float64(row[j])
            if v > m or v != v:
                m = v
        total = 0.0
        for j in range(n_classes):
            total += math.exp(np.float64(row[j]) - m)
        log_total = math.log(total)
        inv_total = 1.0 / total
        label = labels[i]
        for j in range(n_classes):
            g = math.exp(np.float64(row[j]) - m) * inv_total
            if j == label:
                g -= 1.0
            grad[j] = g * inv_n
        row_loss[i] = log_total + m - np.float64(row[label])
    return _ordered_sum(row_loss)

"""Softmax kernels (``softmax``, ``log_softmax``), forward and backward, along one axis.

Layout: arrays viewed as (A, L, B), C-contiguous: the softmax runs along L for each (a, b); the
wrappers reshape any array and axis to this form (A = product of the sizes before the axis, B =
product after it). Stable for any finite input: the row max is subtracted before ``exp``, so every
exponent is <= 0 and the sum lies in [1, L]; the sums are accumulated in float64. A NaN in a row
makes the whole row NaN.

Parallelism: ``prange`` over A; each (a, b) line is computed by one iteration in a fixed order.
"""

import math

import numpy as np
from numba import prange

from ._config import parallel_kernel


@parallel_kernel
def softmax_forward(x, y, log):
    """y[a, :, b] = softmax(x[a, :, b]) (``log`` False) or log_softmax (``log`` True).

    x, y : (A, L, B), same dtype; log : bool.
    """
    n_outer, length, n_inner = x.shape
    for a in prange(n_outer):
        for b in range(n_inner):
            m = x[a, 0, b]
            for i in range(1, length):
                v = x[a, i, b]
                m = v if (v > m or v != v) else m
            total = 0.0
            for i in range(length):
                total += math.exp(x[a, i, b] - m)
            if log:
                offset = m + math.log(total)
                for i in range(length):
                    y[a, i, b] = x[a, i, b] - offset
            else:
                inv = 1.0 / total
                for i in range(length):
                    y[a, i, b] = math.exp(x[a, i, b] - m) * inv


@parallel_kernel
def softmax_backward(y, dy, dx, log):
    """Gradient from the OUTPUT y along L.

    softmax (``log`` False): ``dx = y * (dy - sum(dy * y))``;
    log_softmax (``log`` True): ``dx = dy - exp(y) * sum(dy)``.
    y, dy, dx : (A, L, B), same dtype; log : bool.
    """
    n_outer, length, n_inner = y.shape
    for a in prange(n_outer):
        for b in range(n_inner):
            total = 0.0
            if log:
                for i in range(length):
                    total += dy[a, i, b]
                for i in range(length):
                    dx[a, i, b] = dy[a, i, b] - math.exp(y[a, i, b]) * total
            else:
                for i in range(length):
                    total += dy[a, i, b] * y[a, i, b]
                for i in range(length):
                    dx[a, i, b] = y[a, i, b] * (dy[a, i, b] - total)

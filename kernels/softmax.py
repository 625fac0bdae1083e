"""Softmax kernels (``softmax``, ``log_softmax``), forward and backward, along one axis.

Layout: arrays viewed as (A, L, B), C-contiguous: the softmax runs along L for each (a, b); the
wrappers reshape any array and axis to this form (A = product of the sizes before the axis, B =
product after it). Stable for any finite input: the row max is subtracted before ``exp``, so every
exponent is <= 0 and the sum lies in [1, L]; the sums are accumulated in float64. A NaN in a row
makes the whole row NaN (so does +inf: inf - inf is NaN).

Parallelism: ``prange`` over A; each (a, b) line is computed by one iteration in a fixed order.
"""

import math

from numba import prange

from ._config import parallel_kernel
from .activations import _exp_nonpos


@parallel_kernel
def softmax_forward(x, y, log):
    """y[a, :, b] = softmax(x[a, :, b]) (``log`` False) or log_softmax (``log`` True).

    The exponentials (of ``x - max <= 0``) use the branch-free, vectorisable exp of
    :mod:`fastnet.kernels.activations`; each is computed once, kept in y, then scaled (softmax)
    or replaced by ``x - max - log(sum)`` (log_softmax). x, y : (A, L, B), same dtype; log : bool.
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
                d = x[a, i, b] - m
                e = _exp_nonpos(d)
                e = d if d != d else e          # NaN (a NaN in the row, or inf - inf) stays NaN
                y[a, i, b] = e
                total += e
            if log:
                offset = m + math.log(total)
                for i in range(length):
                    y[a, i, b] = x[a, i, b] - offset
            else:
                inv = 1.0 / total
                for i in range(length):
                    y[a, i, b] = y[a, i, b] * inv


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
                    v = y[a, i, b]                       # log-probabilities: v <= 0
                    e = _exp_nonpos(v)
                    dx[a, i, b] = dy[a, i, b] - (v if v != v else e) * total
            else:
                for i in range(length):
                    total += dy[a, i, b] * y[a, i, b]
                for i in range(length):
                    dx[a, i, b] = y[a, i, b] * (dy[a, i, b] - total)

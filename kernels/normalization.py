"""Batch-normalisation kernels (``batch_norm``): statistics, normalise-and-scale, backward.

Layout: x / y / dy / dx viewed as (N, C, S), C-contiguous, S the product of the spatial sizes
(S = 1 for (N, C) inputs); per-channel vectors (C,). Statistics are taken over the M = N*S values
of each channel, accumulated in float64 (two passes: the mean, then the squared deviations).

Parallelism: ``prange`` over channels for the statistics and the backward (each channel reduced by
one iteration in a fixed order: bitwise reproducible for any thread count), over the N*C planes for
the pointwise normalisation.
"""

import numpy as np
from numba import prange

from ._config import parallel_kernel


@parallel_kernel
def batch_norm_stats(x, mean, var):
    """mean[c] = mean of x[:, c, :]; var[c] = the biased variance (divided by M = N*S).

    x : (N, C, S); mean, var : (C,) float64 (written).
    """
    n_batch, n_chan, size = x.shape
    count = n_batch * size
    for c in prange(n_chan):
        acc = 0.0
        for n in range(n_batch):
            for s in range(size):
                acc += x[n, c, s]
        m = acc / count
        sq = 0.0
        for n in range(n_batch):
            for s in range(size):
                d = x[n, c, s] - m
                sq += d * d
        mean[c] = m
        var[c] = sq / count


@parallel_kernel
def batch_norm_forward(x, shift, scale, y):
    """y[n, c, s] = x[n, c, s] * scale[c] + shift[c].

    The wrapper folds mean, variance, gamma and beta into ``scale = gamma / sqrt(var + eps)`` and
    ``shift = beta - mean * scale``. x, y : (N, C, S); shift, scale : (C,), all one dtype.
    """
    n_batch, n_chan, size = x.shape
    for p in prange(n_batch * n_chan):
        n = p // n_chan
        c = p - n * n_chan
        a = scale[c]
        b = shift[c]
        for s in range(size):
            y[n, c, s] = x[n, c, s] * a + b


@parallel_kernel
def batch_norm_backward(x, gamma, dy, eps, dx, dgamma, dbeta):
    """Training-mode gradient of batch_norm (statistics recomputed from x).

    With xhat = (x - mean) / sqrt(var + eps) per channel:
    ``dbeta = sum(dy)``, ``dgamma = sum(dy * xhat)``,
    ``dx = gamma / sqrt(var + eps) * (dy - dbeta / M - xhat * dgamma / M)``.

    x, dy, dx : (N, C, S); gamma : (C,); dgamma, dbeta : (C,), all one dtype; eps : float.
    """
    n_batch, n_chan, size = x.shape
    count = n_batch * size
    for c in prange(n_chan):
        acc = 0.0
        for n in range(n_batch):
            for s in range(size):
                acc += x[n, c, s]
        m = acc / count
        sq = 0.0
        for n in range(n_batch):
            for s in range(size):
                d = x[n, c, s] - m
                sq += d * d
        invstd = 1.0 / np.sqrt(sq / count + eps)
        sum_dy = 0.0
        sum_dy_xhat = 0.0
        for n in range(n_batch):
            for s in range(size):
                g = dy[n, c, s]
                sum_dy += g
                sum_dy_xhat += g * (x[n, c, s] - m) * invstd
        dbeta[c] = sum_dy
        dgamma[c] = sum_dy_xhat
        k = gamma[c] * invstd
        mean_dy = sum_dy / count
        mean_dy_xhat = sum_dy_xhat / count
        for n in range(n_batch):
            for s in range(size):
                xhat = (x[n, c, s] - m) * invstd
                dx[n, c, s] = k * (dy[n, c, s] - mean_dy - xhat * mean_dy_xhat)

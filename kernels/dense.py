"""Dense (fully connected) layer kernels: ``y = x @ w.T + b`` and its gradients.

The matrix products go to BLAS through Numba's ``np.dot`` (scipy's sgemm/dgemm), which is how a
Numba kernel reaches near-sgemm speed; the bias add is a separate row-parallel pass over the
output while it is still in cache. ``w.T`` of a C-contiguous ``w`` is an F-contiguous view, which
Numba hands to BLAS as a transposed operand (no copy).

Shapes: x (N, in_features), w (out_features, in_features), b (out_features,) or (0,) for "no
bias", y/dy (N, out_features). All C-contiguous, one dtype (float32 or float64).
"""

import numpy as np
from numba import prange

from ._config import parallel_kernel

_COLUMN_BLOCK = 256  # db is reduced over rows in column blocks; each block belongs to one thread


@parallel_kernel
def dense_forward(x, w, b, out):
    """out = x @ w.T (+ b when b.shape[0] > 0). out: (N, out_features), preallocated."""
    np.dot(x, w.T, out)
    if b.shape[0] > 0:
        for i in prange(out.shape[0]):
            row = out[i]
            for j in range(row.shape[0]):
                row[j] += b[j]


@parallel_kernel
def dense_backward(x, w, dy, dx, dw, db):
    """dx = dy @ w (N, in), dw = dy.T @ x (out, in), db = dy.sum(0) (out,), all preallocated.

    db is summed over rows in a fixed order (row 0 first) within column blocks that each belong
    to one prange iteration, so it is bitwise reproducible for any thread count.
    """
    np.dot(dy, w, dx)
    np.dot(dy.T, x, dw)
    n_rows, n_cols = dy.shape
    n_blocks = (n_cols + _COLUMN_BLOCK - 1) // _COLUMN_BLOCK
    for blk in prange(n_blocks):
        start = blk * _COLUMN_BLOCK
        stop = min(start + _COLUMN_BLOCK, n_cols)
        acc = db[start:stop]
        acc[:] = 0
        for i in range(n_rows):
            row = dy[i, start:stop]
            for j in range(stop - start):
                acc[j] += row[j]

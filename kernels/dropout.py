"""Inverted-dropout kernels (``dropout``): apply a 0/1 keep mask and the 1 / (1 - p) scale.

The mask is drawn by the wrapper from a seeded ``numpy.random.Generator`` (so the same seed gives
the same mask for any thread count) and handed over as an array of x's dtype holding 0 and 1.
Flat, C-contiguous (n,) arrays. Serial: the mask draw in NumPy dominates, and a pointwise pass is
memory-bound, so threads would not pay for the extra compile time of ``parallel=True``.
"""

from ._config import serial_kernel


@serial_kernel
def dropout_forward(x, mask, scale, y):
    """y[i] = x[i] * mask[i] * scale. x, mask, y : (n,), same dtype; scale : float."""
    s = x.dtype.type(scale)
    for i in range(x.shape[0]):
        y[i] = x[i] * mask[i] * s


@serial_kernel
def dropout_backward(dy, mask, scale, dx):
    """dx[i] = dy[i] * mask[i] * scale. dy, mask, dx : (n,), same dtype; scale : float."""
    s = dy.dtype.type(scale)
    for i in range(dy.shape[0]):
        dx[i] = dy[i] * mask[i] * s

"""Direct 2-D convolution kernels (cross-correlation, PyTorch NCHW layout), forward and backward.

There is one convolution core, in :mod:`fastnet.kernels.conv3d`: each function here views its
4-D arrays as 5-D arrays of depth 1 (a reshape, no copy) and runs the compiled 3-D kernel with
depth stride 1 and depth padding 0. The depth loops then have length 1, which costs nothing
measurable. These are plain Python functions on purpose: wrapping them in ``serial_kernel`` would
compile the whole 3-D core a second time inside each of them (tens of seconds per dtype), for a
saving of a microsecond per call.
"""

from .conv3d import conv3d_backward_input, conv3d_backward_weight, conv3d_forward


def conv2d_forward(x, w, b, y, sh, sw, ph, pw):
    """y[n, k, i, j] = b[k] + sum_{c,p,q} w[k, c, p, q] * xpad[n, c, i*sh + p, j*sw + q].

    x : (N, C, H, W), w : (K, C, FH, FW), b : (K,), y : (N, K, Ho, Wo) written in full; all
    C-contiguous, one dtype. Extra memory: see :func:`conv3d_forward`.
    """
    n, c, h, wd = x.shape
    k, _, fh, fw = w.shape
    conv3d_forward(x.reshape(n, c, 1, h, wd), w.reshape(k, c, 1, fh, fw), b,
                   y.reshape(n, k, 1, y.shape[2], y.shape[3]), 1, sh, sw, 0, ph, pw)


def conv2d_backward_input(dy, w, dx, sh, sw, ph, pw):
    """dx (N, C, H, W) = gradient of sum(y * dy) with respect to x; see :func:`conv3d_backward_input`."""
    n, k, ho, wo = dy.shape
    _, c, fh, fw = w.shape
    conv3d_backward_input(dy.reshape(n, k, 1, ho, wo), w.reshape(k, c, 1, fh, fw),
                          dx.reshape(n, c, 1, dx.shape[2], dx.shape[3]), 1, sh, sw, 0, ph, pw)


def conv2d_backward_weight(x, dy, dw, db, sh, sw, ph, pw):
    """dw (K, C, FH, FW) and db (K,) = gradients of sum(y * dy); see :func:`conv3d_backward_weight`."""
    n, c, h, wd = x.shape
    _, k, ho, wo = dy.shape
    fh, fw = dw.shape[2], dw.shape[3]
    conv3d_backward_weight(x.reshape(n, c, 1, h, wd), dy.reshape(n, k, 1, ho, wo),
                           dw.reshape(k, c, 1, fh, fw), db, 1, sh, sw, 0, ph, pw)

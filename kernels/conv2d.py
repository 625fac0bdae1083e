"""Direct 2-D convolution kernels (cross-correlation, PyTorch NCHW layout), forward and backward.

Two implementations, picked per call by shape (both tested directly):

* The convolution core in :mod:`fastnet.kernels.conv3d`, for every stride and size: each function
  here views its 4-D arrays as 5-D arrays of depth 1 (a reshape, no copy) and runs the compiled 3-D
  kernel with depth stride 1 and depth padding 0.
* The flat-plane kernels in :mod:`fastnet.kernels.conv2d_plane`, for small layers at stride 1
  (reductions C*FH*FW up to PLANE_MAX_REDUCTION: LeNet's C1 and C3, 3x3 convolutions of RGB
  images), where the core's short reductions and rows make it slow; see :func:`_plane_ok`.
* Winograd F(2x2, 3x3) in :mod:`fastnet.kernels.winograd`, for 3x3 stride-1 layers (forward, and
  backward-input as a forward correlation of dy), when asked for (``algorithm="winograd"``) or
  when ``"auto"`` picks it by shape (:func:`winograd_ok`).

These are plain Python functions on purpose: wrapping them in ``serial_kernel`` would compile the
whole 3-D core a second time inside each of them (tens of seconds per dtype), for a saving of a
microsecond per call.
"""

import numpy as np

from .conv2d_plane import flat_planes, plane_correlate, plane_weight_grad
from .conv3d import conv3d_backward_input, conv3d_backward_weight, conv3d_forward
from .winograd import conv2d_forward_winograd

PLANE_MAX_REDUCTION = 160   # flat-plane kernels up to this reduction length (C*FH*FW; K*FH*FW for dx)
PLANE_MAX_WASTE = 2.0       # ... and up to this many grid positions per output (plane / outputs)
PLANE_MAX_WASTE_WEIGHT = 2.25   # ... for the weight gradient, where the planes stay faster (see _plane_ok)
# algorithm="auto" takes Winograd for 3x3 stride 1 while WINOGRAD_AUTO is True, with at least
# WINOGRAD_MIN_CHANNELS input and output channels and WINOGRAD_MIN_TILES 2x2 output tiles
# (N * ceil(Ho/2) * ceil(Wo/2)). Measured on the Zen 4 dev box (AVX-512), float32, 2026-12-05,
# direct time / Winograd time, forward | backward-input, 1 thread (2 threads): VGG 64->64 56x56 b8
# 1.85 | 1.73 (2.00 | 1.88); 32 channels 56x56 b8 1.63 | 1.65; 128->128 28x28 b8 1.99 | 2.00;
# 256->256 14x14 b8 2.05 | 1.85, b1 (49 tiles) 1.91 | 1.21; 512->512 7x7 b8 1.58 | 1.34 (1.43 |
# 1.09). Slower: 512->512 7x7 b1 (16 tiles: the 16 MB weight transform) 1.38 | 0.88 (0.95 | 0.57);
# 16 channels, 28x28 b1 0.72 | 0.70, b32 (2 threads) 1.30 | 0.95.
WINOGRAD_AUTO = True
WINOGRAD_MIN_CHANNELS = 32
WINOGRAD_MIN_TILES = 32
ALGORITHMS = ("auto", "direct", "winograd")


def winograd_applies(fh, fw, sh, sw):
    """Whether Winograd F(2x2, 3x3) computes this convolution: 3x3 filters at stride 1."""
    return fh == 3 and fw == 3 and sh == 1 and sw == 1


def winograd_ok(channels_in, channels_out, tiles, fh, fw, sh, sw, algorithm):
    """Whether to run Winograd: ``algorithm`` "winograd" (the caller checked that it applies),
    "direct" never, "auto" by shape (WINOGRAD_AUTO, WINOGRAD_MIN_CHANNELS, WINOGRAD_MIN_TILES;
    ``tiles`` = N * ceil(Ho/2) * ceil(Wo/2) of the correlation Winograd would compute)."""
    if algorithm == "direct" or not winograd_applies(fh, fw, sh, sw):
        return False
    if algorithm == "winograd":
        return True
    return (WINOGRAD_AUTO and min(channels_in, channels_out) >= WINOGRAD_MIN_CHANNELS
            and tiles >= WINOGRAD_MIN_TILES)


def _tiles(n, ho, wo):
    return n * ((ho + 1) // 2) * ((wo + 1) // 2)


def _plane_ok(reduction, grid, outputs, sh, sw, force, max_waste=None):
    """Whether to run the flat-plane kernels. ``force`` (tests): True takes them wherever they
    apply (stride 1), False never; None decides by shape.

    Measured on one core (LeNet C1/C3, 3x3 layers of 3 to 64 channels, 5x5 on 3 channels): the
    planes win for short reductions (up to 5x for C = 1), tie around C*FH*FW = 150 (LeNet C3) and
    lose when the grid is mostly padding (4x4 outputs of 6x6 padded planes) or the reduction is long.
    Rechecked 2026-12-02 (Zen 5, one thread, batch 64) at that edge, waste 2.25: 16 -> 32 channels
    (``fastnet train``'s second conv) planes 341 / 354 / 280 us (forward / dx / dw) against the
    core's 139 / 133 / 329; 6 -> 16 channels 74 / 85 / 71 against 69 / 57 / 84. Taking the planes
    there to spare a cold start the core's compilation costs every later step: not done for the
    forward and dx; the weight gradient, faster on the planes at both shapes, takes them up to
    PLANE_MAX_WASTE_WEIGHT (``max_waste``), which also spares ``fastnet train`` the core's
    weight-gradient forms on a cold start (about 12 s of its first epoch).
    """
    if sh != 1 or sw != 1:
        return False
    if force is not None:
        return force
    waste = PLANE_MAX_WASTE if max_waste is None else max_waste
    return reduction <= PLANE_MAX_REDUCTION and grid <= waste * outputs


def conv2d_forward(x, w, b, y, sh, sw, ph, pw, plane=None, algorithm="auto"):
    """y[n, k, i, j] = b[k] + sum_{c,p,q} w[k, c, p, q] * xpad[n, c, i*sh + p, j*sw + q].

    x : (N, C, H, W), w : (K, C, FH, FW), b : (K,), y : (N, K, Ho, Wo) written in full; all
    C-contiguous, one dtype. ``plane``: None picks the implementation by shape; True / False force
    the flat-plane kernels (where they apply: stride 1) / the core (tests). ``algorithm``: "auto",
    "direct" or "winograd" (3x3 stride 1 only: see :func:`winograd_ok`); Winograd ignores ``plane``.
    Extra memory: Winograd: see :mod:`fastnet.kernels.winograd`; core: see :func:`conv3d_forward`; flat plane: a padded copy of x, (C, N*(H+2ph)*
    (W+2pw)) plus a short tail, and one Ho*(W+2pw) accumulator row per (image, output channel) in
    flight.
    """
    n, c, h, wd = x.shape
    k, _, fh, fw = w.shape
    hp, wp = h + 2 * ph, wd + 2 * pw
    if winograd_ok(c, k, _tiles(n, y.shape[2], y.shape[3]), fh, fw, sh, sw, algorithm):
        conv2d_forward_winograd(x, w, b, y, ph, pw)
        return
    if _plane_ok(c * fh * fw, hp * wp, y.shape[2] * y.shape[3], sh, sw, plane):
        xf = flat_planes(x, ph, pw, hp, wp, fw)
        plane_correlate(xf, hp * wp, wp, w, b, y)
        return
    conv3d_forward(x.reshape(n, c, 1, h, wd), w.reshape(k, c, 1, fh, fw), b,
                   y.reshape(n, k, 1, y.shape[2], y.shape[3]), 1, sh, sw, 0, ph, pw)


def conv2d_backward_input(dy, w, dx, sh, sw, ph, pw, plane=None, algorithm="auto"):
    """dx (N, C, H, W) = gradient of sum(y * dy) with respect to x; see :func:`conv3d_backward_input`.

    Flat plane form (stride 1, padding <= F - 1): a forward correlation of dy padded by F - 1 -
    padding with the flipped, transposed weights. Extra memory: that padded copy of dy,
    (K, N*(H+FH-1)*(W+FW-1)), the (C, K, FH, FW) weights and one accumulator row per (image,
    channel) in flight. Winograd (``algorithm``, see :func:`winograd_ok`; padding <= 2, else the
    direct forms): the same correlation by :func:`conv2d_forward_winograd`, plus the flipped
    weights (C, K, 3, 3).
    """
    n, k, ho, wo = dy.shape
    _, c, fh, fw = w.shape
    height, width = dx.shape[2], dx.shape[3]
    hp, wp = height + fh - 1, width + fw - 1
    if ph <= fh - 1 and pw <= fw - 1 and winograd_ok(k, c, _tiles(n, height, width), fh, fw, sh, sw,
                                                     algorithm):
        w_t = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        conv2d_forward_winograd(dy, w_t, np.zeros(c, dtype=dx.dtype), dx, fh - 1 - ph, fw - 1 - pw)
        return
    if ph <= fh - 1 and pw <= fw - 1 and _plane_ok(k * fh * fw, hp * wp, height * width, sh, sw, plane):
        dyf = flat_planes(dy, fh - 1 - ph, fw - 1 - pw, hp, wp, fw)
        w_t = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        plane_correlate(dyf, hp * wp, wp, w_t, np.zeros(c, dtype=dx.dtype), dx)
        return
    conv3d_backward_input(dy.reshape(n, k, 1, ho, wo), w.reshape(k, c, 1, fh, fw),
                          dx.reshape(n, c, 1, height, width), 1, sh, sw, 0, ph, pw)


def conv2d_backward_weight(x, dy, dw, db, sh, sw, ph, pw, plane=None):
    """dw (K, C, FH, FW) and db (K,) = gradients of sum(y * dy); see :func:`conv3d_backward_weight`.

    Flat plane form (stride 1, finite x): dy placed on the padded input's grid and one long dot
    per (k, c, p) over all images (db summed in float64 by NumPy). Extra memory: the padded copy
    of x as in :func:`conv2d_forward` plus dy on that grid, (K, N*(H+2ph)*(W+2pw)).
    """
    n, c, h, wd = x.shape
    _, k, ho, wo = dy.shape
    fh, fw = dw.shape[2], dw.shape[3]
    hp, wp = h + 2 * ph, wd + 2 * pw
    use_plane = _plane_ok(c * fh * fw, hp * wp, ho * wo, sh, sw, plane, PLANE_MAX_WASTE_WEIGHT)
    if use_plane and plane is None and not np.isfinite(x).all():
        use_plane = False   # an inf or NaN outside every window would meet a zero of the grid
    if use_plane:
        xf = flat_planes(x, ph, pw, hp, wp, fh * wp + fw)
        dyg = flat_planes(dy, 0, 0, hp, wp, 0)
        plane_weight_grad(xf, dyg, wp, dw)
        db[:] = dy.sum(axis=(0, 2, 3), dtype=np.float64)
        return
    conv3d_backward_weight(x.reshape(n, c, 1, h, wd), dy.reshape(n, k, 1, ho, wo),
                           dw.reshape(k, c, 1, fh, fw), db, 1, sh, sw, 0, ph, pw)

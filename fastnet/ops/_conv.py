"""Convolution ops: conv2d and conv3d, forward and backward (PyTorch conventions).

The wrappers validate every argument, make the arrays C-contiguous and allocate the outputs; the
work is done by the direct-convolution kernels in :mod:`fastnet.kernels.conv2d` and
:mod:`fastnet.kernels.conv3d` (one shared 3-D core; no whole-batch im2col matrix).
"""

import numpy as np

from .. import _validate
from .._trace import traced
from ..kernels import conv2d as _k2
from ..kernels import conv3d as _k3
from ..kernels import conv_weight as _kw
from ..kernels import winograd3d as _kw3
from ..kernels import winograd3d_weight as _kw3w

_DIM_NAMES = {2: ("H", "W"), 3: ("D", "H", "W")}


def _check(x, w, b, stride, padding, nd):
    """Validate a conv call; return (x, w, b, stride, padding, output shape)."""
    x = _validate.float_array(x, "x", ndim=nd + 2)
    w = _validate.float_array(w, "w", ndim=nd + 2)
    if b is not None:
        b = _validate.float_array(b, "b", ndim=1)
    _validate.same_dtype(x=x, w=w, b=b)
    stride = _validate.int_tuple(stride, "stride", nd, 1)
    padding = _validate.int_tuple(padding, "padding", nd, 0)
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w: expected {x.shape[1]} input channels (x.shape[1]) in w.shape[1], "
                         f"got w.shape = {w.shape} for x.shape = {x.shape}")
    if b is not None and b.shape[0] != w.shape[0]:
        raise ValueError(f"b: expected shape ({w.shape[0]},) (one bias per output channel of w), "
                         f"got {b.shape}")
    if min(w.shape) == 0:
        raise ValueError(f"w: every dimension must be >= 1, got shape {w.shape}")
    out = tuple(
        _validate.window_output_size(x.shape[2 + i], w.shape[2 + i], stride[i], padding[i],
                                     padding[i], _DIM_NAMES[nd][i], "w")
        for i in range(nd))
    return x, w, b, stride, padding, (x.shape[0], w.shape[0]) + out


def _check_algorithm(algorithm, w, stride):
    """Validate conv2d's / conv3d's ``algorithm`` keyword against the filter shape and stride."""
    if not isinstance(algorithm, str):
        raise TypeError(f"algorithm: expected one of {', '.join(map(repr, _k2.ALGORITHMS))}, "
                        f"got {type(algorithm).__name__} {algorithm!r}")
    if algorithm not in _k2.ALGORITHMS:
        raise ValueError(f"algorithm: expected one of {', '.join(map(repr, _k2.ALGORITHMS))}, "
                         f"got {algorithm!r}")
    kernels = _k2 if w.ndim == 4 else _kw3
    applies = _k2.winograd_forward_applies if w.ndim == 4 else _kw3.winograd_forward_applies
    if algorithm == "winograd" and not applies(*w.shape[2:], *stride):
        sizes = " or ".join("x".join([str(size)] * (w.ndim - 2)) for size in kernels.WINOGRAD_SIZES)
        also = (f", or {' or '.join(f'{s}x{s}' for s in _k2.WINOGRAD_STRIDE2_SIZES)} at stride 2" if w.ndim == 4
                else ", or 3x3x3 at stride 2")
        raise ValueError(f"algorithm: 'winograd' needs {sizes} filters at stride 1{also}, "
                         f"got filters {'x'.join(map(str, w.shape[2:]))} (w.shape = {w.shape}) at "
                         f"stride {stride}")


def _check_backward(x, w, dy, stride, padding, nd, input_grad):
    _validate.boolean(input_grad, "input_grad")
    x, w, _, stride, padding, out_shape = _check(x, w, None, stride, padding, nd)
    dy = _validate.float_array(dy, "dy", ndim=nd + 2)
    _validate.same_dtype(x=x, w=w, dy=dy)
    _validate.shape_equals(dy, out_shape, "dy")
    return x, w, dy, stride, padding


@traced("conv2d")
def conv2d(x, w, b=None, stride=1, padding=0, algorithm="auto"):
    """2-D convolution (cross-correlation, as in PyTorch) over a batch of images.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), float32 or float64
        Input images.
    w : ndarray of shape (K, C, FH, FW), same dtype as x
        Filters: K output channels, C input channels, FH x FW taps.
    b : ndarray of shape (K,), same dtype as x, or None
        Bias added to every output of channel k.
    stride : int or tuple (sh, sw) of ints >= 1
    padding : int or tuple (ph, pw) of ints >= 0
        Zero padding added on both sides of H (ph) and W (pw).
    algorithm : {"auto", "direct", "winograd"}, default "auto"
        "winograd": Winograd F(2x2, 3x3) or F(2x2, 5x5) (Lavin & Gray, CVPR 2016; 3x3 or 5x5
        filters at stride 1), or for 3x3 and 5x5 filters at stride 2 stride-2 forms with 25 (49)
        multiplies per 2x2 outputs and channel pair instead of 36 (100)
        (:mod:`fastnet.kernels.winograd`; the backward passes of those run the direct kernels);
        any other filter or stride raises
        ValueError; "direct": the direct kernels; "auto": picks
        by shape: Winograd for 3x3 stride 1 with C and K >= 32 and at least 32 2x2 output tiles
        (96 or more with AVX2), where it measured 1.4-2x faster than the direct kernels
        (``fastnet.kernels.conv2d.WINOGRAD_*``), for 5x5 stride 1 with C and K >= 32 and at
        least 160 tiles (1.2-2x; ``WINOGRAD_5X5_*``), for 3x3 stride 2 with AVX-512 only, C and
        K >= 64, at least 392 tiles and outputs filling 90% of them (1.02-1.2x;
        ``WINOGRAD_STRIDE2_*``), for 5x5 stride 2 with C and K >= 32, at least 196 tiles and
        outputs filling 90% of them (1.03-1.5x; ``WINOGRAD_5X5_STRIDE2_*``), else the direct
        kernels. Winograd's float32
        error is a few roundings more than the direct sum's: ``max(abs(error)) / max(abs(y))``
        about 3e-7 to 8e-7 for unit-normal data, C = 64..256, with 3x3 filters, 1e-6 to 3e-6
        with 5x5 (the direct sum: 1e-7 to 2e-7; tests bound both by 1e-5).

    Returns
    -------
    y : ndarray of shape (N, K, Ho, Wo), same dtype as x, C-contiguous
        ``y[n, k, i, j] = b[k] + sum_{c,p,q} w[k, c, p, q] * xpad[n, c, i*sh + p, j*sw + q]``.

    Shape
    -----
    Ho = floor((H + 2*ph - FH) / sh) + 1,  Wo = floor((W + 2*pw - FW) / sw) + 1.

    Extra memory (no whole-batch im2col). Small stride-1 layers (C*FH*FW <= 160, LeNet) run on
    flat planes: a zero-padded copy of x, (C, N*(H+2ph)*(W+2pw)), and per work unit in flight (one
    per thread) a (4, about 1024) accumulator; LeNet C1 at batch 64: 262 KB in all. Other layers:
    a padded channels-last copy of x, the weights packed as a (C*FH*FW, Kp) matrix (Kp: K rounded
    up to the tile width NR, 32 with float32 on AVX-512), and per work unit in flight (one per
    thread) a (P, Kp) block of results, P about 96 output positions. Winograd: a padded
    channels-last copy of x, the transformed weights (16, C, Kp), and per work unit in flight a
    (16, T, C) and a (16, T, Kp) block, T up to 64 tiles of 2x2 outputs (36 in place of 16 for
    5x5 filters, 25 for 3x3 at stride 2, 49 for 5x5 at stride 2).
    """
    x, w, b, stride, padding, out_shape = _check(x, w, b, stride, padding, 2)
    _check_algorithm(algorithm, w, stride)
    if b is None:
        b = np.zeros(w.shape[0], dtype=x.dtype)
    y = np.empty(out_shape, dtype=x.dtype)
    _k2.conv2d_forward(x, w, b, y, stride[0], stride[1], padding[0], padding[1],
                       algorithm=algorithm)
    return y


@traced("conv2d_backward")
def conv2d_backward(x, w, dy, stride=1, padding=0, input_grad=True, algorithm="auto"):
    """Gradients of ``sum(conv2d(x, w, b, stride, padding) * dy)``.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), float32 or float64
    w : ndarray of shape (K, C, FH, FW), same dtype
    dy : ndarray of shape (N, K, Ho, Wo), same dtype: the upstream gradient (shape of conv2d's y)
    stride, padding : as in :func:`conv2d`
    input_grad : bool, default True
        False skips dx (returned as None): the gradient with respect to a network's input, which
        training never uses (PyTorch skips it for inputs that do not require grad).
    algorithm : {"auto", "direct", "winograd"}, default "auto"
        As in :func:`conv2d`, for dx (a forward correlation of dy with the flipped weights;
        padding above F - 1 falls back to the direct kernels) and for dw (Winograd F(3x3, 2x2)
        for 3x3 filters: "auto" takes it with C and K >= 32 and at least 160 output positions
        N*Ho*Wo, 256 where C*K > 256^2, ``fastnet.kernels.conv2d.WINOGRAD_WEIGHT_*``; F(5x5,
        2x2) for 5x5 filters, ``WINOGRAD_5X5_WEIGHT_*``). db is always a plain sum.

    Returns
    -------
    dx : ndarray of shape (N, C, H, W), or None when ``input_grad`` is False
    dw : ndarray of shape (K, C, FH, FW)
    db : ndarray of shape (K,): dy summed over N, Ho, Wo (always returned)

    Extra memory (no whole-batch im2col). Small stride-1 layers (see :func:`conv2d`): dx from dy
    padded by F - 1 - padding, (K, N*(H+FH-1)*(W+FW-1)), plus the flipped weights; dw from the
    padded copy of x and dy laid on its grid, (K, N*(H+2ph)*(W+2pw)), no per-thread copies.
    Other layers: dx, in one of two forms chosen by the work each does: the col2im form where the
    gather form would waste a third of its work or more on padding and on C rounded up to NR
    (few channels, large unpadded filters: AlexNet conv1 and conv2): (K, round_NR(C*FH*FW))
    packed weights and, per image in flight (one per thread), a padded channels-last
    (H+2ph, (W+2pw)*C) gradient plus a (round8(Wo), round_NR(C*FH*FW)) row gradient; otherwise the
    gather form: dy padded by ceil(F/s) - 1 per side, channels-last, per residue class (sh*sw of
    them) a packed weight matrix, and blocks as in :func:`conv2d`. dw: x read in place where its
    channels fill whole tiles of the weight gradient (C a multiple of MR, 8 or 16 with float32 on
    AVX-512, or within an eighth of one: 64 channels on AVX2, MR = 6), else a padded
    channels-last copy of x; dy channels-last (N*Ho*Wo, Kp), and up to 16 private (Lp, Kp) partial
    sums, Lp = FH*FW*C rounded up to MR per filter position or in all (at most 4 MB of them, or one
    set where a single one is larger; where x is read in place, one set is all and C holds at
    least 4 blocks of MR channels, instead a private (G * MR * FH*FW, Kp) buffer per thread, G
    such blocks, at most 512 KB unless one block is more). Winograd dx: as the Winograd
    forward of :func:`conv2d`, with dy's padded copy in place of x's. Winograd dw
    (:mod:`fastnet.kernels.winograd_weight`): the padded channels-last copy of x, partial sums
    (n^2, K, C, each rounded up to the tile shape; n = 4 for 3x3 filters, 6 for 5x5) per group
    of tiles, at most 4 MB in all unless one group is more, and per thread a (n^2, T, C) and a
    (n^2, K, T) block, T = 64 or 128 tiles.
    """
    x, w, dy, stride, padding = _check_backward(x, w, dy, stride, padding, 2, input_grad)
    _check_algorithm(algorithm, w, stride)
    dx = None
    if input_grad:
        dx = np.empty(x.shape, dtype=x.dtype)
        _k2.conv2d_backward_input(dy, w, dx, stride[0], stride[1], padding[0], padding[1],
                                  algorithm=algorithm)
    dw = np.empty(w.shape, dtype=x.dtype)
    db = np.empty(w.shape[0], dtype=x.dtype)
    _k2.conv2d_backward_weight(x, dy, dw, db, stride[0], stride[1], padding[0], padding[1],
                               algorithm=algorithm)
    return dx, dw, db


def _conv3d_winograd(channels_in, channels_out, out_shape, w, stride, algorithm):
    """Whether conv3d (or, with the roles of the shapes swapped, its backward-input) runs Winograd
    F(2x2x2, 3x3x3): see :func:`fastnet.kernels.winograd3d.winograd_ok`."""
    tiles = _kw3.tile_count(out_shape[0], *out_shape[2:])
    return _kw3.winograd_ok(channels_in, channels_out, tiles, *w.shape[2:], *stride, algorithm)


@traced("conv3d")
def conv3d(x, w, b=None, stride=1, padding=0, algorithm="auto"):
    """3-D convolution (cross-correlation, as in PyTorch) over a batch of volumes.

    Parameters
    ----------
    x : ndarray of shape (N, C, D, H, W), float32 or float64
        Input volumes.
    w : ndarray of shape (K, C, FD, FH, FW), same dtype as x
        Filters: K output channels, C input channels, FD x FH x FW taps.
    b : ndarray of shape (K,), same dtype as x, or None
    stride : int or tuple (sd, sh, sw) of ints >= 1
    padding : int or tuple (pd, ph, pw) of ints >= 0
        Zero padding added on both sides of each spatial dim.
    algorithm : {"auto", "direct", "winograd"}, default "auto"
        "winograd": Winograd F(2x2x2, 3x3x3) for 3x3x3 filters at stride 1, and its stride-2
        form for 3x3x3 filters at stride 2 (125 multiplies per 2x2x2 tile and channel pair for
        216; other filters or strides: ValueError; :mod:`fastnet.kernels.winograd3d`); "direct":
        the direct kernels; "auto": picks by shape: Winograd for 3x3x3 stride 1 with C and K >= 8
        and at least 64 2x2x2 output tiles (``fastnet.kernels.winograd3d.WINOGRAD_*``), where it
        measured 1.1-2x faster than the direct kernels; the stride-2 form with AVX-512 only, for
        C >= 32, K >= 64, C*K <= 8192 and at least 512 tiles (``WINOGRAD_STRIDE2_*``), where it
        measured 1.02-1.24x faster; else the direct kernels. Winograd's float32 error,
        ``max(abs(error)) / max(abs(y))``, measured 3e-7 to 1e-6 for unit-normal data and C =
        32..256, no more than the direct kernels' (see :mod:`fastnet.kernels.winograd3d`; tests
        bound it by 1e-5). At stride 1 a NaN or infinity in x reaches, as NaN, every output of the
        2x2x2 tiles whose 4x4x4 input windows hold it, not only the outputs whose windows hold it;
        at stride 2 a NaN reaches exactly the outputs whose windows hold it.

    Returns
    -------
    y : ndarray of shape (N, K, Do, Ho, Wo), same dtype as x, C-contiguous
        ``y[n, k, i, j, l] = b[k] + sum_{c,a,p,q} w[k, c, a, p, q]
        * xpad[n, c, i*sd + a, j*sh + p, l*sw + q]``.

    Shape
    -----
    Do = floor((D + 2*pd - FD) / sd) + 1, Ho = floor((H + 2*ph - FH) / sh) + 1,
    Wo = floor((W + 2*pw - FW) / sw) + 1.

    Extra memory: direct kernels: as :func:`conv2d` with C*FD*FH*FW in place of C*FH*FW.
    Winograd: a padded channels-last copy of x, the transformed weights (64, C, Kp), and per work
    unit in flight a (64, T, C) and a (64, T + W, NR) block, T up to 32 tiles of 2x2x2 outputs
    (W: vector lanes, 16 with float32 on AVX-512); C3D (32 -> 64 channels): 0.7 MB per thread.
    At stride 2: 125 in place of 64 (32 -> 64 channels, 16x32x32 volumes: 1.0 MB of weights, 0.8
    MB per thread).
    """
    x, w, b, stride, padding, out_shape = _check(x, w, b, stride, padding, 3)
    _check_algorithm(algorithm, w, stride)
    if b is None:
        b = np.zeros(w.shape[0], dtype=x.dtype)
    y = np.empty(out_shape, dtype=x.dtype)
    if _conv3d_winograd(x.shape[1], w.shape[0], out_shape, w, stride, algorithm):
        _kw3.conv3d_forward_winograd(x, w, b, y, *padding)
    elif _kw3.winograd_stride2_ok(x.shape[1], w.shape[0], int(np.prod(out_shape[2:])) * out_shape[0],
                                  _kw3.tile_count(out_shape[0], *out_shape[2:]), *w.shape[2:], *stride, algorithm):
        _kw3.conv3d_forward_winograd(x, w, b, y, *padding, stride=2)
    else:
        _k3.conv3d_forward(x, w, b, y, *stride, *padding)
    return y


@traced("conv3d_backward")
def conv3d_backward(x, w, dy, stride=1, padding=0, input_grad=True, algorithm="auto"):
    """Gradients of ``sum(conv3d(x, w, b, stride, padding) * dy)``.

    Parameters
    ----------
    x : ndarray of shape (N, C, D, H, W), float32 or float64
    w : ndarray of shape (K, C, FD, FH, FW), same dtype
    dy : ndarray of shape (N, K, Do, Ho, Wo), same dtype: the upstream gradient
    stride, padding : as in :func:`conv3d`
    input_grad : bool, default True
        False skips dx (returned as None).
    algorithm : {"auto", "direct", "winograd"}, default "auto"
        As in :func:`conv3d`, for dx (a forward correlation of dy with the flipped, transposed
        weights, whose output is dx: "auto" counts dx's tiles; padding above 2 on any axis falls
        back to the direct kernels) and for dw (Winograd F(3x3x3, 2x2x2), any padding:
        :mod:`fastnet.kernels.winograd3d_weight`; "auto" takes it with at least 12 input
        channels C, whatever K, and at least 32 2x2x2 tiles of dy,
        ``fastnet.kernels.winograd3d_weight.WEIGHT_MIN_*``, where it measured 1.2-3x faster than
        the direct kernels; its float32 error, ``max(abs(error)) / max(abs(dw))``, measured 4e-7
        to 2e-6 for unit-normal data, as the direct kernels'). db is always a plain sum.

    Returns
    -------
    dx : ndarray of shape (N, C, D, H, W), or None when ``input_grad`` is False
    dw : ndarray of shape (K, C, FD, FH, FW)
    db : ndarray of shape (K,): dy summed over N, Do, Ho, Wo (always returned)

    Extra memory: as :func:`conv2d_backward` (sd*sh*sw residue classes); Winograd dx: as the
    Winograd forward of :func:`conv3d`, with dy's padded copy in place of x's and K, C swapped.
    Winograd dw: a padded channels-last copy of x, partial sums (64, K, C rounded up to the tile
    shape) per group of tiles, at most 4 MB in all (or, with a single group, a block of at most
    4 MB per thread), and per thread a (64, T, C) and a (64, K, T) block, T = 32 tiles; C3D
    (32 -> 64 channels): 2.3 MB, 4 MB and 0.8 MB per thread.
    """
    x, w, dy, stride, padding = _check_backward(x, w, dy, stride, padding, 3, input_grad)
    _check_algorithm(algorithm, w, stride)
    dx = None
    if input_grad:
        dx = np.empty(x.shape, dtype=x.dtype)
        if max(padding) <= 2 and _conv3d_winograd(w.shape[0], w.shape[1], x.shape, w, stride, algorithm):
            _kw3.conv3d_backward_input_winograd(dy, w, dx, *padding)
        else:
            _k3.conv3d_backward_input(dy, w, dx, *stride, *padding)
    dw = np.empty(w.shape, dtype=x.dtype)
    db = np.empty(w.shape[0], dtype=x.dtype)
    tiles = _kw3.tile_count(dy.shape[0], *dy.shape[2:])
    if _kw3w.winograd_weight_ok(w.shape[1], w.shape[0], tiles, *w.shape[2:], *stride, algorithm):
        _kw3w.conv3d_backward_weight_winograd(x, dy, dw, db, *padding)
    else:
        _kw.conv3d_backward_weight(x, dy, dw, db, *stride, *padding)
    return dx, dw, db

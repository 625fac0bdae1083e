"""Direct 2-D convolution kernels (cross-correlation, PyTorch NCHW layout), forward and backward.

Two implementations, picked per call by shape (both tested directly):

* The convolution core in :mod:`fastnet.kernels.conv3d`, for every stride and size: each function
  here views its 4-D arrays as 5-D arrays of depth 1 (a reshape, no copy) and runs the compiled 3-D
  kernel with depth stride 1 and depth padding 0.
* The flat-plane kernels in :mod:`fastnet.kernels.conv2d_plane`, for small layers at stride 1
  (reductions C*FH*FW up to PLANE_MAX_REDUCTION: LeNet's C1, 3x3 convolutions of RGB images),
  where the core's short reductions make it slow; see :func:`_plane_ok` (with AVX2, the forward
  only below AVX2_PLANE_MAX_MACS multiply-adds per output: :func:`_plane_forward_ok`). Their
  forward gives way to the form with output positions in vector lanes
  (:mod:`fastnet.kernels.conv_lanes`, run by the core's
  :func:`~fastnet.kernels.conv3d.conv3d_forward`) wherever that one fits
  (:func:`~fastnet.kernels.conv_lanes.lanes_fit`: images of up to 4 channels, reductions of up to
  512 steps, output rows of at least a vector with at most 15% of their lanes wasted): VGG's first
  layer (8, 3, 224, 224) -> 64 3x3 ran 1.3-2.0x as fast, LeNet's C1 1.0x on one thread and
  1.15-1.4x on two (Zen 3); dx keeps the planes, and dw does on AVX-512 only
  (:func:`_plane_weight_ok`).
* Winograd F(2x2, 3x3) and F(2x2, 5x5) in :mod:`fastnet.kernels.winograd`, for 3x3 and 5x5
  stride-1 layers (forward, and backward-input as a forward correlation of dy), when asked for
  (``algorithm="winograd"``) or when ``"auto"`` picks it by shape (:func:`winograd_ok`); and
  Winograd F(3x3, 2x2) and F(5x5, 2x2) for the weight gradient of those layers in
  :mod:`fastnet.kernels.winograd_weight` (:func:`winograd_weight_ok`); and the stride-2 forms of
  Winograd for the forward pass of 3x3 and 5x5 stride-2 layers (:func:`winograd_stride2_ok`).

These are plain Python functions on purpose: wrapping them in ``serial_kernel`` would compile the
whole 3-D core a second time inside each of them (tens of seconds per dtype), for a saving of a
microsecond per call.
"""

import numpy as np

from ._config import AVX512_VECTOR_BYTES, vector_bytes
from .conv2d_plane import all_finite, flat_planes, plane_correlate, plane_weight_grad
from .conv3d import conv3d_backward_input, conv3d_forward
from .conv_lanes import lanes_fit
from .conv_weight import conv3d_backward_weight
from .winograd import conv2d_forward_winograd
from .winograd_weight import conv2d_backward_weight_winograd

PLANE_MAX_REDUCTION = 80    # flat-plane kernels up to this reduction length C*FH*FW ...
PLANE_MAX_REDUCTION_DX = 160   # ... and, for dx, K*FH*FW up to this
PLANE_MAX_WASTE = 2.0       # ... and up to this many grid positions per output (plane / outputs)
PLANE_MAX_WASTE_WEIGHT = 2.25   # ... for the weight gradient, where the planes stay faster (see _plane_ok)
# ... where the target's vectors are AVX512_VECTOR_BYTES wide (AVX-512, where these limits were
# measured); with narrower vectors (AVX2) the core was faster on more shapes: there the forward
# takes the planes only below AVX2_PLANE_MAX_MACS multiply-adds per output position (C*FH*FW*K;
# see _plane_forward_ok) and the weight gradient never (see _plane_weight_ok)
AVX2_PLANE_MAX_MACS = 1024
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
# With vectors narrower than AVX512_VECTOR_BYTES (AVX2) Winograd needs more tiles: at least
# AVX2_WINOGRAD_MIN_TILES, or AVX2_WINOGRAD_MIN_TILES_LARGE where C * K > AVX2_WINOGRAD_LARGE
# (see winograd_ok for the measurements).
AVX2_WINOGRAD_MIN_TILES = 96
AVX2_WINOGRAD_LARGE = 256 * 256
AVX2_WINOGRAD_MIN_TILES_LARGE = 192
# The weight gradient (Winograd F(3x3, 2x2), conv2d_backward_weight) has its own thresholds (see
# winograd_weight_ok): at least WINOGRAD_WEIGHT_MIN_CHANNELS input and output channels and
# WINOGRAD_WEIGHT_MIN_OUTPUTS output positions N * Ho * Wo, or WINOGRAD_WEIGHT_MIN_OUTPUTS_LARGE
# where C * K > WINOGRAD_WEIGHT_LARGE (a fixed cost, 16 C K partial sums written, read back and
# transformed, leaves the caches there: 3-4 ms at 512 -> 512). Positions rather than tiles: the
# direct core's work is the positions, Winograd's the tiles plus that fixed cost (7x7 outputs
# waste 15 of every 64 tile positions). Measured on the Zen 4 dev box (AVX-512), float32,
# 2026-12-05, direct dw time / Winograd dw time, 1 thread | 2 threads (the shared VM: two-thread
# runs of small layers varied by up to 30 %), by positions: 49 (7x7 b1): 64-256 channels
# 0.85-1.2 | 0.55-1.05, 512 0.6-0.7 | 0.6-0.85; 98-100 (7x7 b2, 10x10 b1): 32-256 channels 1.0-1.4
# | 0.5-1.35, 384-512 0.85-1.15 | 0.55-1.0; 128 (8x8 b2): 32-256 1.1-1.4 | 0.7-1.3, 512 1.05-1.3
# | 0.75-0.9; 147 (7x7 b3, 512) 0.97-1.08 | 0.8-0.87; 196: 64-256 channels (14x14 b1) 1.15-1.95 |
# 1.2-2.1, 384-512 (14x14 b1, 7x7 b4) 1.1-1.45 | 0.9-1.45; 392 and more (the layers of
# fastnet.kernels.winograd_weight's table) 1.2-2.0 | 1.1-2.0; 16 channels (half of every 32-wide vector
# panel is padding) 0.5-0.7 | 0.6.
WINOGRAD_WEIGHT_MIN_CHANNELS = 32
WINOGRAD_WEIGHT_MIN_OUTPUTS = 160
WINOGRAD_WEIGHT_LARGE = 256 * 256
WINOGRAD_WEIGHT_MIN_OUTPUTS_LARGE = 256
# ... and with AVX2 only on maps whose outputs fill at least AVX2_WINOGRAD_WEIGHT_MIN_FILL of the
# positions of their 2x2 tiles (7x7: 49 of 64; see winograd_weight_ok)
AVX2_WINOGRAD_WEIGHT_MIN_FILL = 0.8
# 5x5 stride 1 (Winograd F(2x2, 5x5), forward and backward-input; see winograd_ok): "auto" takes it
# with at least WINOGRAD_5X5_MIN_CHANNELS input and output channels and WINOGRAD_5X5_MIN_TILES
# 2x2 output tiles, on AVX2 and AVX-512 alike. Zen 3, float32, 2026-12-07,
# direct time / Winograd time, forward and dx, one and two threads, padding 2, the 67 layers of
# `python bench/winograd_limits.py --5x5` (16-256 channels, 7x7-56x56, batch 1-32): below 128 tiles
# 0.39-0.97 (batch-1 256 -> 256 at 14x14, 49 tiles: the weight transform, 4.6 ms on one core);
# 128 tiles 0.79-1.09; from 196 on 0.94-2.1 (1.2-2.1 from 64 channels); 16 channels 0.74-1.32
# at any size (the direct forms' small-layer kernels). Zen 4 with AVX-512, the same table (later
# that day): 32-256 channels from 196 tiles on 1.10-2.12, at 128 tiles 0.93-1.25, below 0.49-1.18;
# 16 channels 0.57-1.23. Lower limits there would win a few small layers by 10-20 %: not changed.
WINOGRAD_5X5_MIN_CHANNELS = 32
WINOGRAD_5X5_MIN_TILES = 160
# ... and their weight gradient (Winograd F(5x5, 2x2); see winograd_weight_ok) with at least
# WINOGRAD_5X5_WEIGHT_MIN_CHANNELS input and output channels, WINOGRAD_5X5_WEIGHT_MIN_TILES tiles
# (AVX2_WINOGRAD_5X5_WEIGHT_MIN_TILES with vectors narrower than AVX-512's) and outputs that fill
# at least WINOGRAD_5X5_WEIGHT_MIN_FILL of their tiles' 4 * tiles positions (7x7 maps: 49 of 64).
# Zen 4, float32, 2026-12-07, direct dw time / Winograd dw time, one thread (two), the 67 layers of
# `python bench/winograd_limits.py --5x5`. AVX-512: 16 channels 0.25-0.69 (0.42-0.91); 7x7 maps
# 0.18-1.02 (0.22-0.85); 32-256 channels on maps of 14x14 to 56x56: 49 tiles 0.45-0.75, 196 tiles
# 0.87-1.36 (0.82-1.27), from 392 on 1.07-1.73 (1.05-1.72). AVX2 code on the same CPU
# (NUMBA_CPU_NAME=znver3, NUMBA_CPU_FEATURES=""), the same layers: 196 tiles 0.80-1.31
# (0.66-1.01), 392 0.89-1.24 (0.87-1.02), from 784 on 0.80-1.46 (0.97-1.71; the 0.80: 32 channels
# at 14x14, batch 32).
WINOGRAD_5X5_WEIGHT_MIN_CHANNELS = 32
WINOGRAD_5X5_WEIGHT_MIN_TILES = 384
AVX2_WINOGRAD_5X5_WEIGHT_MIN_TILES = 768
WINOGRAD_5X5_WEIGHT_MIN_FILL = 0.8
# 3x3 stride 2, the forward only (the stride-2 forms of kernels/winograd.py; see
# winograd_stride2_ok): "auto" takes it with AVX-512 vectors only, with at least
# WINOGRAD_STRIDE2_MIN_CHANNELS input and output channels, WINOGRAD_STRIDE2_MIN_TILES 2x2 output
# tiles and outputs that fill at least WINOGRAD_STRIDE2_MIN_FILL of the tiles' positions.
WINOGRAD_STRIDE2_MIN_CHANNELS = 64
WINOGRAD_STRIDE2_MIN_TILES = 392
WINOGRAD_STRIDE2_MIN_FILL = 0.9
# ... and 5x5 stride 2 with any vectors, from WINOGRAD_5X5_STRIDE2_MIN_CHANNELS channels,
# WINOGRAD_5X5_STRIDE2_MIN_TILES tiles and WINOGRAD_5X5_STRIDE2_MIN_FILL
WINOGRAD_5X5_STRIDE2_MIN_CHANNELS = 32
WINOGRAD_5X5_STRIDE2_MIN_TILES = 196
WINOGRAD_5X5_STRIDE2_MIN_FILL = 0.9
ALGORITHMS = ("auto", "direct", "winograd")
WINOGRAD_SIZES = (3, 5)   # square filter sizes Winograd computes at stride 1 (forward, dx and dw)
WINOGRAD_STRIDE2_SIZES = (3, 5)   # ... and at stride 2 (the forward only)


def winograd_applies(fh, fw, sh, sw):
    """Whether Winograd computes this convolution (forward, backward-input and weight gradient):
    3x3 filters (F(2x2, 3x3), F(3x3, 2x2)) or 5x5 (F(2x2, 5x5), F(5x5, 2x2)) at stride 1."""
    return fh == fw and fh in WINOGRAD_SIZES and sh == 1 and sw == 1


def winograd_forward_applies(fh, fw, sh, sw):
    """Whether Winograd computes this convolution's forward pass: where :func:`winograd_applies`,
    and 3x3 or 5x5 filters at stride 2 (WINOGRAD_STRIDE2_SIZES; the backward passes of those run
    the direct kernels)."""
    return winograd_applies(fh, fw, sh, sw) or (fh == fw and fh in WINOGRAD_STRIDE2_SIZES and sh == sw == 2)


def winograd_stride2_ok(channels_in, channels_out, outputs, tiles, fh, fw, sh, sw, algorithm):
    """Whether the forward pass runs a stride-2 form of Winograd (3x3 or 5x5 filters at stride 2:
    :func:`~fastnet.kernels.winograd.conv2d_forward_winograd`): "winograd", or "auto" by shape:
    3x3 with vectors of at least AVX512_VECTOR_BYTES only (WINOGRAD_STRIDE2_MIN_CHANNELS,
    WINOGRAD_STRIDE2_MIN_TILES, WINOGRAD_STRIDE2_MIN_FILL), 5x5 with any
    (WINOGRAD_5X5_STRIDE2_*); ``outputs`` = N * Ho * Wo, ``tiles`` = N * ceil(Ho/2) * ceil(Wo/2).

    3x3 needs 25 multiplies per 2x2 tile and channel pair where the direct kernels need 36, and
    its transforms cost about what stride-1 Winograd's do per product, so it wins only where the
    direct kernels have nothing to skip and the transforms are a small share. Zen 4, float32,
    2026-12-07, direct time / stride-2 Winograd time, forward, two threads, padding 1, the 90 layers
    of ``python bench/winograd_limits.py --threads 2 --stride2`` (16-512 channels, C -> C and C ->
    2C, inputs of 14x14 to 56x56, batch 1-32). AVX-512: 64-256 channels from 392 tiles on maps of
    14x14 outputs or more 1.02-1.17, one thread 1.07-1.21 (ResNet's 64 -> 128 at 56x56, batch 8:
    1.15-1.17, one thread 1.16); 16 channels 0.54-0.72; 32 channels 0.65-1.03; below 392 tiles
    0.31-1.03; 7x7 outputs (16 tiles of 64 positions for 49) 0.92-0.94 at 512 tiles. AVX2 code
    on the same CPU (NUMBA_CPU_NAME=znver3 NUMBA_CPU_FEATURES=""): 0.19-1.01 on the same layers,
    so never by shape there.

    5x5 needs 49 multiplies for 100. The same 90 layers with 5x5 filters, padding 2 (``--stride2
    --5x5``), 11:45-11:48: AVX-512, 32-256 channels, from 196 tiles on maps of 14x14 outputs or
    more 1.04-1.52 but one 0.98 (batch 1, 32 channels at 56x56); AVX2 code 1.03-1.44, the same one
    0.98; below 196 tiles 0.25-1.17 (AVX2 0.20-1.01), 16 channels 0.60-0.97, 7x7 outputs at 512
    tiles 1.03-1.23 (AVX2 0.90-1.05).
    """
    if algorithm == "direct" or not (fh == fw and fh in WINOGRAD_STRIDE2_SIZES and sh == sw == 2):
        return False
    if algorithm == "winograd":
        return True
    if fh == 5:
        return (WINOGRAD_AUTO and min(channels_in, channels_out) >= WINOGRAD_5X5_STRIDE2_MIN_CHANNELS
                and tiles >= WINOGRAD_5X5_STRIDE2_MIN_TILES
                and outputs >= WINOGRAD_5X5_STRIDE2_MIN_FILL * 4 * tiles)
    return (WINOGRAD_AUTO and vector_bytes() >= AVX512_VECTOR_BYTES
            and min(channels_in, channels_out) >= WINOGRAD_STRIDE2_MIN_CHANNELS
            and tiles >= WINOGRAD_STRIDE2_MIN_TILES and outputs >= WINOGRAD_STRIDE2_MIN_FILL * 4 * tiles)


def winograd_ok(channels_in, channels_out, tiles, fh, fw, sh, sw, algorithm):
    """Whether to run Winograd: ``algorithm`` "winograd" (the caller checked that it applies),
    "direct" never, "auto" by shape (WINOGRAD_AUTO, WINOGRAD_MIN_CHANNELS, WINOGRAD_MIN_TILES;
    ``tiles`` = N * ceil(Ho/2) * ceil(Wo/2) of the correlation Winograd would compute). With
    vectors narrower than AVX512_VECTOR_BYTES (AVX2), at least AVX2_WINOGRAD_MIN_TILES tiles, or
    AVX2_WINOGRAD_MIN_TILES_LARGE where C * K > AVX2_WINOGRAD_LARGE.

    The AVX-512 limits (above) left Winograd slower than the direct core on small layers with
    AVX2. Zen 3, float32, 2026-12-06, direct time / Winograd time, forward | backward-input, the
    best of 3 rounds of 5 calls, one thread (two threads); 3x3, padding 1, 85 layers. Below 96
    tiles: 7x7 maps at batch 2 (32 tiles), 64-512 channels 0.52-0.71 | 0.64-0.79 (0.54-0.82 |
    0.55-0.96); batch 4 (64 tiles) 0.72-0.96 | 0.74-0.97 (0.70-1.00 | 0.76-1.10); 14x14 at batch
    1 (49 tiles): 64 and 128 channels 0.80-1.02 | 0.82-0.95 (0.81-0.96 | 0.91-1.00), 256
    0.72-0.95 | 0.99-1.26 (1.04-1.07 | 1.04-1.13), 512 0.87 | 0.84 (0.66 | 0.85); 13x13, 384
    channels 0.88 | 0.90 (0.83 | 0.47). From 96 tiles on, up to 256 x 256 channels: 7x7 at batch
    8 (128 tiles) 0.94-1.19 | 0.94-1.11 (1.00-1.15 | 1.09-1.16), batch 16 and 32 1.12-1.25 |
    1.06-1.27 (1.06-1.24 | 1.14-1.54); maps of 13x13 to 56x56 0.90-2.21 | 1.00-2.06 (1.00-2.13 |
    1.15-3.39). More channels (384 and 512; at 512 -> 512 U, the transformed weights, is 16 MB):
    98-147 tiles 0.79-1.13 | 0.86-1.00 (0.81-1.10 | 0.82-1.08), from 196 on 0.77-1.58 |
    0.95-1.46 (0.97-1.52 | 0.87-1.63). AVX-512 not measured again (no such machine since
    2026-12-05).
    """
    if algorithm == "direct" or not winograd_applies(fh, fw, sh, sw):
        return False
    if algorithm == "winograd":
        return True
    if fh == 5:
        return (WINOGRAD_AUTO and min(channels_in, channels_out) >= WINOGRAD_5X5_MIN_CHANNELS
                and tiles >= WINOGRAD_5X5_MIN_TILES)
    if vector_bytes() < AVX512_VECTOR_BYTES:
        large = channels_in * channels_out > AVX2_WINOGRAD_LARGE
        if tiles < (AVX2_WINOGRAD_MIN_TILES_LARGE if large else AVX2_WINOGRAD_MIN_TILES):
            return False
    return (WINOGRAD_AUTO and min(channels_in, channels_out) >= WINOGRAD_MIN_CHANNELS
            and tiles >= WINOGRAD_MIN_TILES)


def winograd_weight_ok(channels_in, channels_out, outputs, tiles, fh, fw, sh, sw, algorithm):
    """Whether conv2d_backward_weight runs Winograd F(3x3, 2x2) or F(5x5, 2x2): "winograd" (the
    caller checked that it applies), "direct" never, "auto" by shape: 3x3 with the
    WINOGRAD_WEIGHT_* constants, 5x5 with WINOGRAD_5X5_WEIGHT_* and, with vectors narrower than
    AVX512_VECTOR_BYTES, AVX2_WINOGRAD_5X5_WEIGHT_MIN_TILES (measurements: by those constants;
    WINOGRAD_AUTO False turns both off too); ``outputs`` = N * Ho * Wo, the positions of dy,
    ``tiles`` = N * ceil(Ho/2) * ceil(Wo/2), its 2x2 tiles. With vectors narrower than
    AVX512_VECTOR_BYTES (AVX2), only where the outputs fill at least
    AVX2_WINOGRAD_WEIGHT_MIN_FILL of the tiles' 4 * tiles positions.

    Zen 3 (AVX2), float32, 2026-12-06, direct dw time / Winograd dw time, the best of 3 rounds of
    5 calls, one thread (two threads), 3x3, padding 1: 7x7 maps (49 of 64 positions
    filled), 32-512 channels, batch 1-64, 25 layers: 0.56-1.02 (0.57-0.98), 0.8 typical; 13x13
    maps (169 of 196), AlexNet's 256-384 channels at batch 2-8: 1.00-1.73 (0.78-1.12); maps of
    14x14 and more, the layers the limits above give Winograd, 64-512 channels: 0.90-1.52
    (0.88-1.94). Not changed: 32 channels, which Winograd lost at 14x14 (batch 2-8: 0.76-0.86,
    two threads 0.76-0.91), tied at 28x28 (0.93-1.08, 0.99-1.19) and won at 56x56 (1.10-1.33,
    1.02-1.16).
    """
    if algorithm == "direct" or not winograd_applies(fh, fw, sh, sw):
        return False
    if algorithm == "winograd":
        return True
    if fh == 5:
        if vector_bytes() < AVX512_VECTOR_BYTES and tiles < AVX2_WINOGRAD_5X5_WEIGHT_MIN_TILES:
            return False
        return (WINOGRAD_AUTO and min(channels_in, channels_out) >= WINOGRAD_5X5_WEIGHT_MIN_CHANNELS
                and tiles >= WINOGRAD_5X5_WEIGHT_MIN_TILES
                and outputs >= WINOGRAD_5X5_WEIGHT_MIN_FILL * 4 * tiles)
    if vector_bytes() < AVX512_VECTOR_BYTES and outputs < AVX2_WINOGRAD_WEIGHT_MIN_FILL * 4 * tiles:
        return False
    large = channels_in * channels_out > WINOGRAD_WEIGHT_LARGE
    return (WINOGRAD_AUTO and min(channels_in, channels_out) >= WINOGRAD_WEIGHT_MIN_CHANNELS
            and outputs >= (WINOGRAD_WEIGHT_MIN_OUTPUTS_LARGE if large else WINOGRAD_WEIGHT_MIN_OUTPUTS))


def _tiles(n, ho, wo):
    return n * ((ho + 1) // 2) * ((wo + 1) // 2)


def _plane_ok(reduction, grid, outputs, sh, sw, force, max_waste=None, dx_reduction=0):
    """Whether to run the flat-plane kernels. ``force`` (tests): True takes them wherever they
    apply (stride 1), False never; None decides by shape.

    Measured on one Zen 4 core (AVX-512), float32, batch 32-64, 2026-12-05, against the tile core
    (which has a narrow tile shape for K <= 16), plane / core ms, forward | dx | dw: LeNet C1 (1 ->
    6, 5x5, C*FH*FW = 25) 0.34 / 0.90 | 0.45 / 1.29 | 0.41 / 1.14; 3 -> 64 3x3 (27) 2.0 / 4.8 |
    3.8 / 1.8 | 2.9 / 3.0; 4 -> 16 3x3 (36) 0.53 / 0.75 | 0.53 / 1.05 | 0.55 / 0.63; 8 -> 16 3x3 (72)
    0.97 / 1.02 | 1.03 / 1.25 | 0.89 / 0.85; 4 -> 32 5x5 (100) 2.42 / 2.21 | 2.52 / 2.86 | 2.38 /
    1.95; LeNet C3 (6 -> 16 5x5, 150) 0.75 / 0.49 | 1.44 / 0.74 | 0.80 / 0.43; 16 -> 16 3x3 (144)
    1.82 / 1.55 | 2.52 / 1.56 | 1.58 / 1.76. So: the planes up to C*FH*FW = PLANE_MAX_REDUCTION,
    dx only where K*FH*FW is at most PLANE_MAX_REDUCTION_DX as well (3 -> 64: the core's dx), and
    only while the grid is not mostly padding (PLANE_MAX_WASTE; the weight gradient up to
    PLANE_MAX_WASTE_WEIGHT, ``max_waste``, where the planes measured faster on the old core; and
    only on AVX-512, see :func:`_plane_weight_ok`).
    """
    if sh != 1 or sw != 1:
        return False
    if force is not None:
        return force
    waste = PLANE_MAX_WASTE if max_waste is None else max_waste
    return (reduction <= PLANE_MAX_REDUCTION and dx_reduction <= PLANE_MAX_REDUCTION_DX
            and grid <= waste * outputs)


def _plane_weight_ok(reduction, grid, outputs, sh, sw, force):
    """Whether the weight gradient runs on the flat planes: :func:`_plane_ok` with
    PLANE_MAX_WASTE_WEIGHT, and by shape (``force`` None) only where the target's vectors are at
    least AVX512_VECTOR_BYTES wide (AVX-512, where the planes were measured faster).

    With AVX2 the core's weight gradient was the faster one on most of the planes' shapes. Zen 3,
    float32, 2026-12-06, plane / core, 40 shapes drawn at random from the planes' domain (batch
    1-64, 1-8 input and 6-64 output channels, 8x8 to 56x56, 3x3 and 5x5, padding 0 or F // 2),
    one thread: the core faster on 31, geometric mean of core / plane time 0.70, from 0.36
    (2 -> 64 5x5 at 14x14, batch 64: 3.58 / 1.28 ms) to 1.48 (a 19 us layer); the planes ahead
    by 1-29 us, on layers of 6 output channels or of 8x8 maps at batch 8 or less. Two
    threads, 39 other shapes: the core faster on 30. LeNet-5's C1 (64, 1 -> 6, 28x28, 5x5,
    padding 2) 451 / 349 us; ``fastnet train``'s first convolution (32, 1 -> 16, 8x8, 3x3) 62 /
    53 us, and its cold start no longer compiles the planes' kernels (5.5 of the 42 s a single
    process spent compiling it: its second convolution compiles the core's weight gradient
    anyway). With AVX-512 the planes were faster for LeNet's C1 (above); not measured again
    since the core's weight gradient changed (no AVX-512 machine since).
    """
    if force is None and vector_bytes() < AVX512_VECTOR_BYTES:
        return False
    return _plane_ok(reduction, grid, outputs, sh, sw, force, PLANE_MAX_WASTE_WEIGHT)


def _plane_forward_ok(reduction, channels_out, grid, outputs, sh, sw, force):
    """Whether the forward pass runs on the flat planes (where the lanes form does not fit):
    :func:`_plane_ok`, and by shape (``force`` None) with vectors narrower than
    AVX512_VECTOR_BYTES (AVX2) only below AVX2_PLANE_MAX_MACS multiply-adds per output position
    (``reduction * channels_out``): above it the core's register tiles, which reuse each input
    value for a vector of output channels, were the faster.

    Zen 3, float32, 2026-12-06, plane / core, shapes drawn at random from the planes' forward
    domain (batch 1-64, 1-8 input and 6-64 output channels, 8x8 to 56x56, 3x3 and 5x5, padding 0
    or F // 2; the lanes form's shapes left out), geometric mean of core / plane time. One
    thread, 40 shapes: from 1024 multiply-adds on, the core faster on 13 of 15, 0.76 (0.46 to
    1.14; 0.46: 8 -> 64 channels at 8x8, batch 64, 765 / 350 us; the planes ahead on two batch-1
    layers); below, the planes faster on 20 of 25, 1.47 (0.68 to 2.76). Two threads: 25 shapes
    from 1024 on, the core faster on 19, 0.81 (0.44 to 1.43; the planes ahead only on layers of
    26-44 us: batch 1, or 8x8 maps at batch 8); 25 below, the planes faster on 22, 1.67 (0.81 to
    3.74). Not measured on AVX-512, where the planes' limits were set (:func:`_plane_ok`).
    """
    if (force is None and vector_bytes() < AVX512_VECTOR_BYTES
            and reduction * channels_out >= AVX2_PLANE_MAX_MACS):
        return False
    return _plane_ok(reduction, grid, outputs, sh, sw, force)


def conv2d_forward(x, w, b, y, sh, sw, ph, pw, plane=None, algorithm="auto"):
    """y[n, k, i, j] = b[k] + sum_{c,p,q} w[k, c, p, q] * xpad[n, c, i*sh + p, j*sw + q].

    x : (N, C, H, W), w : (K, C, FH, FW), b : (K,), y : (N, K, Ho, Wo) written in full; all
    C-contiguous, one dtype. ``plane``: None picks the implementation by shape (the lanes form of
    :mod:`fastnet.kernels.conv_lanes` first, then the flat planes, then the core); True / False
    force the flat-plane kernels (where they apply: stride 1) / the core (tests). ``algorithm``: "auto",
    "direct" or "winograd" (3x3 and 5x5 at stride 1, see :func:`winograd_ok`, and at stride 2, see
    :func:`winograd_stride2_ok`); Winograd ignores ``plane``.
    Extra memory: Winograd: see :mod:`fastnet.kernels.winograd`; core: see :func:`conv3d_forward`; flat plane: a padded copy of x, (C, N*(H+2ph)*
    (W+2pw)) plus a short tail, and one Ho*(W+2pw) accumulator row per (image, output channel) in
    flight.
    """
    n, c, h, wd = x.shape
    k, _, fh, fw = w.shape
    hp, wp = h + 2 * ph, wd + 2 * pw
    tiles = _tiles(n, y.shape[2], y.shape[3])
    if winograd_ok(c, k, tiles, fh, fw, sh, sw, algorithm):
        conv2d_forward_winograd(x, w, b, y, ph, pw)
        return
    if winograd_stride2_ok(c, k, n * y.shape[2] * y.shape[3], tiles, fh, fw, sh, sw, algorithm):
        conv2d_forward_winograd(x, w, b, y, ph, pw, stride=2)
        return
    lanes = lanes_fit(c, fh * fw, sw, y.shape[3], x.dtype) if plane is None else False
    if not lanes and _plane_forward_ok(c * fh * fw, k, hp * wp, y.shape[2] * y.shape[3], sh, sw, plane):
        xf = flat_planes(x, ph, pw, hp, wp, fw)
        plane_correlate(xf, hp * wp, wp, w, b, y)
        return
    conv3d_forward(x.reshape(n, c, 1, h, wd), w.reshape(k, c, 1, fh, fw), b,
                   y.reshape(n, k, 1, y.shape[2], y.shape[3]), 1, sh, sw, 0, ph, pw, lanes=lanes)


def conv2d_backward_input(dy, w, dx, sh, sw, ph, pw, plane=None, algorithm="auto"):
    """dx (N, C, H, W) = gradient of sum(y * dy) with respect to x; see :func:`conv3d_backward_input`.

    Flat plane form (stride 1, padding <= F - 1): a forward correlation of dy padded by F - 1 -
    padding with the flipped, transposed weights. Extra memory: that padded copy of dy,
    (K, N*(H+FH-1)*(W+FW-1)), the (C, K, FH, FW) weights and one accumulator row per (image,
    channel) in flight. Winograd (``algorithm``, see :func:`winograd_ok`; padding <= F - 1, else
    the direct forms): the same correlation by :func:`conv2d_forward_winograd`, which reads the
    flipped, transposed weights in place.
    """
    n, k, ho, wo = dy.shape
    _, c, fh, fw = w.shape
    height, width = dx.shape[2], dx.shape[3]
    hp, wp = height + fh - 1, width + fw - 1
    if ph <= fh - 1 and pw <= fw - 1 and winograd_ok(k, c, _tiles(n, height, width), fh, fw, sh, sw,
                                                     algorithm):
        conv2d_forward_winograd(dy, w, np.zeros(c, dtype=dx.dtype), dx, fh - 1 - ph, fw - 1 - pw, flip=True)
        return
    if ph <= fh - 1 and pw <= fw - 1 and _plane_ok(c * fh * fw, hp * wp, height * width, sh, sw, plane,
                                                   dx_reduction=k * fh * fw):
        dyf = flat_planes(dy, fh - 1 - ph, fw - 1 - pw, hp, wp, fw)
        w_t = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        plane_correlate(dyf, hp * wp, wp, w_t, np.zeros(c, dtype=dx.dtype), dx)
        return
    conv3d_backward_input(dy.reshape(n, k, 1, ho, wo), w.reshape(k, c, 1, fh, fw),
                          dx.reshape(n, c, 1, height, width), 1, sh, sw, 0, ph, pw)


def conv2d_backward_weight(x, dy, dw, db, sh, sw, ph, pw, plane=None, algorithm="auto"):
    """dw (K, C, FH, FW) and db (K,) = gradients of sum(y * dy); see :func:`conv3d_backward_weight`.

    Flat plane form (stride 1, finite x, AVX-512 unless ``plane`` forces it: see
    :func:`_plane_weight_ok`): dy placed on the padded input's grid and one long dot
    per (k, c, p) over all images (db summed in float64 by NumPy). Extra memory: the padded copy
    of x as in :func:`conv2d_forward` plus dy on that grid, (K, N*(H+2ph)*(W+2pw)).
    ``algorithm``: "auto", "direct" or "winograd" (3x3 or 5x5 stride 1 only, any padding: see
    :func:`winograd_weight_ok`): Winograd F(3x3, 2x2) or F(5x5, 2x2) by
    :func:`~fastnet.kernels.winograd_weight.conv2d_backward_weight_winograd` (extra memory: see
    :mod:`fastnet.kernels.winograd_weight`); Winograd ignores ``plane``.
    """
    n, c, h, wd = x.shape
    _, k, ho, wo = dy.shape
    fh, fw = dw.shape[2], dw.shape[3]
    hp, wp = h + 2 * ph, wd + 2 * pw
    if winograd_weight_ok(c, k, n * ho * wo, _tiles(n, ho, wo), fh, fw, sh, sw, algorithm):
        conv2d_backward_weight_winograd(x, dy, dw, db, ph, pw)
        return
    use_plane = _plane_weight_ok(c * fh * fw, hp * wp, ho * wo, sh, sw, plane)
    if use_plane and plane is None and not all_finite(x.reshape(-1)):
        use_plane = False   # an inf or NaN outside every window would meet a zero of the grid
    if use_plane:
        xf = flat_planes(x, ph, pw, hp, wp, fh * wp + fw)
        dyg = flat_planes(dy, 0, 0, hp, wp, 0)
        plane_weight_grad(xf, dyg, wp, dw, dy.reshape(n, k, ho * wo), db)
        return
    conv3d_backward_weight(x.reshape(n, c, 1, h, wd), dy.reshape(n, k, 1, ho, wo),
                           dw.reshape(k, c, 1, fh, fw), db, 1, sh, sw, 0, ph, pw)

"""Winograd F(2x2x2, 3x3x3) convolution for 3x3x3 stride-1 3-D layers (Lavin & Gray's F(2x2, 3x3)
with one more axis), and a stride-2 form for the forward pass of 3x3x3 stride-2 layers.

Each 2x2x2 block of outputs ("tile") of one (volume, output channel) is computed from the 4x4x4
input window that covers it: the 1-D F(2, 3) transforms B^T (4x4), G (4x3) and A^T (2x4) applied
along each of the three axes, ``Y = A^T [ sum_c (G g_kc) * (B^T d_c) ]`` with every matrix acting
on every axis and ``*`` elementwise over 4x4x4: 64 multiplies per tile and channel pair instead of
216 (3.4x fewer). With the 64 transformed weights ``U[e] (C, K)`` and, for a chunk of T tiles, the
transformed inputs ``V[e] (T, C)`` (e = 16 i + 4 j + l for the depth, height and width indices
i, j, l), the sum over channels is 64 matrix products ``M[e] (T, K) = V[e] @ U[e]``, done by the
register-tile micro-kernel (:func:`fastnet.kernels.microkernel.tile_fma`) exactly as in
:mod:`fastnet.kernels.winograd`: MR tiles x NR output channels per call, the whole reduction over C
in registers (102-107 GFLOP/s on one Zen 4 core for C3D, 128 -> 128 and 64 -> 64). Layers with at
most one vector of output channels (K <= 16 with float32 on AVX-512) take the micro-kernel's
narrow tiles (16 tiles x 16 channels), as the direct core does: on wide ones half the products
were padding (16 -> 16 channels: 1.6x slower, as slow as the direct core).

3x3x3 filters at stride 2, the forward pass only (the form keyed (3, 2); the gradients are the
direct kernels'): winograd.py's stride-2 tables along each axis (two outputs at stride 2 from five
inputs, 5 multiplies for 6: F(2, 2) on the even inputs and taps, the odd tap alone), so 125
multiplies per 2x2x2 tile and channel pair for 216 (1.73x fewer), from 5x5x5 windows 4 apart;
U (125, 1, P, C, NR) (:func:`winograd3d_weights_stride2`, the unit axis names the form). The same
kernels compute it (:func:`_winograd_chunks` and the transforms, compiled once per form, which
they take from U's type: :func:`_form`). The transforms only add and subtract: float32 error
1.9e-7 to 3.4e-7 of max |y| (C = 1 to 32, unit-normal data), as the direct sum's, and a NaN in x
reaches exactly the outputs whose windows read it. Its products ran at 101-103 GFLOP/s on one
Zen 4 core for 32 -> 64 channels (16x32x32 volumes, batch 2), the whole forward 4.1-4.5 ms against
the direct kernels' 4.9-5.0 and PyTorch's 4.3: the transforms, the padded copy and the weights
take a third of it. Where "auto" takes it: :func:`winograd_stride2_ok`.

Layout: the input is padded physically once into channels-last rows (conv3d's
``_pad_channels_last``, rounded up to whole tiles in each axis). U is stored in panels,
(64, P, C, NR) with P = ceil(K / NR) (:func:`winograd3d_weights`): one contiguous (C, NR) block
per (e, panel). The transforms are explicit vector code
(:class:`~fastnet.kernels.vector_ir.Vectors`): the input transform (:func:`_input_tile`) takes W
channels per step, B^T along depth first (each of its rows combines two planes of the window),
then along height and width as the 2-D transform does; the output transform
(:func:`_output_tiles`) loads a tile's 64 values of M once, sums over depth, height, then width,
and transposes W tiles x W channels in registers so that each output row gets contiguous stores
of up to 2W values. Per work unit the products and
the output transform run one NR-wide panel of output channels at a time, so M holds one panel.
Both address their n^3 values from 3n offsets (n along each axis), not n^3 precomputed ones: LLVM
hoisted those out of the loops and spilled them (the stride-2 input transform 2.8x slower in a
loop over 16 tiles of 32 channels, the stride-1 one 1.65x; one Zen 4 core); and the output
transform loops over its tiles rather than writing each out (C3D's 0.8 ms instead of 1.2 on one
core, and 2 s less to compile).

Work split: units of (chunk of consecutive tiles in (n, depth, row, column) order, block of output
channels), fixed by the shapes alone (:func:`work_split`); each output is computed by one unit, its
sum over channels in one fixed order (the micro-kernel's), so results are bitwise identical
across runs and thread counts. Chunks of 16, 32, 64 or 128 tiles and MIN_CHUNKS 16, 32 or 64
measured the same within the noise (+-5 % on one thread, more on two) on the five layers below.

Error: the transforms have coefficients 0, +-1 and 1/2 along each axis, so the float32 result
carries more roundings per product than the direct sum, but its sums are shorter (C terms per
transformed element, not 27 C): measured ``max(abs(error)) / max(abs(y))`` against a float64
reference, unit-normal data, padding 1: 3.5e-7, 4.4e-7, 5.4e-7, 9.3e-7 for C = 32, 64, 128, 256
(K = 8, 6x6x6 volumes), 2.7e-7 for C3D (dx 4.0e-7), 4.8e-7 for 128 -> 128 14x14x4 (dx 5.0e-7);
the direct core in the working tree that day: 6.7e-7 to 2.3e-6; PyTorch 2.2e-7 to 7.5e-7. Tests
bound it by 1e-5. A NaN or infinity in the input reaches, as NaN, every output of the tiles whose
4x4x4 windows hold it (the direct core: only the outputs whose 3x3x3 windows hold it).

Extra memory: the padded channels-last copy of x (N, 2 ceil(Do/2) + 2, 2 ceil(Ho/2) + 2,
(2 ceil(Wo/2) + 2) C) (about the size of x), the transformed weights U (64 C round_NR(K) values:
64/27 of w, rounded up), a zero-padded bias (round_NR(K)), and per work unit in flight (at most one
per thread) V, 64 (T C + 1 or 2 cache lines) values, and M, 64 ((T + W) NR + 1 or 2 lines): T <=
TILE_TARGET tiles, W the vector lanes. C3D (32 -> 64, float32): x's copy 2.3 MB (x: 1.6 MB), U
512 KB, V 266 KB and M 397 KB per thread. The backward-input form: the same with dy in place of x
and K, C swapped (U is built from w flipped and transposed inside :func:`winograd3d_weights`: no
copy of w).

Measured 2026-12-05 on the 2-core AMD EPYC (Zen 4, AVX-512) dev VM, float32, ms, one thread | two
(``numba.set_num_threads``; PyTorch 2.13 CPU with ``torch.set_num_threads`` the same), padding 1,
unit-normal data: forward ``conv3d_forward_winograd`` | the direct ``conv3d_forward`` |
``torch.nn.functional.conv3d``; backward-input ``conv3d_backward_input_winograd`` | the direct
``conv3d_backward_input`` | ``torch.ops.aten.convolution_backward`` with output_mask (True, False,
False). Command: ``python wg3_bench.py 9``, a throwaway script outside the repository that, per
thread count and layer, calls each implementation once, then 9 times, 0.2 s apart between
implementations, and keeps the minimum; the table is the minimum of 2 to 5 such rounds. The VM
is shared: rounds differed by up to 10 % on one thread and 30 % on two, and rounds were started
only while the other tenant's CPU use was nil (with it, two-thread times were 2-10x longer; such
entries were dropped). "direct": the direct core as of commit 2c2e213 (with its narrow tiles).

    ====================  ============  ============  ============  ============  ============  ============
    layer (x -> K)        fwd Winograd  fwd direct    fwd PyTorch   dx Winograd   dx direct     dx PyTorch
    ====================  ============  ============  ============  ============  ============  ============
    C3D 2x32x8x28x28->64    5.8 | 3.0    12.1 | 6.1    10.8 | 5.4     5.7 | 2.9    11.9 | 6.0    10.9 | 5.5
    2x64x8x28x28->64       10.7 | 5.5    23.9 | 12.0   21.4 | 10.8   10.5 | 5.6    23.9 | 12.2   21.7 | 11.1
    2x128x4x14x14->128      5.2 | 2.9    10.6 | 6.0     9.6 | 4.9     5.1 | 2.9    10.7 | 5.9     9.3 | 4.8
    1x32x8x28x28->64        3.0 | 1.5     6.0 | 3.0    12.8 | 8.2     2.8 | 1.5     5.9 | 3.0    15.5 | 8.3
    8x16x8x16x16->16        1.3 | 0.7     2.2 | 1.1     2.5 | 1.3     1.3 | 0.7     2.2 | 1.1     1.8 | 0.9
    ====================  ============  ============  ============  ============  ============  ============

PyTorch time / Winograd time, C3D: forward 1.87 | 1.81, backward-input 1.90 | 1.90 (16 -> 16:
1.9 | 1.9 and 1.35 | 1.3). Forward plus backward through ``fastnet.ops`` (``algorithm="auto"``:
Winograd forward and dx, the direct weight gradient) against PyTorch autograd (``wg3_train.py``,
the same method, 7 calls, 2-3 rounds): C3D 25.2 | 13.0 ms against 33.5 | 17.1, 1.33 | 1.32 (rounds
1.28-1.33 | 1.26-1.40; the direct core alone 0.87-0.89 | 0.81-0.90); 64 -> 64 1.40 | 1.43,
128 -> 128 1.25 | 1.20, 16 -> 16 1.28 | 1.19: the direct weight gradient (12.5 ms of C3D's 25 on one
thread) is now half the step. One thread, C3D forward: padding 0.13 ms, weight transform 0.1, input
transform 0.35, products 3.9, output transform 0.9-1.4.
"""

import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils, errors
from numba.extending import intrinsic
from numba.np.numpy_support import as_dtype

from ._config import AVX512_VECTOR_BYTES, parallel_kernel, serial_kernel, vector_bytes
from .conv3d import _round_up
from .conv_layout import _pad_channels_last
from .microkernel import narrow_fits, shaped_tile_fma, tile_rows, tile_shape, vector_lanes
from .vector_ir import Vectors, array_data
from .winograd import FILTER_TRANSFORM_STRIDE2, INPUT_TRANSFORM, OUTPUT_TRANSFORM, weight_unit

# Work split (work_split); see the module docstring for the measurements.
TILE_TARGET = 32    # at most about this many 2x2x2 output tiles per work chunk
MIN_CHUNKS = 32     # ... and fewer where that leaves at least this many units (threads balance)
WEIGHT_BLOCK = 64   # winograd3d_weights: input channels per work unit

# algorithm="auto" takes Winograd for 3x3x3 stride 1 while WINOGRAD_AUTO is True, with at least
# WINOGRAD_MIN_CHANNELS input and output channels and WINOGRAD_MIN_TILES 2x2x2 output tiles
# (N * ceil(Do/2) * ceil(Ho/2) * ceil(Wo/2)), counted for the correlation Winograd computes (for
# dx: K in, C out, the tiles of dx). Measured on the Zen 4 dev box (AVX-512), float32, 2026-12-05,
# direct time / Winograd time, 1 thread | 2 threads, forward | backward-input:
# * channels (C -> K), 4 x 8 x 16 x 16 volumes (1024 tiles): 8 -> 8 1.34 | 1.26, 1.42 | 1.34;
#   12 -> 12 1.40 | 1.49, 1.42 | 1.23; 16 -> 16 1.62 | 1.59, 1.62 | 1.71; 32 -> 17 2.01 | 1.91,
#   1.62 | 1.59; 32 -> 32 1.98 | 1.99, 1.93 | 1.94; 8 -> 64 1.38 | 1.40, 1.08 | 1.06; 64 -> 16
#   1.81 | 1.61, 2.05 | 1.86 (K <= 16: both on the narrow 16-wide tiles); 1 x 8 x 28 x 28 volumes:
#   64 -> 8 1.82 | 1.66, 1.42 | 1.36; 8 -> 64 1.41 | 1.34, 1.25 | 2.29; 3 -> 64 (56 x 56) 1.04 |
#   0.92, 0.45 | 1.00 (dx: 3 output channels of a 16-wide tile; the forward: reductions of 3);
# * tiles, 64 -> 64 channels: 4 0.64 | 0.86, 8 0.94 | 1.39, 16 1.11 | 0.67, 32 1.35 | 0.85,
#   64 1.64 | 1.07, 128 1.89 | 1.53 (forward; dx within 5 %); 256 -> 256: 16 0.82 | 0.77,
#   32 1.05 | 0.86, 64 1.38 | 1.22 (the weight transform, 64 C K values, costs about as much as 30
#   tiles' products).
WINOGRAD_AUTO = True
WINOGRAD_MIN_CHANNELS = 8
WINOGRAD_MIN_TILES = 64
ALGORITHMS = ("auto", "direct", "winograd")
WINOGRAD_SIZES = (3,)   # cube filter sizes Winograd computes at stride 1 (and 3 at stride 2, forward)
# 3x3x3 stride 2, the forward only (winograd_stride2_ok): "auto" takes it with AVX-512 vectors only,
# with at least WINOGRAD_STRIDE2_MIN_CHANNELS input and output channels and
# WINOGRAD_STRIDE2_MIN_OUT_CHANNELS output channels, at most WINOGRAD_STRIDE2_MAX_FILTERS filters
# (C K: its U, 125 C K values, stays in L2/L3 while every chunk of tiles reads it),
# WINOGRAD_STRIDE2_MIN_TILES 2x2x2 output tiles, and outputs that fill at least
# WINOGRAD_STRIDE2_MIN_FILL of the tiles' positions
WINOGRAD_STRIDE2_MIN_CHANNELS = 32
WINOGRAD_STRIDE2_MIN_OUT_CHANNELS = 64
WINOGRAD_STRIDE2_MAX_FILTERS = 8192
WINOGRAD_STRIDE2_MIN_TILES = 512
WINOGRAD_STRIDE2_MIN_FILL = 0.8


def winograd_applies(fd, fh, fw, sd, sh, sw):
    """Whether Winograd F(2x2x2, 3x3x3) computes this convolution: 3x3x3 filters at stride 1."""
    return fd == fh == fw and fd in WINOGRAD_SIZES and sd == 1 and sh == 1 and sw == 1


def winograd_forward_applies(fd, fh, fw, sd, sh, sw):
    """Whether Winograd computes this convolution's forward pass: where :func:`winograd_applies`,
    and 3x3x3 filters at stride 2 (the stride-2 form; the backward passes of those run the direct
    kernels)."""
    return winograd_applies(fd, fh, fw, sd, sh, sw) or (fd == fh == fw == 3 and sd == sh == sw == 2)


def winograd_stride2_ok(channels_in, channels_out, outputs, tiles, fd, fh, fw, sd, sh, sw, algorithm):
    """Whether the forward pass runs the stride-2 form (3x3x3 filters at stride 2:
    :func:`conv3d_forward_winograd`): "winograd", or "auto" by shape (WINOGRAD_STRIDE2_*, AVX-512
    only); ``outputs`` = N Do Ho Wo, ``tiles`` = :func:`tile_count`.

    Per 2x2x2 tile and channel pair it needs 125 multiplies where the direct kernels need 216,
    but its transforms and its U (125 C K values, read by every chunk of tiles) cost more than
    the 2-D forms' per product. Zen 4, float32, 2026-12-07 15:22, padding 1, direct time /
    stride-2 Winograd time, forward, the 16 layers of ``python bench/winograd_limits.py --threads
    2 --3d --stride2`` (8 -> 16 to 256 -> 256 channels, 32 to 3,136 tiles), two threads | one:
    AVX-512 32 -> 64 (16x32x32, batch 2, 512 tiles: the bench's volumetric layer) 1.08 | 1.02,
    64 -> 128 (8x28x28, batch 8, 784 tiles) 1.10 | 1.13, 64 -> 128 (16x56x56, batch 2, 1,568
    tiles) 1.24 | 1.22; left direct: 32 -> 64 at 256 tiles 1.06 | 1.08, 64 or 128 -> 128 at 196-392
    tiles 1.00-1.05, 16 or 32 output channels 0.81-0.92 | 0.82-1.01, 128 tiles or fewer
    0.31-0.94, the least where U is largest (256 -> 256: 0.35 | 0.31). AVX2 code on the same CPU
    (NUMBA_CPU_NAME=znver3 NUMBA_CPU_FEATURES="", two threads): 0.96, 1.05 and 1.17 for those
    three, 0.20-1.02 for the others: never by shape there.
    """
    if algorithm == "direct" or not (fd == fh == fw == 3 and sd == sh == sw == 2):
        return False
    if algorithm == "winograd":
        return True
    return (WINOGRAD_AUTO and vector_bytes() >= AVX512_VECTOR_BYTES
            and min(channels_in, channels_out) >= WINOGRAD_STRIDE2_MIN_CHANNELS
            and channels_out >= WINOGRAD_STRIDE2_MIN_OUT_CHANNELS
            and channels_in * channels_out <= WINOGRAD_STRIDE2_MAX_FILTERS
            and tiles >= WINOGRAD_STRIDE2_MIN_TILES and outputs >= WINOGRAD_STRIDE2_MIN_FILL * 8 * tiles)


def winograd_ok(channels_in, channels_out, tiles, fd, fh, fw, sd, sh, sw, algorithm):
    """Whether to run Winograd: ``algorithm`` "winograd" (the caller checked that it applies),
    "direct" never, "auto" by shape (WINOGRAD_AUTO, WINOGRAD_MIN_CHANNELS, WINOGRAD_MIN_TILES; the
    channels and ``tiles`` = :func:`tile_count` of the correlation Winograd would compute: for the
    backward-input, K in, C out and the tiles of dx)."""
    if algorithm == "direct" or not winograd_applies(fd, fh, fw, sd, sh, sw):
        return False
    if algorithm == "winograd":
        return True
    return (WINOGRAD_AUTO and min(channels_in, channels_out) >= WINOGRAD_MIN_CHANNELS
            and tiles >= WINOGRAD_MIN_TILES)


def tile_count(n, do, ho, wo):
    """Number of 2x2x2 output tiles: N * ceil(Do/2) * ceil(Ho/2) * ceil(Wo/2)."""
    return n * ((do + 1) // 2) * ((ho + 1) // 2) * ((wo + 1) // 2)


@serial_kernel
def _tile_at(g, per_image, th, tw):
    """(n, a, b, c) of tile g in (image, depth, row, column) order: its volume and its place in
    the (td, th, tw) grid of 2x2x2 tiles (per_image = td th tw)."""
    n = g // per_image
    r = g - n * per_image
    a = r // (th * tw)
    r -= a * (th * tw)
    b = r // tw
    return n, a, b, r - b * tw


# ----------------------------------------------------------------------------------------------
# weight transform


# G (n x 3) along each axis of a filter: F(2, 3)'s for stride 1, and for stride 2 winograd.py's
# FILTER_TRANSFORM_STRIDE2 (F(2, 2) on the even taps, the odd tap alone)
FILTER_TRANSFORM = {3: np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]),
                    (3, 2): np.array(FILTER_TRANSFORM_STRIDE2, dtype=np.float64)}


@serial_kernel
def _g_axis(src, dst, outer, inner, g):
    """G along one axis of float64 rows: ``dst[(o*n + i)*inner + s] = sum_a g[i, a] src[(o*3 + a)*inner
    + s]`` (whole rows), g (n, 3) float64: a FILTER_TRANSFORM. Its coefficients (0, +-1, +-1/2)
    make every product exact, so each value is its taps' sum, rounded as written in the tables.

    The rows s of one (o, a) are contiguous, so each destination block (o, i) is one loop over
    ``inner`` rows at once, which LLVM vectorises; a row with a single coefficient 1 is a copy.
    The stride-1 weight transform against the hand-written 4-row form this replaced (two Zen 4
    threads, the fastest of 12 alternating rounds, 2026-12-07): 256 -> 256 channels 2.32 ms
    against 2.14, 128 -> 128 0.35 against 0.33 (a loop per row over its nr values, with the
    coefficients applied to every row: 2.2-2.8 against 1.9-2.1)."""
    n = g.shape[0]
    span = inner * src.shape[1]
    flat_src = src.reshape(src.size)
    flat_dst = dst.reshape(dst.size)
    for o in range(outer):
        a0 = flat_src[(3 * o) * span:]
        a1 = flat_src[(3 * o + 1) * span:]
        a2 = flat_src[(3 * o + 2) * span:]
        for i in range(n):
            g0, g1, g2 = g[i, 0], g[i, 1], g[i, 2]
            d = flat_dst[(n * o + i) * span:]
            if g1 == 0 and g2 == 0 and g0 == 1:
                for r in range(span):
                    d[r] = a0[r]
            elif g0 == 0 and g2 == 0 and g1 == 1:
                for r in range(span):
                    d[r] = a1[r]
            elif g0 == 0 and g1 == 0 and g2 == 1:
                for r in range(span):
                    d[r] = a2[r]
            else:
                for r in range(span):
                    d[r] = g0 * a0[r] + g1 * a1[r] + g2 * a2[r]


@parallel_kernel
def _transform_filters(w, nr, flip, g):
    """U, flat: ``U[(n^2 i + n j + l, p, c, r)] = (G (x) G (x) G  f[p*nr + r, c])[i, j, l]`` for
    p*nr + r < Kout, zero beyond, G = g (n x 3, a FILTER_TRANSFORM) along each axis of the 3x3x3
    filter f; (n^3, P, Cin, nr) values, P = ceil(Kout / nr). ``flip`` as in
    :func:`winograd3d_weights`. One kernel for both forms (n = 4, 5), compiled once per dtype."""
    n = g.shape[0]
    if flip:
        n_out, channels = w.shape[1], w.shape[0]
    else:
        n_out, channels = w.shape[0], w.shape[1]
    panels = (n_out + nr - 1) // nr
    u = np.empty(n * n * n * panels * channels * nr, dtype=w.dtype)
    cblocks = (channels + WEIGHT_BLOCK - 1) // WEIGHT_BLOCK
    for unit in prange(panels * cblocks):
        pn, c0, c1, k0, nk = weight_unit(np.int64(unit), cblocks, WEIGHT_BLOCK, channels, n_out, nr)
        taps = np.zeros((27, nr))        # the filters' taps (a, b, e), output channels contiguous
        t1 = np.empty((9 * n, nr))       # G along depth: (i, b, e)
        t2 = np.empty((3 * n * n, nr))   # ... and height: (i, j, e)
        t3 = np.empty((n * n * n, nr))   # ... and width: (i, j, l)
        for c in range(c0, c1):
            for r in range(nk):
                f = w[c, k0 + r] if flip else w[k0 + r, c]
                for a in range(3):
                    for b in range(3):
                        for e in range(3):
                            if flip:
                                taps[(a * 3 + b) * 3 + e, r] = f[2 - a, 2 - b, 2 - e]
                            else:
                                taps[(a * 3 + b) * 3 + e, r] = f[a, b, e]
            _g_axis(taps, t1, 1, 9, g)
            _g_axis(t1, t2, n, 3, g)
            _g_axis(t2, t3, n * n, 1, g)
            for e in range(n * n * n):
                dst = u[((e * panels + pn) * channels + c) * nr:]
                src = t3[e]
                for r in range(nr):
                    dst[r] = src[r]
    return u


def winograd3d_weights(w, nr, flip):
    """U (64, P, Cin, nr), P = ceil(Kout / nr), from w (K, C, 3, 3, 3):
    ``U[16 i + 4 j + l, p, c, r] = (G (x) G (x) G  f[p*nr + r, c])[i, j, l]`` (G along each axis of
    the 3x3x3 filter f) for p*nr + r < Kout, zero beyond.

    ``flip`` False: the forward filters, f[o, c] = w[o, c], Cin = C, Kout = K. ``flip`` True: those
    of the backward-input correlation of dy, f[o, c] = w[c, o, ::-1, ::-1, ::-1], Cin = K,
    Kout = C (read in place: no flipped copy of w).

    The B operand of the 64 products in panels (see :func:`fastnet.kernels.winograd.winograd_weights`):
    computed in float64, G along depth, height, then width (:func:`_g_axis`, on (taps, nr) buffers
    with the nr output channels contiguous), and rounded once to w's dtype
    (:func:`_transform_filters`). Parallel over (panel, block of WEIGHT_BLOCK input channels).
    """
    n_out, channels = (w.shape[1], w.shape[0]) if flip else (w.shape[0], w.shape[1])
    u = _transform_filters(w, nr, flip, FILTER_TRANSFORM[3])
    return u.reshape(64, (n_out + nr - 1) // nr, channels, nr)


def winograd3d_weights_stride2(w, nr):
    """U (125, 1, P, C, nr), P = ceil(K / nr), from w (K, C, 3, 3, 3) for the stride-2 form:
    ``U[25 i + 5 j + l, 0, p, c, r] = (G (x) G (x) G  w[p*nr + r, c])[i, j, l]`` with G =
    FILTER_TRANSFORM[(3, 2)] (5 x 3) along each axis, zero past K (the unit axis names the form:
    :func:`_form`): sums of up to 8 taps in float64, rounded once to w's dtype
    (:func:`_transform_filters`, the same kernel as :func:`winograd3d_weights`')."""
    u = _transform_filters(w, nr, False, FILTER_TRANSFORM[(3, 2)])
    return u.reshape(125, 1, (w.shape[0] + nr - 1) // nr, w.shape[1], nr)


# ----------------------------------------------------------------------------------------------
# input and output transforms (explicit vectors)

def _form(u):
    """The form, a key of winograd.py's tables, from the Numba type of the transforms' ``u``
    argument: the literal 3 (stride 1; the weight gradient's input transform,
    :mod:`fastnet.kernels.winograd3d_weight`), or U: (64, P, C, NR) for 3x3x3 filters at stride 1
    (:func:`winograd3d_weights`, the key 3), (125, 1, P, C, NR) for 3x3x3 at stride 2
    (:func:`winograd3d_weights_stride2`, the key (3, 2); the unit axis only tells them apart). The
    kernels specialise on it at compile time."""
    if isinstance(u, types.IntegerLiteral):
        if u.literal_value != 3:
            raise errors.TypingError(f"3-D Winograd transforms for 3x3x3 filters, got {u.literal_value}")
        return 3
    if isinstance(u, types.Integer):
        raise errors.RequireLiteralValue(u)
    return {4: 3, 5: (3, 2)}[u.ndim]


@intrinsic
def _input_tile(typingctx, x, xo, ldp, ldr, ldc, v, vo, ves, nc, u):
    """``v[vo + (n^2 i + n j + l) ves + c] = (B^T d)[i, j, l]`` (B^T along each axis) for c < nc,
    with the tile's n x n x n window ``d[p, q, s] = x[xo + p ldp + q ldr + s ldc + c]``: W channels
    per step (a masked step for the last nc mod W). ``u`` (U) picks the form (:func:`_form`): n = 4
    and B^T = INPUT_TRANSFORM[3] = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]] for
    stride 1, n = 5 and INPUT_TRANSFORM[(3, 2)] for stride 2 (the caller places the windows 4
    apart).

    Per step and depth row i of B^T: the planes of the window it combines (two at most in both
    forms: 32 or 50 vector loads), combined, then B^T along height and width as in winograd.py's
    ``_input_tile``, and n^2 vector stores. For stride 1: 128 loads, 192 additions, 64 stores,
    with at most about 20 vectors live (loading all 64 values first would spill). Nothing is
    bounds-checked.
    """
    sig = types.void(x, xo, ldp, ldr, ldc, v, vo, ves, nc, u)
    dtype = as_dtype(x.dtype)
    bt = INPUT_TRANSFORM[_form(u)]
    n = len(bt)

    def codegen(context, builder, signature, args):
        vec = Vectors(builder, dtype)
        b = builder
        xo_, ldp_, ldr_, ldc_, vo_, ves_, nc_ = (vec.int64(args[i]) for i in (1, 2, 3, 4, 6, 7, 8))
        xp = array_data(context, builder, signature, args, 0)
        vp = array_data(context, builder, signature, args, 5)
        # the window's offsets along each axis: 3n values live across the loop over c (the n^3
        # offsets of every load and store precomputed, which LLVM hoisted out of that loop, were
        # 2n^3 values, spilled and reloaded: 2.8x slower at n = 5, 1.65x at n = 4, one Zen 4 core)
        along_p = [b.mul(vec.int64(p), ldp_) for p in range(n)]
        along_q = [b.mul(vec.int64(q), ldr_) for q in range(n)]
        along_s = [b.mul(vec.int64(s), ldc_) for s in range(n)]

        def step(c, mask):
            window = b.gep(xp, [b.add(xo_, c)])
            rows = {}

            def load(p, q, s):
                if (p, q) not in rows:
                    rows[p, q] = b.gep(b.gep(window, [along_p[p]]), [along_q[q]])
                if mask is None:
                    return vec.load(rows[p, q], along_s[s])
                return vec.masked_load(rows[p, q], along_s[s], mask)

            out = [b.gep(vp, [b.add(vo_, c)])]   # the store of value e: one step of ves from e - 1

            def store(value):
                if mask is None:
                    vec.store(value, out[0], vec.int64(0))
                else:
                    vec.masked_store(value, out[0], vec.int64(0), mask)
                out[0] = b.gep(out[0], [ves_])

            for i in range(n):   # depth row i of B^T: the planes of the window it combines
                di = [[vec.combine(bt[i], lambda p, q=q, s=s: load(p, q, s)) for s in range(n)]
                      for q in range(n)]
                for j in range(n):   # then along height and width, as winograd.py's _input_tile
                    row = [vec.combine(bt[j], lambda q, s=s: di[q][s]) for s in range(n)]
                    for l in range(n):   # e = n^2 i + n j + l, in order
                        store(vec.combine(bt[l], lambda s: row[s]))

        vec.by_vectors(nc_, step)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _output_tiles(typingctx, m, mo, mes, ldm, bias, bo, y, yo, ldk, ldp, ldr, nl, nk, below, behind,
                  split, u):
    """The output transform of R = W / split tiles t (consecutive along one row of tiles) and W output
    channels k, stored transposed: with ``m_e(t, k) = m[mo + e mes + t ldm + k]`` and
    ``Y(t, k) = A^T m(t, k) + bias[bo + k]`` (A^T along each axis: 2 x 2 x 2),
    ``y[yo + a ldp + b ldr + k ldk + 2 t + c] = Y(t, k)[a, b, c]`` for k < nk, 2 t + c < nl,
    a <= behind and b <= below. ``split`` (1, 2 or 4, a literal): R = W for long runs of tiles,
    W / 2 or W / 4 for short ones. ``u`` (U) picks the form (:func:`_form`): n = 4 and A^T =
    OUTPUT_TRANSFORM[3] = [[1, 1, 1, 0], [0, 1, -1, -1]] for stride 1, n = 5 and
    OUTPUT_TRANSFORM[(3, 2)] = [[1, 1, 0, 1, 0], [0, 1, 1, 0, 1]] for stride 2.

    Summed over depth, then height, then width, then the bias. Per tile: its n^3 vectors of m
    (lanes k) loaded once, A^T along depth (n^3 -> 2 n^2 vectors), along height (-> 4 n) and along
    width (-> the 8 outputs, 4 rows (a, b) of c = 0, 1); then per output row (a, b), as
    winograd.py's ``_output_tiles``: two R x W to W x R transposes, and per k one interleaving
    shuffle and a masked store of 2R lanes. (The rows one by one, 36 loads per tile and row, took
    5-25 % longer at stride 1.) Every load is unmasked: the caller keeps ``m`` readable for R
    tiles and W lanes, and ``bias`` for W lanes; nothing is bounds-checked.
    """
    if not isinstance(split, types.IntegerLiteral):
        raise errors.RequireLiteralValue(split)
    sig = types.void(m, mo, mes, ldm, bias, bo, y, yo, ldk, ldp, ldr, nl, nk, below, behind, split, u)
    dtype = as_dtype(m.dtype)
    parts = split.literal_value
    at_rows = OUTPUT_TRANSFORM[_form(u)]
    n = len(at_rows[0])

    def codegen(context, builder, signature, args):
        vec = Vectors(builder, dtype)
        b = builder
        mo_, mes_, ldm_, bo_, yo_, ldk_, ldp_, ldr_, nl_, nk_ = (
            vec.int64(args[i]) for i in (1, 2, 3, 5, 7, 8, 9, 10, 11, 12))
        below_, behind_ = args[13], args[14]
        mp = array_data(context, builder, signature, args, 0)
        bp = array_data(context, builder, signature, args, 4)
        yp = array_data(context, builder, signature, args, 6)
        w = vec.width
        rows = max(1, w // parts)
        bk = vec.load(bp, bo_)
        lanes = vec.mask(nl_, 2 * rows)
        undef = ir.Constant(vec.vty, ir.Undefined)
        # offsets of e = n^2 i + n j + l along each index (3n values; see _input_tile)
        along_i = [b.mul(vec.int64(n * n * i), mes_) for i in range(n)]
        along_j = [b.mul(vec.int64(n * j), mes_) for j in range(n)]
        along_l = [b.mul(vec.int64(l), mes_) for l in range(n)]

        def at(v, a):
            """Row a of A^T applied to n values."""
            return vec.combine(at_rows[a], lambda i: v[i])

        # Y(t, .)[a, r, c] for the R tiles, one vector (lanes k) each, kept in a stack array
        # out[4 a + 2 r + c][t] by a loop over t: written out for every t, the tiles' n^3 loads
        # each (2,000 for R = 16 at n = 5) made the largest part of this kernel's compile time, and
        # their 8 R results were spilled to the stack anyway (R = 16: 128 vectors)
        out = cgutils.alloca_once(b, ir.ArrayType(ir.ArrayType(vec.vty, rows), 8))
        zero32 = ir.Constant(vec.i32, 0)
        with cgutils.for_range(b, vec.int64(rows)) as loop:
            t = loop.index
            tile = b.gep(mp, [b.add(mo_, b.mul(t, ldm_))])
            depth = [[[None] * n for _ in range(n)] for _ in range(2)]   # [a][j][l]
            for j in range(n):
                for l in range(n):
                    base = b.gep(b.gep(tile, [along_j[j]]), [along_l[l]])
                    column = [vec.load(base, along_i[i]) for i in range(n)]
                    depth[0][j][l] = at(column, 0)
                    depth[1][j][l] = at(column, 1)
            for a in (0, 1):
                for r in (0, 1):
                    s = [at([depth[a][j][l] for j in range(n)], r) for l in range(n)]
                    for c in (0, 1):
                        row = ir.Constant(vec.i32, 4 * a + 2 * r + c)
                        b.store(b.fadd(at(s, c), bk), b.gep(out, [zero32, row, t]))

        def results(a, r, c):
            row = ir.Constant(vec.i32, 4 * a + 2 * r + c)
            return [b.load(b.gep(out, [zero32, row, ir.Constant(vec.i32, t)])) for t in range(rows)]

        def store_row(a, r):
            even = vec.transpose(results(a, r, 0) + [undef] * (w - rows))
            odd = vec.transpose(results(a, r, 1) + [undef] * (w - rows))
            row = b.add(yo_, b.add(b.mul(vec.int64(a), ldp_), b.mul(vec.int64(r), ldr_)))
            for k in range(w):
                with b.if_then(b.icmp_signed(">", nk_, vec.int64(k))):
                    vec.masked_store(vec.interleave(even[k], odd[k], rows), yp,
                                     b.add(row, b.mul(vec.int64(k), ldk_)), lanes)

        def nonzero(flag):
            return b.icmp_unsigned("!=", flag, ir.Constant(flag.type, 0))

        def store_plane(a):
            store_row(a, 0)
            with b.if_then(nonzero(below_)):
                store_row(a, 1)

        store_plane(0)
        with b.if_then(nonzero(behind_)):
            store_plane(1)
        return context.get_dummy_value()

    return sig, codegen


# ----------------------------------------------------------------------------------------------
# the products and the driver


def work_split(n_batch, do, ho, wo, n_out, mr, nr):
    """(tiles per chunk, output channels per block): the work units are (chunk, block) pairs.

    As :func:`fastnet.kernels.winograd.work_split` with 2x2x2 tiles: a chunk is a run of
    consecutive tiles, a multiple of ``mr``, about TILE_TARGET, fewer while that leaves MIN_CHUNKS
    chunks, at least ``mr``; where that leaves at most MIN_CHUNKS / 2 chunks, the output channels
    are split into blocks of whole ``nr``-wide panels until there are about MIN_CHUNKS units. By
    shape only (not the thread count).
    """
    tiles = tile_count(n_batch, do, ho, wo)
    per = max(mr, min(TILE_TARGET // mr * mr, _round_up((tiles + MIN_CHUNKS - 1) // MIN_CHUNKS, mr)))
    chunks = (tiles + per - 1) // per
    panels = (n_out + nr - 1) // nr
    blocks = 1 if 2 * chunks > MIN_CHUNKS else min(panels, (MIN_CHUNKS + chunks - 1) // chunks)
    return per, (panels + blocks - 1) // blocks * nr


@serial_kernel
def _scratch_stride(n, line):
    """A row stride for the 64 rows of V or M: n rounded up to whole cache lines (``line``
    elements), an odd number of them, so that the 64 rows of one tile fall in 64 different sets of
    a 64-set L1 (a stride of a multiple of 4 KB puts them all in one set and thrashes it)."""
    s = (n + line - 1) // line
    if s % 2 == 0:
        s += 1
    return s * line


@parallel_kernel
def _winograd_chunks(xcl, channels, u, bias, y, per_chunk, block, narrow):
    """The parallel part of :func:`conv3d_forward_winograd`: one region over the work units
    (chunk of ``per_chunk`` tiles, block of ``block`` output channels; see :func:`work_split`).

    xcl (N, Dq, Hq, Wq * C) from conv3d's ``_pad_channels_last`` (Dq = 2 ceil(Do/2) + 2, Hq and Wq
    the same for Ho, Wo), u (64, P, C, NR) from :func:`winograd3d_weights`, bias (P * NR,)
    zero-padded, y (N, K, Do, Ho, Wo). Per unit: V (64, T, C) by :func:`_input_tile` (rows past the
    chunk's tiles zero, up to whole MR groups); then per NR-wide panel p of the unit's block of
    output channels, ``M[e] (T, NR) = V[e] @ U[e, p]`` by the micro-kernel (e, then MR tiles: each
    (C, NR) panel of U stays in L1 while the chunk's tiles pass) and the output transform of that
    panel by :func:`_output_tiles`, per run of tiles in one row of tiles and W channels (M holds one
    panel: about 400 KB for T = 32 with float32 on AVX-512, where all panels of C3D's 64 channels
    would not stay in L2).
    """
    n_batch = xcl.shape[0]
    panels, nr = u.shape[-3], u.shape[-1]
    elems = u.shape[0]   # n^3 transformed values per tile: 64, or 125 for the stride-2 form
    # of the windows: 2 for the stride-2 form (5-dimensional U), else 1 (arithmetic, as in winograd.py)
    stride = min(2, max(1, u.ndim - 3))
    n_out = y.shape[1]
    do, ho, wo = y.shape[2], y.shape[3], y.shape[4]
    td = (do + 1) // 2
    th = (ho + 1) // 2
    tw = (wo + 1) // 2
    per_image = td * th * tw
    total = n_batch * per_image
    chunks = (total + per_chunk - 1) // per_chunk
    block_panels = block // nr
    blocks = (panels + block_panels - 1) // block_panels
    mr = tile_rows(y, narrow)
    lanes = vector_lanes(y)
    tp = per_chunk
    hw = ho * wo
    dhw = do * hw
    dq, hq, rowlen = xcl.shape[1], xcl.shape[2], xcl.shape[3]
    plane = hq * rowlen
    yflat = y.reshape(y.size)
    uflat = u.reshape(u.size)
    xflat = xcl.reshape(xcl.size)
    line = 64 // y.itemsize
    ves = _scratch_stride(tp * channels, line)
    mes = _scratch_stride((tp + lanes) * nr, line)   # one panel; `lanes` spare tile rows: read, never stored
    for unit in prange(chunks * blocks):
        chunk = unit // blocks
        p0 = (unit - chunk * blocks) * block_panels
        p1 = min(panels, p0 + block_panels)
        g0 = chunk * per_chunk
        n_tiles = min(total, g0 + per_chunk) - g0
        t_end = (n_tiles + mr - 1) // mr * mr
        v = np.empty(elems * ves, dtype=y.dtype)
        m = np.empty(elems * mes, dtype=y.dtype)
        abase = np.empty(mr, dtype=np.int64)
        aroff = np.zeros(1, dtype=np.int64)
        for e in range(elems):
            for j in range(n_tiles * channels, t_end * channels):
                v[e * ves + j] = 0
        for t in range(n_tiles):
            n, ta, tb, tc = _tile_at(g0 + t, per_image, th, tw)
            xo = ((n * dq + 2 * stride * ta) * hq + 2 * stride * tb) * rowlen + 2 * stride * tc * channels
            _input_tile(xflat, xo, plane, rowlen, channels, v, t * channels, ves, channels, u)
        for p in range(p0, p1):   # per panel: its n^3 products, then its output transform
            for e in range(elems):
                panel = uflat[(e * panels + p) * channels * nr:]
                for t0 in range(0, t_end, mr):
                    for i in range(mr):
                        abase[i] = e * ves + (t0 + i) * channels
                    shaped_tile_fma(v, abase, aroff, 1, panel, 0, nr, 1, channels, m[e * mes + t0 * nr:], nr,
                                    False, narrow)
            kp0 = p * nr
            nkp = min(n_out, kp0 + nr) - kp0
            t = 0
            while t < n_tiles:
                n, ta, tb, tc0 = _tile_at(g0 + t, per_image, th, tw)
                seg = min(tw - tc0, n_tiles - t)   # tiles t .. t + seg - 1: one run in the row (n, ta, tb)
                below = 2 * tb + 1 < ho
                behind = 2 * ta + 1 < do
                tj = 0
                while tj < seg:
                    # R tiles per call: W for at least 3W/4 tiles left in the run, else W/2 or W/4
                    left = seg - tj
                    split = 1 if 4 * left >= 3 * lanes else (2 if 8 * left >= 3 * lanes else 4)
                    nt = min(max(1, lanes // split), left)
                    nl = 2 * nt
                    if tc0 + tj + nt == tw and wo % 2 == 1:
                        nl -= 1
                    yo = ((n * n_out + kp0) * do + 2 * ta) * hw + 2 * tb * wo + 2 * (tc0 + tj)
                    for kk in range(0, nkp, lanes):
                        mo = (t + tj) * nr + kk
                        ko = min(lanes, nkp - kk)
                        if split == 1:
                            _output_tiles(m, mo, mes, nr, bias, kp0 + kk, yflat, yo + kk * dhw, dhw, hw, wo,
                                          nl, ko, below, behind, 1, u)
                        elif split == 2:
                            _output_tiles(m, mo, mes, nr, bias, kp0 + kk, yflat, yo + kk * dhw, dhw, hw, wo,
                                          nl, ko, below, behind, 2, u)
                        else:
                            _output_tiles(m, mo, mes, nr, bias, kp0 + kk, yflat, yo + kk * dhw, dhw, hw, wo,
                                          nl, ko, below, behind, 4, u)
                    tj += nt
                t += seg


def _correlate(x, w, b, y, pd, ph, pw, flip, stride=1):
    """y = b + the correlation of x (padded by pd, ph, pw) with the 3x3x3 filters of w (flipped
    and transposed where ``flip``: see :func:`winograd3d_weights`) at ``stride`` 1 or 2."""
    n_batch, channels, depth, height, width = x.shape
    k = y.shape[1]
    do, ho, wo = y.shape[2], y.shape[3], y.shape[4]
    # the padded copy: the tiles' windows (n values, 2 s apart along each axis), and at least the
    # whole padded input (at stride 2 an even-sized one ends with a plane no window reads)
    n = 5 if stride == 2 else 4
    dq = max(2 * stride * ((do + 1) // 2) + n - 2 * stride, depth + 2 * pd)
    hq = max(2 * stride * ((ho + 1) // 2) + n - 2 * stride, height + 2 * ph)
    wq = max(2 * stride * ((wo + 1) // 2) + n - 2 * stride, width + 2 * pw)
    xcl = _pad_channels_last(x, pd, ph, pw, dq - depth - 2 * pd, hq - height - 2 * ph, wq - width - 2 * pw,
                             channels)
    narrow = narrow_fits(k, x.dtype)   # at most one vector of output channels: the narrow tiles
    mr, nr = tile_shape(x.dtype, narrow)
    u = winograd3d_weights_stride2(w, nr) if stride == 2 else winograd3d_weights(w, nr, flip)
    bias = np.zeros(u.shape[-3] * nr, dtype=x.dtype)
    bias[:k] = b
    per, block = work_split(n_batch, do, ho, wo, k, mr, nr)
    _winograd_chunks(xcl, channels, u, bias, y, per, block, narrow)


def conv3d_forward_winograd(x, w, b, y, pd, ph, pw, stride=1):
    """y[n, k, i, j, l] = b[k] + sum_{c,a,p,q} w[k, c, a, p, q] * xpad[n, c, s i + a, s j + p, s l + q]
    (3x3x3, stride s = 1 or 2).

    x : (N, C, D, H, W), w : (K, C, 3, 3, 3), b : (K,), y : (N, K, Do, Ho, Wo) with Do = (D + 2 pd
    - 3) // s + 1 etc., written in full; all C-contiguous, one dtype (float32 or float64); shapes
    validated by the caller. Any padding >= 0. Extra memory: see the module docstring.
    """
    _correlate(x, w, b, y, pd, ph, pw, False, stride)


def conv3d_backward_input_winograd(dy, w, dx, pd, ph, pw):
    """dx = gradient of sum(y * dy) with respect to x for y = conv3d(x, w, stride 1, padding
    (pd, ph, pw)), 3x3x3 filters, each padding <= 2: the forward correlation of dy, padded by
    2 - padding, with the flipped, transposed filters ``w[:, :, ::-1, ::-1, ::-1]`` (C, K).

    dy : (N, K, Do, Ho, Wo), w : (K, C, 3, 3, 3), dx : (N, C, D, H, W) written in full; all
    C-contiguous, one dtype.
    """
    _correlate(dy, w, np.zeros(w.shape[1], dtype=dx.dtype), dx, 2 - pd, 2 - ph, 2 - pw, True)

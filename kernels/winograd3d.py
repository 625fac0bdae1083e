"""Winograd F(2x2x2, 3x3x3) convolution for 3x3x3 stride-1 3-D layers (Lavin & Gray's F(2x2, 3x3)
with one more axis).

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

Layout: the input is padded physically once into channels-last rows (conv3d's
``_pad_channels_last``, rounded up to whole tiles in each axis). U is stored in panels,
(64, P, C, NR) with P = ceil(K / NR) (:func:`winograd3d_weights`): one contiguous (C, NR) block
per (e, panel). The transforms are explicit vector code on winograd.py's IR helpers
(``_Vectors``): the input transform (:func:`_input_tile`) takes W channels per step, B^T along
depth first (each of its rows combines two planes of the window), then along height and width as
the 2-D transform does; the output transform (:func:`_output_tiles`) loads a tile's 64 values of
M once, sums over depth, height, then width, and transposes W tiles x W channels in registers so
that each output row gets contiguous stores of up to 2W values. Per work unit the products and
the output transform run one NR-wide panel of output channels at a time, so M holds one panel.

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
from numba.core import errors
from numba.extending import intrinsic
from numba.np.numpy_support import as_dtype

from ._config import parallel_kernel, serial_kernel
from .conv3d import _round_up
from .conv_layout import _pad_channels_last
from .microkernel import narrow_fits, shaped_tile_fma, tile_rows, tile_shape, vector_lanes
from .winograd import _data, _Vectors, weight_unit

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
WINOGRAD_SIZES = (3,)   # cube filter sizes Winograd computes at stride 1


def winograd_applies(fd, fh, fw, sd, sh, sw):
    """Whether Winograd F(2x2x2, 3x3x3) computes this convolution: 3x3x3 filters at stride 1."""
    return fd == fh == fw and fd in WINOGRAD_SIZES and sd == 1 and sh == 1 and sw == 1


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


@serial_kernel
def _g_axis(src, dst, outer, inner):
    """G along one axis of float64 rows: ``dst[(o*4 + i)*inner + s] = sum_a G[i, a] src[(o*3 + a)*inner
    + s]`` (whole rows), G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]].

    One loop per destination row, over row views: LLVM vectorises each (a loop writing all four
    rows needs more run-time overlap checks than it makes, and flat indices ``base + r``, which
    may be negative as far as it knows, became gathers and scatters)."""
    nr = src.shape[1]
    for o in range(outer):
        for s in range(inner):
            a0 = src[(3 * o) * inner + s]
            a1 = src[(3 * o + 1) * inner + s]
            a2 = src[(3 * o + 2) * inner + s]
            d = dst[(4 * o) * inner + s]
            for r in range(nr):
                d[r] = a0[r]
            d = dst[(4 * o + 1) * inner + s]
            for r in range(nr):
                d[r] = 0.5 * (a0[r] + a1[r] + a2[r])
            d = dst[(4 * o + 2) * inner + s]
            for r in range(nr):
                d[r] = 0.5 * (a0[r] - a1[r] + a2[r])
            d = dst[(4 * o + 3) * inner + s]
            for r in range(nr):
                d[r] = a2[r]


@parallel_kernel
def winograd3d_weights(w, nr, flip):
    """U (64, P, Cin, nr), P = ceil(Kout / nr), from w (K, C, 3, 3, 3):
    ``U[16 i + 4 j + l, p, c, r] = (G (x) G (x) G  f[p*nr + r, c])[i, j, l]`` (G along each axis of
    the 3x3x3 filter f) for p*nr + r < Kout, zero beyond.

    ``flip`` False: the forward filters, f[o, c] = w[o, c], Cin = C, Kout = K. ``flip`` True: those
    of the backward-input correlation of dy, f[o, c] = w[c, o, ::-1, ::-1, ::-1], Cin = K,
    Kout = C (read in place: no flipped copy of w).

    The B operand of the 64 products in panels (see :func:`fastnet.kernels.winograd.winograd_weights`):
    computed in float64, G along depth, height, then width (:func:`_g_axis`, on (taps, nr) buffers
    with the nr output channels contiguous), and rounded once to w's dtype. Parallel over (panel,
    block of WEIGHT_BLOCK input channels).
    """
    if flip:
        n_out, channels = w.shape[1], w.shape[0]
    else:
        n_out, channels = w.shape[0], w.shape[1]
    panels = (n_out + nr - 1) // nr
    u = np.empty((64, panels, channels, nr), dtype=w.dtype)
    cblocks = (channels + WEIGHT_BLOCK - 1) // WEIGHT_BLOCK
    for unit in prange(panels * cblocks):
        pn, c0, c1, k0, nk = weight_unit(np.int64(unit), cblocks, WEIGHT_BLOCK, channels, n_out, nr)
        g = np.zeros((27, nr))     # the filters' taps (a, b, e), output channels contiguous
        t1 = np.empty((36, nr))    # G along depth: (i, b, e)
        t2 = np.empty((48, nr))    # ... and height: (i, j, e)
        t3 = np.empty((64, nr))    # ... and width: (i, j, l)
        for c in range(c0, c1):
            for r in range(nk):
                f = w[c, k0 + r] if flip else w[k0 + r, c]
                for a in range(3):
                    for b in range(3):
                        for e in range(3):
                            if flip:
                                g[(a * 3 + b) * 3 + e, r] = f[2 - a, 2 - b, 2 - e]
                            else:
                                g[(a * 3 + b) * 3 + e, r] = f[a, b, e]
            _g_axis(g, t1, 1, 9)
            _g_axis(t1, t2, 4, 3)
            _g_axis(t2, t3, 16, 1)
            for e in range(64):
                dst = u[e, pn, c]
                src = t3[e]
                for r in range(nr):
                    dst[r] = src[r]
    return u


# ----------------------------------------------------------------------------------------------
# input and output transforms (explicit vectors)

# B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]: row i is ``d[p] (+|-) d[q]``
_BT_ROWS = ((0, 2, False), (1, 2, True), (2, 1, False), (1, 3, False))


@intrinsic
def _input_tile(typingctx, x, xo, ldp, ldr, ldc, v, vo, ves, nc):
    """``v[vo + (16 i + 4 j + l) ves + c] = (B^T d)[i, j, l]`` (B^T along each axis) for c < nc,
    with the tile's 4 x 4 x 4 window ``d[p, q, s] = x[xo + p ldp + q ldr + s ldc + c]``: W channels
    per step (a masked step for the last nc mod W).

    Per step and depth row i of B^T: its two planes of the window (32 vector loads), combined
    (16 additions), then B^T along height and width as in winograd.py's ``_input_tile`` (32
    additions) and 16 vector stores: 128 loads, 192 additions, 64 stores, with at most about 20
    vectors live (loading all 64 values first would spill). Nothing is bounds-checked.
    """
    sig = types.void(x, xo, ldp, ldr, ldc, v, vo, ves, nc)
    dtype = as_dtype(x.dtype)

    def codegen(context, builder, signature, args):
        vec = _Vectors(builder, dtype)
        b = builder
        xo_, ldp_, ldr_, ldc_, vo_, ves_, nc_ = (vec.int64(args[i]) for i in (1, 2, 3, 4, 6, 7, 8))
        xp = _data(context, builder, signature, args, 0)
        vp = _data(context, builder, signature, args, 5)

        def bt(i, fetch):
            """Row i of B^T applied to the four values fetch(0) .. fetch(3) (only two are fetched)."""
            first, second, add = _BT_ROWS[i]
            return (b.fadd if add else b.fsub)(fetch(first), fetch(second))

        d_at = [[[b.add(xo_, b.add(b.mul(vec.int64(p), ldp_), b.add(b.mul(vec.int64(q), ldr_),
                                                                     b.mul(vec.int64(s), ldc_))))
                  for s in range(4)] for q in range(4)] for p in range(4)]
        v_at = [b.add(vo_, b.mul(vec.int64(e), ves_)) for e in range(64)]

        def step(c, mask):
            def load(p, q, s):
                if mask is None:
                    return vec.load(xp, b.add(d_at[p][q][s], c))
                return vec.masked_load(xp, b.add(d_at[p][q][s], c), mask)

            for i in range(4):   # depth row i of B^T: two planes of the window, 4 x 4 values
                di = [[bt(i, lambda p, q=q, s=s: load(p, q, s)) for s in range(4)] for q in range(4)]
                for j in range(4):   # then along height and width, as winograd.py's _input_tile
                    row = [bt(j, lambda q, s=s: di[q][s]) for s in range(4)]
                    for l in range(4):
                        at = b.add(v_at[16 * i + 4 * j + l], c)
                        if mask is None:
                            vec.store(bt(l, lambda s: row[s]), vp, at)
                        else:
                            vec.masked_store(bt(l, lambda s: row[s]), vp, at, mask)

        vec.by_vectors(nc_, step)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _output_tiles(typingctx, m, mo, mes, ldm, bias, bo, y, yo, ldk, ldp, ldr, nl, nk, below, behind,
                  split):
    """The output transform of R = W / split tiles t (consecutive along one row of tiles) and W output
    channels k, stored transposed: with ``m_e(t, k) = m[mo + e mes + t ldm + k]`` and
    ``Y(t, k) = A^T m(t, k) + bias[bo + k]`` (A^T along each axis: 2 x 2 x 2),
    ``y[yo + a ldp + b ldr + k ldk + 2 t + c] = Y(t, k)[a, b, c]`` for k < nk, 2 t + c < nl,
    a <= behind and b <= below. ``split`` (1, 2 or 4, a literal): R = W for long runs of tiles,
    W / 2 or W / 4 for short ones.

    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]], summed over depth, then height, then width, then the bias.
    Per tile: its 64 vectors of m (lanes k) loaded once, A^T along depth (64 -> 32 vectors), along
    height (-> 16) and along width (-> the 8 outputs, 4 rows (a, b) of c = 0, 1); then per output
    row (a, b), as winograd.py's ``_output_tiles``: two R x W to W x R transposes, and per k one
    interleaving shuffle and a masked store of 2R lanes. (The rows one by one, 36 loads per tile
    and row, took 5-25 % longer.) Every load is unmasked: the caller keeps ``m`` readable for R
    tiles and W lanes, and ``bias`` for W lanes; nothing is bounds-checked.
    """
    if not isinstance(split, types.IntegerLiteral):
        raise errors.RequireLiteralValue(split)
    sig = types.void(m, mo, mes, ldm, bias, bo, y, yo, ldk, ldp, ldr, nl, nk, below, behind, split)
    dtype = as_dtype(m.dtype)
    parts = split.literal_value

    def codegen(context, builder, signature, args):
        vec = _Vectors(builder, dtype)
        b = builder
        mo_, mes_, ldm_, bo_, yo_, ldk_, ldp_, ldr_, nl_, nk_ = (
            vec.int64(args[i]) for i in (1, 2, 3, 5, 7, 8, 9, 10, 11, 12))
        below_, behind_ = args[13], args[14]
        mp = _data(context, builder, signature, args, 0)
        bp = _data(context, builder, signature, args, 4)
        yp = _data(context, builder, signature, args, 6)
        w = vec.width
        rows = max(1, w // parts)
        bk = vec.load(bp, bo_)
        lanes = vec.mask(nl_, 2 * rows)
        undef = ir.Constant(vec.vty, ir.Undefined)
        e_at = [b.mul(vec.int64(e), mes_) for e in range(64)]

        def at(v, a):
            """Row a of A^T applied to four values."""
            if a == 0:
                return b.fadd(b.fadd(v[0], v[1]), v[2])
            return b.fsub(b.fsub(v[1], v[2]), v[3])

        # out[a, r] = (c = 0 values, c = 1 values) of output row (a, r), one vector per tile
        out = {(a, r): ([], []) for a in (0, 1) for r in (0, 1)}
        for t in range(rows):
            at_t = b.add(mo_, b.mul(vec.int64(t), ldm_))
            depth = [[[None] * 4 for _ in range(4)] for _ in range(2)]   # [a][j][l]
            for j in range(4):
                for l in range(4):
                    column = [vec.load(mp, b.add(at_t, e_at[16 * i + 4 * j + l])) for i in range(4)]
                    depth[0][j][l] = at(column, 0)
                    depth[1][j][l] = at(column, 1)
            for a in (0, 1):
                for r in (0, 1):
                    s = [at([depth[a][j][l] for j in range(4)], r) for l in range(4)]
                    out[a, r][0].append(b.fadd(at(s, 0), bk))
                    out[a, r][1].append(b.fadd(at(s, 1), bk))

        def store_row(a, r):
            even = vec.transpose(out[a, r][0] + [undef] * (w - rows))
            odd = vec.transpose(out[a, r][1] + [undef] * (w - rows))
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
    panels, nr = u.shape[1], u.shape[3]
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
        v = np.empty(64 * ves, dtype=y.dtype)
        m = np.empty(64 * mes, dtype=y.dtype)
        abase = np.empty(mr, dtype=np.int64)
        aroff = np.zeros(1, dtype=np.int64)
        for e in range(64):
            for j in range(n_tiles * channels, t_end * channels):
                v[e * ves + j] = 0
        for t in range(n_tiles):
            n, ta, tb, tc = _tile_at(g0 + t, per_image, th, tw)
            _input_tile(xflat, ((n * dq + 2 * ta) * hq + 2 * tb) * rowlen + 2 * tc * channels, plane, rowlen,
                        channels, v, t * channels, ves, channels)
        for p in range(p0, p1):   # per panel: its 64 products, then its output transform
            for e in range(64):
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
                                          nl, ko, below, behind, 1)
                        elif split == 2:
                            _output_tiles(m, mo, mes, nr, bias, kp0 + kk, yflat, yo + kk * dhw, dhw, hw, wo,
                                          nl, ko, below, behind, 2)
                        else:
                            _output_tiles(m, mo, mes, nr, bias, kp0 + kk, yflat, yo + kk * dhw, dhw, hw, wo,
                                          nl, ko, below, behind, 4)
                    tj += nt
                t += seg


def _correlate(x, w, b, y, pd, ph, pw, flip):
    """y = b + the stride-1 correlation of x (padded by pd, ph, pw) with the 3x3x3 filters of w
    (flipped and transposed where ``flip``: see :func:`winograd3d_weights`)."""
    n_batch, channels, depth, height, width = x.shape
    k = y.shape[1]
    do, ho, wo = y.shape[2], y.shape[3], y.shape[4]
    dq = 2 * ((do + 1) // 2) + 2
    hq = 2 * ((ho + 1) // 2) + 2
    wq = 2 * ((wo + 1) // 2) + 2
    xcl = _pad_channels_last(x, pd, ph, pw, dq - depth - 2 * pd, hq - height - 2 * ph, wq - width - 2 * pw,
                             channels)
    narrow = narrow_fits(k, x.dtype)   # at most one vector of output channels: the narrow tiles
    mr, nr = tile_shape(x.dtype, narrow)
    u = winograd3d_weights(w, nr, flip)
    bias = np.zeros(u.shape[1] * nr, dtype=x.dtype)
    bias[:k] = b
    per, block = work_split(n_batch, do, ho, wo, k, mr, nr)
    _winograd_chunks(xcl, channels, u, bias, y, per, block, narrow)


def conv3d_forward_winograd(x, w, b, y, pd, ph, pw):
    """y[n, k, i, j, l] = b[k] + sum_{c,a,p,q} w[k, c, a, p, q] * xpad[n, c, i + a, j + p, l + q]
    (3x3x3, stride 1).

    x : (N, C, D, H, W), w : (K, C, 3, 3, 3), b : (K,), y : (N, K, Do, Ho, Wo) with Do = D + 2 pd - 2
    etc., written in full; all C-contiguous, one dtype (float32 or float64); shapes validated by
    the caller. Any padding >= 0. Extra memory: see the module docstring.
    """
    _correlate(x, w, b, y, pd, ph, pw, False)


def conv3d_backward_input_winograd(dy, w, dx, pd, ph, pw):
    """dx = gradient of sum(y * dy) with respect to x for y = conv3d(x, w, stride 1, padding
    (pd, ph, pw)), 3x3x3 filters, each padding <= 2: the forward correlation of dy, padded by
    2 - padding, with the flipped, transposed filters ``w[:, :, ::-1, ::-1, ::-1]`` (C, K).

    dy : (N, K, Do, Ho, Wo), w : (K, C, 3, 3, 3), dx : (N, C, D, H, W) written in full; all
    C-contiguous, one dtype.
    """
    _correlate(dy, w, np.zeros(w.shape[1], dtype=dx.dtype), dx, 2 - pd, 2 - ph, 2 - pw, True)

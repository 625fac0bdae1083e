"""Winograd F(3x3x3, 2x2x2) weight gradient of 3x3x3 stride-1 3-D convolutions.

The 2-D form, :mod:`fastnet.kernels.winograd_weight`, with one more axis; the forward pass and
the input transform it shares with this one are :mod:`fastnet.kernels.winograd3d`.

With the forward's 2x2x2 tiles, ``dw[k, c] = G^T (x) G^T (x) G^T dU[k, c]`` with ``dU[e][k, c] =
sum_t S_t[e][k] V_t[e][c]`` for the 64 transformed elements e = 16 i + 4 j + l: V_t the forward's
input transform of tile t's 4x4x4 window of x, S_t = A (x) A (x) A g_t of its 2x2x2 block g_t of
dy (zero past Do, Ho, Wo). Per (k, c) and tile: 64 multiplies instead of the direct form's 216
(27 taps x 8 positions). The 64 products ``dU[e] (K, C) = S[e] (K, T) @ V[e] (T, C)`` reduce over
the tiles: :func:`~fastnet.kernels.microkernel.shaped_tile_fma` with MR output channels as tile
rows (values of S broadcast), NR input channels as vector columns (rows of V), the tiles as its
inner steps; at most one vector of input channels takes the narrow tile shape. S is computed
straight from dy in NCDHW by :func:`_grad_vector` (vectors of W consecutive tiles, gathered
from the runs of tiles that each row of tiles holds, so that short rows fill whole vectors), V by
winograd3d's ``_input_tile`` from a padded channels-last copy of x.

Work split (:func:`weight_split`): the tiles in ``groups`` runs of consecutive tiles (by shape
only), each with private partial sums (64, round_MR(K), round_NR(C)), summed in group order at the
end in float64 (:func:`_winograd3d_weight_reduce`, which also applies G^T along each axis and
rounds once); a task is a group x a block of output channels x a block of input channels, whose
products are each one running sum over the group's tiles in order. With one group the task's
block of partial sums is its thread's own and is finished into dw by the task itself. So every dw
is the same sum whatever the thread count (tested).

Error: measured ``max(abs(error)) / max(abs(dw))`` against a float64 reference (PyTorch's
convolution_backward in float64), unit-normal x and dy, padding 1: 9.7e-7 for C3D (32 -> 64,
4 x 8 x 28 x 28), 7.7e-7 for 64 -> 64 (4 x 8 x 14 x 14), 7.4e-7 for 128 -> 128 (2 x 4 x 14 x 14),
4.3e-7 for 16 -> 32 (4 x 8 x 16 x 16); the direct kernels 8.6e-7, 5.6e-7, 8.9e-7, 4.5e-7;
PyTorch's float32 1.5e-6 to 5.6e-6. Tests bound it by 1e-5. A NaN or infinity in x (dy) reaches,
as NaN, every tap of dw[:, c] (dw[k]) that it meets through any tile, not only the taps whose
windows hold it.

Extra memory: the padded channels-last copy of x (about the size of x), the partial sums, groups x
64 x round_MR(K) x round_NR(C) values (at most WEIGHT_PARTIAL_BYTES, 4 MB; with one group a block
of at most WEIGHT_BLOCK_BYTES per thread), and per thread V, 64 (T cb + 1 or 2 cache lines), and
S, 64 (kb T + 1 or 2 lines) values (T <= WEIGHT_TILES tiles). C3D (32 -> 64, float32): x's copy
2.3 MB, 4 MB of partial sums, 0.8 MB per thread.

Measured 2026-12-05 on the 2-core AMD EPYC (Zen 4, AVX-512) dev VM, float32, dw and db, ms, one
thread | two (``numba.set_num_threads`` and ``torch.set_num_threads``), the minimum of 7 calls
after a warm-up call, padding 1, unit-normal data: :func:`conv3d_backward_weight_winograd` | the
direct ``conv_weight.conv3d_backward_weight`` | ``torch.ops.aten.convolution_backward`` with
output_mask (False, True, True), PyTorch 2.13 CPU:

=========================  ======================  ======================  ======================
layer (N x D x H x W)      Winograd                direct                  PyTorch
=========================  ======================  ======================  ======================
C3D 32 -> 64, 4x8x28x28    14.5 | 7.3              27.7 | 14.0             23.5 | 11.9
64 -> 64, 4x8x14x14        5.8 | 3.6               13.9 | 7.5              11.8 | 6.5
128 -> 128, 2x4x14x14      5.6 | 3.5               13.5 | 8.2              10.8 | 5.7
16 -> 32, 4x8x16x16        1.33 | 1.14             2.25 | 1.31             2.03 | 1.08
=========================  ======================  ======================  ======================

Which layers take it under algorithm="auto": see WEIGHT_MIN_CHANNELS below (fewer than 12 input
channels leave most of each vector of columns empty: 8 -> 32 measured 0.9x of the direct form,
3 -> 64 0.4x).
"""

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.numpy_support import as_dtype

from . import winograd3d as _w3
from ._config import (AVX512_VECTOR_BYTES, accumulator_kernel, parallel_kernel, serial_kernel,
                      vector_bytes)
from .conv3d import _channel_sum, _round_up
from .conv_layout import _pad_channels_last
from .microkernel import narrow_fits, shaped_tile_fma, tile_cols, tile_rows, tile_shape, vector_lanes
from .vector_ir import Vectors, array_data
from .winograd3d import _input_tile, _scratch_stride, _tile_at, tile_count, winograd_applies

# Work split of the weight gradient (weight_split; see the module docstring).
WEIGHT_TILES = 32        # 2x2x2 tiles of dy per transform-and-multiply step of a task
WEIGHT_GROUPS = 16       # at most this many groups of tiles (private partial sums) ...
WEIGHT_GROUP_TILES = 64  # ... of at least this many tiles each ...
WEIGHT_PARTIAL_BYTES = 4 * 2**20   # ... and at most this much memory of partial sums (at least one group)
WEIGHT_BLOCK_BYTES = 4 * 2**20     # one group: at most this much of partial sums per task (channel blocks)
REDUCE_BLOCK = 4         # _winograd3d_weight_reduce: output channels per task

# algorithm="auto" (winograd_weight_ok): Winograd while winograd3d.WINOGRAD_AUTO is True, with at
# least WEIGHT_MIN_CHANNELS input channels C (whatever K) and WEIGHT_MIN_TILES 2x2x2 tiles of dy.
# C are the vector columns of the products (rounded up to 16 or 32 with float32 on AVX-512), K the
# broadcast rows (rounded up to 8 or 16); the direct core has K as its vector columns, so small K
# favours Winograd. Measured on the Zen 4 dev box (AVX-512), float32, 2026-12-05, direct dw time /
# Winograd dw time, 1 thread | 2 threads, padding 1:
# * channels C -> K, 4 x 8 x 16 x 16 volumes (1024 tiles): 8 -> 32 0.89 | 0.87, 8 -> 64 0.90 |
#   0.96; 12 -> 12 1.29 | 1.24, 12 -> 32 1.24 | 1.27, 12 -> 64 1.25 | 1.29; 16 -> 16 1.56 | 1.37,
#   16 -> 32 1.59 | 1.57, 16 -> 64 1.61 | 1.63; 20 -> 32 1.25 | 1.21 (20 of 32 columns used);
#   24 -> 32 1.42 | 1.40; 32 -> 32 1.97 | 1.79; 32 -> 1, 2, 64 -> 1, 4 2.8-3.1 | 2.8-2.95;
#   3 -> 64 0.40 | 0.41 (1 x 8 x 28 x 28); 12 -> 64 and 16 -> 64 (1 x 8 x 28 x 28) 1.6-1.7 | 1.3-1.6;
# * tiles, C -> C channels: 4 tiles 0.6-1.0 | 0.6-1.3; 8: 0.74-1.19 | 0.5-1.1; 16: 32 1.03 | 1.09,
#   64 1.03 | 1.15, 128 1.03 | 1.05, 256 1.33 | 1.16, 512 1.31 | 1.24; 32: 32 1.24 | 1.28, 64 1.41 |
#   1.49, 128 1.54 | 1.52, 256 1.71 | 1.54, 512 1.56 | 1.71; 64 and more: 1.6-2.5 | 1.4-2.4.
WEIGHT_MIN_CHANNELS = 12
WEIGHT_MIN_TILES = 32
# With vectors narrower than AVX-512's (AVX2), AVX2_WEIGHT_MIN_CHANNELS and
# AVX2_WEIGHT_MIN_TILES instead. Zen 3, float32, 2026-12-06, direct dw time / Winograd dw time,
# the best of 3 rounds of 5 calls, 1 thread | 2 threads, padding 1, 25 layers: C = 12 (8x16x16
# volumes, K = 12 and 64) 0.55-0.60 | 0.75-0.79; C = 16 (64 and 1024 tiles) 0.86-0.89 |
# 0.74-0.93; C = 32 (64 and 1024 tiles, K = 32 and 64) 0.88-1.14 | 0.97-1.71; C = 64-256 at 32
# tiles 0.89-0.98 | 0.87-1.05, from 64 tiles on 1.01-1.81 | 1.08-1.56 (10 layers).
AVX2_WEIGHT_MIN_CHANNELS = 32
AVX2_WEIGHT_MIN_TILES = 64


def winograd_weight_ok(channels_in, channels_out, tiles, fd, fh, fw, sd, sh, sw, algorithm):
    """Whether conv3d_backward's dw runs Winograd F(3x3x3, 2x2x2): "winograd" (the caller checked
    that it applies), "direct" never, "auto" by shape (``winograd3d.WINOGRAD_AUTO``,
    WEIGHT_MIN_CHANNELS on the input channels only, WEIGHT_MIN_TILES; with vectors narrower than
    AVX-512's, AVX2_WEIGHT_MIN_CHANNELS and AVX2_WEIGHT_MIN_TILES; ``tiles`` =
    :func:`~fastnet.kernels.winograd3d.tile_count` of dy)."""
    if algorithm == "direct" or not winograd_applies(fd, fh, fw, sd, sh, sw):
        return False
    if algorithm == "winograd":
        return True
    if vector_bytes() < AVX512_VECTOR_BYTES:
        min_channels, min_tiles = AVX2_WEIGHT_MIN_CHANNELS, AVX2_WEIGHT_MIN_TILES
    else:
        min_channels, min_tiles = WEIGHT_MIN_CHANNELS, WEIGHT_MIN_TILES
    return _w3.WINOGRAD_AUTO and channels_in >= min_channels and tiles >= min_tiles


@intrinsic
def _grad_vector(typingctx, d, ko, ldp, wo, seg, nseg, nl, s, so, ses):
    """The transformed upstream gradient of ``nl`` <= W tiles of one output channel, one per vector
    lane, taken from ``nseg`` runs of tiles in rows of tiles (one run per row they cross): ``s[so +
    (16 i + 4 j + l) ses + t] = (A (x) A (x) A g_t)[i, j, l]`` for t < nl (A = [[1, 0], [1, 1],
    [1, -1], [0, -1]] along each axis: a pair (p, q) becomes (p, p + q, p - q, -q)), with ``g_t[a, b, c] = d[ko + base + a ldp + b wo + 2 t + c]`` for the run
    (base, lo, hi, below, behind) = ``seg[5 r : 5 r + 5]`` whose columns ``lo <= 2 t + c < hi`` hold
    it, zero where no run does, where b = 1 unless ``below`` and where a = 1 unless ``behind``.

    Per run: two masked loads of 2W values per row of g (4 rows), each keeping the lanes that
    earlier runs loaded (the loads' pass-through), so that short rows of tiles (7 tiles of 14
    columns, 4 of 7) fill whole vectors; then two shuffles per row that split the even and odd
    columns (8 vectors), A along depth (4 pairs -> 16 vectors), height (8 pairs -> 32) and width
    (16 pairs -> 64), and 64 stores masked to nl lanes. Reads dy in place (NCDHW); a run's
    base may point before its row (its masked-off lanes are never read). Nothing is bounds-checked.
    """
    sig = types.void(d, ko, ldp, wo, seg, nseg, nl, s, so, ses)
    dtype = as_dtype(d.dtype)

    def codegen(context, builder, signature, args):
        vec = Vectors(builder, dtype)
        b = builder
        ko_, ldp_, wo_, nseg_, nl_, so_, ses_ = (vec.int64(args[i]) for i in (1, 2, 3, 5, 6, 8, 9))
        dp = array_data(context, builder, signature, args, 0)
        gp = array_data(context, builder, signature, args, 4)
        sp = array_data(context, builder, signature, args, 7)
        w = vec.width
        i64v = ir.VectorType(vec.i64, w)
        cols = (ir.Constant(i64v, list(range(w))), ir.Constant(i64v, list(range(w, 2 * w))))
        load_fn = cgutils.get_or_insert_function(
            b.module, ir.FunctionType(vec.vty, [vec.vty.as_pointer(), vec.i32, ir.VectorType(ir.IntType(1), w),
                                                vec.vty]),
            "llvm.masked.load.v%d%s.p0" % (w, vec.suffix))
        # the 8 vectors (plane a, row b, half h) of 2W columns, filled run by run
        acc = [[[cgutils.alloca_once(b, vec.vty) for _ in range(2)] for _ in range(2)] for _ in range(2)]
        for a in range(2):
            for r in range(2):
                for h in range(2):
                    b.store(ir.Constant(vec.vty, None), acc[a][r][h])

        def splat(value):
            undef = ir.Constant(i64v, ir.Undefined)
            one = b.insert_element(undef, value, ir.Constant(vec.i32, 0))
            return b.shuffle_vector(one, undef, ir.Constant(ir.VectorType(vec.i32, w), [0] * w))

        with cgutils.for_range(b, nseg_) as loop:
            at5 = b.mul(loop.index, vec.int64(5))
            field = [b.load(b.gep(gp, [b.add(at5, vec.int64(f))])) for f in range(5)]
            base, lo, hi = field[0], field[1], field[2]
            below = b.icmp_signed("!=", field[3], vec.int64(0))
            behind = b.icmp_signed("!=", field[4], vec.int64(0))
            start = b.add(ko_, base)
            for a in range(2):
                for r in range(2):
                    top = hi
                    if r:
                        top = b.select(below, top, lo)
                    if a:
                        top = b.select(behind, top, lo)
                    at = start
                    if a:
                        at = b.add(at, ldp_)
                    if r:
                        at = b.add(at, wo_)
                    los, tops = splat(lo), splat(top)
                    for h in range(2):
                        mask = b.and_(b.icmp_signed(">=", cols[h], los), b.icmp_signed("<", cols[h], tops))
                        ptr = vec._ptr(dp, b.add(at, vec.int64(h * w)), vec.vty)
                        value = b.call(load_fn, [ptr, ir.Constant(vec.i32, 1), mask, b.load(acc[a][r][h])])
                        b.store(value, acc[a][r][h])

        even = list(range(0, 2 * w, 2))
        odd = list(range(1, 2 * w, 2))
        g = [[None, None], [None, None]]
        for a in range(2):
            for r in range(2):
                lo_v, hi_v = b.load(acc[a][r][0]), b.load(acc[a][r][1])
                g[a][r] = (vec._shuffle(lo_v, hi_v, even), vec._shuffle(lo_v, hi_v, odd))

        def pairs(p, q):
            return (p, b.fadd(p, q), b.fsub(p, q), b.fneg(q))

        dep = [[[None, None], [None, None]] for _ in range(4)]
        for r in range(2):
            for c in range(2):
                for i, value in enumerate(pairs(g[0][r][c], g[1][r][c])):
                    dep[i][r][c] = value
        mask = vec.mask(nl_, w)
        for i in range(4):
            hgt = [[None, None] for _ in range(4)]
            for c in range(2):   # A along height: hgt[j][c]
                for j, value in enumerate(pairs(dep[i][0][c], dep[i][1][c])):
                    hgt[j][c] = value
            for j in range(4):   # A along width, then the stores
                for l, value in enumerate(pairs(hgt[j][0], hgt[j][1])):
                    vec.masked_store(value, sp, b.add(so_, b.mul(vec.int64(16 * i + 4 * j + l), ses_)), mask)
        return context.get_dummy_value()

    return sig, codegen


def weight_split(n_batch, do, ho, wo, channels, n_out, itemsize, mr, nr, threads):
    """(groups, tiles per step, k_block, c_block) of :func:`conv3d_backward_weight_winograd`.

    Groups: the tiles (image, depth, tile row, tile column order) split into ``groups`` runs of
    consecutive tiles, each with private partial sums (64, round_MR(K), round_NR(C)), summed in
    group order at the end: at most WEIGHT_GROUPS, at least WEIGHT_GROUP_TILES tiles each, at most
    WEIGHT_PARTIAL_BYTES of partial sums, at least one. By shape only: the groups fix every sum.
    Steps: WEIGHT_TILES tiles. Blocks: a task is a group x a block of ``k_block`` output channels
    (whole MR-row panels) x a block of ``c_block`` input channels (whole NR-column panels), which
    change no sum (a block repeats the transforms of the other operand). Several groups: all
    output channels, and the input channels split only where groups are fewer than ``threads``.
    One group: blocks of at most WEIGHT_BLOCK_BYTES of partial sums, at least ``threads`` of them
    where the panels allow, the larger of the two block sizes split first (a K block repeats the
    input transform, whose work is proportional to C, a C block the dy transform, to K).
    """
    tiles = tile_count(n_batch, do, ho, wo)
    kr = _round_up(n_out, mr)
    cp = _round_up(channels, nr)
    groups = max(1, min(WEIGHT_GROUPS, tiles // WEIGHT_GROUP_TILES,
                        WEIGHT_PARTIAL_BYTES // (64 * kr * cp * itemsize)))
    if groups > 1:
        cblocks = min(cp // nr, max(1, -(-threads // groups)))
        return groups, WEIGHT_TILES, kr, _round_up(-(-cp // cblocks), nr)
    nk = nc = 1
    while True:
        kb = _round_up(-(-kr // nk), mr)
        cb = _round_up(-(-cp // nc), nr)
        if 64 * kb * cb * itemsize <= WEIGHT_BLOCK_BYTES and -(-kr // kb) * -(-cp // cb) >= threads:
            break
        if kb > mr and (kb >= cb or cb <= nr):
            nk += 1
        elif cb > nr:
            nc += 1
        else:
            break
    return 1, WEIGHT_TILES, kb, cb


@serial_kernel
def _finish(p, at, estride, groups, gstride, nc, x, z, y, o, dst):
    """One row of dw's taps: ``dst[c * 27 + tap] = ((G^T (x) G^T (x) G^T) X)[tap]`` for c < nc, with
    ``X[e][c]`` = the sum over g < ``groups``, in order, of ``p[at + g gstride + e estride + c]``, in
    float64 (x (64, >= nc), z (48, ...), y (36, ...), o (27, ...): float64 scratch), rounded once
    to dw's dtype. G^T along depth, height, then width (:func:`_gt_axis`)."""
    for e in range(64):
        row = x[e]
        first = p[at + e * estride:]
        for c in range(nc):
            row[c] = first[c]
        for g in range(1, groups):
            prow = p[at + g * gstride + e * estride:]
            for c in range(nc):
                row[c] += prow[c]
    _gt_axis(x, z, 1, 16, nc)   # depth: (i, j, l) -> (a, j, l)
    _gt_axis(z, y, 3, 4, nc)    # height: -> (a, b, l)
    _gt_axis(y, o, 9, 1, nc)    # width: -> (a, b, e)
    for c in range(nc):
        for tap in range(27):
            dst[c * 27 + tap] = o[tap, c]


@parallel_kernel
def _winograd3d_weight_chunks(xcl, channels, dy, partial, groups, per_step, k_block, c_block, work, zeroed, ves,
                              ses, narrow, dw):
    """The products of :func:`conv3d_backward_weight_winograd`: one parallel region over the tasks
    (group of tiles, block of ``k_block`` output channels, block of ``c_block`` input channels).

    xcl (N, Dq, Hq, Wq * C) as for the forward; dy (N, K, Do, Ho, Wo). Per step of ``per_step``
    tiles T of the group: V (64, T, cb) by winograd3d's ``_input_tile`` (the block's input
    channels; columns past C zero), S (64, kb, T) by :func:`_grad_vector` (the block's output
    channels, W tiles at a time), then ``P[e, k, c] (+)= sum_t S[e][k, t]
    V[e][t, c]`` by the micro-kernel (``narrow``: its narrow shape): MR output channels
    (broadcast, S rows) x NR input channels (vectors, V rows) per call, the step's tiles as its
    inner steps; each element is one running sum over the group's tiles in order (stored and
    reloaded unrounded between steps), whatever the blocks and the step size. P is stored tile by
    tile, (64, kb / MR, cb / NR, MR, NR), so that each call loads and stores one contiguous block
    and consecutive calls consecutive blocks. ``groups`` > 1: P is the task's part of
    ``partial[group]`` (groups, 64, Kr / MR, Cp / NR, MR, NR), reduced afterwards by
    :func:`_winograd3d_weight_reduce`; ``groups`` == 1: P is the thread's own block, turned into
    dw[k, c] for the block's channels (:func:`_finish`) once the task's tiles are done.
    V, S and P live in ``work`` (threads, 64 (ves + ses + kb cb)), one row per thread of the
    region (``numba.get_thread_id``), allocated by the caller: buffers of a megabyte or more
    allocated inside the parallel region were fresh memory at every call (page faults).
    """
    n_batch, n_out, do, ho, wo = dy.shape
    td = (do + 1) // 2
    th = (ho + 1) // 2
    tw = (wo + 1) // 2
    per_image = td * th * tw
    total = n_batch * per_image
    dq, hq, rowlen = xcl.shape[1], xcl.shape[2], xcl.shape[3]
    plane = hq * rowlen
    hw = ho * wo
    dhw = do * hw
    mr = tile_rows(xcl, narrow)
    nr = tile_cols(xcl, narrow)
    lanes = vector_lanes(xcl)
    mrnr = mr * nr
    kr = (n_out + mr - 1) // mr * mr
    cp = (channels + nr - 1) // nr * nr
    kblocks = (kr + k_block - 1) // k_block
    cblocks = (cp + c_block - 1) // c_block
    fused = groups == 1
    xflat = xcl.reshape(xcl.size)
    dflat = dy.reshape(dy.size)
    pflat = partial.reshape(partial.size)
    dwflat = dw.reshape(dw.size)
    tp = per_step
    for task in prange(groups * kblocks * cblocks):
        g = task // (kblocks * cblocks)
        rest = task - g * (kblocks * cblocks)
        kbi = rest // cblocks
        k0 = kbi * k_block
        nk = min(n_out, k0 + k_block) - k0
        nkr = min(kr, k0 + k_block) - k0
        c0 = (rest - kbi * cblocks) * c_block
        nc = min(channels, c0 + c_block) - c0
        ncp = min(cp, c0 + c_block) - c0
        t_first = g * total // groups
        t_last = (g + 1) * total // groups
        tid = numba.get_thread_id()
        mine = work[tid]
        v = mine[:64 * ves]
        s = mine[64 * ves:64 * (ves + ses)]
        if fused:   # the thread's own block: (64, nkr / MR, ncp / NR, MR, NR)
            p = mine[64 * (ves + ses):]
            kstride = (ncp // nr) * mrnr
            estride = (nkr // mr) * kstride
            base = 0
        else:       # the task's part of partial[g]
            p = pflat
            kstride = (cp // nr) * mrnr
            estride = (kr // mr) * kstride
            base = g * 64 * estride + (k0 // mr) * kstride + (c0 // nr) * mrnr
        if nc < ncp and (zeroed[tid, 0] != nc or zeroed[tid, 1] != ncp):
            # columns nc .. ncp - 1 of V: zero (never written by _input_tile), once per thread and
            # layout (per task, C = 20 spent 0.3 ms of 2.6 on them)
            for e in range(64):
                for t in range(tp):
                    row = v[e * ves + t * ncp:]
                    for c in range(nc, ncp):
                        row[c] = 0
            zeroed[tid, 0] = nc
            zeroed[tid, 1] = ncp
        abase = np.empty(mr, dtype=np.int64)
        aroff = np.zeros(1, dtype=np.int64)
        seg = np.empty(5 * lanes, dtype=np.int64)
        for t0 in range(t_first, t_last, tp):
            nt = min(tp, t_last - t0)
            for t in range(nt):
                n, ta, tb, tc = _tile_at(t0 + t, per_image, th, tw)
                _input_tile(xflat, ((n * dq + 2 * ta) * hq + 2 * tb) * rowlen + (2 * tc) * channels + c0, plane,
                            rowlen, channels, v, t * ncp, ves, nc, 3)
            for tv in range(0, nt, lanes):   # S by vectors of W tiles, from runs within rows of tiles
                nl = min(lanes, nt - tv)
                nseg = 0
                j = 0
                while j < nl:
                    n, ta, tb, tc = _tile_at(t0 + tv + j, per_image, th, tw)
                    run = min(tw - tc, nl - j)
                    seg[5 * nseg] = ((n * n_out + k0) * do + 2 * ta) * hw + 2 * tb * wo + 2 * tc - 2 * j
                    seg[5 * nseg + 1] = 2 * j
                    seg[5 * nseg + 2] = 2 * j + min(2 * run, wo - 2 * tc)
                    seg[5 * nseg + 3] = 2 * tb + 1 < ho
                    seg[5 * nseg + 4] = 2 * ta + 1 < do
                    nseg += 1
                    j += run
                for k in range(nk):
                    _grad_vector(dflat, k * dhw, hw, wo, seg, nseg, nl, s, k * tp + tv, ses)
            for e in range(64):
                for kt in range(nkr // mr):
                    for i in range(mr):
                        abase[i] = e * ses + min(kt * mr + i, nk - 1) * tp
                    at = base + e * estride + kt * kstride
                    for cc in range(0, ncp, nr):
                        shaped_tile_fma(s, abase, aroff, 1, v[e * ves + cc:], 0, ncp, 1, nt, p[at + cc * mr:], nr,
                                        t0 > t_first, narrow)
        if fused:
            x = np.empty((64, nr))
            z = np.empty((48, nr))
            y = np.empty((36, nr))
            o = np.empty((27, nr))
            for kk in range(nk):
                kt = kk // mr
                for cc in range(0, nc, nr):
                    _finish(p, kt * kstride + (cc // nr) * mrnr + (kk - kt * mr) * nr, estride, 1, 0,
                            min(nc - cc, nr), x, z, y, o, dwflat[((k0 + kk) * channels + c0 + cc) * 27:])


@accumulator_kernel
def _gt_axis(src, dst, outer, inner, nc):
    """G^T along one axis of float64 rows (their first ``nc`` values): ``dst[(o*3 + i)*inner + s]
    = sum_a G^T[i, a] src[(o*4 + a)*inner + s]``, G^T = [[1, 1/2, 1/2, 0], [0, 1/2, -1/2, 0],
    [0, 1/2, 1/2, 1]]: (x0 + (x1 + x2) / 2, (x1 - x2) / 2, (x1 + x2) / 2 + x3). One loop per
    destination row, over row views (as winograd3d's ``_g_axis``)."""
    for o in range(outer):
        for s in range(inner):
            x0 = src[(4 * o) * inner + s]
            x1 = src[(4 * o + 1) * inner + s]
            x2 = src[(4 * o + 2) * inner + s]
            x3 = src[(4 * o + 3) * inner + s]
            d = dst[(3 * o) * inner + s]
            for c in range(nc):
                d[c] = x0[c] + 0.5 * (x1[c] + x2[c])
            d = dst[(3 * o + 1) * inner + s]
            for c in range(nc):
                d[c] = 0.5 * (x1[c] - x2[c])
            d = dst[(3 * o + 2) * inner + s]
            for c in range(nc):
                d[c] = 0.5 * (x1[c] + x2[c]) + x3[c]


@parallel_kernel
def _winograd3d_weight_reduce(partial, dy, dw, db):
    """dw from the groups' partial sums (groups, 64, Kr / MR, Cp / NR, MR, NR) of
    :func:`_winograd3d_weight_chunks` (none: a zero-length ``partial``, where the chunks wrote dw
    themselves): per (k, panel of NR input channels), :func:`_finish` sums the groups in order in
    float64 and applies G^T along each axis; parallel over blocks of REDUCE_BLOCK output
    channels. db[k] = sum of dy[:, k] in float64 (parallel over k), as the direct form does.
    """
    n_batch, n_out = dy.shape[0], dy.shape[1]
    channels = dw.shape[1]
    groups, kpanels, cpanels, mr, nr = partial.shape[0], partial.shape[2], partial.shape[3], partial.shape[4], \
        partial.shape[5]
    pflat = partial.reshape(partial.size)
    dflat = dw.reshape(dw.size)
    mrnr = mr * nr
    estride = kpanels * cpanels * mrnr
    blocks = (n_out + REDUCE_BLOCK - 1) // REDUCE_BLOCK if groups > 0 else 0
    for kb in prange(blocks):
        x = np.empty((64, nr))
        z = np.empty((48, nr))
        y = np.empty((36, nr))
        o = np.empty((27, nr))
        for k in range(kb * REDUCE_BLOCK, min(n_out, kb * REDUCE_BLOCK + REDUCE_BLOCK)):
            kt = k // mr
            for cb in range(cpanels):
                c0 = cb * nr
                _finish(pflat, (kt * cpanels + cb) * mrnr + (k - kt * mr) * nr, estride, groups, 64 * estride,
                        min(channels - c0, nr), x, z, y, o, dflat[(k * channels + c0) * 27:])
    spatial = dy.shape[2] * dy.shape[3] * dy.shape[4]
    dyf = dy.reshape(n_batch, n_out, spatial)
    for k in prange(n_out):
        db[k] = _channel_sum(dyf, np.int64(k))   # (prange's index is uint64 in the gufunc: a second signature)


def conv3d_backward_weight_winograd(x, dy, dw, db, pd, ph, pw):
    """dw[k, c, a, p, q] = sum_{n,i,j,l} dy[n, k, i, j, l] * xpad[n, c, i + a, j + p, l + q]
    (3x3x3, stride 1) and db[k] = sum of dy[:, k], by Winograd F(3x3x3, 2x2x2) (see the module
    docstring).

    x : (N, C, D, H, W), dy : (N, K, Do, Ho, Wo) with Do = D + 2 pd - 2 etc., dw : (K, C, 3, 3, 3),
    db : (K,), both written in full; all C-contiguous, one dtype (float32 or float64); shapes
    validated by the caller. Any padding >= 0. Extra memory: see the module docstring.
    """
    n_batch, channels, depth, height, width = x.shape
    n_out, do, ho, wo = dy.shape[1], dy.shape[2], dy.shape[3], dy.shape[4]
    dq = 2 * ((do + 1) // 2) + 2
    hq = 2 * ((ho + 1) // 2) + 2
    wq = 2 * ((wo + 1) // 2) + 2
    narrow = narrow_fits(channels, x.dtype)   # at most one vector of input channels: the narrow tiles
    mr, nr = tile_shape(x.dtype, narrow)
    xcl = _pad_channels_last(x, pd, ph, pw, dq - depth - 2 * pd, hq - height - 2 * ph, wq - width - 2 * pw,
                             channels)
    threads = numba.get_num_threads()
    groups, step, k_block, c_block = weight_split(n_batch, do, ho, wo, channels, n_out, x.dtype.itemsize, mr, nr,
                                                  threads)
    step = min(step, -(-tile_count(n_batch, do, ho, wo) // groups))   # no longer than the longest group
    line = 64 // x.dtype.itemsize
    ves = _scratch_stride(step * c_block, line)
    ses = _scratch_stride(k_block * step, line)
    fused = groups == 1
    work = np.empty((threads, 64 * (ves + ses + (k_block * c_block if fused else 0))), dtype=x.dtype)
    partial = np.empty((0 if fused else groups, 64, _round_up(n_out, mr) // mr, _round_up(channels, nr) // nr, mr, nr),
                       dtype=x.dtype)
    zeroed = np.full((threads, 2), -1, dtype=np.int64)
    _winograd3d_weight_chunks(xcl, channels, dy, partial, groups, step, k_block, c_block, work, zeroed, ves, ses,
                              narrow, dw)
    _winograd3d_weight_reduce(partial, dy, dw, db)

"""Winograd F(3x3, 2x2) and F(5x5, 2x2) weight gradients of 3x3 and 5x5 stride-1 2-D convolutions
(Lavin & Gray, CVPR 2016).

The forward pass and the transforms it shares with this one (the input transform, the tables, the
vector helpers) are :mod:`fastnet.kernels.winograd`.

With the forward's tiles, ``y_t = A^T (U * V_t) A`` for ``U = G w G^T``, so (Lavin & Gray, sec. 4)
``dw[k, c] = G^T dU[k, c] G`` with ``dU[e][k, c] = sum_t S_t[e][k] V_t[e][c]``: V_t = B^T d_t B, the
forward's input transform of tile t's n x n window, and S_t = A g_t A^T (n x n) of its 2x2 block g_t
of dy (zero past Ho, Wo: half tiles at odd edges contribute nothing); n = 4 for 3x3 filters, 6 for
5x5, with the forward's tables (B^T, A^T: ``INPUT_TRANSFORM``, ``OUTPUT_TRANSFORM``; G). Per (k, c)
and tile: n^2 multiplies, 16 instead of the direct form's 36 (9 taps x 4 positions) for 3x3, 36
instead of 100 for 5x5. The n^2 products ``dU[e] (K, C) = S[e] (K, T) @ V[e] (T, C)`` reduce over
the tiles: :func:`tile_fma` with MR output channels as tile rows (values of S broadcast), NR input
channels as vector columns (rows of V), the tiles as its inner steps. S (n^2, K, T) is computed
straight from dy in NCHW by :func:`_grad_tiles` (vectors of W consecutive tiles of one tile row: two
loads and an even/odd shuffle per row of g); V (n^2, T, C) by :func:`_input_tile` from a padded
channels-last copy of x, as in the forward. The form is read from the partial sums' type (as the
forward reads it from U's), so a 5x5 form compiles only where a 5x5 layer reaches it.

Work split (:func:`weight_split`): the tiles in ``groups`` runs of consecutive tiles (by shape
only), each with private partial sums (n^2, round_MR(K), round_NR(C)), summed in group order at
the end in float64 (:func:`_winograd_weight_reduce`, which also applies G^T . G and rounds once);
a task is a group (x a block of input or of output channels where groups are fewer than threads),
which walks its tiles in steps of T (V and S of the step, then the n^2 products; each step's sums
from zero, then added to the group's). So every dw is the same sum whatever the thread count
(tested).

Error: measured ``max(abs(error)) / max(abs(dw))`` 3.2e-7, 4.6e-7, 7.6e-7, 7.9e-7, 1.1e-6 for
3x3, 64 channels 30x30 b4, 256 30x30 b4, VGG 64 56x56 b8, 128 28x28 b8, 256 14x14 b8 (unit-normal
x and dy; float64 reference), against 3.5e-7, 6.3e-7, 8.3e-7, 7.6e-7, 1.8e-6 for the direct core:
the long sums over positions dominate both. 5x5 (F(5x5, 2x2)'s transforms have larger terms, which
G^T . G cancels): 3.0e-6 and 3.1e-6 for 96 and 256 channels 30x30 b4, 3.2e-6 for AlexNet conv2
(96 -> 256, 27x27 b8), against 7.1e-7, 1.4e-6 and 2.5e-6 for the direct core; with one running sum
per group instead of the two levels it was 1.3e-5 for AlexNet conv2 (one group of 1152 tiles).
Tests bound both forms by 1e-5. A NaN or infinity in x (dy) reaches, as NaN, every tap of dw[:, c]
(dw[k]) that it meets through any tile, not only the taps whose windows hold it.

Extra memory: the padded channels-last copy of x (as the forward), the partial sums, groups x n^2
x round_MR(K) x round_NR(C) values (at most WEIGHT_PARTIAL_BYTES, 4 MB, unless one group is more:
16 MB at 512 -> 512 float32), and per thread V, n^2 (round1024(T cb) + 64), and S, n^2
(round1024(K T) + 64) values (T <= WEIGHT_TILES_LARGE tiles, cb <= round_NR(C) channels; VGG
64 -> 64 float32: 4 MB of partial sums and 266 KB + 266 KB per thread; 256 -> 256: 4 MB and
2.1 MB + 2.1 MB per thread; 5x5, AlexNet conv2: 3.5 MB and 1.8 MB + 4.7 MB per thread), plus
(2 n^2 + r^2) x REDUCE_C float64 values per reduction task.

Measured 2026-12-05 on the 2-core AMD EPYC (Zen 4, AVX-512) dev VM, float32, dw and db, ms, one
thread | two (``numba.set_num_threads`` and ``torch.set_num_threads``), the minimum of 9 calls after
a warm-up call, 0.5 s apart between implementations (PyTorch's OpenMP threads spin); unit-normal x
and dy, padding 1. Winograd:
``kernels.conv2d.conv2d_backward_weight(..., algorithm="winograd")``; direct:
``algorithm="direct"`` (the tile core of :func:`fastnet.kernels.conv_weight.conv3d_backward_weight`);
PyTorch 2.13 CPU: ``torch.ops.aten.convolution_backward(dy, x, w, None, (1, 1), (1, 1), (1, 1),
False, (0, 0), 1, (False, True, True))``. Script: ``SLEEP=0.5 python /tmp/wg/final_bench.py THREADS
3`` (not kept in the repository), run twice per thread count, minima over the 6 rounds. The VM is
shared: a round's minimum was up to 23 % above the best for Winograd, 10 % for the others.

    =====================  =============  =============  =============
    layer                  Winograd       direct core    PyTorch
    =====================  =============  =============  =============
    VGG 64->64 56x56 b8    11.03 | 5.43   19.49 | 9.83   19.22 | 9.73
    128->128 28x28 b8       8.93 | 4.63   18.18 | 9.31   16.99 | 8.44
    256->256 14x14 b8       9.20 | 5.08   17.37 | 8.69   17.56 | 8.78
    256->256 14x14 b1       1.54 | 0.85    2.38 | 1.25    2.54 | 1.32
    512->512 7x7 b8        15.52 | 8.47   19.72 | 9.57   19.69 | 9.77
    32->32 56x56 b8         2.94 | 1.48    4.77 | 2.38    4.80 | 2.42
    =====================  =============  =============  =============

One thread, VGG 64 -> 64: padding of x 0.5 ms, V 0.5, S 0.85, the products 7.5-7.8 (105-110
GFLOP/s), the reduction and inverse transform 0.3; 512 -> 512 7x7 b8: the products 10.3, the
reduction 2.9-4.5 (16 MB of partial sums read, 9.4 MB of dw written).
V and S were first allocated per task inside the parallel region: from about a megabyte up (T =
128 at 128 channels and more) that memory came fresh at every call (page faults, 0.4 ms per MB on
this VM): 128 -> 128 14x14 b1 took 1.7 ms instead of 0.45; hence the caller's per-thread buffers.
Did not help: dy copied channels-last first (conv3d's ``_pad_channels_last`` with a pitch of
round_NR(K); S (16, T, Kp) the vector operand, V broadcast): VGG 64 12.3-12.5 ms against 11.0-11.9
(the copy: 0.5 ms alone, 1.1 between the other passes, 6.4 MB of fresh memory); S from NCHW by a
plain Numba loop (16 strided stores per tile): 6.2 ms for S alone at VGG 64, not vectorised; steps
of 32 or 48 tiles instead of 64 (the same within noise; 128 for 64 channels 0-10 % slower, but
5-15 % faster at 256 and 512 channels, where a group's partial sums leave L2: hence
WEIGHT_TILES_LARGE); a reduction over whole rows of Kp float64 values per channel (4 KB apart at
512 channels: L1 thrashing, 4.8 ms against 3.0 in blocks of REDUCE_C), or in float32 (the same).
"""

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.numpy_support import as_dtype

from ._config import accumulator_kernel, parallel_kernel
from .conv3d import _channel_sum, _round_up
from .conv_layout import _pad_channels_last
from .microkernel import tile_cols, tile_fma, tile_rows, tile_shape
from .vector_ir import Vectors, array_data
from .winograd import FILTER_SCALE_5X5, FILTER_TRANSFORM_5X5, OUTPUT_TRANSFORM, _form, _input_tile

# Work split of the weight gradient (weight_split; see the module docstring).
WEIGHT_TILES = 64        # 2x2 tiles of dy per transform-and-multiply step of a task, or ...
WEIGHT_TILES_LARGE = 128   # ... this many where a group's partial sums exceed WEIGHT_STEP_BYTES
WEIGHT_STEP_BYTES = 512 * 1024
WEIGHT_GROUPS = 16       # at most this many groups of tiles (private partial sums) ...
WEIGHT_GROUP_TILES = 64  # ... of at least this many tiles each ...
WEIGHT_PARTIAL_BYTES = 4 * 2**20   # ... and at most this much memory of partial sums (at least one group)
REDUCE_BLOCK = 8         # _winograd_weight_reduce: output channels per task ...
REDUCE_C = 64            # ... and input channels per vector loop


@intrinsic
def _grad_tiles(typingctx, d, do, wo, ncols, below, nt, s, so, ses, u):
    """The transformed upstream gradient of ``nt`` consecutive tiles of one tile row and one
    output channel: ``s[so + (n i + j) ses + t] = (A g_t A^T)[i, j]`` for t < nt, with the 2 x 2
    block ``g_t[a, b] = d[do + a wo + 2 t + b]``, zero where ``2 t + b >= ncols`` (past the
    output's right edge) or, unless ``below``, where a = 1 (past its bottom edge). A (n x 2) is
    the transpose of the forward's output transform, OUTPUT_TRANSFORM[r], for the form that ``u``
    picks (:func:`~fastnet.kernels.winograd._form`: the partial sums' type, or the literal 3
    or 5).

    3x3 (n = 4): A = [[1, 0], [1, 1], [1, -1], [0, -1]]: with g = [[a, b], [c, d]], A g = [[a, b],
    [a + c, b + d], [a - c, b - d], [-c, -d]], and each of its rows (p, q) times A^T is (p, p + q,
    p - q, -q). 5x5 (n = 6): A's rows (1, 0), (1, 1), (1, -1), (1, 1/2), (1, -2), (0, 1). Vectors
    of W tiles: per step two loads of 2W values per row of g and two shuffles that split them
    into the even (a, c) and odd (b, d) columns, the transform's additions (12 and 6 negations
    for 3x3) and n^2 stores. Unmasked steps while W whole tiles and 2W columns remain and
    ``below``; then masked steps (loads by the columns left, stores by the tiles left). Reads dy
    in place (NCHW): no channels-last copy. Nothing is bounds-checked.
    """
    sig = types.void(d, do, wo, ncols, below, nt, s, so, ses, u)
    dtype = as_dtype(d.dtype)
    at_ = [tuple(row) for row in zip(*OUTPUT_TRANSFORM[_form(u)])]   # A, n x 2
    n = len(at_)

    def codegen(context, builder, signature, args):
        vec = Vectors(builder, dtype)
        b = builder
        do_, wo_, ncols_, nt_, so_, ses_ = (vec.int64(args[i]) for i in (1, 2, 3, 5, 7, 8))
        below_ = b.icmp_unsigned("!=", args[4], ir.Constant(args[4].type, 0))
        dp = array_data(context, builder, signature, args, 0)
        sp = array_data(context, builder, signature, args, 6)
        w = vec.width
        even = list(range(0, 2 * w, 2))
        odd = list(range(1, 2 * w, 2))
        s_at = [b.mul(vec.int64(e), ses_) for e in range(n * n)]

        def step(t, col_left, tiles_left):
            """Tiles t .. t + W - 1; masked where col_left / tiles_left (i64) are given."""
            col = b.add(do_, b.mul(t, vec.int64(2)))
            rows = []
            for a in range(2):
                at = b.add(col, b.mul(wo_, vec.int64(a))) if a else col
                if col_left is None:
                    lo, hi = vec.load(dp, at), vec.load(dp, b.add(at, vec.int64(w)))
                else:
                    left = col_left if a == 0 else b.select(below_, col_left, vec.int64(0))
                    lo = vec.masked_load(dp, at, vec.mask(left, w))
                    hi = vec.masked_load(dp, b.add(at, vec.int64(w)), vec.mask(b.sub(left, vec.int64(w)), w))
                rows.append((vec._shuffle(lo, hi, even), vec._shuffle(lo, hi, odd)))
            ag = [(vec.combine(row, lambda a: rows[a][0]), vec.combine(row, lambda a: rows[a][1]))
                  for row in at_]   # A g: its rows (p, q)
            out = b.add(so_, t)
            mask = None if tiles_left is None else vec.mask(tiles_left, w)
            for i, pq in enumerate(ag):
                for j, row in enumerate(at_):
                    value = vec.combine(row, lambda c: pq[c])
                    if mask is None:
                        vec.store(value, sp, b.add(out, s_at[n * i + j]))
                    else:
                        vec.masked_store(value, sp, b.add(out, s_at[n * i + j]), mask)

        width = vec.int64(w)
        by_tiles = b.sdiv(nt_, width)
        by_cols = b.sdiv(ncols_, vec.int64(2 * w))
        fewer = b.select(b.icmp_signed("<", by_tiles, by_cols), by_tiles, by_cols)
        full = b.select(below_, fewer, vec.int64(0))
        with cgutils.for_range(b, full) as loop:
            step(b.mul(loop.index, width), None, None)
        done = b.mul(full, width)
        rest = b.sdiv(b.add(b.sub(nt_, done), vec.int64(w - 1)), width)
        with cgutils.for_range(b, rest) as loop:
            t = b.add(done, b.mul(loop.index, width))
            step(t, b.sub(ncols_, b.mul(t, vec.int64(2))), b.sub(nt_, t))
        return context.get_dummy_value()

    return sig, codegen


def weight_split(n_batch, ho, wo, channels, n_out, itemsize, mr, nr, threads, taps=3):
    """(groups, tiles per step, c_block, k_block) of :func:`conv2d_backward_weight_winograd` for
    ``taps`` x ``taps`` filters (3 or 5: n^2 = 16 or 36 transformed values per tile).

    Groups: the tiles (image, tile row, tile column order) split into ``groups`` runs of
    consecutive tiles, each with private partial sums (n^2, round_MR(K), round_NR(C)), summed in
    group order at the end: at most WEIGHT_GROUPS, at least WEIGHT_GROUP_TILES tiles each, at most
    WEIGHT_PARTIAL_BYTES of partial sums, at least one. By shape only: the groups fix every sum.
    Steps: WEIGHT_TILES tiles, WEIGHT_TILES_LARGE where a group's partial sums exceed
    WEIGHT_STEP_BYTES (they then leave L2 between steps; longer steps load and store them fewer
    times). Blocks: where groups are fewer than ``threads``, each group's input channels (whole
    NR-column panels) are split into blocks of ``c_block`` (each block repeats the dy transform),
    or its output channels (whole MR-row panels) into blocks of ``k_block`` (each repeats the x
    transform), one task each, so that every thread has a task: whichever split leaves the
    largest block the smaller share of the group (the channels on a tie). AlexNet conv2's 96
    input channels are 3 panels of 32 (float32, AVX-512): on 2 threads blocks of 2 and 1 panels;
    its 256 output channels split evenly. The blocks change no sum; the steps, fixed by shape, do.
    """
    tiles = n_batch * ((ho + 1) // 2) * ((wo + 1) // 2)
    kr = _round_up(n_out, mr)
    cp = _round_up(channels, nr)
    group_bytes = (taps + 1) ** 2 * kr * cp * itemsize
    groups = max(1, min(WEIGHT_GROUPS, tiles // WEIGHT_GROUP_TILES, WEIGHT_PARTIAL_BYTES // group_bytes))
    step = WEIGHT_TILES if group_bytes <= WEIGHT_STEP_BYTES else WEIGHT_TILES_LARGE
    need = max(1, -(-threads // groups))   # blocks per group
    cpanels, kpanels = cp // nr, kr // mr
    c_per = -(-cpanels // min(cpanels, need))   # panels per block, splitting C ...
    k_per = -(-kpanels // min(kpanels, need))   # ... or K
    if k_per * cpanels < c_per * kpanels:       # k_per / kpanels < c_per / cpanels
        return groups, step, cp, k_per * mr
    return groups, step, c_per * nr, kr


@parallel_kernel
def _winograd_weight_chunks(xcl, channels, dy, partial, per_step, c_block, k_block, work, ves, ses):
    """The products of :func:`conv2d_backward_weight_winograd`: one parallel region over the
    tasks (group of tiles, block of ``c_block`` input channels, block of ``k_block`` output
    channels), each writing its block of ``partial[group]`` (n^2, Kr, Cp): partial (groups, 16,
    Kr, Cp) for 3x3 filters, (groups, 6, 6, Kr, Cp) for 5x5 (its type picks the form, as U's
    does in the forward).

    xcl (N, 1, Hq, Wq * C) as for the forward; dy (N, K, Ho, Wo). Per step of ``per_step`` tiles
    T of the group: V (n^2, T, cb) by :func:`_input_tile` (the block's channels; columns past C
    zero), S (n^2, K, T) by :func:`_grad_tiles` (per output channel and run of tiles in one tile
    row), then ``partial[g, e, k, c] (+)= sum_t S[e][k, t] V[e][t, c]`` by the micro-kernel: MR
    output channels (broadcast, S rows) x NR input channels (vectors, V rows) per call, the step's
    tiles as its inner steps. Each element of ``partial[g]`` is the sum, in step order, of the
    step sums, each summed from zero in registers over its step's tiles in order (the first step's
    stored, the others' added from a one-tile buffer): whatever the blocks, so whatever the
    thread count. Two levels because one running sum over a group's tiles was the error's main
    part (see the module docstring: 5x5, 1152 tiles in a group, 1.3e-5 of max |dw| against
    3.2e-6), for 0-8 % more time.
    V and S live in ``work`` (threads, n^2 (ves + ses)), one row per thread of the region
    (``numba.get_thread_id``), allocated by the caller: buffers of a megabyte or more allocated
    inside the parallel region were fresh memory at every call (page faults: 0.4 ms per MB on the
    dev VM; 128 -> 128 channels 14x14 b1 took 1.1 ms instead of 0.27).
    """
    n_batch, n_out, ho, wo = dy.shape
    groups, kr, cp = partial.shape[0], partial.shape[-2], partial.shape[-1]
    nn = partial.size // (groups * kr * cp)   # n^2 transformed values per tile
    th = (ho + 1) // 2
    tw = (wo + 1) // 2
    total = n_batch * th * tw
    hq = xcl.shape[2]
    rowlen = xcl.shape[3]
    hw = ho * wo
    mr = tile_rows(xcl)
    nr = tile_cols(xcl)
    cblocks = (cp + c_block - 1) // c_block
    kblocks = (kr + k_block - 1) // k_block
    xflat = xcl.reshape(xcl.size)
    dflat = dy.reshape(dy.size)
    pflat = partial.reshape(partial.size)
    tp = per_step
    for task in prange(groups * cblocks * kblocks):
        g = task // (cblocks * kblocks)
        rest = task - g * (cblocks * kblocks)
        cb = rest // kblocks
        c0 = cb * c_block
        nc = min(channels, c0 + c_block) - c0
        ncp = min(cp, c0 + c_block) - c0
        k0 = (rest - cb * kblocks) * k_block   # S's rows k0 .. k1 - 1 (a last block's past K: row K - 1)
        k1 = min(kr, k0 + k_block)
        t_first = g * total // groups
        t_last = (g + 1) * total // groups
        mine = work[numba.get_thread_id()]
        v = mine[:nn * ves]
        s = mine[nn * ves:]
        for e in range(nn):   # columns nc .. ncp - 1 of V: zero (never written by _input_tile)
            for t in range(tp):
                row = v[e * ves + t * ncp:]
                for c in range(nc, ncp):
                    row[c] = 0
        abase = np.empty(mr, dtype=np.int64)
        aroff = np.zeros(1, dtype=np.int64)
        step_sum = np.empty(mr * nr, dtype=partial.dtype)   # one tile's sums over a step, from zero
        for t0 in range(t_first, t_last, tp):
            nt = min(tp, t_last - t0)
            for t in range(nt):
                tile = t0 + t
                n = tile // (th * tw)
                r = tile - n * (th * tw)
                ti = r // tw
                tj = r - ti * tw
                _input_tile(xflat, (n * hq + 2 * ti) * rowlen + 2 * tj * channels + c0, rowlen, channels,
                            v, t * ncp, ves, nc, partial)
            t = 0
            while t < nt:   # runs of tiles within one tile row
                tile = t0 + t
                n = tile // (th * tw)
                r = tile - n * (th * tw)
                ti = r // tw
                tj = r - ti * tw
                run = min(tw - tj, nt - t)
                below = 2 * ti + 1 < ho
                for k in range(k0, min(k1, n_out)):
                    _grad_tiles(dflat, (n * n_out + k) * hw + 2 * ti * wo + 2 * tj, wo, wo - 2 * tj, below,
                                run, s, k * tp + t, ses, partial)
                t += run
            for e in range(nn):
                for kk in range(k0, k1, mr):
                    for i in range(mr):
                        abase[i] = e * ses + min(kk + i, n_out - 1) * tp
                    for cc in range(0, ncp, nr):
                        at = ((g * nn + e) * kr + kk) * cp + c0 + cc
                        if t0 == t_first:
                            tile_fma(s, abase, aroff, 1, v[e * ves + cc:], 0, ncp, 1, nt, pflat[at:], cp, False)
                            continue
                        tile_fma(s, abase, aroff, 1, v[e * ves + cc:], 0, ncp, 1, nt, step_sum, nr, False)
                        for i in range(mr):
                            row = pflat[at + i * cp:]
                            add = step_sum[i * nr:]
                            for j in range(nr):
                                row[j] += add[j]


@parallel_kernel
def _winograd_weight_reduce(partial, dy, dw, db):
    """``dw[k, c] = G^T X G`` with ``X[i, j]`` = the sum over groups, in group order, of
    ``partial[g, n i + j, k, c]`` (partial (groups, n^2, Kr, Cp)), in float64 and rounded once;
    db[k] = sum of dy[:, k] in float64 (parallel over k), as the direct form does. dw's filter
    size (3 or 5) picks the form.

    3x3: G^T = [[1, 1/2, 1/2, 0], [0, 1/2, -1/2, 0], [0, 1/2, 1/2, 1]]: Z = G^T X (3 x 4), then
    dw = Z G, row by row: (z0 + (z1 + z2) / 2, (z1 - z2) / 2, (z1 + z2) / 2 + z3). 5x5 (G =
    diag(s) F, s = FILTER_SCALE_5X5, F = FILTER_TRANSFORM_5X5): X[i, j] times s_i s_j, then F^T .
    F, sums of integer multiples (:func:`_transform_5x5`). Parallel over blocks of REDUCE_BLOCK
    output channels; vector loops over REDUCE_C input channels at a time (float64 rows of a whole
    partial row, 4 KB apart at 512 channels, thrashed L1: 1.6x slower), each writing a contiguous
    run of REDUCE_C r^2 values of dw[k].
    """
    n_batch, n_out = dy.shape[0], dy.shape[1]
    channels, r = dw.shape[1], dw.shape[2]
    groups, nn = partial.shape[0], partial.shape[1]
    dflat = dw.reshape(dw.size)
    blocks = (n_out + REDUCE_BLOCK - 1) // REDUCE_BLOCK
    for kb in prange(blocks):
        x = np.empty((nn, REDUCE_C))
        z = np.empty((nn, REDUCE_C))
        o = np.empty((r * r, REDUCE_C))
        for k in range(kb * REDUCE_BLOCK, min(n_out, kb * REDUCE_BLOCK + REDUCE_BLOCK)):
            for c0 in range(0, channels, REDUCE_C):
                nc = min(channels, c0 + REDUCE_C) - c0
                for e in range(nn):
                    row = x[e]
                    first = partial[0, e, k, c0:]
                    for c in range(nc):
                        row[c] = first[c]
                    for g in range(1, groups):
                        prow = partial[g, e, k, c0:]
                        for c in range(nc):
                            row[c] += prow[c]
                if r == 5:
                    _transform_5x5(x, z, o, nc)
                else:
                    _transform_3x3(x, z, o, nc)
                dst = dflat[(k * channels + c0) * r * r:]
                for c in range(nc):
                    for pq in range(r * r):
                        dst[c * r * r + pq] = o[pq, c]
    spatial = dy.shape[2] * dy.shape[3]
    dyf = dy.reshape(n_batch, n_out, spatial)
    for k in prange(n_out):
        db[k] = _channel_sum(dyf, np.int64(k))   # (prange's index is uint64 in the gufunc: a second signature)


@accumulator_kernel
def _transform_3x3(x, z, o, nc):
    """o (9, nc) = G^T X G for the 4 x 4 values X (16, nc) of F(3x3, 2x2); z (12+, nc) scratch."""
    for j in range(4):   # Z = G^T X
        x0 = x[j]
        x1 = x[4 + j]
        x2 = x[8 + j]
        x3 = x[12 + j]
        z0 = z[j]
        z1 = z[4 + j]
        z2 = z[8 + j]
        for c in range(nc):
            z0[c] = x0[c] + 0.5 * (x1[c] + x2[c])
            z1[c] = 0.5 * (x1[c] - x2[c])
            z2[c] = 0.5 * (x1[c] + x2[c]) + x3[c]
    for p in range(3):   # dw = Z G
        a0 = z[4 * p]
        a1 = z[4 * p + 1]
        a2 = z[4 * p + 2]
        a3 = z[4 * p + 3]
        o0 = o[3 * p]
        o1 = o[3 * p + 1]
        o2 = o[3 * p + 2]
        for c in range(nc):
            o0[c] = a0[c] + 0.5 * (a1[c] + a2[c])
            o1[c] = 0.5 * (a1[c] - a2[c])
            o2[c] = 0.5 * (a1[c] + a2[c]) + a3[c]


_F5 = np.array(FILTER_TRANSFORM_5X5, dtype=np.float64)   # (6, 5)
_S5 = np.array(FILTER_SCALE_5X5, dtype=np.float64)


@accumulator_kernel
def _transform_5x5(x, z, o, nc):
    """o (25, nc) = G^T X G for the 6 x 6 values X (36, nc) of F(5x5, 2x2), G = diag(s) F: X[i, j]
    times s_i s_j in place, Z = F^T X (5 x 6, in z), then o = Z F; F's zero entries skipped."""
    for i in range(6):
        for j in range(6):
            scale = _S5[i] * _S5[j]
            row = x[6 * i + j]
            for c in range(nc):
                row[c] *= scale
    for p in range(5):
        for j in range(6):
            _combine_rows(z[6 * p + j], x, j, 6, _F5[:, p], nc)   # Z[p, j] = sum_i F[i, p] X[i, j]
    for p in range(5):
        for q in range(5):
            _combine_rows(o[5 * p + q], z, 6 * p, 1, _F5[:, q], nc)   # o[p, q] = sum_j Z[p, j] F[j, q]


@accumulator_kernel
def _combine_rows(dst, src, first, stride, coefficients, nc):
    """``dst[:nc] = sum_i coefficients[i] * src[first + i * stride, :nc]``, zero coefficients skipped."""
    for c in range(nc):
        dst[c] = 0.0
    for i in range(coefficients.size):
        f = coefficients[i]
        if f != 0.0:
            row = src[first + i * stride]
            for c in range(nc):
                dst[c] += f * row[c]


def conv2d_backward_weight_winograd(x, dy, dw, db, ph, pw):
    """dw[k, c, p, q] = sum_{n,i,j} dy[n, k, i, j] * xpad[n, c, i + p, j + q] (r x r filters, r =
    3 or 5, stride 1) and db[k] = sum of dy[:, k], by Winograd F(3x3, 2x2) or F(5x5, 2x2) (see the
    module docstring).

    x : (N, C, H, W), dy : (N, K, Ho, Wo) with Ho = H + 2 ph - r + 1, Wo = W + 2 pw - r + 1, dw :
    (K, C, r, r), db : (K,), both written in full; all C-contiguous, one dtype (float32 or
    float64); shapes validated by the caller. Any padding ph, pw >= 0. Extra memory: see the
    module docstring.
    """
    n_batch, channels, h, wd = x.shape
    n_out, ho, wo = dy.shape[1], dy.shape[2], dy.shape[3]
    r = dw.shape[2]
    n = r + 1   # the input windows are n x n
    hq = 2 * ((ho + 1) // 2) + r - 1
    wq = 2 * ((wo + 1) // 2) + r - 1
    mr, nr = tile_shape(x.dtype)
    xcl = _pad_channels_last(x.reshape(n_batch, channels, 1, h, wd), 0, ph, pw, 0, hq - h - 2 * ph,
                             wq - wd - 2 * pw, channels)
    threads = numba.get_num_threads()
    groups, step, c_block, k_block = weight_split(n_batch, ho, wo, channels, n_out, x.dtype.itemsize, mr, nr,
                                                  threads, taps=r)
    tiles = n_batch * ((ho + 1) // 2) * ((wo + 1) // 2)
    step = min(step, -(-tiles // groups))   # no longer than the longest group
    # per-e blocks a multiple of 1024 values plus 64, as in the forward (cache sets)
    ves = _round_up(step * c_block, 1024) + 64
    ses = _round_up(n_out * step, 1024) + 64
    work = np.empty((threads, n * n * (ves + ses)), dtype=x.dtype)
    kr, cp = _round_up(n_out, mr), _round_up(channels, nr)
    # the partial sums' type picks the form: (groups, 16, Kr, Cp) for 3x3, (groups, 6, 6, Kr, Cp) for 5x5
    partial = np.empty((groups, 16, kr, cp) if r == 3 else (groups, 6, 6, kr, cp), dtype=x.dtype)
    _winograd_weight_chunks(xcl, channels, dy, partial, step, c_block, k_block, work, ves, ses)
    _winograd_weight_reduce(partial.reshape(groups, n * n, kr, cp), dy, dw, db)

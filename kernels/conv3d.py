"""Direct 3-D convolution kernels (cross-correlation, PyTorch NCDHW layout), forward and backward.

This module holds the one convolution core of fastnet; :mod:`fastnet.kernels.conv2d` runs the same
kernels on depth-1 views, so there is a single code path to optimise and test.

Design: register tiles over output positions and channels
---------------------------------------------------------
No im2col matrix is built, not even per chunk. The input is padded physically once,
channels-last (N, Dp, Hp, Wp*C), and the weights are packed once into a matrix whose rows are the
filter taps in (a, b, e, c) order and whose columns are the output channels (K padded to Kp, a
multiple of NR), stored panel by panel so that the NR columns a tile reads are one contiguous run
(with rows Kp apart, a 256-channel 5x5 layer's panel of 1,280 rows lost 17-20% to L2 set
conflicts with AVX2 code): :mod:`fastnet.kernels.conv_layout`, by W x W blocks transposed in
vector registers (:mod:`fastnet.kernels.transpose`). Every pass is then a sequence
of calls to :func:`~fastnet.kernels.microkernel.tile_fma`, which keeps an MR x NR block of results
in vector registers for a whole reduction (MR = 8 positions x NR = 32 channels with float32 on
AVX-512, 6 x 16 on AVX2):

* **forward** (:func:`_forward_tiles`): a tile is MR output positions, any of them (consecutive
  in (n, d, h, w) order, across rows and images, so no row length is rounded up; for long
  filter rows grouped by how their windows meet the padding,
  :func:`~fastnet.kernels.conv_plan.position_order`) x NR output channels. Its reduction runs
  over the filter in place: outer steps the FD*FH filter rows (an offset each), inner steps the
  FW*C contiguous values of one channels-last row of each position's window, against NR
  contiguous packed weights per step; a tile skips the filter rows and the ends of filter rows
  that meet only padding for all its positions. Work units are blocks of at most 96 positions x
  a group of weight panels, each thread a contiguous run of units cut for equal work
  (:mod:`~fastnet.kernels.conv_plan`); per unit each NR-column panel of the weights meets every
  tile of the block, in reduction slices of a few filter rows where a panel is large (it then
  stays in L2), then the block is transposed into NCDHW rows (plus the bias): by W x W tiles in
  vector registers (:func:`~fastnet.kernels.transpose.transpose_tile`) where W positions lie side
  by side in an output row or plane (not dx's residue classes, whose values land s apart), else
  value by value.
  The scalar transpose read the block a column at a time and was 10% of ResNet stride 2's forward
  (64 channels, 3 x 3: few multiplies per output); with the tiles the micro-kernel's loop is 96%
  of the samples (``perf``, one core).
  On one Zen 4 core (AVX-512), float32: 100-112 GFLOP/s of the core's 117 (VGG 3x3, AlexNet
  conv2, ResNet stride 2, 256 -> 256 at 14x14); the dot-product core it replaced reached 71-85.
* **backward-input** has two forms (:func:`conv3d_backward_input` picks one by the work each
  does; both tested): the gather form is the forward pass again: for stride 1 a correlation of
  ``dy`` (padded by F - 1) with the flipped, transposed weights; for stride > 1 the input
  positions split into ``sd * sh * sw`` residue classes, each a stride-1 correlation with a
  sub-filter whose outputs land ``s`` apart. The scatter (col2im) form computes each output
  position's patch gradient (tiles of MR positions x NR patch columns, reduced over K, dy read
  in place) and adds it into a padded channels-last gradient per image: no work on padding, and
  no output channels rounded up to NR (AlexNet conv1 and conv2, LeNet, few channels).
* **backward-weight** (:func:`~fastnet.kernels.conv_weight.conv3d_backward_weight`, in its own
  module): tiles of MR filter taps (rows of the
  packed matrix: any taps, read in place at their offsets in the padded input) x NR output
  channels, reduced over output positions: outer steps the output rows of a block, inner steps
  the positions of a row; dy is copied once channels-last (with a pitch of Kp). The output rows
  are split into chunks by the shapes alone (at most WEIGHT_CHUNKS and PARTIAL_BYTES of private
  (Lp, Kp) sums), reduced at the end in chunk order; threads share a chunk's taps where chunks
  are few (with one chunk, x read in place, each task transposes its channels' sums into dw
  itself, from a private buffer). A tile skips the output rows and row ends whose windows
  meet only padding at all its taps. No position is a dummy, so a NaN or infinity in x reaches
  exactly the weights whose windows see it.

Padding is not data: the products a tile skips are those with a padding zero, so they change no
sum of finite values (tested bit for bit), and an infinity or NaN in w (forward) or dy (weight
gradient) does not reach the outputs that would see it only through a padding zero (0 * inf);
which products a sum skips is fixed by the shapes.

Every output element is the sum of its products in one fixed order: the micro-kernel's steps,
slices and blocks continuing one running sum (stored and reloaded unrounded), chunks fixed by the
shapes. So results are bitwise identical across runs and thread counts (tested), although the
forward units and the weight gradient's tap groups are sized by the thread count.

The forms are plain Python drivers (small NumPy set-up) that call one compiled parallel helper per
parallel region: Numba re-optimises and re-emits the machine code of every compiled callee inside
each compiled caller, so a compiled driver would cost its helpers' compile time a second time,
and a compiled dispatcher compiles every form it may call at its first call, a Python one only
those a model uses; :func:`fastnet.compile` warms them all.
"""

import functools

import numba
import numpy as np
from numba import prange

from ._config import parallel_kernel, serial_kernel
from .conv_layout import (_class_matrix, _pack_patch_weights, _pack_residue_weights, _pack_weights, _pad_channels_last,
                          residue_layout)
from .conv_lanes import conv_lanes_forward, lanes_fit
from .conv_plan import PLANS_KEPT, forward_plan
from .microkernel import (narrow_fits, shaped_tile_fma, tile_cols, tile_fma, tile_rows, tile_shape,
                          vector_lanes)
from .transpose import transpose_tile

SCATTER_WASTE = 1.3     # backward-input: col2im form where the gather form's work / the useful
SCATTER_MIN_BATCH = 8   # work is at least this, with at least this many images (parallel over them),
SCATTER_WASTE_ANY_BATCH = 2.0   # ... or at least this much, whatever the batch
# backward-input, col2im form: about this many output positions (whole rows) per pass over the
# weight panels. 2 threads, float32, 2026-12-05, ms at one row / 192 positions, AVX-512 | AVX2:
# AlexNet conv2 (23 a row) 25.4 / 24.6-24.9 | 31.0 / 29.5; LeNet C3 (10) 0.38 / 0.29-0.30 | 0.33 /
# 0.29-0.30; 16 channels 3x3 at 28x28 b32 1.05 / 0.97-1.01 | 1.02 / 0.98-0.99; 384 and 768 the same.
SCATTER_POSITIONS = 192
# backward-input, col2im form: with at least this many output channels K, each group's dy is first
# transposed to one row of K values per position (the micro-kernel's A operand read along rows)
# instead of read in place, where a tile's K steps touch K cache lines (256 lines and the 16 KB
# weight panel overflowed Zen 3's 32 KB L1). Zen 3 (AVX2), float32, 2026-12-07, in place / packed,
# one thread | two: AlexNet conv2 (K = 256) b8 1.12-1.19 | 1.07-1.30 times as fast, b4 1.10-1.14 |
# 1.14-1.23; 128 -> 128 3x3 13x13 b8 0.98-1.00 | 1.05-1.15; other K = 256 layers 0.89-1.06 | 1.06-1.17;
# K = 64 and 96 (the ResNet stem, AlexNet conv1, 24 -> 96 3x3) 0.83-1.17, within the noise: left in
# place. Not measured on AVX-512.
SCATTER_PACK_MIN_K = 128


@serial_kernel
def _round_up(n, m):
    """n rounded up to a multiple of m (called by the kernels and by the Python drivers)."""
    return (n + m - 1) // m * m


@serial_kernel
def _channel_sum(dyf, k):
    """The bias gradient of output channel k: the sum of dyf[:, k] (dyf: dy as (N, K, positions)),
    in float64, image by image, each row in order; every weight-gradient form sums db this way."""
    total = 0.0
    for n in range(dyf.shape[0]):
        row = dyf[n, k]
        for l in range(dyf.shape[2]):
            total += row[l]
    return total


@serial_kernel
def _position_at(p, nd, nh, nw):
    """(n, i, j, l) of output position p in (image, depth, row, column) order over an
    (nd, nh, nw) grid of positions per image."""
    l = p % nw
    rest = p // nw
    j = rest % nh
    rest = rest // nh
    return rest // nd, rest % nd, j, l


@parallel_kernel
def _forward_tiles(xin, channels, wt, bias, out, geom, valid, order, taps_d, taps_h, taps_w, narrow, block,
                   panels, rows_per_slice, bounds):
    """The forward core: a correlation of ``xin`` with the packed weights ``wt``, into ``out``.

    xin : (N, Di, Hi, Wi * C), channels-last (:mod:`~fastnet.kernels.conv_layout`, pitch C),
        padded so that every read is in range.
    wt : (Kp / NR, taps_d * taps_h * taps_w * C, NR), packed panel by panel
        (:mod:`~fastnet.kernels.conv_layout`).
    bias : (K,), added to every output (K = out.shape[1] <= Kp).
    out : (N, K, Do, Ho, Wo), written at the positions selected by ``geom``.
    geom : int64 (3, 6), one row per spatial dim: (in_step, in_offset, q0, count, out_step,
        out_offset). Output index q runs over q0 .. q0 + count - 1; it reads the input window that
        starts at ``q * in_step + in_offset`` and writes ``out`` at ``q * out_step + out_offset``.
    valid : int64 (3, 2), the rows [lo, hi) of xin along D and along H, and the columns along W,
        that hold data (the rest is zero padding): a tile skips the filter rows, and the filter
        columns, that meet padding for all its positions.
    order : int64 (N * Do' * Ho' * Wo',) the output positions (flat (n, d, h, w) indices of the
        ``geom`` grid) in the order the tiles take them
        (:func:`~fastnet.kernels.conv_plan.position_order`), or empty: (n, d, h, w) order.
    narrow : bool, the tile shape (:func:`~fastnet.kernels.microkernel.tile_shape`; Kp a multiple
        of its NR).
    block, panels, rows_per_slice, bounds : the work split
        (:func:`~fastnet.kernels.conv_plan.forward_split`): a unit is ``block`` positions (a
        multiple of MR) x ``panels`` NR-column panels of the weights, units taken block by block;
        part t of the parallel loop (a thread) runs units ``bounds[t] .. bounds[t + 1] - 1``.

    Tiles are the positions MR * t .. MR * t + MR - 1 of ``order`` whatever the split, so which
    filter taps a position's sum skips is fixed by the shapes.
    Extra memory: per thread a (block, panels * NR) result block, reused by its units, and
    the block's position offsets.
    """
    mr = tile_rows(xin, narrow)
    width = panels * tile_cols(xin, narrow)
    hi, wic = xin.shape[2], xin.shape[3]
    # outer steps of the reduction: the filter rows (a, b), each an offset into the window
    row_offsets = np.empty(taps_d * taps_h, dtype=np.int64)
    for a in range(taps_d):
        for b in range(taps_h):
            row_offsets[a * taps_h + b] = (a * hi + b) * wic
    most = (block + mr - 1) // mr   # tiles per unit at most
    flats = (xin.reshape(xin.size), wt.reshape(wt.size), out.reshape(out.size))
    for part in prange(bounds.size - 1):
        # one set of buffers per thread, reused by its units (allocating them per unit was up to 7%
        # of a 16-channel layer's forward: 5 allocations per 6 tiles)
        starts = np.empty(most * mr, dtype=np.int64)   # each position's window in xin
        # per tile, the filter taps that meet data for some position: a in [a_lo, a_hi), b and e likewise
        reach = np.empty((most, 6), dtype=np.int64)
        acc = np.empty(most * mr * width, dtype=out.dtype)
        started = np.empty(most, dtype=np.bool_)
        tile_rows_at = np.empty(vector_lanes(xin), dtype=np.int64)
        for unit in range(bounds[part], bounds[part + 1]):
            _forward_unit(xin, channels, wt, bias, out, geom, valid, order, taps_d, taps_h, taps_w, narrow, block,
                          panels, row_offsets, rows_per_slice, flats, unit, starts, reach, acc, started,
                          tile_rows_at)


@serial_kernel
def _forward_unit(xin, channels, wt, bias, out, geom, valid, order, taps_d, taps_h, taps_w, narrow, block, panels,
                  row_offsets, rows_per_slice, flats, unit, starts, reach, acc, started, tile_rows_at):
    """Work unit ``unit`` of :func:`_forward_tiles` (its arguments of the same names; the rest
    are its per-thread buffers): a block of positions x a group of weight panels, from the
    positions' windows to the results in ``out``. A serial helper, so that the parallel kernel is
    a small loop: with this body inside its parallel loop Numba compiled the kernel in 6.2-6.6 s,
    now 4.4-4.8 (its passes over the parallel loop's body 3.4 -> 1.6 s, LLVM's 2.9 s either way;
    Zen 4, float32, 2026-12-07), the largest of the README's main job's 40-47 s of kernels. The
    run time is the same (LeNet C3's forward kernel 162-168 / 163-169 us, the flat views taken
    once per call: a reshape per unit cost 2-3%). The same split of the weight gradient's
    ``_weight_tiles`` compiled 1.1 s slower and was not kept."""
    mr = tile_rows(xin, narrow)
    nr = tile_cols(xin, narrow)
    n_batch, di, hi, wic = xin.shape
    n_out = out.shape[1]
    kp = wt.shape[0] * nr
    panel_size = wt.shape[1] * nr
    sd, od, qd0, nd = geom[0, 0], geom[0, 1], geom[0, 2], geom[0, 3]
    osd, ood = geom[0, 4], geom[0, 5]
    sh, oh, qh0, nh = geom[1, 0], geom[1, 1], geom[1, 2], geom[1, 3]
    osh, ooh = geom[1, 4], geom[1, 5]
    sw, ow, qw0, nw = geom[2, 0], geom[2, 1], geom[2, 2], geom[2, 3]
    osw, oow = geom[2, 4], geom[2, 5]
    total = n_batch * nd * nh * nw
    ordered = order.size > 0
    # the positions are the whole output grid in order (the forward pass; dx at stride 1): the
    # results of consecutive positions of one image land side by side in each output plane
    spatial = nd * nh * nw
    dense = (not ordered and out.shape[2] == nd and out.shape[3] == nh and out.shape[4] == nw
             and osd == 1 and osh == 1 and osw == 1 and qd0 + ood == 0 and qh0 + ooh == 0 and qw0 + oow == 0)
    lanes = vector_lanes(xin)
    xflat, wflat, outflat = flats   # xin, wt and out flat
    span = taps_w * channels   # inner steps: one contiguous channels-last run per filter row
    filter_rows = taps_d * taps_h
    groups = (kp // nr + panels - 1) // panels
    width = panels * nr
    p0 = (unit // groups) * block
    k_first = (unit - (unit // groups) * groups) * width
    k_last = min(kp, k_first + width)
    count = min(total, p0 + block) - p0
    tiles = (count + mr - 1) // mr
    for t in range(tiles):
        reach[t, 0] = di
        reach[t, 1] = -1
        reach[t, 2] = hi
        reach[t, 3] = -1
        reach[t, 4] = wic
        reach[t, 5] = -1
    q = 0
    while q < tiles * mr:   # by runs along w (a division per run, not per position)
        i = min(p0 + q, total - 1)
        p = order[i] if ordered else i
        n, id_, ih, iw = _position_at(p, nd, nh, nw)
        d0 = (qd0 + id_) * sd + od
        h0 = (qh0 + ih) * sh + oh
        w0 = (qw0 + iw) * sw + ow
        base = ((n * di + d0) * hi + h0) * wic + w0 * channels
        step = sw
        run = min(nw - iw, tiles * mr - q)
        if p0 + q >= total - 1:   # a short last tile repeats the last position
            step = 0
            run = tiles * mr - q
        elif ordered:   # a run ends where the order leaves the row
            run = min(run, total - i)
            j = 1
            while j < run and order[i + j] == p + j:
                j += 1
            run = j
        for j in range(run):
            starts[q + j] = base + j * step * channels
        for t in range(q // mr, (q + run - 1) // mr + 1):
            reach[t, 0] = min(reach[t, 0], d0)
            reach[t, 1] = max(reach[t, 1], d0)
            reach[t, 2] = min(reach[t, 2], h0)
            reach[t, 3] = max(reach[t, 3], h0)
            reach[t, 4] = min(reach[t, 4], w0 + (max(q, t * mr) - q) * step)
            reach[t, 5] = max(reach[t, 5], w0 + (min(q + run, t * mr + mr) - 1 - q) * step)
        q += run
    for t in range(tiles):
        d_min, d_max, h_min, h_max = reach[t, 0], reach[t, 1], reach[t, 2], reach[t, 3]
        w_min, w_max = reach[t, 4], reach[t, 5]
        reach[t, 0] = max(0, valid[0, 0] - d_max)
        reach[t, 1] = min(taps_d, valid[0, 1] - d_min)
        reach[t, 2] = max(0, valid[1, 0] - h_max)
        reach[t, 3] = min(taps_h, valid[1, 1] - h_min)
        reach[t, 4] = max(0, valid[2, 0] - w_max) * channels   # the inner steps [j_lo, j_hi)
        reach[t, 5] = min(taps_w, valid[2, 1] - w_min) * channels
    for t in range(tiles):
        started[t] = False
    for r0 in range(0, filter_rows, rows_per_slice):
        r1 = min(filter_rows, r0 + rows_per_slice)
        for k0 in range(k_first, k_last, nr):
            for t in range(tiles):
                written = started[t]
                j_lo, j_hi = reach[t, 4], reach[t, 5]
                for a in range(reach[t, 0], reach[t, 1]):   # runs of filter rows of this slice
                    lo = max(r0, a * taps_h + reach[t, 2])
                    hi_row = min(r1, a * taps_h + reach[t, 3])
                    if lo < hi_row and j_lo < j_hi:
                        shaped_tile_fma(xflat[j_lo:], starts[t * mr:], row_offsets[lo:], 1,
                                        wflat[(k0 // nr) * panel_size + (lo * span + j_lo) * nr:],
                                        span * nr, nr, hi_row - lo, j_hi - j_lo,
                                        acc[t * mr * width + k0 - k_first:], width, written, narrow)
                        written = True
        for t in range(tiles):
            for a in range(reach[t, 0], reach[t, 1]):
                if (max(r0, a * taps_h + reach[t, 2]) < min(r1, a * taps_h + reach[t, 3])
                        and reach[t, 4] < reach[t, 5]):
                    started[t] = True
    # no data in any window of the tile (or no taps): zeros (a loop, not another copy of the
    # micro-kernel: each inlined copy costs compile time)
    for t in range(tiles):
        if not started[t]:
            acc[t * mr * width:(t + 1) * mr * width] = 0
    # the result block into NCDHW rows: the bias first, in one contiguous pass over acc (the
    # same single addition per output), then W x W tiles (W positions x W channels)
    # transposed in registers, the rest value by value
    k_stop = min(n_out, k_last)
    k_tiles = (k_stop - k_first + lanes - 1) // lanes if k_stop - k_first >= lanes else 0
    u_width = np.uint64(width)
    own_bias = bias[k_first:k_stop]
    for q in range(count):
        row = acc[q * width:]
        for k in range(k_stop - k_first):
            row[k] += own_bias[k]
    q = 0
    while q < count:
        i = p0 + q
        if dense:   # whole spans of each image's (Do, Ho, Wo) plane, in order
            n = i // spatial
            local = i - n * spatial
            run = min(spatial - local, count - q)
            plane_step = spatial   # between the planes of consecutive channels k
            step = 1               # between consecutive positions of the run
        else:   # runs along w (in order, or ``s`` apart: dx's residue classes)
            p = order[i] if ordered else i
            n, id_, ih, iw = _position_at(p, nd, nh, nw)
            run = min(nw - iw, count - q)
            if ordered:
                j = 1
                while j < run and order[i + j] == p + j:
                    j += 1
                run = j
            plane_step = out.shape[2] * out.shape[3] * out.shape[4]
            row_at = ((qd0 + id_) * osd + ood) * out.shape[3] + (qh0 + ih) * osh + ooh
            local = row_at * out.shape[4] + (qw0 + iw) * osw + oow
            step = osw
        # tiles where there are W positions (side by side: not dx's residue classes, whose
        # values land ``s`` apart) and W channels, the last ones overlapping the ones before
        # (rewriting a few values), else value by value
        j_tiles = (run + lanes - 1) // lanes if run >= lanes and step == 1 else 0
        for kt in range(k_tiles if j_tiles > 0 else 0):
            k0 = min(k_first + kt * lanes, k_stop - lanes)
            for c in range(lanes):
                tile_rows_at[c] = (n * n_out + k0 + c) * plane_step + local
            for jt in range(j_tiles):
                j0 = min(jt * lanes, run - lanes)
                transpose_tile(acc[(q + j0) * width + k0 - k_first:], width, outflat[j0:],
                               tile_rows_at)
        if j_tiles == 0 or k_tiles == 0:
            # unsigned counts, so that LLVM drops the negative-index wraparound code, which
            # was 4 of the ~10 instructions per value (int64 + uint64 is float64 in Numba)
            u_run = np.uint64(run)
            u_step = np.uint64(step)
            for k in range(k_first, k_stop):
                dst = outflat[(n * n_out + k) * plane_step + local:]
                src = acc[q * width + k - k_first:]
                for j in range(u_run):
                    dst[j * u_step] = src[j * u_width]
        q += run


def conv3d_forward(x, w, b, y, sd, sh, sw, pd, ph, pw, lanes=None):
    """y[n, k, i, j, l] = b[k] + sum_{c,a,p,q} w[k, c, a, p, q] * xpad[n, c, i*sd + a, j*sh + p, l*sw + q].

    x : (N, C, D, H, W), w : (K, C, FD, FH, FW), b : (K,), y : (N, K, Do, Ho, Wo) written in full.
    All C-contiguous, one dtype; shapes already validated by the wrapper.
    Layers of few input channels (an image network's first layer) take the form with
    output positions in vector lanes (:mod:`fastnet.kernels.conv_lanes`) where
    :func:`~fastnet.kernels.conv_lanes.lanes_fit` says so; ``lanes`` True / False forces that
    form / the core (tests, measurements; True needs Wo >= the vector lanes).
    Extra memory (the core): the padded channels-last input, the FD*FH*FW*C x Kp packed weights
    (Kp = K rounded up to NR) and, per work unit in flight, a block of at most
    (:data:`~fastnet.kernels.conv_plan.POSITIONS_TARGET`, Kp) values.
    """
    n_out, channels, fd, fh, fw = w.shape
    if lanes if lanes is not None else lanes_fit(channels, fd * fh * fw, sw, y.shape[4], w.dtype):
        conv_lanes_forward(x, w, b, y, sd, sh, sw, pd, ph, pw)
        return
    narrow = narrow_fits(n_out, w.dtype)
    nr = tile_shape(w.dtype, narrow)[1]
    kp = _round_up(n_out, nr)
    wt = _pack_weights(w, False, 0, 0, 0, 1, 1, 1, fd, fh, fw, kp, nr)
    xp = _pad_channels_last(x, pd, ph, pw, 0, 0, 0, channels)
    geom, valid, order, split = _forward_setup(x.shape, y.shape, (sd, sh, sw), (pd, ph, pw), (fd, fh, fw), kp,
                                               w.dtype.str, narrow, numba.get_num_threads())
    _forward_tiles(xp, channels, wt, b, y, geom, valid, order, fd, fh, fw, narrow, *split)


@functools.lru_cache(maxsize=PLANS_KEPT)
def _forward_setup(in_shape, out_shape, strides, pads, taps, kp, dtype, narrow, threads):
    """(geom, valid, order, split) of :func:`_forward_tiles` for a forward pass, kept per shape
    and thread count (shared, read only): one lookup per call (the geometry and the plan looked
    up apart took 3 us, a tenth of a small layer's fixed cost)."""
    geom = np.zeros((3, 6), dtype=np.int64)
    geom[:, 0] = strides
    geom[:, 3] = out_shape[2:]
    geom[:, 4] = 1
    valid = np.array([[p, p + n] for p, n in zip(pads, in_shape[2:])], dtype=np.int64)
    order, split = forward_plan(geom, valid, taps, in_shape[0], kp, in_shape[1], np.dtype(dtype), narrow, threads)
    return geom, valid, order, split


def conv3d_backward_input(dy, w, dx, sd, sh, sw, pd, ph, pw):
    """dx = gradient of sum(y * dy) with respect to x, for y = conv3d(x, w, stride, padding).

    dy : (N, K, Do, Ho, Wo), w : (K, C, FD, FH, FW), dx : (N, C, D, H, W) written in full; all
    C-contiguous, one dtype. Two forms, same result up to rounding (both are tested directly):
    :func:`_backward_input_gather` (residue classes, parallel over positions) and
    :func:`_backward_input_scatter` (col2im, reductions of length K, parallel over the batch). The
    gather form computes every input position from a zero-padded dy with C rounded up to NR
    output channels; where that is SCATTER_WASTE times the useful work or more (batch >=
    SCATTER_MIN_BATCH), or SCATTER_WASTE_ANY_BATCH times, the scatter form is taken. Measured on
    one Zen 4 core (AVX-512, float32, 2026-12-05), gather / scatter ms: AlexNet conv2 (waste 1.38)
    65.5 / 51.6, AlexNet conv1 (C = 3) 184 / 19.5, 16 channels 3x3 (waste 2) 0.65 / 0.55, LeNet C3
    0.39 / 0.10; waste 1: VGG 3x3 20.3 / 20.8, 256 -> 256 at 14x14 18.7 / 20.7, C3D 13.8 / 16.5,
    stride 2 (ResNet, 256 channels, volumetric) 0.96-1.05 times. On Zen 3 (AVX2, 2026-12-07, the
    scatter reading dy packed from K = 128), AlexNet conv2 one thread 67.6 / 71.0, two 42.8 / 40.7;
    64 -> 64 5x5 at 16x16 b16 (waste 1.78) 8.9 / 7.0 | 5.2 / 4.0.
    A plain Python dispatcher (see the module docstring): a model compiles only the forms it uses.
    """
    n_batch, channels = dy.shape[0], w.shape[1]
    inputs = dx.shape[2] * dx.shape[3] * dx.shape[4]
    outputs = dy.shape[2] * dy.shape[3] * dy.shape[4]
    padded = _round_up(channels, tile_shape(dx.dtype, narrow_fits(channels, dx.dtype))[1])
    waste = inputs * padded / (sd * sh * sw * outputs * channels)
    if waste >= SCATTER_WASTE_ANY_BATCH or (waste >= SCATTER_WASTE and n_batch >= SCATTER_MIN_BATCH):
        _backward_input_scatter(dy, w, dx, sd, sh, sw, pd, ph, pw)
    else:
        _backward_input_gather(dy, w, dx, sd, sh, sw, pd, ph, pw)


def _backward_input_gather(dy, w, dx, sd, sh, sw, pd, ph, pw):
    """conv3d_backward_input as a forward correlation of dy (same arguments).

    Input position i (padded coordinates) = q * s + r splits into s residue classes r per dim; the
    class r sees the taps r, r + s, r + 2s, ... and is a dense stride-1 correlation of the padded dy
    with those taps flipped: ``dx[q*s + r - p] = sum_t w[r + t*s] * dy[q - t]``, computed by the
    forward core :func:`_forward_tiles`. Extra memory: dy padded by ceil(F/s) - 1 per side (plus a
    tail), channels-last; one packed taps * K x round_NR(C) weight matrix per residue class.
    """
    n_out, channels = w.shape[0], w.shape[1]
    narrow = narrow_fits(channels, dx.dtype)
    nr = tile_shape(dx.dtype, narrow)[1]
    cp = _round_up(channels, nr)
    pads, valid, zero_bias, runs = _gather_plan(dy.shape, w.shape, dx.shape[2:], (sd, sh, sw), (pd, ph, pw),
                                                cp, np.dtype(dx.dtype).str, narrow, numba.get_num_threads())
    dyp = _pad_channels_last(dy, *pads, n_out)
    wt_all, _ = _pack_residue_weights(w, sd, sh, sw, cp, nr)
    for taps, first, geom, order, split in runs:
        wt = _class_matrix(wt_all, (taps, first), n_out, cp, nr)
        _forward_tiles(dyp, n_out, wt, zero_bias, dx, geom, valid, order, *taps, narrow, *split)


@functools.lru_cache(maxsize=PLANS_KEPT)
def _gather_plan(dy_shape, w_shape, in_shape, strides, pads, cp, dtype, narrow, threads):
    """The shape arithmetic of :func:`_backward_input_gather`, kept per shape and thread count (an
    LRU cache: tens of microseconds of Python a call for a small strided layer): (dy's padding and
    tail, six ints; ``valid``; a zero bias; per residue class with outputs, (taps, first slot,
    geom, and the position order and work split of :func:`_forward_tiles`)). The arrays are shared
    between calls, read only."""
    out_shape = dy_shape[2:]
    do, ho, wo = out_shape
    fd, fh, fw = w_shape[2:]
    depth, height, width = in_shape
    sd, sh, sw = strides
    pd, ph, pw = pads
    # common padding of dy: the largest residue class has ceil(F / s) taps
    md = (fd + sd - 1) // sd - 1
    mh = (fh + sh - 1) // sh - 1
    mw = (fw + sw - 1) // sw - 1
    # tail so that the last q of every class reads in range: q_max + m + 1 <= padded length
    td = max(0, (depth - 1 + pd) // sd + 1 - do - md)
    th = max(0, (height - 1 + ph) // sh + 1 - ho - mh)
    tw = max(0, (width - 1 + pw) // sw + 1 - wo - mw)
    valid = np.array([[md, md + do], [mh, mh + ho], [mw, mw + wo]], dtype=np.int64)
    _, _, classes = residue_layout(w_shape[0], (fd, fh, fw), strides, cp)
    runs = []
    for rd, rh, rw in np.ndindex(sd, sh, sw):
        # a class without taps (stride > filter size) correlates with no taps: its dx is zeros
        taps, first = classes.get((rd, rh, rw), ((0, 0, 0), 0))
        # per dim: q from ceil((p - r) / s) to floor((size - 1 + p - r) / s)
        geom = np.zeros((3, 6), dtype=np.int64)
        ok = True
        for dim, (s, p, r, size, m) in enumerate(((sd, pd, rd, depth, md), (sh, ph, rh, height, mh),
                                                  (sw, pw, rw, width, mw))):
            q0 = max(0, (p - r + s - 1) // s)
            q1 = (size - 1 + p - r) // s   # may be < q0: class empty
            ok = ok and q1 >= q0
            geom[dim] = (1, m - taps[dim] + 1 if taps[dim] > 0 else 0, q0, q1 - q0 + 1, s, r - p)
        if ok:
            order, split = forward_plan(geom, valid, taps, dy_shape[0], cp, w_shape[0], np.dtype(dtype), narrow,
                                        threads)
            runs.append((taps, first, geom, order, split))
    return (md, mh, mw, td, th, tw), valid, np.zeros(w_shape[1], dtype=dtype), tuple(runs)


def _backward_input_scatter(dy, w, dx, sd, sh, sw, pd, ph, pw):
    """conv3d_backward_input in the col2im form (same arguments).

    Per group of R output rows (n, i, j..j+R-1), R = SCATTER_POSITIONS // Wo (at least 1): the
    gradient of each position's patch, ``dpatch[l, (a,b,e,c)] = sum_k dy[n, k, i, j, l] * w[k, c,
    a, b, e]`` (tiles of MR positions x NR patch columns, each panel of the weights passing once
    per group; dy read in place, or from K >= SCATTER_PACK_MIN_K transposed first to a row of K
    values per position), then added into a padded channels-last gradient of x[n], one
    contiguous run of FW*C values per (position, a, b). Parallel over the batch: each n owns
    dx[n], positions are added in (i, j, l) order (deterministic; the same sums whatever R, packed
    or not).
    Extra memory: the K x Lp packed weights (Lp = C*FD*FH*FW rounded up to NR) and, per image in
    flight (one per thread), a padded channels-last (D+2pd, H+2ph, (W+2pw)*C) gradient, a
    (round_MR(R*Wo), Lp) block of patch gradients and, packed, a (round_MR(R*Wo), K) copy of dy.
    """
    n_out, channels, fd, fh, fw = w.shape
    nr = tile_shape(w.dtype)[1]
    # panel by panel: the K x NR values a tile reduces over are contiguous (rows lp apart, they
    # were a page or more apart for every step)
    panels = _pack_patch_weights(w, _round_up(fd * fh * fw * channels, nr), nr)
    rows_per_group = max(1, min(dy.shape[3], SCATTER_POSITIONS // dy.shape[4]))
    _scatter_tiles(dy, panels, dx, fd, fh, fw, sd, sh, sw, pd, ph, pw, rows_per_group,
                   n_out >= SCATTER_PACK_MIN_K)


@serial_kernel
def _positions_first(dyn, spatial, first, count, rows, dyt, rows_at):
    """dyt[q * K + k] = dyn[k * spatial + first + min(q, count - 1)] for q < rows, k < K: a run of
    ``count`` positions of dy[n] (dyn, (K, spatial) flat), transposed to one row of K values per
    position, the last position repeated up to ``rows`` (a short last tile). W x W blocks by
    :func:`~fastnet.kernels.transpose.transpose_tile` (``rows_at``: int64 (W,), scratch), the
    rest one value at a time."""
    n_out = dyn.size // spatial
    lanes = rows_at.size
    k_whole = n_out // lanes * lanes
    whole = count // lanes * lanes
    for q0 in range(0, whole, lanes):
        for c in range(lanes):
            rows_at[c] = (q0 + c) * n_out
        for k0 in range(0, k_whole, lanes):
            transpose_tile(dyn[k0 * spatial + first + q0:], spatial, dyt[k0:], rows_at)
    for k in range(n_out):
        src = dyn[k * spatial + first:]
        for q in range(whole if k < k_whole else 0, rows):
            dyt[q * n_out + k] = src[min(q, count - 1)]


@parallel_kernel
def _scatter_tiles(dy, wt, dx, fd, fh, fw, sd, sh, sw, pd, ph, pw, rows_per_group, packed):
    """The parallel part of :func:`_backward_input_scatter` (one parallel region, over the batch).
    wt : (Lp / NR, K, NR), the packed weights panel by panel; rows_per_group : output rows whose
    positions share each pass over the panels (their tiles run across the rows); packed : bool,
    transpose each group's dy first (:func:`_positions_first`) or read it in place."""
    mr = tile_rows(dy)
    nr = tile_cols(dy)
    n_batch, n_out, do, ho, wo = dy.shape
    channels, depth, height, width = dx.shape[1], dx.shape[2], dx.shape[3], dx.shape[4]
    lp = wt.shape[0] * nr
    hp = height + 2 * ph
    wpc = (width + 2 * pw) * channels
    span = fw * channels
    spatial = do * ho * wo
    most = (rows_per_group * wo + mr - 1) // mr * mr   # positions of a group, in whole tiles
    wflat = wt.reshape(wt.size)
    no_rows = np.zeros(1, dtype=np.int64)
    for n in prange(n_batch):
        rows_at = np.empty(vector_lanes(dy), dtype=np.int64)
        dxp = np.zeros((depth + 2 * pd, hp, wpc), dtype=dx.dtype)
        dpatch = np.empty(most * lp, dtype=dx.dtype)
        dyt = np.empty(most * n_out if packed else 0, dtype=dx.dtype)
        starts = np.empty(most, dtype=np.int64)
        dyn = dy[n].reshape(n_out * spatial)
        for i in range(do):
            for j0 in range(0, ho, rows_per_group):
                count = (min(ho, j0 + rows_per_group) - j0) * wo
                first = (i * ho + j0) * wo
                tiles = (count + mr - 1) // mr
                if packed:   # the A operand: dyt[q, k] = dy[n, k, position first + q], K apart
                    _positions_first(dyn, spatial, first, count, tiles * mr, dyt, rows_at)
                    for q in range(tiles * mr):
                        starts[q] = q * n_out
                    a, step = dyt, 1
                else:   # dy[n] in place: a tile's MR positions side by side, K rows `spatial` apart
                    for q in range(tiles * mr):
                        starts[q] = first + min(q, count - 1)   # a short last tile repeats the last position
                    a, step = dyn, spatial
                for col in range(0, lp, nr):
                    for t in range(tiles):
                        tile_fma(a, starts[t * mr:], no_rows, step, wflat[col * n_out:], 0, nr, 1, n_out,
                                 dpatch[t * mr * lp + col:], lp, False)
                for q in range(count):   # in (j, l) order, as one row at a time would
                    j = j0 + q // wo
                    l = q - (j - j0) * wo
                    grads = dpatch[q * lp:]
                    for a in range(fd):
                        for b in range(fh):
                            dst = dxp[i * sd + a, j * sh + b, l * sw * channels:]
                            src = grads[(a * fh + b) * span:]
                            for m in range(span):
                                dst[m] += src[m]
        for c in range(channels):
            for d in range(depth):
                for h in range(height):
                    src = dxp[d + pd, h + ph, pw * channels + c:]
                    dst = dx[n, c, d, h]
                    for l in range(width):
                        dst[l] = src[l * channels]

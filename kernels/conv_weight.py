"""The convolution core's weight gradient, dw and db of :mod:`fastnet.kernels.conv3d`'s correlation
(see that module's docstring: the same register tiles): tiles of MR filter taps x NR output
channels, reduced over the output positions in chunks of private partial sums, then summed in
chunk order and transposed into dw. x is read in place, MR channel planes per tile, where each
filter position's channels fill whole tiles, else from conv3d's padded channels-last copy
(:func:`conv3d_backward_weight`); dy from a channels-last copy, panel by panel.
"""

import numba
import numpy as np
from numba import prange

from ._config import parallel_kernel, serial_kernel
from .conv3d import _channel_sum, _round_up
from .conv_layout import _pad_channels_last
from .microkernel import narrow_fits, shaped_tile_fma, tile_cols, tile_rows, tile_shape, vector_lanes
from .transpose import transpose_rows, transpose_tile

UNITS_PER_THREAD = 4    # backward-weight: chunks per thread where the memory allows
WEIGHT_CHUNKS = 16      # backward-weight: private partial sums (fixed: not the thread count)
BLOCK_TARGET = 256      # backward-weight: output positions per block of rows within a chunk
PARTIAL_BYTES = 4 * 2**20   # ... and at most this much memory for the chunks' private sums
# x read in place (no padded channels-last copy) where each filter position's C channels,
# rounded up to whole tiles of MR rows, are at most this much more work than C (see
# conv3d_backward_weight): 64 channels on AVX2 (MR = 6) compute 66 rows a position.
IN_PLACE_MAX_WASTE = 0.125
# With one chunk, x read in place: each task transposes its sums into dw itself (see
# conv3d_backward_weight) where there are at least this many channel blocks (of MR; by shape, not
# by thread count, so that fit's one-thread helper compiles the form the training process takes),
# from a private buffer of at most this many bytes (at least one channel block).
FUSED_MIN_BLOCKS = 4
FUSED_BUFFER_BYTES = 512 * 2**10


def conv3d_backward_weight(x, dy, dw, db, sd, sh, sw, pd, ph, pw, fused=None):
    """dw, db = gradients of sum(y * dy) with respect to w and b.

    x : (N, C, D, H, W), dy : (N, K, Do, Ho, Wo), dw : (K, C, FD, FH, FW), db : (K,), both written
    in full. ``dw[k, c, a, p, q] = sum_{n,i,j,l} dy[n, k, i, j, l] * xpad[n, c, i*sd + a, j*sh + p,
    l*sw + q]``; db[k] = sum of dy[:, k] (accumulated in float64).

    Tiles of MR taps x NR output channels (see the module docstring); work unit: a block of R
    consecutive whole output rows in (n, i, j) order (R * Wo about BLOCK_TARGET, across planes and
    images, so that small planes still give long reductions); the units are
    split into chunks, by the shapes alone: at most WEIGHT_CHUNKS, and at most as many private
    matrices as fit in PARTIAL_BYTES. Where that leaves fewer chunks than UNITS_PER_THREAD per
    thread, the taps are split between threads too (which does not change any sum).

    x in place or copied: a tile whose MR taps are channels of one filter position meets the
    padding at the same output positions for all of them, which its reduction skips whole (see
    :func:`_weight_tiles`), so it can read x itself, MR channel planes apart, instead of a padded
    channels-last copy; each position's channels are rounded up to CP, a multiple of MR, where
    that is at most IN_PLACE_MAX_WASTE more rows (rows c >= C computed, never read), else the copy.
    Same sums either way, bitwise. Measured on the 2-core Zen 4 (2 threads, float32, 2026-12-06),
    ms copy / in place, AVX-512 (MR = 8): 64 -> 64 at 28x28 b32, 3x3 stride 2 2.70 / 2.36, 5x5
    23.5 / 22.6, 5x5 stride 2 7.30 / 6.17; 3x3 at 32x32 b32 (planes 4 KB apart) 13.3 / 11.3; ResNet
    stride 2 (64 -> 128 at 56x56 b8) 5.31 / 4.54; the volumetric stride-2 layer (32 -> 64, 3x3x3,
    16x32x32 b2) 2.67 / 2.34; 16 channels 3x3 stride 2 b32 0.278 / 0.210; AlexNet conv2 24.4 /
    24.1; C3D 3x3x3 5.87 / 6.11, batch 1 256 channels 5x5 2.98 / 3.00 (within the VM's noise).
    AVX2 code (MR = 6): 64 channels (66 rows a position) 3x3 stride 2 b32 3.55 / 2.64, 5x5 26.1 /
    26.2, ResNet stride 2 6.35 / 5.45; 32 and 16 channels (36 and 18 rows, an eighth more) the
    volumetric layer 2.91 / 2.71, 5x5 at 28x28 b8 0.452 / 0.468; batch 1 256 channels 5x5 4.10 /
    3.50; AlexNet conv1's 3 channels as 6 rows 9.36 / 17.5 (hence the limit).

    Read in place, the tiles' sums are kept in dw's own (c, tap) order, channel block by channel
    block (a tile's MR rows FD*FH*FW rows apart), so that with one chunk each task, a run of
    whole channel blocks, can transpose its sums into dw itself as soon as they are done, from a
    private buffer still in L2: no (Lp, Kp) matrix written to memory, read back and transposed
    into dw (for a batch-1 layer of 256 channels, 5x5, 6.5 MB each way, which took 0.8-1.2 of
    the weight gradient's 2.3-2.8 ms when run after the forward pass and dx). ``fused``: None takes
    it with one chunk and at least FUSED_MIN_BLOCKS channel blocks of MR (32 channels with AVX-512's
    wide tiles; fewer give too few tasks for the threads); True wherever it applies (one chunk, x
    in place: tests and ``fastnet.compile``); False never. Measured on the 2-core Zen 4 (2
    threads, float32, 2026-12-06), forward + backward as the bench times it, ms partial sums /
    fused, alternating: batch 1, 256 channels at 14x14, 5x5 stride 2 4.52 / 3.99 (dw alone after
    the forward and dx: 1.61 / 0.96), 5x5 10.16 / 9.58, 3x3 stride 2 1.42 / 1.35; batch 8, 5x5
    stride 2 18.5 / 18.4; batch 1, 64 channels at 28x28, 5x5 stride 2 0.82 / 0.80. AVX2 code: 4.23
    / 3.83, 12.4 / 12.1, 2.15 / 1.95, and 1.28 / 1.15. Compile cost: the fused form is a second
    specialization of :func:`_weight_tiles` (``dw`` an array, not None), compiled only when a layer
    first takes it: 3.9 s of CPU on a cold cache; the other form's machine code is no larger than
    before (177 K characters of assembly, 195 K before; with both forms in one function, as first
    written, 219 K, and a cold first call 6.9-7.5 s against 6.2-6.9). Tried: the transpose as a
    scalar loop (6.8-6.9 s to compile, but dw 1.5 ms instead of 0.87 at batch 1, 256 channels, 5x5
    stride 2: it reads the buffer a column at a time), and the chunks' reduction and db moved into
    this kernel so that the transposes compile once (8.0-8.3 s: one larger function compiles slower
    than two).

    Extra memory: the padded channels-last input (the copy form only), dy channels-last panel by
    panel (:func:`_dy_panels`: Kp values per position, K rounded up to NR), and the chunks'
    private (Lp, Kp) matrices, Lp = CP*FD*FH*FW (in place) or C*FD*FH*FW rounded up to MR; with
    one chunk in place, a (B * MR * FD*FH*FW, Kp) buffer per task in flight instead (B channel
    blocks: at most FUSED_BUFFER_BYTES, at least one block).
    """
    n_batch, n_out, do, ho, wo = dy.shape
    _, channels, fd, fh, fw = dw.shape
    filter_size = fd * fh * fw
    narrow = narrow_fits(n_out, dw.dtype)
    mr, nr = tile_shape(dw.dtype, narrow)
    kp = _round_up(n_out, nr)
    cp = _round_up(channels, mr)
    depth, height, width = x.shape[2:]
    in_place = cp <= channels * (1 + IN_PLACE_MAX_WASTE)
    if in_place:
        # x in place, viewed 4-D like the copy so that both forms share one compiled kernel
        lp = filter_size * cp
        xin = x.reshape(n_batch, channels * depth, height, width)
        plane = depth * height * width
        xstrides = np.array([channels * plane, height * width, width, 1, plane,
                             -((pd * height + ph) * width + pw)], dtype=np.int64)
    else:
        cp = channels
        lp = _round_up(filter_size * channels, mr)
        xin = _pad_channels_last(x, pd, ph, pw, 0, 0, 0, channels)
        row = xin.shape[3]
        xstrides = np.array([xin.shape[1] * xin.shape[2] * row, xin.shape[2] * row, row, channels, 1, 0],
                            dtype=np.int64)
    dycl = _dy_panels(dy, kp, nr)
    total_rows = n_batch * do * ho
    rows = max(1, min(total_rows, BLOCK_TARGET // wo))
    units = (total_rows + rows - 1) // rows
    rows = (total_rows + units - 1) // units
    chunks = max(1, min(WEIGHT_CHUNKS, units, PARTIAL_BYTES // (lp * kp * dw.itemsize)))
    threads = numba.get_num_threads()
    wanted = UNITS_PER_THREAD * threads
    tiles = lp // mr
    blocks = cp // mr   # channel blocks (in place)
    if fused is None:
        fused = blocks >= FUSED_MIN_BLOCKS
    if in_place and chunks == 1 and fused:
        block_bytes = mr * filter_size * kp * dw.itemsize
        per_task = max(1, min(-(-blocks // wanted), FUSED_BUFFER_BYTES // block_bytes))
        tiles_per_task = per_task * filter_size
        partial = np.empty((0, lp, kp), dtype=dw.dtype)   # none: the tasks write dw
    else:
        tap_groups = min(tiles, max(1, -(-wanted // chunks)))
        tiles_per_task = -(-tiles // tap_groups)
        partial = np.empty((chunks, lp, kp), dtype=dw.dtype)
    valid = np.array([[pd, pd + depth], [ph, ph + height], [pw, pw + width]], dtype=np.int64)
    _weight_tiles(xin, xstrides, channels, cp, in_place, dycl, partial, valid, fd, fh, fw, sd, sh, sw, narrow,
                  rows, tiles_per_task, dw if partial.shape[0] == 0 else None)
    _reduce_weight_and_bias(partial, cp, in_place, dy, dw, db)


def _dy_panels(dy, kp, nr):
    """dy (N, K, Do, Ho, Wo) for the weight gradient's tiles: an array (Kp / NR * N, Do, Ho, Wo * NR)
    whose ``[p * N + n, i, j, l * NR + c]`` is dy[n, p * NR + c, i, j, l] (zero for channels past K):
    channels-last, one panel of NR channels at a time, so that the NR values a tile reads per
    position are contiguous from one position to the next (with all Kp channels per position,
    the rows a tile read were Kp values apart: 1 KB at 256 channels, a sixteenth of L1's sets).
    One pass (:func:`_fill_dy_panels`)."""
    n_batch, n_out, do, ho, wo = dy.shape
    out = np.empty((kp // nr * n_batch, do, ho, wo * nr), dtype=dy.dtype)
    _fill_dy_panels(dy, out)
    return out


@serial_kernel
def _fill_dy_panels(dy, out):
    """Fill ``out`` (Kp / NR * N, Do, Ho, Wo * NR) as :func:`_dy_panels` says, (panel, image) pair
    by pair. One thread: parallel, it took 0.04 instead of 0.07-0.08 ms for (64, 6, 28, 28) (LeNet
    C1's dy) and (32, 64, 14, 14), but 1.4 s to compile instead of 0.7 (a cold start's time).

    A plane of dy is one contiguous run of S = Do * Ho * Wo positions per channel, and its panel
    in ``out`` one run of S positions NR values apart, so W x W tiles (W positions x W channels,
    W: :func:`~fastnet.kernels.microkernel.vector_lanes`) are transposed in registers over the
    whole plane whatever its width, the last tile overlapping the one before; a group of W
    channels that ends past K transposes only the channels below K and stores zeros for the rest
    (:func:`~fastnet.kernels.transpose.transpose_rows`). Planes of fewer than W positions go value by
    value. This replaced two passes (a zeroed copy of dy in panel order, then the parallel
    channels-last copy): Zen 4, float32, ms before (two cores) / after (one): (32, 64, 14, 14)
    0.20-0.22 / 0.07, (64, 6, 28, 28) 0.29-0.43 / 0.08.
    """
    n_batch, n_out = dy.shape[0], dy.shape[1]
    spatial = dy.shape[2] * dy.shape[3] * dy.shape[4]
    panel_rows = out.shape[0]
    nr = out.shape[3] // dy.shape[4]
    lanes = vector_lanes(dy)
    zero = np.zeros(1, dtype=dy.dtype)[0]
    dyflat = dy.reshape(dy.size)
    outflat = out.reshape(out.size)
    for task in range(panel_rows):
        p = task // n_batch
        n = task - p * n_batch
        dst = outflat[task * spatial * nr:]
        starts = np.empty(lanes, dtype=np.int64)
        for c0 in range(0, nr, lanes):
            k0 = p * nr + c0   # the group's first channel of dy
            present = min(lanes, n_out - k0)   # its channels below K
            if spatial >= lanes and present > 0:
                src = dyflat[(n * n_out + k0) * spatial:]
                for t in range(0, spatial, lanes):
                    t0 = min(t, spatial - lanes)
                    for j in range(lanes):
                        starts[j] = (t0 + j) * nr + c0
                    transpose_rows(src[t0:], spatial, present, dst, starts)
            else:
                for q in range(spatial):
                    cell = dst[q * nr + c0:]
                    for c in range(lanes):
                        cell[c] = dyflat[(n * n_out + k0 + c) * spatial + q] if c < present else zero


@parallel_kernel
def _weight_tiles(xin, xstrides, channels, cp, by_channel, dycl, partial, valid, fd, fh, fw, sd, sh, sw, narrow,
                  rows_per_block, tiles_per_task, dw):
    """The parallel part of :func:`conv3d_backward_weight` (one parallel region): chunk ``i`` of
    the units (blocks of ``rows_per_block`` consecutive output rows, in (n, i, j) order, across
    planes and images) writes its private sums ``partial[i]`` (Lp, Kp), rows in one of two orders
    (columns: the output channels k):

    * ``by_channel`` (x read in place, cp a multiple of MR): row ``c * F + f`` = tap (c, f), F =
      FD*FH*FW, f = (a * FH + b) * FW + e: dw's order. Tile t holds MR channels of one filter
      position, (c // MR, f) = divmod(t, F): its rows are F apart.
    * else (the copy): row ``f * cp + c``, tile t the rows t * MR .. t * MR + MR - 1 (it may span
      two filter positions; rows past the last tap repeat a real one).

    Either way rows of channels c >= C (cp > C) repeat a real tap and are never read. Each chunk's
    tiles are split into tasks of ``tiles_per_task`` consecutive tiles. With ``dw`` given (then no
    partial sums, ``partial.shape[0] == 0``: one chunk, by_channel, ``tiles_per_task`` a multiple
    of F), each task sums its whole channel blocks into a private buffer and transposes it into
    dw (:func:`_transpose_into`). ``dw`` is None or an array on purpose: Numba prunes the branches
    on ``dw is None`` and compiles the two forms apart, each at its first use, so that a model
    without such layers never compiles the transposes in here (0.5 s of a cold first call).

    xin : the input x, read where ``xstrides`` says: int64 (6,), the strides of n, d, h, w and c
    and an offset, so that the value at (n, c) and padded position (d, h, w) is ``xin.flat[n * s_n
    + d * s_d + h * s_h + w * s_w + c * s_c + offset]`` wherever it holds data. Either x itself,
    viewed as (N, C * D, H, W) (offset: minus the padding's; only for tiles of one filter position
    each, cp a multiple of MR, which never read the padding), or its padded channels-last copy (N,
    Dp, Hp, Wp * C) (strides Dp Hp Wp C, Hp Wp C, Wp C, C, 1, offset 0; cp = C). dycl : (Kp / NR *
    N, Do, Ho, Wo * NR) dy, panel by panel (:func:`_dy_panels`); valid : int64 (3, 2), the padded
    rows [lo, hi) along D and H, and columns along W, that hold x; narrow : the tile shape (Lp a
    multiple of its MR, Kp of its NR); dw : (K, C, FD, FH, FW), or None.

    A tile's reduction skips the output rows, and the positions at the ends of each row, whose
    windows meet only padding at every tap of the tile (a product with a padding zero): runs of
    the remaining rows, each one call. Which products a sum skips is fixed by the shapes.
    """
    mr = tile_rows(xin, narrow)
    nr = tile_cols(xin, narrow)
    s_n, s_d, s_h, s_w, s_c = xstrides[0], xstrides[1], xstrides[2], xstrides[3], xstrides[4]
    x_base = xstrides[5]
    do, ho, wonr = dycl.shape[1], dycl.shape[2], dycl.shape[3]
    lp, kp = partial.shape[1], partial.shape[2]
    chunks = max(1, partial.shape[0])
    wo = wonr // nr
    panel_size = dycl.size // (kp // nr)   # dy values per panel of NR channels
    filter_size = fd * fh * fw
    n_tiles = lp // mr
    # per tile: each row's offset in a window of xin, and the tile's first row in the sums (its
    # rows ``pitch`` apart); a row's tap (c, f): channels past C, rows past the last tap, repeat a
    # real one
    pitch = filter_size if by_channel else 1
    taps = np.empty(lp, dtype=np.int64)
    first_row = np.empty(n_tiles, dtype=np.int64)
    # per tile of MR taps: the output indices along D, H and W whose windows meet data at some
    # tap of the tile, [lo, hi) each (a tap t at output q reads padded index q * s + t)
    reach = np.empty((n_tiles, 6), dtype=np.int64)
    for tile in range(n_tiles):
        block = tile // filter_size
        first_row[tile] = block * mr * filter_size + tile - block * filter_size if by_channel else tile * mr
        lo_a, lo_b, lo_e, hi_a, hi_b, hi_e = fd, fh, fw, -1, -1, -1
        for i in range(mr):
            if by_channel:
                f = tile - block * filter_size
                c = min(block * mr + i, channels - 1)
            else:
                l = tile * mr + i
                f = min(l // cp, filter_size - 1)
                c = min(l - f * cp, channels - 1)
            a = f // (fh * fw)
            b = (f // fw) % fh
            e = f % fw
            taps[tile * mr + i] = a * s_d + b * s_h + e * s_w + c * s_c
            lo_a, lo_b, lo_e = min(lo_a, a), min(lo_b, b), min(lo_e, e)
            hi_a, hi_b, hi_e = max(hi_a, a), max(hi_b, b), max(hi_e, e)
        bounds = ((lo_a, hi_a, sd, do), (lo_b, hi_b, sh, ho), (lo_e, hi_e, sw, wo))
        for dim, (t0, t1, s, n_q) in enumerate(bounds):
            # q * s + t1 >= valid lo  and  q * s + t0 < valid hi
            reach[tile, 2 * dim] = min(n_q, max(0, (valid[dim, 0] - t1 + s - 1) // s))
            reach[tile, 2 * dim + 1] = min(n_q, max(0, (valid[dim, 1] - t0 + s - 1) // s))
    total_rows = dycl.shape[0] // (kp // nr) * do * ho
    units = (total_rows + rows_per_block - 1) // rows_per_block
    groups = (n_tiles + tiles_per_task - 1) // tiles_per_task
    xflat = xin.reshape(xin.size)
    dyflat = dycl.reshape(dycl.size)
    for task in prange(chunks * groups):
        chunk = task // groups
        t_first = (task - chunk * groups) * tiles_per_task
        t_last = min(n_tiles, t_first + tiles_per_task)
        if dw is None:
            row0 = 0
            mine = partial[chunk].reshape(lp * kp)
        else:   # a private buffer for the task's rows, which are consecutive
            row0 = first_row[t_first]
            mine = np.empty((t_last - t_first) * mr * kp, dtype=partial.dtype)
        row_starts = np.empty(rows_per_block, dtype=np.int64)   # each output row's first window
        row_di = np.empty(rows_per_block, dtype=np.int64)   # ... and its output (i, j)
        row_hj = np.empty(rows_per_block, dtype=np.int64)
        written = np.zeros(n_tiles, dtype=np.bool_)
        start = chunk * units // chunks
        stop = (chunk + 1) * units // chunks
        for unit in range(start, stop):
            g0 = unit * rows_per_block
            rows = min(rows_per_block, total_rows - g0)
            for r in range(rows):   # output row g = (n, i, j) -> its first window in xin
                g = g0 + r
                plane = g // ho   # n * Do + i
                n = plane // do
                row_di[r] = plane - n * do
                row_hj[r] = g - plane * ho
                row_starts[r] = n * s_n + row_di[r] * sd * s_d + row_hj[r] * sh * s_h + x_base
            for tile in range(t_first, t_last):
                q_lo, q_hi = reach[tile, 4], reach[tile, 5]
                if q_lo >= q_hi:
                    continue
                out = (first_row[tile] - row0) * kp
                r = 0
                while r < rows:   # runs [r, r_end) of rows that meet data; row r_end does not
                    r_end = r
                    while (r_end < rows and reach[tile, 0] <= row_di[r_end] < reach[tile, 1]
                           and reach[tile, 2] <= row_hj[r_end] < reach[tile, 3]):
                        r_end += 1
                    if r_end > r:
                        first = (g0 + r) * wonr + q_lo * nr   # output rows are consecutive in a panel
                        for k0 in range(0, kp, nr):
                            shaped_tile_fma(xflat[q_lo * sw * s_w:], taps[tile * mr:], row_starts[r:],
                                            sw * s_w, dyflat[(k0 // nr) * panel_size + first:], wonr, nr,
                                            r_end - r, q_hi - q_lo, mine[out + k0:], pitch * kp,
                                            written[tile], narrow)
                        written[tile] = True
                    r = r_end + 1
        for tile in range(t_first, t_last):   # a tile that met no data in the chunk: zeros
            if not written[tile]:
                for i in range(mr):
                    out = (first_row[tile] - row0 + i * pitch) * kp
                    mine[out:out + kp] = 0
        if dw is not None:   # the task's channels, all taps: rows (c - c0) * F + f of mine
            c0 = (t_first // filter_size) * mr
            c1 = min(channels, (t_last // filter_size) * mr)
            if c1 > c0:
                _transpose_into(mine, (c1 - c0) * filter_size, kp, dw.reshape(dw.size), c0 * filter_size,
                                channels * filter_size, dw.shape[0])


@serial_kernel
def _transpose_into(total, rows, kp, dflat, base, row_length, n_out):
    """``dflat[k * row_length + base + r] = total[r * kp + k]`` for r < rows, k < n_out: a (rows,
    Kp) block of sums into dw (flat; row_length = C * FD*FH*FW), by W x W tiles in registers
    (:func:`~fastnet.kernels.transpose.transpose_tile`; the last tile of the rows overlaps the one
    before) where there are W rows, the output channels past the last full W by a scalar loop."""
    lanes = vector_lanes(dflat)
    k_first = 0
    if rows >= lanes:
        k_tiled = n_out // lanes * lanes
        starts = np.empty(lanes, dtype=np.int64)
        for k0 in range(0, k_tiled, lanes):
            for r in range(0, rows, lanes):
                r0 = min(r, rows - lanes)
                for j in range(lanes):
                    starts[j] = (k0 + j) * row_length + base + r0
                transpose_tile(total[r0 * kp + k0:], kp, dflat, starts)
        k_first = k_tiled
    for k in range(k_first, n_out):
        dst = dflat[k * row_length + base:]
        for r in range(rows):
            dst[r] = total[r * kp + k]


@parallel_kernel
def _reduce_weight_and_bias(partial, cp, by_channel, dy, dw, db):
    """dw[k, c, a, b, e] = sum over chunks, in chunk order, of the partial sums' row of tap (c, f),
    f = (a*FH + b)*FW + e: ``partial[chunk, c * F + f, k]`` (``by_channel``, F = FD*FH*FW) or
    ``partial[chunk, f * cp + c, k]`` (cp >= C: the rows of one filter position); db[k] = sum of
    dy[:, k] in float64 (parallel over k). No partial sums (``partial.shape[0] == 0``: the tiles
    wrote dw): db only.

    dw: parallel over groups of G input channels (G * FD*FH*FW >= W values, W:
    :func:`~fastnet.kernels.microkernel.vector_lanes`), each writing contiguous runs of dw. A task
    first sums its G * taps rows of the chunks into a (G * taps, Kp) buffer in dw's (c, tap) order
    (contiguous rows, one vector add per chunk), then transposes the buffer into dw
    (:func:`_transpose_into`). With one chunk (batch 1, where the tiles did not transpose their own
    sums: x copied, or fewer than FUSED_MIN_BLOCKS channel blocks) this is a plain transpose of (Lp,
    Kp) into (K, L).
    """
    n_batch, n_out = dy.shape[0], dy.shape[1]
    channels = dw.shape[1]
    taps = dw.shape[2] * dw.shape[3] * dw.shape[4]
    chunks, kp = partial.shape[0], partial.shape[2]
    lanes = vector_lanes(dw)
    group = (lanes + taps - 1) // taps   # channels per task: at least W rows to transpose
    n_groups = (channels + group - 1) // group if chunks > 0 else 0
    pflat = partial.reshape(partial.size)
    dflat = dw.reshape(dw.size)
    step_c, step_tap = (taps, 1) if by_channel else (1, cp)   # a tap's row: c * step_c + f * step_tap
    for task in prange(n_groups):
        c0 = task * group
        c1 = min(channels, c0 + group)
        rows = (c1 - c0) * taps
        total = np.empty(rows * kp, dtype=dw.dtype)
        for c in range(c0, c1):
            for tap in range(taps):
                row = total[((c - c0) * taps + tap) * kp:]
                at = c * step_c + tap * step_tap
                first = pflat[at * kp:]
                for k in range(kp):
                    row[k] = first[k]
                for chunk in range(1, chunks):   # same order as a running sum p0 + p1 + ... per element
                    prow = pflat[(chunk * partial.shape[1] + at) * kp:]
                    for k in range(kp):
                        row[k] += prow[k]
        _transpose_into(total, rows, kp, dflat, c0 * taps, channels * taps, n_out)
    spatial = dy.shape[2] * dy.shape[3] * dy.shape[4]
    dyf = dy.reshape(n_batch, n_out, spatial)
    for k in prange(n_out):
        db[k] = _channel_sum(dyf, np.int64(k))   # (prange's index is uint64 in the gufunc: a second signature)

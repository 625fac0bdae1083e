"""The convolution core's data layouts: zero-padded channels-last copies of inputs (and of dy)
and the packed weight matrices of :mod:`fastnet.kernels.conv3d` (see its docstring).

Both are transposes, done by W x W blocks in vector registers
(:func:`~fastnet.kernels.transpose.transpose_tile`) wherever there are W values of each side:
the copies because a filter row's taps must be one contiguous run of ``taps_w * C`` values, the
packs because the micro-kernel reads NR consecutive output channels per step. Plain Python
dispatchers (small NumPy set-up) call one compiled parallel helper each (see
:mod:`fastnet.kernels.conv3d` on why).
"""

import functools

import numpy as np
from numba import prange

from ._config import inlined_kernel, parallel_kernel, serial_kernel, vector_bytes
from .microkernel import vector_lanes
from .transpose import transpose_rows, transpose_tile

LAYOUTS_KEPT = 64   # residue layouts kept (one per strided layer shape)
# _pack_forward_weights packs weights of at most this many values (K rounded up to NR, times
# C * taps) on the calling thread where no W x W tile applies (C or K below W). Zen 4, float32,
# 2026-12-07, us with two threads / on the calling thread, by values packed: 2400 (LeNet C3's 16
# x 6 x 5 x 5) 5.7-6.0 / 4.2-4.3; 3200 6.1-6.5 / 5.3-5.4; 4800 7.5-7.6 / 7.0-7.2; 9408 (64 x 3
# x 7 x 7) 10.5-10.7 / 12.5-12.7; 23232 (AlexNet conv1's 64 x 3 x 11 x 11) 20-21 / 30.
PACK_SERIAL_VALUES = 6144
INTERLEAVED_MAX_CHANNELS = 8   # _fill_interleaved copies inputs of 2 to this many channels


def _pad_channels_last(x, pd, ph, pw, extra_d, extra_h, extra_w, pitch):
    """Zero-padded channels-last copy of x (N, C, D, H, W): an array (N, Dp, Hp, Wp * pitch) with
    ``xcl[n, d + pd, h + ph, (w + pw) * pitch + c] = x[n, c, d, h, w]``, Dp = D + 2 pd + extra_d
    etc., zero elsewhere (pitch >= C: the columns c >= C of every position are zero too).

    Channels-last makes a filter row's taps one contiguous run of ``taps_w * C`` values (pitch C),
    and a position's channels one contiguous run (pitch Kp: dy for the weight gradient). x must
    be C-contiguous. The copy is :func:`_fill_interleaved` (2 to 4 channels: RGB images) or
    :func:`_fill_interleaved_wide` (5 to INTERLEAVED_MAX_CHANNELS: LeNet C3's 6) at pitch C, but
    not 8 channels in vectors of 8; else :func:`_fill_few_channels` where its conditions hold,
    else :func:`_fill_channels_last` (W x W tiles: at least W channels and W positions a plane,
    W the vector lanes) or :func:`_fill_channels_last_rows`.
    """
    n_batch, channels, depth, height, width = x.shape
    xcl = np.empty((n_batch, depth + 2 * pd + extra_d, height + 2 * ph + extra_h,
                    (width + 2 * pw + extra_w) * pitch), dtype=x.dtype)
    lanes = vector_bytes() // x.itemsize
    # 8 channels where a vector holds 8 values (float32 with AVX2, float64 with AVX-512): the
    # register tiles of _fill_channels_last, one position's channels a vector, were as fast or
    # faster (see _fill_interleaved)
    if 2 <= channels <= INTERLEAVED_MAX_CHANNELS and pitch == channels and not channels == lanes == 8:
        (_fill_interleaved if channels <= 4 else _fill_interleaved_wide)(x, xcl, pd, ph, pw)
    elif (2 <= channels < lanes and 4 * channels >= lanes and pw == 0 and extra_w == 0 and pitch == channels
            and height * width >= lanes):
        _fill_few_channels(x, xcl, pd, ph)
    elif channels >= lanes and height * width >= lanes:
        _fill_channels_last(x, xcl, pd, ph, pw, extra_w, max(1, FILL_BAND_BYTES // (xcl.shape[3] * x.itemsize)))
    else:
        _fill_channels_last_rows(x, xcl, pd, ph, pw, extra_w)
    return xcl


# _fill_channels_last's register tiles: a band of output rows of about this size is filled a
# group of W channels at a time (it stays in L2 meanwhile)
FILL_BAND_BYTES = 256 * 1024


@inlined_kernel
def _start_plane(x, xcl, plane, pd, ph, pw, pitch):
    """Zero the padding of ``xcl``'s plane number ``plane``, ``(n, dd)``: whole padding rows, and
    each data row's padding ends and columns c >= C. Returns (n, dd, d): d is the plane of x it
    holds (outside ``0 .. D - 1``: a padding plane, all zeros)."""
    channels, depth, height, width = x.shape[1], x.shape[2], x.shape[3], x.shape[4]
    n = plane // xcl.shape[1]
    dd = plane - n * xcl.shape[1]
    d = dd - pd
    zero = np.zeros(1, dtype=x.dtype)[0]
    for hh in range(xcl.shape[2]):
        dst = xcl[n, dd, hh]
        h = hh - ph
        if d < 0 or d >= depth or h < 0 or h >= height:
            for j in range(dst.shape[0]):
                dst[j] = zero
            continue
        for j in range(pw * pitch):
            dst[j] = zero
        tail = dst[(pw + width) * pitch:]
        for j in range(tail.shape[0]):
            tail[j] = zero
        if pitch > channels:   # the zero columns
            for w in range(width):
                cell = dst[(w + pw) * pitch:]
                for c in range(channels, pitch):
                    cell[c] = zero
    return n, dd, d


@parallel_kernel
def _fill_channels_last(x, xcl, pd, ph, pw, extra_w, band):
    """Fill ``xcl`` as :func:`_pad_channels_last` says, for at least W channels and W positions a
    plane (W: :func:`~fastnet.kernels.microkernel.vector_lanes`; other inputs:
    :func:`_fill_channels_last_rows`). One parallel region, over the (n, d) planes. Times:
    float32, Zen 4, 2026-12-05/06.

    W x W blocks (W channels x W consecutive positions of the plane, which may span rows)
    transposed in vector registers (:func:`~fastnet.kernels.transpose.transpose_tile`), the last
    tile of a band and of the channels overlapping the one before. One core, values / tiles ms:
    (8, 64, 56, 56) 0.53 / 0.30, dy (8, 128, 28, 28) at pitch 128 0.34 / 0.15. The tiles go
    ``band`` rows at a time, and within a band W channels at a time over all its rows, so the
    reads are W streams, each one channel's contiguous rows. Row by row, each row read all C
    channels: C streams of one short row each, which the hardware prefetchers did not follow with
    x out of the caches (as in a network, and in the bench on the shared VM). Two cores, row by
    row / by bands: ResNet stride 2's input (8, 64, 56, 56), padding 1, 1.27-1.29 / 0.91-1.30 ms
    from memory (1.05 / 0.41-0.64 from L3); the volumetric (2, 32, 16, 32, 32), channels 64 KB
    apart and buffered row by row, 0.92-0.95 / 0.51-0.53. Rows shorter than W went position by
    position, each position's C values read a plane apart: (8, 256, 14, 14), padding 1, two
    cores, 90-107 / 69-84 us from L3, 237-291 / 234-270 from memory.

    A kernel of its own since 2026-12-08, apart from the row by row paths that few inputs take
    (:func:`_fill_channels_last_rows`): every model with a convolution of W channels or more
    compiles this one, in 1.39-1.60 s against 2.34-2.69 s for both paths in one kernel (the
    README's main job, one process, two runs each). Its loop, without the other paths' set-up (a
    buffer allocated per plane), runs as fast or faster: both forms compiled in one process, 15
    alternating rounds, new / old by the fastest round, two threads, float32: with AVX-512 the
    inputs above 0.93-0.96, the main job's C2 input (32, 16, 4, 4) 0.66 (9.7 -> 6.4 us); with
    AVX2 code 0.96-1.04 (two runs), that small input 0.74-0.75.
    Extra memory: none.
    """
    n_batch, channels, depth, height, width = x.shape
    dp = xcl.shape[1]
    pitch = xcl.shape[3] // (width + 2 * pw + extra_w)
    lanes = vector_lanes(x)
    c_tiles = (channels + lanes - 1) // lanes
    row_length = xcl.shape[3]
    plane_size = height * width
    xflat = x.reshape(x.size)
    for plane in prange(n_batch * dp):
        starts = np.empty(lanes, dtype=np.int64)
        n, dd, d = _start_plane(x, xcl, plane, pd, ph, pw, pitch)
        if d < 0 or d >= depth:
            continue
        plane_out = xcl[n, dd].reshape(xcl.shape[2] * row_length)
        for h0 in range(0, height, band):
            q_end = min(height, h0 + band) * width   # the band's positions, h0 * W .. q_end - 1
            for ct in range(c_tiles):
                c0 = min(ct * lanes, channels - lanes)
                source = xflat[((n * channels + c0) * depth + d) * plane_size:]
                for q in range(h0 * width, q_end, lanes):
                    # the last tile of a band overlaps the one before (or the band before: the same
                    # values again), and within the plane
                    p0 = max(0, min(q, q_end - lanes))
                    h = p0 // width
                    w = p0 - h * width
                    for j in range(lanes):
                        starts[j] = (h + ph) * row_length + (w + pw) * pitch + c0
                        w += 1
                        if w == width:
                            w = 0
                            h += 1
                    transpose_tile(source[p0:], depth * plane_size, plane_out, starts)


@parallel_kernel
def _fill_channels_last_rows(x, xcl, pd, ph, pw, extra_w):
    """Fill ``xcl`` as :func:`_pad_channels_last` says, row by row: for inputs that
    :func:`_fill_channels_last`'s tiles do not fit (fewer than W channels, or fewer than W
    positions a plane) and that the interleaving copies do not take. One parallel region, over
    the (n, d) planes.

    Rows of at least C positions go channel by channel: one contiguous input row, stored pitch
    apart (read position by position, the C values of each, they took 3-5 cycles a value:
    AlexNet's 3-channel 227 x 227 input, batch 8, 1.50 / 0.62 ms on one core, 0.75 / 0.31 on two,
    of a 9 ms forward, now :func:`_fill_interleaved`'s; LeNet C3's 6 channels 77 / 56 us; LeNet
    C1's one channel, padding 2, 141 / 55 us); shorter rows position by position (16 channels at
    10 x 10: 62 us, 85 channel by channel). Times: float32, Zen 4, 2026-12-05/06.

    Extra memory per plane in flight: a (C, W) buffer (used when the channel stride is a multiple
    of 1 KB and positions are copied one by one).
    """
    n_batch, channels, depth, height, width = x.shape
    dp = xcl.shape[1]
    pitch = xcl.shape[3] // (width + 2 * pw + extra_w)
    # rows longer than the channels
    by_channel = width >= channels
    # position by position, reading across channels element by element thrashes the caches when
    # the channel stride is a multiple of 1 KB (all lines in a few cache sets; volumetric 32^3
    # planes: 4x slower): the C input rows are read first, one contiguous read each, into an
    # L1-sized buffer
    buffered = x.strides[1] % 1024 == 0 and not by_channel
    for plane in prange(n_batch * dp):
        rows = np.empty((channels if buffered else 0, width), dtype=x.dtype)   # the position path's buffer
        n, dd, d = _start_plane(x, xcl, plane, pd, ph, pw, pitch)
        if d < 0 or d >= depth:
            continue
        for h in range(height):
            body = xcl[n, dd, h + ph, pw * pitch:]
            if by_channel:   # channel by channel: a contiguous read and writes pitch apart
                for c in range(channels):
                    src = x[n, c, d, h]
                    for w in range(width):
                        body[w * pitch + c] = src[w]
                continue
            # position by position: reads a channel apart, contiguous writes
            if buffered:
                for c in range(channels):
                    src = x[n, c, d, h]
                    buf = rows[c]
                    for w in range(width):
                        buf[w] = src[w]
            for w in range(width):
                cell = body[w * pitch:]
                if buffered:
                    for c in range(channels):
                        cell[c] = rows[c, w]
                else:
                    for c in range(channels):
                        cell[c] = x[n, c, d, h, w]


@parallel_kernel
def _fill_interleaved(x, xcl, pd, ph, pw):
    """Fill ``xcl`` as :func:`_pad_channels_last` says, for inputs of 2 to 4 channels at pitch C
    (any padding; 5 to INTERLEAVED_MAX_CHANNELS: :func:`_fill_interleaved_wide`). One parallel
    region, over the rows of ``xcl``, or over its (n, d) planes where there is no padding along W.

    A row's data is its C input rows interleaved, ``row[w * C + c] = x[n, c, d, h, w]``, written
    by :func:`_interleave` with the count a constant, which LLVM vectorises: C vector loads,
    shuffles, C vector stores per W positions (W: the vector lanes). With the count a variable
    (:func:`_fill_channels_last_rows`'s channel by channel path) every value is a scalar store, and W
    x W register transposes of C < W rows (:func:`_fill_few_channels`) shuffle and store a whole
    tile for C values a position. Zen 3 (AVX2), float32, 2026-12-06, ms before / this / a plain
    copy of x (np.copyto), two threads (one): AlexNet's input (8, 3, 227, 227) 0.53 / 0.24 / 0.19
    (0.64 / 0.23 / 0.17); (8, 3, 224, 224) with padding 1 0.54 / 0.18 / 0.14 (0.91 / 0.26 /
    0.15); (2, 3, 16, 112, 112) padded 1 0.60 / 0.21 / 0.13; (8, 4, 56, 56) 0.032 / 0.032; (8, 2,
    56, 56) padded 2 0.037 / 0.018.

    Without padding along W a plane's rows are side by side in x and in xcl, so a task is a whole
    plane, one run of H * W positions: LeNet C3's rows of 14 positions are shorter than the
    vectorised loop's step and went value by value. 5 to 8 channels took the W x W transposes of
    :func:`_fill_few_channels` or :func:`_fill_channels_last` before (2026-12-07). Zen 4, two
    threads, us before / after, float32: AVX-512, (64, C, 1, 14, 14) unpadded C = 2-4 15-34 /
    4.4-7.5, 5-8 16.5-17.9 / 6.3-11.2 (LeNet C3's 6: 17.4 / 7.7), padded 2 34-55 / 19-28; (16,
    C, 1, 28, 28) padded 1 15-41 / 11-20; float64 5-7 channels 24-63 / 11.5-40; AVX2 code on the
    same CPU, float32 5-7 channels 16-48 / 7-27, float64 5-8 39-68 / 9-36. Where a vector holds
    exactly 8 values, 8 channels keep the tiles (float64 with AVX-512, (8, 8, 1, 56, 56): 34-39
    / 53 interleaved; float32 with AVX2, padded rows 18-22 / 21-27). Each count is a
    specialisation of :func:`_interleave`, compiled with this kernel for 2 to 4 channels (2.3 s,
    2.0 before) and with :func:`_fill_interleaved_wide` for 5 to 8 (2.9 s, where
    :func:`_fill_few_channels` took 1.7).
    Extra memory: none.
    """
    channels = x.shape[1]
    stride = x.shape[2] * x.shape[3] * x.shape[4]   # between the channels of x
    xflat = x.reshape(x.size)
    xclflat = xcl.reshape(xcl.size)
    for task in prange(_interleave_tasks(x, xcl, pw)):
        src, body, run = _interleave_task(x, xcl, xclflat, pd, ph, pw, task)
        if channels == 2:   # a constant count per call: a compiled specialisation each
            _interleave(xflat[src:], stride, run, xclflat[body:], 2)
        elif channels == 3:
            _interleave(xflat[src:], stride, run, xclflat[body:], 3)
        else:
            _interleave(xflat[src:], stride, run, xclflat[body:], 4)


@parallel_kernel
def _fill_interleaved_wide(x, xcl, pd, ph, pw):
    """:func:`_fill_interleaved` for 5 to INTERLEAVED_MAX_CHANNELS channels: a kernel of its own, so
    that a network of RGB images does not compile these counts' specialisations (0.3 s each: the
    kernel with all seven took 3.3 s to compile, 2.0 with three, Zen 4, 2026-12-07)."""
    channels = x.shape[1]
    stride = x.shape[2] * x.shape[3] * x.shape[4]
    xflat = x.reshape(x.size)
    xclflat = xcl.reshape(xcl.size)
    for task in prange(_interleave_tasks(x, xcl, pw)):
        src, body, run = _interleave_task(x, xcl, xclflat, pd, ph, pw, task)
        if channels == 5:
            _interleave(xflat[src:], stride, run, xclflat[body:], 5)
        elif channels == 6:
            _interleave(xflat[src:], stride, run, xclflat[body:], 6)
        elif channels == 7:
            _interleave(xflat[src:], stride, run, xclflat[body:], 7)
        else:
            _interleave(xflat[src:], stride, run, xclflat[body:], 8)


@serial_kernel
def _by_planes(x, xcl, pw):
    """Whether :func:`_fill_interleaved` copies whole planes (no padding along W: a plane's rows
    side by side in x and in xcl) rather than rows."""
    return pw == 0 and xcl.shape[3] == x.shape[4] * x.shape[1]


@serial_kernel
def _interleave_tasks(x, xcl, pw):
    """The parallel tasks of :func:`_fill_interleaved`: xcl's (n, d) planes, or its rows."""
    return xcl.shape[0] * xcl.shape[1] * (1 if _by_planes(x, xcl, pw) else xcl.shape[2])


@inlined_kernel
def _interleave_task(x, xcl, xclflat, pd, ph, pw, task):
    """Task ``task`` of :func:`_fill_interleaved` (:func:`_interleave_tasks`), one plane or row of
    xcl: zeroes its padding and returns (src, body, run), what :func:`_interleave` copies: the
    offsets of the task's first position in x and of its first data value in xcl (both flat;
    ``xclflat``: xcl flat), and the positions (0 where the plane or row is all padding).
    Inlined into both kernels: as a call per task it made the rows of (8, 3, 224, 224), padded 1,
    1.4x slower to copy (116-118 us against 80-82, Zen 4, AVX-512, float32)."""
    _, channels, depth, height, width = x.shape
    dp, hp, row_length = xcl.shape[1], xcl.shape[2], xcl.shape[3]
    zero = np.zeros(1, dtype=x.dtype)[0]
    if _by_planes(x, xcl, pw):
        n = task // dp
        dd = task - n * dp
        start = task * hp * row_length
        length = hp * row_length
        h = 0
        gap = ph * row_length   # the padding rows before the data, and after it
        tail = (ph + height) * row_length
        run = height * width
    else:
        plane = task // hp
        n = plane // dp
        dd = plane - n * dp
        start = task * row_length
        length = row_length
        h = task - plane * hp - ph
        gap = pw * channels
        tail = (pw + width) * channels
        run = width
    d = dd - pd
    if d < 0 or d >= depth or h < 0 or h >= height:
        gap = length
        run = 0
    dst = xclflat[start:start + length]
    for j in range(gap):
        dst[j] = zero
    for j in range(max(gap, tail), length):
        dst[j] = zero
    # (d and h clamped into x where the task is all padding: nothing is read then, run is 0)
    src = ((n * channels * depth + max(0, min(d, depth - 1))) * height + max(0, min(h, height - 1))) * width
    return src, start + gap, run


@serial_kernel
def _interleave(src, channel_stride, count, body, channels):
    """body[p * C + c] = src[c * channel_stride + p] for p < ``count`` and c < C = ``channels``:
    called with a constant C, it is compiled for that count, and LLVM vectorises the loop (see
    :func:`_fill_interleaved`). Unsigned indices: with int64 ones Numba's test for a negative
    index stayed in the loop (``c * channel_stride + p`` has no known sign), and the copy of
    AlexNet's (8, 3, 227, 227) input went value by value, 2.5x slower."""
    stride = np.uint64(channel_stride)
    pitch = np.uint64(channels)
    for p in range(np.uint64(count)):
        for c in range(channels):
            body[p * pitch + np.uint64(c)] = src[np.uint64(c) * stride + p]


@parallel_kernel
def _fill_few_channels(x, xcl, pd, ph):
    """Fill ``xcl`` as :func:`_pad_channels_last` says, for inputs of 2 to W - 1 channels (at least
    W / 4: a tile's shuffles cost the same whatever C) with no padding along W and no pitch, W:
    :func:`~fastnet.kernels.microkernel.vector_lanes`; those of 2 to 8 channels take
    :func:`_fill_interleaved` instead (so this is 9 to 15 channels, float32 with AVX-512). One
    parallel region, over the (n, d) planes.

    A plane's rows are then one contiguous (H * W, C) run, so W positions at a time go through
    :func:`~fastnet.kernels.transpose.transpose_rows` into a buffer, then one contiguous copy.
    Two cores, float32, 2026-12-06, (64, C, 28, 28), position by position / this, us: AVX-512
    C = 4 70-105 / 47-80, 6 98-171 / 60-90; AVX2 C = 2 37-63 / 37-49, 3 49-81 / 37-55, 6 88-138 /
    61; LeNet C3's input (64, 6, 14, 14) on AVX-512 30-59 / 19-27. With 3 channels on AVX-512 it
    was not faster (AlexNet's input, 421-447 / 439-592). A kernel of its own: inside
    :func:`_fill_channels_last`, which every model compiles, its transposes took 0.7-1.0 s more
    to compile (a session before this one dropped it for that).
    Extra memory per plane in flight: (H * W + W) * C values.
    """
    n_batch, channels, depth, height, width = x.shape
    dp, hp = xcl.shape[1], xcl.shape[2]
    plane_size = height * width
    lanes = vector_lanes(x)
    zero = np.zeros(1, dtype=x.dtype)[0]
    xflat = x.reshape(x.size)
    for plane in prange(n_batch * dp):
        n = plane // dp
        dd = plane - n * dp
        d = dd - pd
        out = xcl[n, dd].reshape(hp * width * channels)
        if d < 0 or d >= depth:
            for j in range(out.shape[0]):
                out[j] = zero
            continue
        for j in range(ph * width * channels):
            out[j] = zero
        for j in range((ph + height) * width * channels, out.shape[0]):
            out[j] = zero
        # each transposed tile stores W values from each position's start: in increasing order
        # each store's values past its position's C are rewritten by the next ones; the last
        # tile's spill past the end lands in the buffer's slack
        starts = np.empty(lanes, dtype=np.int64)
        staged = np.empty((plane_size + lanes) * channels, dtype=x.dtype)
        source = xflat[(n * channels * depth + d) * plane_size:]
        for t in range((plane_size + lanes - 1) // lanes):
            p0 = min(t * lanes, plane_size - lanes)
            for j in range(lanes):
                starts[j] = (p0 + j) * channels
            transpose_rows(source[p0:], depth * plane_size, channels, staged, starts)
        body = out[ph * width * channels:]
        for j in range(plane_size * channels):
            body[j] = staged[j]


def _residue_taps(f, s, r):
    """Number of kernel taps t with t % s == r, t < f."""
    if r >= f:
        return 0
    return (f - r + s - 1) // s


def _pack_weights(w, transpose, rd, rh, rw, sd, sh, sw, taps_d, taps_h, taps_w, kp, nr):
    """The packed weight matrix of a correlation, from w (K, C, FD, FH, FW): rows ``((a * taps_h +
    b) * taps_w + e) * Cin + i`` (``taps_d * taps_h * taps_w * Cin`` of them), columns o < Kout,
    zero in the columns Kout <= o < kp, stored panel by panel: an array (kp / nr, rows, nr) whose
    ``[o // nr, row, o % nr]`` is entry (row, o), so that the nr columns a tile reads are one
    contiguous run (kp a multiple of nr, nr of the vector width W):

    * forward (``transpose`` False; r = 0, s = 1, taps = F): Cin = C, Kout = K,
      ``w[o, i, a, b, e]``: a transpose of w as a (K, C * taps) matrix, whose rows land in tap-major
      order (:func:`_pack_forward_weights`);
    * one residue class (rd, rh, rw) of the backward-input gather form (``transpose`` True):
      Cin = K, Kout = C, the class's taps r, r + s, ... flipped:
      ``w[i, o, rd + (taps_d - 1 - a) sd, rh + (taps_h - 1 - b) sh, rw + (taps_w - 1 - e) sw]``
      (:func:`_pack_residue_weights` packs all classes in one pass).

    A plain Python dispatcher (see the module docstring).
    """
    if transpose:
        wt, classes = _pack_residue_weights(w, sd, sh, sw, kp, nr)
        return _class_matrix(wt, classes[(rd, rh, rw)], w.shape[0], kp, nr)
    return _pack_forward_weights(w, kp, nr)


def _class_matrix(wt, class_entry, n_rows_per_tap, kp, nr):
    """One residue class's packed matrix, (kp / nr, taps * K, nr), a C-contiguous view into the
    flat ``wt`` of :func:`_pack_residue_weights` (``class_entry``: its ((taps_d, taps_h, taps_w),
    first slot), ``n_rows_per_tap``: K)."""
    taps, first = class_entry
    rows = taps[0] * taps[1] * taps[2] * n_rows_per_tap
    start = first * n_rows_per_tap * kp
    return wt[start:start + rows * kp].reshape(kp // nr, rows, nr)


def _pack_residue_weights(w, sd, sh, sw, kp, nr):
    """The packed weight matrices of all residue classes of the backward-input gather form, in
    one pass over w (:func:`_pack_class_weights`): (wt, classes). ``classes`` maps each class
    (rd, rh, rw) with taps to ((taps_d, taps_h, taps_w), first slot); its matrix (see
    :func:`_pack_weights`: panel by panel) is the values ``first * K * kp .. (first + taps) * K *
    kp`` of the flat wt, a C-contiguous slice (:func:`_class_matrix`). Every filter position is
    one tap of one class, so wt holds FD * FH * FW * K * kp values."""
    slot_of, block, classes = residue_layout(w.shape[0], w.shape[2:], (sd, sh, sw), kp)
    return _pack_class_weights(w, slot_of, block, kp, nr), classes


@functools.lru_cache(maxsize=LAYOUTS_KEPT)
def residue_layout(n_in, filter_shape, strides, kp):
    """Where :func:`_pack_residue_weights` puts each filter position, by shapes alone (kept per
    shape, an LRU cache: a few microseconds of Python loops a call for a small layer's backward
    pass): (slot_of, block, classes). ``slot_of`` (int64, FD * FH * FW): each filter position's
    tap slot; ``block`` (int64, (3, slots)): per slot, its class matrix's first value in the flat
    wt, its rows, and the slot's first row in it; ``classes``: as :func:`_pack_residue_weights`
    returns. The arrays are shared between calls, read only."""
    fd, fh, fw = filter_shape
    sd, sh, sw = strides
    slot_of = np.zeros(fd * fh * fw, dtype=np.int64)
    block = np.zeros((3, fd * fh * fw), dtype=np.int64)
    classes = {}
    slot = 0
    for rd in range(min(sd, fd)):
        for rh in range(min(sh, fh)):
            for rw in range(min(sw, fw)):
                td, th, tw = _residue_taps(fd, sd, rd), _residue_taps(fh, sh, rh), _residue_taps(fw, sw, rw)
                classes[(rd, rh, rw)] = ((td, th, tw), slot)
                for a in range(td):   # the class's taps, flipped
                    for b in range(th):
                        for e in range(tw):
                            ad = rd + (td - 1 - a) * sd
                            ah, aw = rh + (th - 1 - b) * sh, rw + (tw - 1 - e) * sw
                            tap = (a * th + b) * tw + e
                            slot_of[(ad * fh + ah) * fw + aw] = slot + tap
                            block[:, slot + tap] = (slot * n_in * kp, td * th * tw * n_in, tap * n_in)
                slot += td * th * tw
    return slot_of, block, classes


@parallel_kernel
def _pack_forward_weights(w, kp, nr):
    """The forward case of :func:`_pack_weights`: entry (tap * C + i, o) = w[o, i, tap] (o < K; 0
    for K <= o < kp), taps in (a, b, e) order, panel by panel: wt[o // nr, tap * C + i, o % nr].

    The full W x W tiles (W = :func:`~fastnet.kernels.microkernel.vector_lanes`) are transposed in registers
    (:func:`transpose_tile`): one parallel task per group of W input channels i x W output
    channels o, whose ``taps`` tiles each read W rows of w (W consecutive (i, tap) values each)
    and store W rows of wt; a task's stores cover W * taps rows x W columns, in ``taps`` runs of W
    consecutive rows. (Tasks of one output block x W consecutive (i, tap) columns store each tile's
    rows ``channels * kp`` values apart: 256 x 256 x 5 x 5 took 1.0 ms, not 0.4.) The channels
    beyond the last full group and the output channels beyond the last full block take a scalar
    loop.
    Measured (Zen 4, 1 thread, float32, 2026-12-05), old blocked-scalar / tiles ms: 256 x 256 x 3
    x 3 0.56 / 0.14, 256 x 256 x 5 x 5 1.32 / 0.40, 128 x 64 x 3 x 3 0.071 / 0.019.
    """
    n_out, channels, fd, fh, fw = w.shape
    taps = fd * fh * fw
    row = channels * taps   # one output channel's weights: (i, tap) pairs, tap fastest
    width = vector_lanes(w)
    wflat = w.reshape(w.size)
    rows = taps * channels
    wtflat = np.empty(kp * rows, dtype=w.dtype)
    o_blocks = n_out // width
    groups = channels // width
    tiled = groups * o_blocks
    full = groups * taps * width   # the (i, tap) columns covered by the tiles
    # one parallel region (a second cost 1-2 us, a tenth of a small layer's fixed cost): task t
    # transposes tile task t, if any, and does the rest of the columns j = t, t + tasks, ...;
    # none where there are no tiles and few values (PACK_SERIAL_VALUES)
    if tiled == 0 and kp * rows <= PACK_SERIAL_VALUES:
        _pack_columns(wflat, wtflat, 0, 1, n_out, channels, taps, kp, nr, 0, 0)
        return wtflat.reshape((kp // nr, rows, nr))
    tasks = max(tiled, min(row, 64))
    for task in prange(tasks):
        if task < tiled:
            g = task // o_blocks
            o0 = (task - g * o_blocks) * width
            panel = (o0 // nr) * rows * nr + o0 % nr   # the W columns o0.. within their panel
            starts = np.empty(width, dtype=np.int64)   # where each transposed row goes in wt
            for t in range(taps):
                j0 = (g * taps + t) * width   # the tile's first (i, tap) column of w's row
                for c in range(width):
                    i = (j0 + c) // taps
                    starts[c] = panel + ((j0 + c - i * taps) * channels + i) * nr
                transpose_tile(wflat[o0 * row + j0:], row, wtflat, starts)
        # np.int64: prange's index is uint64 in the gufunc, which would compile a second signature
        _pack_columns(wflat, wtflat, np.int64(task), tasks, n_out, channels, taps, kp, nr, full, o_blocks * width)
    return wtflat.reshape((kp // nr, rows, nr))


@serial_kernel
def _pack_columns(wflat, wtflat, first, step, n_out, channels, taps, kp, nr, full, tiled_outputs):
    """The columns j = first, first + step, ... of w's rows (the (i, tap) pairs) that
    :func:`_pack_forward_weights`' tiles leave: each column's outputs o >= ``tiled_outputs``
    where j < ``full`` (the tiles' columns), all of them past it, zeros for n_out <= o < kp.
    Panel by panel: ``o // nr`` and ``o % nr`` per value were 1.3 of the 8.6 us that LeNet C3's
    16 x 150 weights took on one thread."""
    rows = channels * taps   # w's row length, and wt's rows
    zero = np.zeros(1, dtype=wtflat.dtype)[0]
    for j in range(first, rows, step):
        i = j // taps
        dst = wtflat[((j - i * taps) * channels + i) * nr:]
        o_first = tiled_outputs if j < full else 0
        for panel in range(o_first // nr, kp // nr):
            out = dst[panel * rows * nr:]
            for c in range(max(0, o_first - panel * nr), nr):
                o = panel * nr + c
                out[c] = wflat[o * rows + j] if o < n_out else zero


@parallel_kernel
def _pack_patch_weights(w, lp, nr):
    """The weights of the backward-input col2im form (:func:`~fastnet.kernels.conv3d._backward_input_scatter`):
    the (K, Lp) matrix whose row k is w[k] with its patch in (a, b, e, c) order, ``[k, tap * C +
    c] = w[k, c, tap]`` (tap = (a * FH + b) * FW + e), zero in the columns C * taps <= j < lp,
    stored panel by panel: an array (lp / nr, K, nr) whose ``[j // nr, k, j % nr]`` is entry (k, j).

    One task per output channel k: the columns in order, each stored where its panel holds it
    (the store offsets computed once), w[k] read across from L1. Two cores, float32, 2026-12-06,
    256 x 96 x 5 x 5 (AlexNet conv2): 0.23 ms. With NumPy (a transposing copy into a zeroed
    matrix, then another into panels) it took 2.8-3.1 ms, a tenth of that layer's dx; storing in
    w's order (stores a panel apart, 4 KB-aliased) 1.3 ms.
    """
    n_out, channels, fd, fh, fw = w.shape
    taps = fd * fh * fw
    patch = taps * channels
    at = np.empty(lp, dtype=np.int64)   # column j's offset in the flat result, less k * nr
    for j in range(lp):
        at[j] = (j // nr) * n_out * nr + j % nr
    packed = np.empty(lp * n_out, dtype=w.dtype)
    wflat = w.reshape(w.size)
    zero = np.zeros(1, dtype=w.dtype)[0]
    for k in prange(n_out):
        row = wflat[k * patch:]   # read across (from L1), stored in runs of nr
        out = packed[k * nr:]
        j = 0
        for t in range(taps):
            for c in range(channels):
                out[at[j]] = row[c * taps + t]
                j += 1
        for j in range(patch, lp):
            out[at[j]] = zero
    return packed.reshape(lp // nr, n_out, nr)


@parallel_kernel
def _pack_class_weights(w, slot_of, block, kp, nr):
    """The backward-input matrices of :func:`_pack_residue_weights`, all residue classes in one
    pass: entry (slot_of[f] * K + i, o) = w[i, o, f] (o < C; 0 for C <= o < kp), f a filter position
    (flat (a, b, e) index), ``slot_of`` (int64, FD * FH * FW) its tap slot (a permutation). Each
    class's matrix is stored panel by panel (:func:`_pack_weights`) where ``block`` (int64, (3,
    slots)) says, per slot: the class matrix's first value in the flat wt, its rows, and the
    slot's first row in it.

    For an input channel i and W output channels o0.. (W:
    :func:`~fastnet.kernels.microkernel.vector_lanes`), the values w[i, o, f0:f0 + W] of the W
    filters are W rows F apart (overlapping when F < W), so one
    in-register transpose (:func:`transpose_tile`) turns them into the rows f = f0.. of the W
    columns o: each row goes to its slot's place in wt, the rows past F to a spare row after the
    matrix. Parallel over (output block, group of W input channels), so that a task's stores stay
    in runs of consecutive rows (slot * K + i).
    The output channels past the last full block, the zero columns and the last input channel's
    tiles that would read past w take a scalar loop.
    Measured (Zen 4, 1 thread, float32, 2026-12-05), old blocked-scalar / tiles ms: 256 x 256 x 3
    x 3 stride 1 0.50 / 0.21, 5 x 5 stride 1 1.39 / 0.62; stride 2 (four classes) took 4 passes
    over w, one per class, each transposing every tile: 1.08 / 0.57 (3 x 3) before one pass.
    """
    n_out, channels, fd, fh, fw = w.shape
    filter_size = fd * fh * fw
    width = vector_lanes(w)
    rows_used = filter_size * n_out
    tap_at = np.full(filter_size + width, -1, dtype=np.int64)   # each filter position's slot, or -1
    source = np.empty(filter_size, dtype=np.int64)   # each slot's filter position
    for f in range(filter_size):
        tap_at[f] = slot_of[f]
        source[slot_of[f]] = f
    wflat = w.reshape(w.size)
    wtflat = np.empty((rows_used + 1) * kp, dtype=w.dtype)   # + a spare row for unused tile rows
    o_blocks = channels // width
    last_f0 = (filter_size - 1) // width * width
    i_tiled = n_out   # the input channels whose tiles all read inside w
    if ((n_out - 1) * channels + o_blocks * width - 1) * filter_size + last_f0 + width > w.size:
        i_tiled = n_out - 1
    groups = (i_tiled + width - 1) // width
    for task in prange(o_blocks * groups):
        ob = task // groups
        o0 = ob * width
        i0 = (task - ob * groups) * width
        starts = np.empty(width, dtype=np.int64)
        # where the W columns o0.. of each slot's row i = 0 go; index 0: the spare row (set per i
        # so that adding i * nr lands on it)
        place = np.empty(filter_size + 1, dtype=np.int64)
        for t in range(filter_size):
            place[t + 1] = block[0, t] + (o0 // nr) * block[1, t] * nr + block[2, t] * nr + o0 % nr
        for i in range(i0, min(i_tiled, i0 + width)):
            place[0] = rows_used * kp - i * nr
            for f0 in range(0, filter_size, width):
                for c in range(width):
                    starts[c] = place[tap_at[f0 + c] + 1] + i * nr
                transpose_tile(wflat[(i * channels + o0) * filter_size + f0:], filter_size, wtflat, starts)
    for r in prange(rows_used):   # the rest, and the zero columns
        tap = r // n_out
        i = r - tap * n_out
        dst = wtflat[block[0, tap] + (block[2, tap] + i) * nr:]
        panel = block[1, tap] * nr
        src = wflat[i * channels * filter_size + source[tap]:]
        for o in range(o_blocks * width if i < i_tiled else 0, kp):
            dst[(o // nr) * panel + o % nr] = src[o * filter_size] if o < channels else 0
    return wtflat[:rows_used * kp]

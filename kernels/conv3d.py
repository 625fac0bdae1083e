"""Direct 3-D convolution kernels (cross-correlation, PyTorch NCDHW layout), forward and backward.

This module holds the one convolution core of fastnet; :mod:`fastnet.kernels.conv2d` runs the same
kernels on depth-1 views, so there is a single code path to optimise and test.

Design ("row patch", see /work/shared/PERFORMANCE.md)
-----------------------------------------------------
No whole-batch im2col matrix is ever built. The input is padded physically once, in a
channels-last copy (N, D, H, W*C) (:func:`_pad_channels_last`; no inner loop has a bounds test),
and the work is split into groups of output rows (n, d, h..h+R), about GROUP_TARGET positions each
(one row for wide layers). For each group a small patch ``patch[R*Wo, FD*FH*FW*C]`` (rows of
im2col, taps outer and channels inner, L2-sized) is copied into a per-chunk scratch buffer: in
channels-last each patch row is FD*FH contiguous runs of FW*C values, so the copy is plain vector
loads and stores (from NCDHW it was a strided store per tap, which LLVM compiles to
``vscatterqps``: very slow on AMD Zen 4, a third of the VGG forward time). A 4x4
register-blocked dot kernel with 16 scalar accumulators (:func:`_dot_blocked`) then computes
``out[K, R*Wo] = wmat[K, FD*FH*FW*C] @ patch.T``; LLVM vectorises the reduction over the
contiguous innermost axis. Reduction lengths are rounded up to a multiple of 16 (zero filled) so
that the vector loop has no remainder, and block rows up to a multiple of 4. Reductions longer than
DOT_MAX_SLICE (1024) are split into equal slices of about DOT_SLICE (512), accumulated in order
(the order is fixed by the length alone): with L = 2400 (AlexNet conv2) the whole weight matrix
streamed from L3 once per 4 patch rows, a (K, 512) slice stays in L2 (one core of the AVX-512
development machine, torch time / fastnet time measured side by side: AlexNet conv2 forward
0.45 -> 0.60-0.74, backward-input 0.33 -> 0.52-0.55; VGG 256x14 forward 0.48 -> 0.68-0.70,
backward-input 0.50 -> 0.65-0.70; C3D backward-input 0.52 -> 0.64). With AVX2 code (half the FMA
width, so the dot no longer outruns L3) it measured neutral, within the noise. Reductions up to
1024 are not split (computed as before).

Why not sgemm: ``np.dot`` (scipy's OpenBLAS, single-threaded, called from inside ``prange`` as
:mod:`fastnet.kernels.dense` does) was measured for the per-chunk products and lost: on one core
of the development machine (AVX-512; the benchmark reports znver5) it reaches 95-115 GFLOP/s on
these shapes (256 x 2400 x 32..256, 64 x 864 x 128; with OPENBLAS_CORETYPE Haswell, SkylakeX or
unset), while this dot reaches 110-210 (the AlexNet conv2, VGG, C3D, ResNet and volumetric forward
passes got 8-80% slower with sgemm in groups of 128 positions, the backward passes likewise).
(Check new loops for
``vscatterqps``/``vgatherqps`` in ``inspect_asm``: strided stores and ``i + offset`` indices, which
need wraparound handling, become scatters; index row views with the bare loop variable.)

* Backward-data has two forms (:func:`conv3d_backward_input` picks one; both are tested):
  the gather form is the forward core again: for stride 1 a forward correlation of ``dy`` (padded
  by ``F - 1``) with the flipped, transposed weights; for stride > 1 the input positions split into
  ``sd * sh * sw`` residue classes, each a dense stride-1 correlation with a sub-kernel. The
  scatter (col2im) form computes each output row's patch gradient ``w.T @ dy_row`` with the same
  dot kernel and adds it into a padded per-image gradient; it is much faster for 1..3 input
  channels (AlexNet conv1: 43 ms instead of 277 ms). With the scatter-free patch copy the gather
  form wins from C = 4 on (LeNet C3, C = 6: 1.3 ms instead of 2.5 ms on one thread) and for
  stride 2 with K <= 64 (volumetric stride 2: 7.6 ms instead of 12.4); with stride 2 and K = 128
  (ResNet) the two are even, and the scatter form (one parallel region) is kept there.
* Backward-weights accumulates ``dy_block[K, L] @ patch_t[C*F^3, L].T`` over blocks of output
  positions. Two forms (:func:`conv3d_backward_weight` picks one; both are tested): the direct
  form (:func:`_backward_weight_direct`) numbers the positions of R output rows ``j * Wq + l``
  over the padded input width (split into stride phases, Wq = ceil(Wp / sw)), so that every
  patch row is a contiguous run of the padded input, read in place by :func:`_dot_offsets`: no
  patch copy, L = R * Wq of about DIRECT_TARGET, at the price of Wq - Wo dummy positions per row
  (dy = 0; chosen while Wq <= 5/4 Wo, and only for finite x, since a dummy position times an
  infinite input would be a NaN). C3D: 16.0 ms instead of 20.2 on one thread, VGG 21 instead
  of 25. The copying form (:func:`_backward_weight_copy`, LeNet C3's 10-wide rows of 14)
  gathers patch_t per block of whole output rows (L = rows * Wo, about BLOCK_TARGET). Work is
  split into a FIXED number of chunks (not the thread count), each with a private dW, reduced at
  the end in chunk order.

Every output element is written by exactly one prange iteration and accumulated in a fixed order,
and every work split is fixed by the shapes alone: results are bitwise identical across runs and
thread counts (tested). The forms are plain Python drivers (small NumPy set-up: weight matrices,
work splits) that call one compiled parallel helper per parallel region; array creation inside a
compiled driver outside a prange would add parallel regions of its own, and each region costs a
fork/join (badly, on a loaded machine). Plain Python on purpose: Numba re-optimises and re-emits
the machine code of every compiled callee inside each compiled caller, so a compiled driver costs
its helpers' compile time a second time (1-3 s per form and dtype, 9 s of the float32 warm-up on
the Zen 4 dev box, 2026-12-02), and a compiled dispatcher compiles every form it may call at its
first call, a Python one only those a model uses; :func:`fastnet.compile` warms them all.
"""

import numpy as np
from numba import prange

from ._config import parallel_kernel, serial_kernel

ROW_CHUNKS = 64       # at most this many parallel chunks of output rows (fixed: not the thread count)
WEIGHT_CHUNKS = 16    # private dW copies in backward-weights (fixed: not the thread count)
LANES = 16            # reduction lengths are rounded up to a multiple of this (one 512-bit vector)
SCATTER_BELOW_CHANNELS = 4   # backward-input: col2im form below this many input channels
SCATTER_STRIDED_OUT_CHANNELS = 128   # ... and for stride > 1 (batch > 1) from this many outputs on
GROUP_TARGET = 32     # forward core: aim for about this many output positions per work unit
DOT_MAX_SLICE = 1024  # _dot_blocked: reductions longer than this are split into slices ...
DOT_SLICE = 512       # ... of about this length (kept in L2 while all of b passes)
BLOCK_TARGET = 256    # backward-weights: aim for about this many output positions per block
DIRECT_TARGET = 1024  # backward-weights, direct form: about this many (padded-width) positions per block
DIRECT_MAX_WIDTH_RATIO = (5, 4)   # direct form only while padded width / output width <= 5 / 4


@serial_kernel
def _round_up(n, m):
    """n rounded up to a multiple of m (called by the kernels and by the Python drivers)."""
    return (n + m - 1) // m * m


@serial_kernel
def _dot_blocked(a, b, c, accumulate):
    """``c[i, j] (+)= sum_l a[i, l] * b[j, l]``.

    a : (M, L), b : (N, L), c : (M, N), all C-contiguous of one dtype, M and N multiples of 4,
    L a multiple of LANES. Reductions longer than DOT_MAX_SLICE are split into equal slices of
    about DOT_SLICE (a multiple of LANES; the slices are accumulated into ``c`` in order, so the
    sum order is fixed by L alone). Per slice the outer loop walks 4-row blocks of ``b``, the inner
    one 4-row blocks of ``a``; each block is 16 scalar accumulators that LLVM turns into vector
    registers. Why slices: with L = 2400 (AlexNet conv2) the four ``a`` rows of a block no longer
    fit in L1 beside the ``b`` rows, and the whole ``a`` (the weights, 2.4 MB) streams from L3
    once per block of ``b``; a slice of ``a`` (M x 512) stays in L2 while every block of ``b``
    passes (see the module docstring for what it measured).
    """
    m, length = a.shape
    n = b.shape[0]
    slices = 1
    if length > DOT_MAX_SLICE:
        slices = (length + DOT_SLICE - 1) // DOT_SLICE
    step = _round_up((length + slices - 1) // slices, LANES)
    for sl in range(slices):
        l0 = min(length, sl * step)
        l1 = min(length, l0 + step)
        _dot_slice(a, b, c, l0, l1, accumulate or sl > 0)


@serial_kernel
def _dot_slice(a, b, c, l0, l1, accumulate):
    """``c[i, j] (+)= sum_{l0 <= l < l1} a[i, l] * b[j, l]`` (see :func:`_dot_blocked`)."""
    m = a.shape[0]
    n = b.shape[0]
    length = l1 - l0
    zero = np.zeros(1, dtype=c.dtype)[0]
    for j in range(0, n, 4):
        # row views of the slice, indexed with the bare loop variable (``l0 + l`` would need
        # wraparound handling and stop the vectoriser)
        b0 = b[j, l0:l1]
        b1 = b[j + 1, l0:l1]
        b2 = b[j + 2, l0:l1]
        b3 = b[j + 3, l0:l1]
        for i in range(0, m, 4):
            a0 = a[i, l0:l1]
            a1 = a[i + 1, l0:l1]
            a2 = a[i + 2, l0:l1]
            a3 = a[i + 3, l0:l1]
            c00 = zero
            c01 = zero
            c02 = zero
            c03 = zero
            c10 = zero
            c11 = zero
            c12 = zero
            c13 = zero
            c20 = zero
            c21 = zero
            c22 = zero
            c23 = zero
            c30 = zero
            c31 = zero
            c32 = zero
            c33 = zero
            for l in range(length):
                x0 = a0[l]
                x1 = a1[l]
                x2 = a2[l]
                x3 = a3[l]
                y0 = b0[l]
                y1 = b1[l]
                y2 = b2[l]
                y3 = b3[l]
                c00 += x0 * y0
                c01 += x0 * y1
                c02 += x0 * y2
                c03 += x0 * y3
                c10 += x1 * y0
                c11 += x1 * y1
                c12 += x1 * y2
                c13 += x1 * y3
                c20 += x2 * y0
                c21 += x2 * y1
                c22 += x2 * y2
                c23 += x2 * y3
                c30 += x3 * y0
                c31 += x3 * y1
                c32 += x3 * y2
                c33 += x3 * y3
            if accumulate:
                c00 += c[i, j]
                c01 += c[i, j + 1]
                c02 += c[i, j + 2]
                c03 += c[i, j + 3]
                c10 += c[i + 1, j]
                c11 += c[i + 1, j + 1]
                c12 += c[i + 1, j + 2]
                c13 += c[i + 1, j + 3]
                c20 += c[i + 2, j]
                c21 += c[i + 2, j + 1]
                c22 += c[i + 2, j + 2]
                c23 += c[i + 2, j + 3]
                c30 += c[i + 3, j]
                c31 += c[i + 3, j + 1]
                c32 += c[i + 3, j + 2]
                c33 += c[i + 3, j + 3]
            c[i, j] = c00
            c[i, j + 1] = c01
            c[i, j + 2] = c02
            c[i, j + 3] = c03
            c[i + 1, j] = c10
            c[i + 1, j + 1] = c11
            c[i + 1, j + 2] = c12
            c[i + 1, j + 3] = c13
            c[i + 2, j] = c20
            c[i + 2, j + 1] = c21
            c[i + 2, j + 2] = c22
            c[i + 2, j + 3] = c23
            c[i + 3, j] = c30
            c[i + 3, j + 1] = c31
            c[i + 3, j + 2] = c32
            c[i + 3, j + 3] = c33


@parallel_kernel
def _pad_channels_last(x, pd, ph, pw, extra_d, extra_h, extra_w):
    """Zero-padded channels-last copy of x (N, C, D, H, W): an array (N, Dp, Hp, Wp * C) with
    ``xcl[n, d + pd, h + ph, (w + pw) * C + c] = x[n, c, d, h, w]``, Dp = D + 2 pd + extra_d etc.

    Channels-last makes every patch row of the forward core a few contiguous runs of
    ``taps_w * C`` values (vectorised copies; the NCDHW layout needs a strided copy per tap, which
    LLVM turns into scatter instructions). One parallel region, over the (n, d) planes; extra
    memory per plane in flight: a (C, W) buffer (used when the channel stride is a multiple of 1 KB).
    """
    n_batch, channels, depth, height, width = x.shape
    dp = depth + 2 * pd + extra_d
    hp = height + 2 * ph + extra_h
    wp = width + 2 * pw + extra_w
    xcl = np.empty((n_batch, dp, hp, wp * channels), dtype=x.dtype)
    zero = np.zeros(1, dtype=x.dtype)[0]
    aliased = x.strides[1] % 1024 == 0
    for plane in prange(n_batch * dp):
        rows = np.empty((channels, width), dtype=x.dtype)
        n = plane // dp
        dd = plane - n * dp
        d = dd - pd
        for hh in range(hp):
            dst = xcl[n, dd, hh]
            h = hh - ph
            if d < 0 or d >= depth or h < 0 or h >= height:
                for j in range(wp * channels):
                    dst[j] = zero
                continue
            for j in range(pw * channels):
                dst[j] = zero
            tail = dst[(pw + width) * channels:]
            for j in range(tail.shape[0]):
                tail[j] = zero
            if aliased:
                # first the C input rows, one contiguous read each, into an L1-sized buffer:
                # reading across channels element by element thrashes the caches when the channel
                # stride is a multiple of 1 KB (all lines in a few cache sets; volumetric 32^3
                # planes: 4x slower); otherwise the extra pass costs more than it saves
                for c in range(channels):
                    src = x[n, c, d, h]
                    buf = rows[c]
                    for w in range(width):
                        buf[w] = src[w]
                # then strided reads from the buffer, contiguous writes (strided writes become
                # slow scatter instructions)
                for w in range(width):
                    cell = dst[(w + pw) * channels:]
                    for c in range(channels):
                        cell[c] = rows[c, w]
            else:
                src = x[n, :, d, h]
                for w in range(width):
                    cell = dst[(w + pw) * channels:]
                    for c in range(channels):
                        cell[c] = src[c, w]
    return xcl


@parallel_kernel
def _conv_rows(xin, channels, wmat, bias, out, geom, taps_d, taps_h, taps_w):
    """The convolution core: a direct correlation of ``xin`` with ``wmat``, written into ``out``.

    xin : (N, Di, Hi, Wi * C), channels-last (see :func:`_pad_channels_last`), already padded so
        that every read is in range.
    wmat : (Kp, CFp) with ``wmat[k, ((a*taps_h + b)*taps_w + e)*C + c]`` the weight of output
        channel k, input channel c, taps (a, b, e); Kp >= K rounded up to 4, CFp >= C*taps rounded up
        to 16; padding entries are zero.
    bias : (K,), added to every output.
    out : (N, K, Do, Ho, Wo), written at the positions selected by ``geom``.
    geom : int64 (3, 6), one row per spatial dim: (in_step, in_offset, q0, count, out_step,
        out_offset). Output index q runs over q0 .. q0 + count - 1; it reads the input window that
        starts at ``q * in_step + in_offset`` and writes ``out`` at ``q * out_step + out_offset``.

    Extra memory: per chunk of work a patch (P, CFp) and an accumulator (Kp, P), P = round4 of
    the positions of one group of output rows (about GROUP_TARGET, at least one row).
    """
    n_batch = xin.shape[0]
    n_out = out.shape[1]
    kp, cfp = wmat.shape
    sd, od, qd0, nd = geom[0, 0], geom[0, 1], geom[0, 2], geom[0, 3]
    osd, ood = geom[0, 4], geom[0, 5]
    sh, oh, qh0, nh = geom[1, 0], geom[1, 1], geom[1, 2], geom[1, 3]
    osh, ooh = geom[1, 4], geom[1, 5]
    sw, ow, qw0, nw = geom[2, 0], geom[2, 1], geom[2, 2], geom[2, 3]
    osw, oow = geom[2, 4], geom[2, 5]
    w_first = qw0 * sw + ow       # input column read by the first output of a row
    out_first = qw0 * osw + oow   # output column written by it
    span = taps_w * channels      # one contiguous run of the channels-last input per (a, b) tap
    # a work unit is a group of up to `group` consecutive output rows of one (n, depth) plane,
    # about GROUP_TARGET output positions, so that short rows (LeNet) still give a long block
    groups_per_plane = max(1, min(nh, (nh * nw + GROUP_TARGET - 1) // GROUP_TARGET))
    group = (nh + groups_per_plane - 1) // groups_per_plane
    groups_per_plane = (nh + group - 1) // group
    positions = _round_up(group * nw, 4)
    units = n_batch * nd * groups_per_plane
    chunks = min(units, ROW_CHUNKS)
    for chunk in prange(chunks):
        patch = np.zeros((positions, cfp), dtype=xin.dtype)
        acc = np.empty((kp, positions), dtype=xin.dtype)
        start = chunk * units // chunks
        stop = (chunk + 1) * units // chunks
        for unit in range(start, stop):
            n = unit // (nd * groups_per_plane)
            rem = unit - n * (nd * groups_per_plane)
            qd = qd0 + rem // groups_per_plane
            g = rem - (rem // groups_per_plane) * groups_per_plane
            qh_first = qh0 + g * group
            rows = min(group, qh0 + nh - qh_first)
            d0 = qd * sd + od
            for r in range(rows):
                h0 = (qh_first + r) * sh + oh
                base = r * nw
                for iw in range(nw):
                    prow = patch[base + iw]
                    first = (w_first + iw * sw) * channels
                    col = 0
                    for a in range(taps_d):
                        for b in range(taps_h):
                            src = xin[n, d0 + a, h0 + b, first:]
                            dst = prow[col:]
                            for j in range(span):
                                dst[j] = src[j]
                            col += span
            # rows of a short last group keep stale values: their outputs are never stored
            _dot_blocked(wmat, patch, acc, np.bool_(False))   # not a literal: one compiled copy
            dd = qd * osd + ood
            for r in range(rows):
                dh = (qh_first + r) * osh + ooh
                base = r * nw
                for k in range(n_out):
                    bk = bias[k]
                    dst = out[n, k, dd, dh, out_first:]
                    arow = acc[k, base:]
                    if osw == 1:
                        for iw in range(nw):
                            dst[iw] = arow[iw] + bk
                    else:
                        for iw in range(nw):
                            dst[iw * osw] = arow[iw] + bk


def conv3d_forward(x, w, b, y, sd, sh, sw, pd, ph, pw):
    """y[n, k, i, j, l] = b[k] + sum_{c,a,p,q} w[k, c, a, p, q] * xpad[n, c, i*sd + a, j*sh + p, l*sw + q].

    x : (N, C, D, H, W), w : (K, C, FD, FH, FW), b : (K,), y : (N, K, Do, Ho, Wo) written in full.
    All C-contiguous, one dtype; shapes already validated by the wrapper.
    Extra memory: the padded channels-last input, a (round4(K), round16(C*FD*FH*FW)) weight
    matrix and, per chunk of work (at most ROW_CHUNKS), one (P, round16(C*FD*FH*FW)) patch and a
    (round4(K), P) block, P = round4(R * Wo) for groups of R output rows (R*Wo about GROUP_TARGET).
    """
    n_out, channels, fd, fh, fw = w.shape
    cf = channels * fd * fh * fw
    wmat = np.zeros((_round_up(n_out, 4), _round_up(cf, LANES)), dtype=w.dtype)
    wmat[:n_out, :cf] = w.transpose(0, 2, 3, 4, 1).reshape(n_out, cf)   # taps outer, channels inner
    xp = _pad_channels_last(x, pd, ph, pw, 0, 0, 0)
    geom = np.zeros((3, 6), dtype=np.int64)
    geom[:, 0] = (sd, sh, sw)
    geom[:, 3] = y.shape[2:]
    geom[:, 4] = 1
    _conv_rows(xp, channels, wmat, b, y, geom, fd, fh, fw)


def _residue_taps(f, s, r):
    """Number of kernel taps t with t % s == r, t < f."""
    if r >= f:
        return 0
    return (f - r + s - 1) // s


def conv3d_backward_input(dy, w, dx, sd, sh, sw, pd, ph, pw):
    """dx = gradient of sum(y * dy) with respect to x, for y = conv3d(x, w, stride, padding).

    dy : (N, K, Do, Ho, Wo), w : (K, C, FD, FH, FW), dx : (N, C, D, H, W) written in full; all
    C-contiguous, one dtype. Two forms, same result up to rounding (both are tested directly):
    :func:`_backward_input_scatter` (col2im, reductions of length K; measured faster for few
    input channels, and as fast for stride > 1 with K >= 128 (ResNet stride 2), parallel over the
    batch) and :func:`_backward_input_gather` (residue classes, parallel over rows; faster for
    many channels, and for stride 2 with K <= 64: volumetric stride 2, 7.6 ms instead of 12.4 on
    one thread).
    A plain Python dispatcher (see the module docstring): a model compiles only the forms it uses.
    """
    n_batch, n_out, channels = dy.shape[0], dy.shape[1], w.shape[1]
    strided = sd > 1 or sh > 1 or sw > 1
    if channels < SCATTER_BELOW_CHANNELS or (
            strided and n_batch > 1 and n_out >= SCATTER_STRIDED_OUT_CHANNELS):
        _backward_input_scatter(dy, w, dx, sd, sh, sw, pd, ph, pw)
    else:
        _backward_input_gather(dy, w, dx, sd, sh, sw, pd, ph, pw)


def _backward_input_gather(dy, w, dx, sd, sh, sw, pd, ph, pw):
    """conv3d_backward_input as a forward correlation of dy (same arguments).

    Input position i (padded coordinates) = q * s + r splits into s residue classes r per dim; the
    class r sees the taps r, r + s, r + 2s, ... and is a dense stride-1 correlation of the padded dy
    with those taps flipped: ``dx[q*s + r - p] = sum_t w[r + t*s] * dy[q - t]``, computed by the
    forward core :func:`_conv_rows`. Extra memory: dy padded by ceil(F/s) - 1 per side (plus a
    tail), one (round4(C), round16(K*taps)) weight matrix per residue class, and the core's
    per-chunk patch.
    """
    n_batch, n_out, do, ho, wo = dy.shape
    _, channels, fd, fh, fw = w.shape
    depth, height, width = dx.shape[2], dx.shape[3], dx.shape[4]
    # common padding of dy: the largest residue class has ceil(F / s) taps
    md = (fd + sd - 1) // sd - 1
    mh = (fh + sh - 1) // sh - 1
    mw = (fw + sw - 1) // sw - 1
    # tail so that the last q of every class reads in range: q_max + m + 1 <= padded length
    td = max(0, (depth - 1 + pd) // sd + 1 - do - md)
    th = max(0, (height - 1 + ph) // sh + 1 - ho - mh)
    tw = max(0, (width - 1 + pw) // sw + 1 - wo - mw)
    dyp = _pad_channels_last(dy, md, mh, mw, td, th, tw)
    zero_bias = np.zeros(channels, dtype=dx.dtype)
    for rd in range(sd):
        for rh in range(sh):
            for rw in range(sw):
                taps = (_residue_taps(fd, sd, rd), _residue_taps(fh, sh, rh), _residue_taps(fw, sw, rw))
                # the class's taps r, r + s, ... flipped: wmat[c, ((a*th + b)*tw + e)*K + k] =
                # w[k, c, rd + (td - 1 - a) sd, rh + (th - 1 - b) sh, rw + (tw - 1 - e) sw]
                sub = w[:, :, rd::sd, rh::sh, rw::sw][:, :, ::-1, ::-1, ::-1]
                cf = n_out * taps[0] * taps[1] * taps[2]
                wmat = np.zeros((_round_up(channels, 4), _round_up(cf, LANES)), dtype=w.dtype)
                wmat[:channels, :cf] = sub.transpose(1, 2, 3, 4, 0).reshape(channels, cf)
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
                    _conv_rows(dyp, n_out, wmat, zero_bias, dx, geom, *taps)


def _backward_input_scatter(dy, w, dx, sd, sh, sw, pd, ph, pw):
    """conv3d_backward_input for few input channels C (col2im form; same arguments).

    Per output row (n, i, j): ``dpatch_t[C*F^3, Wo] = wmat_t[C*F^3, K] @ dy_row_t[Wo, K].T`` (the
    gradient of that row's patch, reduction over K), then scatter-added into a padded gradient of
    x[n]. The gather form (residue classes) copies K*taps values per input position to compute C
    outputs, which is copy-bound for C of 1..3 (LeNet C1, AlexNet conv1); here the copy per output
    position is C*F^3 against 2*K*C*F^3 flops. Parallel over the batch: each n owns dx[n], rows
    within n are added in a fixed order (deterministic). Extra memory: the (round4(C*F^3),
    round16(K)) transposed weights and, per image in flight (one per thread), a padded (C, D+2pd,
    H+2ph, W+2pw) gradient, a (round4(Wo), round16(K)) dy row and a (round4(C*F^3), round4(Wo))
    patch gradient.
    """
    n_out = dy.shape[1]
    cf = w.size // n_out
    wmat_t = np.zeros((_round_up(cf, 4), _round_up(n_out, LANES)), dtype=w.dtype)
    wmat_t[:cf, :n_out] = w.reshape(n_out, cf).T
    _scatter_rows(dy, wmat_t, dx, *w.shape[2:], sd, sh, sw, pd, ph, pw)


@parallel_kernel
def _scatter_rows(dy, wmat_t, dx, fd, fh, fw, sd, sh, sw, pd, ph, pw):
    """The parallel part of :func:`_backward_input_scatter` (one parallel region, over the batch)."""
    n_batch, n_out, do, ho, wo = dy.shape
    channels, depth, height, width = dx.shape[1], dx.shape[2], dx.shape[3], dx.shape[4]
    cfp, kp = wmat_t.shape
    wop = _round_up(wo, 4)
    for n in prange(n_batch):
        dxp = np.zeros((channels, depth + 2 * pd, height + 2 * ph, width + 2 * pw), dtype=dx.dtype)
        dy_row_t = np.zeros((wop, kp), dtype=dy.dtype)
        dpatch_t = np.empty((cfp, wop), dtype=dy.dtype)
        for i in range(do):
            for j in range(ho):
                src = dy[n, :, i, j]
                for l in range(wo):   # contiguous writes (strided ones become scatter instructions)
                    dst_l = dy_row_t[l]
                    for k in range(n_out):
                        dst_l[k] = src[k, l]
                _dot_blocked(wmat_t, dy_row_t, dpatch_t, np.bool_(False))
                col = 0
                for c in range(channels):
                    for a in range(fd):
                        for b in range(fh):
                            dst = dxp[c, i * sd + a, j * sh + b]
                            if sw == 1:
                                for e in range(fw):
                                    drow = dpatch_t[col + e]
                                    dste = dst[e:]
                                    for l in range(wo):
                                        dste[l] += drow[l]
                            else:
                                # per position a contiguous run of fw taps (no scatter)
                                taps = dpatch_t[col:col + fw]
                                for l in range(wo):
                                    dste = dst[l * sw:]
                                    for e in range(fw):
                                        dste[e] += taps[e, l]
                            col += fw
        for c in range(channels):
            for d in range(depth):
                for h in range(height):
                    src = dxp[c, d + pd, h + ph, pw:]
                    dst = dx[n, c, d, h]
                    for l in range(width):
                        dst[l] = src[l]


def conv3d_backward_weight(x, dy, dw, db, sd, sh, sw, pd, ph, pw):
    """dw, db = gradients of sum(y * dy) with respect to w and b.

    x : (N, C, D, H, W), dy : (N, K, Do, Ho, Wo), dw : (K, C, FD, FH, FW), db : (K,), both written
    in full. ``dw[k, c, a, p, q] = sum_{n,i,j,l} dy[n, k, i, j, l] * xpad[n, c, i*sd + a, j*sh + p,
    l*sw + q]``; db[k] = sum of dy[:, k] (accumulated in float64).
    Two forms, same result up to rounding (both are tested directly): the direct form
    (:func:`_backward_weight_direct`, no patch copy) when the padded width over the stride is at
    most 5/4 of the output width and x is finite, else the copying form
    (:func:`_backward_weight_copy`). A plain Python dispatcher: a model compiles only the forms it
    uses.
    """
    wo = dy.shape[4]
    wq = (x.shape[4] + 2 * pw + sw - 1) // sw
    if wq * DIRECT_MAX_WIDTH_RATIO[1] <= wo * DIRECT_MAX_WIDTH_RATIO[0]:
        if _backward_weight_direct(x, dy, dw, db, sd, sh, sw, pd, ph, pw):
            return
    _backward_weight_copy(x, dy, dw, db, sd, sh, sw, pd, ph, pw)


def _backward_weight_direct(x, dy, dw, db, sd, sh, sw, pd, ph, pw):
    """conv3d_backward_weight without a patch copy (same arguments); returns False, with dw and
    db untouched, if x holds a NaN or an infinity.

    The padded input is split into stride phases along H and W (:func:`_pad_phases`: planes
    ``xq[n, c, d, r, s]`` of (Hq, Wq) values, Wq = ceil(Wp / sw)). The output positions (j, l) of
    a block of R rows of one (n, i) plane are numbered ``j * Wq + l``; the Wq - Wo positions
    l >= Wo of each row are dummies whose dy is zero. The patch row of tap (c, a, b, e) is then the
    contiguous run of phase plane (n, c, i*sd + a, b % sh, e % sw) that starts at
    ``(j0 + b // sh) * Wq + e // sw``, read in place by :func:`_dot_offsets` (work: Wq / Wo times
    the useful flops, hence the width rule of the caller). A dummy position reads a real input
    value, so a NaN or infinity there would turn 0 * inf into a NaN in a tap that never sees it:
    with a non-finite x the caller uses the copying form.
    Extra memory: the padded phase-split input (plus a few zero rows at the end of every plane,
    so that the last block reads in range), WEIGHT_CHUNKS private (round4(K), round4(C*F))
    matrices and per chunk a (round4(K), L) dy block, L = round16(R * Wq), about DIRECT_TARGET.
    """
    n_batch, n_out, do, ho, wo = dy.shape
    _, channels, fd, fh, fw = dw.shape
    wq = (x.shape[4] + 2 * pw + sw - 1) // sw
    rows = max(1, min(ho, DIRECT_TARGET // wq))
    n_row_blocks = (ho + rows - 1) // rows
    rows = (ho + n_row_blocks - 1) // n_row_blocks
    length_p = _round_up(rows * wq, LANES)
    # the last tap row of the last block reads up to this flat offset of its plane
    reach = ((n_row_blocks - 1) * rows + (fh - 1) // sh) * wq + (fw - 1) // sw + length_p
    hq = max((x.shape[3] + 2 * ph + sh - 1) // sh, (reach + wq - 1) // wq)
    badness = np.empty(n_batch * channels, dtype=x.dtype)
    xq = _pad_phases(x, pd, ph, pw, sh, sw, hq, badness)
    if np.isnan(badness).any():
        return False
    units = n_batch * do * n_row_blocks
    chunks = max(1, min(units, WEIGHT_CHUNKS))
    partial = np.zeros((chunks, _round_up(n_out, 4), _round_up(channels * fd * fh * fw, 4)), dtype=dw.dtype)
    _weight_chunks_direct(xq, dy, partial, fd, fh, fw, sd, rows, length_p)
    _reduce_weight_and_bias(partial, dy, dw, db)
    return True


def _backward_weight_copy(x, dy, dw, db, sd, sh, sw, pd, ph, pw):
    """conv3d_backward_weight by patch copies (any stride; same arguments).

    Work unit: a block of R consecutive whole output rows in (n, i, j) order, possibly spanning
    several (n, i) planes (L = R * Wo positions, about BLOCK_TARGET): dy_block[K, L] is
    copied, patch_t[C*FD*FH*FW, L] gathered from the padded input, then dW_chunk += dy_block @
    patch_t.T. Extra memory: the padded input, WEIGHT_CHUNKS private (round4(K), round4(C*F))
    matrices, and per chunk one dy_block and one patch_t of L rounded up to 16.
    """
    n_batch, n_out, do, ho, wo = dy.shape
    _, channels, fd, fh, fw = dw.shape
    cf = channels * fd * fh * fw
    if pd == 0 and ph == 0 and pw == 0:
        xp = x
    else:
        badness = np.empty(n_batch * channels, dtype=x.dtype)
        hp = x.shape[3] + 2 * ph
        xp = _pad_phases(x, pd, ph, pw, 1, 1, hp, badness).reshape(
            n_batch, channels, x.shape[2] + 2 * pd, hp, x.shape[4] + 2 * pw)
    # blocks of consecutive output rows in (n, i, j) order; a block may span (n, i) planes, so that
    # small planes (LeNet C3: 10 x 10) still give long reductions
    total_rows = n_batch * do * ho
    rows_per_block = max(1, min(total_rows, (BLOCK_TARGET + wo - 1) // wo))
    n_blocks = (total_rows + rows_per_block - 1) // rows_per_block
    chunks = max(1, min(n_blocks, WEIGHT_CHUNKS))
    partial = np.zeros((chunks, _round_up(n_out, 4), _round_up(cf, 4)), dtype=dw.dtype)
    _weight_chunks(xp, dy, partial, fd, fh, fw, sd, sh, sw, rows_per_block)
    _reduce_weight_and_bias(partial, dy, dw, db)


@parallel_kernel
def _weight_chunks(xp, dy, partial, fd, fh, fw, sd, sh, sw, rows_per_block):
    """The parallel part of :func:`_backward_weight_copy`: chunk ``i`` of the output-row blocks
    accumulates its private ``partial[i] += dy_block @ patch_t.T`` (one parallel region)."""
    n_batch, n_out, do, ho, wo = dy.shape
    channels = xp.shape[1]
    chunks, kp, cfp = partial.shape
    total_rows = n_batch * do * ho
    n_blocks = (total_rows + rows_per_block - 1) // rows_per_block
    length_p = _round_up(rows_per_block * wo, LANES)
    for chunk in prange(chunks):
        dy_block = np.zeros((kp, length_p), dtype=dy.dtype)
        patch_t = np.zeros((cfp, length_p), dtype=dy.dtype)
        mine = partial[chunk]
        start = chunk * n_blocks // chunks
        stop = (chunk + 1) * n_blocks // chunks
        for blk in range(start, stop):
            r0 = blk * rows_per_block
            n_rows = min(total_rows, r0 + rows_per_block) - r0
            length = n_rows * wo
            if length < rows_per_block * wo:   # short last block: clear the stale tail
                for k in range(kp):
                    tail = dy_block[k, length:]
                    for l in range(tail.shape[0]):
                        tail[l] = 0
                for col in range(cfp):
                    tail = patch_t[col, length:]
                    for l in range(tail.shape[0]):
                        tail[l] = 0
            for rr in range(n_rows):
                g = r0 + rr   # global output row -> (n, i, j)
                n = g // (do * ho)
                rem = g - n * (do * ho)
                i = rem // ho
                j = rem - i * ho
                for k in range(n_out):
                    srow = dy[n, k, i, j]
                    dst = dy_block[k, rr * wo:]
                    for l in range(wo):
                        dst[l] = srow[l]
                col = 0
                for c in range(channels):
                    for a in range(fd):
                        for b in range(fh):
                            for e in range(fw):
                                srow = xp[n, c, i * sd + a, j * sh + b, e:]
                                drow = patch_t[col, rr * wo:]
                                if sw == 1:   # (a multiply in the index costs 2x here)
                                    for l in range(wo):
                                        drow[l] = srow[l]
                                else:
                                    for l in range(wo):
                                        drow[l] = srow[l * sw]
                                col += 1
            _dot_blocked(dy_block, patch_t, mine, np.bool_(True))


@serial_kernel
def _dot_offsets(a, bflat, boff, c, length):
    """``c[i, j] += sum_{l < length} a[i, l] * bflat[boff[j] + l]``: :func:`_dot_blocked` with the
    rows of ``b`` given as offsets into one flat array (shifted views of the padded input, no copy).

    a : (M, >= length), c : (M, N), M and N multiples of 4, ``length`` a multiple of LANES.
    The outer loop walks 4-row blocks of ``a`` (kept in L1), the inner one 4-row blocks of ``b``:
    neighbouring taps are shifts of the same input rows, so their loads mostly hit L1 too.
    """
    m = a.shape[0]
    n = c.shape[1]
    zero = np.zeros(1, dtype=c.dtype)[0]
    for i in range(0, m, 4):
        a0 = a[i]
        a1 = a[i + 1]
        a2 = a[i + 2]
        a3 = a[i + 3]
        for j in range(0, n, 4):
            b0 = bflat[boff[j]:]
            b1 = bflat[boff[j + 1]:]
            b2 = bflat[boff[j + 2]:]
            b3 = bflat[boff[j + 3]:]
            c00 = c[i, j]
            c01 = c[i, j + 1]
            c02 = c[i, j + 2]
            c03 = c[i, j + 3]
            c10 = c[i + 1, j]
            c11 = c[i + 1, j + 1]
            c12 = c[i + 1, j + 2]
            c13 = c[i + 1, j + 3]
            c20 = c[i + 2, j]
            c21 = c[i + 2, j + 1]
            c22 = c[i + 2, j + 2]
            c23 = c[i + 2, j + 3]
            c30 = c[i + 3, j]
            c31 = c[i + 3, j + 1]
            c32 = c[i + 3, j + 2]
            c33 = c[i + 3, j + 3]
            s00 = zero
            s01 = s00
            s02 = s00
            s03 = s00
            s10 = s00
            s11 = s00
            s12 = s00
            s13 = s00
            s20 = s00
            s21 = s00
            s22 = s00
            s23 = s00
            s30 = s00
            s31 = s00
            s32 = s00
            s33 = s00
            for l in range(length):
                x0 = a0[l]
                x1 = a1[l]
                x2 = a2[l]
                x3 = a3[l]
                y0 = b0[l]
                y1 = b1[l]
                y2 = b2[l]
                y3 = b3[l]
                s00 += x0 * y0
                s01 += x0 * y1
                s02 += x0 * y2
                s03 += x0 * y3
                s10 += x1 * y0
                s11 += x1 * y1
                s12 += x1 * y2
                s13 += x1 * y3
                s20 += x2 * y0
                s21 += x2 * y1
                s22 += x2 * y2
                s23 += x2 * y3
                s30 += x3 * y0
                s31 += x3 * y1
                s32 += x3 * y2
                s33 += x3 * y3
            c[i, j] = c00 + s00
            c[i, j + 1] = c01 + s01
            c[i, j + 2] = c02 + s02
            c[i, j + 3] = c03 + s03
            c[i + 1, j] = c10 + s10
            c[i + 1, j + 1] = c11 + s11
            c[i + 1, j + 2] = c12 + s12
            c[i + 1, j + 3] = c13 + s13
            c[i + 2, j] = c20 + s20
            c[i + 2, j + 1] = c21 + s21
            c[i + 2, j + 2] = c22 + s22
            c[i + 2, j + 3] = c23 + s23
            c[i + 3, j] = c30 + s30
            c[i + 3, j + 1] = c31 + s31
            c[i + 3, j + 2] = c32 + s32
            c[i + 3, j + 3] = c33 + s33


@parallel_kernel
def _pad_phases(x, pd, ph, pw, sh, sw, hq, badness):
    """Zero-padded copy of x (N, C, D, H, W), split into stride phases along H and W: an array
    (N, C, Dp, sh, sw, hq, Wq) with ``xq[n, c, d, r, s, m, t] = xpad[n, c, d, m*sh + r, t*sw + s]``
    (zero past the padded input), Dp = D + 2 pd, Wq = ceil((W + 2 pw) / sw), hq >= ceil((H + 2 ph)
    / sh). With sh = sw = 1 it is the padded input with hq - (H + 2 ph) zero rows appended.
    ``badness[n * C + c]`` becomes NaN if x[n, c] holds a NaN or an infinity (0 otherwise).
    One parallel region, over the (n, c) volumes.
    """
    n_batch, channels, depth, height, width = x.shape
    dp = depth + 2 * pd
    wq = (width + 2 * pw + sw - 1) // sw
    xq = np.empty((n_batch, channels, dp, sh, sw, hq, wq), dtype=x.dtype)
    zero = np.zeros(1, dtype=x.dtype)[0]
    for vol in prange(n_batch * channels):
        n = vol // channels
        c = vol - n * channels
        bad = zero
        for dd in range(dp):
            d = dd - pd
            for r in range(sh):
                for m in range(hq):
                    h = m * sh + r - ph
                    valid = d >= 0 and d < depth and h >= 0 and h < height
                    for s in range(sw):
                        dst = xq[n, c, dd, r, s, m]
                        if not valid:
                            for t in range(wq):
                                dst[t] = zero
                            continue
                        # columns t with 0 <= t*sw + s - pw < W
                        t0 = max(0, (pw - s + sw - 1) // sw)
                        t1 = max(t0, min(wq, (width - 1 + pw - s) // sw + 1))
                        for t in range(t0):
                            dst[t] = zero
                        tail = dst[t1:]
                        for t in range(tail.shape[0]):
                            tail[t] = zero
                        mid = dst[t0:]
                        src = x[n, c, d, h, t0 * sw + s - pw:]
                        if sw == 1:
                            for t in range(t1 - t0):
                                v = src[t]
                                mid[t] = v
                                bad += v * zero   # 0, or NaN for a NaN or an infinity
                        else:
                            for t in range(t1 - t0):
                                v = src[t * sw]
                                mid[t] = v
                                bad += v * zero
        badness[vol] = bad
    return xq


@parallel_kernel
def _weight_chunks_direct(xq, dy, partial, fd, fh, fw, sd, rows_per_block, length_p):
    """The parallel part of :func:`_backward_weight_direct` (one parallel region): work units are
    blocks of ``rows_per_block`` output rows of one (n, i) plane, and chunk ``chunk`` of them
    accumulates ``partial[chunk] += dy_block @ patch_t.T``, the patch rows read in place from the
    phase-split input ``xq`` (N, C, Dp, sh, sw, Hq, Wq)."""
    n_batch, n_out, do, ho, wo = dy.shape
    channels, dpp, sh, sw, hq, wq = (xq.shape[1], xq.shape[2], xq.shape[3], xq.shape[4],
                                     xq.shape[5], xq.shape[6])
    chunks, kp, cfp = partial.shape
    taps = fd * fh * fw
    cf = channels * taps
    plane = hq * wq
    xflat = xq.reshape(xq.size)
    blocks_per_plane = (ho + rows_per_block - 1) // rows_per_block
    units = n_batch * do * blocks_per_plane
    for chunk in prange(chunks):
        dy_block = np.zeros((kp, length_p), dtype=dy.dtype)
        boff = np.empty(cfp, dtype=np.int64)
        mine = partial[chunk]
        start = chunk * units // chunks
        stop = (chunk + 1) * units // chunks
        for unit in range(start, stop):
            n = unit // (do * blocks_per_plane)
            rem = unit - n * (do * blocks_per_plane)
            i = rem // blocks_per_plane
            j0 = (rem - i * blocks_per_plane) * rows_per_block
            rows = min(rows_per_block, ho - j0)
            for k in range(n_out):
                drow = dy_block[k]
                for r in range(rows):
                    src = dy[n, k, i, j0 + r]
                    dst = drow[r * wq:]
                    for l in range(wo):
                        dst[l] = src[l]
                    gap = dst[wo:wq]
                    for l in range(gap.shape[0]):
                        gap[l] = 0
                tail = drow[rows * wq:]
                for l in range(tail.shape[0]):
                    tail[l] = 0
            for col in range(cfp):
                t = min(col, cf - 1)   # padding columns repeat the last tap (never stored)
                c = t // taps
                tap = t - c * taps
                a = tap // (fh * fw)
                be = tap - a * (fh * fw)
                b = be // fw
                e = be - b * fw
                phase_plane = (((n * channels + c) * dpp + i * sd + a) * sh + b % sh) * sw + e % sw
                boff[col] = phase_plane * plane + (j0 + b // sh) * wq + e // sw
            _dot_offsets(dy_block, xflat, boff, mine, length_p)


@parallel_kernel
def _reduce_weight_and_bias(partial, dy, dw, db):
    """dw = sum of the chunks' partial sums in chunk order; db[k] = sum of dy[:, k] in float64
    (one parallel region, over output channels)."""
    n_batch, n_out = dy.shape[0], dy.shape[1]
    chunks = partial.shape[0]
    cf = dw.size // n_out
    dflat = dw.reshape(n_out, cf)
    spatial = dy.shape[2] * dy.shape[3] * dy.shape[4]
    dyf = dy.reshape(n_batch, n_out, spatial)
    for k in prange(n_out):
        drow = dflat[k]
        first = partial[0, k]
        for j in range(cf):
            drow[j] = first[j]
        for chunk in range(1, chunks):   # same order as a running sum p0 + p1 + ... per element
            prow = partial[chunk, k]
            for j in range(cf):
                drow[j] += prow[j]
        bias_total = 0.0
        for n in range(n_batch):
            row = dyf[n, k]
            for l in range(spatial):
                bias_total += row[l]
        db[k] = bias_total

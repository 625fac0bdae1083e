"""Max-pooling kernels, 2-D, forward and backward (3-D: :mod:`fastnet.kernels.pooling3d`, on this
module's row helpers).

Layouts: x (N, C, H, W) / (N, C, D, H, W), C-contiguous; ``out``/``dy`` (N, C, Ho, Wo) /
(N, C, Do, Ho, Wo). Padding is implicit -inf: each window is clamped to the real cells it covers
(the wrappers guarantee ``padding <= kernel // 2``, so every window holds at least one real cell),
so no padded copy and no bounds test in the inner loop are needed.

Semantics (PyTorch's): the max of a window is taken in row-major order over the window, a NaN
wins and stays (``if v > m or v != v``), ties keep the FIRST cell. Backward routes each window's
gradient to that cell and accumulates where windows overlap.

Parallelism: ``prange`` over the N*C planes. Each plane of ``out``/``dx`` is written by exactly
one iteration, in a fixed order, so results are bitwise reproducible for any thread count.

The generic forward passes work one output row at a time: first the element-wise max of the
window's input rows (contiguous rows, a branch-free select that LLVM vectorises) into a row
buffer ``colmax`` that stays in L1, then the max over each window's columns of that buffer (the
common 2x2/2 case with a constant stride). Only the few border windows clamped by padding take a
scalar loop. Forward values do not depend on the visiting order (ties have equal values; a NaN
is sticky), so this order gives the same result as the row-major one. The common 2x2 / 2 and
2x2x2 / 2 windows without padding are fused into one pass over their 2 (or 4) input rows per
output row (constant strides, vectorised, no row buffer). The 3x3 / 2 paths (forward and
backward, :mod:`fastnet.kernels.pooling_3x3s2`), and the 2x2 / 2 backward where output rows are
short, instead work on whole planes at once (see maxpool2d_forward and _row_form_min_bytes), in
runs of planes whose scratch is allocated once per thread; small 2x2 / 2 planes are stacked into
taller ones first (_merged_planes).

Timing note: on a 2-core machine each parallel region needs both cores at once. When the other
core is busy (another process), the second thread waits for a scheduler time slice (measured
4-8 ms per region), which for these millisecond kernels looks like 1-3 GB/s instead of 20-40;
NumPy's and PyTorch's 2-thread kernels show the same. Measure on a quiet machine.
"""

import numpy as np
from numba import prange

from ._config import parallel_kernel, serial_kernel, vector_bytes
from .pool_scan import _chunk_bounds, _n_chunks, _scan_step, _take
from .pooling_3x3s2 import _maxpool2d_backward_3x3s2, _maxpool2d_forward_3x3s2


@serial_kernel
def _clamped_range(o, stride, pad, kernel, size):
    """The real cells [start, stop) of the window at output index ``o``."""
    first = o * stride - pad
    return max(first, 0), min(first + kernel, size)


@serial_kernel
def _interior_outputs(stride, pad, kernel, size, n_out):
    """Output indices [lo, hi) whose windows lie entirely inside [0, size)."""
    lo = (pad + stride - 1) // stride                 # first o with o*stride - pad >= 0
    hi = (size + pad - kernel) // stride + 1          # one past the last o with o*s - p + k <= size
    lo = min(lo, n_out)
    hi = max(min(hi, n_out), lo)
    return lo, hi


# 2x2 / 2 without padding: planes of an even height are merged into planes of up to this many
# values (see _merged_planes)
MERGED_PLANE_VALUES = 4096


def _merged_planes(x, *others):
    """x (N, C, H, W) and the arrays of its 2x2 / 2 pooling (its output, dy, dx: (N, C, Ho, ...)),
    viewed as (P / k, 1, k H, W) and (P / k, 1, k Ho, ...), P = N C, with k the largest divisor of
    P for which a merged plane holds at most MERGED_PLANE_VALUES values: planes of an even height
    stacked are one taller plane whose windows are theirs (no window crosses two planes). The
    kernels' loops run per plane, so for small planes their per-plane costs dominated; stacked,
    fewer and longer loops. Two Zen 4 threads, float32, 2026-12-07, backward us, planes / merged:
    LeNet-5 on 8x8 digits' (64, 6, 8, 8) 39 / 21 and (64, 16, 4, 4) 79 / 21, on 28x28 MNIST's
    (64, 16, 10, 10) 118 / 58 and (64, 6, 28, 28) 123 / 104; forwards 14 / 12, 18 / 13, 42 / 34,
    61 / 51. Odd heights (floor mode drops each plane's last row) keep their planes."""
    n, c, h, w = x.shape
    planes = n * c
    k = 1
    if h % 2 == 0:
        for d in range(max(1, min(planes, MERGED_PLANE_VALUES // max(1, h * w))), 0, -1):
            if planes % d == 0:
                k = d
                break
    if k == 1:
        return (x,) + others
    return (x.reshape(planes // k, 1, k * h, w),) + tuple(
        a.reshape(planes // k, 1, k * a.shape[2], a.shape[3]) for a in others)


@serial_kernel
def _row_max_into(acc, row):
    """acc[w] = max(acc[w], row[w]) over a whole row; a NaN wins and stays. Vectorises."""
    for w in range(acc.shape[0]):
        v = row[w]
        a = acc[w]
        acc[w] = v if (v > a or v != v) else a


@serial_kernel
def _pool_columns(colmax, out_row, kw, sw, pw):
    """out_row[o] = max of colmax over the clamped window [o*sw - pw, o*sw - pw + kw)."""
    width = colmax.shape[0]
    out_w = out_row.shape[0]
    lo, hi = _interior_outputs(sw, pw, kw, width, out_w)
    for ow in range(lo):
        ws, we = _clamped_range(ow, sw, pw, kw, width)
        m = colmax[ws]
        for w in range(ws, we):
            v = colmax[w]
            m = v if (v > m or v != v) else m
        out_row[ow] = m
    for ow in range(hi, out_w):
        ws, we = _clamped_range(ow, sw, pw, kw, width)
        m = colmax[ws]
        for w in range(ws, we):
            v = colmax[w]
            m = v if (v > m or v != v) else m
        out_row[ow] = m
    n_inner = hi - lo
    if n_inner <= 0:
        return
    src = colmax[lo * sw - pw:]
    dst = out_row[lo:hi]
    if kw == 2 and sw == 2:
        # the common 2x2 / 2 case: constant stride, so LLVM vectorises the interleaved loads
        for k in range(n_inner):
            a = src[2 * k]
            v = src[2 * k + 1]
            dst[k] = v if (v > a or v != v) else a
    elif kw == 3 and sw == 2:
        # 3x3 / 2 (AlexNet, ResNet stems): also a constant stride
        for k in range(n_inner):
            a = src[2 * k]
            v = src[2 * k + 1]
            a = v if (v > a or v != v) else a
            v = src[2 * k + 2]
            dst[k] = v if (v > a or v != v) else a
    elif sw == 1:
        # overlapping stride-1 windows: contiguous loads
        for k in range(n_inner):   # (a loop: slice assignment compiles Numba's shape-error path)
            dst[k] = src[k]
        for j in range(1, kw):
            shifted = src[j:]
            for k in range(n_inner):
                v = shifted[k]
                m = dst[k]
                dst[k] = v if (v > m or v != v) else m
    else:
        for k in range(n_inner):
            dst[k] = src[k * sw]
        for j in range(1, kw):
            shifted = src[j:]
            for k in range(n_inner):
                v = shifted[k * sw]
                m = dst[k]
                dst[k] = v if (v > m or v != v) else m


def maxpool2d_forward(x, out, kh, kw, sh, sw, ph, pw, fast=True):
    """out[n, c, i, j] = max of x[n, c] over the (clamped) window of output (i, j).

    Per output row: the element-wise max of the window's input rows (contiguous, vectorised)
    goes into ``colmax``, then each output takes the max of its kw columns of ``colmax``.

    ``fast`` (tests pass False to get the generic path) selects the fused paths: 2x2 / 2 and
    3x3 / 2 without padding. The 3x3 / 2 path takes the max over the window's three rows of the
    even and the odd columns separately (two deinterleaved buffers, filled for a whole plane by
    one loop), then each output the max of even[k], odd[k], even[k + 1]: all loads contiguous or
    full stride-2 pairs. Row-by-row loops of out_w lanes (27 for AlexNet's 55x55) spent much of
    their time in LLVM's scalar remainder: 0.46 ms against 0.29 for the (8, 96, 55, 55) bench
    case on 2 threads (Zen 4).
    A plain Python dispatcher: each path is its own kernel, compiled only when a model reaches it.
    """
    if fast and kh == 3 and kw == 3 and sh == 2 and sw == 2 and ph == 0 and pw == 0:
        _maxpool2d_forward_3x3s2(x, out, _n_chunks(x.shape[0] * x.shape[1]))
    elif fast and kh == 2 and kw == 2 and sh == 2 and sw == 2 and ph == 0 and pw == 0:
        x, out = _merged_planes(x, out)
        _maxpool2d_forward_2x2s2(x, out)
    else:
        _maxpool2d_forward_generic(x, out, kh, kw, sh, sw, ph, pw)


@parallel_kernel
def _maxpool2d_forward_2x2s2(x, out):
    """The fused path of :func:`maxpool2d_forward`: 2x2 / 2, no padding."""
    n_batch, n_chan, height, width = x.shape
    out_h, out_w = out.shape[2], out.shape[3]
    # the most common case, fused into one pass with constant strides
    for p in prange(n_batch * n_chan):
        n = p // n_chan
        c = p - n * n_chan
        for oh in range(out_h):
            top = x[n, c, 2 * oh]
            bottom = x[n, c, 2 * oh + 1]
            dst = out[n, c, oh]
            for k in range(out_w):
                m = top[2 * k]
                v = top[2 * k + 1]
                m = v if (v > m or v != v) else m
                v = bottom[2 * k]
                m = v if (v > m or v != v) else m
                v = bottom[2 * k + 1]
                dst[k] = v if (v > m or v != v) else m


@parallel_kernel
def _maxpool2d_forward_generic(x, out, kh, kw, sh, sw, ph, pw):
    """The generic path of :func:`maxpool2d_forward` (any window, stride and padding)."""
    n_batch, n_chan, height, width = x.shape
    out_h = out.shape[2]
    for p in prange(n_batch * n_chan):
        n = p // n_chan
        c = p - n * n_chan
        plane = x[n, c]
        out_plane = out[n, c]
        colmax = np.empty(width, dtype=x.dtype)
        for oh in range(out_h):
            hs, he = _clamped_range(oh, sh, ph, kh, height)
            first = plane[hs]
            for w in range(width):
                colmax[w] = first[w]
            for h in range(hs + 1, he):
                _row_max_into(colmax, plane[h])
            _pool_columns(colmax, out_plane[oh], kw, sw, pw)


@serial_kernel
def _window_argmax_2d(plane, hs, he, ws, we):
    """Flat index of the max of plane[hs:he, ws:we]: first in row-major order on ties, the
    first NaN when there is one. Selects rather than branches (random data mispredicts)."""
    height, width = plane.shape
    flat = plane.reshape(height * width)
    best = hs * width + ws
    for h in range(hs, he):
        row = plane[h]
        for w in range(ws, we):
            v = row[w]
            m = flat[best]
            take = np.int64((v > m) | ((v != v) & (m == m)))   # first NaN wins and stays
            best += take * (h * width + w - best)
    return best


@serial_kernel
def _route_pair(drow, win, grow, first):
    """grow[2k + j] = drow[k] where win[k] == first + j, else 0 (j = 0, 1); the uncovered last
    cell of an odd row gets 0. A -0.0 gradient is stored as +0.0, as ``0 + dy`` in the generic
    path. One row stored per loop keeps LLVM's alias checks few enough to vectorise."""
    for k in range(win.shape[0]):
        g = drow[k]
        g = g if g != 0.0 else 0.0
        i = win[k]
        grow[2 * k] = g if i == first else 0.0
        grow[2 * k + 1] = g if i == first + 1 else 0.0
    if grow.shape[0] > 2 * win.shape[0]:
        grow[grow.shape[0] - 1] = 0.0


@serial_kernel
def _winner2_split(plane, width, win):
    """win[j] = the row-major position (0..3) of the first max of the 2x2 window whose top-left
    cell is at offset 2j of a flattened plane, for j < win.shape[0]: with lanes j = i * width + k
    that is window (i, k) for k < out_w; the lanes k >= out_w read the next rows and are unused.
    Both columns of a pair are loaded together (a full stride-2 group, see _colarg3_split)."""
    top = plane
    bottom = plane[width:]
    for j in range(win.shape[0]):
        m = top[2 * j]
        i = np.int32(0)
        m, i = _scan_step(top[2 * j + 1], m, i, np.int32(1))
        m, i = _scan_step(bottom[2 * j], m, i, np.int32(2))
        v = bottom[2 * j + 1]
        win[j] = np.int32(3) if _take(v, m) else i


def maxpool2d_backward(x, dy, dx, kh, kw, sh, sw, ph, pw, fast=True):
    """dx = sum over windows of dy routed to each window's argmax (first on ties, NaN wins).

    The 2x2 / 2 case without padding (``fast``; tests pass False to get the generic path) has
    no overlap, so no accumulation: per output row, one pass over the two input rows picks each
    window's winner with selects (row-major order, first NaN sticky) and writes dy to it and 0 to
    the 3 other cells, so each dx cell is stored once; floor mode's uncovered last row/column is
    zeroed. Short output rows (LeNet's 14) take the whole-plane form of the same
    (_maxpool2d_backward_2x2s2_planes, chosen by _row_form_min_bytes).

    The 3x3 / 2 case without padding (``fast``; AlexNet / ResNet-style stems, where windows
    overlap by one row and one column) finds, for a whole plane in one loop, each column's first
    max over the window's three rows (even and odd columns deinterleaved, so all loads are
    contiguous or full stride-2 pairs, no vgather), then each window's row-major first max from
    its three columns (_take_earlier), as a position 0..8 (scratch allocated once per thread, not
    per plane: 1.47 -> 0.99 ms for the (8, 96, 55, 55) bench case on 2 threads, Zen 4). One more
    loop over the plane's column pairs then writes every dx cell once, with selects
    (_route3_pairs): odd rows and columns belong to one window, even ones to up to two per
    direction, whose gradients are added in output order (_ordered_add), so the result is bitwise
    the generic path's. Floor mode's uncovered last row and column get 0.

    Per output row, the argmax of every interior window is found by sweeping the window's cells
    in row-major order across the whole row (a running index per output column, updated with
    integer arithmetic rather than a select, which LLVM turned into a mispredicted branch),
    then dy is scattered serially in output order, so overlapping windows accumulate in the same
    order as the reference loop. Border windows clamped by padding use a scalar loop.
    A plain Python dispatcher: each path is its own kernel, compiled only when a model reaches it.
    """
    if fast and kh == 2 and kw == 2 and sh == 2 and sw == 2 and ph == 0 and pw == 0:
        x, dy, dx = _merged_planes(x, dy, dx)
        if dy.shape[3] * dy.itemsize < _row_form_min_bytes():
            _maxpool2d_backward_2x2s2_planes(x, dy, dx, _n_chunks(x.shape[0] * x.shape[1]))
        else:
            _maxpool2d_backward_2x2s2(x, dy, dx, _n_chunks(x.shape[0] * x.shape[1]))
    elif fast and kh == 3 and kw == 3 and sh == 2 and sw == 2 and ph == 0 and pw == 0:
        _maxpool2d_backward_3x3s2(x, dy, dx, _n_chunks(x.shape[0] * x.shape[1]))
    else:
        _maxpool2d_backward_generic(x, dy, dx, kh, kw, sh, sw, ph, pw)


@parallel_kernel
def _maxpool2d_backward_2x2s2(x, dy, dx, n_chunks):
    """The fused path of :func:`maxpool2d_backward`: 2x2 / 2, no padding. ``n_chunks`` runs of
    consecutive planes (one per thread) each allocate their row of winners once."""
    n_batch, n_chan, height, width = x.shape
    out_h, out_w = dy.shape[2], dy.shape[3]
    n_planes = n_batch * n_chan
    # two passes per output row, each with at most 2 arrays stored / 3 loaded: with more,
    # LLVM's runtime alias checks exceed its limit and the loop stays scalar (6 ms, not 0.6)
    for chunk in prange(n_chunks):
        win = np.empty(out_w, dtype=np.int32)   # each window's winner, 0..3 row-major
        start, stop = _chunk_bounds(np.int64(chunk), n_chunks, n_planes)
        for p in range(start, stop):
            n = p // n_chan
            c = p - n * n_chan
            for oh in range(out_h):
                top = x[n, c, 2 * oh]
                bottom = x[n, c, 2 * oh + 1]
                # _winner2_split's loop, written out: a call to it measured 13% slower here
                # ((16, 64, 56, 56): 0.55 -> 0.63 ms, 2 threads, Zen 4)
                for k in range(out_w):
                    m = top[2 * k]
                    i = np.int32(0)
                    m, i = _scan_step(top[2 * k + 1], m, i, np.int32(1))
                    m, i = _scan_step(bottom[2 * k], m, i, np.int32(2))
                    v = bottom[2 * k + 1]
                    win[k] = np.int32(3) if _take(v, m) else i
                drow = dy[n, c, oh]
                _route_pair(drow, win, dx[n, c, 2 * oh], 0)
                _route_pair(drow, win, dx[n, c, 2 * oh + 1], 2)
            if height > 2 * out_h:
                dx[n, c, height - 1] = 0.0


def _row_form_min_bytes():
    """The shortest output row (in bytes) for which the row-by-row 2x2 / 2 backward beats the
    whole-plane one: below it the row loops run in LLVM's scalar remainder, whose selects
    compile to branches on AVX2 (mispredicted on data: 5-7x slower) and to masked moves on
    AVX-512. Measured (Zen 4, 2 threads, float32, 2026-12-05), row / plane us: AVX-512: LeNet's
    (64, 6, 28, 28) 104 / 73, (64, 32, 24, 24) 284 / 272, (16, 64, 32, 32) 196 / 296, (16, 64,
    56, 56) 561 / 969; AVX2: (64, 6, 28, 28) 537 / 82, (64, 16, 10, 10) 81 / 71, (16, 64, 40,
    40) 2642 / 378, (16, 64, 48, 48) 315 / 514, (4, 64, 112, 112) 343 / 754. So one vector on
    AVX-512 and three (LLVM's minimum trip count for that vector loop) on AVX2 and SSE."""
    vb = vector_bytes()
    return vb if vb >= 64 else 3 * vb


@parallel_kernel
def _maxpool2d_backward_2x2s2_planes(x, dy, dx, n_chunks):
    """The whole-plane form of the 2x2 / 2 backward (no padding), for short output rows (see
    _row_form_min_bytes). Per plane, one loop over lanes j = i * width + k finds every window's
    winner (_winner2_split), one writes the even dx rows in place (the lanes k >= out_w write
    junk into the odd rows, rewritten next) and one the odd rows into a scratch, copied row by
    row. Extra memory per chunk (one per thread): lanes of int32 and of x's dtype, ~out_h * width
    each, and a scratch of twice that."""
    n_batch, n_chan, height, width = x.shape
    out_h, out_w = dy.shape[2], dy.shape[3]
    n_lanes = (out_h - 1) * width + out_w   # the last lane's reads stay in the plane
    n_planes = n_batch * n_chan
    zero = dx.dtype.type(0)
    for chunk in prange(n_chunks):
        win = np.empty(n_lanes, dtype=np.int32)
        dl = np.zeros(n_lanes, dtype=x.dtype)   # dy on the lanes (the others are never stored)
        odd_rows = np.empty(2 * n_lanes, dtype=x.dtype)
        start, stop = _chunk_bounds(np.int64(chunk), n_chunks, n_planes)
        for p in range(start, stop):
            n = p // n_chan
            c = p - n * n_chan
            dxf = dx[n, c].reshape(height * width)
            for oh in range(out_h):
                src = dy[n, c, oh]
                dst = dl[oh * width:]
                for k in range(out_w):
                    dst[k] = src[k]
            _winner2_split(x[n, c].reshape(height * width), width, win)
            _route_pair(dl, win, dxf[:2 * n_lanes], 0)
            _route_pair(dl, win, odd_rows, 2)
            for oh in range(out_h):
                src = odd_rows[2 * oh * width:]
                dst = dx[n, c, 2 * oh + 1]
                for q in range(2 * out_w):
                    dst[q] = src[q]
            if width > 2 * out_w:   # floor mode's uncovered last column (and the junk there)
                for r in range(2 * out_h):
                    dxf[r * width + width - 1] = zero
            if height > 2 * out_h:
                dx[n, c, height - 1] = 0.0


@parallel_kernel
def _maxpool2d_backward_generic(x, dy, dx, kh, kw, sh, sw, ph, pw):
    """The generic path of :func:`maxpool2d_backward` (any window, stride and padding)."""
    n_batch, n_chan, height, width = x.shape
    out_h, out_w = dy.shape[2], dy.shape[3]
    lo, hi = _interior_outputs(sw, pw, kw, width, out_w)
    n_inner = hi - lo
    for p in prange(n_batch * n_chan):
        n = p // n_chan
        c = p - n * n_chan
        plane = x[n, c]
        grad = dx[n, c].reshape(height * width)
        grad[:] = 0
        dplane = dy[n, c]
        flat = plane.reshape(height * width)
        best_index = np.empty(max(n_inner, 1), dtype=np.int64)
        for oh in range(out_h):
            hs, he = _clamped_range(oh, sh, ph, kh, height)
            drow = dplane[oh]
            for ow in range(lo):
                ws, we = _clamped_range(ow, sw, pw, kw, width)
                grad[_window_argmax_2d(plane, hs, he, ws, we)] += drow[ow]
            if n_inner > 0:
                base = lo * sw - pw
                for k in range(n_inner):
                    best_index[k] = hs * width + base + k * sw
                for h in range(hs, he):
                    for j in range(kw):
                        src = plane[h, base + j:]
                        offset = h * width + base + j
                        for k in range(n_inner):
                            v = src[k * sw]
                            i = best_index[k]
                            m = flat[i]   # the running max, re-read (L1) instead of kept: a
                            # float select here compiles to a data-dependent branch
                            take = np.int64((v > m) | ((v != v) & (m == m)))
                            best_index[k] = i + take * (offset + k * sw - i)
                dinner = drow[lo:hi]
                for k in range(n_inner):
                    grad[best_index[k]] += dinner[k]
            for ow in range(hi, out_w):
                ws, we = _clamped_range(ow, sw, pw, kw, width)
                grad[_window_argmax_2d(plane, hs, he, ws, we)] += drow[ow]

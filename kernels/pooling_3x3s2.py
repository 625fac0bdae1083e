"""The fused 3x3 / 2 max-pooling paths without padding (AlexNet's and ResNet-style stems), forward and
backward: whole planes at a time, the even and the odd columns deinterleaved (see
:func:`fastnet.kernels.pooling.maxpool2d_forward` and :func:`~fastnet.kernels.pooling.maxpool2d_backward`,
which dispatch to them)."""

import numpy as np
from numba import prange

from ._config import parallel_kernel, serial_kernel, strict_kernel
from .pool_scan import _chunk_bounds, _scan_step, _take


@serial_kernel
def _max_take(v, m):
    """max(m, v) for the forward passes: a NaN wins and stays."""
    return v if (v > m or v != v) else m


@serial_kernel
def _colmax3_split(plane, width, even, odd):
    """The max over rows 2i..2i + 2 of each column pair (2k, 2k + 1), for all output rows i of a
    flattened plane at once: lane j = i * width + k, whose pair starts at plane offset 2j (row 2i,
    column 2k), gets column 2k's max in even[j] and column 2k + 1's in odd[j], for
    j < odd.shape[0]. Lanes with k >= out_w read the next rows and are unused: one loop of
    ~out_h * width lanes instead of out_h loops of out_w lanes (see _colarg3_split). Both columns
    of a pair are loaded together (a full stride-2 group, which LLVM vectorises with shuffles; a
    lone stride-2 or ``2k + 2`` load becomes a slow vgather)."""
    r0 = plane
    r1 = plane[width:]
    r2 = plane[2 * width:]
    for k in range(odd.shape[0]):
        even[k] = _max_take(r2[2 * k], _max_take(r1[2 * k], r0[2 * k]))
        odd[k] = _max_take(r2[2 * k + 1], _max_take(r1[2 * k + 1], r0[2 * k + 1]))


@serial_kernel
def _pool3_split(even, odd, out_row):
    """out_row[k] = max(even[k], odd[k], even[k + 1]): the 3-wide stride-2 windows over columns
    deinterleaved by _colmax3_split, read with contiguous loads."""
    next_even = even[1:]
    for k in range(out_row.shape[0]):
        out_row[k] = _max_take(next_even[k], _max_take(odd[k], even[k]))


@parallel_kernel
def _maxpool2d_forward_3x3s2(x, out, n_chunks):
    """The fused path of :func:`maxpool2d_forward`: 3x3 / 2, no padding.

    Per plane, the column maxima (_colmax3_split) and the window maxima (_pool3_split) of all its
    windows are found by one long loop each over lanes j = i * width + k (output row i, window
    k; the lanes with k >= out_w are computed and unused), then each output row is copied out.
    ``n_chunks`` runs of consecutive planes (one per thread) each allocate their lane buffers once.
    Extra memory per chunk: 3 lanes arrays of x's dtype, (out_h - 1) * width + out_w + 1 each."""
    n_batch, n_chan, height, width = x.shape
    out_h, out_w = out.shape[2], out.shape[3]
    last = 2 * out_w   # the last column read (the third column of the last window)
    n_lanes = (out_h - 1) * width + out_w   # lanes of all windows; the last read stays in the plane
    n_planes = n_batch * n_chan
    for chunk in prange(n_chunks):
        even = np.empty(n_lanes + 1, dtype=x.dtype)
        odd = np.empty(n_lanes, dtype=x.dtype)
        lanes = np.empty(n_lanes, dtype=x.dtype)
        start, stop = _chunk_bounds(np.int64(chunk), n_chunks, n_planes)
        for p in range(start, stop):
            n = p // n_chan
            c = p - n * n_chan
            _colmax3_split(x[n, c].reshape(height * width), width, even, odd)
            # the last lane's column 2 * out_w (the other rows' are their lanes k = out_w)
            r0 = x[n, c, 2 * out_h - 2]
            r1 = x[n, c, 2 * out_h - 1]
            r2 = x[n, c, 2 * out_h]
            even[n_lanes] = _max_take(r2[last], _max_take(r1[last], r0[last]))
            _pool3_split(even, odd, lanes)
            for oh in range(out_h):
                src = lanes[oh * width:]
                dst = out[n, c, oh]
                for k in range(out_w):
                    dst[k] = src[k]


# Compiled without fast-math, so that LLVM keeps the order of a chain of these additions (with
# ``reassoc`` it regroups ((a + b) + c) + d, which changes the rounding): a dx cell shared by up to
# four overlapping windows then sums their gradients in the generic path's (output) order and
# the result is bitwise the same. Inlined by LLVM; the loop still vectorises.
@strict_kernel
def _ordered_add(a, b):
    return a + b


@serial_kernel
def _take_earlier(v, rv, m, rm):
    """True when column candidate (value ``v``, row ``rv``) replaces the running best (``m``,
    ``rm``) of a window scanned column by column: greater, the first NaN, or equal (both NaN
    counts as equal) from an earlier row. With each column's candidate being the first max of
    that column, this picks the window's first max in row-major order."""
    return _take(v, m) | (((v == m) | ((v != v) & (m != m))) & (rv < rm))


@serial_kernel
def _colarg3_split(plane, width, even, even_row, odd, odd_row):
    """The first max over rows 2i..2i + 2 of each column pair (2k, 2k + 1), for all output rows i
    of a flattened plane at once: lane j = i * width + k, whose column pair starts at plane offset
    2j (row 2i, column 2k). even/even_row get column 2k's max and the row (0..2) of its first
    occurrence, odd/odd_row column 2k + 1's, for j < odd.shape[0]. Lanes with k >= out_w read
    (and store) values of the next rows that are not used: one loop of ~out_h * width lanes
    instead of out_h loops of out_w lanes, which spent most of their time in LLVM's scalar
    remainder. Both columns of a pair are loaded together (a full stride-2 group, vectorised with
    shuffles; a lone stride-2 or ``2k + 2`` load becomes a slow vgather)."""
    r0 = plane
    r1 = plane[width:]
    r2 = plane[2 * width:]
    for k in range(odd.shape[0]):
        m = r0[2 * k]
        i = np.int32(0)
        m, i = _scan_step(r1[2 * k], m, i, np.int32(1))
        even[k], even_row[k] = _scan_step(r2[2 * k], m, i, np.int32(2))
        m = r0[2 * k + 1]
        i = np.int32(0)
        m, i = _scan_step(r1[2 * k + 1], m, i, np.int32(1))
        odd[k], odd_row[k] = _scan_step(r2[2 * k + 1], m, i, np.int32(2))


@serial_kernel
def _winner3_split(even, even_row, odd, odd_row, win):
    """win[k] = the row-major position (3 * row + column, 0..8) of the first max of the 3x3
    window k, from its three columns' first maxima (even[k], odd[k], even[k + 1])."""
    next_even = even[1:]
    next_row = even_row[1:]
    for k in range(win.shape[0]):
        m = even[k]
        r = even_row[k]
        col = np.int32(0)
        v = odd[k]
        rv = odd_row[k]
        t = _take_earlier(v, rv, m, r)
        m = v if t else m
        r = rv if t else r
        col = np.int32(1) if t else col
        v = next_even[k]
        rv = next_row[k]
        t = _take_earlier(v, rv, m, r)
        r = rv if t else r
        col = np.int32(2) if t else col
        win[k] = 3 * r + col


@serial_kernel
def _route3_pairs(out, win, dl, n, width):
    """Cells 2t and 2t + 1 of a flat dx plane, for t < n: every dx cell of the 3x3 / 2 windows
    (rows 0 .. 2 out_h) in one loop, each cell stored once. ``win``/``dl`` hold each window's
    winner (0..8) and its gradient (no -0.0) at lane i * width + k (output row i, window k),
    stored at index width + 1 + lane; every other index holds dl = 0 (so its win is irrelevant).

    The pair t is a column pair of one row (or, for an odd width, the last column of an even row
    and column 0 of the next row). On an even row 2i + 2 (i = -1 .. out_h - 1) the cells 2m and
    2m + 1 get windows (i, m - 1), (i, m), (i + 1, m - 1), (i + 1, m): lanes t - width - 1, t -
    width, t - 1, t. On an odd row 2i + 1, the windows (i, k) and (i, k + 1) of a column pair are
    at lanes t - h and t - h + 1 (odd width, columns 2k + 1, 2k + 2) or t - h - 1 and t - h (even
    width, columns 2k + 2, 2k + 3 = 2m, 2m + 1). Each pair computes both rows' sums: at a pair of
    the other kind of row, every lane it reads is off the windows (dl = 0), so that sum is +0 and
    adding it is exact. Overlapping windows add in output order (_ordered_add), bitwise the
    generic path's sum. Floor mode's uncovered last column gets 0 (no window covers it). One
    loop of about (2 out_h + 1) * width / 2 lanes, no junk lanes and no scratch: it replaced
    three loops of out_h * width lanes, half of them junk, and a row-by-row copy (the 3x3 / 2
    backward of (8, 96, 55, 55), 2 threads, Zen 3: 1.47 -> 1.05 ms with _take's new form)."""
    zero = out.dtype.type(0)
    odd_width = width % 2 == 1
    h = (width + 1) // 2   # the odd rows' windows are h lanes (plus one, even width) back
    wa, da = win, dl                                      # lane t - width - 1
    wb, db = win[1:], dl[1:]                              # t - width
    wc, dc = win[width:], dl[width:]                      # t - 1
    wd, dd = win[width + 1:], dl[width + 1:]              # t
    wg, dg = win[width + 1 - h:], dl[width + 1 - h:]      # t - h
    if odd_width:
        for t in range(n):
            e0, e1 = _even_row_pair(wa[t], da[t], wb[t], db[t], wc[t], dc[t], wd[t], dd[t], zero)
            g = dg[t]
            i = wg[t]
            k1 = wg[t + 1]
            odd1 = _ordered_add(g if i == 5 else zero, dg[t + 1] if k1 == 3 else zero)
            out[2 * t] = _ordered_add(e0, g if i == 4 else zero)
            out[2 * t + 1] = _ordered_add(e1, odd1)
    else:
        wf, df = win[width - h:], dl[width - h:]          # t - h - 1
        for t in range(n):
            e0, e1 = _even_row_pair(wa[t], da[t], wb[t], db[t], wc[t], dc[t], wd[t], dd[t], zero)
            g = dg[t]
            i = wg[t]
            odd0 = _ordered_add(df[t] if wf[t] == 5 else zero, g if i == 3 else zero)
            out[2 * t] = _ordered_add(e0, odd0)
            out[2 * t + 1] = _ordered_add(e1, g if i == 4 else zero)


@serial_kernel
def _even_row_pair(wa, ga, wb, gb, wc, gc, wd, gd, zero):
    """The cells 2m and 2m + 1 of an even dx row 2i + 2, for _route3_pairs: windows a = (i, m - 1),
    b = (i, m), c = (i + 1, m - 1) and d = (i + 1, m) with winners w* and gradients g*, added in
    that (output) order. ``zero``: 0 in the gradients' dtype."""
    left = _ordered_add(_ordered_add(_ordered_add(ga if wa == 8 else zero, gb if wb == 6 else zero),
                                     gc if wc == 2 else zero), gd if wd == 0 else zero)
    return left, _ordered_add(gb if wb == 7 else zero, gd if wd == 1 else zero)


@serial_kernel
def _positive_zeros(src, dst):
    """dst = src with -0.0 replaced by +0.0 (the generic path's ``0 + dy``)."""
    zero = dst.dtype.type(0)
    for i in range(src.shape[0]):
        g = src[i]
        dst[i] = g if g != zero else zero


@parallel_kernel
def _maxpool2d_backward_3x3s2(x, dy, dx, n_chunks):
    """The fused path of :func:`maxpool2d_backward`: 3x3 / 2, no padding.

    Per plane, the column maxima (_colarg3_split) and the winners (_winner3_split) of all its
    windows are found by one long loop each over lanes j = i * width + k (output row i, window
    k; the lanes with k >= out_w are computed and unused), then every dx cell of the windows' rows
    by one loop over column pairs (_route3_pairs). ``n_chunks`` runs of consecutive planes (one
    per thread) each allocate their scratch once. Extra memory per chunk: 6 arrays of x's dtype
    or int32 of about out_h * width elements each."""
    n_batch, n_chan, height, width = x.shape
    out_h, out_w = dy.shape[2], dy.shape[3]
    last = 2 * out_w   # the last column read (the third column of the last window)
    n_lanes = (out_h - 1) * width + out_w   # lanes of all windows; the last read stays in the plane
    front = width + 1   # win/dl hold lane j at index front + j, after zeros (see _route3_pairs)
    n_cells = (2 * out_h + 1) * width   # dx rows 0 .. 2 out_h
    n_pairs = n_cells // 2   # an odd width leaves the last cell, set below
    n_planes = n_batch * n_chan
    zero = dx.dtype.type(0)
    for chunk in prange(n_chunks):
        even = np.empty(n_lanes + 1, dtype=x.dtype)
        even_row = np.empty(n_lanes + 1, dtype=np.int32)
        odd = np.empty(n_lanes, dtype=x.dtype)
        odd_row = np.empty(n_lanes, dtype=np.int32)
        # the indices of win/dl off the window lanes keep dl = 0 for every plane
        win = np.zeros(front + n_pairs + width + 2, dtype=np.int32)
        dl = np.zeros(front + n_pairs + width + 2, dtype=x.dtype)   # dy on the lanes, no -0.0
        start, stop = _chunk_bounds(np.int64(chunk), n_chunks, n_planes)
        for p in range(start, stop):
            n = p // n_chan
            c = p - n * n_chan
            plane = x[n, c].reshape(height * width)
            dxf = dx[n, c].reshape(height * width)
            for oh in range(out_h):
                _positive_zeros(dy[n, c, oh], dl[front + oh * width:front + oh * width + out_w])
            _colarg3_split(plane, width, even, even_row, odd, odd_row)
            # the last lane's column 2 * out_w (the other rows' are their lanes k = out_w)
            r0 = x[n, c, 2 * out_h - 2]
            r1 = x[n, c, 2 * out_h - 1]
            r2 = x[n, c, 2 * out_h]
            m = r0[last]
            i = np.int32(0)
            m, i = _scan_step(r1[last], m, i, np.int32(1))
            even[n_lanes], even_row[n_lanes] = _scan_step(r2[last], m, i, np.int32(2))
            _winner3_split(even, even_row, odd, odd_row, win[front:front + n_lanes])
            _route3_pairs(dxf, win, dl, n_pairs, width)
            if n_cells > 2 * n_pairs:   # odd width: row 2 out_h's last cell, the last window's 8
                j = front + n_lanes - 1
                dxf[n_cells - 1] = dl[j] if win[j] == 8 else zero
            if height > 2 * out_h + 1:
                dx[n, c, height - 1] = 0.0

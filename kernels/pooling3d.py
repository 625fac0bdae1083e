"""Max-pooling kernels, 3-D, forward and backward: the same semantics, layouts and parallelism as
the 2-D ones in :mod:`fastnet.kernels.pooling` (see its docstring), on its row helpers. The
2x2x2 / 2 window without padding has fused paths; every other window takes the generic loops.
"""

import numpy as np
from numba import prange

from ._config import parallel_kernel
from .pool_scan import _scan_step, _take
from .pooling import _clamped_range, _pool_columns, _route_pair, _row_max_into


@parallel_kernel
def maxpool3d_forward(x, out, kd, kh, kw, sd, sh, sw, pd, ph, pw):
    """out[n, c, i, j, k] = max of x[n, c] over the (clamped) window of output (i, j, k)."""
    n_batch, n_chan, depth, height, width = x.shape
    out_d, out_h, out_w = out.shape[2], out.shape[3], out.shape[4]
    if (kd == 2 and kh == 2 and kw == 2 and sd == 2 and sh == 2 and sw == 2
            and pd == 0 and ph == 0 and pw == 0):
        # the common 2x2x2 / 2 case, fused into one pass over the four input rows of each output
        # row with constant strides (vectorised); the order of the maxima does not matter (see the
        # module docstring)
        for p in prange(n_batch * n_chan):
            n = p // n_chan
            c = p - n * n_chan
            for od in range(out_d):
                for oh in range(out_h):
                    r0 = x[n, c, 2 * od, 2 * oh]
                    r1 = x[n, c, 2 * od, 2 * oh + 1]
                    r2 = x[n, c, 2 * od + 1, 2 * oh]
                    r3 = x[n, c, 2 * od + 1, 2 * oh + 1]
                    dst = out[n, c, od, oh]
                    for k in range(out_w):
                        m = r0[2 * k]
                        v = r0[2 * k + 1]
                        m = v if (v > m or v != v) else m
                        v = r1[2 * k]
                        m = v if (v > m or v != v) else m
                        v = r1[2 * k + 1]
                        m = v if (v > m or v != v) else m
                        v = r2[2 * k]
                        m = v if (v > m or v != v) else m
                        v = r2[2 * k + 1]
                        m = v if (v > m or v != v) else m
                        v = r3[2 * k]
                        m = v if (v > m or v != v) else m
                        v = r3[2 * k + 1]
                        dst[k] = v if (v > m or v != v) else m
        return
    for p in prange(n_batch * n_chan):
        n = p // n_chan
        c = p - n * n_chan
        vol = x[n, c]
        out_vol = out[n, c]
        colmax = np.empty(width, dtype=x.dtype)
        for od in range(out_d):
            ds, de = _clamped_range(od, sd, pd, kd, depth)
            for oh in range(out_h):
                hs, he = _clamped_range(oh, sh, ph, kh, height)
                first = vol[ds, hs]
                for w in range(width):
                    colmax[w] = first[w]
                for d in range(ds, de):
                    for h in range(hs + 1 if d == ds else hs, he):   # the first row is in colmax
                        _row_max_into(colmax, vol[d, h])
                _pool_columns(colmax, out_vol[od, oh], kw, sw, pw)


@parallel_kernel
def maxpool3d_backward(x, dy, dx, kd, kh, kw, sd, sh, sw, pd, ph, pw, fast=True):
    """dx = sum over windows of dy routed to each window's argmax (first on ties, NaN wins).

    The 2x2x2 / 2 case without padding (``fast``) works as maxpool2d_backward's 2x2 / 2 path,
    over the four input rows of each output row.
    """
    n_batch, n_chan, depth, height, width = x.shape
    out_d, out_h, out_w = dy.shape[2], dy.shape[3], dy.shape[4]
    if (fast and kd == 2 and kh == 2 and kw == 2 and sd == 2 and sh == 2 and sw == 2
            and pd == 0 and ph == 0 and pw == 0):
        for p in prange(n_batch * n_chan):
            n = p // n_chan
            c = p - n * n_chan
            win = np.empty(out_w, dtype=np.int32)   # each window's winner, 0..7 row-major
            for od in range(out_d):
                for oh in range(out_h):
                    r0 = x[n, c, 2 * od, 2 * oh]
                    r1 = x[n, c, 2 * od, 2 * oh + 1]
                    r2 = x[n, c, 2 * od + 1, 2 * oh]
                    r3 = x[n, c, 2 * od + 1, 2 * oh + 1]
                    for k in range(out_w):
                        m = r0[2 * k]
                        i = np.int32(0)
                        m, i = _scan_step(r0[2 * k + 1], m, i, np.int32(1))
                        m, i = _scan_step(r1[2 * k], m, i, np.int32(2))
                        m, i = _scan_step(r1[2 * k + 1], m, i, np.int32(3))
                        m, i = _scan_step(r2[2 * k], m, i, np.int32(4))
                        m, i = _scan_step(r2[2 * k + 1], m, i, np.int32(5))
                        m, i = _scan_step(r3[2 * k], m, i, np.int32(6))
                        v = r3[2 * k + 1]
                        win[k] = np.int32(7) if _take(v, m) else i
                    drow = dy[n, c, od, oh]
                    _route_pair(drow, win, dx[n, c, 2 * od, 2 * oh], 0)
                    _route_pair(drow, win, dx[n, c, 2 * od, 2 * oh + 1], 2)
                    _route_pair(drow, win, dx[n, c, 2 * od + 1, 2 * oh], 4)
                    _route_pair(drow, win, dx[n, c, 2 * od + 1, 2 * oh + 1], 6)
                if height > 2 * out_h:
                    dx[n, c, 2 * od, height - 1] = 0.0
                    dx[n, c, 2 * od + 1, height - 1] = 0.0
            if depth > 2 * out_d:
                dx[n, c, depth - 1] = 0.0
        return
    for p in prange(n_batch * n_chan):
        n = p // n_chan
        c = p - n * n_chan
        vol = x[n, c]
        flat = vol.reshape(depth * height * width)
        grad = dx[n, c].reshape(depth * height * width)
        grad[:] = 0
        dvol = dy[n, c]
        for od in range(out_d):
            ds, de = _clamped_range(od, sd, pd, kd, depth)
            for oh in range(out_h):
                hs, he = _clamped_range(oh, sh, ph, kh, height)
                drow = dvol[od, oh]
                for ow in range(out_w):
                    ws, we = _clamped_range(ow, sw, pw, kw, width)
                    best = (ds * height + hs) * width + ws
                    for d in range(ds, de):
                        for h in range(hs, he):
                            row = vol[d, h]
                            base = (d * height + h) * width
                            for w in range(ws, we):
                                v = row[w]
                                m = flat[best]
                                take = np.int64((v > m) | ((v != v) & (m == m)))
                                best += take * (base + w - best)   # arithmetic, not a branch
                    grad[best] += drow[ow]

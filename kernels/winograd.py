"""Winograd F(2x2, 3x3) convolution for 3x3 stride-1 2-D layers (Lavin & Gray, CVPR 2016).

Each 2x2 block of outputs ("tile") of one (image, output channel) is computed from the 4x4 input
window that covers it as ``Y = A^T [ sum_c (G g_kc G^T) * (B^T d_c B) ] A`` (elementwise product
of 4x4 matrices): 16 multiplies per tile and channel pair instead of 36 (2.25x fewer). With the 16
transformed weights ``U[e] (K, C)`` and, for a chunk of T tiles, the transformed inputs
``V[e] (C, T)``, the sum over channels is 16 matrix products ``M[e] = U[e] @ V[e]`` (K, T), done
by BLAS (``np.dot`` inside the kernel: scipy's sgemm/dgemm, called single-threaded from each
``prange`` iteration, as in :mod:`fastnet.kernels.dense`).

Layout: the input is padded physically once and split into even and odd columns,
``xq[n, c, h, s, j] = xpad[n, c, h, 2j + s]`` (:func:`_pad_even_odd`), so that the input
transform reads every input row contiguously (tile column ``tj`` reads ``j = tj, tj + 1``) and
writes V contiguously along the tiles. Tiles are grouped in whole tile rows (image n, tile row ti);
a work chunk is a fixed number of consecutive tile rows (about TILE_TARGET tiles), fixed by the
shapes alone, so results are bitwise identical across thread counts.

Error: the transforms have coefficients 0, +-1 and 1/2 (G), so the float32 result differs from
the exact one by a few units of roundoff more than the direct sum: measured max |error| / max|y|
about 1e-6 on unit-normal data with C = 64..256 (float64 reference), about 2x the direct core.

Extra memory: the padded even/odd copy of x, (N, C, 2*ceil(Ho/2) + 2, 2, ceil(Wo/2) + 1) (about the
size of x), the transformed weights U (16, K, C), and per chunk in flight (one per thread) V
(16, C, T) and M (16, K, T), T about TILE_TARGET (VGG 64 -> 64: 2 x 512 KB float32).
"""

import numpy as np
from numba import prange

from ._config import parallel_kernel, serial_kernel

TILE_TARGET = 64    # about this many 2x2 output tiles per work chunk (whole tile rows)

@serial_kernel
def winograd_weights(w):
    """U (16, K, C) with ``U[4*i + j, k, c] = (G w[k, c] G^T)[i, j]``; w (K, C, 3, 3) float32/64.

    G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]; computed in float64 and rounded
    once to w's dtype. Serial (K*C*16 values: 2 ms for 256 -> 256 channels).
    """
    n_out, channels = w.shape[0], w.shape[1]
    u = np.empty((16, n_out, channels), dtype=w.dtype)
    g = np.empty((3, 3))
    t = np.empty((4, 3))
    for k in range(n_out):
        for c in range(channels):
            for p in range(3):
                for q in range(3):
                    g[p, q] = w[k, c, p, q]
            for q in range(3):   # t = G g
                t[0, q] = g[0, q]
                t[1, q] = 0.5 * (g[0, q] + g[1, q] + g[2, q])
                t[2, q] = 0.5 * (g[0, q] - g[1, q] + g[2, q])
                t[3, q] = g[2, q]
            for i in range(4):   # U = t G^T
                u[4 * i, k, c] = t[i, 0]
                u[4 * i + 1, k, c] = 0.5 * (t[i, 0] + t[i, 1] + t[i, 2])
                u[4 * i + 2, k, c] = 0.5 * (t[i, 0] - t[i, 1] + t[i, 2])
                u[4 * i + 3, k, c] = t[i, 2]
    return u


@parallel_kernel
def _pad_even_odd(x, ph, pw, hq, wq):
    """xq (N, C, hq, 2, wq): ``xq[n, c, h, s, j] = x[n, c, h - ph, 2j + s - pw]`` (zero outside x).

    One parallel region over the (n, c) planes; strided reads, contiguous writes.
    """
    n_batch, channels, height, width = x.shape
    xq = np.empty((n_batch, channels, hq, 2, wq), dtype=x.dtype)
    zero = np.zeros(1, dtype=x.dtype)[0]
    for plane in prange(n_batch * channels):
        n = plane // channels
        c = plane - n * channels
        row = np.empty(max(2 * wq, pw + width), dtype=x.dtype)
        for hh in range(hq):
            h = hh - ph
            even = xq[n, c, hh, 0]
            odd = xq[n, c, hh, 1]
            if h < 0 or h >= height:
                for j in range(wq):
                    even[j] = zero
                    odd[j] = zero
                continue
            # the padded row, xpad[h, l] for l < 2 wq, into `row`; then split it (a factor-2
            # interleaved read, which LLVM vectorises with shuffles)
            for l in range(pw):
                row[l] = zero
            src = x[n, c, h]
            mid = row[pw:]
            for l in range(width):
                mid[l] = src[l]
            tail = row[pw + width:]
            for l in range(tail.shape[0]):
                tail[l] = zero
            for j in range(wq):
                even[j] = row[2 * j]
                odd[j] = row[2 * j + 1]
    return xq


@parallel_kernel
def _winograd_chunks(xq, u, bias, y, rows_per_chunk):
    """The parallel part of :func:`conv2d_forward_winograd` (one region, over chunks of tile rows).

    xq (N, C, Hq, 2, Wq) from :func:`_pad_even_odd`, u (16, K, C), bias (K,), y (N, K, Ho, Wo).
    """
    n_batch, channels, hq, _, wq = xq.shape
    n_out = u.shape[1]
    ho, wo = y.shape[2], y.shape[3]
    th = (ho + 1) // 2
    tw = (wo + 1) // 2
    pairs = wo // 2            # tiles whose two output columns are both in range
    total_rows = n_batch * th
    chunks = (total_rows + rows_per_chunk - 1) // rows_per_chunk
    for chunk in prange(chunks):
        r_first = chunk * rows_per_chunk
        n_rows = min(total_rows, r_first + rows_per_chunk) - r_first
        tiles = n_rows * tw
        v = np.empty((16, channels, tiles), dtype=y.dtype)
        m = np.empty((16, n_out, tiles), dtype=y.dtype)
        # input transform V = B^T d B
        for rr in range(n_rows):
            g = r_first + rr
            n = g // th
            ti = g - n * th
            base = rr * tw
            for c in range(channels):
                e0 = xq[n, c, 2 * ti, 0]
                o0 = xq[n, c, 2 * ti, 1]
                e1 = xq[n, c, 2 * ti + 1, 0]
                o1 = xq[n, c, 2 * ti + 1, 1]
                e2 = xq[n, c, 2 * ti + 2, 0]
                o2 = xq[n, c, 2 * ti + 2, 1]
                e3 = xq[n, c, 2 * ti + 3, 0]
                o3 = xq[n, c, 2 * ti + 3, 1]
                e0n = e0[1:]
                o0n = o0[1:]
                e1n = e1[1:]
                o1n = o1[1:]
                e2n = e2[1:]
                o2n = o2[1:]
                e3n = e3[1:]
                o3n = o3[1:]
                v00 = v[0, c, base:]
                v01 = v[1, c, base:]
                v02 = v[2, c, base:]
                v03 = v[3, c, base:]
                v10 = v[4, c, base:]
                v11 = v[5, c, base:]
                v12 = v[6, c, base:]
                v13 = v[7, c, base:]
                v20 = v[8, c, base:]
                v21 = v[9, c, base:]
                v22 = v[10, c, base:]
                v23 = v[11, c, base:]
                v30 = v[12, c, base:]
                v31 = v[13, c, base:]
                v32 = v[14, c, base:]
                v33 = v[15, c, base:]
                for t in range(tw):
                    # the 4x4 window: row r is (e_r[t], o_r[t], e_r[t+1], o_r[t+1])
                    # columns first: B^T d (rows combined) ...
                    a0 = e0[t] - e2[t]
                    b0 = o0[t] - o2[t]
                    c0 = e0n[t] - e2n[t]
                    d0 = o0n[t] - o2n[t]
                    a1 = e1[t] + e2[t]
                    b1 = o1[t] + o2[t]
                    c1 = e1n[t] + e2n[t]
                    d1 = o1n[t] + o2n[t]
                    a2 = e2[t] - e1[t]
                    b2 = o2[t] - o1[t]
                    c2 = e2n[t] - e1n[t]
                    d2 = o2n[t] - o1n[t]
                    a3 = e1[t] - e3[t]
                    b3 = o1[t] - o3[t]
                    c3 = e1n[t] - e3n[t]
                    d3 = o1n[t] - o3n[t]
                    # ... then (B^T d) B (columns combined)
                    v00[t] = a0 - c0
                    v01[t] = b0 + c0
                    v02[t] = c0 - b0
                    v03[t] = b0 - d0
                    v10[t] = a1 - c1
                    v11[t] = b1 + c1
                    v12[t] = c1 - b1
                    v13[t] = b1 - d1
                    v20[t] = a2 - c2
                    v21[t] = b2 + c2
                    v22[t] = c2 - b2
                    v23[t] = b2 - d2
                    v30[t] = a3 - c3
                    v31[t] = b3 + c3
                    v32[t] = c3 - b3
                    v33[t] = b3 - d3
        # the 16 products M[e] = U[e] @ V[e] (BLAS)
        for e in range(16):
            np.dot(u[e], v[e], m[e])
        # output transform Y = A^T M A, plus the bias
        for rr in range(n_rows):
            g = r_first + rr
            n = g // th
            ti = g - n * th
            base = rr * tw
            two_rows = 2 * ti + 1 < ho
            for k in range(n_out):
                bk = bias[k]
                m00 = m[0, k, base:]
                m01 = m[1, k, base:]
                m02 = m[2, k, base:]
                m03 = m[3, k, base:]
                m10 = m[4, k, base:]
                m11 = m[5, k, base:]
                m12 = m[6, k, base:]
                m13 = m[7, k, base:]
                m20 = m[8, k, base:]
                m21 = m[9, k, base:]
                m22 = m[10, k, base:]
                m23 = m[11, k, base:]
                m30 = m[12, k, base:]
                m31 = m[13, k, base:]
                m32 = m[14, k, base:]
                m33 = m[15, k, base:]
                top = y[n, k, 2 * ti]
                for t in range(pairs):
                    s0 = m00[t] + m10[t] + m20[t]
                    s1 = m01[t] + m11[t] + m21[t]
                    s2 = m02[t] + m12[t] + m22[t]
                    s3 = m03[t] + m13[t] + m23[t]
                    top[2 * t] = s0 + s1 + s2 + bk
                    top[2 * t + 1] = s1 - s2 - s3 + bk
                if pairs < tw:   # odd Wo: the last tile has one column
                    t = pairs
                    top[2 * t] = m00[t] + m10[t] + m20[t] + m01[t] + m11[t] + m21[t] + \
                        m02[t] + m12[t] + m22[t] + bk
                if 2 * ti + 1 < ho:
                    bottom = y[n, k, 2 * ti + 1]
                    for t in range(pairs):
                        q0 = m10[t] - m20[t] - m30[t]
                        q1 = m11[t] - m21[t] - m31[t]
                        q2 = m12[t] - m22[t] - m32[t]
                        q3 = m13[t] - m23[t] - m33[t]
                        bottom[2 * t] = q0 + q1 + q2 + bk
                        bottom[2 * t + 1] = q1 - q2 - q3 + bk
                    if pairs < tw:
                        t = pairs
                        bottom[2 * t] = m10[t] - m20[t] - m30[t] + m11[t] - m21[t] - m31[t] + \
                            m12[t] - m22[t] - m32[t] + bk


def tile_rows_per_chunk(n_batch, ho, wo):
    """Tile rows per work chunk: about TILE_TARGET tiles, by shape only (not the thread count)."""
    tw = (wo + 1) // 2
    total_rows = n_batch * ((ho + 1) // 2)
    return max(1, min(total_rows, (TILE_TARGET + tw // 2) // tw))


def conv2d_forward_winograd(x, w, b, y, ph, pw):
    """y[n, k, i, j] = b[k] + sum_{c,p,q} w[k, c, p, q] * xpad[n, c, i + p, j + q] (3x3, stride 1).

    x : (N, C, H, W), w : (K, C, 3, 3), b : (K,), y : (N, K, Ho, Wo) with Ho = H + 2 ph - 2,
    Wo = W + 2 pw - 2, written in full; all C-contiguous, one dtype (float32 or float64); shapes
    validated by the caller. Any padding ph, pw >= 0. Extra memory: see the module docstring.
    A plain Python function: it pins scipy's OpenBLAS to one thread for the call (see
    :mod:`fastnet.kernels.dense`).
    """
    from .dense import _SerialBlas, _blas_funcs_once
    n_batch = x.shape[0]
    ho, wo = y.shape[2], y.shape[3]
    hq = 2 * ((ho + 1) // 2) + 2
    wq = (wo + 1) // 2 + 1
    xq = _pad_even_odd(x, ph, pw, hq, wq)
    u = winograd_weights(w)
    rows = tile_rows_per_chunk(n_batch, ho, wo)
    funcs = _blas_funcs_once()
    if funcs:
        with _SerialBlas(funcs):
            _winograd_chunks(xq, u, b, y, rows)
    else:
        _winograd_chunks(xq, u, b, y, rows)

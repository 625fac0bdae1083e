"""Winograd F(2x2, 3x3) convolution for 3x3 stride-1 2-D layers (Lavin & Gray, CVPR 2016).

Each 2x2 block of outputs ("tile") of one (image, output channel) is computed from the 4x4 input
window that covers it as ``Y = A^T [ sum_c (G g_kc G^T) * (B^T d_c B) ] A`` (elementwise product
of 4x4 matrices): 16 multiplies per tile and channel pair instead of 36 (2.25x fewer). With the 16
transformed weights ``U[e] (K, C)`` and, for a chunk of T tiles, the transformed inputs
``V[e] (T, C)``, the sum over channels is 16 matrix products ``M[e] = U[e] @ V[e].T`` (K, T),
done by the convolution core's register-blocked dot (``_dot_blocked`` in
:mod:`fastnet.kernels.conv3d`). Tried first: ``np.dot`` (OpenBLAS sgemm, single-threaded from
each prange iteration, V as (C, T)): 20 ms against 16.6 for VGG 64 -> 64 56x56 b8 on one Zen 5 (AVX-512)
core, whose OpenBLAS runs Haswell kernels at 80-90 GFLOP/s.

Layout: the input is padded physically once into channels-last rows (conv3d's
``_pad_channels_last``, rounded up to whole tiles), so the input transform reads and writes
contiguous runs of C values. Tiles are grouped in whole tile rows (image n, tile row ti); a work
chunk is a fixed number of consecutive tile rows (about TILE_TARGET tiles), fixed by the shapes
alone, and each output is written by one chunk: results are bitwise identical across runs and
thread counts.

Error: the transforms have coefficients 0, +-1 and 1/2, so the float32 result carries a few more
roundings than the direct sum: measured ``max(abs(error)) / max(abs(y))`` about 2e-7..7e-7 on unit-normal data
with C = 64..256 (float64 reference; the direct core: 1e-7..3e-7); tests bound it by 1e-5.

Extra memory: the padded channels-last copy of x, (N, 2 ceil(Ho/2) + 2, (2 ceil(Wo/2) + 2) * C)
(about the size of x), the transformed weights U (16, round4(K), round16(C)), and per chunk in
flight (at most one per thread) V (16, Tp, round16(C)) and M (16, round4(K), Tp), Tp =
round4(T), T about TILE_TARGET (VGG 64 -> 64: 2 x 229 KB float32).
"""

import numpy as np
from numba import prange

from ._config import parallel_kernel
from .conv3d import _dot_blocked, _pad_channels_last, _round_up

TILE_TARGET = 64    # at most about this many 2x2 output tiles per work chunk (whole tile rows)
MIN_CHUNKS = 16     # ... and fewer where that leaves at least this many chunks (threads balance)


@parallel_kernel
def winograd_weights(w, k_rows, c_cols):
    """U (16, k_rows, c_cols) with ``U[4*i + j, k, c] = (G w[k, c] G^T)[i, j]`` for k < K, c < C,
    zero elsewhere (k_rows >= K, c_cols >= C: the padding of the blocked dot); w (K, C, 3, 3).

    G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]; computed in float64 and rounded
    once to w's dtype. Parallel over k (serial it took 1-2 ms for 256 -> 256 channels, which
    did not shrink with threads).
    """
    n_out, channels = w.shape[0], w.shape[1]
    u = np.zeros((16, k_rows, c_cols), dtype=w.dtype)
    for k in prange(n_out):
        g = np.empty((3, 3))
        t = np.empty((4, 3))
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


def tile_rows_per_chunk(n_batch, ho, wo):
    """Tile rows per work chunk: about TILE_TARGET tiles, fewer while that leaves MIN_CHUNKS chunks
    (measured: 32 to 256 tiles run at the same speed on one thread). By shape only (not the thread
    count), so results do not depend on the thread count."""
    tw = (wo + 1) // 2
    total_rows = n_batch * ((ho + 1) // 2)
    rows = max(1, (TILE_TARGET + tw // 2) // tw)
    return max(1, min(total_rows, rows, (total_rows + MIN_CHUNKS - 1) // MIN_CHUNKS))


@parallel_kernel
def _winograd_chunks(xcl, channels, u, bias, y, rows_per_chunk):
    """The parallel part of :func:`conv2d_forward_winograd` (one region, over chunks of tile rows).

    xcl (N, 1, Hq, Wq * C) from conv3d's ``_pad_channels_last`` (Hq = 2 ceil(Ho/2) + 2, Wq the
    same for Wo), u (16, Kp, Cp) zero-padded (Kp = round4(K), Cp = round16(C)), bias (K,),
    y (N, K, Ho, Wo). Per chunk: V (16, Tp, Cp), each tile's C channel values contiguous (the input
    transform is vector loads and stores along C), then ``M[e] (Kp, Tp) = U[e] @ V[e].T`` by
    conv3d's register-blocked ``_dot_blocked``, then the output transform along the tiles.
    """
    n_batch = xcl.shape[0]
    _, kp, cp = u.shape
    n_out = y.shape[1]
    ho, wo = y.shape[2], y.shape[3]
    th = (ho + 1) // 2
    tw = (wo + 1) // 2
    pairs = wo // 2
    total_rows = n_batch * th
    chunks = (total_rows + rows_per_chunk - 1) // rows_per_chunk
    tp = (rows_per_chunk * tw + 3) // 4 * 4
    for chunk in prange(chunks):
        r_first = chunk * rows_per_chunk
        n_rows = min(total_rows, r_first + rows_per_chunk) - r_first
        v = np.zeros((16, tp, cp), dtype=y.dtype)
        m = np.empty((16, kp, tp), dtype=y.dtype)
        for rr in range(n_rows):
            g = r_first + rr
            n = g // th
            ti = g - n * th
            for tj in range(tw):
                t = rr * tw + tj
                base = 2 * tj * channels
                r0 = xcl[n, 0, 2 * ti, base:]
                r1 = xcl[n, 0, 2 * ti + 1, base:]
                r2 = xcl[n, 0, 2 * ti + 2, base:]
                r3 = xcl[n, 0, 2 * ti + 3, base:]
                v00 = v[0, t]
                v01 = v[1, t]
                v02 = v[2, t]
                v03 = v[3, t]
                v10 = v[4, t]
                v11 = v[5, t]
                v12 = v[6, t]
                v13 = v[7, t]
                v20 = v[8, t]
                v21 = v[9, t]
                v22 = v[10, t]
                v23 = v[11, t]
                v30 = v[12, t]
                v31 = v[13, t]
                v32 = v[14, t]
                v33 = v[15, t]
                r0b = r0[channels:]
                r0c = r0[2 * channels:]
                r0d = r0[3 * channels:]
                r1b = r1[channels:]
                r1c = r1[2 * channels:]
                r1d = r1[3 * channels:]
                r2b = r2[channels:]
                r2c = r2[2 * channels:]
                r2d = r2[3 * channels:]
                r3b = r3[channels:]
                r3c = r3[2 * channels:]
                r3d = r3[3 * channels:]
                for c in range(channels):
                    a0 = r0[c] - r2[c]
                    b0 = r0b[c] - r2b[c]
                    c0 = r0c[c] - r2c[c]
                    d0 = r0d[c] - r2d[c]
                    a1 = r1[c] + r2[c]
                    b1 = r1b[c] + r2b[c]
                    c1 = r1c[c] + r2c[c]
                    d1 = r1d[c] + r2d[c]
                    a2 = r2[c] - r1[c]
                    b2 = r2b[c] - r1b[c]
                    c2 = r2c[c] - r1c[c]
                    d2 = r2d[c] - r1d[c]
                    a3 = r1[c] - r3[c]
                    b3 = r1b[c] - r3b[c]
                    c3 = r1c[c] - r3c[c]
                    d3 = r1d[c] - r3d[c]
                    v00[c] = a0 - c0
                    v01[c] = b0 + c0
                    v02[c] = c0 - b0
                    v03[c] = b0 - d0
                    v10[c] = a1 - c1
                    v11[c] = b1 + c1
                    v12[c] = c1 - b1
                    v13[c] = b1 - d1
                    v20[c] = a2 - c2
                    v21[c] = b2 + c2
                    v22[c] = c2 - b2
                    v23[c] = b2 - d2
                    v30[c] = a3 - c3
                    v31[c] = b3 + c3
                    v32[c] = c3 - b3
                    v33[c] = b3 - d3
        for e in range(16):
            _dot_blocked(u[e], v[e], m[e], np.bool_(False))
        for rr in range(n_rows):
            g = r_first + rr
            n = g // th
            ti = g - n * th
            base = rr * tw
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
                if pairs < tw:
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


def conv2d_forward_winograd(x, w, b, y, ph, pw):
    """y[n, k, i, j] = b[k] + sum_{c,p,q} w[k, c, p, q] * xpad[n, c, i + p, j + q] (3x3, stride 1).

    x : (N, C, H, W), w : (K, C, 3, 3), b : (K,), y : (N, K, Ho, Wo) with Ho = H + 2 ph - 2,
    Wo = W + 2 pw - 2, written in full; all C-contiguous, one dtype (float32 or float64); shapes
    validated by the caller. Any padding ph, pw >= 0. Extra memory: see the module docstring.
    """
    n_batch, channels, h, wd = x.shape
    k = w.shape[0]
    ho, wo = y.shape[2], y.shape[3]
    hq = 2 * ((ho + 1) // 2) + 2
    wq2 = 2 * ((wo + 1) // 2) + 2
    xcl = _pad_channels_last(x.reshape(n_batch, channels, 1, h, wd), 0, ph, pw, 0, hq - h - 2 * ph,
                             wq2 - wd - 2 * pw)
    u = winograd_weights(w, _round_up(k, 4), _round_up(channels, 16))
    rows = tile_rows_per_chunk(n_batch, ho, wo)
    _winograd_chunks(xcl, channels, u, b, y, rows)

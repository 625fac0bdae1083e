"""Average-pooling kernels: 2-D windows (``avgpool2d``) and the global average (``global_avgpool2d``).

Layouts: x / dx (N, C, H, W), C-contiguous; ``out`` / ``dy`` (N, C, Ho, Wo). Semantics are
PyTorch's ``avg_pool2d`` defaults: zero padding that COUNTS in the divisor
(``count_include_pad=True``) and floor mode (``ceil_mode=False``). With ``padding <= kernel // 2``
(the wrappers check it, as PyTorch does) every window lies inside the padded input, so every
divisor is ``kh * kw``; a window is clamped to the real cells it covers (padded cells add 0).

Parallelism: ``prange`` over the N*C planes. Each plane of ``out``/``dx`` is written by exactly
one iteration in a fixed order (backward scatters each window into its own plane, overlapping
windows accumulate in row-major order), so results are bitwise reproducible for any thread count.

The global average works on (N*C, H*W) rows: one row, one iteration, summed in float64 in index
order.
"""

from numba import prange

from ._config import parallel_kernel


@parallel_kernel
def avgpool2d_forward(x, out, kh, kw, sh, sw, ph, pw):
    """out[n, c, i, j] = sum of x[n, c] over the window at (i*sh - ph, j*sw - pw) / (kh*kw).

    x : (N, C, H, W); out : (N, C, Ho, Wo), same dtype; ints kh, kw >= 1, sh, sw >= 1,
    0 <= ph <= kh // 2, 0 <= pw <= kw // 2.
    """
    n_batch, n_chan, height, width = x.shape
    out_h, out_w = out.shape[2], out.shape[3]
    scale = 1.0 / (kh * kw)
    for p in prange(n_batch * n_chan):
        n = p // n_chan
        c = p - n * n_chan
        plane = x[n, c]
        out_plane = out[n, c]
        for oh in range(out_h):
            hs = max(oh * sh - ph, 0)
            he = min(oh * sh - ph + kh, height)
            for ow in range(out_w):
                ws = max(ow * sw - pw, 0)
                we = min(ow * sw - pw + kw, width)
                acc = 0.0
                for h in range(hs, he):
                    for w in range(ws, we):
                        acc += plane[h, w]
                out_plane[oh, ow] = acc * scale


@parallel_kernel
def avgpool2d_backward(dy, dx, kh, kw, sh, sw, ph, pw):
    """dx[n, c] = sum over windows of dy[n, c, i, j] / (kh*kw) spread over each window's real cells.

    dy : (N, C, Ho, Wo); dx : (N, C, H, W), same dtype (overwritten); window ints as in
    :func:`avgpool2d_forward`.
    """
    n_batch, n_chan, height, width = dx.shape
    out_h, out_w = dy.shape[2], dy.shape[3]
    scale = dx.dtype.type(1.0 / (kh * kw))
    zero = dx.dtype.type(0.0)
    for p in prange(n_batch * n_chan):
        n = p // n_chan
        c = p - n * n_chan
        grad = dy[n, c]
        plane = dx[n, c]
        plane[:, :] = zero
        for oh in range(out_h):
            hs = max(oh * sh - ph, 0)
            he = min(oh * sh - ph + kh, height)
            for ow in range(out_w):
                ws = max(ow * sw - pw, 0)
                we = min(ow * sw - pw + kw, width)
                g = grad[oh, ow] * scale
                for h in range(hs, he):
                    for w in range(ws, we):
                        plane[h, w] += g


@parallel_kernel
def global_avgpool2d_forward(x, out):
    """out[r] = mean of x[r, :]. x : (N*C, H*W); out : (N*C,), same dtype."""
    rows, size = x.shape
    for r in prange(rows):
        acc = 0.0
        for i in range(size):
            acc += x[r, i]
        out[r] = acc / size


@parallel_kernel
def global_avgpool2d_backward(dy, dx):
    """dx[r, :] = dy[r] / (H*W). dy : (N*C,); dx : (N*C, H*W), same dtype (overwritten)."""
    rows, size = dx.shape
    for r in prange(rows):
        g = dy[r] / size
        for i in range(size):
            dx[r, i] = g

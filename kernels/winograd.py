"""Winograd F(2x2, 3x3) and F(2x2, 5x5) convolution for 3x3 and 5x5 stride-1 2-D layers (Lavin &
Gray, CVPR 2016), and stride-2 forms for the forward pass of 3x3 and 5x5 stride-2 layers; the weight
gradient of stride-1 layers by Winograd F(3x3, 2x2) and F(5x5, 2x2) is
:mod:`fastnet.kernels.winograd_weight`.

Each 2x2 block of outputs ("tile") of one (image, output channel) is computed from the 4x4 input
window that covers it as ``Y = A^T [ sum_c (G g_kc G^T) * (B^T d_c B) ] A`` (elementwise product
of 4x4 matrices): 16 multiplies per tile and channel pair instead of 36 (2.25x fewer). With the 16
transformed weights ``U[e] (C, K)`` and, for a chunk of T tiles, the transformed inputs
``V[e] (T, C)``, the sum over channels is 16 matrix products ``M[e] (T, K) = V[e] @ U[e]``, done
by the register-tile micro-kernel (:func:`fastnet.kernels.microkernel.tile_fma`) in its
outer-product orientation: one call is MR tiles x NR output channels, the MR values of V
broadcast, the NR values of U loaded as vectors, the whole reduction over C in registers, no
horizontal sums. Before (up to 2026-12-05) the products were the core's dot-product
``_dot_blocked`` (16 horizontal sums per 4 x 4 block), which left Winograd slower than the direct
core below 256 channels; before that ``np.dot`` (OpenBLAS): 20 ms against 16.6 for VGG 64 -> 64
56x56 b8 on one Zen 5 core.

Layout: the input is padded physically once into channels-last rows (conv3d's
``_pad_channels_last``, rounded up to whole tiles). U is stored in panels, (16, P, C, NR) with P =
ceil(K / NR) (:func:`winograd_weights`): the micro-kernel's B operand, one contiguous (C, NR) block
per (e, panel), read in order. The plain (16, C, round_NR(K)) layout (a panel's rows round_NR(K)
apart) measured 55-100 GFLOP/s against 110 for the panels at C = K = 512 (its 2 KB row stride puts
a panel's rows in a few cache sets), and the same at C, K <= 256 (the products alone, one Zen 4
core). The input and output transforms are explicit vector code (:func:`_input_tile`,
:func:`_output_tiles`). As Numba loops (VGG 64 -> 64 b8, one core): LLVM left the input transform
scalar (2.7 ms; as 16 loops of one output each, vectorised, 1.0; now 0.5), and the output
transform, whose M rows are tiles but whose y rows are positions of one output channel, took 2.1 ms
with strided scalar stores (1.2 now: a transpose in registers, then contiguous stores of up to 2W
values per row).

Work split: units of (chunk of consecutive tiles, block of output channels), fixed by the shapes
alone (:func:`work_split`); each output is computed by one unit, its sum over channels in one fixed
order (the micro-kernel's), so results are bitwise identical across runs and thread counts.

Error: the transforms have coefficients 0, +-1 and 1/2, so the float32 result carries a few more
roundings than the direct sum: measured ``max(abs(error)) / max(abs(y))`` 3.5e-7, 4.4e-7, 7.6e-7
for C = 64, 128, 256 on unit-normal data (float64 reference; the direct core: 1.3e-7..1.6e-7;
``_dot_blocked``, which summed 16 interleaved partial sums, 1.7e-7..2.1e-7); tests bound it by
1e-5.

5x5 filters, F(2x2, 5x5): the same 2x2 tiles from 6x6 windows, ``Y = A^T [ sum_c (G g_kc G^T) *
(B^T d_c B) ] A`` with 6x6 products: 36 multiplies per tile and channel pair instead of 100 (2.78x
fewer). The same kernel (:func:`_winograd_chunks`) computes both forms: it is compiled once per
form, which it takes from the type of U, (16, P, C, NR) or (6, 6, P, C, NR)
(:func:`winograd_weights_5x5`; :func:`_form`), and the transforms are generated from the
tables INPUT_TRANSFORM, OUTPUT_TRANSFORM and FILTER_TRANSFORM_5X5
(:meth:`~fastnet.kernels.vector_ir.Vectors.combine`; for 3x3, the same instructions in the same
order as the hand-written code before). Interpolation
points 0, 1, -1, 1/2, -2 and infinity: with 0, +-1, +-2 (those of the common F(4, 3)) the float32
error at 96 channels was 6.0e-6 of max |y| (AlexNet conv2, batch 2), with these 2.6e-6 (a float32
model of the kernel, 400 tiles: rms error 2.5e-6 against 1.6e-6 at 96 channels, 3.8e-6 against
2.3e-6 at 256). Their B^T has 4-5 terms per row instead of 3-4 (a few % of the input transform;
no change measured). The weight transform sums integer multiples of the taps in float64 and
scales each value once (:func:`_filter_tile_5x5`, explicit vectors; 1.6 ms for 256 x 96 channels
and 4.6 for 256 x 256 on one Zen 3 core, 3.4 and 13 as Numba loops over row views).

3x3 filters at stride 2, the forward pass only (the form keyed (3, 2); the gradients are the direct
kernels'): per axis, two outputs at stride 2 read five inputs, ``y0 = g0 x0 + g1 x1 + g2 x2`` and
``y1 = g0 x2 + g1 x3 + g2 x4``. The even inputs x0, x2, x4 meet the taps g0, g2 as a stride-1
two-tap filter, F(2, 2) with 3 multiplies (``g0 (x0 - x2)``, ``(g0 + g2) x2``, ``g2 (x4 - x2)``),
and the odd ones the single tap g1 (``g1 x1``, ``g1 x3``): 5 multiplies for 6, so 25 per 2x2
tile and channel pair for 36 (1.44x fewer), from 5x5 windows 4 apart. The same kernel
computes it (:func:`_winograd_chunks`, its windows 2 s apart, s from U's rank: :func:`_form`)
with the tables INPUT_TRANSFORM[(3, 2)], OUTPUT_TRANSFORM[(3, 2)] and FILTER_TRANSFORM_STRIDE2,
all of 0s and 1s (one subtraction at most per value and axis): the float32 error measured
1.0e-7 to 3.2e-7 of max |y| (unit-normal data, C = 1 to 64), as the direct sum's. Each input
reaches only the products of the outputs whose windows read it, so a NaN in x makes exactly
the outputs NaN that the direct sum does (an infinity may give NaN where the direct sum gives
an infinity: ``(g0 + g2) inf - g0 inf``). Where it pays (AVX-512, 64 channels or more, at least
392 tiles: 1.02-1.17x the direct kernels' speed; never with AVX2 code):
:func:`fastnet.kernels.conv2d.winograd_stride2_ok`. One Zen 4 thread, ResNet's 64 -> 128 at
56x56, batch 8: the padded copy 0.33 ms, the products and transforms 6.9 (the products 642
MFLOP, 25/36 of the direct kernels' 925), against 9.0 for the direct kernels.

5x5 filters at stride 2 (the form keyed (5, 2)), the same way: per axis two outputs read seven
inputs; the even ones x0, x2, x4, x6 meet g0, g2, g4 as F(2, 3) (the 3x3 form's tables, 4
products), the odd ones x1, x3, x5 meet g1, g3 as F(2, 2) (3 products): 7 for 10, 49 per 2x2
tile and channel pair for 100 (2.04x fewer), from 7x7 windows 4 apart. G has halves (F(2, 3)'s):
U is computed as for 5x5 at stride 1 (:func:`_filter_tile_5x5`), FILTER_TRANSFORM_5X5_STRIDE2 and
FILTER_SCALE_5X5_STRIDE2. Float32 error 1.5e-7 to 2.8e-7 of max |y| (C = 1 to 40). A NaN reaches
the same outputs as by the direct sum, as for 3x3. Where it pays (32 channels or more, 196
tiles, AVX-512 and AVX2: 1.03-1.52x the direct kernels' speed):
:func:`fastnet.kernels.conv2d.winograd_stride2_ok`.
ZFNet's conv2 (96 -> 256, 55x55, padding 1) at batch 4, two Zen 4 threads, ``ops.conv2d``, the
fastest of 5 rounds alternating with the direct kernels and PyTorch: 12.05 ms against 16.89 and
16.52; with AVX2 code (and oneDNN capped at AVX2) 13.17 against 17.29 and 17.06.

Extra memory: the padded channels-last copy of x, (N, 2 ceil(Ho/2) + 2, (2 ceil(Wo/2) + 2) * C)
(about the size of x), the transformed weights U (16 C round_NR(K) values: 16/9 of w, rounded
up), a zero-padded bias (round_NR(K)), and per work unit in flight (at most one per thread) V,
16 (round1024(T C) + 64), and M, 16 (round1024((T + W) B) + 64) values: T <= TILE_TARGET tiles,
B <= round_NR(K) output channels, W the vector lanes (VGG 64 -> 64 float32: 266 KB + 332 KB).
5x5: the copy of x padded to (2 ceil(Ho/2) + 4) x (2 ceil(Wo/2) + 4), U of 36 C round_NR(K)
values (36/25 of w), and 36 blocks of V and M instead of 16 (AlexNet conv2, 96 -> 256, float32:
U 3.5 MB; V 0.6 MB and M 1.6 MB per unit, AVX2). 3x3 at stride 2: the copy of x padded to at
least (4 ceil(Ho/2) + 1) x (4 ceil(Wo/2) + 1), U of 25 C round_NR(K) values (25/9 of w), and 25
blocks of V and M; 5x5 at stride 2: (4 ceil(Ho/2) + 3) x (4 ceil(Wo/2) + 3), U of 49 C round_NR(K)
values (49/25 of w), 49 blocks of V and M.

Measured 2026-12-05 on the 2-core AMD EPYC (Zen 4, AVX-512) dev VM, float32, ms, one thread | two
(``numba.set_num_threads``; PyTorch 2.13 CPU ``torch.nn.functional.conv2d`` with
``torch.set_num_threads`` the same): ``fastnet.ops.conv2d(x, w, b, padding=1, algorithm=...)``,
unit-normal x, the minimum of 2 runs x 3 rounds x 9 calls after a warm-up call; the VM is shared
(repeat runs differ by up to 10 %, more with two threads). "before": the ``_dot_blocked`` version;
"direct core": ``algorithm="direct"`` as it was in the working tree that day.

    =====================  =============  =============  =============  =============
    layer                  Winograd       before         direct core    PyTorch
    =====================  =============  =============  =============  =============
    VGG 64->64 56x56 b8    10.3 | 5.2     22.7 | 13.0    21.1 | 10.5    16.6 | 8.3
    128->128 28x28 b8       8.7 | 4.4     25.2 | 13.2    21.6 | 11.1    15.9 | 7.9
    256->256 14x14 b8       8.7 | 4.7     19.5 | 10.1    20.8 | 11.2    14.9 | 7.6
    256->256 14x14 b1       1.7 | 0.9      5.3 | 3.0      2.9 | 2.0      2.0 | 1.0
    512->512 7x7 b8        12.8 | 7.2     32.7 | 15.9    26.9 | 15.3    14.4 | 7.2
    =====================  =============  =============  =============  =============

One thread, VGG 64 -> 64: weight transform and padding 0.6 ms, input transform 0.5, the products
7.9 (104 GFLOP/s), output transform 1.2; 512 -> 512 7x7: weight transform 2.5-3 ms (U is 16 MB).

"""

import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import errors
from numba.extending import intrinsic
from numba.np.numpy_support import as_dtype

from ._config import parallel_kernel, serial_kernel
from .conv3d import _round_up
from .conv_layout import _pad_channels_last
from .microkernel import tile_fma, tile_rows, tile_shape, vector_lanes
from .vector_ir import Vectors, array_data

# Work split (work_split). Measured on one Zen 4 core (the five layers of the module docstring's
# table): chunks of 16 to 128 tiles within the noise (+-5 %); MIN_CHUNKS 32 against 16: 128 and
# 256 channels 4-7 % faster on 1 and 2 threads (more, smaller chunks), the others the same.
TILE_TARGET = 64    # at most about this many 2x2 output tiles per work chunk
MIN_CHUNKS = 32     # ... and fewer where that leaves at least this many units (threads balance)
WEIGHT_BLOCK = 64   # winograd_weights: input channels per work unit

# The two forms, by filter size r: F(2x2, 3x3) on 4x4 input windows, F(2x2, 5x5) on 6x6 ones.
# B^T (n x n) transforms a window, A^T (2 x n) a product back to a 2x2 output tile, G (n x r)
# the filters (winograd_weights, winograd_weights_5x5). F(2, 5) interpolates at 0, 1, -1, 1/2, -2
# and infinity (see the module docstring for why); the tests check the tables in exact arithmetic.
INPUT_TRANSFORM = {3: ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)),
                   5: ((2, -3, -4, 3, 2, 0), (0, -2, 1, 5, 2, 0), (0, 2, -5, 1, 2, 0),
                       (0, -2, -1, 2, 1, 0), (0, 1, -2, -1, 2, 0), (0, 2, -3, -4, 3, 2))}
OUTPUT_TRANSFORM = {3: ((1, 1, 1, 0), (0, 1, -1, -1)),
                    5: ((1, 1, 1, 1, 1, 0), (0, 1, -1, 0.5, -2, 1))}
# 3x3 filters at stride 2, the form keyed (3, 2): 2 outputs of y[i] = g0 x[2i] + g1 x[2i+1] + g2 x[2i+2]
# from the 5 inputs x0 .. x4 with 5 multiplies instead of 6: the even inputs x0, x2, x4 and taps
# g0, g2 are a stride-1 2-tap filter, F(2, 2) at the points 0, 1 and infinity (products
# g0 (x0 - x2), (g0 + g2) x2, g2 (x4 - x2)), the odd ones x1, x3 meet g1 alone (g1 x1, g1 x3).
INPUT_TRANSFORM[(3, 2)] = ((1, 0, -1, 0, 0), (0, 0, 1, 0, 0), (0, 0, -1, 0, 1), (0, 1, 0, 0, 0), (0, 0, 0, 1, 0))
OUTPUT_TRANSFORM[(3, 2)] = ((1, 1, 0, 1, 0), (0, 1, 1, 0, 1))
FILTER_TRANSFORM_STRIDE2 = ((1, 0, 0), (1, 0, 1), (0, 0, 1), (0, 1, 0), (0, 1, 0))   # G (5 x 3)
# 5x5 filters at stride 2, the form keyed (5, 2): 2 outputs from the 7 inputs x0 .. x6 with 7 multiplies
# instead of 10: the even inputs x0, x2, x4, x6 and taps g0, g2, g4 are F(2, 3) (the 3x3 form's
# tables), the odd ones x1, x3, x5 and taps g1, g3 F(2, 2) as in the (3, 2) form.
INPUT_TRANSFORM[(5, 2)] = ((1, 0, 0, 0, -1, 0, 0), (0, 0, 1, 0, 1, 0, 0), (0, 0, -1, 0, 1, 0, 0),
                          (0, 0, 1, 0, 0, 0, -1), (0, 1, 0, -1, 0, 0, 0), (0, 0, 0, 1, 0, 0, 0),
                          (0, 0, 0, -1, 0, 1, 0))
OUTPUT_TRANSFORM[(5, 2)] = ((1, 1, 1, 0, 1, 1, 0), (0, 1, -1, -1, 0, 1, 1))
# G = diag(FILTER_SCALE_5X5_STRIDE2) FILTER_TRANSFORM_5X5_STRIDE2 (7 x 5), as for 5x5 at stride 1
FILTER_TRANSFORM_5X5_STRIDE2 = ((1, 0, 0, 0, 0), (1, 0, 1, 0, 1), (1, 0, -1, 0, 1), (0, 0, 0, 0, 1),
                                (0, 1, 0, 0, 0), (0, 1, 0, 1, 0), (0, 0, 0, 1, 0))
FILTER_SCALE_5X5_STRIDE2 = (1, 1 / 2, 1 / 2, 1, 1, 1, 1)
# G = diag(FILTER_SCALE_5X5) FILTER_TRANSFORM_5X5 for 5x5 filters: integer rows, then one scale
FILTER_TRANSFORM_5X5 = ((1, 0, 0, 0, 0), (1, 1, 1, 1, 1), (1, -1, 1, -1, 1), (16, 8, 4, 2, 1),
                        (1, -2, 4, -8, 16), (0, 0, 0, 0, 1))
FILTER_SCALE_5X5 = (1 / 2, 1 / 6, -1 / 6, -1 / 15, 1 / 30, 1 / 2)


def _form(u):
    """The form, a key of the tables (3, 5, (3, 2) or (5, 2)), from the Numba type of the transforms' ``u``
    argument: the literal 3 or 5, or U, whose number of dimensions names the form: (16, P, C, NR)
    for 3x3 filters (:func:`winograd_weights`), (6, 6, P, C, NR) for 5x5
    (:func:`winograd_weights_5x5`), (5, 5, 1, P, C, NR) for 3x3 at stride 2
    (:func:`winograd_weights_stride2`) and (7, 7, 1, 1, P, C, NR) for 5x5 at stride 2
    (:func:`winograd_weights_5x5_stride2`; the unit axes only tell them apart). The kernels specialise
    on it at compile time. (A literal argument instead, ``numba.literally``, cost 4 ms per call
    of a parallel kernel, Numba 0.68: its dispatcher retried the compilation every time.)"""
    if isinstance(u, types.IntegerLiteral):
        if u.literal_value not in INPUT_TRANSFORM:
            raise errors.TypingError(f"Winograd transforms for 3x3 and 5x5 filters, got {u.literal_value}")
        return u.literal_value
    if isinstance(u, types.Integer):
        raise errors.RequireLiteralValue(u)
    return {4: 3, 5: 5, 6: (3, 2), 7: (5, 2)}[u.ndim]


@serial_kernel
def weight_unit(unit, cblocks, block, channels, n_out, nr):
    """Work unit ``unit`` (int64: a prange index is uint64 in the gufunc, a second signature) of a
    weight transform split into (panel of ``nr`` output channels, block of ``block`` input
    channels), ``cblocks`` blocks per panel: (panel, first input channel, end, first output
    channel, output channels in the panel)."""
    pn = unit // cblocks
    c0 = (unit - pn * cblocks) * block
    return pn, c0, min(channels, c0 + block), pn * nr, min(n_out, pn * nr + nr) - pn * nr


@serial_kernel
def _filter_taps(wf, g, c, k0, nk, channels, n_out, flip):
    """The r x r taps of input channel c of the filters k0 .. k0 + nk - 1 into g (r^2, nr), output
    channels contiguous, from wf, the flat w (K, C, r, r): ``g[pq, i] = w[k0 + i, c].flat[pq]``;
    with ``flip`` the backward-input correlation's filters, ``g[pq, i] = w[c, k0 + i].flat[r^2 - 1
    - pq]`` (n_out = w.shape[1], their output channels)."""
    taps = g.shape[0]
    for i in range(nk):
        if flip:
            src = wf[(c * n_out + k0 + i) * taps:]
            for pq in range(taps):
                g[pq, i] = src[taps - 1 - pq]
        else:
            src = wf[((k0 + i) * channels + c) * taps:]
            for pq in range(taps):
                g[pq, i] = src[pq]


@parallel_kernel
def winograd_weights(w, nr, flip):
    """U (16, P, Cin, nr), P = ceil(Kout / nr): ``U[4*i + j, p, c, r] = (G f[p*nr + r, c] G^T)[i, j]``
    for p*nr + r < Kout, zero beyond; w (K, C, 3, 3).

    ``flip`` False: the forward filters, f[o, c] = w[o, c], Cin = C, Kout = K. ``flip`` True: those
    of the backward-input correlation of dy, f[o, c] = w[c, o, ::-1, ::-1], Cin = K, Kout = C
    (read in place. The flipped, transposed copy NumPy made first took 0.49 ms alone for 256 x
    256 x 3 x 3; the dx of 256 channels at 14 x 14, two Zen 4 cores, float32, 2026-12-06, copy /
    in place: batch 8 7.4-7.8 / 6.0-6.7 ms, batch 1 3.7-4.0 / 2.2-2.3).

    The B operand of the 16 products in panels: ``U[e, p]`` is the (C, nr) panel of output channels
    p*nr .. p*nr + nr - 1, contiguous. G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]];
    computed in float64 and rounded once to w's dtype. Parallel over (panel, block of WEIGHT_BLOCK
    channels); each unit reads its nr filters' taps per channel into a (9, nr) buffer and writes
    the 16 panel rows of that channel with vector loops over the nr output channels. Measured on
    one Zen 4 core, float32: 256 -> 256 channels 0.45 ms, 512 -> 512 3.2 ms (U is 16 MB: bound by
    memory), against 3.0 and 12.2 ms for the scalar loop per (k, c) before.
    """
    if flip:
        n_out, channels = w.shape[1], w.shape[0]
    else:
        n_out, channels = w.shape[0], w.shape[1]
    panels = (n_out + nr - 1) // nr
    u = np.empty((16, panels, channels, nr), dtype=w.dtype)
    wf = w.reshape(w.size)
    cblocks = (channels + WEIGHT_BLOCK - 1) // WEIGHT_BLOCK
    for unit in prange(panels * cblocks):
        pn, c0, c1, k0, nk = weight_unit(np.int64(unit), cblocks, WEIGHT_BLOCK, channels, n_out, nr)
        g = np.zeros((9, nr))      # the filters' taps, output channels contiguous (zero past K)
        t = np.empty((12, nr))     # G g, row-major 4 x 3 per output channel
        for c in range(c0, c1):
            _filter_taps(wf, g, c, k0, nk, channels, n_out, flip)
            for q in range(3):   # t = G g
                g0 = g[q]
                g1 = g[3 + q]
                g2 = g[6 + q]
                t0 = t[q]
                t1 = t[3 + q]
                t2 = t[6 + q]
                t3 = t[9 + q]
                for r in range(nr):
                    t0[r] = g0[r]
                    t1[r] = 0.5 * (g0[r] + g1[r] + g2[r])
                    t2[r] = 0.5 * (g0[r] - g1[r] + g2[r])
                    t3[r] = g2[r]
            for i in range(4):   # U = t G^T
                a0 = t[3 * i]
                a1 = t[3 * i + 1]
                a2 = t[3 * i + 2]
                u0 = u[4 * i, pn, c]
                u1 = u[4 * i + 1, pn, c]
                u2 = u[4 * i + 2, pn, c]
                u3 = u[4 * i + 3, pn, c]
                for r in range(nr):
                    u0[r] = a0[r]
                    u1[r] = 0.5 * (a0[r] + a1[r] + a2[r])
                    u2[r] = 0.5 * (a0[r] - a1[r] + a2[r])
                    u3[r] = a2[r]
    return u


@parallel_kernel
def winograd_weights_5x5(w, nr, flip):
    """U (6, 6, P, Cin, nr) for 5x5 filters w (K, C, 5, 5): ``U[i, j, p, c, r] = (G f[p*nr + r, c]
    G^T)[i, j]`` with G = diag(FILTER_SCALE_5X5) FILTER_TRANSFORM_5X5 (6 x 5), zero past Kout;
    ``flip``, P, Cin, Kout and the panels as in :func:`winograd_weights`. Computed in float64 (G
    has sixths, fifteenths and thirtieths) and rounded once to w's dtype. Parallel over (panel,
    block of WEIGHT_BLOCK channels); per channel, the nr filters' taps are gathered into a (25,
    nr) float64 buffer and transformed by :func:`_filter_tile_5x5` (explicit vectors: Numba
    loops over row views took 13 ms for 256 x 256 channels on one Zen 3 core, this 4.6).
    """
    if flip:
        n_out, channels = w.shape[1], w.shape[0]
    else:
        n_out, channels = w.shape[0], w.shape[1]
    panels = (n_out + nr - 1) // nr
    u = np.empty((6, 6, panels, channels, nr), dtype=w.dtype)
    uflat = u.reshape(u.size)
    wf = w.reshape(w.size)
    cblocks = (channels + WEIGHT_BLOCK - 1) // WEIGHT_BLOCK
    for unit in prange(panels * cblocks):
        pn, c0, c1, k0, nk = weight_unit(np.int64(unit), cblocks, WEIGHT_BLOCK, channels, n_out, nr)
        g = np.zeros((25, nr))     # the filters' taps, output channels contiguous (zero past K)
        for c in range(c0, c1):
            _filter_taps(wf, g, c, k0, nk, channels, n_out, flip)
            _filter_tile_5x5(g, uflat, (pn * channels + c) * nr, panels * channels * nr, nr, 1)
    return u


@parallel_kernel
def winograd_weights_stride2(w, nr):
    """U (5, 5, 1, P, C, nr) for 3x3 filters w (K, C, 3, 3) at stride 2, P = ceil(K / nr):
    ``U[i, j, 0, p, c, r] = (G w[p*nr + r, c] G^T)[i, j]`` with G = FILTER_TRANSFORM_STRIDE2 (5 x 3:
    rows g0, g0 + g2, g2, g1, g1), zero past K; the panels as in :func:`winograd_weights` (the
    unit axis tells the kernels this form apart: :func:`_form`). G has no fractions: each value
    is a sum of up to four taps, added in float64 and rounded once to w's dtype. Parallel over
    (panel, block of WEIGHT_BLOCK input channels), vector loops over the nr output channels, each
    writing at most three rows (one loop writing five rows ran as slowly as scalar code: 256 x 256
    channels on one Zen 4 thread 1.5-1.8 ms, split 0.97).
    """
    n_out, channels = w.shape[0], w.shape[1]
    panels = (n_out + nr - 1) // nr
    u = np.empty((5, 5, 1, panels, channels, nr), dtype=w.dtype)
    wf = w.reshape(w.size)
    cblocks = (channels + WEIGHT_BLOCK - 1) // WEIGHT_BLOCK
    for unit in prange(panels * cblocks):
        pn, c0, c1, k0, nk = weight_unit(np.int64(unit), cblocks, WEIGHT_BLOCK, channels, n_out, nr)
        g = np.zeros((9, nr))      # the filters' taps, output channels contiguous (zero past K)
        t = np.empty((15, nr))     # G g, row-major 5 x 3 per output channel
        for c in range(c0, c1):
            _filter_taps(wf, g, c, k0, nk, channels, n_out, False)
            for q in range(3):   # t = G g
                g0 = g[q]
                g1 = g[3 + q]
                g2 = g[6 + q]
                t0 = t[q]
                t1 = t[3 + q]
                t2 = t[6 + q]
                t3 = t[9 + q]
                t4 = t[12 + q]
                for r in range(nr):
                    t0[r] = g0[r]
                    t1[r] = g0[r] + g2[r]
                    t2[r] = g2[r]
                for r in range(nr):
                    t3[r] = g1[r]
                    t4[r] = g1[r]
            for i in range(5):   # U = t G^T
                a0 = t[3 * i]
                a1 = t[3 * i + 1]
                a2 = t[3 * i + 2]
                u0 = u[i, 0, 0, pn, c]
                u1 = u[i, 1, 0, pn, c]
                u2 = u[i, 2, 0, pn, c]
                u3 = u[i, 3, 0, pn, c]
                u4 = u[i, 4, 0, pn, c]
                for r in range(nr):
                    u0[r] = a0[r]
                    u1[r] = a0[r] + a2[r]
                    u2[r] = a2[r]
                for r in range(nr):
                    u3[r] = a1[r]
                    u4[r] = a1[r]
    return u


@parallel_kernel
def winograd_weights_5x5_stride2(w, nr):
    """U (7, 7, 1, 1, P, C, nr) for 5x5 filters w (K, C, 5, 5) at stride 2, P = ceil(K / nr):
    ``U[i, j, 0, 0, p, c, r] = (G w[p*nr + r, c] G^T)[i, j]`` with G =
    diag(FILTER_SCALE_5X5_STRIDE2) FILTER_TRANSFORM_5X5_STRIDE2 (7 x 5: F(2, 3)'s G on the even
    taps, F(2, 2)'s on the odd ones), zero past K; the panels as in :func:`winograd_weights`, the
    arithmetic as in :func:`winograd_weights_5x5` (:func:`_filter_tile_5x5`, its stride-2 table).
    """
    n_out, channels = w.shape[0], w.shape[1]
    panels = (n_out + nr - 1) // nr
    u = np.empty((7, 7, 1, 1, panels, channels, nr), dtype=w.dtype)
    uflat = u.reshape(u.size)
    wf = w.reshape(w.size)
    cblocks = (channels + WEIGHT_BLOCK - 1) // WEIGHT_BLOCK
    for unit in prange(panels * cblocks):
        pn, c0, c1, k0, nk = weight_unit(np.int64(unit), cblocks, WEIGHT_BLOCK, channels, n_out, nr)
        g = np.zeros((25, nr))     # the filters' taps, output channels contiguous (zero past K)
        for c in range(c0, c1):
            _filter_taps(wf, g, c, k0, nk, channels, n_out, False)
            _filter_tile_5x5(g, uflat, (pn * channels + c) * nr, panels * channels * nr, nr, 2)
    return u

@intrinsic
def _filter_tile_5x5(typingctx, g, u, uo, ues, nr, stride):
    """``u[uo + (n i + j) ues + r] = s_i s_j (F g_r F^T)[i, j]`` for r < nr, with
    ``g_r[p, q] = g[5 p + q, r]`` (g (25, nr) float64, C-contiguous), F = FILTER_TRANSFORM_5X5
    and s = FILTER_SCALE_5X5 (n = 6; ``stride`` the literal 1), or FILTER_TRANSFORM_5X5_STRIDE2 and
    FILTER_SCALE_5X5_STRIDE2 (n = 7; the literal 2): sums of integer multiples in float64, one
    multiplication by s_i s_j, one
    rounding to u's dtype. W float64 lanes per step, and a masked step for the last nr mod W (nr
    is a whole number of the micro-kernel's vectors of u's dtype, but 4 float32 lanes are half a
    vector of 8 float64 ones on AVX-512). Nothing is bounds-checked.
    """
    if not isinstance(stride, types.IntegerLiteral):
        raise errors.RequireLiteralValue(stride)
    sig = types.void(g, u, uo, ues, nr, stride)
    out = as_dtype(u.dtype)
    f, scales = ((FILTER_TRANSFORM_5X5, FILTER_SCALE_5X5) if stride.literal_value == 1
                 else (FILTER_TRANSFORM_5X5_STRIDE2, FILTER_SCALE_5X5_STRIDE2))
    n = len(f)

    def codegen(context, builder, signature, args):
        vec = Vectors(builder, np.dtype(np.float64))
        b = builder
        uo_, ues_, nr_ = (vec.int64(args[i]) for i in (2, 3, 4))
        gp = array_data(context, builder, signature, args, 0)
        up = array_data(context, builder, signature, args, 1)
        oty = ir.VectorType(ir.FloatType() if out.itemsize == 4 else ir.DoubleType(), vec.width)

        def step(r, mask):
            at = [b.add(b.mul(vec.int64(pq), nr_), r) for pq in range(25)]
            if mask is None:
                g_ = [vec.load(gp, at[pq]) for pq in range(25)]
            else:
                g_ = [vec.masked_load(gp, at[pq], mask) for pq in range(25)]
            t = [[vec.combine(f[i], lambda p: g_[5 * p + q]) for q in range(5)] for i in range(n)]   # F g
            for i in range(n):
                for j in range(n):
                    scale = scales[i] * scales[j]
                    value = b.fmul(vec.combine(f[j], lambda q: t[i][q]), ir.Constant(vec.vty, [scale] * vec.width))
                    if out.itemsize == 4:
                        value = b.fptrunc(value, oty)
                    offset = b.add(b.add(uo_, b.mul(vec.int64(n * i + j), ues_)), r)
                    if mask is None:
                        vec.store(value, up, offset)
                    else:
                        vec.masked_store(value, up, offset, mask)

        vec.by_vectors(nr_, step)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _input_tile(typingctx, x, xo, ldr, ldc, v, vo, ves, nc, u):
    """``v[vo + (n i + j) ves + c] = (B^T d B)[i, j]`` for c < nc, with the tile's n x n window
    ``d[p, q] = x[xo + p ldr + q ldc + c]``: W channels per step (a masked step for the last
    nc mod W), n^2 vector loads, the transform's additions (and multiplications by its integer
    coefficients) and n^2 vector stores. ``u`` (U, or the literal 3 or 5) picks the form
    (:func:`_form`): n = 4,
    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]] (32 additions) for 3x3
    filters; n = 6 and INPUT_TRANSFORM[5] for 5x5; n = 5 and 7 and INPUT_TRANSFORM[(3, 2)] and
    [(5, 2)] for 3x3 and 5x5 at stride 2 (the caller places the windows 4 apart).

    Explicit vectors because, as a Numba loop over c, LLVM left the 3x3 form scalar (2.7 ms of
    VGG 64 -> 64 56x56 b8 on one core; presumably too many run-time overlap checks between its
    16 loads and 16 stores), and sixteen loops of one output each, which it did vectorise, took
    1.0 ms (loop overheads at C = 64); this takes 0.5. Nothing is bounds-checked.
    """
    sig = types.void(x, xo, ldr, ldc, v, vo, ves, nc, u)
    dtype = as_dtype(x.dtype)
    bt = INPUT_TRANSFORM[_form(u)]
    n = len(bt)

    def codegen(context, builder, signature, args):
        vec = Vectors(builder, dtype)
        b = builder
        xo_, ldr_, ldc_, vo_, ves_, nc_ = (vec.int64(args[i]) for i in (1, 2, 3, 5, 6, 7))
        xp = array_data(context, builder, signature, args, 0)
        vp = array_data(context, builder, signature, args, 4)
        d_at = [[b.add(xo_, b.add(b.mul(vec.int64(p), ldr_), b.mul(vec.int64(q), ldc_))) for q in range(n)]
                for p in range(n)]
        v_at = [b.add(vo_, b.mul(vec.int64(e), ves_)) for e in range(n * n)]

        def step(c, mask):
            if mask is None:
                d = [[vec.load(xp, b.add(d_at[p][q], c)) for q in range(n)] for p in range(n)]
            else:
                d = [[vec.masked_load(xp, b.add(d_at[p][q], c), mask) for q in range(n)] for p in range(n)]
            col = [[vec.combine(row, lambda p: d[p][q]) for row in bt] for q in range(n)]   # B^T d
            for i in range(n):
                for j in range(n):
                    out = vec.combine(bt[j], lambda q: col[q][i])
                    if mask is None:
                        vec.store(out, vp, b.add(v_at[n * i + j], c))
                    else:
                        vec.masked_store(out, vp, b.add(v_at[n * i + j], c), mask)

        vec.by_vectors(nc_, step)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _output_tiles(typingctx, m, mo, mes, ldm, bias, bo, y, yo, ldk, ldr, nl, nk, below, split, u):
    """The output transform of R = W / split tiles t and W output channels k, stored transposed:
    with ``m_e(t, k) = m[mo + e mes + t ldm + k]`` (e < n^2) and ``Y(t, k) = A^T m(t, k) A +
    bias[bo + k]`` (2 x 2), ``y[yo + a ldr + k ldk + 2 t + b] = Y(t, k)[a, b]`` for k < nk, 2 t
    + b < nl and a <= below: each row of y gets 2R contiguous values per k. ``split`` (1, 2 or 4,
    a literal): R = W for wide rows of tiles, W / 2 or W / 4 for narrow ones (7 or 4 tiles per
    row). ``u``'s type picks the form (:func:`_form`): n = 4 and A^T = [[1, 1, 1, 0], [0,
    1, -1, -1]] for 3x3 filters, n = 6 and OUTPUT_TRANSFORM[5] for 5x5, n = 5 and 7 and
    OUTPUT_TRANSFORM[(3, 2)] and [(5, 2)] for 3x3 and 5x5 at stride 2.

    Evaluated as the old scalar loop did (sums over the rows of m first, then over its columns,
    then the bias). Per output row a: 2R result vectors (b = 0,
    1; lanes k), two R x W to W x R transposes (W x W shuffles on R rows, the rest undefined), and
    per k one interleaving shuffle and a masked store of 2R lanes. Every load is unmasked: the
    caller keeps ``m`` readable for R tiles and W lanes, and ``bias`` for W lanes; nothing is
    bounds-checked.
    """
    if not isinstance(split, types.IntegerLiteral):
        raise errors.RequireLiteralValue(split)
    sig = types.void(m, mo, mes, ldm, bias, bo, y, yo, ldk, ldr, nl, nk, below, split, u)
    dtype = as_dtype(m.dtype)
    parts = split.literal_value
    at = OUTPUT_TRANSFORM[_form(u)]
    n = len(at[0])

    def codegen(context, builder, signature, args):
        vec = Vectors(builder, dtype)
        b = builder
        mo_, mes_, ldm_, bo_, yo_, ldk_, ldr_, nl_, nk_ = (vec.int64(args[i])
                                                            for i in (1, 2, 3, 5, 7, 8, 9, 10, 11))
        below_ = args[12]
        mp = array_data(context, builder, signature, args, 0)
        bp = array_data(context, builder, signature, args, 4)
        yp = array_data(context, builder, signature, args, 6)
        w = vec.width
        rows = max(1, w // parts)
        bk = vec.load(bp, bo_)
        lanes = vec.mask(nl_, 2 * rows)
        undef = ir.Constant(vec.vty, ir.Undefined)

        def output_row(a):
            even, odd = [], []
            for t in range(rows):
                tile = b.add(mo_, b.mul(vec.int64(t), ldm_))

                def m_(e, tile=tile):
                    return vec.load(mp, b.add(tile, b.mul(vec.int64(e), mes_)))

                s = [vec.combine(at[a], lambda i, j=j: m_(n * i + j)) for j in range(n)]   # row a of A^T m
                even.append(b.fadd(vec.combine(at[0], lambda j: s[j]), bk))
                odd.append(b.fadd(vec.combine(at[1], lambda j: s[j]), bk))
            even = vec.transpose(even + [undef] * (w - rows))
            odd = vec.transpose(odd + [undef] * (w - rows))
            row = b.add(yo_, b.mul(vec.int64(a), ldr_))
            for k in range(w):
                with b.if_then(b.icmp_signed(">", nk_, vec.int64(k))):
                    vec.masked_store(vec.interleave(even[k], odd[k], rows), yp,
                                     b.add(row, b.mul(vec.int64(k), ldk_)), lanes)

        output_row(0)
        with b.if_then(b.icmp_unsigned("!=", below_, ir.Constant(below_.type, 0))):
            output_row(1)
        return context.get_dummy_value()

    return sig, codegen


def work_split(n_batch, ho, wo, n_out, mr, nr):
    """(tiles per chunk, output channels per block): the work units are (chunk, block) pairs.

    A chunk is any run of consecutive tiles (image, tile row, tile column order): a multiple of
    ``mr`` (the micro-kernel's rows), about TILE_TARGET, fewer while that leaves MIN_CHUNKS chunks,
    at least ``mr``. Where that leaves at most MIN_CHUNKS / 2 chunks (small layers), the output
    channels are split into blocks of whole ``nr``-wide panels until there are about MIN_CHUNKS
    units (each unit repeats its chunk's input transform). By shape only (not the thread count).
    """
    tiles = n_batch * ((ho + 1) // 2) * ((wo + 1) // 2)
    per = max(mr, min(TILE_TARGET // mr * mr, _round_up((tiles + MIN_CHUNKS - 1) // MIN_CHUNKS, mr)))
    chunks = (tiles + per - 1) // per
    panels = (n_out + nr - 1) // nr
    blocks = 1 if 2 * chunks > MIN_CHUNKS else min(panels, (MIN_CHUNKS + chunks - 1) // chunks)
    return per, (panels + blocks - 1) // blocks * nr


@parallel_kernel
def _winograd_chunks(xcl, channels, u, bias, y, per_chunk, block):
    """The parallel part of :func:`conv2d_forward_winograd`: one region over the work units
    (chunk of ``per_chunk`` tiles, block of ``block`` output channels; see :func:`work_split`).

    xcl (N, 1, Hq, Wq * C) from conv3d's ``_pad_channels_last`` (Hq = 2 ceil(Ho/2) + 2, Wq the
    same for Wo; see :func:`conv2d_forward_winograd` for the other forms), u (16, P, C, NR) from
    :func:`winograd_weights` (or another form's U: :func:`_form`), bias (P * NR,) zero-padded,
    y (N, K, Ho, Wo). Per unit: V (16, T, C) by :func:`_input_tile` (rows past the chunk's tiles
    zero up to a whole MR tile, where the products of a short last chunk stop),
    ``M[e] (T, block) = V[e] @ U[e][:, block]`` by the micro-kernel (e, then panel, then
    MR tiles: each (C, NR) panel stays in L1 or L2 while all the chunk's tiles pass), then the
    output transform by :func:`_output_tiles`, per run of tiles in one tile row and W channels.
    """
    n_batch = xcl.shape[0]
    panels, nr = u.shape[-3], u.shape[-1]
    elems = u.size // (panels * u.shape[-2] * nr)   # n^2 transformed values per tile: 16, 36, 25 or 49
    # of the windows: 2 for the stride-2 forms (6- and 7-dimensional U), else 1 (arithmetic: with
    # a conditional expression on u.ndim here, Numba 0.68's parfor lowering failed to type the body)
    stride = min(2, max(1, u.ndim - 4))
    n_out = y.shape[1]
    ho, wo = y.shape[2], y.shape[3]
    th = (ho + 1) // 2
    tw = (wo + 1) // 2
    total = n_batch * th * tw
    chunks = (total + per_chunk - 1) // per_chunk
    block_panels = block // nr
    blocks = (panels + block_panels - 1) // block_panels
    mr = tile_rows(y)
    lanes = vector_lanes(y)
    tp = per_chunk
    hw = ho * wo
    hq = xcl.shape[2]
    rowlen = xcl.shape[3]
    yflat = y.reshape(y.size)
    uflat = u.reshape(u.size)
    xflat = xcl.reshape(xcl.size)
    # R tiles per output-transform call: W where tile rows hold at least 3W/4 tiles, else W/2, W/4
    step = lanes
    if tw * 4 < lanes * 3:
        step = max(1, lanes // 2) if tw * 8 >= lanes * 3 else max(1, lanes // 4)
    # per-e blocks of the scratch buffers: a multiple of 1024 values plus 64 (4 KB + 256 bytes in
    # float32), so that the 16 rows of one tile do not share cache sets (blocks exactly 16 KB apart
    # made the input transform of VGG 64 -> 64 7x slower); M has `lanes` spare tile rows (read,
    # never stored)
    ves = _round_up(tp * channels, np.int64(1024)) + 64   # (an int64: a literal 1024 is a second signature)
    mes = _round_up((tp + lanes) * block, np.int64(1024)) + 64
    for unit in prange(chunks * blocks):
        chunk = unit // blocks
        p0 = (unit - chunk * blocks) * block_panels
        p1 = min(panels, p0 + block_panels)
        k0 = p0 * nr
        nk = min(n_out, p1 * nr) - k0
        g0 = chunk * per_chunk
        n_tiles = min(total, g0 + per_chunk) - g0
        t_end = (n_tiles + mr - 1) // mr * mr   # whole micro-kernel tiles (the last chunk: fewer)
        v = np.empty(elems * ves, dtype=y.dtype)
        m = np.empty(elems * mes, dtype=y.dtype)
        abase = np.empty(mr, dtype=np.int64)
        aroff = np.zeros(1, dtype=np.int64)
        for e in range(elems):
            for j in range(n_tiles * channels, t_end * channels):
                v[e * ves + j] = 0
        for t in range(n_tiles):
            g = g0 + t
            n = g // (th * tw)
            r = g - n * (th * tw)
            ti = r // tw
            tj = r - ti * tw
            _input_tile(xflat, (n * hq + 2 * stride * ti) * rowlen + 2 * stride * tj * channels, rowlen,
                        channels, v, t * channels, ves, channels, u)
        for e in range(elems):
            for p in range(p0, p1):
                panel = uflat[(e * panels + p) * channels * nr:]
                for t0 in range(0, t_end, mr):
                    for i in range(mr):
                        abase[i] = e * ves + (t0 + i) * channels
                    tile_fma(v, abase, aroff, 1, panel, 0, nr, 1, channels,
                             m[e * mes + t0 * block + (p - p0) * nr:], block, False)
        t = 0
        while t < n_tiles:
            g = g0 + t
            n = g // (th * tw)
            r = g - n * (th * tw)
            ti = r // tw
            tj0 = r - ti * tw
            seg = min(tw - tj0, n_tiles - t)   # tiles t .. t + seg - 1: one run in tile row (n, ti)
            below = 2 * ti + 1 < ho
            for tb in range(0, seg, step):
                nt = min(step, seg - tb)
                nl = 2 * nt
                if tj0 + tb + nt == tw and wo % 2 == 1:
                    nl -= 1
                yo = (n * n_out + k0) * hw + 2 * ti * wo + 2 * (tj0 + tb)
                for kk in range(0, nk, lanes):
                    mo = (t + tb) * block + kk
                    ko = min(lanes, nk - kk)
                    if step == lanes:
                        _output_tiles(m, mo, mes, block, bias, k0 + kk, yflat, yo + kk * hw, hw, wo, nl, ko,
                                      below, 1, u)
                    elif step == max(1, lanes // 2):
                        _output_tiles(m, mo, mes, block, bias, k0 + kk, yflat, yo + kk * hw, hw, wo, nl, ko,
                                      below, 2, u)
                    else:
                        _output_tiles(m, mo, mes, block, bias, k0 + kk, yflat, yo + kk * hw, hw, wo, nl, ko,
                                      below, 4, u)
            t += seg


def conv2d_forward_winograd(x, w, b, y, ph, pw, flip=False, stride=1):
    """y[n, k, i, j] = b[k] + sum_{c,p,q} w[k, c, p, q] * xpad[n, c, s i + p, s j + q] (3x3 or 5x5
    at stride s = 1 or 2).

    x : (N, C, H, W), w : (K, C, r, r) with r = 3 or 5, b : (K,), y : (N, K, Ho, Wo) with Ho =
    (H + 2 ph - r) // s + 1, Wo likewise, written in full; all C-contiguous, one dtype (float32
    or float64); shapes validated by the caller. Any padding ph, pw >= 0. ``flip`` (stride 1):
    correlate with the flipped, transposed filters ``w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)``,
    read in place: the backward-input correlation, w a forward's (K, C, r, r), x its dy (K
    channels), y its dx (C). Extra memory: see the module docstring.
    """
    n_batch, channels, h, wd = x.shape
    k = y.shape[1]
    ho, wo = y.shape[2], y.shape[3]
    r = w.shape[2]
    # rows and columns of the padded copy: the tiles' windows (n values, 2 s apart), and at least
    # the whole padded input (at stride 2 an even-sized one ends with a row no window reads)
    n = r + 2 if stride == 2 else r + 1   # the windows: n x n, 2 s apart
    hq = max(2 * stride * ((ho + 1) // 2) + n - 2 * stride, h + 2 * ph)
    wq2 = max(2 * stride * ((wo + 1) // 2) + n - 2 * stride, wd + 2 * pw)
    xcl = _pad_channels_last(x.reshape(n_batch, channels, 1, h, wd), 0, ph, pw, 0, hq - h - 2 * ph,
                             wq2 - wd - 2 * pw, channels)
    mr, nr = tile_shape(x.dtype)
    if stride == 2:
        u = (winograd_weights_stride2 if r == 3 else winograd_weights_5x5_stride2)(w, nr)
    else:
        u = (winograd_weights if r == 3 else winograd_weights_5x5)(w, nr, flip)
    bias = np.zeros(u.shape[-3] * nr, dtype=x.dtype)
    bias[:k] = b
    per, block = work_split(n_batch, ho, wo, k, mr, nr)
    _winograd_chunks(xcl, channels, u, bias, y, per, block)

"""Convolutions of images with few channels (a network's first layer): output positions in vector lanes.

Why a second form of the forward pass. The convolution core (:mod:`fastnet.kernels.conv3d`) keeps
NR output channels in each vector and broadcasts input values; with 3 input channels its
reduction is short (147 steps for ResNet's 7x7 stem), so a tile's fixed costs weigh, and every
block of results is transposed into NCDHW rows, 8 x 8 values at a time, then stored: for
ResNet's stem (8, 3, 224, 224) -> 64 channels, 7x7 stride 2, the work outside the tiles took
4.1 of 25.2 ms on one Zen 3 core (the transposes and their stores 3.1 of it; timed with the
tiles' calls skipped, then with the transposes' stores sent to a small scratch). Here the roles
are swapped: a tile is NV vectors of W consecutive output positions along a row (W: the vector
lanes) x KB output channels; each step of its reduction loads NV vectors of input and
broadcasts KB weights, and its results are whole runs of an output row, stored straight into y
(no transpose, no block buffer, no per-block set-up).

Layout. Consecutive output positions read inputs ``s`` apart (stride s along W). The input is
copied once into phases (:func:`_fill_phases`): ``xq[n, d, h, c, r, u] = xpad[n, c, d, h, u*s + r]``
(xpad: x zero-padded, zeros also past its end), so that tap ``e`` of positions ``l .. l + W - 1``
is the contiguous run ``xq[n, d, h, c, e % s, l + e // s : + W]``. A step's offset in xq is the
same for every tile (:func:`_step_offsets`, one table per shape); a tile adds its vectors'
starts. The weights are packed (:func:`_pack_lanes_weights`) as ``wpk[g, step, k] =
w[g*KB + k, c, a, b, e]`` for the step's (a, b, c, e), zero past K: KB consecutive values per step.

Tiles: the W-position vectors of every output row, ``ceil(Wo / W)`` a row, the last one starting
at ``Wo - W`` (it recomputes a few positions of the one before: the same sums, written again),
taken NV at a time in (n, d, h, vector) order, the last tile repeating the last vector. The
tiles are shared out in contiguous parts of at most CHUNK_TILES, as many parts for every thread
(:func:`_tile_parts`); a part's vector starts are computed once, then each group of KB channels
passes over its tiles (the group's packed weights, 147 x KB values for the stem, stay in L1;
parts of 1, 2, 4 and 16 tiles measured within 5%). Numba hands each thread an equal contiguous
run of a prange's iterations, so parts of exactly CHUNK_TILES tiles, the last one short, left the
threads unequal work: AlexNet conv1's 1027 tiles went 528 / 499 to two threads, batch 1's 129
went 80 / 49.

Sum order: each output is ``b + sum over the steps`` in :func:`_step_order`: filter rows in
order; in a row each channel, and in a channel the taps by phase (``e % s``, then ``e // s``), so
that consecutive steps read one phase row one value apart (lines already in L1) rather than
jumping between phase rows and channels: AlexNet conv1 (11x11 stride 4) 1-6% faster than in the
core's (a, b, e, c) order (one and two threads, three runs alternating in one process). Results
therefore agree with the core's to rounding, not bitwise. The padding zeros are multiplied (a +0
added: the same sum for finite values; an infinite weight times a padding zero makes NaN, as in
the reference's padded product).

When (:func:`lanes_fit`): at most LANES_MAX_CHANNELS input channels, at most LANES_MAX_STEPS
steps of reduction (FD*FH*FW*C), and output rows of at least W positions of which the rounded-up
vectors waste at most LANES_MAX_WASTE; any stride (at stride 1 the phase copy is a padded copy,
and the form is taken before :mod:`fastnet.kernels.conv2d_plane`'s flat planes, which its forward
beat: below). Tiles of 4 channels x 3 vectors (AVX2; 8 x 3 on AVX-512) rather than 6 x 2: one
load fewer per 12 FMAs, and K = 32, 64, 96 without padding channels (6 x 2: 3x3 stride 2 -> 32
channels 3.8 ms, 4 x 3: 2.9).

Measured on Zen 3 (AVX2, 2 cores), float32, 2026-12-06 16:51, ``ops.conv2d`` with this form and
with the core (``LANES_MAX_CHANNELS = 0``) alternating with PyTorch 2.13 in one process (turns of
0.4 s, the fastest of 5), torch time / fastnet time, core -> this form, one thread | two threads:

* ResNet's stem (8, 3, 224, 224) 7x7/2 pad 3 -> 64: 0.91 -> 1.04 | 0.95 -> 1.10;
* a 3x3/2 pad 1 stem -> 32 (MobileNet's): 0.65 -> 1.05 | 0.74 -> 1.20;
* (32, 3, 64, 64) 5x5/2 pad 2 -> 32: 0.79 -> 1.00 | 0.83 -> 1.00;
* ZFNet conv1 (8, 3, 224, 224) 7x7/2 pad 1 -> 96: 2.14 -> 2.34 | 2.39 -> 2.63;
* ConvNeXt's stem (8, 3, 224, 224) 4x4/4 -> 96: 0.82 -> 1.07 | 0.84 -> 1.08;
* AlexNet conv1 (8, 3, 227, 227) 11x11/4 -> 96 (363 steps): 0.95 -> 0.99 | 0.96 -> 1.00 (in the
  core's step order this form had measured no faster than the core);
* stride 1, against the flat planes that took these before: VGG's first layer (8, 3, 224, 224)
  3x3 pad 1 -> 64 4.26 -> 5.75 | 4.69 -> 6.37; (32, 3, 64, 64) 5x5 pad 2 -> 32 0.64 -> 1.15 |
  0.74 -> 1.21; LeNet's C1 (64, 1, 28, 28) 5x5 pad 2 -> 6 1.45 -> 1.54 | 1.41 -> 1.69.

Longer reductions, ``conv3d_forward`` with ``lanes`` forced, two threads, ms, core / this form
(PyTorch): (8, 4, 227, 227) 11x11/4 -> 96 (484 steps) 18.7 / 17.6 (15.8); a 3-D 5x5x5 stride-2
stem (2, 3, 16, 112, 112) -> 64 (375 steps) 16.6 / 15.7 (14.3); a 7x7x7 one (1029 steps) 38.4 /
39.2 (42.5): hence LANES_MAX_STEPS = 512.

Not measured on AVX-512 (the dev machine had none): there its tiles are 8 channels x 3 vectors
of 16 positions, and LANES_MAX_WASTE keeps rows such as AlexNet's 55 (4 vectors of 16) on the core.

Extra memory: the phase copy of x, ``N * Dp * Hp * C * s * Wq`` values (Wq = Wo + (FW - 1) // s:
about the padded input), the packed weights (K rounded up to KB), per part in flight
2 * CHUNK_TILES * NV int64 starts at most, and per block of rows in flight of the copy a padded row
(Wq * s values).
"""

import functools

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic, overload
from numba.np.numpy_support import as_dtype

from ._config import parallel_kernel, serial_kernel, vector_bytes
from .microkernel import loop_not_unrolled, lowered_operands, vector_ir, vector_lanes

LANES_MAX_CHANNELS = 4    # input channels at most (RGB, RGBA, grey images)
LANES_MAX_WASTE = 1.15    # lanes computed per output position along a row at most (ceil(Wo / W) * W / Wo)
LANES_MAX_STEPS = 512     # reductions FD*FH*FW*C at most (longer ones: the core measured as fast or faster)
CHUNK_TILES = 16          # tiles per part (a parallel iteration) at most
OFFSETS_KEPT = 64         # step offset tables kept (one per layer shape)

# (KB, NV) per vector width in bytes: KB * NV accumulators plus NV input vectors and a broadcast
# within the register file (16 on AVX2, 32 on AVX-512)
_SHAPES = {64: (8, 3), 32: (4, 3), 16: (4, 3)}


def lanes_shape(dtype):
    """(KB, NV, W): output channels and vectors of W output positions per tile, for arrays of
    ``dtype`` on the target Numba compiles for."""
    vb = vector_bytes()
    kb, nv = _SHAPES[vb]
    return kb, nv, vb // np.dtype(dtype).itemsize


def tile_vectors(a):
    """NV of :func:`lanes_shape` inside kernels (a compile-time constant)."""
    return _SHAPES[vector_bytes()][1]


@overload(tile_vectors)
def _tile_vectors_overload(a):
    nv = _SHAPES[vector_bytes()][1]
    return lambda a: nv


def lanes_fit(channels, taps, sw, wo, dtype):
    """Whether :func:`conv_lanes_forward` takes a forward pass of ``channels`` input channels,
    ``taps`` filter taps (FD*FH*FW), stride ``sw`` along W and output rows of ``wo`` positions
    (see the module docstring)."""
    lanes = lanes_shape(dtype)[2]
    return (channels <= LANES_MAX_CHANNELS and taps * channels <= LANES_MAX_STEPS and wo >= lanes
            and -(-wo // lanes) * lanes <= LANES_MAX_WASTE * wo)


def _emit_lanes_tile(context, builder, dtype, values):
    """The LLVM IR of one tile (see :func:`lanes_tile`)."""
    kb, nv = _SHAPES[vector_bytes()]
    x_ptr, xbase_ptr, xoff_ptr, w_ptr, nsteps, out_ptr, obase_ptr, ostride, bias_ptr, kcount = values
    vty, vptr, fma, broadcast = vector_ir(builder, dtype, x_ptr.type.pointee)

    def const(n):
        return ir.Constant(ir.IntType(64), n)

    # the accumulators: allocas that LLVM's mem2reg turns into vector registers
    accs = [[cgutils.alloca_once(builder, vty) for _ in range(nv)] for _ in range(kb)]
    for k in range(kb):
        for v in range(nv):
            builder.store(ir.Constant(vty, None), accs[k][v])
    bases = [builder.load(builder.gep(xbase_ptr, [const(v)])) for v in range(nv)]
    with loop_not_unrolled(builder, nsteps) as step:
        offset = builder.load(builder.gep(xoff_ptr, [step]))
        xvecs = [builder.load(builder.bitcast(builder.gep(x_ptr, [builder.add(bases[v], offset)]), vptr), align=1)
                 for v in range(nv)]
        weights = builder.mul(step, const(kb))
        for k in range(kb):
            wk = broadcast(builder.load(builder.gep(w_ptr, [builder.add(weights, const(k))])))
            for v in range(nv):
                builder.store(builder.call(fma, [wk, xvecs[v], builder.load(accs[k][v])]), accs[k][v])
    obases = [builder.load(builder.gep(obase_ptr, [const(v)])) for v in range(nv)]
    for k in range(kb):
        with builder.if_then(builder.icmp_signed("<", const(k), kcount)):
            bias = broadcast(builder.load(builder.gep(bias_ptr, [const(k)])))
            for v in range(nv):
                at = builder.add(obases[v], builder.mul(const(k), ostride))
                builder.store(builder.fadd(builder.load(accs[k][v]), bias),
                              builder.bitcast(builder.gep(out_ptr, [at]), vptr), align=1)


@intrinsic
def lanes_tile(typingctx, x, xbase, xoff, w, nsteps, out, obase, ostride, bias, kcount):
    """One tile: ``out[obase[v] + k*ostride + l] = bias[k] + sum_{s < nsteps} w[s*KB + k] *
    x[xbase[v] + xoff[s] + l]`` for channels k < kcount (<= KB), vectors v < NV and lanes l < W
    (:func:`lanes_shape`), the sum over s in order, in registers.

    x, w, out, bias : 1-D C-contiguous arrays of one float dtype (views: pass ``a[offset:]`` to
        start anywhere); xbase, obase : int64 (>= NV,); xoff : int64 (>= nsteps,); nsteps,
        ostride, kcount : ints. Nothing is bounds-checked: the caller guarantees every index.
    """
    sig = types.void(x, xbase, xoff, w, nsteps, out, obase, ostride, bias, kcount)
    dtype = as_dtype(x.dtype)

    def codegen(context, builder, signature, args):
        _emit_lanes_tile(context, builder, dtype, lowered_operands(context, builder, signature, args))
        return context.get_dummy_value()

    return sig, codegen


def _emit_split_phases(builder, dtype, values):
    """The LLVM IR of :func:`split_phases`: one loop for s = 2, one for s = 4 (s checked at run
    time), each over the vectors of W phase values."""
    src_ptr, dst_ptr, s, wq = values
    vty, vptr, _, _ = vector_ir(builder, dtype, src_ptr.type.pointee)
    lanes = vty.count
    i64 = ir.IntType(64)

    def const(n):
        return ir.Constant(i64, n)

    masks = [ir.Constant(ir.VectorType(ir.IntType(32), lanes), [2 * i + odd for i in range(lanes)]) for odd in (0, 1)]

    def halves(a, b):   # the even and the odd values of a ++ b
        return builder.shuffle_vector(a, b, masks[0]), builder.shuffle_vector(a, b, masks[1])

    vectors = builder.sdiv(builder.add(wq, const(lanes - 1)), const(lanes))
    last = builder.sub(wq, const(lanes))
    for stride in (2, 4):
        with builder.if_then(builder.icmp_signed("==", s, const(stride))):
            with loop_not_unrolled(builder, vectors) as k:
                u0 = builder.mul(k, const(lanes))
                u0 = builder.select(builder.icmp_signed("<", u0, last), u0, last)   # the last overlaps
                start = builder.mul(u0, const(stride))
                v = [builder.load(builder.bitcast(builder.gep(src_ptr, [builder.add(start, const(i * lanes))]), vptr),
                                  align=1) for i in range(stride)]
                if stride == 2:
                    rows = list(halves(v[0], v[1]))
                else:   # the even and the odd values, then those of each: phases 0, 2 and 1, 3
                    a, b = halves(v[0], v[1])
                    c, d = halves(v[2], v[3])
                    r0, r2 = halves(a, c)
                    r1, r3 = halves(b, d)
                    rows = [r0, r1, r2, r3]
                for r, row in enumerate(rows):
                    at = builder.add(builder.mul(const(r), wq), u0)
                    builder.store(row, builder.bitcast(builder.gep(dst_ptr, [at]), vptr), align=1)


@intrinsic
def split_phases(typingctx, src, dst, s, wq):
    """``dst[r*wq + u] = src[u*s + r]`` for r < s and u < wq, for s = 2 or 4 and wq >= W (the
    vector lanes); other s do nothing. src, dst : 1-D C-contiguous arrays of one float dtype, src
    at least s * wq values, dst s * wq; s, wq : ints. Nothing is bounds-checked. Whole vectors of
    W phase values from s vector loads and shuffles (s - 1 rounds of even/odd splits), no
    remainder loop: the last vector overlaps the one before."""
    sig = types.void(src, dst, s, wq)
    dtype = as_dtype(src.dtype)

    def codegen(context, builder, signature, args):
        _emit_split_phases(builder, dtype, lowered_operands(context, builder, signature, args))
        return context.get_dummy_value()

    return sig, codegen


ROWS_PER_FILL = 16   # rows of xq per parallel iteration of _fill_phases


@parallel_kernel
def _fill_phases(x, xq, pd, ph, pw):
    """``xq[n, d + pd, h + ph, c, r, u] = x[n, c, d, h, u*s + r - pw]`` where that is in x, else 0.

    x : (N, C, D, H, W); xq : (N, Dp, Hp, C, s, Wq), s the stride along W. One parallel region,
    over blocks of ROWS_PER_FILL rows (n, d, h) of xq. Each input row is copied into a zero-padded
    buffer of Wq * s values (its padding zeroed once per block, so that no edge needs a test),
    which :func:`_split_row` splits into the s phase rows. Zen 3, float32, ms, one thread | two,
    old and new code in alternating processes (``np.copyto`` of x: 0.15-0.20): AlexNet's input
    (8, 3, 227, 227), s = 4: 0.54-0.57 | 0.26-0.27 with three even/odd splits that LLVM
    vectorised (each call with its alias checks and remainder loops), 0.42-0.47 | 0.21 by
    :func:`split_phases`; ResNet's stem input (8, 3, 224, 224), s = 2: 0.35-0.42 | 0.18-0.20
    either way. Splitting straight from x's rows, without the padded row, was slower for the stem
    (0.41-0.44 | 0.21-0.22), and no faster at s = 4 than through it.
    """
    n_batch, channels, depth, height, width = x.shape
    dq, hq, s, wq = xq.shape[1], xq.shape[2], xq.shape[4], xq.shape[5]
    rows = n_batch * dq * hq
    zero = np.zeros(1, dtype=x.dtype)[0]
    used = min(width, wq * s - pw)   # the columns of a row that land in xq
    for block in prange((rows + ROWS_PER_FILL - 1) // ROWS_PER_FILL):
        padded = np.zeros(wq * s, dtype=x.dtype)
        body = padded[pw:]
        for row in range(block * ROWS_PER_FILL, min(rows, (block + 1) * ROWS_PER_FILL)):
            n = row // (dq * hq)
            dd = row // hq - n * dq
            hh = row - (n * dq + dd) * hq
            d = dd - pd
            h = hh - ph
            dst_row = xq[n, dd, hh]
            if d < 0 or d >= depth or h < 0 or h >= height:
                flat = dst_row.reshape(dst_row.size)
                for j in range(flat.shape[0]):
                    flat[j] = zero
                continue
            for c in range(channels):
                src = x[n, c, d, h]
                for j in range(used):
                    body[j] = src[j]
                _split_row(padded, dst_row[c])


@serial_kernel
def _split_row(padded, dst):
    """``dst[r, u] = padded[u*s + r]``; padded (>= s * Wq,), dst (s, Wq): by :func:`split_phases`
    for s = 2 and 4 where Wq is at least a vector, a copy for s = 1, else value by value."""
    s, wq = dst.shape
    if (s == 2 or s == 4) and wq >= vector_lanes(padded):
        split_phases(padded, dst.reshape(dst.size), s, wq)
    elif s == 1:
        row = dst[0]
        for u in range(wq):
            row[u] = padded[u]
    else:
        for u in range(wq):
            for r in range(s):
                dst[r, u] = padded[u * s + r]


@serial_kernel
def _pack_lanes_weights(w, wpk, woff):
    """``wpk[g, step, k] = w[g*KB + k, c, a, b, e]`` for each step's (a, b, c, e) in
    :func:`_step_order`, 0 where g*KB + k >= K. w : (K, C, FD, FH, FW); wpk : (ceil(K / KB),
    FD*FH*FW*C, KB); woff : int64 (FD*FH*FW*C,), each step's offset in a filter
    (:func:`_weight_offsets`). Step by step, the KB values of a step stored side by side: AlexNet
    conv1's weights (96, 3, 11, 11) in 32 us, ResNet's stem's in 9 (77 and 20 walking each
    filter in five nested loops; Zen 3, 2026-12-06: 6% of a batch-1 conv1)."""
    n_out = w.shape[0]
    groups, steps, kb = wpk.shape
    per_filter = w.size // n_out
    src = w.reshape(w.size)
    zero = np.zeros(1, dtype=w.dtype)[0]
    for g in range(groups):
        dst = wpk[g].reshape(steps * kb)
        for step in range(steps):
            at = woff[step]
            for k in range(kb):
                o = g * kb + k
                dst[step * kb + k] = src[o * per_filter + at] if o < n_out else zero


def _step_order(taps, channels, s):
    """(a, b, c, e) of each step, int64 (FD*FH*FW*C, 4): filter rows in order; in a row, the
    channels, and in a channel the taps by phase e % s, then e // s (so that consecutive steps
    read the same phase row one value apart)."""
    fd, fh, fw = taps
    e = np.array(sorted(range(fw), key=lambda t: (t % s, t // s)))
    a, b, c, e = np.meshgrid(np.arange(fd), np.arange(fh), np.arange(channels), e, indexing="ij")
    return np.stack([a.ravel(), b.ravel(), c.ravel(), e.ravel()], axis=1).astype(np.int64)


@functools.lru_cache(maxsize=OFFSETS_KEPT)
def _weight_offsets(taps, channels, s):
    """int64 (FD*FH*FW*C,): each step's offset in a filter (C, FD, FH, FW), in
    :func:`_step_order`; kept per shape (shared, read only)."""
    fd, fh, fw = taps
    a, b, c, e = _step_order(taps, channels, s).T
    offsets = (((c * fd + a) * fh + b) * fw + e).astype(np.int64)
    offsets.flags.writeable = False
    return offsets


@functools.lru_cache(maxsize=OFFSETS_KEPT)
def _step_offsets(taps, channels, s, hq, wq):
    """int64 (FD*FH*FW*C,): each step's offset in the phase layout, from a window's first row, in
    :func:`_step_order`; kept per shape (shared, read only)."""
    a, b, c, e = _step_order(taps, channels, s).T
    offsets = ((((a * hq + b) * channels + c) * s + e % s) * wq + e // s).astype(np.int64)
    offsets.flags.writeable = False
    return offsets


@parallel_kernel
def _lanes_forward(xq, wpk, bias, out, xoff, sd, sh, parts):
    """out = bias + the correlation of the phase layout ``xq`` with the packed weights ``wpk``.

    xq : (N, Dp, Hp, C, s, Wq) (:func:`_fill_phases`); wpk : (groups, steps, KB)
    (:func:`_pack_lanes_weights`); bias : (K,); out : (N, K, Do, Ho, Wo), Wo >= W, written in
    full; xoff : int64 (steps,) (:func:`_step_offsets`); sd, sh : the strides along D and H;
    parts : parallel iterations, each ``tiles * p // parts`` up to the next part's first tile
    (:func:`_tile_parts`). See the module docstring.
    """
    n_batch, dq, hq, channels, s, wq = xq.shape
    groups, nsteps, kb = wpk.shape
    n_out, do, ho, wo = out.shape[1], out.shape[2], out.shape[3], out.shape[4]
    nv = tile_vectors(xq)
    lanes = vector_lanes(xq)
    per_row = (wo + lanes - 1) // lanes
    plane = do * ho * wo
    total = n_batch * do * ho * per_row   # vectors
    tiles = (total + nv - 1) // nv
    most = (tiles + parts - 1) // parts   # tiles in a part at most
    xflat = xq.reshape(xq.size)
    oflat = out.reshape(out.size)
    wflat = wpk.reshape(wpk.size)
    for part in prange(parts):
        t0 = part * tiles // parts
        t1 = (part + 1) * tiles // parts
        xbase = np.empty(most * nv, dtype=np.int64)   # each vector's window in xq ...
        obase = np.empty(most * nv, dtype=np.int64)   # ... and its outputs in out (channel 0)
        for i in range((t1 - t0) * nv):
            vector = min(t0 * nv + i, total - 1)   # the last tile may repeat the last vector
            row = vector // per_row
            l0 = min((vector - row * per_row) * lanes, wo - lanes)
            n = row // (do * ho)
            spatial = row - n * (do * ho)
            i_d = spatial // ho
            i_h = spatial - i_d * ho
            xbase[i] = ((n * dq + i_d * sd) * hq + i_h * sh) * channels * s * wq + l0
            obase[i] = n * n_out * plane + spatial * wo + l0
        for g in range(groups):
            k0 = g * kb
            weights = wflat[g * nsteps * kb:]
            out_k = oflat[k0 * plane:]
            kcount = min(kb, n_out - k0)
            for t in range(t1 - t0):
                lanes_tile(xflat, xbase[t * nv:], xoff, weights, nsteps, out_k, obase[t * nv:], plane,
                           bias[k0:], kcount)


def conv_lanes_forward(x, w, b, y, sd, sh, sw, pd, ph, pw):
    """y = conv3d(x, w, b) as :func:`fastnet.kernels.conv3d.conv3d_forward` says, by output
    positions in vector lanes (for shapes :func:`lanes_fit` takes; y.shape[4] >= W).

    x : (N, C, D, H, W), w : (K, C, FD, FH, FW), b : (K,), y : (N, K, Do, Ho, Wo) written in full;
    all C-contiguous, one dtype, shapes validated by the caller.
    """
    n_batch, channels, depth, height, width = x.shape
    n_out, _, fd, fh, fw = w.shape
    kb, _, lanes = lanes_shape(w.dtype)
    if y.shape[4] < lanes:   # a tile's vectors would start before their rows
        raise ValueError(f"y: output rows of {y.shape[4]} positions, fewer than the {lanes} lanes of a vector")
    wq = y.shape[4] + (fw - 1) // sw
    xq = np.empty((n_batch, depth + 2 * pd, height + 2 * ph, channels, sw, wq), dtype=x.dtype)
    _fill_phases(x, xq, pd, ph, pw)
    wpk = np.empty((-(-n_out // kb), fd * fh * fw * channels, kb), dtype=w.dtype)
    _pack_lanes_weights(w, wpk, _weight_offsets((fd, fh, fw), channels, sw))
    xoff = _step_offsets((fd, fh, fw), channels, sw, xq.shape[2], wq)
    _lanes_forward(xq, wpk, b, y, xoff, sd, sh, _tile_parts(y.shape, w.dtype, numba.get_num_threads()))


def _tile_parts(y_shape, dtype, threads):
    """The parallel iterations of :func:`_lanes_forward` for an output of ``y_shape``: parts of
    at most CHUNK_TILES tiles, as many for every thread (a multiple of ``threads``, the tiles
    shared out to within one a part)."""
    n_batch, _, do, ho, wo = y_shape
    _, nv, lanes = lanes_shape(dtype)
    tiles = -(-n_batch * do * ho * -(-wo // lanes) // nv)
    return max(1, min(tiles, threads * -(-tiles // (threads * CHUNK_TILES))))

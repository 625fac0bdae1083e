"""In-register transposes of W x W blocks in explicit LLVM vectors (packing weights).

:func:`transpose_tile` loads W rows of W contiguous values (one vector each), transposes them
with log2(W) stages of two-input shuffles, and stores each column as one vector wherever the
caller says. W is the target's vector width in elements
(:func:`~fastnet.kernels.microkernel.vector_lanes`: 16 float32 or 8 float64 on AVX-512, 8 or 4 on
AVX2). Stage h (h = W/2, W/4, ..., 1) pairs rows r and r + h
(r mod 2h < h) and swaps their off-diagonal h x h sub-blocks, which is the recursive block
transpose [[A, B], [C, D]]^T = [[A^T, C^T], [B^T, D^T]] done for all blocks of one size at once;
LLVM lowers each shuffle to one permute (vpermt2ps on AVX-512; unpack/shuffle/vperm2f128 on AVX2).

:func:`transpose_block` transposes a whole matrix block by such tiles (the dense forward's copy
of w.T, :mod:`fastnet.kernels.dense`).

Why an intrinsic: a transpose moves every value across lanes, which Numba's loops (and LLVM's
vectorisers) only express as one scalar load and store per value, about 1 ns each on the dev box
(Zen 4); the tile costs W * log2(W) shuffles for W * W values.
"""

import numpy as np
from numba import types
from numba.extending import intrinsic
from numba.np.numpy_support import as_dtype
from llvmlite import ir

from ._config import serial_kernel, vector_bytes
from .microkernel import vector_lanes


def _stage_masks(width):
    """The shuffle masks of each stage: (h, mask of row r, mask of row r + h), indices into the
    concatenation of rows r and r + h (row r + h's values from ``width`` on)."""
    stages = []
    h = width // 2
    while h >= 1:
        low, high = [], []
        for p in range(width):
            if p % (2 * h) < h:
                low.append(p)
                high.append(p + h)
            else:
                low.append(width + p - h)
                high.append(width + p)
        stages.append((h, low, high))
        h //= 2
    return stages


def _transpose_codegen(dtype, partial):
    """The code generator of :func:`transpose_tile` (``partial``: of :func:`transpose_rows`, whose
    third argument is the number of source rows)."""
    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        i64 = ir.IntType(64)
        width = vector_bytes() // dtype.itemsize

        def data(position):
            return context.make_array(signature.args[position])(context, builder, args[position]).data

        def as_i64(value):
            return builder.sext(value, i64) if value.type != i64 else value

        dst_at = 3 if partial else 2
        src_ptr, dst_ptr, rows_ptr = data(0), data(dst_at), data(dst_at + 1)
        stride = as_i64(args[1])
        vty = ir.VectorType(src_ptr.type.pointee, width)
        vptr = vty.as_pointer()
        if partial:   # rows past the source's: load its last row again (in range), then zero it
            count = as_i64(args[2])
            last = builder.sub(count, ir.Constant(i64, 1))
        rows = []
        for r in range(width):
            index = ir.Constant(i64, r)
            if partial:
                present = builder.icmp_signed("<", index, count)
                index = builder.select(present, index, last)
            row = builder.load(builder.bitcast(builder.gep(src_ptr, [builder.mul(stride, index)]), vptr), align=1)
            rows.append(builder.select(present, row, ir.Constant(vty, None)) if partial else row)
        for h, low, high in _stage_masks(width):
            low_mask = ir.Constant(ir.VectorType(i32, width), low)
            high_mask = ir.Constant(ir.VectorType(i32, width), high)
            pairs = [r for r in range(width) if r % (2 * h) < h]
            for r in pairs:
                top, bottom = rows[r], rows[r + h]
                rows[r] = builder.shuffle_vector(top, bottom, low_mask)
                rows[r + h] = builder.shuffle_vector(top, bottom, high_mask)
        for c in range(width):
            start = builder.load(builder.gep(rows_ptr, [ir.Constant(i64, c)]))
            builder.store(rows[c], builder.bitcast(builder.gep(dst_ptr, [start]), vptr), align=1)
        return context.get_dummy_value()

    return codegen


@intrinsic
def transpose_tile(typingctx, src, src_stride, dst, dst_rows):
    """``dst[dst_rows[c] + r] = src[r * src_stride + c]`` for r, c < W
    (:func:`~fastnet.kernels.microkernel.vector_lanes`).

    src, dst : 1-D C-contiguous arrays of one float dtype (views: pass ``x[offset:]`` to start
        anywhere); src_stride : int, the distance between the W source rows; dst_rows : int64
        (>= W,), where each of the W transposed rows (source columns) starts in ``dst``. Nothing is
        bounds-checked: the caller guarantees that every index is in range.
    """
    sig = types.void(src, src_stride, dst, dst_rows)
    return sig, _transpose_codegen(as_dtype(src.dtype), False)


@intrinsic
def transpose_rows(typingctx, src, src_stride, n_rows, dst, dst_rows):
    """:func:`transpose_tile` of ``n_rows`` (1 to W) source rows, the rows past them taken as zeros:
    ``dst[dst_rows[c] + r] = src[r * src_stride + c]`` for r < n_rows, 0 for n_rows <= r < W;
    each of the W stores still writes W values (a group of channels that ends past K in the
    weight gradient's copy of dy: :func:`~fastnet.kernels.conv_weight._fill_dy_panels`). Reads only
    the n_rows rows.
    """
    sig = types.void(src, src_stride, n_rows, dst, dst_rows)
    return sig, _transpose_codegen(as_dtype(src.dtype), True)


@serial_kernel
def transpose_block(a, at):
    """``at[i, j] = a[j, i]``: a (m, n) and at (n, m), 2-D blocks of one float dtype with unit
    stride along their rows (any row stride: a block of rows or columns of a C-contiguous matrix).

    W x W tiles (:func:`transpose_tile`), a band of W rows of ``a`` at a time, read along its rows
    (W sequential streams); the last tile of each band and of each row overlaps the one before
    (rewriting a few values), so any m, n >= W take tiles only. Below that, value by value.
    """
    m, n = a.shape
    lanes = vector_lanes(a)
    if m < lanes or n < lanes:
        for j in range(m):
            for i in range(n):
                at[i, j] = a[j, i]
        return
    a_stride = a.strides[0] // a.itemsize
    rows_at = np.empty(lanes, dtype=np.int64)   # where tile column c lands: row c of at
    for c in range(lanes):
        rows_at[c] = c * (at.strides[0] // at.itemsize)
    for j0 in range(0, m, lanes):
        j = min(j0, m - lanes)
        for i0 in range(0, n, lanes):
            i = min(i0, n - lanes)
            transpose_tile(a[j, i:], a_stride, at[i, j:], rows_at)

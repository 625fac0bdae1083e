"""The register-tile micro-kernel: the inner loop of every convolution, in explicit LLVM vectors.

One call computes a small block ("tile") of a matrix product held in vector registers:

    c[i*ci + v] (+)= sum_{r < nr} sum_{j < nj} a[abase[i] + aroff[r] + j*aj] * b[r*br + j*bj + v]

for the tile's rows ``i < MR`` and columns ``v < NR``. Each step (r, j) loads the NR values
``b[r*br + j*bj : + NR]`` as NV vectors, broadcasts the MR values of ``a``, and does MR * NV
vector FMAs into MR * NV accumulators that stay in registers for the whole reduction: an
outer-product kernel (BLIS's design), with no horizontal sum at the end. The rows of ``a`` are
given by offsets (``abase``, one per tile row, and ``aroff``, one per outer step), so a tile's rows
can be any MR output positions of a convolution, read in place from a padded input, and its
reduction can run over a whole filter (outer steps: filter rows, inner steps: the contiguous
``taps_w * C`` values of a channels-last row) or over output positions (weight gradients).

Why an intrinsic: Numba has no vector types, and LLVM keeps accumulators in registers only for
reductions it vectorises itself (the dot-product form, which ends in one horizontal sum per
output). :func:`tile_fma` writes the loop with ``<W x float>`` values and ``llvm.fma``, so the
loop is exactly: NV vector loads, MR broadcasts, MR * NV FMAs (``inspect_asm``: zmm FMAs on
AVX-512, ymm on AVX2, no spills of accumulators).

Tile shapes (:func:`tile_shape`): W lanes per vector from the target's widest vector registers
(:func:`fastnet.kernels._config.vector_bytes`), MR x NV with MR * NV accumulators plus NV + 1
working registers within the register file: 32 vector registers on AVX-512 (wide: MR = 8,
NV = 2; narrow: 16 x 1), 16 on AVX2 and SSE (6 x 2; 12 x 1). The narrow shape is for layers with
at most W output channels (LeNet's 6 and 16 with float32 on AVX-512), where half or more of a
wide tile would be padding; both shapes are in every caller, chosen by a runtime flag.
Measured on one Zen 4 core (AVX-512), float32: 115-117 GFLOP/s for either shape with operands
in L1 (the core's peak, 32 FLOP per cycle; the shapes 12 x 2, 6 x 4, 24 x 1 and 28 x 1 measured
the same), 100-112 GFLOP/s in a convolution forward pass.

Every output element is the sum over (r, j) in that order, whatever the caller's work split,
so results do not depend on the thread count. NaN and infinities propagate as in any sum.
"""

from contextlib import contextmanager

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload
from numba.np.numpy_support import as_dtype
from llvmlite import ir

from ._config import vector_bytes

#: Tile shapes (MR, NV) per vector width in bytes: MR rows (broadcast values), NV vectors per row.
#: "wide" for NR >= 2 vectors of output channels; "narrow" (one vector, twice the rows) for
#: layers with at most one vector of them (K <= 16 with float32 on AVX-512), where a wide tile
#: would compute as many padding columns as real ones.
_WIDE = {64: (8, 2), 32: (6, 2), 16: (6, 2)}
_NARROW = {64: (16, 1), 32: (12, 1), 16: (12, 1)}


def tile_shape(dtype, narrow=False):
    """(MR, NR): rows and columns of one tile for arrays of ``dtype`` (float32 or float64) on the
    target Numba compiles for, wide or ``narrow``. NR = NV * W, W = vector bytes / itemsize."""
    vb = vector_bytes()
    mr, nv = (_NARROW if narrow else _WIDE)[vb]
    return mr, nv * (vb // dtype.itemsize)


def narrow_fits(columns, dtype):
    """Whether ``columns`` (a tile's output channels in all) fit one narrow tile's width: then the
    narrow shape wastes less (K = 6 or 16 with float32 on AVX-512; 32 does not)."""
    return columns <= tile_shape(dtype, True)[1]


def tile_rows(a, narrow=False):
    """MR of :func:`tile_shape` for ``a.dtype`` inside kernels (``narrow``: a runtime bool)."""
    return tile_shape(a.dtype, narrow)[0]


def tile_cols(a, narrow=False):
    """NR of :func:`tile_shape` for ``a.dtype`` inside kernels (``narrow``: a runtime bool)."""
    return tile_shape(a.dtype, narrow)[1]


def vector_lanes(a):
    """W: lanes of the target's widest vectors for ``a.dtype`` (a compile-time constant in kernels):
    16 float32 or 8 float64 on AVX-512, 8 or 4 on AVX2."""
    return vector_bytes() // a.dtype.itemsize


@overload(vector_lanes)
def _vector_lanes_overload(a):
    lanes = vector_bytes() // as_dtype(a.dtype).itemsize
    return lambda a: lanes


@overload(tile_rows)
def _tile_rows_overload(a, narrow=False):
    wide, thin = tile_shape(as_dtype(a.dtype))[0], tile_shape(as_dtype(a.dtype), True)[0]
    return lambda a, narrow=False: thin if narrow else wide


@overload(tile_cols)
def _tile_cols_overload(a, narrow=False):
    wide, thin = tile_shape(as_dtype(a.dtype))[1], tile_shape(as_dtype(a.dtype), True)[1]
    return lambda a, narrow=False: thin if narrow else wide


@contextmanager
def loop_not_unrolled(builder, count):
    """``for j in range(count)`` (yields j, an i64) whose back edge tells LLVM not to unroll it.

    LLVM unrolled the inner loop twice and kept a pointer per tile row for each copy: with a
    runtime stride between steps (a weight gradient's positions, ``aj = s * C``) that is 12 row
    pointers on AVX2 for 6 rows, more than the free registers, and the loop reloaded 4 of them
    from the stack every step. Not unrolled, the loop keeps one pointer and the rows' offsets in
    registers. One Zen 4 core, float32, AVX2 code, GFLOP/s unrolled / not: 14 steps of stride 128
    98.6 / 108.6, 28 steps 99.8 / 106.0; contiguous steps (forward) 114.3 / 114.2; AVX-512 the same
    or up to 2% faster.
    """
    module = builder.module
    intp = count.type
    cond = builder.append_basic_block("tile.cond")
    body = builder.append_basic_block("tile.body")
    end = builder.append_basic_block("tile.end")
    entry = builder.basic_block
    builder.branch(cond)
    with builder.goto_block(cond):
        index = builder.phi(intp, name="tile.j")
        builder.cbranch(builder.icmp_signed("<", index, count), body, end)
    with builder.goto_block(body):
        yield index
        latch = builder.basic_block
        following = builder.add(index, ir.Constant(intp, 1), flags=["nsw"])
        back_edge = builder.branch(cond)
    # loop metadata: a node whose first operand is itself (the loop's identity), then the hint;
    # created with a placeholder name so that llvmlite does not hand back another loop's node
    hint = module.add_metadata([ir.MetaDataString(module, "llvm.loop.unroll.disable")])
    placeholder = ir.MetaDataString(module, "fastnet.tile_loop.%d" % len(module.metadata))
    loop_id = module.add_metadata([placeholder, hint])
    loop_id.operands = (loop_id, hint)
    back_edge.set_metadata("llvm.loop", loop_id)
    index.add_incoming(ir.Constant(intp, 0), entry)
    index.add_incoming(following, latch)
    builder.position_at_end(end)


def vector_ir(builder, dtype, element):
    """(vty, vptr, fma, broadcast): the LLVM vector type of W ``element`` values (W: the target's
    vector lanes for ``dtype``), its pointer type, ``llvm.fma`` of it, and a function building
    the vector of one scalar repeated (insertelement + shufflevector: a broadcast)."""
    width = vector_bytes() // dtype.itemsize
    vty = ir.VectorType(element, width)
    fma = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vty, [vty] * 3),
        "llvm.fma.v%d%s" % (width, "f32" if dtype.itemsize == 4 else "f64"))
    i32 = ir.IntType(32)
    undef = ir.Constant(vty, ir.Undefined)
    splat = ir.Constant(ir.VectorType(i32, width), [0] * width)

    def broadcast(value):
        return builder.shuffle_vector(builder.insert_element(undef, value, ir.Constant(i32, 0)), undef, splat)

    return vty, vty.as_pointer(), fma, broadcast


def _emit_tile(context, builder, dtype, shape, values):
    """The LLVM IR of one tile of ``shape`` (MR, NV) (see :func:`tile_fma`)."""
    mr, nv = shape
    width = vector_bytes() // dtype.itemsize
    a_ptr, abase_ptr, aroff_ptr, aj, b_ptr, br, bj, nr, nj, c_ptr, ci, accumulate = values
    i64 = ir.IntType(64)
    vty, vptr, fma, broadcast = vector_ir(builder, dtype, a_ptr.type.pointee)

    def const(n):
        return ir.Constant(i64, n)

    # the accumulators: allocas that LLVM's mem2reg turns into vector registers
    accs = [[cgutils.alloca_once(builder, vty) for _ in range(nv)] for _ in range(mr)]
    cptrs = [[builder.bitcast(builder.gep(c_ptr, [builder.add(builder.mul(ci, const(i)), const(v * width))]),
                              vptr)
              for v in range(nv)] for i in range(mr)]
    with builder.if_else(accumulate) as (then, otherwise):
        with then:
            for i in range(mr):
                for v in range(nv):
                    builder.store(builder.load(cptrs[i][v], align=1), accs[i][v])
        with otherwise:
            for i in range(mr):
                for v in range(nv):
                    builder.store(ir.Constant(vty, None), accs[i][v])
    rows = [builder.load(builder.gep(abase_ptr, [const(i)])) for i in range(mr)]
    with cgutils.for_range(builder, nr) as outer:
        r = outer.index
        a_r = builder.load(builder.gep(aroff_ptr, [r]))
        b_r = builder.mul(r, br)
        with loop_not_unrolled(builder, nj) as j:
            a_rj = builder.add(a_r, builder.mul(j, aj))
            b_rj = builder.add(b_r, builder.mul(j, bj))
            bvecs = [builder.load(builder.bitcast(builder.gep(b_ptr, [builder.add(b_rj, const(v * width))]), vptr),
                                  align=1)
                     for v in range(nv)]
            for i in range(mr):
                value = broadcast(builder.load(builder.gep(a_ptr, [builder.add(rows[i], a_rj)])))
                for v in range(nv):
                    builder.store(builder.call(fma, [value, bvecs[v], builder.load(accs[i][v])]), accs[i][v])
    for i in range(mr):
        for v in range(nv):
            builder.store(builder.load(accs[i][v]), cptrs[i][v], align=1)


def lowered_operands(context, builder, signature, args):
    """An intrinsic's arguments as LLVM values: an array's data pointer, an integer as an i64,
    anything else (a bool) as it is."""
    i64 = ir.IntType(64)
    values = []
    for ty, value in zip(signature.args, args):
        if isinstance(ty, types.Array):
            values.append(context.make_array(ty)(context, builder, value).data)
        elif isinstance(ty, types.Integer):
            values.append(builder.sext(value, i64) if value.type != i64 else value)
        else:
            values.append(value)
    return values


def _codegen(dtype, shaped):
    """The intrinsics' code generator: the wide tile, or (``shaped``) the wide or narrow one by the
    last argument, a runtime bool."""
    def codegen(context, builder, signature, args):
        values = lowered_operands(context, builder, signature, args)[:12]
        if not shaped:
            _emit_tile(context, builder, dtype, _WIDE[vector_bytes()], values)
            return context.get_dummy_value()
        with builder.if_else(args[12]) as (thin, wide):
            with thin:
                _emit_tile(context, builder, dtype, _NARROW[vector_bytes()], values)
            with wide:
                _emit_tile(context, builder, dtype, _WIDE[vector_bytes()], values)
        return context.get_dummy_value()
    return codegen


@intrinsic
def tile_fma(typingctx, a, abase, aroff, aj, b, br, bj, nr, nj, c, ci, accumulate):
    """One wide MR x NR tile: ``c[i*ci + v] (+)= sum_{r<nr, j<nj} a[abase[i] + aroff[r] + j*aj] *
    b[r*br + j*bj + v]`` (see the module docstring).

    a, b, c : 1-D C-contiguous arrays of one float dtype (views: pass ``x[offset:]`` to start
        anywhere); abase : int64 (>= MR,), aroff : int64 (>= nr,); aj, br, bj, nr, nj, ci : ints;
    accumulate : bool, add to ``c`` (True) or overwrite it (False). Nothing is bounds-checked:
    the caller guarantees that every index is in range.
    """
    sig = types.void(a, abase, aroff, aj, b, br, bj, nr, nj, c, ci, accumulate)
    return sig, _codegen(as_dtype(a.dtype), False)


@intrinsic
def shaped_tile_fma(typingctx, a, abase, aroff, aj, b, br, bj, nr, nj, c, ci, accumulate, narrow):
    """:func:`tile_fma` of the wide or, with ``narrow`` (a runtime bool) True, the narrow shape
    (:func:`tile_shape`): both loops are compiled in, one test picks."""
    sig = types.void(a, abase, aroff, aj, b, br, bj, nr, nj, c, ci, accumulate, narrow)
    return sig, _codegen(as_dtype(a.dtype), True)

"""Explicit vector code for Numba intrinsics (llvmlite IR): vectors of the target's widest width for
one float type, unaligned and masked loads and stores, lane masks, in-register transposes and
interleaves, and the additions of a transform's rows (:meth:`Vectors.combine`).

The Winograd transforms are written with these (:mod:`fastnet.kernels.winograd`,
:mod:`fastnet.kernels.winograd_weight`, :mod:`fastnet.kernels.winograd3d`,
:mod:`fastnet.kernels.winograd3d_weight`) where LLVM left the same code as Numba loops scalar or
spilled (their module docstrings have the measurements).
"""

from llvmlite import ir
from numba.core import cgutils

from ._config import vector_bytes


class Vectors:
    """IR helpers for one code generation: vectors of W lanes of one float type (W = vector bytes /
    itemsize), unaligned loads and stores at element offsets, lane masks, transposes."""

    def __init__(self, builder, dtype):
        self.builder = builder
        self.width = vector_bytes() // dtype.itemsize
        self.fty = ir.FloatType() if dtype.itemsize == 4 else ir.DoubleType()
        self.vty = ir.VectorType(self.fty, self.width)
        self.i64 = ir.IntType(64)
        self.i32 = ir.IntType(32)
        self.suffix = "f32" if dtype.itemsize == 4 else "f64"

    def int64(self, value):
        if isinstance(value, int):
            return ir.Constant(self.i64, value)
        return self.builder.sext(value, self.i64) if value.type.width < 64 else value

    def _ptr(self, base, offset, vty):
        return self.builder.bitcast(self.builder.gep(base, [offset]), vty.as_pointer())

    def load(self, base, offset):
        return self.builder.load(self._ptr(base, offset, self.vty), align=1)

    def store(self, value, base, offset):
        self.builder.store(value, self._ptr(base, offset, value.type), align=1)

    def mask(self, n, lanes):
        """<lanes x i1>: lane index < n."""
        b = self.builder
        vt = ir.VectorType(self.i64, lanes)
        splat = b.insert_element(ir.Constant(vt, ir.Undefined), n, ir.Constant(self.i32, 0))
        splat = b.shuffle_vector(splat, ir.Constant(vt, ir.Undefined),
                                 ir.Constant(ir.VectorType(self.i32, lanes), [0] * lanes))
        return b.icmp_signed("<", ir.Constant(vt, list(range(lanes))), splat)

    def by_vectors(self, n, step):
        """Emit ``step(start, mask)`` for each vector of the ``n`` (i64) elements: the whole vectors
        (mask None), then the rest, if any, with a lane mask."""
        b = self.builder
        width = self.int64(self.width)
        full = b.sdiv(n, width)
        with cgutils.for_range(b, full) as loop:
            step(b.mul(loop.index, width), None)
        rest = b.sub(n, b.mul(full, width))
        with b.if_then(b.icmp_signed(">", rest, self.int64(0))):
            step(b.mul(full, width), self.mask(rest, self.width))

    def masked_load(self, base, offset, mask):
        fn = cgutils.get_or_insert_function(
            self.builder.module,
            ir.FunctionType(self.vty, [self.vty.as_pointer(), self.i32, mask.type, self.vty]),
            "llvm.masked.load.v%d%s.p0" % (self.width, self.suffix))
        return self.builder.call(fn, [self._ptr(base, offset, self.vty), ir.Constant(self.i32, 1), mask,
                                      ir.Constant(self.vty, None)])

    def masked_store(self, value, base, offset, mask):
        vt = value.type
        suffix = "f32" if isinstance(vt.element, ir.FloatType) else "f64"
        fn = cgutils.get_or_insert_function(
            self.builder.module, ir.FunctionType(ir.VoidType(), [vt, vt.as_pointer(), self.i32, mask.type]),
            "llvm.masked.store.v%d%s.p0" % (vt.count, suffix))
        self.builder.call(fn, [value, self._ptr(base, offset, vt), ir.Constant(self.i32, 1), mask])

    def _shuffle(self, x, y, lanes):
        return self.builder.shuffle_vector(x, y, ir.Constant(ir.VectorType(self.i32, len(lanes)), lanes))

    def transpose(self, rows):
        """W vectors, the rows of a W x W block, to its W columns: log2(W) rounds of W shuffles,
        each round swapping the off-diagonal (h x h) blocks of every (2h x 2h) block."""
        w = self.width
        rows = list(rows)
        h = w // 2
        while h >= 1:
            lo = [j if j & h == 0 else w + j - h for j in range(w)]
            hi = [j + h if j & h == 0 else w + j for j in range(w)]
            out = list(rows)
            for i in range(w):
                if i & h == 0:
                    out[i] = self._shuffle(rows[i], rows[i + h], lo)
                    out[i + h] = self._shuffle(rows[i], rows[i + h], hi)
            rows = out
            h //= 2
        return rows

    def combine(self, coefficients, values):
        """sum_i coefficients[i] * values[i] for a row of a transform (small integers, or 1/2):
        the positive terms in order, then the negative ones subtracted (the first one negated where
        none is positive); |c| != 1 multiplies by |c|. ``values[i]`` is called (a load) only where
        coefficients[i] != 0."""
        b = self.builder

        def term(c, i):
            v = values(i)
            return v if abs(c) == 1 else b.fmul(v, ir.Constant(v.type, [float(abs(c))] * v.type.count))

        pos = [term(c, i) for i, c in enumerate(coefficients) if c > 0]
        neg = [term(c, i) for i, c in enumerate(coefficients) if c < 0]
        if not pos:
            pos, neg = [b.fneg(neg[0])], neg[1:]
        acc = pos[0]
        for v in pos[1:]:
            acc = b.fadd(acc, v)
        for v in neg:
            acc = b.fsub(acc, v)
        return acc

    def interleave(self, x, y, lanes):
        """2 * lanes values: x[0], y[0], x[1], y[1], ..., x[lanes - 1], y[lanes - 1]."""
        return self._shuffle(x, y, [lane for j in range(lanes) for lane in (j, self.width + j)])


def array_data(context, builder, signature, args, i):
    """The data pointer of array argument ``i`` of an intrinsic's codegen."""
    return context.make_array(signature.args[i])(context, builder, args[i]).data

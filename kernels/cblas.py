"""NumPy's bundled OpenBLAS gemm, called from inside kernels by its address (the dense layers' BLAS).

Why not only Numba's ``np.dot``: it calls the OpenBLAS that SciPy bundles (0.3.30 in SciPy 1.17.1),
while NumPy's wheel bundles its own (0.3.31, 64-bit integers, symbols ``scipy_cblas_sgemm64_``),
which ran the dense layers' products faster on one thread. Measured on the 2-core Zen 3 dev VM
(AVX2), float32, 2026-12-06, C = A @ B of M x K x N, GFLOP/s NumPy's / SciPy's (``np.matmul`` /
``scipy.linalg.blas.sgemm`` on F-ordered views, ``OPENBLAS_NUM_THREADS=1``): 256x784x256 93 / 87,
128x784x512 90 / 79, 256x512x784 93 / 87, 64x400x120 86 / 66, 32x4096x2048 69 / 49, 1024 cubed
94 / 92. The CBLAS interface also takes a block of a row-major matrix as a pointer and a leading
dimension, so the dense kernels hand BLAS a block of columns of y or dy in place, where ``np.dot``
needed a private block or a transposed copy.

How: :func:`numpy_openblas` finds the library NumPy loaded and the addresses of its ``?gemm``;
a kernel takes the address as an int64 argument and calls it through :func:`gemm` (an intrinsic
casts it to a function pointer). A ctypes function used as a global would bake its address into
the machine code, which Numba then refuses to cache; as an argument, the cached code holds none.
Where the library is not found (a NumPy built against another BLAS), callers get None and keep
``np.dot``.

Threads: this OpenBLAS has its own pool; the callers run it single-threaded, one call per
fastnet thread (see :mod:`fastnet.kernels.dense`), through ``thread_funcs``.
"""

import ctypes
import functools
import glob
import os
from collections import namedtuple

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ._config import serial_kernel

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112   # CBLAS enum values

NumpyOpenBlas = namedtuple("NumpyOpenBlas", "sgemm dgemm thread_funcs path core")
NumpyOpenBlas.__doc__ = """NumPy's OpenBLAS: the addresses (int) of its cblas_sgemm and cblas_dgemm
(64-bit integer interface), its (set_num_threads, get_num_threads) as ctypes functions, the
library's path, and the name of the kernels it picked for this CPU (``"Haswell"``, ``"SkylakeX"``,
...: OpenBLAS's ``get_corename``; "" where the library does not say)."""


def openblas_paths(package):
    """Paths of the OpenBLAS libraries this process has loaded (Linux: /proc/self/maps), then of
    those a wheel of ``package`` (the numpy or scipy module) bundles in ``<name>.libs`` or
    ``<name>/.dylibs``, without repeats. Callers keep the ones they want."""
    paths = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split(None, 5)[-1].strip()
                if path.startswith("/") and "openblas" in os.path.basename(path).lower():
                    paths.append(path)
    except OSError:
        pass
    package_dir = os.path.dirname(package.__file__)
    for pattern in (os.path.join(package_dir, os.pardir, package.__name__ + ".libs", "*openblas*"),
                    os.path.join(package_dir, ".dylibs", "*openblas*")):
        paths.extend(os.path.normpath(p) for p in glob.glob(pattern))
    return list(dict.fromkeys(paths))


def bundled_with_numpy(path):
    """Whether a library path is in a NumPy wheel's own library folder."""
    return "numpy.libs" in path or os.path.join("numpy", ".dylibs") in path


@functools.cache
def numpy_openblas():
    """The :class:`NumpyOpenBlas` of the OpenBLAS bundled with NumPy, or None when there is none
    with the 64-bit-integer CBLAS symbols this module calls (``scipy_cblas_sgemm64_``, ...)."""
    for path in filter(bundled_with_numpy, openblas_paths(np)):
        try:
            lib = ctypes.CDLL(path)   # already loaded by NumPy: the same instance
        except OSError:
            continue
        names = ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_",
                 "scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_")
        funcs = [getattr(lib, name, None) for name in names]
        if any(f is None for f in funcs):
            continue
        sgemm, dgemm, setter, getter = funcs
        setter.argtypes, setter.restype = [ctypes.c_int], None
        getter.argtypes, getter.restype = [], ctypes.c_int
        address = [ctypes.cast(f, ctypes.c_void_p).value for f in (sgemm, dgemm)]
        corename = getattr(lib, "scipy_openblas_get_corename64_", None)
        core = ""
        if corename is not None:
            corename.argtypes, corename.restype = [], ctypes.c_char_p
            core = (corename() or b"").decode("ascii", "replace").strip()
        return NumpyOpenBlas(address[0], address[1], (setter, getter), path, core)
    return None


@intrinsic
def _call_gemm(typingctx, address, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """cblas_?gemm(RowMajor, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) of
    the function at ``address`` (64-bit integers; alpha/beta float32 for sgemm, float64 for
    dgemm; a, b, c: data addresses)."""
    sig = types.void(address, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        real = context.get_value_type(signature.args[6])
        data = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, real, data, i64, data, i64,
                                               real, data, i64])

        def cast(i, to):
            return context.cast(builder, args[i], signature.args[i], to)

        def pointer(i):
            return builder.inttoptr(cast(i, types.int64), data)

        fn = builder.inttoptr(cast(0, types.int64), fnty.as_pointer())
        builder.call(fn, [ir.Constant(i32, ROW_MAJOR), cast(1, types.int32), cast(2, types.int32),
                          cast(3, types.int64), cast(4, types.int64), cast(5, types.int64), args[6],
                          pointer(7), cast(8, types.int64), pointer(9), cast(10, types.int64), args[11],
                          pointer(12), cast(13, types.int64)])
        return context.get_dummy_value()

    return sig, codegen


@serial_kernel
def gemm(address, a, trans_a, b, trans_b, c, accumulate):
    """c = op(a) @ op(b), or with ``accumulate`` c += op(a) @ op(b) (gemm's beta = 1), by the gemm
    at ``address`` (sgemm for float32, dgemm for float64), where op transposes when trans_* is
    True. a, b, c: 2-D row-major blocks (unit stride along the last axis, any row stride: a block
    of columns of a C-contiguous matrix is fine), one dtype; c has shape (m, n), op(a) (m, k) and
    op(b) (k, n). Nothing is called when c is empty.

    ``accumulate`` also saves a pass: with beta = 0 OpenBLAS first zeroes c, so a bias is better
    written into c first and accumulated onto than added after."""
    m, n = c.shape
    if m == 0 or n == 0:
        return
    k = a.shape[0] if trans_a else a.shape[1]
    size = c.itemsize
    one = c.dtype.type(1)
    beta = c.dtype.type(1 if accumulate else 0)
    # a leading dimension must be >= 1 and >= the row length, also for a block of one row
    lda = max(a.strides[0] // size, a.shape[1], 1)
    ldb = max(b.strides[0] // size, b.shape[1], 1)
    ldc = max(c.strides[0] // size, n, 1)
    _call_gemm(address, TRANS if trans_a else NO_TRANS, TRANS if trans_b else NO_TRANS, m, n, k, one,
               a.ctypes.data, lda, b.ctypes.data, ldb, beta, c.ctypes.data, ldc)

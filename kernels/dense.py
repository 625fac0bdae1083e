"""Dense (fully connected) layer kernels: ``y = x @ w.T + b`` and its gradients.

The matrix products go to BLAS: NumPy's bundled OpenBLAS, called by address through its CBLAS
gemm (:mod:`fastnet.kernels.cblas`), which takes blocks of row-major matrices in place (pointer
and leading dimension) and ran these products faster than the OpenBLAS SciPy bundles; where
it is not found, Numba's ``np.dot`` (SciPy's sgemm/dgemm; ``w.T`` of a C-contiguous ``w`` is an
F-contiguous view, handed to BLAS as a transposed operand, no copy), in the ``*_dot`` kernels. A
batch of a few rows, where the product is memory-bound, takes the skinny kernels instead (w read
once, one dot or axpy per w row and batch row).

Threads: one pool, fastnet's. BLAS is called single-threaded from inside ``prange``, each
iteration computing a block of the output (products of up to SERIAL_MACS multiply-adds: one
block, on the calling thread); the forward's bias is written into its block for
the gemm to accumulate onto (beta = 1), and ``db`` (backward) summed in the iteration that
computes the matching rows of dw. The forward's blocks split whichever of N and
out_features is larger (columns where out_features >= N): OpenBLAS's single-threaded sgemm ran a
half of the 256x784 -> 512 layer at 79.5 GFLOP/s as 128 rows x 512 columns and at 86.5 as 256 x
256 (SciPy's, Zen 3, AVX2, float32, 2026-12-06). With ``np.dot`` a block of columns is computed
into a private (N, block) array and copied into place with the bias (a pass the row blocks make
anyway, for the bias); the CBLAS call writes it in place. Forward ms with ``np.dot``, 2 threads,
the same machine, row blocks / column blocks / PyTorch 2.13:
256x784 -> 512 1.316 / 1.214 / 1.203; 128x784 -> 256 0.403 / 0.342 / 0.324; 64x400 -> 120
0.075 / 0.059 / 0.050; 32x4096 -> 4096 20.1 / 11.7 / 13.5 (16 rows a block); 512x784 -> 512
2.42 / 2.36 / 2.32; but 2048x256 -> 256 1.55 / 1.69 / 1.47, and 1024 cubed the same both ways
(12.2 / 12.1 / 12.0). Where OpenBLAS runs its SkylakeX kernels (AVX-512 CPUs), a column block
is computed from a transposed copy of its rows of w (TRANSPOSED_W_CORES). Letting OpenBLAS start
its own threads next to
Numba's does not work on a small machine: both pools spin-wait after a parallel region, and on 2
cores the dense forward of a 256x784 -> 512 layer measured 36 GFLOP/s with OpenBLAS on 2 threads
against 180 GFLOP/s with two single-threaded sgemm calls on Numba's threads. So the Python
wrappers :func:`dense_forward` / :func:`dense_backward` set the OpenBLAS they call to one thread
for the duration of the call (NumPy's through the symbols :mod:`.cblas` finds; SciPy's found
among the loaded shared objects and driven through its ``*_set_num_threads`` symbol; then
restored), so ``fastnet.set_num_threads(n)`` means n threads in all. If neither can be found
(another BLAS), the kernels run with a single block: one BLAS call per product with the BLAS's
own threading, as before.

Determinism: the blocks depend only on the shapes and fastnet's thread count, and each output
element is written by one iteration, so results are bitwise reproducible for a given thread
count. ``db`` is summed over rows in a fixed order (row 0 first), whatever the blocks, so it is
bitwise identical for every thread count.

Shapes: x (N, in_features), w (out_features, in_features), b (out_features,) or (0,) for "no
bias", y/dy (N, out_features). All C-contiguous, one dtype (float32 or float64).
"""

import ctypes
import os
import threading

import numba
import numpy as np
from numba import prange

from ._config import parallel_kernel, serial_kernel
from .cblas import bundled_with_numpy, gemm, numpy_openblas, openblas_paths
from .transpose import transpose_block

_MIN_BLOCK = 16      # fewer rows (or columns) per sgemm call than this costs more in packing than it gains
# Few rows (AlexNet's 9216 -> 4096 at batch 4): BLAS packs w for a product it then streams once,
# and single-threaded, since one block of rows is all there is. The skinny kernels stream w once,
# by blocks of output features. Measured on the Zen 4 dev box, float32, 2 threads, 2026-12-05,
# skinny / sgemm ms, forward | backward: 4 x 9216 -> 4096 8.4 / 32.4 | 24.2 / 36.7; 8 x 4096 ->
# 4096 5.8 / 15.8 | 15.6 / 17.0; 2 x 4096 -> 1000 0.30 / 3.32 | 1.11 / 2.27; 8 x 1024 -> 1024
# 0.28 / 0.94 | 0.77 / 0.53; 12 x 2048 -> 2048 1.73 / 4.07 | 4.28 / 3.42. The backward (N passes
# over each w row for dx) pays only where w is too large for the caches and N small.
SKINNY_ROWS = 16      # forward: batches of fewer rows take the skinny kernel
SKINNY_BACKWARD_ROWS = 8          # backward: at most this many rows ...
SKINNY_BACKWARD_BYTES = 8 * 2**20   # ... and w at least this large
SKINNY_BLOCKS = 16    # blocks of output features (at most; fixed by the shapes, not the threads)
# The forward's operand w.T: with the kernels OpenBLAS picks on AVX-512 CPUs (SkylakeX, Zen 4
# included) its sgemm ran x @ w.T slower than x @ w_t with w_t = w.T copied beforehand: C = A @ B
# of M x K -> N, GFLOP/s on one thread with B transposed / not (``np.matmul``, float32, Zen 4,
# 2026-12-07): 256x784 -> 256 97 / 103, 128x784 -> 256 89 / 101, 64x400 -> 120 74 / 93, 64x120
# -> 84 69 / 102, 64x1024 -> 512 72 / 90, 1024x256 -> 256 102 / 105 (its Haswell kernels, on
# the same CPU with OPENBLAS_CORETYPE=Haswell: 105-110 either way, and no faster with the copy).
# So each column block of the forward first copies its rows of w transposed (a W x W register
# tile at a time), where w is small enough for the copy to come from the caches: the whole
# forward, two threads, ms now / before: 256x784 -> 512 1.04 / 1.10, 128x784 -> 256 0.305 /
# 0.358, 64x400 -> 120 0.057 / 0.063, 64x120 -> 84 0.022 / 0.027, 64x1024 -> 1024 (4 MB) 0.86
# / 0.97; but 64x2048 -> 2048 (16 MB) 4.3 / 3.8 and 256x4096 -> 4096 69 / 47: the copy then
# streams from memory. float64 gained nothing (256x784 -> 512 2.11 / 2.06). Extra memory: one
# transposed copy of w.
TRANSPOSED_W_CORES = ("SkylakeX",)
TRANSPOSED_W_MAX_BYTES = 4 * 2**20
# Products of at most this many multiply-adds (N x in x out) run on the calling thread, in one
# block, with no parallel region: its fork and join cost more than a second thread saves. Two
# Zen 4 threads, float32, 2026-12-07, the dispatchers' us with two blocks / one, forward |
# backward | backward without dx: 64x64 -> 10 6.2 / 5.4 | 6.7 / 5.3 | 6.8 / 4.3; 64x64 -> 64
# 9.1 / 9.5 | 10.4 / 13.0 | 8.5 / 8.3; 64x120 -> 84 14.5 / 17.5 | 17.7 / 27.6 | 12.6 / 15.8.
SERIAL_MACS = 1 << 17


@serial_kernel
def _block_bounds(blk, n_blocks, n_rows, n_out, by_columns):
    """(r0, r1, c0, c1): the rows and columns of an (n_rows, n_out) matrix in block ``blk`` (int64:
    a prange index is uint64 in the gufunc, a second signature) of ``n_blocks`` near-equal blocks
    of its columns (``by_columns``) or of its rows."""
    n_items = n_out if by_columns else n_rows
    start = blk * n_items // n_blocks
    stop = (blk + 1) * n_items // n_blocks
    if by_columns:
        return 0, n_rows, start, stop
    return start, stop, 0, n_out


@serial_kernel
def _fill_bias(out, r0, r1, c0, c1, b):
    """out[r0:r1, c0:c1] = b[c0:c1] in every row."""
    bias = b[c0:c1]
    for i in range(r0, r1):
        row = out[i, c0:c1]   # a slice, indexed from 0: Numba adds no wraparound test, so
        for j in range(c1 - c0):   # LLVM vectorises the copy
            row[j] = bias[j]


@serial_kernel
def _forward_block(x, w, b, out, blk, n_blocks, by_columns, address):
    """Block ``blk`` of :func:`_dense_forward`."""
    r0, r1, c0, c1 = _block_bounds(blk, n_blocks, x.shape[0], w.shape[0], by_columns)
    has_bias = b.shape[0] > 0
    if has_bias:
        _fill_bias(out, r0, r1, c0, c1, b)
    gemm(address, x[r0:r1], False, w[c0:c1], True, out[r0:r1, c0:c1], has_bias)


@parallel_kernel
def _dense_forward(x, w, b, out, n_blocks, by_columns, address):
    """out = x @ w.T (+ b when b.shape[0] > 0), in n_blocks blocks, one per iteration: blocks of
    rows of out, or (``by_columns``) of its columns, each written in place by NumPy's OpenBLAS
    gemm at ``address`` (:mod:`fastnet.kernels.cblas`). A bias is written into the block first
    and the product accumulated onto it (gemm's beta = 1, as PyTorch's addmm): OpenBLAS then
    skips its pass zeroing the block, and no pass adds the bias after. 1-2.5% faster on the bench's
    256x784 -> 512 and 1024-cubed layers (2 threads, Zen 3, float32, 2026-12-06). One block: on
    the calling thread, with no parallel region (SERIAL_MACS)."""
    if n_blocks == 1:
        _forward_block(x, w, b, out, np.int64(0), n_blocks, by_columns, address)
    else:
        for blk in prange(n_blocks):
            _forward_block(x, w, b, out, np.int64(blk), n_blocks, by_columns, address)


@serial_kernel
def _forward_block_transposed(x, w, b, out, blk, n_blocks, address):
    """Block ``blk`` of :func:`_dense_forward_transposed`."""
    _, _, c0, c1 = _block_bounds(blk, n_blocks, x.shape[0], w.shape[0], True)
    w_t = np.empty((w.shape[1], c1 - c0), dtype=w.dtype)
    transpose_block(w[c0:c1], w_t)
    has_bias = b.shape[0] > 0
    if has_bias:
        _fill_bias(out, 0, x.shape[0], c0, c1, b)
    gemm(address, x, False, w_t, False, out[:, c0:c1], has_bias)


@parallel_kernel
def _dense_forward_transposed(x, w, b, out, n_blocks, address):
    """:func:`_dense_forward` by blocks of columns (one block: all of them, on the calling
    thread), each from a private copy of its rows of w transposed, (in_features, block)
    (:func:`~.transpose.transpose_block`), which gemm takes untransposed: see
    TRANSPOSED_W_CORES. Where out_features >= N (the column split's shapes), on any thread count."""
    if n_blocks == 1:
        _forward_block_transposed(x, w, b, out, np.int64(0), n_blocks, address)
    else:
        for blk in prange(n_blocks):
            _forward_block_transposed(x, w, b, out, np.int64(blk), n_blocks, address)


@parallel_kernel
def _dense_forward_dot(x, w, b, out, n_blocks, by_columns):
    """:func:`_dense_forward` by Numba's ``np.dot`` (SciPy's BLAS), where NumPy's OpenBLAS is not
    found: a block of columns (``out[:, block]`` is not contiguous, which ``np.dot`` needs) is
    computed into a private (N, block) array and copied into place with the bias."""
    for blk in prange(n_blocks):
        r0, r1, c0, c1 = _block_bounds(np.int64(blk), n_blocks, x.shape[0], w.shape[0], by_columns)
        if by_columns:
            block = np.empty((r1 - r0, c1 - c0), dtype=out.dtype)
        else:
            block = out[r0:r1]
        np.dot(x[r0:r1], w[c0:c1].T, block)   # w's rows c0..c1: an F-contiguous view, no copy
        if b.shape[0] > 0 or by_columns:
            for i in range(r1 - r0):
                src = block[i]
                dst = out[r0 + i]
                for j in range(c1 - c0):
                    dst[c0 + j] = src[j] + b[c0 + j] if b.shape[0] > 0 else src[j]


@serial_kernel
def _backward_task(task, n_blocks_x, n_blocks_w, shape):
    """(r0, r1, c0, c1, of_dw) of backward task ``task`` (int64) over dy of ``shape``: tasks
    [0, n_blocks_x) are blocks of rows of dy (of dx), the next n_blocks_w blocks of its columns
    (of dw and db, ``of_dw``)."""
    of_dw = task >= n_blocks_x
    if of_dw:
        r0, r1, c0, c1 = _block_bounds(task - n_blocks_x, n_blocks_w, shape[0], shape[1], of_dw)
    else:
        r0, r1, c0, c1 = _block_bounds(task, n_blocks_x, shape[0], shape[1], of_dw)
    return r0, r1, c0, c1, of_dw


@serial_kernel
def _column_sums(dy, start, stop, db):
    """db[:] = dy[:, start:stop].sum(0), rows added in order (row 0 first) whatever the blocks."""
    db[:] = 0
    for i in range(dy.shape[0]):
        row = dy[i, start:stop]
        for j in range(stop - start):
            db[j] += row[j]


@serial_kernel
def _backward_block(x, w, dy, dx, dw, db, task, n_blocks_x, n_blocks_w, address):
    """Task ``task`` of :func:`_dense_backward`."""
    r0, r1, c0, c1, of_dw = _backward_task(task, n_blocks_x, n_blocks_w, dy.shape)
    if not of_dw:
        gemm(address, dy[r0:r1], False, w, False, dx[r0:r1], False)
    else:
        _column_sums(dy, c0, c1, db[c0:c1])
        gemm(address, dy[:, c0:c1], True, x, False, dw[c0:c1], False)


@parallel_kernel
def _dense_backward(x, w, dy, dx, dw, db, n_blocks_x, n_blocks_w, address, serial):
    """dx = dy @ w (N, in), dw = dy.T @ x (out, in), db = dy.sum(0) (out,), all preallocated.

    Iterations [0, n_blocks_x) each compute a block of rows of dx; the next n_blocks_w each
    compute a block of rows of dw (= a block of columns of dy, which NumPy's OpenBLAS gemm at
    ``address`` reads in place, transposed) and the matching entries of db, summed over rows in
    order. ``serial``: the tasks one after the other on the calling thread, with no parallel
    region (SERIAL_MACS).
    """
    if serial:
        for task in range(n_blocks_x + n_blocks_w):
            _backward_block(x, w, dy, dx, dw, db, np.int64(task), n_blocks_x, n_blocks_w, address)
    else:
        for task in prange(n_blocks_x + n_blocks_w):
            _backward_block(x, w, dy, dx, dw, db, np.int64(task), n_blocks_x, n_blocks_w, address)


@parallel_kernel
def _dense_backward_dot(x, w, dy, dx, dw, db, n_blocks_x, n_blocks_w):
    """:func:`_dense_backward` by Numba's ``np.dot``, where NumPy's OpenBLAS is not found: a block
    of columns of dy is copied transposed for it (a single block uses the transposed view)."""
    n_rows = dy.shape[0]
    for task in prange(n_blocks_x + n_blocks_w):
        r0, r1, start, stop, of_dw = _backward_task(np.int64(task), n_blocks_x, n_blocks_w, dy.shape)
        if not of_dw:
            np.dot(dy[r0:r1], w, dx[r0:r1])
        else:
            width = stop - start
            _column_sums(dy, start, stop, db[start:stop])
            if n_blocks_w == 1:
                np.dot(dy.T, x, dw)   # the F-contiguous view: BLAS transposes, no copy
            else:
                # a block of columns of dy is not contiguous: copy it transposed
                dy_t = np.empty((width, n_rows), dtype=dy.dtype)
                transpose_block(dy[:, start:stop], dy_t)
                np.dot(dy_t, x, dw[start:stop])


# --- few rows: memory-bound, w streamed once ---------------------------------------------------

@parallel_kernel
def _dense_forward_skinny(x, w, b, out, n_blocks):
    """out = x @ w.T (+ b when b.shape[0] > 0) for a few rows of x, in n_blocks blocks of output
    features: each w row is read once, from memory, for all rows of x (in L2), one dot each."""
    n_rows, n_in = x.shape
    n_out = w.shape[0]
    zero = np.zeros(1, dtype=x.dtype)[0]
    for blk in prange(n_blocks):
        for o in range(blk * n_out // n_blocks, (blk + 1) * n_out // n_blocks):
            wrow = w[o]
            for r in range(n_rows):
                xrow = x[r]
                acc = zero
                for i in range(n_in):
                    acc += xrow[i] * wrow[i]
                out[r, o] = acc + b[o] if b.shape[0] > 0 else acc


@parallel_kernel
def _dense_backward_skinny(x, w, dy, dx, dw, db, n_blocks):
    """dx = dy @ w, dw = dy.T @ x, db = dy.sum(0) for a few rows, in n_blocks blocks of output
    features (one pass over w and dw per block: dw's rows written, w's rows added into the
    block's private dx), then dx = the blocks' partial sums in block order (a second region)."""
    n_rows, n_in = x.shape
    n_out = w.shape[0]
    parts = np.empty((n_blocks, n_rows, n_in), dtype=dx.dtype)
    zero = np.zeros(1, dtype=dx.dtype)[0]
    for blk in prange(n_blocks):
        part = parts[blk]
        for r in range(n_rows):
            prow = part[r]
            for i in range(n_in):
                prow[i] = zero
        for o in range(blk * n_out // n_blocks, (blk + 1) * n_out // n_blocks):
            wrow = w[o]
            dwrow = dw[o]
            g = dy[0, o]
            xrow = x[0]
            for i in range(n_in):
                dwrow[i] = g * xrow[i]
            total = g
            for r in range(1, n_rows):
                g = dy[r, o]
                xrow = x[r]
                for i in range(n_in):
                    dwrow[i] += g * xrow[i]
                total += g
            db[o] = total   # summed over rows in order, row 0 first
            for r in range(n_rows):
                g = dy[r, o]
                prow = part[r]
                for i in range(n_in):
                    prow[i] += g * wrow[i]
    chunk = 1024
    for c in prange((n_in + chunk - 1) // chunk):
        i0 = c * chunk
        i1 = min(n_in, i0 + chunk)
        for r in range(n_rows):
            dst = dx[r]
            first = parts[0, r]
            for i in range(i0, i1):
                dst[i] = first[i]
            for blk in range(1, n_blocks):
                src = parts[blk, r]
                for i in range(i0, i1):
                    dst[i] += src[i]


def _skinny_blocks(n_out):
    return max(1, min(SKINNY_BLOCKS, n_out))


# --- BLAS thread control -----------------------------------------------------------------------

_blas_lock = threading.Lock()
_blas_funcs = None  # (set, get) of scipy's OpenBLAS, or () when it cannot be found


def _find_scipy_openblas():
    """(set_num_threads, get_num_threads) of the OpenBLAS that scipy.linalg.cython_blas (what
    Numba's np.dot calls) is linked to, or () when there is none (another BLAS, or not found)."""
    try:
        import scipy
        import scipy.linalg.cython_blas  # noqa: F401  (loads the library if not yet loaded)
    except ImportError:
        return ()
    # numpy bundles its own OpenBLAS (ILP64, "64_" symbols), which Numba's np.dot does not use
    paths = [p for p in openblas_paths(scipy) if not bundled_with_numpy(p)]
    paths.sort(key=lambda p: "scipy" not in p)  # scipy's bundled copy first
    for path in paths:
        try:
            lib = ctypes.CDLL(path)  # already loaded: the same instance
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            setter = getattr(lib, prefix + "_set_num_threads", None)
            getter = getattr(lib, prefix + "_get_num_threads", None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                return setter, getter
    return ()


def _blas_funcs_once():
    global _blas_funcs
    if _blas_funcs is None:
        with _blas_lock:
            if _blas_funcs is None:
                _blas_funcs = _find_scipy_openblas()
    return _blas_funcs


class _SerialBlas:
    """Context manager: an OpenBLAS (``funcs``: its set/get_num_threads) on one thread inside,
    its previous setting restored."""

    def __init__(self, funcs):
        self.funcs = funcs
        self.before = None

    def __enter__(self):
        setter, getter = self.funcs
        self.before = getter()
        if self.before != 1:
            setter(1)
        return self

    def __exit__(self, *exc):
        if self.before != 1:
            self.funcs[0](self.before)
        return False


def _n_blocks(n_items, n_threads):
    return max(1, min(n_threads, n_items // _MIN_BLOCK))


def _blas(dtype):
    """(gemm address, thread funcs): NumPy's OpenBLAS (:mod:`.cblas`) where found, else (0,
    the thread funcs of SciPy's OpenBLAS, which Numba's ``np.dot`` calls, or ())."""
    found = numpy_openblas()
    if found is not None:
        return (found.sgemm if dtype == np.float32 else found.dgemm), found.thread_funcs
    return 0, _blas_funcs_once()


def blas_description():
    """A line for ``fastnet.info()``: which BLAS the dense kernels call."""
    found = numpy_openblas()
    if found is not None:
        kernels = f", its {found.core} kernels" if found.core else ""
        return f"NumPy's OpenBLAS{kernels}, CBLAS by address ({os.path.basename(found.path)})"
    if _blas_funcs_once():
        return "SciPy's OpenBLAS through Numba's np.dot"
    return "SciPy's BLAS through Numba's np.dot, on its own threads (one call per product)"


def dense_forward(x, w, b, out):
    """out = x @ w.T (+ b when b.shape[0] > 0). out: (N, out_features), preallocated. Fewer than
    SKINNY_ROWS rows: :func:`_dense_forward_skinny` (no BLAS). Otherwise one single-threaded
    gemm per thread, on blocks of whichever of N and out_features is larger (columns where
    out_features >= N; see the module docstring), from a transposed copy of w where
    :func:`_transposes_w` says so. Extra memory: none with NumPy's OpenBLAS, or that copy of w
    (at most TRANSPOSED_W_MAX_BYTES); with ``np.dot`` and column blocks, the private blocks, N x
    out_features values in all."""
    if x.shape[0] < SKINNY_ROWS:
        _dense_forward_skinny(x, w, b, out, _skinny_blocks(w.shape[0]))
        return
    address, funcs = _blas(x.dtype)
    if not funcs:   # a BLAS that cannot be made single-threaded: one call, on its own threads
        _dense_forward_dot(x, w, b, out, 1, False)
        return
    by_columns = w.shape[0] >= x.shape[0]
    blocks = 1   # small: on the calling thread (numba.get_num_threads alone takes 0.7 us)
    if x.shape[0] * x.shape[1] * w.shape[0] > SERIAL_MACS:
        blocks = _n_blocks(w.shape[0] if by_columns else x.shape[0], numba.get_num_threads())
    transposed = address and _transposes_w(x, w)
    by_columns = by_columns and blocks > 1   # one block: the whole of out, in place
    with _SerialBlas(funcs):
        if transposed:
            _dense_forward_transposed(x, w, b, out, blocks, address)
        elif address:
            _dense_forward(x, w, b, out, blocks, by_columns, address)
        else:
            _dense_forward_dot(x, w, b, out, blocks, by_columns)


def _transposes_w(x, w):
    """Whether the forward of x on w takes a transposed copy of w (:func:`_dense_forward_transposed`):
    SKINNY_ROWS rows or more, at least as many output features as rows (the column split's
    shapes), float32, NumPy's OpenBLAS running kernels of TRANSPOSED_W_CORES, w of at most
    TRANSPOSED_W_MAX_BYTES. By shape only, not the thread count, so that a kernel compiled (and
    cached) for one thread count serves every other."""
    found = numpy_openblas()
    return (SKINNY_ROWS <= x.shape[0] <= w.shape[0] and w.dtype == np.float32 and found is not None
            and found.core in TRANSPOSED_W_CORES and w.nbytes <= TRANSPOSED_W_MAX_BYTES)


def dense_backward(x, w, dy, dx, dw, db):
    """dx = dy @ w (N, in), dw = dy.T @ x (out, in), db = dy.sum(0) (out,), all preallocated;
    dx None: dw and db only (a network's first layer, whose input needs no gradient).

    dx and dw cost the same number of flops: with T threads each gets about T/2 row blocks
    (without dx, dw gets all T). At most SKINNY_BACKWARD_ROWS rows and w of
    SKINNY_BACKWARD_BYTES or more: :func:`_dense_backward_skinny` (no BLAS; it computes dx
    with dw, w row by row, so without dx it writes a scratch one: extra memory N x in values).
    """
    if x.shape[0] <= SKINNY_BACKWARD_ROWS and w.nbytes >= SKINNY_BACKWARD_BYTES:
        _dense_backward_skinny(x, w, dy, np.empty_like(x) if dx is None else dx, dw, db,
                               _skinny_blocks(w.shape[0]))
        return
    address, funcs = _blas(x.dtype)
    serial = x.shape[0] * x.shape[1] * w.shape[0] <= SERIAL_MACS
    threads = 1 if serial or not funcs else numba.get_num_threads()
    if dx is None:   # no dx tasks; an empty array of dx's type keeps the kernels' one signature
        dx = np.empty((0, x.shape[1]), dtype=x.dtype)
        blocks_x, blocks_w = 0, _n_blocks(dy.shape[1], threads)
    else:
        half = (threads + 1) // 2
        blocks_x, blocks_w = _n_blocks(dy.shape[0], half), _n_blocks(dy.shape[1], half)
    if not funcs:   # a BLAS that cannot be made single-threaded: one call per product
        _dense_backward_dot(x, w, dy, dx, dw, db, blocks_x, blocks_w)   # one block each (one thread)
        return
    with _SerialBlas(funcs):
        if address:
            _dense_backward(x, w, dy, dx, dw, db, blocks_x, blocks_w, address, serial)
        else:
            _dense_backward_dot(x, w, dy, dx, dw, db, blocks_x, blocks_w)

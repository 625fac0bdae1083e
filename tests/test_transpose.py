"""The in-register tile transpose (kernels/transpose.py): NumPy reference for both dtypes, any
source stride and destination rows, on the host's vector width and on AVX2's."""

import os
import subprocess
import sys

import numpy as np
import pytest
from numba import njit

from fastnet.kernels import _config
from fastnet.kernels.microkernel import vector_lanes
from fastnet.kernels.transpose import transpose_block, transpose_rows, transpose_tile
from helpers import DTYPES, rng


@njit
def _call(src, stride, dst, rows):
    transpose_tile(src, stride, dst, rows)
    return vector_lanes(src)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride_extra", [0, 3, 17])
def test_transpose_tile_matches_numpy(dtype, stride_extra):
    width = vector_lanes(np.empty(0, dtype))
    assert width == _config.vector_bytes() // np.dtype(dtype).itemsize
    stride = width + stride_extra
    g = rng(3)
    src = g.standard_normal(width * stride + 5).astype(dtype)
    src[7] = np.nan
    # destination rows in any order, any distance apart (not a multiple of the width)
    rows = (g.permutation(width) * (width + 5) + 2).astype(np.int64)
    dst = np.full(width * (width + 5) + 2 + width, 9.0, dtype)
    assert _call(src[1:], stride, dst, rows) == width
    block = src[1:1 + width * stride].reshape(width, stride)[:, :width]
    expected = np.full_like(dst, 9.0)
    for c in range(width):
        expected[rows[c]:rows[c] + width] = block[:, c]
    np.testing.assert_array_equal(dst, expected)   # every value moved, NaN included, nothing else



@njit
def _call_rows(src, stride, n_rows, dst, rows):
    transpose_rows(src, stride, n_rows, dst, rows)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fraction", [0.0, 0.4, 1.0])
def test_transpose_rows_matches_numpy(dtype, fraction):
    """Fewer source rows than W: the rows past them come out as zeros (the source array ends
    right after its last row)."""
    width = vector_lanes(np.empty(0, dtype))
    n_rows = max(1, min(width, round(fraction * width)))
    stride = width + 3
    g = rng(4)
    src = g.standard_normal((n_rows - 1) * stride + width).astype(dtype)
    src[2] = np.nan
    rows = (g.permutation(width) * (width + 1)).astype(np.int64)
    dst = np.full(width * (width + 1), 9.0, dtype)
    _call_rows(src, stride, n_rows, dst, rows)
    block = np.zeros((width, width), dtype)
    for r in range(n_rows):
        block[r] = src[r * stride:r * stride + width]
    expected = np.full_like(dst, 9.0)
    for c in range(width):
        expected[rows[c]:rows[c] + width] = block[:, c]
    np.testing.assert_array_equal(dst, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lanes_m, extra_m, lanes_n, extra_n", [
    (0, 3, 0, 5),     # both below W: value by value
    (0, 5, 2, 0),     # rows below W
    (1, 0, 1, 0),     # one tile
    (2, 0, 3, 0),     # whole tiles
    (2, 3, 4, 5),     # the last tile of each band and row overlaps the one before
    (7, 1, 1, 1),
], ids=str)
def test_transpose_block_matches_numpy(dtype, lanes_m, extra_m, lanes_n, extra_n):
    """at = a.T for (m, n) blocks of any size, a a block of columns of a wider matrix and at a
    block of rows and columns of another (row strides other than the row lengths); the values
    around at are left alone, NaN moved like any value."""
    width = vector_lanes(np.empty(0, dtype))
    m, n = lanes_m * width + extra_m, lanes_n * width + extra_n
    g = rng(5)
    big = g.standard_normal((m, n + 7)).astype(dtype)
    big[m // 2, n // 3] = np.nan
    a = big[:, 3:3 + n]
    out = np.full((n + 2, m + 9), 9.0, dtype)
    transpose_block(a, out[1:1 + n, 4:4 + m])
    expected = np.full_like(out, 9.0)
    expected[1:1 + n, 4:4 + m] = a.T
    np.testing.assert_array_equal(out, expected)


_PROBE = """
import numpy as np
from numba import njit
from fastnet.kernels.microkernel import vector_lanes
from fastnet.kernels.transpose import transpose_tile

@njit
def f(src, stride, dst, rows):
    transpose_tile(src, stride, dst, rows)

ok = True
for dtype in (np.float32, np.float64):
    w = vector_lanes(np.empty(0, dtype))
    src = np.arange(w * (w + 1), dtype=dtype)
    dst = np.zeros(w * w, dtype)
    f(src, w + 1, dst, np.arange(w, dtype=np.int64) * w)
    ok &= bool(np.array_equal(dst.reshape(w, w), src.reshape(w, w + 1)[:, :w].T))
print(vector_lanes(np.empty(0, np.float32)), ok)
"""


def test_transpose_tile_on_avx2_code():
    """The same transpose compiled for AVX2 (8 float32 lanes: three shuffle stages instead of
    four), in a subprocess with the AVX2 recipe; on an AVX2 host this is the host's width."""
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", FASTNET_CACHE="0",
               NUMBA_CPU_NAME="znver3", NUMBA_CPU_FEATURES="")
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["8", "True"]

"""NumPy's OpenBLAS gemm called by address from a kernel (fastnet.kernels.cblas): every
transpose combination on blocks of larger matrices, written in place and nowhere else, against
a float64 product."""

import glob
import os

import numpy as np
import pytest
from numba import njit

from fastnet.kernels import cblas
from helpers import DTYPES, assert_close, rng


@njit
def _gemm(address, a, trans_a, b, trans_b, c, accumulate=False):
    cblas.gemm(address, a, trans_a, b, trans_b, c, accumulate)


def _found():
    found = cblas.numpy_openblas()
    if found is None:
        pytest.skip("NumPy has no bundled OpenBLAS with 64-bit CBLAS symbols (another BLAS)")
    return found


def test_numpy_wheel_openblas_is_found():
    bundled = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas64_*"))
    if not bundled:
        pytest.skip("this NumPy bundles no OpenBLAS (not a PyPI wheel)")
    found = cblas.numpy_openblas()
    assert found is not None and found.sgemm and found.dgemm and "numpy" in found.path
    # the kernels it picked for this CPU (a DYNAMIC_ARCH build names them): what the dense forward
    # keys its transposed copy of w on, and what fastnet.info() reports
    assert found.core and found.core.isprintable() and found.core != "Unknown", found.core


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("accumulate", [False, True], ids=["write", "accumulate"])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("mkn", [(7, 5, 9), (1, 3, 1), (16, 1, 4), (33, 20, 17)], ids=str)
def test_gemm_on_blocks_in_place(mkn, trans_a, trans_b, accumulate, dtype):
    """c = op(a) @ op(b) (or c += it), each a block (rows and columns) of a larger matrix with its
    own row stride; the cells of c's matrix around the block keep their values."""
    found = _found()
    address = found.sgemm if dtype == np.float32 else found.dgemm
    m, k, n = mkn
    g = rng(5)
    a_shape = (k, m) if trans_a else (m, k)
    b_shape = (n, k) if trans_b else (k, n)
    big_a = g.standard_normal((a_shape[0] + 3, a_shape[1] + 4)).astype(dtype)
    big_b = g.standard_normal((b_shape[0] + 2, b_shape[1] + 5)).astype(dtype)
    a = big_a[1:1 + a_shape[0], 2:2 + a_shape[1]]
    b = big_b[2:2 + b_shape[0], 3:3 + b_shape[1]]
    big_c = np.full((m + 4, n + 6), 7.0, dtype)
    big_c[2:2 + m, 3:3 + n] = g.standard_normal((m, n))
    before = big_c[2:2 + m, 3:3 + n].astype(np.float64)
    _gemm(address, a, trans_a, b, trans_b, big_c[2:2 + m, 3:3 + n], accumulate)
    want = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b).astype(np.float64)
    if accumulate:
        want += before
    assert_close(big_c[2:2 + m, 3:3 + n], want, dtype, scale=4)
    outside = np.ones(big_c.shape, bool)
    outside[2:2 + m, 3:3 + n] = False
    assert (big_c[outside] == 7.0).all()


def test_gemm_empty_output_calls_nothing_and_zero_depth_gives_zeros_or_keeps_c():
    found = _found()
    c = np.full((0, 4), 7.0, np.float32)
    _gemm(found.sgemm, np.ones((0, 3), np.float32), False, np.ones((3, 4), np.float32), False, c)
    c = np.full((2, 3), 7.0, np.float64)
    _gemm(found.dgemm, np.ones((2, 0)), False, np.ones((0, 3)), False, c)
    np.testing.assert_array_equal(c, np.zeros((2, 3)))
    c[:] = 7.0
    _gemm(found.dgemm, np.ones((2, 0)), False, np.ones((0, 3)), False, c, True)   # c += nothing
    np.testing.assert_array_equal(c, np.full((2, 3), 7.0))


def test_gemm_propagates_nan():
    found = _found()
    a = np.ones((3, 4), np.float32)
    a[1, 2] = np.nan
    c = np.empty((3, 2), np.float32)
    _gemm(found.sgemm, a, False, np.ones((4, 2), np.float32), False, c)
    assert np.isnan(c[1]).all() and np.isfinite(c[[0, 2]]).all()

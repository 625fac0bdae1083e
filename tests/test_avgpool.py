"""avgpool2d / global_avgpool2d: loop references, gradcheck, PyTorch (avg_pool2d defaults), bad input."""

import numpy as np
import pytest

import fastnet
from fastnet import ops
from fastnet.reference import naive
from helpers import DTYPES, assert_close, rng

CASES = [
    ((2, 3, 8, 8), 2, None, 0),
    ((1, 2, 7, 9), 3, 2, 1),                  # padding counts in the divisor
    ((2, 1, 5, 6), (2, 3), (1, 2), (1, 1)),   # asymmetric, overlapping
    ((1, 1, 4, 4), 4, None, 0),               # the whole plane
    ((2, 2, 9, 10), 2, 3, 0),                 # stride > window
    ((1, 1, 1, 1), 1, None, 0),
]


def _id(case):
    return "x{}-k{}-s{}-p{}".format(*case).replace(" ", "")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_avgpool2d_matches_reference(case, dtype):
    shape, kernel, stride, padding = case
    x = rng(0).standard_normal(shape).astype(dtype)
    y = ops.avgpool2d(x, kernel, stride, padding)
    assert_close(y, naive.avgpool2d(x, kernel, stride, padding), dtype)
    dy = rng(1).standard_normal(y.shape).astype(dtype)
    assert_close(ops.avgpool2d_backward(x, dy, kernel, stride, padding),
                 naive.avgpool2d_backward(x, dy, kernel, stride, padding), dtype)


# every window path of the kernels (2/2, 3/2, stride 1, other strides; clamped border windows)
# on rows of several vectors and an odd remainder (W = 37), in both directions
WINDOWS = [(k, s, p) for k in (1, 2, 3, 4, 5) for s in (1, 2, 3) for p in range(k // 2 + 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("window", WINDOWS, ids=lambda w: "k{}-s{}-p{}".format(*w))
def test_avgpool2d_window_paths_match_reference(window, dtype):
    kernel, stride, padding = window
    x = rng(8).standard_normal((2, 3, 11, 37)).astype(dtype)
    y = ops.avgpool2d(x, kernel, stride, padding)
    assert_close(y, naive.avgpool2d(x, kernel, stride, padding), dtype)
    dy = rng(9).standard_normal(y.shape).astype(dtype)
    assert_close(ops.avgpool2d_backward(x, dy, kernel, stride, padding),
                 naive.avgpool2d_backward(x, dy, kernel, stride, padding), dtype)


@pytest.mark.parametrize("window", [(3, 2, 1), (2, 3, 0), (3, 1, 1)], ids=str)
def test_avgpool2d_backward_writes_every_cell(window):
    # the wrapper hands the kernel an uninitialised dx: every cell must be written, 0 where no
    # window reaches (stride 3 > window 2 skips columns and rows)
    from fastnet.kernels import avgpool as kernels
    kernel, stride, padding = window
    x = rng(10).standard_normal((2, 2, 10, 19)).astype(np.float32)
    dy = rng(11).standard_normal(ops.avgpool2d(x, kernel, stride, padding).shape).astype(np.float32)
    dx = np.full_like(x, np.nan)
    kernels.avgpool2d_backward(dy, dx, kernel, kernel, stride, stride, padding, padding)
    assert_close(dx, naive.avgpool2d_backward(x, dy, kernel, stride, padding), np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES[:5], ids=_id)
def test_avgpool2d_matches_torch(case, dtype):
    torch = pytest.importorskip("torch")
    shape, kernel, stride, padding = case
    x = rng(2).standard_normal(shape).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.avg_pool2d(tx, kernel, stride, padding)   # count_include_pad=True, floor
    y = ops.avgpool2d(x, kernel, stride, padding)
    assert_close(y, ty.detach().numpy(), dtype)
    dy = rng(3).standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(dy))
    assert_close(ops.avgpool2d_backward(x, dy, kernel, stride, padding), tx.grad.numpy(), dtype)


def test_avgpool2d_gradcheck():
    x = rng(4).standard_normal((2, 2, 5, 6))
    fastnet.gradcheck(lambda x: ops.avgpool2d(x, 3, 2, 1), x,
                      backward=lambda x, dy: ops.avgpool2d_backward(x, dy, 3, 2, 1), atol=1e-8, rtol=1e-7)


def test_avgpool2d_nan_propagates():
    x = np.ones((1, 1, 4, 4))
    x[0, 0, 0, 0] = np.nan
    y = ops.avgpool2d(x, 2)
    assert np.isnan(y[0, 0, 0, 0]) and np.all(y.reshape(-1)[1:] == 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_avgpool2d(dtype):
    x = rng(5).standard_normal((3, 4, 5, 7)).astype(dtype)
    y = ops.global_avgpool2d(x)
    assert_close(y, naive.global_avgpool2d(x), dtype)
    dy = rng(6).standard_normal(y.shape).astype(dtype)
    dx = ops.global_avgpool2d_backward(x, dy)
    assert_close(dx, naive.global_avgpool2d_backward(x, dy), dtype)
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.adaptive_avg_pool2d(tx, 1).reshape(3, 4)
    assert_close(y, ty.detach().numpy(), dtype)
    ty.backward(torch.tensor(dy))
    assert_close(dx, tx.grad.numpy(), dtype)


def test_global_avgpool2d_gradcheck():
    fastnet.gradcheck(ops.global_avgpool2d, rng(7).standard_normal((2, 3, 4, 3)),
                      backward=ops.global_avgpool2d_backward, atol=1e-8, rtol=1e-7)


def test_avgpool_bad_input():
    x = np.zeros((2, 3, 6, 6), np.float32)
    with pytest.raises(ValueError, match="4-D"):
        ops.avgpool2d(x[0], 2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        ops.avgpool2d(x, 7)
    with pytest.raises(ValueError, match="padding"):
        ops.avgpool2d(x, 2, padding=2)
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.avgpool2d(x.astype(np.int64), 2)
    with pytest.raises(ValueError, match="dy: expected shape"):
        ops.avgpool2d_backward(x, np.zeros((2, 3, 2, 2), np.float32), 2)
    with pytest.raises(ValueError, match="4-D"):
        ops.global_avgpool2d(x[0])
    with pytest.raises(ValueError, match="dy: expected shape"):
        ops.global_avgpool2d_backward(x, np.zeros((2, 4), np.float32))

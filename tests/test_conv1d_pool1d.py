"""conv1d and maxpool1d: loop references, the lectures' smoothing example, gradcheck, PyTorch, bad input."""

import numpy as np
import pytest

import fastnet
from fastnet import ops
from fastnet.reference import naive
from helpers import DTYPES, assert_close, conv_scale, rng

# (x shape (N, C, L), w shape (K, C, F), stride, padding)
CONV_CASES = [
    ((2, 3, 10), (4, 3, 3), 1, 0),
    ((1, 1, 12), (1, 1, 7), 1, 0),      # the lectures' 7-tap filter over 12 samples
    ((3, 2, 9), (5, 2, 4), 2, 1),       # stride, padding, odd length
    ((2, 4, 7), (3, 4, 7), 1, 3),       # filter as long as the series, 'same' padding
    ((1, 3, 11), (2, 3, 2), 3, 0),      # stride > filter: samples skipped
    ((2, 1, 5), (6, 1, 1), 1, 0),       # 1-tap filter
]


def _case_id(case):
    return "x{}-w{}-s{}-p{}".format(*case).replace(" ", "")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=_case_id)
def test_conv1d_matches_reference(case, dtype):
    xs, ws, stride, padding = case
    r = rng(0)
    x, w, b = (r.standard_normal(s).astype(dtype) for s in (xs, ws, ws[0]))
    y = ops.conv1d(x, w, b, stride=stride, padding=padding)
    expected = naive.conv1d(x, w, b, stride, padding)
    assert_close(y, expected, dtype, scale=conv_scale(ws))
    dy = r.standard_normal(y.shape).astype(dtype)
    dx, dw, db = ops.conv1d_backward(x, w, dy, stride=stride, padding=padding)
    ref = naive.conv1d_backward(x, w, dy, stride, padding)
    for got, want in zip((dx, dw, db), ref):
        assert_close(got, want, dtype, scale=conv_scale(ws) * 4)
    none_dx, dw2, db2 = ops.conv1d_backward(x, w, dy, stride=stride, padding=padding, input_grad=False)
    assert none_dx is None
    np.testing.assert_array_equal(dw2, dw)
    np.testing.assert_array_equal(db2, db)


def test_conv1d_lectures_smoothing_example():
    """s_t = sum_a x_{t-a} w_{-a} with the slide's weights (w_{-6} ... w_0) and series."""
    w_taps = np.array([0.01, 0.01, 0.02, 0.02, 1.0, 0.4, 0.5])   # w_{-6}, ..., w_{-1}, w_0
    series = np.array([1.00, 1.10, 1.20, 1.40, 1.70, 1.80, 1.90, 2.10, 2.20, 2.40, 2.50, 2.70])
    y = ops.conv1d(series[None, None, :], w_taps[None, None, :])[0, 0]
    formula = [sum(series[t - a] * w_taps[6 - a] for a in range(7)) for t in range(6, 12)]
    assert y.shape == (6,)
    np.testing.assert_allclose(y, formula, rtol=1e-14)


@pytest.mark.parametrize("case", [((2, 3, 9), (2, 3, 3), 2, 1), ((1, 2, 6), (3, 2, 2), 1, 0)], ids=_case_id)
def test_conv1d_gradcheck(case):
    xs, ws, stride, padding = case
    r = rng(1)
    x, w, b = (r.standard_normal(s) for s in (xs, ws, ws[0]))
    compared = fastnet.gradcheck(
        lambda x, w, b: ops.conv1d(x, w, b, stride=stride, padding=padding), (x, w, b),
        backward=lambda x, w, b, dy: ops.conv1d_backward(x, w, dy, stride=stride, padding=padding),
        atol=1e-7, rtol=1e-6)
    assert [c.name for c in compared] == ["input 0", "input 1", "input 2"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(4))
def test_conv1d_matches_torch(seed, dtype):
    torch = pytest.importorskip("torch")
    r = rng(100 + seed)
    n, c, k, f = (int(v) for v in r.integers(1, 5, size=4))
    stride, padding = int(r.integers(1, 4)), int(r.integers(0, 3))
    length = int(r.integers(max(1, f - 2 * padding), 15))
    x, w, b = (r.standard_normal(s).astype(dtype) for s in ((n, c, length), (k, c, f), (k,)))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv1d(tx, tw, tb, stride=stride, padding=padding)
    y = ops.conv1d(x, w, b, stride=stride, padding=padding)
    assert_close(y, ty.detach().numpy(), dtype, scale=conv_scale(w.shape))
    dy = r.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(dy))
    for got, want in zip(ops.conv1d_backward(x, w, dy, stride=stride, padding=padding), (tx, tw, tb)):
        assert_close(got, want.grad.numpy(), dtype, scale=conv_scale(w.shape) * 4)


def test_conv1d_bad_input():
    x = np.zeros((2, 3, 8), np.float32)
    w = np.zeros((4, 3, 3), np.float32)
    with pytest.raises(ValueError, match="x: expected a 3-D"):
        ops.conv1d(x[0], w)
    with pytest.raises(ValueError, match="input channels"):
        ops.conv1d(x, np.zeros((4, 2, 3), np.float32))
    with pytest.raises(ValueError, match="larger than the padded input"):
        ops.conv1d(x, np.zeros((4, 3, 11), np.float32), padding=1)
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.conv1d(x.astype(np.int64), w)
    with pytest.raises(TypeError, match="does not match"):
        ops.conv1d(x, w.astype(np.float64))
    with pytest.raises(ValueError, match="b: expected shape"):
        ops.conv1d(x, w, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="stride"):
        ops.conv1d(x, w, stride=0)
    with pytest.raises(ValueError, match="dy: expected shape"):
        ops.conv1d_backward(x, w, np.zeros((2, 4, 5), np.float32))


POOL_CASES = [((2, 3, 8), 2, None, 0), ((1, 2, 9), 3, 2, 1), ((2, 1, 7), 3, 1, 1), ((1, 1, 5), 5, None, 0),
              ((3, 2, 10), 2, 3, 0), ((1, 1, 1), 1, None, 0)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: "x{}-k{}-s{}-p{}".format(*c).replace(" ", ""))
def test_maxpool1d_matches_reference(case, dtype):
    shape, kernel, stride, padding = case
    x = rng(2).standard_normal(shape).astype(dtype)
    y = ops.maxpool1d(x, kernel, stride, padding)
    expected = naive.maxpool1d(x, kernel, stride, padding)
    assert y.shape == expected.shape and y.dtype == dtype
    np.testing.assert_array_equal(y, expected)
    dy = rng(3).standard_normal(y.shape).astype(dtype)
    assert_close(ops.maxpool1d_backward(x, dy, kernel, stride, padding),
                 naive.maxpool1d_backward(x, dy, kernel, stride, padding), dtype)


def test_maxpool1d_gradcheck():
    x = rng(4).permutation(2 * 3 * 9).reshape(2, 3, 9).astype(np.float64)   # distinct: no ties
    fastnet.gradcheck(lambda x: ops.maxpool1d(x, 3, 2, 1), x,
                      backward=lambda x, dy: ops.maxpool1d_backward(x, dy, 3, 2, 1), atol=1e-8, rtol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES[:5])
def test_maxpool1d_matches_torch(case, dtype):
    torch = pytest.importorskip("torch")
    shape, kernel, stride, padding = case
    x = rng(5).standard_normal(shape).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.max_pool1d(tx, kernel, stride, padding)
    y = ops.maxpool1d(x, kernel, stride, padding)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    dy = rng(6).standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(dy))
    assert_close(ops.maxpool1d_backward(x, dy, kernel, stride, padding), tx.grad.numpy(), dtype)


def test_maxpool1d_bad_input():
    x = np.zeros((2, 3, 8), np.float32)
    with pytest.raises(ValueError, match="3-D"):
        ops.maxpool1d(x[None], 2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        ops.maxpool1d(x, 9)
    with pytest.raises(ValueError, match="padding"):
        ops.maxpool1d(x, 2, padding=2)
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.maxpool1d(x.astype(np.int32), 2)
    with pytest.raises(ValueError, match="dy: expected shape"):
        ops.maxpool1d_backward(x, np.zeros((2, 3, 5), np.float32), 2)

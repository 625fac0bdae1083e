"""dropout, softmax / log_softmax and leaky_relu: references, PyTorch, gradcheck, stability, bad input."""

import numpy as np
import pytest

import fastnet
from fastnet import ops
from fastnet.reference import naive
from helpers import DTYPES, assert_close, rng


# --- dropout -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 0.9])
def test_dropout_matches_reference(p, dtype):
    x = rng(0).standard_normal((4, 5, 3)).astype(dtype)
    y, mask = ops.dropout(x, p, seed=7)
    y_ref, mask_ref = naive.dropout(x, p, seed=7)
    assert mask.shape == x.shape and mask.dtype == dtype
    np.testing.assert_array_equal(mask, mask_ref)
    assert_close(y, y_ref, dtype)
    dy = rng(1).standard_normal(x.shape).astype(dtype)
    assert_close(ops.dropout_backward(dy, mask, p), naive.dropout_backward(dy, mask, p), dtype)


def test_dropout_statistics_and_determinism():
    x = np.ones((200, 500))
    y, mask = ops.dropout(x, 0.3, seed=1)
    assert abs(1.0 - mask.mean() - 0.3) < 0.01            # about 30% dropped
    assert set(np.unique(y)) == {0.0, 1.0 / 0.7}           # inverted: kept values scaled
    assert abs(y.mean() - 1.0) < 0.02                      # expectation preserved
    np.testing.assert_array_equal(ops.dropout(x, 0.3, seed=1)[1], mask)       # same seed, same mask
    gen = np.random.default_rng(1)
    first, second = ops.dropout(x, 0.3, seed=gen)[1], ops.dropout(x, 0.3, seed=gen)[1]
    assert not np.array_equal(first, second)                                  # a Generator advances
    np.testing.assert_array_equal(ops.dropout(x, 0.0, seed=0)[0], x)         # p = 0: identity


def test_dropout_gradcheck():
    x = rng(2).standard_normal((3, 4))
    _, mask = ops.dropout(x, 0.4, seed=3)
    fastnet.gradcheck(lambda x: ops.dropout(x, 0.4, seed=3)[0], x,
                      backward=lambda x, dy: ops.dropout_backward(dy, mask, 0.4), atol=1e-8, rtol=1e-7)


def test_dropout_bad_input():
    x = np.zeros((2, 3), np.float32)
    for p in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="p: expected a probability in \\[0, 1\\)"):
            ops.dropout(x, p)
    with pytest.raises(TypeError, match="p: expected a float"):
        ops.dropout(x, "0.5")
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.dropout(x.astype(np.int32), 0.5)
    with pytest.raises(TypeError, match="seed"):
        ops.dropout(x, 0.5, seed=1.5)
    with pytest.raises(ValueError, match="mask: expected shape"):
        ops.dropout_backward(x, np.ones((3, 2), np.float32), 0.5)
    with pytest.raises(TypeError, match="does not match"):
        ops.dropout_backward(x, np.ones((2, 3), np.float64), 0.5)


# --- softmax / log_softmax -----------------------------------------------------------------------

SOFTMAX_CASES = [((4, 5), 1), ((4, 5), 0), ((2, 3, 4), 1), ((2, 3, 4), -1), ((7,), 0), ((2, 3, 2, 2), 2),
                 # long lines: several float32 sum blocks (256) and a remainder after the vector body
                 ((2, 517), 1), ((1, 263, 3), 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, axis", SOFTMAX_CASES, ids=str)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_matches_reference(shape, axis, dtype, log):
    forward, backward = (ops.log_softmax, ops.log_softmax_backward) if log else (ops.softmax, ops.softmax_backward)
    ref_forward, ref_backward = ((naive.log_softmax, naive.log_softmax_backward) if log
                                 else (naive.softmax, naive.softmax_backward))
    x = (rng(3).standard_normal(shape) * 3).astype(dtype)
    y = forward(x, axis)
    assert_close(y, ref_forward(x, axis), dtype)
    dy = rng(4).standard_normal(shape).astype(dtype)
    assert_close(backward(y, dy, axis), ref_backward(y, dy, axis), dtype)
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    ty = (torch.log_softmax if log else torch.softmax)(tx, dim=axis)
    assert_close(y, ty.detach().numpy(), dtype)
    ty.backward(torch.tensor(dy))
    assert_close(backward(y, dy, axis), tx.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("length", [1, 2, 15, 16, 17, 63, 1000])
def test_line_max_is_np_max_nan_included(length, dtype):
    """The kernels' vectorised line max (an llvm.maximum reduction) against np.max, with a NaN at
    the start, inside the vector body, in the tail and nowhere: a NaN anywhere gives NaN."""
    from fastnet.kernels.softmax import _line_max
    x = rng(length).standard_normal(length).astype(dtype)
    x[length // 3] = 50.0                       # the max away from both ends
    assert _line_max(x) == np.max(x)
    assert _line_max(-np.abs(x)) == np.max(-np.abs(x))
    for position in {0, length // 2, length - 1}:
        bad = x.copy()
        bad[position] = np.nan
        assert np.isnan(_line_max(bad)), position


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_is_stable_for_huge_inputs(dtype):
    big = np.finfo(dtype).max / 2
    x = np.array([[1000.0, 0.0, -1000.0], [big, -big, big], [-big, -big, -big]], dtype=dtype)
    with np.errstate(all="raise"):
        y = ops.softmax(x)
        log_y = ops.log_softmax(x)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(log_y))
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(y[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(y[1], [0.5, 0.0, 0.5])
    np.testing.assert_allclose(log_y[0], [0.0, -1000.0, -2000.0], rtol=1e-6)
    nan_row = ops.softmax(np.array([[1.0, np.nan, 2.0]], dtype))
    assert np.all(np.isnan(nan_row))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("position", [0, 5, 300, 599])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("axis", [1, 0])
def test_a_nan_or_inf_anywhere_in_a_long_line_makes_that_line_nan(dtype, position, bad, axis):
    x = rng(9).standard_normal((3, 600)).astype(dtype)
    x[1, position] = bad
    x = np.ascontiguousarray(x if axis == 1 else x.T)
    for forward in (ops.softmax, ops.log_softmax):
        y = forward(x, axis)
        y = y if axis == 1 else y.T
        assert np.isnan(y[1]).all() and np.isfinite(y[[0, 2]]).all()
    neg = x.copy()
    neg[(1, position) if axis == 1 else (position, 1)] = -np.inf     # -inf: probability 0, log -inf
    y = ops.softmax(neg, axis)
    assert np.isfinite(y).all() and (y == 0).sum() >= 1


@pytest.mark.parametrize("log", [False, True])
def test_softmax_gradcheck(log):
    forward, backward = (ops.log_softmax, ops.log_softmax_backward) if log else (ops.softmax, ops.softmax_backward)
    x = rng(5).standard_normal((3, 4, 2))
    fastnet.gradcheck(lambda x: forward(x, 1), x, backward=lambda x, dy: backward(forward(x, 1), dy, 1),
                      atol=1e-8, rtol=1e-6)


def test_softmax_bad_input():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="axis: expected an int in \\[-2, 2\\)"):
        ops.softmax(x, axis=2)
    with pytest.raises(TypeError, match="axis: expected an int"):
        ops.log_softmax(x, axis=1.0)
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.softmax(x.astype(np.int64))
    with pytest.raises(ValueError, match="0-D"):
        ops.softmax(np.ones(()))
    with pytest.raises(ValueError, match="dy: expected shape"):
        ops.softmax_backward(x, x.T)


# --- leaky_relu ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("slope", [0.01, 0.2, -0.5])
@pytest.mark.parametrize("shape", [(3, 4, 5), (3, 100, 120)], ids=["serial", "parallel"])
def test_leaky_relu(slope, dtype, shape):
    x = rng(6).standard_normal(shape).astype(dtype)
    x[0, 0, :3] = [0.0, np.nan, -0.0]
    y = ops.leaky_relu(x, slope)
    np.testing.assert_array_equal(y, naive.leaky_relu(x, slope))
    dy = rng(7).standard_normal(x.shape).astype(dtype)
    dx = ops.leaky_relu_backward(x, dy, slope)
    np.testing.assert_array_equal(dx, naive.leaky_relu_backward(x, dy, slope))
    assert np.isnan(y[0, 0, 1]) and np.isnan(dx[0, 0, 1])
    torch = pytest.importorskip("torch")
    finite = np.nan_to_num(x)
    tx = torch.tensor(finite, requires_grad=True)
    ty = torch.nn.functional.leaky_relu(tx, slope)
    assert_close(ops.leaky_relu(finite, slope), ty.detach().numpy(), dtype)
    ty.backward(torch.tensor(dy))
    assert_close(ops.leaky_relu_backward(finite, dy, slope), tx.grad.numpy(), dtype)


def test_leaky_relu_gradcheck_and_bad_input():
    x = rng(8).standard_normal((4, 5))
    x[np.abs(x) < 1e-3] = 0.5                        # keep away from the kink
    fastnet.gradcheck(lambda x: ops.leaky_relu(x, 0.1), x,
                      backward=lambda x, dy: ops.leaky_relu_backward(x, dy, 0.1), atol=1e-8, rtol=1e-7)
    with pytest.raises(TypeError, match="negative_slope"):
        ops.leaky_relu(x, "0.1")
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.leaky_relu(x.astype(np.int8))
    with pytest.raises(ValueError, match="dy: expected shape"):
        ops.leaky_relu_backward(x, x[:2])

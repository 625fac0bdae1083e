"""dense / dense_backward: reference loops, gradients, PyTorch, bad input."""

import numpy as np
import pytest

import fastnet
from fastnet import ops
from fastnet.reference import naive
from helpers import DTYPES, assert_close, assert_gradient, rng

# (N, in_features, out_features)
SHAPES = [(1, 1, 1), (1, 5, 3), (7, 13, 5), (32, 64, 17), (3, 300, 2), (2, 4, 600)]


def _data(n, k, m, dtype, seed=0):
    g = rng(seed)
    return (g.standard_normal((n, k)).astype(dtype), g.standard_normal((m, k)).astype(dtype),
            g.standard_normal(m).astype(dtype), g.standard_normal((n, m)).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_reference(shape, with_bias, dtype):
    n, k, m = shape
    x, w, b, dy = _data(n, k, m, dtype)
    b = b if with_bias else None
    scale = np.sqrt(k)      # float32 sums of k products
    assert_close(ops.dense(x, w, b), naive.dense(x, w, b), dtype, scale=scale)
    dx, dw, db = ops.dense_backward(x, w, dy)
    rdx, rdw, rdb = naive.dense_backward(x, w, dy)
    assert_close(dx, rdx, dtype, scale=np.sqrt(m))
    assert_close(dw, rdw, dtype, scale=np.sqrt(n))
    assert_close(db, rdb, dtype, scale=np.sqrt(n))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mnist_sized_layer(dtype):
    x, w, b, dy = _data(256, 784, 512, dtype, seed=1)
    expected = x.astype(np.float64) @ w.astype(np.float64).T + b
    assert_close(ops.dense(x, w, b), expected, dtype, scale=30)
    dx, dw, db = ops.dense_backward(x, w, dy)
    assert_close(dx, dy.astype(np.float64) @ w, dtype, scale=30)
    assert_close(dw, dy.T.astype(np.float64) @ x, dtype, scale=30)
    assert_close(db, dy.astype(np.float64).sum(0), dtype, scale=30)


def test_gradient_float64():
    x, w, b, dy = _data(3, 4, 5, np.float64, seed=2)
    dx, dw, db = ops.dense_backward(x, w, dy)
    assert_gradient(dx, lambda v: ops.dense(v, w, b), x.copy(), dy)
    assert_gradient(dw, lambda v: ops.dense(x, v, b), w.copy(), dy)
    assert_gradient(db, lambda v: ops.dense(x, w, v), b.copy(), dy)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no_bias"])
def test_matches_torch(with_bias, dtype):
    torch = pytest.importorskip("torch")
    x, w, b, dy = _data(9, 20, 7, dtype, seed=3)
    xt, wt, bt = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, w, b))
    yt = torch.nn.functional.linear(xt, wt, bt if with_bias else None)
    yt.backward(torch.from_numpy(dy))
    assert_close(ops.dense(x, w, b if with_bias else None), yt.detach().numpy(), dtype)
    dx, dw, db = ops.dense_backward(x, w, dy)
    assert_close(dx, xt.grad.numpy(), dtype)
    assert_close(dw, wt.grad.numpy(), dtype)
    if with_bias:
        assert_close(db, bt.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_inputs(dtype):
    x, w, b, dy = _data(6, 8, 5, dtype, seed=4)
    x_view = np.ascontiguousarray(x.T).T            # F-ordered copy: same values, not C-contiguous
    w_view = np.concatenate([w, w], axis=1)[:, ::2]   # strided columns
    b_view = np.repeat(b, 2)[::2]
    dy_view = np.ascontiguousarray(dy.T).T
    w_equal = np.ascontiguousarray(w_view)
    for a in (x_view, w_view, b_view, dy_view):
        assert not a.flags.c_contiguous
    assert_close(ops.dense(x_view, w_view, b_view), naive.dense(x, w_equal, b_view.copy()), dtype)
    for got, want in zip(ops.dense_backward(x_view, w_view, dy_view), naive.dense_backward(x, w_equal, dy)):
        assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_propagates(dtype):
    x, w, b, dy = _data(3, 4, 2, dtype, seed=5)
    x[1, 2] = np.nan
    y = ops.dense(x, w, b)
    assert np.all(np.isnan(y[1])) and np.all(np.isfinite(y[[0, 2]]))
    dx, dw, db = ops.dense_backward(x, w, dy)
    assert np.all(np.isnan(dw[:, 2])) and np.all(np.isfinite(dx)) and np.all(np.isfinite(db))
    dy[0, 1] = np.nan
    dx, dw, db = ops.dense_backward(x, w, dy)
    assert np.isnan(db[1]) and np.isfinite(db[0]) and np.all(np.isnan(dx[0]))


def test_bitwise_reproducible_across_thread_counts():
    x, w, b, dy = _data(64, 32, 700, np.float32, seed=6)
    threads = fastnet.get_num_threads()
    try:
        fastnet.set_num_threads(1)
        one = ops.dense_backward(x, w, dy)[2]
        fastnet.set_num_threads(threads)
        many = ops.dense_backward(x, w, dy)[2]
    finally:
        fastnet.set_num_threads(threads)
    np.testing.assert_array_equal(one, many)


X = np.zeros((2, 3), np.float32)
W = np.zeros((4, 3), np.float32)
B = np.zeros(4, np.float32)
BAD = [
    (TypeError, r"x: expected dtype float32 or float64, got int64", lambda: ops.dense(X.astype(np.int64), W)),
    (TypeError, r"x: expected a numpy.ndarray", lambda: ops.dense([[1.0, 2.0, 3.0]], W)),
    (ValueError, r"x: expected a 2-D array, got 1-D", lambda: ops.dense(X[0], W)),
    (ValueError, r"w: expected a 2-D array, got 3-D", lambda: ops.dense(X, W[None])),
    (ValueError, r"w: expected shape \(out_features, 3\) to match x's in_features=3, got \(4, 2\)",
     lambda: ops.dense(X, W[:, :2])),
    (ValueError, r"b: expected shape \(4,\) \(out_features of w\), got \(3,\)", lambda: ops.dense(X, W, B[:3])),
    (ValueError, r"b: expected a 1-D array, got 2-D", lambda: ops.dense(X, W, B[None])),
    (TypeError, r"w: dtype float64 does not match x dtype float32", lambda: ops.dense(X, W.astype(np.float64))),
    (TypeError, r"b: dtype float64 does not match x dtype float32", lambda: ops.dense(X, W, B.astype(np.float64))),
    (ValueError, r"x: expected every dimension >= 1, got shape \(0, 3\)", lambda: ops.dense(X[:0], W)),
    (ValueError, r"dy: expected shape \(2, 4\), got \(2, 3\)",
     lambda: ops.dense_backward(X, W, np.zeros((2, 3), np.float32))),
    (TypeError, r"dy: dtype float64 does not match x dtype float32",
     lambda: ops.dense_backward(X, W, np.zeros((2, 4)))),
    (ValueError, r"w: expected shape \(out_features, 3\)", lambda: ops.dense_backward(X, W.T, np.zeros((2, 3), np.float32))),
    (TypeError, r"^input_grad: expected True or False, got 'no'",
     lambda: ops.dense_backward(X, W, np.zeros((2, 4), np.float32), input_grad="no")),
]


@pytest.mark.parametrize("error, message, call", BAD, ids=[f"{i}-{m[:25]}" for i, (_, m, _) in enumerate(BAD)])
def test_bad_inputs(error, message, call):
    with pytest.raises(error, match=message):
        call()

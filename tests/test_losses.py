"""mse_loss / squared_error / cross_entropy: reference loops, gradients, PyTorch, numerics, bad input."""

import warnings

import numpy as np
import pytest

import fastnet
from fastnet import ops
from fastnet.reference import naive
from helpers import DTYPES, assert_close, assert_gradient, numerical_gradient, rng

REGRESSION = [("mse_loss", ops.mse_loss, naive.mse_loss),
              ("squared_error", ops.squared_error, naive.squared_error)]
REG_IDS = [r[0] for r in REGRESSION]
SHAPES = [(1,), (5,), (3, 4), (2, 3, 4, 5), (10_007,), ()]


def _pair(shape, dtype, seed=0):
    g = rng(seed)
    return (np.asarray(g.standard_normal(shape), dtype=dtype),
            np.asarray(g.standard_normal(shape), dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name, loss_fn, ref_fn", REGRESSION, ids=REG_IDS)
def test_regression_matches_reference(name, loss_fn, ref_fn, shape, dtype):
    pred, target = _pair(shape, dtype)
    loss, dpred = loss_fn(pred, target)
    ref_loss, ref_dpred = ref_fn(pred, target)
    assert isinstance(loss, dtype)                  # a NumPy scalar of the input dtype
    assert_close(loss, ref_loss, dtype)
    assert_close(dpred, ref_dpred, dtype)


def test_regression_values_by_hand():
    pred = np.array([1.0, 2.0, 4.0])
    target = np.array([0.0, 2.0, 1.0])
    loss, dpred = ops.mse_loss(pred, target)
    assert loss == pytest.approx(10.0 / 3.0) and np.allclose(dpred, [2 / 3, 0.0, 2.0])
    loss, dpred = ops.squared_error(pred, target)
    assert loss == 5.0 and np.array_equal(dpred, [1.0, 0.0, 3.0])


@pytest.mark.parametrize("name, loss_fn, ref_fn", REGRESSION, ids=REG_IDS)
def test_regression_gradient_float64(name, loss_fn, ref_fn):
    pred, target = _pair((3, 4), np.float64, seed=1)
    _, dpred = loss_fn(pred, target)
    assert_gradient(dpred, lambda p: loss_fn(p, target)[0], pred.copy(), np.float64(1.0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mse_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    pred, target = _pair((4, 7), dtype, seed=2)
    pt = torch.from_numpy(pred.copy()).requires_grad_()
    lt = torch.nn.functional.mse_loss(pt, torch.from_numpy(target))
    lt.backward()
    loss, dpred = ops.mse_loss(pred, target)
    assert_close(loss, lt.item(), dtype)
    assert_close(dpred, pt.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, loss_fn, ref_fn", REGRESSION, ids=REG_IDS)
def test_regression_non_contiguous_and_nan(name, loss_fn, ref_fn, dtype):
    pred, target = _pair((6, 8), dtype, seed=3)
    loss, dpred = loss_fn(pred.T, target.T)
    ref_loss, ref_dpred = ref_fn(np.ascontiguousarray(pred.T), np.ascontiguousarray(target.T))
    assert_close(loss, ref_loss, dtype)
    assert_close(dpred, ref_dpred, dtype)
    pred[2, 3] = np.nan
    loss, dpred = loss_fn(pred, target)
    assert np.isnan(loss) and np.isnan(dpred[2, 3]) and np.isfinite(dpred).sum() == pred.size - 1


LOGIT_SHAPES = [(1, 1), (1, 5), (4, 3), (17, 10), (3, 1000)]


def _logits(n, c, dtype, seed=0, scale=3.0):
    g = rng(seed)
    return (g.standard_normal((n, c)) * scale).astype(dtype), g.integers(0, c, size=n)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LOGIT_SHAPES, ids=str)
def test_cross_entropy_matches_reference(shape, dtype):
    logits, labels = _logits(*shape, dtype)
    loss, dlogits = ops.cross_entropy(logits, labels)
    ref_loss, ref_dlogits = naive.cross_entropy(logits, labels)
    assert isinstance(loss, dtype)
    assert_close(loss, ref_loss, dtype)
    assert_close(dlogits, ref_dlogits, dtype)
    np.testing.assert_allclose(dlogits.astype(np.float64).sum(1), 0.0, atol=1e-6)


def test_cross_entropy_gradient_float64():
    logits, labels = _logits(4, 5, np.float64, seed=1)
    _, dlogits = ops.cross_entropy(logits, labels)
    assert_gradient(dlogits, lambda v: ops.cross_entropy(v, labels)[0], logits.copy(), np.float64(1.0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    logits, labels = _logits(8, 6, dtype, seed=2)
    lt = torch.from_numpy(logits.copy()).requires_grad_()
    out = torch.nn.functional.cross_entropy(lt, torch.from_numpy(labels))
    out.backward()
    loss, dlogits = ops.cross_entropy(logits, labels)
    assert_close(loss, out.item(), dtype)
    assert_close(dlogits, lt.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_stable_at_large_logits(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4 - 2.0, -1e4]], dtype=dtype)
    labels = np.array([1, 2, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            loss, dlogits = ops.cross_entropy(logits, labels)
    assert np.isfinite(loss) and np.all(np.isfinite(dlogits))
    # row 0: 2e4; row 1: log 3; row 2: log(1 + e^-2) + 2
    expected = (2e4 + np.log(3.0) + np.log1p(np.exp(-2.0)) + 2.0) / 3
    assert_close(loss, expected, dtype)
    assert_close(dlogits, naive.cross_entropy(logits, labels)[1], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_nan_not_hidden(dtype):
    logits, labels = _logits(3, 4, dtype, seed=3)
    logits[1, 2] = np.nan
    loss, dlogits = ops.cross_entropy(logits, labels)
    assert np.isnan(loss)
    assert np.all(np.isnan(dlogits[1])) and np.all(np.isfinite(dlogits[[0, 2]]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("position", [0, 17, 500, 999])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_nan_or_inf_anywhere_in_a_long_row(dtype, position, smoothing):
    """1000 classes, so the bad logit lands in the vectorised passes' body or tail: NaN or +inf
    makes its row's loss and gradient NaN; -inf is a class of probability 0."""
    logits, labels = _logits(3, 1000, dtype, seed=4)
    labels[1] = (position + 1) % 1000
    for bad in (np.nan, np.inf):
        x = logits.copy()
        x[1, position] = bad
        loss, dlogits = ops.cross_entropy(x, labels, label_smoothing=smoothing)
        assert np.isnan(loss)
        assert np.all(np.isnan(dlogits[1])) and np.all(np.isfinite(dlogits[[0, 2]]))
    x = logits.copy()
    x[1, position] = -np.inf
    loss, dlogits = ops.cross_entropy(x, labels, label_smoothing=smoothing)
    if smoothing:                                # the smoothed target puts weight on the -inf class
        assert loss == np.inf
    else:
        assert_close(loss, naive.cross_entropy(x, labels)[0], dtype)
        assert_close(dlogits, naive.cross_entropy(x, labels)[1], dtype)
        assert dlogits[1, position] == 0.0


@pytest.mark.parametrize("label_dtype", [np.int8, np.uint8, np.int32, np.int64, np.uint64])
def test_cross_entropy_integer_label_dtypes(label_dtype):
    logits, labels = _logits(5, 4, np.float64, seed=4)
    loss, _ = ops.cross_entropy(logits, labels.astype(label_dtype))
    assert loss == ops.cross_entropy(logits, labels)[0]
    assert ops.cross_entropy(logits, labels.tolist())[0] == loss


def test_bitwise_reproducible_across_thread_counts():
    pred, target = _pair((300_001,), np.float32, seed=5)
    logits, labels = _logits(5000, 10, np.float32, seed=6)
    threads = fastnet.get_num_threads()
    try:
        fastnet.set_num_threads(1)
        one = (ops.mse_loss(pred, target)[0], ops.cross_entropy(logits, labels)[0])
        fastnet.set_num_threads(threads)
        many = (ops.mse_loss(pred, target)[0], ops.cross_entropy(logits, labels)[0])
    finally:
        fastnet.set_num_threads(threads)
    assert one == many


L = np.zeros((3, 4), np.float32)
BAD = [
    (TypeError, r"pred: expected dtype float32 or float64, got int64",
     lambda: ops.mse_loss(np.zeros(3, np.int64), np.zeros(3))),
    (TypeError, r"target: dtype float64 does not match pred dtype float32",
     lambda: ops.mse_loss(np.zeros(3, np.float32), np.zeros(3))),
    (ValueError, r"target: expected shape \(3,\), got \(4,\)",
     lambda: ops.squared_error(np.zeros(3), np.zeros(4))),
    (TypeError, r"target: expected a numpy.ndarray", lambda: ops.squared_error(np.zeros(3), [0.0, 0.0, 0.0])),
    (ValueError, r"pred: expected at least one element", lambda: ops.mse_loss(np.zeros(0), np.zeros(0))),
    (TypeError, r"labels: expected an integer dtype, got float64: class indices \(N,\) int are expected; "
                r"use y.astype\(np.int64\)$",
     lambda: ops.cross_entropy(L, np.zeros(3))),
    (TypeError, r"labels: expected class indices \(N,\) int; got one-hot float32 \(3, 4\): use y.argmax\(1\)",
     lambda: ops.cross_entropy(L, np.eye(4, dtype=np.float32)[[0, 2, 1]])),
    (TypeError, r"labels: expected an integer dtype, got bool: class indices \(N,\) int are expected",
     lambda: ops.cross_entropy(L, np.zeros(3, bool))),
    (TypeError, r"labels: expected a numpy.ndarray of integers, got int", lambda: ops.cross_entropy(L, 3)),
    (ValueError, r"labels: expected every label in \[0, 4\), got 4 at index 2",
     lambda: ops.cross_entropy(L, np.array([0, 3, 4]))),
    (ValueError, r"labels: expected every label in \[0, 4\), got -1 at index 0",
     lambda: ops.cross_entropy(L, np.array([-1, 3, 9]))),
    (ValueError, r"labels: expected every label in \[0, 4\), got 9223372036854775808 at index 1",
     lambda: ops.cross_entropy(L, np.array([0, 2**63, 1], dtype=np.uint64))),   # negative as int64
    (ValueError, r"labels: expected shape \(3,\) \(one label per row of logits\), got \(2,\)",
     lambda: ops.cross_entropy(L, np.array([0, 1]))),
    (ValueError, r"labels: expected a 1-D array, got 2-D .*class indices \(N,\) int", lambda: ops.cross_entropy(L, np.zeros((3, 1), int))),
    (ValueError, r"logits: expected a 2-D array, got 1-D", lambda: ops.cross_entropy(L[0], np.array([0]))),
    (TypeError, r"logits: expected dtype float32 or float64, got int64",
     lambda: ops.cross_entropy(np.zeros((3, 4), np.int64), np.array([0, 1, 2]))),
    (ValueError, r"logits: expected shape \(N, C\) with N >= 1 and C >= 1, got \(3, 0\)",
     lambda: ops.cross_entropy(L[:, :0], np.array([0, 0, 0]))),
]


@pytest.mark.parametrize("error, message, call", BAD, ids=[f"{i}-{m[:25]}" for i, (_, m, _) in enumerate(BAD)])
def test_bad_inputs(error, message, call):
    with pytest.raises(error, match=message):
        call()


def test_numerical_gradient_detects_a_wrong_gradient():
    """Guard against a tautological gradient check: a wrong analytic gradient must fail."""
    pred, target = _pair((3,), np.float64, seed=7)
    _, dpred = ops.mse_loss(pred, target)
    numeric = numerical_gradient(lambda p: ops.mse_loss(p, target)[0], pred.copy(), np.float64(1.0))
    assert not np.allclose(numeric, 2 * dpred)

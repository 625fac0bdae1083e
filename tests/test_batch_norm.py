"""batch_norm: loop reference, running statistics, eval mode, gradcheck, PyTorch, bad input."""

import numpy as np
import pytest

import fastnet
from fastnet import ops
from fastnet.reference import naive
from helpers import DTYPES, assert_close, rng

SHAPES = [(8, 3), (4, 3, 5), (2, 4, 3, 5), (3, 2, 2, 3, 2), (2, 1, 1, 1)]


def _problem(shape, dtype, seed=0):
    r = rng(seed)
    c = shape[1]
    x = (r.standard_normal(shape) * 2 + 0.5).astype(dtype)
    gamma = r.standard_normal(c).astype(dtype)
    beta = r.standard_normal(c).astype(dtype)
    mean = r.standard_normal(c).astype(dtype)
    var = r.uniform(0.5, 2.0, c).astype(dtype)
    return x, gamma, beta, mean, var


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("training", [True, False])
def test_matches_reference(shape, dtype, training):
    x, gamma, beta, mean, var = _problem(shape, dtype)
    mean_ref, var_ref = mean.copy(), var.copy()
    y = ops.batch_norm(x, gamma, beta, mean, var, training, momentum=0.2, eps=1e-4)
    expected = naive.batch_norm(x, gamma, beta, mean_ref, var_ref, training, momentum=0.2, eps=1e-4)
    assert_close(y, expected, dtype, scale=10)
    assert_close(mean, mean_ref, dtype)
    assert_close(var, var_ref, dtype)
    if training:
        dy = rng(1).standard_normal(shape).astype(dtype)
        got = ops.batch_norm_backward(x, gamma, dy, eps=1e-4)
        for g, want in zip(got, naive.batch_norm_backward(x, gamma, dy, eps=1e-4)):
            assert_close(g, want, dtype, scale=10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES[:4], ids=str)
def test_matches_torch(shape, dtype):
    torch = pytest.importorskip("torch")
    x, gamma, beta, mean, var = _problem(shape, dtype, seed=2)
    tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    tmean, tvar = torch.tensor(mean), torch.tensor(var)
    ty = torch.nn.functional.batch_norm(tx, tmean, tvar, tg, tb, training=True, momentum=0.1, eps=1e-5)
    y = ops.batch_norm(x, gamma, beta, mean, var, True)
    assert_close(y, ty.detach().numpy(), dtype, scale=10)
    assert_close(mean, tmean.numpy(), dtype)
    assert_close(var, tvar.numpy(), dtype)
    dy = rng(3).standard_normal(shape).astype(dtype)
    ty.backward(torch.tensor(dy))
    for got, want in zip(ops.batch_norm_backward(x, gamma, dy), (tx, tg, tb)):
        assert_close(got, want.grad.numpy(), dtype, scale=10)
    # eval: the running statistics just updated
    te = torch.nn.functional.batch_norm(tx.detach(), tmean, tvar, tg.detach(), tb.detach(), training=False)
    assert_close(ops.batch_norm(x, gamma, beta, mean, var, False), te.numpy(), dtype, scale=10)


def test_running_statistics_formula():
    x = np.array([[1.0], [2.0], [6.0]])           # one channel: mean 3, biased var 14/3, unbiased 7
    mean, var = np.array([0.0]), np.array([1.0])
    y = ops.batch_norm(x, None, None, mean, var, True, momentum=0.5, eps=0.0 + 1e-12)
    np.testing.assert_allclose(mean, [1.5])
    np.testing.assert_allclose(var, [0.5 * 1.0 + 0.5 * 7.0])
    np.testing.assert_allclose(y[:, 0], (x[:, 0] - 3.0) / np.sqrt(14.0 / 3.0 + 1e-12))


@pytest.mark.parametrize("shape", [(5, 2), (3, 2, 2, 3)], ids=str)
def test_gradcheck(shape):
    x, gamma, beta, _, _ = _problem(shape, np.float64, seed=4)
    fastnet.gradcheck(lambda x, g, b: ops.batch_norm(x, g, b, None, None, True), (x, gamma, beta),
                      backward=lambda x, g, b, dy: ops.batch_norm_backward(x, g, dy), atol=1e-7, rtol=1e-6)


def test_bad_input():
    x, gamma, beta, mean, var = _problem((4, 3, 2), np.float32)
    with pytest.raises(ValueError, match="x: expected an \\(N, C\\)"):
        ops.batch_norm(x[0, 0], gamma, beta, mean, var, True)
    with pytest.raises(ValueError, match="gamma: expected shape \\(3,\\)"):
        ops.batch_norm(x, gamma[:2], beta, mean, var, True)
    with pytest.raises(ValueError, match="beta: expected shape \\(3,\\)"):
        ops.batch_norm(x, gamma, np.zeros(4, np.float32), mean, var, True)
    with pytest.raises(ValueError, match="running_var: expected shape"):
        ops.batch_norm(x, gamma, beta, mean, var[:1], True)
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.batch_norm(x.astype(np.int64), gamma, beta, mean, var, True)
    with pytest.raises(TypeError, match="does not match"):
        ops.batch_norm(x, gamma.astype(np.float64), beta, mean, var, True)
    with pytest.raises(ValueError, match="required when training=False"):
        ops.batch_norm(x, gamma, beta, None, None, False)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        ops.batch_norm(x[:1, :, :1], gamma, beta, mean, var, True)
    with pytest.raises(ValueError, match="momentum"):
        ops.batch_norm(x, gamma, beta, mean, var, True, momentum=1.5)
    with pytest.raises(TypeError, match="training"):
        ops.batch_norm(x, gamma, beta, mean, var, "yes")
    with pytest.raises(TypeError, match="running_mean"):
        ops.batch_norm(x, gamma, beta, [0.0, 0.0, 0.0], var, True)
    with pytest.raises(ValueError, match="dy: expected shape"):
        ops.batch_norm_backward(x, gamma, x[:2])

"""clip_grad_norm / clip_grad_value: the formula by hand, torch.nn.utils, NaN/inf, bad input."""

import math

import numpy as np
import pytest

from fastnet import optim
from fastnet.parameter import Parameter

from helpers import DTYPES, assert_close, rng


def params(dtype, scale=1.0, seed=0):
    g = rng(seed)
    ps = [Parameter(np.zeros(s, dtype=dtype)) for s in [(3, 4), (5,), (2, 1, 3)]]
    for p in ps:
        p.grad[...] = g.standard_normal(p.shape) * scale
    return ps


def naive_total_norm(grads, norm_type):
    flat = np.concatenate([np.asarray(g, np.float64).ravel() for g in grads])
    if norm_type == math.inf:
        return float(np.max(np.abs(flat)))
    return float(np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_formula(dtype, norm_type, max_norm):
    ps = params(dtype)
    before = [p.grad.copy() for p in ps]
    total = optim.clip_grad_norm(ps, max_norm, norm_type)
    expected = naive_total_norm(before, norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(expected, rel=1e-6)
    coef = min(1.0, max_norm / (expected + 1e-6))
    for p, g in zip(ps, before):
        assert_close(p.grad, g * coef, dtype)
    if max_norm < expected:
        assert naive_total_norm([p.grad for p in ps], norm_type) == pytest.approx(max_norm, rel=1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_type", [2.0, 1.5, math.inf])
def test_clip_grad_norm_matches_torch(dtype, norm_type):
    torch = pytest.importorskip("torch")
    ps = params(dtype, scale=3.0, seed=1)
    tensors = [torch.zeros(p.shape, dtype=getattr(torch, np.dtype(dtype).name), requires_grad=True) for p in ps]
    for t, p in zip(tensors, ps):
        t.grad = torch.from_numpy(p.grad.copy())
    t_total = torch.nn.utils.clip_grad_norm_(tensors, 2.0, norm_type)
    total = optim.clip_grad_norm(ps, 2.0, norm_type)
    assert total == pytest.approx(float(t_total), rel=1e-5 if dtype == np.float32 else 1e-12)
    for t, p in zip(tensors, ps):
        assert_close(p.grad, t.grad.numpy(), dtype)


@pytest.mark.parametrize("bad, expect", [(math.nan, "nan"), (math.inf, "inf")])
def test_clip_grad_norm_non_finite_propagates_like_torch(bad, expect):
    torch = pytest.importorskip("torch")
    ps = params(np.float64)
    ps[1].grad[2] = bad
    tensors = [torch.zeros(p.shape, dtype=torch.float64, requires_grad=True) for p in ps]
    for t, p in zip(tensors, ps):
        t.grad = torch.from_numpy(p.grad.copy())
    t_total = float(torch.nn.utils.clip_grad_norm_(tensors, 1.0))
    total = optim.clip_grad_norm(ps, 1.0)
    assert (math.isnan(total) and math.isnan(t_total)) or total == t_total == math.inf
    for t, p in zip(tensors, ps):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())   # NaN where torch has NaN, 0 where 0


def test_clip_grad_norm_non_finite_without_torch():
    ps = params(np.float32)
    ps[0].grad[0, 0] = np.nan
    with np.errstate(all="raise"):
        total = optim.clip_grad_norm(ps, 1.0)
    assert math.isnan(total) and all(np.isnan(p.grad).all() for p in ps)
    ps = params(np.float64)
    ps[2].grad[0, 0, 1] = -np.inf
    before = [p.grad.copy() for p in ps]
    with pytest.raises(FloatingPointError, match="NaN or inf"):
        optim.clip_grad_norm(ps, 1.0, error_if_nonfinite=True)
    for p, g in zip(ps, before):
        np.testing.assert_array_equal(p.grad, g)   # left alone


def test_clip_grad_norm_single_parameter_and_empty():
    p = Parameter(np.zeros(2))
    p.grad[...] = [3.0, 4.0]
    assert optim.clip_grad_norm(p, 1.0) == 5.0
    np.testing.assert_allclose(p.grad, [0.6, 0.8], rtol=1e-6)
    assert optim.clip_grad_norm([], 1.0) == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_grad_value(dtype):
    ps = params(dtype, scale=2.0)
    ps[0].grad[1, 1] = np.nan
    before = [p.grad.copy() for p in ps]
    optim.clip_grad_value(ps, 0.7)
    for p, g in zip(ps, before):
        assert p.grad.dtype == dtype
        np.testing.assert_array_equal(p.grad, np.clip(g, -0.7, 0.7))
    assert np.isnan(ps[0].grad[1, 1])
    assert max(np.nanmax(np.abs(p.grad)) for p in ps) == pytest.approx(0.7)


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    ps = params(np.float64, scale=2.0)
    tensors = [torch.zeros(p.shape, dtype=torch.float64, requires_grad=True) for p in ps]
    for t, p in zip(tensors, ps):
        t.grad = torch.from_numpy(p.grad.copy())
    torch.nn.utils.clip_grad_value_(tensors, 0.5)
    optim.clip_grad_value(ps, 0.5)
    for t, p in zip(tensors, ps):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())


@pytest.mark.parametrize("call, exc, match", [
    (lambda ps: optim.clip_grad_norm(ps, -1.0), ValueError, "max_norm"),
    (lambda ps: optim.clip_grad_norm(ps, math.nan), ValueError, "max_norm"),
    (lambda ps: optim.clip_grad_norm(ps, 1.0, norm_type=0), ValueError, "norm_type"),
    (lambda ps: optim.clip_grad_norm(ps, 1.0, norm_type="fro"), TypeError, "norm_type"),
    (lambda ps: optim.clip_grad_norm(ps, 1.0, error_if_nonfinite=1), TypeError, "error_if_nonfinite"),
    (lambda ps: optim.clip_grad_norm([np.zeros(2)], 1.0), TypeError, "Parameter"),
    (lambda ps: optim.clip_grad_norm(3, 1.0), TypeError, "iterable"),
    (lambda ps: optim.clip_grad_value(ps, -0.1), ValueError, "clip_value"),
    (lambda ps: optim.clip_grad_value(ps, "1"), TypeError, "clip_value"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call(params(np.float64))

"""sigmoid / tanh / relu: reference loops, gradients, PyTorch, numerics and argument checks."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnet
from fastnet import ops
from fastnet.reference import naive
from helpers import DTYPES, assert_close, assert_gradient, rng

# (name, forward, backward, reference forward, reference backward, backward takes the output?)
ACTIVATIONS = [
    ("sigmoid", ops.sigmoid, ops.sigmoid_backward, naive.sigmoid, naive.sigmoid_backward, True),
    ("tanh", ops.tanh, ops.tanh_backward, naive.tanh, naive.tanh_backward, True),
    ("relu", ops.relu, ops.relu_backward, naive.relu, naive.relu_backward, False),
]
IDS = [a[0] for a in ACTIVATIONS]
# the last two: past the kernels' SERIAL_MAX_EXP (sigmoid, tanh) and SERIAL_MAX (all): in parallel
SHAPES = [(1,), (7,), (3, 5), (2, 3, 4, 5), (1, 1, 1), (0,), (4, 0), (), (8193,), (3, 20001)]


def _inputs(shape, dtype, seed=0):
    g = rng(seed)
    x = np.asarray(g.standard_normal(shape) * 4, dtype=dtype)
    dy = np.asarray(g.standard_normal(shape), dtype=dtype)
    return x, dy


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name, forward, backward, ref_forward, ref_backward, uses_output",
                         ACTIVATIONS, ids=IDS)
def test_matches_reference(name, forward, backward, ref_forward, ref_backward, uses_output,
                           shape, dtype):
    x, dy = _inputs(shape, dtype)
    y = forward(x)
    assert_close(y, ref_forward(x), dtype)
    saved = y if uses_output else x
    dx = backward(saved, dy)
    assert_close(dx, ref_backward(saved, dy), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, forward, backward, ref_forward, ref_backward, uses_output",
                         ACTIVATIONS, ids=IDS)
def test_non_contiguous_inputs(name, forward, backward, ref_forward, ref_backward, uses_output,
                               dtype):
    x, dy = _inputs((6, 10), dtype, seed=1)
    views = [x.T, x[::2, 1::3], x[:, ::-1]]
    for view in views:
        assert not view.flags.c_contiguous
        y = forward(view)
        assert y.flags.c_contiguous
        assert_close(y, ref_forward(np.ascontiguousarray(view)), dtype)
        saved = y if uses_output else view
        d = dy[: view.shape[0], : view.shape[1]] if view.shape[0] <= 6 else dy.T
        assert_close(backward(saved, d), ref_backward(np.ascontiguousarray(saved), d), dtype)


@settings(max_examples=15)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=4),
       seed=st.integers(0, 2**16), scale=st.sampled_from([1e-3, 1.0, 30.0, 300.0]),
       dtype=st.sampled_from(DTYPES), which=st.sampled_from(range(len(ACTIVATIONS))))
def test_property_random_shapes(shape, seed, scale, dtype, which):
    _, forward, backward, ref_forward, ref_backward, uses_output = ACTIVATIONS[which]
    g = rng(seed)
    x = (g.standard_normal(shape) * scale).astype(dtype)
    dy = g.standard_normal(shape).astype(dtype)
    with np.errstate(all="raise"):
        y = forward(x)
    assert_close(y, ref_forward(x), dtype)
    saved = y if uses_output else x
    assert_close(backward(saved, dy), ref_backward(saved, dy), dtype)


@pytest.mark.parametrize("name, forward, backward, ref_forward, ref_backward, uses_output",
                         ACTIVATIONS, ids=IDS)
def test_gradient_float64(name, forward, backward, ref_forward, ref_backward, uses_output):
    x, dy = _inputs((3, 4), np.float64, seed=2)
    if name == "relu":
        x[np.abs(x) < 0.1] = 0.5   # keep central differences away from the kink
    y = forward(x)
    analytic = backward(y if uses_output else x, dy)
    assert_gradient(analytic, forward, x.copy(), dy)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", IDS)
def test_matches_torch(name, dtype):
    torch = pytest.importorskip("torch")
    forward, backward, uses_output = {a[0]: (a[1], a[2], a[5]) for a in ACTIVATIONS}[name]
    x, dy = _inputs((4, 33), dtype, seed=3)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    yt = getattr(torch, name)(xt)
    yt.backward(torch.from_numpy(dy))
    y = forward(x)
    assert_close(y, yt.detach().numpy(), dtype)
    assert_close(backward(y if uses_output else x, dy), xt.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_saturates_without_warnings(dtype):
    x = np.array([-1e30, -1000.0, -400.0, -104.0, -88.0, 0.0, 40.0, 400.0, 1000.0, 1e30,
                  -np.inf, np.inf], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            y = ops.sigmoid(x)
            dx = ops.sigmoid_backward(y, np.ones_like(y))
    assert y.dtype == dtype
    assert np.all(np.isfinite(y)) and np.all((y >= 0) & (y <= 1))
    at = dict(zip(x.tolist(), y.tolist()))
    at = {float(dtype(k)): v for k, v in at.items()}
    underflow = (-np.inf, -1e30, -1000.0) + ((-400.0, -104.0) if dtype == np.float32 else ())
    for v in underflow:
        assert at[float(dtype(v))] == 0.0, v
    for v in (40.0, 400.0, 1000.0, 1e30, np.inf):
        assert at[float(dtype(v))] == 1.0, v
    assert at[0.0] == 0.5 and 0.0 <= at[-88.0] < 1e-37
    if dtype == np.float64:
        assert at[-400.0] == pytest.approx(np.exp(-400.0), rel=1e-14)
    assert np.all(dx[np.abs(x) >= 1000] == 0.0) and np.all(dx >= 0)


@pytest.mark.parametrize("dtype, max_rel", [(np.float32, 3 * np.finfo(np.float32).eps),
                                            (np.float64, 1e-15)])
def test_sigmoid_accuracy(dtype, max_rel):
    """Relative error against a float64 reference over the range where sigmoid is normal."""
    x = np.linspace(-87.0, 30.0, 200_001).astype(dtype)
    exact = naive.sigmoid(x.astype(np.float64)) if dtype == np.float64 else None
    if exact is None:
        x64 = x.astype(np.float64)
        exact = np.where(x64 >= 0, 1 / (1 + np.exp(-np.abs(x64))),
                         np.exp(-np.abs(x64)) / (1 + np.exp(-np.abs(x64))))
    y = ops.sigmoid(x)
    rel = np.abs(y.astype(np.float64) - exact) / exact
    assert rel.max() <= max_rel, f"max relative error {rel.max():.3g} at x={x[rel.argmax()]}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, forward, backward, ref_forward, ref_backward, uses_output",
                         ACTIVATIONS, ids=IDS)
@pytest.mark.parametrize("repeat", [1, 10_000], ids=["serial", "parallel"])
def test_nan_propagates(name, forward, backward, ref_forward, ref_backward, uses_output, dtype, repeat):
    x = np.tile(np.array([-2.0, np.nan, 0.5, 3.0], dtype=dtype), repeat)
    nan = np.isnan(x)
    y = forward(x)
    assert np.array_equal(np.isnan(y), nan)
    dx = backward(y if uses_output else x, np.ones_like(x))
    assert np.array_equal(np.isnan(dx), nan)
    # a NaN upstream gradient is not hidden where the op passes gradient through
    dy = np.tile(np.array([1.0, 1.0, np.nan, 1.0], dtype=dtype), repeat)
    assert np.array_equal(np.isnan(backward(y if uses_output else x, dy)), nan | np.isnan(dy))


def test_relu_backward_at_zero_and_negative():
    x = np.array([-1.0, 0.0, 2.0], dtype=np.float32)
    dx = ops.relu_backward(x, np.array([5.0, 6.0, 7.0], dtype=np.float32))
    np.testing.assert_array_equal(dx, [0.0, 0.0, 7.0])


@pytest.mark.parametrize("name", IDS)
def test_bitwise_reproducible_across_thread_counts(name):
    forward = getattr(ops, name)
    x = (rng(4).standard_normal(100_003) * 5).astype(np.float32)
    threads = fastnet.get_num_threads()
    try:
        fastnet.set_num_threads(1)
        one = forward(x)
        fastnet.set_num_threads(threads)
        many = forward(x)
    finally:
        fastnet.set_num_threads(threads)
    np.testing.assert_array_equal(one, many)


@pytest.mark.parametrize("name", IDS)
def test_bad_inputs(name):
    forward, backward = getattr(ops, name), getattr(ops, name + "_backward")
    saved_name = "x" if name == "relu" else "y"
    x32 = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match=r"x: expected a numpy.ndarray .* got list"):
        forward([1.0, 2.0])
    with pytest.raises(TypeError, match=r"x: expected dtype float32 or float64, got int64"):
        forward(np.zeros(3, np.int64))
    with pytest.raises(TypeError, match=r"x: expected dtype float32 or float64, got float16"):
        forward(np.zeros(3, np.float16))
    with pytest.raises(TypeError, match=rf"dy: dtype float64 does not match {saved_name} dtype float32"):
        backward(x32, np.zeros((2, 3), np.float64))
    with pytest.raises(ValueError, match=r"dy: expected shape \(2, 3\), got \(3, 2\)"):
        backward(x32, np.zeros((3, 2), np.float32))
    with pytest.raises(TypeError, match=rf"{saved_name}: expected dtype"):
        backward(np.zeros((2, 3), np.int32), x32)

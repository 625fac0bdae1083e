"""maxpool2d / maxpool3d: reference loops, ties, NaN, padding, gradients, PyTorch, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnet
from fastnet import ops
from fastnet.reference import naive
from helpers import DTYPES, assert_close, assert_gradient, rng

# (input shape, kernel_size, stride, padding)
CASES_2D = [
    ((2, 3, 8, 8), 2, None, 0),                  # the common 2x2 / 2
    ((1, 1, 5, 7), 3, 2, 1),                     # batch 1, odd sizes, padding
    ((2, 2, 6, 5), 1, 1, 0),                     # 1x1 window: identity
    ((1, 2, 4, 6), (4, 6), None, 0),             # window equal to the input
    ((1, 2, 3, 5), (4, 6), 1, (1, 3)),           # window equal to the padded input
    ((2, 1, 9, 10), 2, 3, 0),                    # stride > window (cells skipped)
    ((2, 3, 7, 11), (3, 2), (2, 1), (1, 0)),     # asymmetric kernel / stride / padding
    ((1, 2, 6, 9), (2, 5), (1, 3), (1, 2)),      # overlapping windows, wide padding
    ((3, 2, 10, 10), 3, 1, 1),                   # stride 1 'same' pooling
    ((1, 1, 1, 1), 1, None, 0),                  # a single cell
    ((1, 1, 1, 3), (1, 3), (1, 1), (0, 1)),
]
CASES_3D = [
    ((2, 2, 4, 4, 4), 2, None, 0),
    ((1, 1, 5, 6, 7), 3, 2, 1),
    ((1, 2, 3, 4, 5), (1, 2, 3), (1, 2, 1), (0, 1, 1)),
    ((2, 1, 4, 5, 6), (2, 3, 2), (3, 1, 2), (1, 0, 1)),   # mixed overlap / skip
    ((1, 1, 2, 3, 4), (2, 3, 4), None, 0),                # window equal to the input
    ((1, 2, 3, 3, 3), 1, 1, 0),
]


def _data(shape, dtype, seed=0):
    return rng(seed).standard_normal(shape).astype(dtype)


def _case_id(case):
    return "x{}-k{}-s{}-p{}".format(*case).replace(" ", "")


POOLS = {2: (ops.maxpool2d, ops.maxpool2d_backward, naive.maxpool2d, naive.maxpool2d_backward),
         3: (ops.maxpool3d, ops.maxpool3d_backward, naive.maxpool3d, naive.maxpool3d_backward)}
ALL_CASES = [(2, c) for c in CASES_2D] + [(3, c) for c in CASES_3D]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims, case", ALL_CASES, ids=[f"{d}d-{_case_id(c)}" for d, c in ALL_CASES])
def test_matches_reference(dims, case, dtype):
    forward, backward, ref_forward, ref_backward = POOLS[dims]
    shape, kernel, stride, padding = case
    x = _data(shape, dtype)
    y = forward(x, kernel, stride, padding)
    expected = ref_forward(x, kernel, stride, padding)
    assert y.shape == expected.shape and y.dtype == dtype
    np.testing.assert_array_equal(y, expected)          # a max is exact
    dy = _data(y.shape, dtype, seed=1)
    dx = backward(x, dy, kernel, stride, padding)
    assert_close(dx, ref_backward(x, dy, kernel, stride, padding), dtype)


def _geometry(draw, dims):
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    spatial = tuple(draw(st.integers(max(1, k - 2 * p), k - 2 * p + 6)) for k, p in zip(kernel, padding))
    batch = (draw(st.integers(1, 2)), draw(st.integers(1, 3)))
    return batch + spatial, kernel, stride, padding


@st.composite
def pool_case(draw, dims):
    return _geometry(draw, dims)


@pytest.mark.parametrize("dims", [2, 3])
@settings(max_examples=20)
@given(data=st.data(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16),
       ties=st.booleans())
def test_property_random_geometry(dims, data, dtype, seed, ties):
    forward, backward, ref_forward, ref_backward = POOLS[dims]
    shape, kernel, stride, padding = data.draw(pool_case(dims))
    x = _data(shape, dtype, seed)
    if ties:
        x = np.round(x).astype(dtype)        # many equal values: exercises first-max-wins
    y = forward(x, kernel, stride, padding)
    np.testing.assert_array_equal(y, ref_forward(x, kernel, stride, padding))
    dy = _data(y.shape, dtype, seed + 1)
    assert_close(backward(x, dy, kernel, stride, padding),
                 ref_backward(x, dy, kernel, stride, padding), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_ties_route_to_first_cell(dtype):
    x = np.ones((1, 1, 4, 4), dtype)
    dx = ops.maxpool2d_backward(x, np.ones((1, 1, 2, 2), dtype), 2)
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1.0
    np.testing.assert_array_equal(dx[0, 0], expected)
    # overlapping windows (stride 1): every 2x2 window's first cell collects its gradient
    dx = ops.maxpool2d_backward(x, np.ones((1, 1, 3, 3), dtype), 2, 1)
    expected = np.zeros((4, 4))
    expected[:3, :3] = 1.0
    np.testing.assert_array_equal(dx[0, 0], expected)
    x3 = np.zeros((1, 1, 2, 2, 2), dtype)
    dx3 = ops.maxpool3d_backward(x3, np.full((1, 1, 1, 1, 1), 3.0, dtype), 2)
    assert dx3[0, 0, 0, 0, 0] == 3.0 and dx3.sum() == 3.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_overlapping_windows_accumulate(dtype):
    x = np.zeros((1, 1, 3, 3), dtype)
    x[0, 0, 1, 1] = 5.0                      # the centre is the max of all four 2x2 windows
    dy = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], dtype)
    dx = ops.maxpool2d_backward(x, dy, 2, 1)
    assert dx[0, 0, 1, 1] == 10.0 and dx.sum() == 10.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_padding_never_wins(dtype):
    x = np.full((1, 2, 5, 5), -7.0, dtype)
    y = ops.maxpool2d(x, 3, 2, 1)
    np.testing.assert_array_equal(y, np.full((1, 2, 3, 3), -7.0, dtype))
    x = np.full((1, 1, 3, 3, 3), -np.inf, dtype)
    y = ops.maxpool3d(x, 3, 1, 1)
    assert np.all(y == -np.inf)
    dx = ops.maxpool3d_backward(x, np.ones_like(y), 3, 1, 1)
    assert dx.sum() == y.size                 # every window routed to a real cell
    assert np.all(np.isfinite(dx))


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_propagates_and_routes(dtype):
    x = _data((1, 1, 4, 4), dtype)
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 1, 0] = np.nan                   # a second NaN later in the same window
    x[0, 0, 0, 0] = 100.0                    # a large value before the NaN
    y = ops.maxpool2d(x, 2)
    assert np.isnan(y[0, 0, 0, 0])
    assert np.all(np.isfinite(y.reshape(-1)[1:]))
    dx = ops.maxpool2d_backward(x, np.ones_like(y), 2)
    assert dx[0, 0, 0, 1] == 1.0 and dx[0, 0, 0, 0] == 0.0 and dx[0, 0, 1, 0] == 0.0
    np.testing.assert_array_equal(dx, naive.maxpool2d_backward(x, np.ones_like(y), 2))
    x3 = _data((1, 1, 2, 4, 4), dtype)
    x3[0, 0, 1, 3, 3] = np.nan
    y3 = ops.maxpool3d(x3, 2)
    assert np.isnan(y3[0, 0, 0, 1, 1]) and np.isfinite(y3).sum() == 3
    dx3 = ops.maxpool3d_backward(x3, np.ones_like(y3), 2)
    assert dx3[0, 0, 1, 3, 3] == 1.0
    # NaN in the interior fast path of a wider row, and in a padded border window
    x = _data((1, 1, 3, 12), dtype)
    x[0, 0, 1, 5] = np.nan
    x[0, 0, 2, 0] = np.nan
    y = ops.maxpool2d(x, 3, 1, 1)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(naive.maxpool2d(x, 3, 1, 1)))
    assert np.isnan(y).sum() == 3 * 3 + 2 * 2      # rows 0-2 x cols 4-6, rows 1-2 x cols 0-1


@pytest.mark.parametrize("dims, case", [(2, ((2, 2, 5, 6), (3, 2), (2, 1), (1, 1))),
                                        (3, ((1, 2, 4, 3, 5), (2, 3, 2), (1, 2, 2), (1, 1, 0)))])
def test_gradient_float64(dims, case):
    forward, backward, _, _ = POOLS[dims]
    shape, kernel, stride, padding = case
    x = _data(shape, np.float64, seed=5)     # distinct values: max is differentiable
    y = forward(x, kernel, stride, padding)
    dy = _data(y.shape, np.float64, seed=6)
    analytic = backward(x, dy, kernel, stride, padding)
    assert_gradient(analytic, lambda v: forward(v, kernel, stride, padding), x.copy(), dy)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims, case", [(2, c) for c in CASES_2D[:9]] + [(3, c) for c in CASES_3D[:4]])
def test_matches_torch(dims, case, dtype):
    torch = pytest.importorskip("torch")
    forward, backward, _, _ = POOLS[dims]
    shape, kernel, stride, padding = case
    x = _data(shape, dtype, seed=7)
    torch_pool = torch.nn.functional.max_pool2d if dims == 2 else torch.nn.functional.max_pool3d
    xt = torch.from_numpy(x.copy()).requires_grad_()
    yt = torch_pool(xt, kernel, stride, padding)
    dy = _data(tuple(yt.shape), dtype, seed=8)
    yt.backward(torch.from_numpy(dy))
    y = forward(x, kernel, stride, padding)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    assert_close(backward(x, dy, kernel, stride, padding), xt.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_inputs(dtype):
    base = _data((2, 3, 9, 8), dtype, seed=9)
    for x in (base.swapaxes(2, 3), base[:, ::2, 1:, ::-1], base.transpose(1, 0, 2, 3)):
        assert not x.flags.c_contiguous
        y = ops.maxpool2d(x, 3, 2, 1)
        contiguous = np.ascontiguousarray(x)
        np.testing.assert_array_equal(y, naive.maxpool2d(contiguous, 3, 2, 1))
        dy_full = _data(y.shape[:2] + (y.shape[3], y.shape[2]), dtype, seed=10)
        dy = dy_full.swapaxes(2, 3)          # non-contiguous upstream gradient too
        assert_close(ops.maxpool2d_backward(x, dy, 3, 2, 1),
                     naive.maxpool2d_backward(contiguous, np.ascontiguousarray(dy), 3, 2, 1), dtype)
    x3 = _data((2, 2, 4, 6, 5), dtype).swapaxes(2, 4)
    np.testing.assert_array_equal(ops.maxpool3d(x3, 2), naive.maxpool3d(np.ascontiguousarray(x3), 2))


def test_bitwise_reproducible_across_thread_counts():
    x = _data((4, 8, 17, 19), np.float32, seed=11)
    dy = _data((4, 8, 9, 10), np.float32, seed=12)
    threads = fastnet.get_num_threads()
    try:
        fastnet.set_num_threads(1)
        one = ops.maxpool2d_backward(x, dy, 3, 2, 1)
        fastnet.set_num_threads(threads)
        many = ops.maxpool2d_backward(x, dy, 3, 2, 1)
    finally:
        fastnet.set_num_threads(threads)
    np.testing.assert_array_equal(one, many)


X4 = np.zeros((1, 1, 6, 6), np.float32)
BAD_2D = [
    (TypeError, r"x: expected dtype float32 or float64, got int64",
     lambda: ops.maxpool2d(np.zeros((1, 1, 4, 4), np.int64), 2)),
    (TypeError, r"x: expected a numpy.ndarray", lambda: ops.maxpool2d([[1.0]], 2)),
    (ValueError, r"x: expected a 4-D array, got 3-D", lambda: ops.maxpool2d(np.zeros((1, 4, 4), np.float32), 2)),
    (ValueError, r"kernel_size: expected an int or a tuple of 2 ints, got a tuple of length 3",
     lambda: ops.maxpool2d(X4, (2, 2, 2))),
    (TypeError, r"kernel_size: expected an int or a tuple of 2 ints, got float", lambda: ops.maxpool2d(X4, 2.0)),
    (TypeError, r"kernel_size: expected ints, got bool", lambda: ops.maxpool2d(X4, (True, 2))),
    (ValueError, r"kernel_size: every entry must be >= 1, got 0", lambda: ops.maxpool2d(X4, 0)),
    (ValueError, r"stride: every entry must be >= 1, got \(1, 0\)", lambda: ops.maxpool2d(X4, 2, (1, 0))),
    (ValueError, r"padding: every entry must be >= 0, got -1", lambda: ops.maxpool2d(X4, 2, 1, -1)),
    (ValueError, r"padding: must be at most kernel_size // 2 .* got padding 2 > 3 // 2 along W",
     lambda: ops.maxpool2d(X4, 3, 1, (1, 2))),
    (ValueError, r"kernel_size: window of 7 along H is larger than the padded input \(6 \+ padding 0 = 6\)",
     lambda: ops.maxpool2d(X4, (7, 2))),
    (ValueError, r"x: expected every spatial dimension >= 1, got W=0",
     lambda: ops.maxpool2d(np.zeros((1, 1, 4, 0), np.float32), 1)),
    (ValueError, r"dy: expected shape \(1, 1, 3, 3\), got \(1, 1, 2, 3\)",
     lambda: ops.maxpool2d_backward(X4, np.zeros((1, 1, 2, 3), np.float32), 2)),
    (TypeError, r"dy: dtype float64 does not match x dtype float32",
     lambda: ops.maxpool2d_backward(X4, np.zeros((1, 1, 3, 3)), 2)),
    (ValueError, r"dy: expected a 4-D array", lambda: ops.maxpool2d_backward(X4, np.zeros((3, 3), np.float32), 2)),
]
X5 = np.zeros((1, 1, 4, 4, 4))
BAD_3D = [
    (ValueError, r"x: expected a 5-D array, got 4-D", lambda: ops.maxpool3d(X4, 2)),
    (ValueError, r"kernel_size: expected an int or a tuple of 3 ints, got a tuple of length 2",
     lambda: ops.maxpool3d(X5, (2, 2))),
    (ValueError, r"stride: expected an int or a tuple of 3 ints", lambda: ops.maxpool3d(X5, 2, (1, 1))),
    (ValueError, r"padding: must be at most kernel_size // 2 .* along D", lambda: ops.maxpool3d(X5, 2, 1, (2, 0, 0))),
    (ValueError, r"kernel_size: window of 5 along W is larger", lambda: ops.maxpool3d(X5, (1, 1, 5))),
    (ValueError, r"dy: expected shape \(1, 1, 2, 2, 2\)",
     lambda: ops.maxpool3d_backward(X5, np.zeros((1, 1, 2, 2, 1)), 2)),
    (TypeError, r"dy: dtype float32 does not match x dtype float64",
     lambda: ops.maxpool3d_backward(X5, np.zeros((1, 1, 2, 2, 2), np.float32), 2)),
]


@pytest.mark.parametrize("error, message, call", BAD_2D + BAD_3D,
                         ids=[f"{i}-{m[:30]}" for i, (_, m, _) in enumerate(BAD_2D + BAD_3D)])
def test_bad_inputs(error, message, call):
    with pytest.raises(error, match=message):
        call()

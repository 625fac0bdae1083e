"""The course's worked max-pooling examples, checked against fastnet.ops."""

import numpy as np
import pytest

from fastnet import ops
from fastnet.reference import naive
from helpers import DTYPES

# The 4x4 input from the slides ("maxpool, 2x2 filters (stride 2)").
SLIDE_INPUT = np.array([[1, 4, 2, 1],
                        [5, 8, 3, 4],
                        [7, 6, 4, 5],
                        [1, 3, 1, 2]], dtype=np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_slide_example_2x2_stride_2(dtype):
    x = SLIDE_INPUT.astype(dtype)[None, None]
    y = ops.maxpool2d(x, 2, 2)
    assert y.shape == (1, 1, 2, 2) and y.dtype == dtype
    np.testing.assert_array_equal(y[0, 0], [[8, 4], [7, 5]])
    # the gradient flows back to the position of each maximum
    dx = ops.maxpool2d_backward(x, np.array([[[[1, 2], [3, 4]]]], dtype), 2, 2)
    np.testing.assert_array_equal(dx[0, 0], [[0, 0, 0, 0],
                                             [0, 1, 0, 2],
                                             [3, 0, 0, 4],
                                             [0, 0, 0, 0]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_slide_example_2x2_stride_1(dtype):
    x = SLIDE_INPUT.astype(dtype)[None, None]
    y = ops.maxpool2d(x, 2, 1)
    assert y.shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(y[0, 0], [[8, 8, 4],
                                            [8, 8, 5],
                                            [7, 6, 5]])
    np.testing.assert_array_equal(y, naive.maxpool2d(x, 2, 1))
    # the 8 wins four overlapping windows and collects all four gradients
    dx = ops.maxpool2d_backward(x, np.ones_like(y), 2, 1)
    assert dx[0, 0, 1, 1] == 4 and dx.sum() == 9


def test_alexnet_pooling_arithmetic():
    """AlexNet's overlapping pooling: 3x3 windows, stride 2, 55x55 -> 27x27."""
    x = np.random.default_rng(0).standard_normal((1, 2, 55, 55)).astype(np.float32)
    y = ops.maxpool2d(x, 3, 2)
    assert y.shape == (1, 2, 27, 27)
    assert (55 - 3) // 2 + 1 == 27
    np.testing.assert_array_equal(y[0, 1, 13, 26], x[0, 1, 26:29, 52:55].max())

"""The shared argument checks of fastnet._validate."""

import numpy as np
import pytest

from fastnet import _validate


@pytest.mark.parametrize("value, error, message", [
    ([1.0, 2.0], TypeError, "x: expected a numpy.ndarray .* got list"),
    (np.zeros(3, np.int64), TypeError, "x: expected dtype float32 or float64, got int64"),
    (np.zeros(3, np.float16), TypeError, "x: expected dtype float32 or float64, got float16"),
    (np.zeros(3, np.complex64), TypeError, "got complex64"),
    (np.zeros(3, bool), TypeError, "got bool"),
    (np.zeros((2, 3), np.float32), ValueError, r"x: expected a 4-D array, got 2-D with shape \(2, 3\)"),
])
def test_float_array_rejects(value, error, message):
    with pytest.raises(error, match=message):
        _validate.float_array(value, "x", ndim=4)


def test_float_array_makes_views_contiguous():
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    view = base[:, ::2].T
    out = _validate.float_array(view, "x", ndim=2)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, view)


def test_same_dtype():
    a, b = np.zeros(2, np.float32), np.zeros(2, np.float64)
    assert _validate.same_dtype(x=a, b=None) == np.float32
    with pytest.raises(TypeError, match="w: dtype float64 does not match x dtype float32"):
        _validate.same_dtype(x=a, w=b)


@pytest.mark.parametrize("value, expected", [(2, (2, 2)), ((1, 3), (1, 3)), (np.int64(4), (4, 4)), ([0, 1], (0, 1))])
def test_int_tuple_accepts(value, expected):
    assert _validate.int_tuple(value, "stride", 2, minimum=0) == expected


@pytest.mark.parametrize("value, error, message", [
    ((1, 2, 3), ValueError, "stride: expected an int or a tuple of 2 ints, got a tuple of length 3"),
    (0, ValueError, "stride: every entry must be >= 1, got 0"),
    ((1, -1), ValueError, r"stride: every entry must be >= 1, got \(1, -1\)"),
    (1.0, TypeError, "stride: expected an int or a tuple of 2 ints, got float"),
    (True, TypeError, "got bool"),
    ((1, 2.0), TypeError, "stride: expected ints, got float"),
])
def test_int_tuple_rejects(value, error, message):
    with pytest.raises(error, match=message):
        _validate.int_tuple(value, "stride", 2, minimum=1)


def test_window_output_size_formula_and_error():
    # The lectures' formula W2 = (W1 - F + 2P) / S + 1, floored: AlexNet conv1 227 -> 55.
    assert _validate.window_output_size(227, 11, 4, 0, 0, "width", "w") == 55
    assert _validate.window_output_size(5, 3, 2, 1, 1, "width", "w") == 3
    assert _validate.window_output_size(4, 4, 1, 0, 0, "width", "w") == 1
    with pytest.raises(ValueError, match="w: window of 6 along width is larger than the padded input"):
        _validate.window_output_size(4, 6, 1, 0, 0, "width", "w")


def test_float_array_keeps_zero_d_shape():
    out = _validate.float_array(np.array(3.0), "x")
    assert out.shape == () and out.dtype == np.float64

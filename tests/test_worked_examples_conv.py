"""The lectures' convolution examples (/work/shared/seeds/003_*.txt, "Convolutional Neural Networks").

* A 2x2 kernel [[w, x], [y, z]] slid over a 3x4 input [[a, b, c, d], [e, f, g, h], [i, j, k, l]]
  gives the 2x3 output [[aw+bx+ey+fz, bw+cx+fy+gz, cw+dx+gy+hz], [ew+fx+iy+jz, fw+gx+jy+kz,
  gw+hx+ky+lz]] (cross-correlation, no padding, stride 1).
* Output size W2 = (W1 - F + 2P) / S + 1: AlexNet conv1 227x227x3, 96 filters 11x11, S=4, P=0 gives
  55x55x96; conv2 27x27x96, 256 filters 5x5, S=1, P=0 gives 23x23x256 with (5*5*96)*256 weights.
"""

import itertools

import numpy as np
import pytest

from fastnet.ops import conv2d, conv2d_backward

INPUT = ["abcd", "efgh", "ijkl"]
KERNEL = ["wx", "yz"]
EXPECTED = [["aw+bx+ey+fz", "bw+cx+fy+gz", "cw+dx+gy+hz"],
            ["ew+fx+iy+jz", "fw+gx+jy+kz", "gw+hx+ky+lz"]]


def _one_hot(letters, letter):
    return np.array([[1.0 if ch == letter else 0.0 for ch in row] for row in letters])


def test_toy_example_term_by_term():
    """The output is bilinear in (input, kernel): set one input letter and one kernel letter to 1
    and everything else to 0; the output is 1 exactly where the lecture's expression has that
    product term, and 0 elsewhere."""
    for in_letter, k_letter in itertools.product("abcdefghijkl", "wxyz"):
        x = _one_hot(INPUT, in_letter)[None, None]
        w = _one_hot(KERNEL, k_letter)[None, None]
        y = conv2d(x, w)
        assert y.shape == (1, 1, 2, 3)
        term = in_letter + k_letter
        expected = np.array([[1.0 if term in expr.split("+") else 0.0 for expr in row]
                             for row in EXPECTED])
        assert np.array_equal(y[0, 0], expected), term


def test_toy_example_with_distinct_values():
    """Distinct values (a=2, b=3, ..., primes-like spacing) evaluated exactly in float64."""
    values = dict(zip("abcdefghijkl", [2.0, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37]))
    values.update(w=0.5, x=-1.0, y=4.0, z=0.25)
    x = np.array([[values[ch] for ch in row] for row in INPUT])[None, None]
    w = np.array([[values[ch] for ch in row] for row in KERNEL])[None, None]
    y = conv2d(x, w)
    assert y.shape == (1, 1, 2, 3) and y.dtype == np.float64
    for r, row in enumerate(EXPECTED):
        for col, expr in enumerate(row):
            expected = sum(values[t[0]] * values[t[1]] for t in expr.split("+"))
            assert y[0, 0, r, col] == expected, expr
    # and its gradient: d(sum y)/dw sums the input letters each kernel tap touches
    dx, dw, db = conv2d_backward(x, w, np.ones_like(y))
    assert dw[0, 0, 0, 0] == sum(values[ch] for ch in "abcefg")   # w multiplies a,b,c,e,f,g
    assert db[0] == 6.0


@pytest.mark.parametrize("w1, f, p, s, w2", [(227, 11, 0, 4, 55), (27, 5, 0, 1, 23)])
def test_output_size_formula(w1, f, p, s, w2):
    assert (w1 - f + 2 * p) // s + 1 == w2
    y = conv2d(np.zeros((1, 1, w1, w1), np.float32), np.zeros((1, 1, f, f), np.float32),
               stride=s, padding=p)
    assert y.shape == (1, 1, w2, w2)


def test_alexnet_conv1_shape_227_to_55():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 227, 227)).astype(np.float32)
    w = rng.standard_normal((96, 3, 11, 11)).astype(np.float32)
    y = conv2d(x, w, stride=4, padding=0)
    assert y.shape == (1, 96, 55, 55) and y.dtype == np.float32
    # spot check one output against its explicit window
    k, i, j = 17, 54, 21
    expected = float(np.sum(w[k].astype(np.float64) * x[0, :, 4 * i:4 * i + 11, 4 * j:4 * j + 11]))
    assert abs(float(y[0, k, i, j]) - expected) < 1e-3


def test_alexnet_conv2_shape_27_to_23():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 96, 27, 27)).astype(np.float32)
    w = rng.standard_normal((16, 96, 5, 5)).astype(np.float32)   # 16 of the 256 filters
    y = conv2d(x, w, stride=1, padding=0)
    assert y.shape == (1, 16, 23, 23)
    expected = float(np.sum(w[3].astype(np.float64) * x[0, :, 22:27, 0:5]))
    assert abs(float(y[0, 3, 22, 0]) - expected) < 1e-3

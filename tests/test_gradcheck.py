"""fastnet.gradcheck: passes correct gradients, names the worst element of wrong ones, checks layers."""

import numpy as np
import pytest

import fastnet
from fastnet import ops
from fastnet.layers import Conv2d, Dense, ReLU
from helpers import rng


def test_op_form_returns_what_it_compared():
    x, w = rng(0).standard_normal((3, 4)), rng(1).standard_normal((2, 4))
    compared = fastnet.gradcheck(ops.dense, (x, w, None), backward=lambda x, w, b, dy: ops.dense_backward(x, w, dy)[:2])
    assert [c.name for c in compared] == ["input 0", "input 1"]
    assert compared[0].analytic.shape == x.shape and compared[1].numeric.shape == w.shape
    assert all(c.max_abs_error < 1e-7 for c in compared)


def test_wrong_gradient_names_the_worst_element():
    x = rng(2).standard_normal((3, 4))

    def wrong_backward(x, dy):
        dx = dy * (1 - np.tanh(x) ** 2)
        dx[1, 2] += 0.5                       # one wrong element
        return dx

    with pytest.raises(fastnet.GradcheckError, match=r"input 0 at index \(1, 2\).*1 of 12 elements fail"):
        fastnet.gradcheck(np.tanh, x, backward=wrong_backward)


def test_layer_and_model_form():
    layer = Conv2d(2, 3, 3, padding=1, dtype=np.float64, seed=0)
    compared = fastnet.gradcheck(layer, rng(3).standard_normal((2, 2, 4, 4)), atol=1e-7, rtol=1e-6)
    assert [c.name for c in compared] == ["input 0", "weight", "bias"]
    assert np.all(layer.weight.grad == 0)                    # the layer's grads are left as found
    model = fastnet.Sequential([Dense(4, 5, dtype=np.float64, seed=1), ReLU(), Dense(5, 2, dtype=np.float64, seed=2)])
    names = [c.name for c in fastnet.gradcheck(model, rng(4).standard_normal((3, 4)), atol=1e-7, rtol=1e-6)]
    assert names == ["input 0", "layer 0 weight", "layer 0 bias", "layer 2 weight", "layer 2 bias"]


def test_bad_arguments():
    x32 = np.zeros((2, 2), np.float32)
    with pytest.raises(TypeError, match="float64"):
        fastnet.gradcheck(ops.relu, x32, backward=ops.relu_backward)
    with pytest.raises(TypeError, match="float64"):
        fastnet.gradcheck(Dense(2, 2), x32.astype(np.float64))
    with pytest.raises(TypeError, match="backward"):
        fastnet.gradcheck(ops.relu, x32.astype(np.float64))
    with pytest.raises(ValueError, match="eps"):
        fastnet.gradcheck(ops.relu, x32.astype(np.float64), backward=ops.relu_backward, eps=0)

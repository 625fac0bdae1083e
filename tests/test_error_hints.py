"""The hints a newcomer needs in error messages: batch axis, NCHW vs NHWC, Flatten, class indices
vs one-hot, the layer in front of an op's error, NaN in the data. Every message is matched on its hint."""

import numpy as np
import pytest

from fastnet import losses, ops, zoo
from fastnet._validate import batch_ndim, channels_first, class_indices, finite_data
from fastnet.layers import Conv2d, Conv3d, Dense, Layer, MaxPool2d, ReLU
from fastnet.model import Sequential

f32 = np.float32


def test_single_sample_needs_a_batch_axis():
    with pytest.raises(ValueError, match=r"^Conv2d\(1, 6, kernel_size=3\): x: expected a 4-D array \(N, C, H, W\), "
                                         r"got 3-D \(1, 8, 8\): add a batch axis, e.g. x\[None\]"):
        Conv2d(1, 6, 3)(np.zeros((1, 8, 8), f32))
    with pytest.raises(ValueError, match=r"got 2-D \(8, 8\): add a batch and a channel axis, e.g. x\[None, None\]"):
        Conv2d(1, 6, 3)(np.zeros((8, 8), f32))
    with pytest.raises(ValueError, match=r"5-D array \(N, C, D, H, W\), got 4-D .*add a batch axis"):
        Conv3d(1, 2, 3)(np.zeros((1, 4, 4, 4), f32))
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=2\): x: .*add a batch axis, e.g. x\[None\]"):
        MaxPool2d(2)(np.zeros((1, 8, 8), f32))
    with pytest.raises(ValueError, match=r"Dense\(64, 10\): x: expected a 2-D array \(N, features\), got 1-D "
                                         r"\(64,\): add a batch axis"):
        Dense(64, 10)(np.zeros(64, f32))
    # through a whole model, as a newcomer calls it
    with pytest.raises(ValueError, match=r"add a batch axis, e.g. x\[None\]"):
        zoo.lenet5(seed=0)(np.zeros((1, 8, 8), f32))


def test_images_into_dense_suggest_flatten():
    with pytest.raises(ValueError, match=r"got 4-D \(2, 1, 8, 8\): put a Flatten\(\) layer in front"):
        Dense(64, 10)(np.zeros((2, 1, 8, 8), f32))


def test_channels_last_input_suggests_nchw():
    with pytest.raises(ValueError, match=r"expected 1 channels \(axis 1\), got shape \(2, 8, 8, 1\): the channels look "
                                         r"like the last axis \(NHWC\); fastnet expects NCHW .*x.transpose\(0, 3, 1, 2\)"):
        Conv2d(1, 6, 3)(np.zeros((2, 8, 8, 1), f32))
    with pytest.raises(ValueError, match=r"\(NDHWC\); fastnet expects NCDHW .*x.transpose\(0, 4, 1, 2, 3\)"):
        Conv3d(3, 2, 3)(np.zeros((2, 5, 5, 5, 3), f32))
    with pytest.raises(ValueError, match=r"expected 3 channels \(axis 1\), got shape \(1, 2, 5, 5\)$"):
        Conv2d(3, 2, 3)(np.zeros((1, 2, 5, 5), f32))  # no hint when the last axis does not fit either
    channels_first(np.zeros((1, 3, 5, 5)), 3)  # passes


@pytest.mark.parametrize("labels, error, hint", [
    (np.eye(4, dtype=f32)[[0, 1, 3]], TypeError, r"class indices \(N,\) int; got one-hot float32 \(3, 4\): use y.argmax\(1\)"),
    (np.eye(4, dtype=np.int64)[[0, 1, 3]], ValueError, r"class indices \(N,\) int; got one-hot int64 .*y.argmax\(1\)"),
    (np.array([0.0, 1.0, 3.0]), TypeError, r"expected an integer dtype, got float64: class indices .*y.astype\(np.int64\)"),
    (np.zeros((3, 1), np.int64), ValueError, r"expected a 1-D array, got 2-D .*class indices \(N,\) int"),
])
def test_one_hot_labels_get_the_class_indices_hint(labels, error, hint):
    logits = np.zeros((3, 4), f32)
    with pytest.raises(error, match="labels: .*" + hint):
        ops.cross_entropy(logits, labels)
    with pytest.raises(error, match=hint):
        losses.CrossEntropy()(logits, labels)
    with pytest.raises(error, match=hint):
        class_indices(labels, "labels", num_classes=4)


def test_one_hot_labels_in_fit():
    x = np.zeros((6, 64), f32)
    y = np.eye(10, dtype=f32)[[0, 1, 2, 3, 4, 5]]
    model = zoo.mlp((64, 10), seed=0)
    with pytest.raises(TypeError, match=r"one-hot float32 \(6, 10\): use y.argmax\(1\)"):
        model.fit(x, y, "cross_entropy", "sgd", verbose=0)


def test_op_errors_inside_a_layer_name_the_layer():
    layer = Conv2d(1, 6, kernel_size=11)
    with pytest.raises(ValueError, match=r"^Conv2d\(1, 6, kernel_size=11\): w: window of 11 along H is larger") as info:
        layer(np.zeros((2, 1, 8, 8), f32))
    assert type(info.value) is ValueError
    model = Sequential([layer, ReLU()])
    with pytest.raises(ValueError, match=r"^Conv2d\(1, 6, kernel_size=11\): w: window of 11"):
        model(np.zeros((2, 1, 8, 8), f32))
    layer = Dense(3, 2)
    layer(np.zeros((1, 3), f32))
    with pytest.raises(TypeError, match=r"^Dense\(3, 2\): dy: expected dtype float32"):  # backward too, once
        layer.backward(np.zeros((1, 2)))


def test_custom_layers_get_the_prefix_once():
    class Picky(Layer):
        def forward(self, x):
            raise TypeError("x: I only eat float16")

        def backward(self, dy, input_grad=True):
            raise ValueError("dy: no")

    class Pickier(Picky):
        def forward(self, x):
            return super().forward(x)

    with pytest.raises(TypeError, match=r"^Picky\(\): x: I only eat float16$"):
        Picky()(np.zeros(2))
    with pytest.raises(ValueError, match=r"^Picky\(\): dy: no$"):
        Picky().backward(np.zeros(2))
    with pytest.raises(TypeError, match=r"^Pickier\(\): x: I only eat float16$"):  # not "Pickier(): Pickier(): "
        Pickier()(np.zeros(2))

    class Broken(Layer):
        def forward(self, x):
            raise RuntimeError("other errors pass through unchanged")

    with pytest.raises(RuntimeError, match="^other errors"):
        Broken()(np.zeros(2))


def test_nan_in_the_data_is_named_by_index_not_blamed_on_the_learning_rate():
    x = np.ones((5, 2, 3), f32)
    x[3, 1, 2] = np.nan
    with pytest.raises(ValueError, match=r"x: the data holds 1 non-finite value\(s\) \(NaN or inf\); the first is nan "
                                         r"at index \(3, 1, 2\) \(sample 3\)\. Clean or drop those samples") as info:
        finite_data(x, "x")
    assert "learning rate" not in str(info.value)
    with pytest.raises(ValueError, match=r"y: .* -inf at index 2 \(sample 2\)"):
        finite_data(np.array([0.0, 1.0, -np.inf]), "y")
    finite_data(np.array([1, 2, 3]), "y")  # integers are always finite
    big = np.zeros((10000, 3))
    big[9999, 2] = np.inf  # found in a later chunk
    with pytest.raises(ValueError, match=r"index \(9999, 2\) \(sample 9999\)"):
        finite_data(big, "x", chunk=4096)


def test_batch_ndim_passes_the_right_shape():
    batch_ndim(np.zeros((2, 3)), 2)
    with pytest.raises(ValueError, match=r"^x: expected a 2-D array \(N, features\), got 3-D"):
        batch_ndim(np.zeros((2, 3, 4)), 2)

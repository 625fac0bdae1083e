"""The lectures' ImageNet networks: AlexNet, ZFNet and VGG-16 reproduce the slides' arithmetic."""

import numpy as np
import pytest

from fastnet import zoo
from fastnet.layers import Conv2d, Dense, Dropout, MaxPool2d


def _rows(model, shape):
    return model.summary(shape, print_fn=None).rows


def _by_type(rows, model, cls):
    return [r for r, layer in zip(rows, model.layers) if type(layer) is cls]


def test_alexnet_lectures_arithmetic():
    model = zoo.alexnet()
    rows = _rows(model, (3, 227, 227))
    spatial = [r["output_shape"][1] for r in rows if len(r["output_shape"]) == 3
               and not r["layer"].split(": ")[1].startswith("ReLU")]
    assert spatial == [55, 27, 23, 11, 9, 7, 5, 2]               # the slides' W2 = (W1 - F + 2P)/S + 1
    convs = _by_type(rows, model, Conv2d)
    assert [r["weights"] for r in convs] == [11 * 11 * 3 * 96, 5 * 5 * 96 * 256, 3 * 3 * 256 * 384,
                                             3 * 3 * 384 * 384, 3 * 3 * 384 * 256]
    formulas = [r["weights_formula"] for r in convs]
    assert formulas[1] == "(5x5x96)x256 = 0.6144M"               # the slides' 0.6M
    assert formulas[3] == "(3x3x384)x384 = 1.327M"               # the slides' 1.327M
    assert formulas[2].startswith("(3x3x256)x384 = 0.88") and formulas[4].startswith("(3x3x384)x256 = 0.88")
    fcs = _by_type(rows, model, Dense)
    assert [r["weights_formula"] for r in fcs] == ["(2x2x256)x4096 = 4.194M", "4096x4096 = 16.78M",
                                                   "4096x1000 = 4.096M"]   # the slides' 4M, 16M, 4M
    assert all(r["params"] == 0 for r in _by_type(rows, model, MaxPool2d))   # "Parameters: 0"
    weights = sum(r["weights"] for r in rows)
    assert weights == 28_813_344 and model.num_parameters() == 28_823_912   # + 10,568 biases
    assert sum(isinstance(layer, Dropout) for layer in model.layers) == 2
    text = str(model.summary((3, 227, 227), print_fn=None))
    assert "Total params: 28,823,912" in text and "(N, 256, 2, 2)" in text


def test_alexnet_original_and_zfnet():
    original = zoo.alexnet(variant="original", num_classes=10)
    rows = _rows(original, (3, 227, 227))
    assert [r["output_shape"][1] for r in rows if len(r["output_shape"]) == 3][-1] == 6
    assert original.num_parameters() == 62_378_344 - 4096 * 990 - 990
    zf = zoo.zfnet()
    alex = zoo.alexnet()
    zf_rows, alex_rows = _rows(zf, (3, 227, 227)), _rows(alex, (3, 227, 227))
    zf_conv = [r["weights"] for r in _by_type(zf_rows, zf, Conv2d)]
    alex_conv = [r["weights"] for r in _by_type(alex_rows, alex, Conv2d)]
    assert [r["output_shape"][1] for r in _by_type(zf_rows, zf, Conv2d)] == [56, 23, 9, 7, 5]
    # the slides' differences: layer 1 F = 11 -> 7, ((11 - 7) x (11 - 7) x 3) x 96 = 4.6K on their
    # arithmetic (the exact difference is (11x11 - 7x7) x 3 x 96); layer 5 (3x3x256) x (512 - 384) = 0.29M
    assert alex_conv[0] - zf_conv[0] == (11 * 11 - 7 * 7) * 3 * 96
    assert (11 - 7) * (11 - 7) * 3 * 96 == 4608
    assert zf_conv[2] - alex_conv[2] == 3 * 3 * 256 * (512 - 384) == 294_912
    assert zf_conv[1] == alex_conv[1]                            # "Layer2: No difference"
    assert [r["weights_formula"] for r in _by_type(zf_rows, zf, Conv2d)][3] == "(3x3x512)x1024 = 4.719M"
    assert zf.num_parameters() == 40_518_760


def test_vgg16_has_138_million_parameters():
    model = zoo.vgg16()                       # allocated once: 553 MB of float32 weights
    try:
        rows = _rows(model, (3, 224, 224))
        assert model.num_parameters() == 138_357_544
        convs = _by_type(rows, model, Conv2d)
        assert len(convs) == 13 and all(r["weights_formula"].startswith("(3x3x") for r in convs)
        conv_params = sum(r["params"] for r in convs)
        assert conv_params == 14_714_688                          # the slides' "~16M" in non-FC layers
        fc = _by_type(rows, model, Dense)
        assert fc[0]["weights_formula"] == "(7x7x512)x4096 = 102.8M"   # "most parameters ... ~102M"
        assert sum(r["weights"] for r in fc) == 512 * 7 * 7 * 4096 + 4096 * 4096 + 4096 * 1000
        assert [r["output_shape"][1] for r, layer in zip(rows, model.layers)
                if isinstance(layer, MaxPool2d)] == [112, 56, 28, 14, 7]
    finally:
        del model


def test_zoo_arguments():
    small = zoo.alexnet(num_classes=10, in_channels=1, dtype=np.float64, seed=3)
    assert small.dtype == np.float64 and small.layers[0].in_channels == 1
    assert small.layers[-1].out_features == 10
    np.testing.assert_array_equal(zoo.zfnet(num_classes=5, seed=1).get_weights()[0],
                                  zoo.zfnet(num_classes=5, seed=1).get_weights()[0])
    with pytest.raises(ValueError, match="variant"):
        zoo.alexnet(variant="padded")
    with pytest.raises(ValueError, match="num_classes"):
        zoo.vgg16(num_classes=0)

"""Ready-made models: LeNet-5, multilayer perceptrons, and the lectures' ImageNet networks (AlexNet,
ZFNet, VGG-16), shared by the examples, the ``train`` job, the tests and the benchmarks."""

import numbers

import numpy as np

from .layers import Conv2d, Dense, Dropout, Flatten, MaxPool2d, ReLU, Sigmoid, Tanh, _generator
from .model import Sequential

ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
# He/Kaiming initialisation for ReLU networks, Xavier/Glorot for sigmoid and tanh.
DEFAULT_INIT = {"relu": "he", "sigmoid": "xavier", "tanh": "xavier"}


def _activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {', '.join(map(repr, ACTIVATIONS))}, got {name!r}")
    return ACTIVATIONS[name]


def lenet5(dtype=np.float32, seed=0, activation="relu", input_size=8, in_channels=1, num_classes=10,
           kernel_size=None, channels=(6, 16)):
    """LeNet-5: conv-pool-conv-pool-dense-dense-dense (LeCun et al., 1998), for square images.

    For ``input_size`` >= 28 (MNIST) it is the classic network: conv 5x5 (6 maps, padding 2), pool 2,
    conv 5x5 (16 maps), pool 2, dense 120, dense 84, dense ``num_classes``. For smaller images (the
    8x8 built-in digits) the convolutions are 3x3 with padding 1, so the maps go 8x8 -> 4x4 -> 2x2.
    Max pooling replaces the original subsampling layers and the output is raw logits (pair it with
    ``losses.CrossEntropy``).

    Parameters
    ----------
    dtype : float32 (default) or float64
    seed : int, numpy.random.Generator or None, default 0
        Seeds every layer's initialisation (one generator, drawn from in layer order).
    activation : "relu" (default, He init), "tanh" or "sigmoid" (Xavier init)
    input_size : int, default 8
        Height and width of the input images.
    in_channels : int, default 1
    num_classes : int, default 10
    channels : (int, int), default (6, 16)
        Feature maps of the two convolutions (LeNet-5's 6 and 16).
    kernel_size : int, optional
        Convolution kernel size (odd); default 5 for input_size >= 28, else 3.

    Returns
    -------
    Sequential taking (N, in_channels, input_size, input_size) and returning (N, num_classes) logits.
    """
    act = _activation(activation)
    init = DEFAULT_INIT[activation]
    if isinstance(input_size, bool) or not isinstance(input_size, (numbers.Integral, np.integer)) or input_size < 4:
        raise ValueError(f"input_size: expected an int >= 4, got {input_size!r}")
    c1, c2 = (int(c) for c in channels)
    rng = _generator(seed)
    if input_size >= 28:
        k = 5 if kernel_size is None else kernel_size
        k1, p1, k2, p2 = k, k // 2, k, 0
    else:
        k = 3 if kernel_size is None else kernel_size
        k1, p1, k2, p2 = k, k // 2, k, k // 2
    features = [
        Conv2d(in_channels, c1, k1, padding=p1, dtype=dtype, init=init, seed=rng), act(),
        MaxPool2d(2),
        Conv2d(c1, c2, k2, padding=p2, dtype=dtype, init=init, seed=rng), act(),
        MaxPool2d(2),
        Flatten(),
    ]
    shape = (in_channels, int(input_size), int(input_size))
    for layer in features:
        shape = layer.output_shape(shape)
    flat = shape[0]
    classifier = [
        Dense(flat, 120, dtype=dtype, init=init, seed=rng), act(),
        Dense(120, 84, dtype=dtype, init=init, seed=rng), act(),
        Dense(84, num_classes, dtype=dtype, init="xavier", seed=rng),
    ]
    return Sequential(features + classifier)


def mlp(sizes=(64, 64, 10), activation="sigmoid", dtype=np.float32, seed=0, flatten=True):
    """A multilayer perceptron: Dense layers of the given sizes with an activation between them.

    Parameters
    ----------
    sizes : sequence of int, at least 2
        ``(in_features, hidden_1, ..., out_features)``; e.g. ``(64, 64, 10)`` for the flattened digits.
    activation : "sigmoid" (default, Xavier init), "tanh" (Xavier) or "relu" (He)
        Applied after every Dense layer but the last (the output is raw scores/logits).
    dtype : float32 (default) or float64
    seed : int, numpy.random.Generator or None, default 0
    flatten : bool, default True
        Start with a Flatten layer, so that images (N, 1, 8, 8) can be fed directly.

    Returns
    -------
    Sequential taking (N, sizes[0]) (or (N, ...) with ``prod(...) == sizes[0]`` when ``flatten``) and
    returning (N, sizes[-1]).
    """
    act = _activation(activation)
    init = DEFAULT_INIT[activation]
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes: expected at least (in_features, out_features), got {sizes!r}")
    rng = _generator(seed)
    layers = [Flatten()] if flatten else []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        layers.append(Dense(n_in, n_out, dtype=dtype, init="xavier" if last else init, seed=rng))
        if not last:
            layers.append(act())
    return Sequential(layers)


# --- issue 12: the lectures' ImageNet networks -------------------------------------------------------

def _check_common(num_classes, in_channels):
    for value, name in ((num_classes, "num_classes"), (in_channels, "in_channels")):
        if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < 1:
            raise ValueError(f"{name}: expected a positive int, got {value!r}")


def _classifier(flat, num_classes, dropout, dtype, rng):
    """FC 4096 -> ReLU -> Dropout -> FC 4096 -> ReLU -> Dropout -> FC num_classes (AlexNet, VGG)."""
    seeds = rng.integers(0, 2**31, size=2)
    return [Flatten(),
            Dense(flat, 4096, dtype=dtype, init="he", seed=rng), ReLU(), Dropout(dropout, seed=int(seeds[0])),
            Dense(4096, 4096, dtype=dtype, init="he", seed=rng), ReLU(), Dropout(dropout, seed=int(seeds[1])),
            Dense(4096, num_classes, dtype=dtype, init="xavier", seed=rng)]


def _conv_stack(spec, in_channels, dtype, rng):
    """Layers from ("conv", K, F, S, P) and ("pool", F, S) entries, a ReLU after each conv."""
    layers, channels = [], in_channels
    for entry in spec:
        if entry[0] == "conv":
            _, k, f, stride, padding = entry
            layers += [Conv2d(channels, k, f, stride=stride, padding=padding, dtype=dtype, init="he", seed=rng),
                       ReLU()]
            channels = k
        else:
            _, f, stride = entry
            layers.append(MaxPool2d(f, stride=stride))
    return layers


ALEXNET_LECTURES = [("conv", 96, 11, 4, 0), ("pool", 3, 2), ("conv", 256, 5, 1, 0), ("pool", 3, 2),
                    ("conv", 384, 3, 1, 0), ("conv", 384, 3, 1, 0), ("conv", 256, 3, 1, 0), ("pool", 3, 2)]
ALEXNET_ORIGINAL = [("conv", 96, 11, 4, 0), ("pool", 3, 2), ("conv", 256, 5, 1, 2), ("pool", 3, 2),
                    ("conv", 384, 3, 1, 1), ("conv", 384, 3, 1, 1), ("conv", 256, 3, 1, 1), ("pool", 3, 2)]
ZFNET_LECTURES = [("conv", 96, 7, 4, 0), ("pool", 3, 2), ("conv", 256, 5, 1, 0), ("pool", 3, 2),
                  ("conv", 512, 3, 1, 0), ("conv", 1024, 3, 1, 0), ("conv", 512, 3, 1, 0), ("pool", 3, 2)]
VGG16 = [("conv", 64, 3, 1, 1), ("conv", 64, 3, 1, 1), ("pool", 2, 2),
         ("conv", 128, 3, 1, 1), ("conv", 128, 3, 1, 1), ("pool", 2, 2),
         ("conv", 256, 3, 1, 1), ("conv", 256, 3, 1, 1), ("conv", 256, 3, 1, 1), ("pool", 2, 2),
         ("conv", 512, 3, 1, 1), ("conv", 512, 3, 1, 1), ("conv", 512, 3, 1, 1), ("pool", 2, 2),
         ("conv", 512, 3, 1, 1), ("conv", 512, 3, 1, 1), ("conv", 512, 3, 1, 1), ("pool", 2, 2)]


def _imagenet_net(spec, input_size, num_classes, in_channels, dtype, seed, dropout):
    _check_common(num_classes, in_channels)
    rng = _generator(seed)
    features = _conv_stack(spec, in_channels, dtype, rng)
    shape = (in_channels, input_size, input_size)
    for layer in features:
        shape = layer.output_shape(shape)
    return Sequential(features + _classifier(int(np.prod(shape)), num_classes, dropout, dtype, rng))


def alexnet(num_classes=1000, in_channels=3, dtype=np.float32, seed=0, variant="lectures", dropout=0.5):
    """AlexNet (Krizhevsky et al., 2012) for 227x227 images, as one tower, without LRN.

    ``variant="lectures"`` (default): the lectures' unpadded network, whose arithmetic the slides
    walk through: conv 96 11x11/4 -> 55x55, max-pool 3/2 -> 27, conv 256 5x5 -> 23, pool -> 11,
    conv 384 3x3 -> 9, conv 384 3x3 -> 7, conv 256 3x3 -> 5, pool -> 2, FC 4096, FC 4096, FC
    ``num_classes``; weights (11x11x3)x96 = 34.8K, (5x5x96)x256 = 0.6M, (3x3x256)x384 = 0.8M,
    (3x3x384)x384 = 1.327M, (3x3x384)x256 = 0.8M, (2x2x256)x4096 = 4M, 4096x4096 = 16M,
    4096x1000 = 4M (28,823,912 parameters with the biases).

    ``variant="original"``: the published, padded network (conv2 padding 2, conv3-5 padding 1):
    55, 27, 27, 13, 13, 13, 13, 6, FC (6x6x256)x4096; 62,378,344 parameters.

    ReLU after every convolution and hidden FC layer (He initialisation), dropout after the two
    hidden FC layers (identity in eval mode), raw logits out (pair with ``losses.CrossEntropy``).

    Parameters
    ----------
    num_classes : int, default 1000
    in_channels : int, default 3
    dtype : float32 (default) or float64
    seed : int, numpy.random.Generator or None, default 0 (initialisation and the dropout masks)
    variant : "lectures" (default) or "original"
    dropout : float in [0, 1), default 0.5

    Returns
    -------
    Sequential taking (N, in_channels, 227, 227) and returning (N, num_classes).
    """
    specs = {"lectures": ALEXNET_LECTURES, "original": ALEXNET_ORIGINAL}
    if variant not in specs:
        raise ValueError(f"variant: expected 'lectures' or 'original', got {variant!r}")
    return _imagenet_net(specs[variant], 227, num_classes, in_channels, dtype, seed, dropout)


def zfnet(num_classes=1000, in_channels=3, dtype=np.float32, seed=0, dropout=0.5):
    """ZFNet (Zeiler & Fergus, 2013) as the lectures present it: AlexNet (lectures' variant) with
    the first convolution's filters F = 11 -> 7 and the third, fourth and fifth convolutions'
    K = 384, 384, 256 -> 512, 1024, 512.

    Sizes for a 227x227 input: conv 96 7x7/4 -> 56, pool 3/2 -> 27, then as AlexNet: 23, 11, 9, 7,
    5, 2, so FC1 takes 2x2x512. (The published ZFNet also uses stride 2 in its first layer and
    224x224 inputs; this is the lectures' comparison, layer for layer.) Arguments and output as
    :func:`alexnet`.
    """
    return _imagenet_net(ZFNET_LECTURES, 227, num_classes, in_channels, dtype, seed, dropout)


def vgg16(num_classes=1000, in_channels=3, dtype=np.float32, seed=0, dropout=0.5):
    """VGG-16 (Simonyan & Zisserman, 2014, configuration D) for 224x224 images.

    Thirteen 3x3 convolutions (padding 1) in five blocks of 64, 128, 256, 512, 512 filters, each
    block ending in a 2x2/2 max-pool (224 -> 112 -> 56 -> 28 -> 14 -> 7), then FC (7x7x512)x4096
    (about 102M weights: most of the network), FC 4096x4096, FC 4096x``num_classes``. 138,357,544
    parameters with 1000 classes (about 14.7M in the convolutions): 553 MB in float32, so building
    it takes a few seconds. Arguments and output as :func:`alexnet` (input (N, in_channels, 224, 224)).
    """
    return _imagenet_net(VGG16, 224, num_classes, in_channels, dtype, seed, dropout)


__all__ = ["lenet5", "mlp", "alexnet", "zfnet", "vgg16"]

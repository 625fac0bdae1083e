"""Ready-made models: LeNet-5 and multilayer perceptrons (shared by the examples, the ``train``
job, the tests and the benchmarks)."""

import numbers

import numpy as np

from .layers import Conv2d, Dense, Flatten, MaxPool2d, ReLU, Sigmoid, Tanh, _generator
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


__all__ = ["lenet5", "mlp"]

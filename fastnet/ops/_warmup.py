"""Run every op once on tiny inputs so that each kernel is compiled for a dtype (fastnet.compile).

``STEPS`` lists one step per op family, in the order ``fastnet.compile`` runs them; each step's
shapes reach every form (kernel variant) that the op can pick, so that a warmed cache holds them all.
"""

import numpy as np


def _activations(forward, backward, uses_output):
    def step(rand):
        x = rand(2, 3)
        y = forward(x)
        backward(y if uses_output else x, np.ones_like(y))
    return step


def _dense(rand):
    from . import dense, dense_backward
    x, w, b = rand(2, 3), rand(4, 3), rand(4)
    dense_backward(x, w, np.ones_like(dense(x, w, b)))


def _conv2d(rand):
    from . import conv2d, conv2d_backward
    x, w, b = rand(1, 2, 5, 5), rand(3, 2, 3, 3), rand(3)
    for stride, padding in ((1, 1), (2, 0)):   # stride 1: the flat-plane path; stride 2: the core
        y = conv2d(x, w, b, stride=stride, padding=padding)
        conv2d_backward(x, w, np.ones_like(y), stride=stride, padding=padding)


def _conv3d(rand):
    # the convolution core picks a form per call (kernels/conv3d.py): these shapes reach each one.
    # C = 2: backward-data by scatter; C = 4: by gather. Width 4 (padded 6): backward-weights by
    # patch copies; width 16 (padded 18 <= 5/4 of 16): in place.
    from . import conv3d, conv3d_backward
    x, w, b = rand(1, 2, 4, 4, 4), rand(3, 2, 3, 3, 3), rand(3)
    for stride, padding in ((1, 1), (2, 0)):
        y = conv3d(x, w, b, stride=stride, padding=padding)
        conv3d_backward(x, w, np.ones_like(y), stride=stride, padding=padding)
    x, w = rand(1, 4, 3, 3, 16), rand(2, 4, 3, 3, 3)
    y = conv3d(x, w, None, stride=1, padding=1)
    conv3d_backward(x, w, np.ones_like(y), stride=1, padding=1)


def _maxpool2d(rand):
    from . import maxpool2d, maxpool2d_backward
    x = rand(1, 2, 5, 5)
    for kernel, stride, padding in ((2, 2, 0), (3, 2, 0), (3, 1, 1)):   # the 2-D pooling paths
        p = maxpool2d(x, kernel, stride, padding)
        maxpool2d_backward(x, np.ones_like(p), kernel, stride, padding)


def _maxpool3d(rand):
    from . import maxpool3d, maxpool3d_backward
    x = rand(1, 4, 3, 3, 16)
    maxpool3d_backward(x, np.ones_like(maxpool3d(x, 2)), 2)


def _losses(rand):
    from . import cross_entropy, mse_loss, squared_error
    logits = rand(4, 5)
    cross_entropy(logits, np.array([0, 1, 4, 2]))
    mse_loss(logits, rand(4, 5))
    squared_error(logits, rand(4, 5))


def _steps():
    from . import relu, relu_backward, sigmoid, sigmoid_backward, tanh, tanh_backward
    return [
        ("sigmoid", _activations(sigmoid, sigmoid_backward, True)),
        ("tanh", _activations(tanh, tanh_backward, True)),
        ("relu", _activations(relu, relu_backward, False)),
        ("dense", _dense),
        ("conv2d", _conv2d),
        ("conv3d", _conv3d),
        ("maxpool2d", _maxpool2d),
        ("maxpool3d", _maxpool3d),
        ("losses", _losses),
    ]


def step_names():
    return [name for name, _ in _steps()]


def run_all(dtype, only=None, progress=None):
    """Run the steps (those whose name contains ``only``, if given) for ``dtype``; returns their names.

    ``progress(name, index, total)`` is called before each step."""
    steps = [(n, s) for n, s in _steps() if only is None or only in n]
    rng = np.random.default_rng(0)

    def rand(*shape):
        return rng.standard_normal(shape).astype(dtype)

    for i, (name, step) in enumerate(steps):
        if progress is not None:
            progress(name, i, len(steps))
        step(rand)
    return [n for n, _ in steps]

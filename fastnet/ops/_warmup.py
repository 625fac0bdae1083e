"""Run every op once on tiny inputs so that each kernel is compiled for a dtype (fastnet.compile)."""

import numpy as np


def run_all(dtype):
    from . import (conv2d, conv2d_backward, conv3d, conv3d_backward, cross_entropy, dense,
                   dense_backward, maxpool2d, maxpool2d_backward, maxpool3d, maxpool3d_backward,
                   mse_loss, relu, relu_backward, sigmoid, sigmoid_backward, squared_error, tanh,
                   tanh_backward)
    rng = np.random.default_rng(0)

    def rand(*shape):
        return rng.standard_normal(shape).astype(dtype)

    x = rand(2, 3)
    for forward, backward, uses_output in ((sigmoid, sigmoid_backward, True),
                                           (tanh, tanh_backward, True),
                                           (relu, relu_backward, False)):
        y = forward(x)
        backward(y if uses_output else x, np.ones_like(y))

    w, b = rand(4, 3), rand(4)
    y = dense(x, w, b)
    dense_backward(x, w, np.ones_like(y))

    x2, w2, b2 = rand(1, 2, 5, 5), rand(3, 2, 3, 3), rand(3)
    y2 = conv2d(x2, w2, b2, stride=1, padding=1)
    conv2d_backward(x2, w2, np.ones_like(y2), stride=1, padding=1)
    y2 = conv2d(x2, w2, b2, stride=2, padding=0)
    conv2d_backward(x2, w2, np.ones_like(y2), stride=2, padding=0)
    for kernel, stride, padding in ((2, 2, 0), (3, 2, 0), (3, 1, 1)):   # the 2-D pooling paths
        p2 = maxpool2d(x2, kernel, stride, padding)
        maxpool2d_backward(x2, np.ones_like(p2), kernel, stride, padding)

    # the convolution core picks a form per call (kernels/conv3d.py): these shapes reach each one.
    # C = 2: backward-data by scatter; C = 4: by gather. Width 4 (padded 6): backward-weights by
    # patch copies; width 16 (padded 18 <= 5/4 of 16): in place.
    x3, w3, b3 = rand(1, 2, 4, 4, 4), rand(3, 2, 3, 3, 3), rand(3)
    y3 = conv3d(x3, w3, b3, stride=1, padding=1)
    conv3d_backward(x3, w3, np.ones_like(y3), stride=1, padding=1)
    y3 = conv3d(x3, w3, b3, stride=2, padding=0)
    conv3d_backward(x3, w3, np.ones_like(y3), stride=2, padding=0)
    x3, w3 = rand(1, 4, 3, 3, 16), rand(2, 4, 3, 3, 3)
    y3 = conv3d(x3, w3, None, stride=1, padding=1)
    conv3d_backward(x3, w3, np.ones_like(y3), stride=1, padding=1)
    p3 = maxpool3d(x3, 2)
    maxpool3d_backward(x3, np.ones_like(p3), 2)

    logits = rand(4, 5)
    cross_entropy(logits, np.array([0, 1, 4, 2]))
    mse_loss(logits, rand(4, 5))
    squared_error(logits, rand(4, 5))
    from . import binary_cross_entropy_with_logits, huber_loss, l1_loss, nll_loss
    cross_entropy(logits, np.array([0, 1, 4, 2]), label_smoothing=0.1, weight=np.ones(5, dtype))
    nll_loss(logits, np.array([0, 1, 4, 2]))
    binary_cross_entropy_with_logits(logits, np.ones_like(logits))
    l1_loss(logits, rand(4, 5))
    huber_loss(logits, rand(4, 5))

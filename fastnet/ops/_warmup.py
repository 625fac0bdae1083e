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

    # issue 12: conv1d and maxpool1d reach the 2-D kernels above; the new kernels
    from . import (avgpool2d, avgpool2d_backward, batch_norm, batch_norm_backward, dropout,
                   dropout_backward, global_avgpool2d, global_avgpool2d_backward, leaky_relu,
                   leaky_relu_backward, log_softmax, log_softmax_backward, softmax, softmax_backward)
    y = leaky_relu(x)
    leaky_relu_backward(x, np.ones_like(y))
    for kernel, stride, padding in ((2, 2, 0), (3, 2, 1)):
        p2 = avgpool2d(x2, kernel, stride, padding)
        avgpool2d_backward(x2, np.ones_like(p2), kernel, stride, padding)
    g2 = global_avgpool2d(x2)
    global_avgpool2d_backward(x2, np.ones_like(g2))
    gamma, beta = rand(2), rand(2)
    running_mean, running_var = np.zeros(2, dtype), np.ones(2, dtype)
    batch_norm(x2, gamma, beta, running_mean, running_var, True)
    batch_norm(x2, gamma, beta, running_mean, running_var, False)
    batch_norm_backward(x2, gamma, np.ones_like(x2))
    y, mask = dropout(x2, 0.5, seed=0)
    dropout_backward(np.ones_like(y), mask, 0.5)
    for forward, backward in ((softmax, softmax_backward), (log_softmax, log_softmax_backward)):
        y = forward(logits)
        backward(y, np.ones_like(y))

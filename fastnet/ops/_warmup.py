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
    # a few rows (the skinny forward) and 16 (BLAS both ways; 16 output features too: the forward
    # from a transposed copy of w, where kernels.dense._transposes_w says so); the skinny backward,
    # which the op takes only for a large w, directly
    from . import dense, dense_backward
    from ..kernels import dense as kernels
    for rows, features in ((2, 4), (16, 4), (16, 16)):
        x, w, b = rand(rows, 3), rand(features, 3), rand(features)
        dense_backward(x, w, np.ones_like(dense(x, w, b)))
    x, w, dy = rand(2, 3), rand(4, 3), rand(2, 4)
    kernels._dense_backward_skinny(x, w, dy, np.empty_like(x), np.empty_like(w), np.empty(4, x.dtype), 2)


def _conv(op, backward, x_shape, w_shape, stride, padding, bias=True):
    def step(rand):
        x, w = rand(*x_shape), rand(*w_shape)
        y = op(x, w, rand(w_shape[0]) if bias else None, stride=stride, padding=padding)
        backward(x, w, np.ones_like(y), stride=stride, padding=padding)
    return step


def _conv2d_winograd(rand):
    # Winograd F(2x2, 3x3) and F(2x2, 5x5) (auto takes them only for large layers): forward and dx;
    # at stride 2 the forward, 5x5 everywhere, 3x3 where auto ever takes it (AVX-512: about 9 s per
    # dtype to compile, which AVX2 machines would spend on a form they never use by shape)
    from ..kernels import conv2d as conv2d_kernels
    from ..kernels._config import vector_bytes
    from . import conv2d, conv2d_backward
    x = rand(1, 2, 5, 5)
    for taps in (3, 5):
        w = rand(3, 2, taps, taps)
        y = conv2d(x, w, rand(3), padding=taps // 2, algorithm="winograd")
        conv2d_backward(x, w, np.ones_like(y), padding=taps // 2, algorithm="winograd")
    conv2d(x, rand(3, 2, 5, 5), rand(3), stride=2, padding=2, algorithm="winograd")
    if vector_bytes() >= conv2d_kernels.AVX512_VECTOR_BYTES:
        conv2d(x, rand(3, 2, 3, 3), rand(3), stride=2, padding=1, algorithm="winograd")


def _conv3d_winograd(rand):
    # Winograd F(2x2x2, 3x3x3) (auto takes it only for larger layers): forward, dx and dw; at
    # stride 2 the forward, where auto ever takes it (AVX-512: this step compiled in 42 s per
    # dtype with it, 40 before the form, Zen 4, one worker)
    from ..kernels import winograd3d
    from ..kernels._config import vector_bytes
    from . import conv3d, conv3d_backward
    x, w = rand(1, 2, 4, 4, 4), rand(3, 2, 3, 3, 3)
    y = conv3d(x, w, rand(3), padding=1, algorithm="winograd")
    conv3d_backward(x, w, np.ones_like(y), padding=1, algorithm="winograd")
    if vector_bytes() >= winograd3d.AVX512_VECTOR_BYTES:
        conv3d(x, w, rand(3), stride=2, padding=1, algorithm="winograd")


def _conv3d_gather(rand):
    # C = 48: dx by gather (C fills whole tiles of output channels); dw's narrow tiles (12 rows with
    # AVX2, 16 with AVX-512) cover C exactly, so dw reads x in place, and takes, forced here, both of
    # its forms: partial sums, and (by shape it needs 32 channels or more) the one that transposes
    # its sums into dw itself. (With C = 16, AVX2's tiles rounded it up to 24: the copy, not in place,
    # and the second form was never compiled.)
    from . import conv3d, conv3d_backward
    from ..kernels import conv_weight
    x, w = rand(1, 48, 3, 3, 3), rand(2, 48, 3, 3, 3)
    dy = np.ones_like(conv3d(x, w, rand(2), stride=1, padding=1))
    conv3d_backward(x, w, dy, stride=1, padding=1)
    for fused in (False, True):
        conv_weight.conv3d_backward_weight(x, dy, np.empty_like(w), np.empty(2, x.dtype), 1, 1, 1, 1, 1, 1,
                                           fused=fused)


def _conv_few_channels(rand):
    # the channels-last copies (kernels of their own, which the ops take by channel count and
    # vector width W), directly: 2 to 4 channels (RGB images), 5 to 8 (LeNet C3's 6), and 2 to W - 1
    # channels, which the ops take for 9 to W - 1 (AVX-512, no padding); the W x W tiles of W
    # channels or more (16 channels and positions: W <= 16 for either dtype) and the row by row
    # copy of the rest, which the shapes above reach or not by dtype and vector width
    from ..kernels import conv_layout
    x = rand(1, 2, 1, 4, 4)
    conv_layout._fill_interleaved(x, np.empty((1, 1, 4, 8), dtype=x.dtype), 0, 0, 0)
    x5 = rand(1, 5, 1, 2, 2)
    conv_layout._fill_interleaved_wide(x5, np.empty((1, 1, 2, 10), dtype=x.dtype), 0, 0, 0)
    conv_layout._fill_few_channels(x, np.empty((1, 1, 4, 8), dtype=x.dtype), 0, 0)
    conv_layout._fill_channels_last(rand(1, 16, 1, 4, 4), np.empty((1, 1, 4, 64), dtype=x.dtype), 0, 0, 0, 0, 4)
    conv_layout._fill_channels_last_rows(x, np.empty((1, 1, 4, 8), dtype=x.dtype), 0, 0, 0, 0)


def _conv_steps():
    # Each op picks a form per call (kernels/conv2d.py, kernels/conv3d.py): these shapes reach each.
    # conv2d at stride 1: the flat-plane path (rows shorter than a vector; its weight gradient on
    # AVX-512 only, kernels/conv2d.py's _plane_weight_ok); at stride 2: the
    # convolution core; images of few channels with rows of whole vectors, at any stride: the form
    # with positions in lanes (the same kernels for conv2d and conv3d, every stride's row split
    # compiled in). conv3d, C = 2:
    # backward-data by scatter (C rounded up to a tile's width would be mostly waste); C = 48 (whole
    # tiles): by gather, the forward pass's kernels plus its own weight packing.
    from . import conv2d, conv2d_backward, conv3d, conv3d_backward
    return [
        ("conv2d", _conv(conv2d, conv2d_backward, (1, 2, 5, 5), (3, 2, 3, 3), 1, 1)),
        ("conv2d_strided", _conv(conv2d, conv2d_backward, (1, 2, 5, 5), (3, 2, 3, 3), 2, 0)),
        ("conv_lanes", _conv(conv2d, conv2d_backward, (1, 3, 2, 64), (5, 3, 3, 3), 2, 1)),
        ("conv2d_winograd", _conv2d_winograd),
        ("conv3d", _conv(conv3d, conv3d_backward, (1, 2, 4, 4, 4), (3, 2, 3, 3, 3), 1, 1)),
        ("conv3d_strided", _conv(conv3d, conv3d_backward, (1, 2, 4, 4, 4), (3, 2, 3, 3, 3), 2, 0)),
        ("conv3d_gather", _conv3d_gather),
        ("conv3d_winograd", _conv3d_winograd),
        ("conv_few_channels", _conv_few_channels),
    ]


def _maxpool2d(rand):
    from . import maxpool2d, maxpool2d_backward
    x = rand(1, 2, 5, 5)
    for kernel, stride, padding in ((2, 2, 0), (3, 2, 0), (3, 1, 1)):   # the 2-D pooling paths
        p = maxpool2d(x, kernel, stride, padding)
        maxpool2d_backward(x, np.ones_like(p), kernel, stride, padding)
    # 2x2 / 2's backward has a form for short output rows (the one above) and one for long rows
    x = rand(1, 1, 2, 64)
    maxpool2d_backward(x, np.ones_like(maxpool2d(x, 2, 2, 0)), 2, 2, 0)


def _maxpool3d(rand):
    from . import maxpool3d, maxpool3d_backward
    x = rand(1, 4, 3, 3, 16)
    maxpool3d_backward(x, np.ones_like(maxpool3d(x, 2)), 2)


def _losses(rand):
    from . import (binary_cross_entropy_with_logits, cross_entropy, huber_loss, l1_loss, mse_loss, nll_loss,
                   squared_error)
    logits = rand(4, 5)
    cross_entropy(logits, np.array([0, 1, 4, 2]))
    mse_loss(logits, rand(4, 5))
    squared_error(logits, rand(4, 5))
    cross_entropy(logits, np.array([0, 1, 4, 2]), label_smoothing=0.1, weight=np.ones(5, logits.dtype))
    nll_loss(logits, np.array([0, 1, 4, 2]))
    binary_cross_entropy_with_logits(logits, np.ones_like(logits))
    l1_loss(logits, rand(4, 5))
    huber_loss(logits, rand(4, 5))


def _leaky_relu(rand):
    from . import leaky_relu, leaky_relu_backward
    x = rand(2, 3)
    leaky_relu_backward(x, np.ones_like(leaky_relu(x)))


def _avgpool2d(rand):
    from . import avgpool2d, avgpool2d_backward, global_avgpool2d, global_avgpool2d_backward
    x = rand(1, 2, 5, 5)
    for kernel, stride, padding in ((2, 2, 0), (3, 2, 1)):
        p = avgpool2d(x, kernel, stride, padding)
        avgpool2d_backward(x, np.ones_like(p), kernel, stride, padding)
    global_avgpool2d_backward(x, np.ones_like(global_avgpool2d(x)))


def _batch_norm(rand):
    from . import batch_norm, batch_norm_backward
    x = rand(1, 2, 5, 5)
    gamma, beta = rand(2), rand(2)
    running_mean, running_var = np.zeros(2, x.dtype), np.ones(2, x.dtype)
    batch_norm(x, gamma, beta, running_mean, running_var, True)
    batch_norm(x, gamma, beta, running_mean, running_var, False)
    batch_norm_backward(x, gamma, np.ones_like(x))


def _dropout(rand):
    from . import dropout, dropout_backward
    y, mask = dropout(rand(1, 2, 5, 5), 0.5, seed=0)
    dropout_backward(np.ones_like(y), mask, 0.5)


def _softmax(rand):
    from . import log_softmax, log_softmax_backward, softmax, softmax_backward
    logits = rand(4, 5)
    for forward, backward in ((softmax, softmax_backward), (log_softmax, log_softmax_backward)):
        y = forward(logits)
        backward(y, np.ones_like(y))


def _optimizers(rand):
    # every rule's fused step (fastnet.kernels.optimizers); their flags are run-time arguments,
    # so one call each compiles every variant
    from ..optim import adadelta_update, adagrad_update, adam_update, rmsprop_update, sgd_update
    p, g = rand(5), rand(5)
    state = [np.zeros_like(p) for _ in range(3)]
    sgd_update(p, g, state[0], lr=0.1, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0,
               first_step=True)
    adagrad_update(p, g, state[0], lr=0.1, lr_decay=0.0, weight_decay=0.0, eps=1e-10, step=1)
    rmsprop_update(p, g, *state, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False)
    adadelta_update(p, g, state[0], state[1], lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0)
    adam_update(p, g, *state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False, step=1)


def _steps():
    from . import relu, relu_backward, sigmoid, sigmoid_backward, tanh, tanh_backward
    return [
        ("sigmoid", _activations(sigmoid, sigmoid_backward, True)),
        ("tanh", _activations(tanh, tanh_backward, True)),
        ("relu", _activations(relu, relu_backward, False)),
        ("dense", _dense),
        *_conv_steps(),
        ("maxpool2d", _maxpool2d),
        ("maxpool3d", _maxpool3d),
        ("losses", _losses),
        # conv1d and maxpool1d run on the 2-D kernels above
        ("leaky_relu", _leaky_relu),
        ("avgpool2d", _avgpool2d),
        ("batch_norm", _batch_norm),
        ("dropout", _dropout),
        ("softmax", _softmax),
        ("optimizers", _optimizers),
    ]


def step_names():
    return [name for name, _ in _steps()]


def run_all(dtype, only=None, progress=None, start=0, of=1):
    """Run the steps (those whose name contains ``only``, if given) for ``dtype``; returns their names.

    ``start``/``of``: helper process ``start`` of ``of`` (fastnet.compile's parallel workers) walks
    the steps from its own place: process 1 of 2 backwards, others from an even share onwards.
    ``progress(name, index, total)`` is called before each step."""
    steps = [(n, s) for n, s in _steps() if only is None or only in n]
    if of == 2 and start == 1:
        steps = steps[::-1]
    elif start:
        offset = start * len(steps) // of
        steps = steps[offset:] + steps[:offset]
    rng = np.random.default_rng(0)

    def rand(*shape):
        return rng.standard_normal(shape).astype(dtype)

    for i, (name, step) in enumerate(steps):
        if progress is not None:
            progress(name, i, len(steps))
        step(rand)
    return [n for n, _ in steps]

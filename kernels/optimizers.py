"""Fused, parallel optimizer updates: one pass over each parameter and its state, for SGD,
Adagrad, RMSprop, Adadelta and Adam / AdamW (the rules are :mod:`fastnet.optim.optimizers`').

NumPy's ``param -= lr * grad`` makes a temporary and two passes over memory, on one thread: for the
lectures' AlexNet (28.8 M parameters, float32) an SGD step took 21 ms on the Zen 4 dev box, PyTorch's
4 ms. Adam's rule in NumPy is a dozen such passes: 374 ms a step for AlexNet's three dense layers
(58 M parameters, float32, Zen 3, 2 threads), PyTorch 256 ms. Here each element is read and
written once, by chunks of CHUNK elements in parallel (each element's update is independent, so
the result does not depend on the split), with the hyperparameters rounded to the parameter's
dtype first, as NumPy does with Python floats. Each chunk loops over slices of the arrays from
index 0, which Numba knows is non-negative: indexing by ``range(start, stop)`` made it test every
index for wrapping around, and LLVM then kept the loop scalar (one vsqrtss and vdivss per
element for Adagrad, against vsqrtps / vdivps on 8 or 16 floats; Adam 167 -> 33 ms). The rules
with a square root or a division are compiled without approximations
(:func:`~fastnet.kernels._config.ieee_parallel_kernel`). One step over AlexNet's classifier,
fastnet / NumPy / PyTorch: ``bench/bench_optim.py``.

Each rule is a chunk helper (``_sgd_chunk``, ...: the update of elements start .. stop - 1) and
a kernel that runs it over the chunks in parallel, or once, with no parallel region, where the
parameter is a single chunk: such a region's fork and join cost more than a small parameter's
update (a bias, a small network's weights). SGD over a 64 -> 64 -> 10 MLP's four parameters,
two Zen 4 threads, 2026-12-07: 2.4 us a parameter in the kernel before, of it 1.3 to 2.9 in the
region's start and end.
"""

import numpy as np
from numba import prange

from ._config import ieee_parallel_kernel, ieee_serial_kernel, parallel_kernel, serial_kernel

CHUNK = 1 << 15   # elements per parallel work unit


@serial_kernel
def _sgd_chunk(param, grad, buffer, start, stop, lr, momentum, keep, decay, momentum_on, nesterov,
               first_step, decay_on):
    """SGD on the elements start .. stop - 1 (see :func:`sgd_step`)."""
    param_c = param[start:stop]
    grad_c = grad[start:stop]
    buffer_c = buffer[start:stop]
    for i in range(stop - start):
        p = param_c[i]
        g = grad_c[i]
        if decay_on:
            g = g + decay * p
        if momentum_on:
            b = g if first_step else momentum * buffer_c[i] + keep * g
            buffer_c[i] = b
            g = g + momentum * b if nesterov else b
        param_c[i] = p - lr * g


@parallel_kernel
def sgd_step(param, grad, buffer, scalars, momentum_on, nesterov, first_step, decay_on):
    """One SGD step (PyTorch's rule, see :func:`fastnet.optim.sgd_update`), in place.

    param, grad : 1-D C-contiguous, one float dtype, same length; buffer : the momentum buffer,
    same (read unless ``first_step``, written) when ``momentum_on``, else any (unused);
    scalars : (4,) of the same dtype: lr, momentum, 1 - dampening, weight_decay.
    """
    lr, momentum, keep, decay = scalars[0], scalars[1], scalars[2], scalars[3]
    n = param.shape[0]
    chunks = (n + CHUNK - 1) // CHUNK
    if chunks <= 1:   # one chunk: no parallel region
        _sgd_chunk(param, grad, buffer, np.int64(0), n, lr, momentum, keep, decay, momentum_on, nesterov, first_step,
                   decay_on)
    else:
        for chunk in prange(chunks):
            start = np.int64(chunk) * CHUNK
            _sgd_chunk(param, grad, buffer, start, min(n, start + CHUNK), lr, momentum, keep, decay, momentum_on,
                       nesterov, first_step, decay_on)


@ieee_serial_kernel
def _adagrad_chunk(param, grad, state_sum, start, stop, decay, clr, eps, decay_on):
    """Adagrad on the elements start .. stop - 1 (see :func:`adagrad_step`)."""
    param_c = param[start:stop]
    grad_c = grad[start:stop]
    state_sum_c = state_sum[start:stop]
    for i in range(stop - start):
        p = param_c[i]
        g = grad_c[i]
        if decay_on:
            g = g + decay * p
        s = state_sum_c[i] + g * g
        state_sum_c[i] = s
        param_c[i] = p - clr * (g / (np.sqrt(s) + eps))


@ieee_parallel_kernel
def adagrad_step(param, grad, state_sum, scalars, decay_on):
    """One Adagrad step (:func:`fastnet.optim.adagrad_update`), in place.

    param, grad, state_sum : 1-D C-contiguous, one float dtype, same length (state_sum read and
    written); scalars : (3,) of that dtype: weight_decay, the decayed rate clr, eps.
    """
    decay, clr, eps = scalars[0], scalars[1], scalars[2]
    n = param.shape[0]
    chunks = (n + CHUNK - 1) // CHUNK
    if chunks <= 1:   # one chunk: no parallel region
        _adagrad_chunk(param, grad, state_sum, np.int64(0), n, decay, clr, eps, decay_on)
    else:
        for chunk in prange(chunks):
            start = np.int64(chunk) * CHUNK
            _adagrad_chunk(param, grad, state_sum, start, min(n, start + CHUNK), decay, clr, eps, decay_on)


@ieee_serial_kernel
def _rmsprop_chunk(param, grad, square_avg, grad_avg, buffer, start, stop, decay, alpha, rest, eps, momentum, lr,
                   decay_on, centered, momentum_on):
    """RMSprop on the elements start .. stop - 1 (see :func:`rmsprop_step`)."""
    param_c = param[start:stop]
    grad_c = grad[start:stop]
    square_avg_c = square_avg[start:stop]
    grad_avg_c = grad_avg[start:stop]
    buffer_c = buffer[start:stop]
    for i in range(stop - start):
        p = param_c[i]
        g = grad_c[i]
        if decay_on:
            g = g + decay * p
        sq = alpha * square_avg_c[i] + rest * (g * g)
        square_avg_c[i] = sq
        if centered:
            ga = alpha * grad_avg_c[i] + rest * g
            grad_avg_c[i] = ga
            avg = np.sqrt(sq - ga * ga) + eps
        else:
            avg = np.sqrt(sq) + eps
        if momentum_on:
            b = momentum * buffer_c[i] + g / avg
            buffer_c[i] = b
            param_c[i] = p - lr * b
        else:
            param_c[i] = p - lr * (g / avg)


@ieee_parallel_kernel
def rmsprop_step(param, grad, square_avg, grad_avg, buffer, scalars, decay_on, centered, momentum_on):
    """One RMSprop step (:func:`fastnet.optim.rmsprop_update`), in place.

    param, grad, square_avg : 1-D C-contiguous, one float dtype, same length; grad_avg (read and
    written when ``centered``) and buffer (when ``momentum_on``) likewise, else any (unused);
    scalars : (6,) of that dtype: weight_decay, alpha, 1 - alpha, eps, momentum, lr.
    """
    decay, alpha, rest, eps, momentum, lr = scalars[0], scalars[1], scalars[2], scalars[3], scalars[4], scalars[5]
    n = param.shape[0]
    chunks = (n + CHUNK - 1) // CHUNK
    if chunks <= 1:   # one chunk: no parallel region
        _rmsprop_chunk(param, grad, square_avg, grad_avg, buffer, np.int64(0), n, decay, alpha, rest, eps, momentum, lr,
                       decay_on, centered, momentum_on)
    else:
        for chunk in prange(chunks):
            start = np.int64(chunk) * CHUNK
            _rmsprop_chunk(param, grad, square_avg, grad_avg, buffer, start, min(n, start + CHUNK), decay, alpha,
                           rest, eps, momentum, lr, decay_on, centered, momentum_on)


@ieee_serial_kernel
def _adadelta_chunk(param, grad, square_avg, acc_delta, start, stop, decay, rho, rest, eps, lr, decay_on):
    """Adadelta on the elements start .. stop - 1 (see :func:`adadelta_step`)."""
    param_c = param[start:stop]
    grad_c = grad[start:stop]
    square_avg_c = square_avg[start:stop]
    acc_delta_c = acc_delta[start:stop]
    for i in range(stop - start):
        p = param_c[i]
        g = grad_c[i]
        if decay_on:
            g = g + decay * p
        sq = rho * square_avg_c[i] + rest * (g * g)
        square_avg_c[i] = sq
        delta = np.sqrt(acc_delta_c[i] + eps) / np.sqrt(sq + eps) * g
        acc_delta_c[i] = rho * acc_delta_c[i] + rest * (delta * delta)
        param_c[i] = p - lr * delta


@ieee_parallel_kernel
def adadelta_step(param, grad, square_avg, acc_delta, scalars, decay_on):
    """One Adadelta step (:func:`fastnet.optim.adadelta_update`), in place.

    param, grad, square_avg, acc_delta : 1-D C-contiguous, one float dtype, same length (the
    last two read and written); scalars : (5,) of that dtype: weight_decay, rho, 1 - rho, eps, lr.
    """
    decay, rho, rest, eps, lr = scalars[0], scalars[1], scalars[2], scalars[3], scalars[4]
    n = param.shape[0]
    chunks = (n + CHUNK - 1) // CHUNK
    if chunks <= 1:   # one chunk: no parallel region
        _adadelta_chunk(param, grad, square_avg, acc_delta, np.int64(0), n, decay, rho, rest, eps, lr, decay_on)
    else:
        for chunk in prange(chunks):
            start = np.int64(chunk) * CHUNK
            _adadelta_chunk(param, grad, square_avg, acc_delta, start, min(n, start + CHUNK), decay, rho, rest, eps,
                            lr, decay_on)


@ieee_serial_kernel
def _adam_chunk(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, start, stop, decay, beta1, rest1, beta2, rest2,
                correction2, eps, step_size, decay_on, decoupled, amsgrad):
    """Adam / AdamW on the elements start .. stop - 1 (see :func:`adam_step`)."""
    param_c = param[start:stop]
    grad_c = grad[start:stop]
    exp_avg_c = exp_avg[start:stop]
    exp_avg_sq_c = exp_avg_sq[start:stop]
    max_exp_avg_sq_c = max_exp_avg_sq[start:stop]
    for i in range(stop - start):
        p = param_c[i]
        g = grad_c[i]
        if decay_on:
            if decoupled:
                p = p * decay
            else:
                g = g + decay * p
        m = beta1 * exp_avg_c[i] + rest1 * g
        exp_avg_c[i] = m
        v = beta2 * exp_avg_sq_c[i] + rest2 * (g * g)
        exp_avg_sq_c[i] = v
        if amsgrad:
            top = max_exp_avg_sq_c[i]
            if v > top or v != v:   # np.maximum: a NaN wins and stays
                top = v
            max_exp_avg_sq_c[i] = top
            v = top
        param_c[i] = p - step_size * (m / (np.sqrt(v) / correction2 + eps))


@ieee_parallel_kernel
def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, scalars, decay_on, decoupled, amsgrad):
    """One Adam step (:func:`fastnet.optim.adam_update`), or AdamW's (``decoupled``: the parameter
    is first scaled by 1 - lr * weight_decay, nothing added to the gradient), in place.

    param, grad, exp_avg, exp_avg_sq : 1-D C-contiguous, one float dtype, same length (the moments
    read and written); max_exp_avg_sq likewise when ``amsgrad``, else any (unused); scalars : (8,)
    of that dtype: weight_decay (Adam's L2 term) or AdamW's factor 1 - lr * weight_decay, beta1,
    1 - beta1, beta2, 1 - beta2, sqrt(1 - beta2 ** step), eps, lr / (1 - beta1 ** step).
    """
    decay, beta1, rest1, beta2, rest2 = scalars[0], scalars[1], scalars[2], scalars[3], scalars[4]
    correction2, eps, step_size = scalars[5], scalars[6], scalars[7]
    n = param.shape[0]
    chunks = (n + CHUNK - 1) // CHUNK
    if chunks <= 1:   # one chunk: no parallel region
        _adam_chunk(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, np.int64(0), n, decay, beta1, rest1, beta2, rest2,
                    correction2, eps, step_size, decay_on, decoupled, amsgrad)
    else:
        for chunk in prange(chunks):
            start = np.int64(chunk) * CHUNK
            _adam_chunk(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, start, min(n, start + CHUNK), decay, beta1,
                        rest1, beta2, rest2, correction2, eps, step_size, decay_on, decoupled, amsgrad)

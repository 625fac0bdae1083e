"""The CNN layers of issue 12 (1-D convolution, average pooling, batch norm, dropout, softmax, ...).

Importable, and registered for ``save``/``load``, as :mod:`fastnet.layers` members (e.g.
``fastnet.layers.BatchNorm2d``); they live here so that ``layers.py`` stays readable.
"""

import numbers

import numpy as np

from . import ops
from .layers import Layer, _ConvNd, _dtype_arg, _MaxPoolNd, _positive_int
from .parameter import Parameter


class Conv1d(_ConvNd):
    """1-D convolution (cross-correlation, as in PyTorch) over (N, C, L) series.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int (or a 1-tuple)
    stride : int, default 1
    padding : int, default 0: zeros added at both ends
    bias : bool, default True
    dtype : float32 (default) or float64
    init : str, default "xavier" (see :mod:`fastnet.layers`; "he" for ReLU networks)
    seed : int, numpy.random.Generator or None

    Attributes
    ----------
    weight : Parameter of shape (out_channels, in_channels, kernel_size)
    bias : Parameter of shape (out_channels,), or None

    Shape
    -----
    x : (N, in_channels, L) -> y : (N, out_channels, Lo), ``Lo = floor((L + 2 * padding - F) / stride) + 1``.
    """

    _nd = 1
    _forward_op = staticmethod(lambda *a, **k: ops.conv1d(*a, **k))
    _backward_op = staticmethod(lambda *a, **k: ops.conv1d_backward(*a, **k))


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling over (N, C, L) series.

    Parameters
    ----------
    kernel_size : int
    stride : int, default ``kernel_size``
    padding : int, default 0 (implicit -inf; at most half the kernel size)
    dtype : None (default: accept float32 or float64), float32 or float64

    Shape
    -----
    x : (N, C, L) -> y : (N, C, Lo), ``Lo = floor((L + 2 * padding - kernel_size) / stride) + 1``.
    """

    _nd = 1
    _forward_op = staticmethod(lambda *a, **k: ops.maxpool1d(*a, **k))
    _backward_op = staticmethod(lambda *a, **k: ops.maxpool1d_backward(*a, **k))


class AvgPool2d(_MaxPoolNd):
    """2-D average pooling over NCHW images (PyTorch ``AvgPool2d`` defaults: zero padding counted
    in the divisor, floor mode). Shares the window bookkeeping of the max-pooling layers.

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), default ``kernel_size``
    padding : int or (int, int), default 0 (zeros; at most half the kernel size)
    dtype : None (default: accept float32 or float64), float32 or float64

    Shape
    -----
    x : (N, C, H, W) -> y : (N, C, Ho, Wo), ``Ho = floor((H + 2 * padding[0] - kH) / stride[0]) + 1``.
    """

    _nd = 2
    _forward_op = staticmethod(lambda *a, **k: ops.avgpool2d(*a, **k))
    _backward_op = staticmethod(lambda *a, **k: ops.avgpool2d_backward(*a, **k))


class GlobalAvgPool2d(Layer):
    """The mean of each channel's plane: ``(N, C, H, W) -> (N, C)``.

    Parameters
    ----------
    dtype : None (default: accept float32 or float64), float32 or float64
    """

    def __init__(self, dtype=None):
        super().__init__(_dtype_arg(dtype, allow_none=True))

    def forward(self, x):
        x = self._input(x, 4)
        self._cache = x
        return ops.global_avgpool2d(x)

    def backward(self, dy, input_grad=True):
        x = self._cached()
        dy = self._check_dy(dy, x.shape[:2], x.dtype)
        return ops.global_avgpool2d_backward(x, dy) if input_grad else None

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"{self!r}: expected input shape (C, H, W) per sample, got {input_shape}")
        return (input_shape[0],)


def _real_arg(value, name, lo, hi, lo_open=False, hi_open=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}: {value!r}")
    value = float(value)
    if not ((value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)):
        raise ValueError(f"{name}: expected a number in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}, "
                         f"got {value!r}")
    return value


class _BatchNorm(Layer):
    _ndims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, dtype=np.float32):
        super().__init__(_dtype_arg(dtype))
        self.num_features = _positive_int(num_features, "num_features")
        self.eps = _real_arg(eps, "eps", 0.0, np.inf, lo_open=True)
        self.momentum = _real_arg(momentum, "momentum", 0.0, 1.0)
        if not isinstance(affine, (bool, np.bool_)):
            raise TypeError(f"affine: expected True or False, got {affine!r}")
        c = self.num_features
        self.weight = Parameter(np.ones(c, self.dtype), "weight") if affine else None
        self.bias = Parameter(np.zeros(c, self.dtype), "bias") if affine else None
        self.running_mean = np.zeros(c, self.dtype)
        self.running_var = np.ones(c, self.dtype)

    def parameters(self):
        return [] if self.weight is None else [self.weight, self.bias]

    def buffers(self):
        """The non-trainable state saved with the model: ``{"running_mean": ..., "running_var": ...}``."""
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def forward(self, x):
        x = self._input(x, None)
        if x.ndim not in self._ndims:
            want = " or ".join(f"{n}-D" for n in self._ndims)
            raise ValueError(f"{self!r}: x: expected a {want} array (N, C, ...), got {x.ndim}-D with shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{self!r}: x: expected {self.num_features} channels (axis 1), got shape {x.shape}")
        gamma = None if self.weight is None else self.weight.value
        beta = None if self.bias is None else self.bias.value
        y = ops.batch_norm(x, gamma, beta, self.running_mean, self.running_var, self.training,
                           momentum=self.momentum, eps=self.eps)
        self._cache = (x, self.training)
        return y

    def backward(self, dy, input_grad=True):
        x, training = self._cached()
        dy = self._check_dy(dy, x.shape, x.dtype)
        gamma = None if self.weight is None else self.weight.value
        if training:
            dx, dgamma, dbeta = ops.batch_norm_backward(x, gamma, dy, eps=self.eps)
        else:   # eval: the statistics are constants, y is affine in x
            axes = (0,) + tuple(range(2, x.ndim))
            shape = (1, -1) + (1,) * (x.ndim - 2)
            invstd = (1.0 / np.sqrt(self.running_var.astype(np.float64) + self.eps)).reshape(shape)
            xhat = (x - self.running_mean.reshape(shape)) * invstd
            dgamma = (dy * xhat).sum(axis=axes).astype(x.dtype)
            dbeta = dy.sum(axis=axes).astype(x.dtype)
            g = 1.0 if gamma is None else gamma.reshape(shape)
            dx = (dy * (g * invstd)).astype(x.dtype)
        if self.weight is not None:
            self.weight.accumulate_grad(dgamma)
            self.bias.accumulate_grad(dbeta)
        return dx if input_grad else None

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) + 1 not in self._ndims or input_shape[0] != self.num_features:
            raise ValueError(f"{self!r}: expected input shape ({self.num_features}, ...) per sample with "
                             f"{' or '.join(str(n - 1) for n in self._ndims)} axes, got {input_shape}")
        return input_shape

    def get_config(self):
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.weight is not None, "dtype": self.dtype.name}

    def __repr__(self):
        extra = "" if self.weight is not None else ", affine=False"
        return f"{type(self).__name__}({self.num_features}{extra})"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) inputs (``torch.nn.BatchNorm1d``).

    In training mode each channel is normalised with the batch's mean and (biased) variance and
    the running statistics are updated (``momentum``, unbiased variance); in eval mode the running
    statistics are used. ``fit`` trains, ``evaluate``/``predict`` run in eval mode.
    ``running_mean``/``running_var`` are saved by ``save()`` and restored by ``load()``.

    Parameters
    ----------
    num_features : int, C
    eps : float > 0, default 1e-5
    momentum : float in [0, 1], default 0.1
    affine : bool, default True: learn ``weight`` (gamma, ones) and ``bias`` (beta, zeros)
    dtype : float32 (default) or float64

    Attributes
    ----------
    weight, bias : Parameter of shape (C,), or None with ``affine=False``
    running_mean, running_var : ndarray of shape (C,) (zeros and ones at first)

    Shape
    -----
    x : (N, C) or (N, C, L) -> y : same shape.
    """

    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over NCHW images, per channel (``torch.nn.BatchNorm2d``).

    Parameters, attributes and modes as :class:`BatchNorm1d`.

    Shape
    -----
    x : (N, C, H, W) -> y : same shape.
    """

    _ndims = (4,)


class Dropout(Layer):
    """Inverted dropout: in training, zero each element with probability ``p`` and scale the rest
    by ``1 / (1 - p)``; in eval mode (``evaluate``, ``predict``, ``model.eval()``), the identity.

    Parameters
    ----------
    p : float in [0, 1), default 0.5
    seed : int or None
        Seeds the layer's generator: each training forward draws a fresh mask from it, and the same
        seed gives the same sequence of masks. None: fresh entropy.
    dtype : None (default: accept float32 or float64), float32 or float64

    Shape
    -----
    any -> same.
    """

    def __init__(self, p=0.5, seed=None, dtype=None):
        super().__init__(_dtype_arg(dtype, allow_none=True))
        self.p = _real_arg(p, "p", 0.0, 1.0, hi_open=True)
        if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (numbers.Integral, np.integer))
                                 or seed < 0):
            raise TypeError(f"seed: expected None or a non-negative int, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._rng = np.random.default_rng(self.seed)

    def forward(self, x):
        x = self._input(x, None)
        if not self.training or self.p == 0.0:
            self._cache = (x.shape, x.dtype, None)
            return x
        y, mask = ops.dropout(x, self.p, seed=self._rng)
        self._cache = (x.shape, x.dtype, mask)
        return y

    def backward(self, dy, input_grad=True):
        shape, dtype, mask = self._cached()
        dy = self._check_dy(dy, shape, dtype)
        if not input_grad:
            return None
        return dy if mask is None else ops.dropout_backward(dy, mask, self.p)

    def get_config(self):
        config = {"p": self.p, "seed": self.seed}
        config.update(super().get_config())
        return config

    def __repr__(self):
        return f"Dropout(p={self.p})"


class Softmax(Layer):
    """Softmax along ``axis`` (default 1, the class axis). For training a classifier, leave it out
    and use ``losses.CrossEntropy`` on the logits (fused and more accurate); add it for
    probabilities at inference.

    Parameters
    ----------
    axis : int, default 1
    dtype : None (default: accept float32 or float64), float32 or float64

    Shape
    -----
    any (at least ``axis + 1`` axes) -> same.
    """

    def __init__(self, axis=1, dtype=None):
        super().__init__(_dtype_arg(dtype, allow_none=True))
        if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (numbers.Integral, np.integer)):
            raise TypeError(f"axis: expected an int, got {type(axis).__name__}: {axis!r}")
        self.axis = int(axis)

    def forward(self, x):
        x = self._input(x, None)
        y = ops.softmax(x, self.axis)
        self._cache = y
        return y

    def backward(self, dy, input_grad=True):
        y = self._cached()
        dy = self._check_dy(dy, y.shape, y.dtype)
        return ops.softmax_backward(y, dy, self.axis) if input_grad else None

    def get_config(self):
        config = {"axis": self.axis}
        config.update(super().get_config())
        return config

    def __repr__(self):
        return "Softmax()" if self.axis == 1 else f"Softmax(axis={self.axis})"


class LeakyReLU(Layer):
    """Leaky ReLU, ``x if x > 0 else negative_slope * x``, elementwise. Shape: any -> same.

    Parameters
    ----------
    negative_slope : float, default 0.01
    dtype : None (default: accept float32 or float64), float32 or float64
    """

    def __init__(self, negative_slope=0.01, dtype=None):
        super().__init__(_dtype_arg(dtype, allow_none=True))
        self.negative_slope = _real_arg(negative_slope, "negative_slope", -np.inf, np.inf)

    def forward(self, x):
        x = self._input(x, None)
        self._cache = x
        return ops.leaky_relu(x, self.negative_slope)

    def backward(self, dy, input_grad=True):
        x = self._cached()
        dy = self._check_dy(dy, x.shape, x.dtype)
        return ops.leaky_relu_backward(x, dy, self.negative_slope) if input_grad else None

    def get_config(self):
        config = {"negative_slope": self.negative_slope}
        config.update(super().get_config())
        return config

    def __repr__(self):
        return f"LeakyReLU(negative_slope={self.negative_slope})"


class Reshape(Layer):
    """Reshape each sample: ``(N, *in_shape) -> (N, *shape)`` (one entry of ``shape`` may be -1).

    Parameters
    ----------
    shape : tuple of int, the per-sample output shape (no batch axis), e.g. ``(1, 8, 8)``
    dtype : None (default: accept float32 or float64), float32 or float64
    """

    def __init__(self, shape, dtype=None):
        super().__init__(_dtype_arg(dtype, allow_none=True))
        if isinstance(shape, (numbers.Integral, np.integer)) and not isinstance(shape, bool):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)) or not all(
                isinstance(s, (numbers.Integral, np.integer)) and not isinstance(s, bool) for s in shape):
            raise TypeError(f"shape: expected a tuple of ints (one sample, no batch axis), got {shape!r}")
        shape = tuple(int(s) for s in shape)
        if sum(s == -1 for s in shape) > 1 or any(s < -1 or s == 0 for s in shape):
            raise ValueError(f"shape: expected positive ints and at most one -1, got {shape}")
        self.shape = shape

    def output_shape(self, input_shape):
        size = int(np.prod(input_shape))
        known = int(np.prod([s for s in self.shape if s != -1]))
        if -1 in self.shape:
            if size % known:
                raise ValueError(f"{self!r}: cannot reshape a sample of shape {tuple(input_shape)} ({size} values) "
                                 f"to {self.shape}")
            return tuple(size // known if s == -1 else s for s in self.shape)
        if known != size:
            raise ValueError(f"{self!r}: cannot reshape a sample of shape {tuple(input_shape)} ({size} values) "
                             f"to {self.shape} ({known} values)")
        return self.shape

    def forward(self, x):
        x = self._input(x, None)
        if x.ndim < 1:
            raise ValueError(f"{self!r}: x: expected a batch axis, got a 0-D array")
        out = (x.shape[0],) + self.output_shape(x.shape[1:])
        self._cache = (x.shape, x.dtype, out)
        return np.ascontiguousarray(x).reshape(out)

    def backward(self, dy, input_grad=True):
        shape, dtype, out = self._cached()
        dy = self._check_dy(dy, out, dtype)
        return dy.reshape(shape) if input_grad else None

    def get_config(self):
        config = {"shape": list(self.shape)}
        config.update(super().get_config())
        return config

    def __repr__(self):
        return f"Reshape({self.shape})"


LAYERS = (Conv1d, MaxPool1d, AvgPool2d, GlobalAvgPool2d, BatchNorm1d, BatchNorm2d, Dropout, Softmax,
          LeakyReLU, Reshape)

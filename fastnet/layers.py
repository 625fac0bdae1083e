"""Layers: stateful wrappers around :mod:`fastnet.ops` with ``forward`` and ``backward``.

Every layer has ``forward(x)`` (also ``layer(x)``), which remembers what its backward pass needs,
and ``backward(dy)``, which *accumulates* the gradients of its parameters into their ``.grad`` and
returns ``dx``, the gradient with respect to its input. Layers with weights expose them as
``.weight`` and ``.bias`` (:class:`fastnet.Parameter`; ``bias`` is None with ``bias=False``).

Initialisation
--------------
``Dense``, ``Conv2d`` and ``Conv3d`` draw their weights from ``init`` with a seeded generator
(``seed``: an int, a ``numpy.random.Generator``, or None for fresh entropy); biases start at zero.

* ``"xavier"`` (the default; Glorot & Bengio 2010, uniform): ``U(-a, a)`` with
  ``a = sqrt(6 / (fan_in + fan_out))``. Suited to sigmoid and tanh networks.
* ``"xavier_normal"``: ``N(0, 2 / (fan_in + fan_out))``.
* ``"he"`` (He/Kaiming et al. 2015, normal): ``N(0, 2 / fan_in)``. Use it for ReLU networks.
* ``"he_uniform"``: ``U(-a, a)`` with ``a = sqrt(6 / fan_in)``.

``fan_in = in_features`` (or ``in_channels * prod(kernel_size)``), ``fan_out = out_features``
(or ``out_channels * prod(kernel_size)``).

Dtypes
------
Layers with parameters have a fixed ``dtype`` (float32 by default, or float64) and refuse inputs of
another dtype with a TypeError. Parameter-free layers (activations, pooling, ``Flatten``) have
``dtype=None`` by default and accept either.
"""

import functools
import math
import numbers

import numpy as np

from . import ops
from ._validate import FLOAT_DTYPES, batch_ndim, channels_first, int_tuple, window_output_size
from .kernels import conv2d as _k2
from .kernels import winograd3d as _kw3
from .parameter import Parameter

INITS = ("xavier", "xavier_normal", "he", "he_uniform")


# ----------------------------------------------------------------------------------------------
# argument helpers


def _dtype_arg(dtype, name="dtype", allow_none=False):
    if dtype is None and allow_none:
        return None
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name}: expected float32 or float64, got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"{name}: expected float32 or float64, got {dt}")
    return dt


def _positive_int(value, name):
    if not isinstance(value, (numbers.Integral, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a positive int, got {type(value).__name__}: {value!r}")
    if value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value}")
    return int(value)


def _generator(seed, name="seed"):
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, (numbers.Integral, np.integer)) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(f"{name}: expected a non-negative int, got {seed}")
        return np.random.default_rng(seed)
    raise TypeError(f"{name}: expected None, an int or a numpy.random.Generator, got {type(seed).__name__}")


def init_weight(shape, fan_in, fan_out, init, rng, dtype):
    """Draw a weight array of ``shape`` with the named initialisation (see the module docstring)."""
    if init == "xavier":
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-limit, limit, size=shape)
    elif init == "xavier_normal":
        w = rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), size=shape)
    elif init == "he":
        w = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)
    elif init == "he_uniform":
        limit = math.sqrt(6.0 / fan_in)
        w = rng.uniform(-limit, limit, size=shape)
    else:
        raise ValueError(f"init: expected one of {', '.join(map(repr, INITS))}, got {init!r}")
    return np.ascontiguousarray(w, dtype=dtype)


def _check_init(init):
    if not isinstance(init, str) or init not in INITS:
        raise ValueError(f"init: expected one of {', '.join(map(repr, INITS))}, got {init!r}")
    return init


# ----------------------------------------------------------------------------------------------
# base class


def _naming_layer(method):
    """Wrap a layer's forward/backward so that its TypeError/ValueError messages start with the layer."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (TypeError, ValueError) as exc:
            prefix = f"{self!r}: "
            if len(exc.args) == 1 and isinstance(exc.args[0], str) and not exc.args[0].startswith(prefix):
                exc.args = (prefix + exc.args[0],)
            raise
    wrapper._names_layer = True
    return wrapper


class Layer:
    """Base class. Subclasses implement ``forward``, ``backward`` and, when they change the shape,
    ``output_shape``; layers with weights also ``parameters`` and ``get_config``.

    A TypeError or ValueError raised inside a subclass's ``forward`` or ``backward`` (by an op it
    calls, say) is re-raised with the layer's repr in front, ``"Conv2d(1, 6, kernel_size=11): w:
    window of 11 ..."``: the same exception object and type, only the message gains the layer.
    """

    #: how ``_input`` names the expected axes in its errors, e.g. "(N, C, H, W)" (None: by ndim)
    _layout = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("forward", "backward"):
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "_names_layer", False):
                setattr(cls, name, _naming_layer(method))

    def __init__(self, dtype=None):
        self.dtype = dtype
        self.training = True
        self._cache = None

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dy, input_grad=True):  # pragma: no cover - abstract
        """Accumulate the parameters' gradients and return dL/dx (the shape of the last forward's
        input). ``input_grad=False``: the caller does not need dL/dx (a network's first layer);
        the layer returns None and skips that work where it can."""
        raise NotImplementedError

    def parameters(self):
        """The layer's :class:`Parameter` objects (an empty list for parameter-free layers)."""
        return []

    def zero_grad(self):
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode=True):
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def output_shape(self, input_shape):
        """Shape of one output sample for one input sample of ``input_shape`` (no batch axis)."""
        return tuple(input_shape)

    def get_config(self):
        """The constructor arguments that rebuild this layer's architecture (JSON-serialisable)."""
        return {} if self.dtype is None else {"dtype": self.dtype.name}

    def num_parameters(self):
        return sum(p.size for p in self.parameters())

    # -- helpers -------------------------------------------------------------------------------

    def _input(self, x, ndim):
        """Validate a forward input: ndarray of the layer's dtype (if fixed) with ``ndim`` axes."""
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self!r}: x: expected a numpy.ndarray, got {type(x).__name__}")
        if x.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{self!r}: x: expected dtype float32 or float64, got {x.dtype}")
        if self.dtype is not None and x.dtype != self.dtype:
            raise TypeError(f"{self!r}: x: expected dtype {self.dtype} (the layer's dtype), got {x.dtype}; "
                            f"cast the input with x.astype(np.{self.dtype})")
        if ndim is not None:
            batch_ndim(x, ndim, layout=self._layout)
        return x

    def _check_channels(self, x, channels):
        """Validate axis 1 of an NC... input: ``channels`` channels (hints at NHWC input)."""
        channels_first(x, channels)

    def _cached(self):
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        return self._cache

    def _check_dy(self, dy, shape, dtype):
        if not isinstance(dy, np.ndarray):
            raise TypeError(f"{self!r}: dy: expected a numpy.ndarray, got {type(dy).__name__}")
        if dy.shape != tuple(shape):
            raise ValueError(f"{self!r}: dy: expected shape {tuple(shape)} (the forward output's), got {dy.shape}")
        if dy.dtype != dtype:
            raise TypeError(f"{self!r}: dy: expected dtype {dtype}, got {dy.dtype}")
        return dy

    def __repr__(self):
        return f"{type(self).__name__}()"


# ----------------------------------------------------------------------------------------------
# layers with weights


class Dense(Layer):
    """Fully connected layer: ``y = x @ weight.T + bias``.

    Parameters
    ----------
    in_features : int
        Size of each input sample.
    out_features : int
        Size of each output sample.
    bias : bool, default True
        Whether to add a learnable bias.
    dtype : float32 (default) or float64
    init : str, default "xavier"
        Weight initialisation: "xavier", "xavier_normal", "he" (for ReLU) or "he_uniform".
    seed : int, numpy.random.Generator or None
        Seeds the weight initialisation.

    Attributes
    ----------
    weight : Parameter of shape (out_features, in_features)
    bias : Parameter of shape (out_features,), or None

    Shape
    -----
    x : (N, in_features) -> y : (N, out_features)
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, init="xavier", seed=None):
        super().__init__(_dtype_arg(dtype))
        self.in_features = _positive_int(in_features, "in_features")
        self.out_features = _positive_int(out_features, "out_features")
        self.init = _check_init(init)
        rng = _generator(seed)
        w = init_weight((self.out_features, self.in_features), self.in_features, self.out_features,
                        self.init, rng, self.dtype)
        self.weight = Parameter(w, "weight")
        self.bias = Parameter(np.zeros(self.out_features, self.dtype), "bias") if bias else None

    def parameters(self):
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def forward(self, x):
        x = self._input(x, 2)
        if x.shape[1] != self.in_features:
            raise ValueError(f"{self!r}: x: expected shape (N, {self.in_features}), got {x.shape}")
        self._cache = x
        return ops.dense(x, self.weight.value, None if self.bias is None else self.bias.value)

    def backward(self, dy, input_grad=True):
        x = self._cached()
        dy = self._check_dy(dy, (x.shape[0], self.out_features), x.dtype)
        # one fused kernel computes dx (unless input_grad is False) with dw; dw goes straight
        # into the weight's gradient where that is zero since zero_grad()
        target = self.weight.grad_target()
        try:
            dx, dw, db = ops.dense_backward(x, self.weight.value, dy, dw=target, input_grad=bool(input_grad))
        except BaseException:
            if target is not None:
                self.weight.zero_grad()   # not written: still owed its zeros
            raise
        if target is None:
            self.weight.accumulate_grad(dw)
        if self.bias is not None:
            self.bias.accumulate_grad(db)
        return dx

    def output_shape(self, input_shape):
        if tuple(input_shape) != (self.in_features,):
            raise ValueError(f"{self!r}: expected input shape ({self.in_features},) per sample, "
                             f"got {tuple(input_shape)}")
        return (self.out_features,)

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None, "dtype": self.dtype.name}

    def __repr__(self):
        extra = "" if self.bias is not None else ", bias=False"
        return f"Dense({self.in_features}, {self.out_features}{extra})"


class _ConvNd(Layer):
    _nd = None
    _forward_op = None
    _backward_op = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 dtype=np.float32, init="xavier", seed=None):
        super().__init__(_dtype_arg(dtype))
        n = self._nd
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.out_channels = _positive_int(out_channels, "out_channels")
        self.kernel_size = int_tuple(kernel_size, "kernel_size", n, 1)
        self.stride = int_tuple(stride, "stride", n, 1)
        self.padding = int_tuple(padding, "padding", n, 0)
        self.init = _check_init(init)
        receptive = int(np.prod(self.kernel_size))
        rng = _generator(seed)
        w = init_weight((self.out_channels, self.in_channels) + self.kernel_size,
                        self.in_channels * receptive, self.out_channels * receptive, self.init, rng, self.dtype)
        self.weight = Parameter(w, "weight")
        self.bias = Parameter(np.zeros(self.out_channels, self.dtype), "bias") if bias else None

    def parameters(self):
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def _op_args(self):
        stride = self.stride[0] if len(set(self.stride)) == 1 else self.stride
        padding = self.padding[0] if len(set(self.padding)) == 1 else self.padding
        return stride, padding

    def _op_kwargs(self):
        """Extra keywords for the ops (Conv2d: ``algorithm``)."""
        return {}

    def forward(self, x):
        x = self._input(x, self._nd + 2)
        self._check_channels(x, self.in_channels)
        stride, padding = self._op_args()
        y = type(self)._forward_op(x, self.weight.value, None if self.bias is None else self.bias.value,
                                   stride=stride, padding=padding, **self._op_kwargs())
        self._cache = (x, y.shape)
        return y

    def backward(self, dy, input_grad=True):
        x, y_shape = self._cached()
        dy = self._check_dy(dy, y_shape, x.dtype)
        stride, padding = self._op_args()
        dx, dw, db = type(self)._backward_op(x, self.weight.value, dy, stride=stride, padding=padding,
                                             input_grad=bool(input_grad), **self._op_kwargs())
        self.weight.accumulate_grad(dw)
        if self.bias is not None:
            self.bias.accumulate_grad(db)
        return dx

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self._nd + 1 or input_shape[0] != self.in_channels:
            raise ValueError(f"{self!r}: expected input shape ({self.in_channels}, ...) with {self._nd} spatial "
                             f"axes per sample, got {input_shape}")
        names = ("D", "H", "W")[3 - self._nd:]
        out = tuple(window_output_size(size, k, s, p, p, dim, "kernel_size")
                    for size, k, s, p, dim in zip(input_shape[1:], self.kernel_size, self.stride,
                                                  self.padding, names))
        return (self.out_channels,) + out

    def get_config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding), "bias": self.bias is not None, "dtype": self.dtype.name}

    def __repr__(self):
        def short(t):
            return t[0] if len(set(t)) == 1 else t
        args = f"{self.in_channels}, {self.out_channels}, kernel_size={short(self.kernel_size)}"
        if any(s != 1 for s in self.stride):
            args += f", stride={short(self.stride)}"
        if any(self.padding):
            args += f", padding={short(self.padding)}"
        if self.bias is None:
            args += ", bias=False"
        return f"{type(self).__name__}({args})"


class _ConvAlgorithmNd(_ConvNd):
    """A convolution whose ops take ``algorithm`` (Conv2d, Conv3d): checks it, passes it to the
    ops, and saves it in the config when it is not "auto"."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 dtype=np.float32, init="xavier", seed=None, algorithm="auto"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias, dtype, init, seed)
        if not isinstance(algorithm, str) or algorithm not in _k2.ALGORITHMS:
            raise ValueError(f"algorithm: expected one of {', '.join(map(repr, _k2.ALGORITHMS))}, got {algorithm!r}")
        kernels = _k2 if self._nd == 2 else _kw3   # the ops' own rule (fastnet.ops._conv._check_algorithm)
        applies = _k2.winograd_forward_applies if self._nd == 2 else _kw3.winograd_forward_applies
        if algorithm == "winograd" and not applies(*self.kernel_size, *self.stride):
            sizes = " or ".join(map(str, kernels.WINOGRAD_SIZES))
            also = (f" ({' or '.join(map(str, _k2.WINOGRAD_STRIDE2_SIZES))} also at stride 2)" if self._nd == 2
                    else " (3 also at stride 2)")
            raise ValueError(f"algorithm: 'winograd' needs kernel_size {sizes} and stride 1{also}, got "
                             f"kernel_size={self.kernel_size} stride={self.stride}")
        self.algorithm = algorithm

    def _op_kwargs(self):
        return {"algorithm": self.algorithm}

    def get_config(self):
        config = super().get_config()
        if self.algorithm != "auto":   # files of "auto" layers stay as before
            config["algorithm"] = self.algorithm
        return config


class Conv2d(_ConvAlgorithmNd):
    """2-D convolution (cross-correlation, as in PyTorch) over NCHW images.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride : int or (int, int), default 1
    padding : int or (int, int), default 0
        Zero padding added to both sides of each spatial axis.
    bias : bool, default True
    dtype : float32 (default) or float64
    init : str, default "xavier" (see the module docstring; "he" for ReLU networks)
    seed : int, numpy.random.Generator or None
    algorithm : {"auto", "direct", "winograd"}, default "auto"
        How the ops compute the convolution (see :func:`fastnet.ops.conv2d`): "winograd" needs a
        3x3 or 5x5 kernel at stride 1 or 2 (at stride 2 its forward pass only; ValueError
        otherwise). Saved in the config when not "auto".

    Attributes
    ----------
    weight : Parameter of shape (out_channels, in_channels, kH, kW)
    bias : Parameter of shape (out_channels,), or None

    Shape
    -----
    x : (N, in_channels, H, W) -> y : (N, out_channels, Ho, Wo) with
    ``Ho = floor((H + 2 * padding[0] - kH) / stride[0]) + 1`` and likewise ``Wo``.
    """

    _nd = 2
    _forward_op = staticmethod(lambda *a, **k: ops.conv2d(*a, **k))
    _backward_op = staticmethod(lambda *a, **k: ops.conv2d_backward(*a, **k))


class Conv3d(_ConvAlgorithmNd):
    """3-D convolution over NCDHW volumes.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int, int)
    stride : int or (int, int, int), default 1
    padding : int or (int, int, int), default 0
    bias : bool, default True
    dtype : float32 (default) or float64
    init : str, default "xavier" (see the module docstring; "he" for ReLU networks)
    seed : int, numpy.random.Generator or None
    algorithm : {"auto", "direct", "winograd"}, default "auto"
        How the ops compute the convolution (see :func:`fastnet.ops.conv3d`): "winograd" needs a
        3x3x3 kernel at stride 1 or 2 (at stride 2 its forward pass only; ValueError otherwise).
        Saved in the config when not "auto".

    Attributes
    ----------
    weight : Parameter of shape (out_channels, in_channels, kD, kH, kW)
    bias : Parameter of shape (out_channels,), or None

    Shape
    -----
    x : (N, in_channels, D, H, W) -> y : (N, out_channels, Do, Ho, Wo) with
    ``Do = floor((D + 2 * padding[0] - kD) / stride[0]) + 1`` and likewise ``Ho``, ``Wo``.
    """

    _nd = 3
    _forward_op = staticmethod(lambda *a, **k: ops.conv3d(*a, **k))
    _backward_op = staticmethod(lambda *a, **k: ops.conv3d_backward(*a, **k))


# ----------------------------------------------------------------------------------------------
# pooling and reshaping


class _MaxPoolNd(Layer):
    _nd = None

    def __init__(self, kernel_size, stride=None, padding=0, dtype=None):
        super().__init__(_dtype_arg(dtype, allow_none=True))
        n = self._nd
        self.kernel_size = int_tuple(kernel_size, "kernel_size", n, 1)
        self.stride = self.kernel_size if stride is None else int_tuple(stride, "stride", n, 1)
        self.padding = int_tuple(padding, "padding", n, 0)
        for k, p in zip(self.kernel_size, self.padding):
            if p > k // 2:
                raise ValueError(f"padding: must be at most half the kernel size (as in PyTorch), "
                                 f"got padding={padding!r} for kernel_size={kernel_size!r}")

    def _op_args(self):
        def short(t):
            return t[0] if len(set(t)) == 1 else t
        return short(self.kernel_size), short(self.stride), short(self.padding)

    def forward(self, x):
        x = self._input(x, self._nd + 2)
        kernel_size, stride, padding = self._op_args()
        y = self._forward_op(x, kernel_size, stride=stride, padding=padding)
        self._cache = (x, y.shape)
        return y

    def backward(self, dy, input_grad=True):
        x, y_shape = self._cached()
        dy = self._check_dy(dy, y_shape, x.dtype)
        if not input_grad:
            return None
        kernel_size, stride, padding = self._op_args()
        return self._backward_op(x, dy, kernel_size, stride=stride, padding=padding)

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self._nd + 1:
            raise ValueError(f"{self!r}: expected input shape (C, ...) with {self._nd} spatial axes per sample, "
                             f"got {input_shape}")
        names = ("D", "H", "W")[3 - self._nd:]
        out = tuple(window_output_size(size, k, s, p, p, dim, "kernel_size")
                    for size, k, s, p, dim in zip(input_shape[1:], self.kernel_size, self.stride,
                                                  self.padding, names))
        return (input_shape[0],) + out

    def get_config(self):
        config = {"kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding)}
        config.update(super().get_config())
        return config

    def __repr__(self):
        kernel_size, stride, padding = self._op_args()
        args = f"kernel_size={kernel_size}"
        if self.stride != self.kernel_size:
            args += f", stride={stride}"
        if any(self.padding):
            args += f", padding={padding}"
        return f"{type(self).__name__}({args})"


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling over NCHW images.

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), default ``kernel_size``
    padding : int or (int, int), default 0
        Implicit -inf padding on both sides; at most half the kernel size.
    dtype : None (default: accept float32 or float64), float32 or float64

    Shape
    -----
    x : (N, C, H, W) -> y : (N, C, Ho, Wo), ``Ho = floor((H + 2 * padding[0] - kH) / stride[0]) + 1``.
    """

    _nd = 2
    _forward_op = staticmethod(lambda *a, **k: ops.maxpool2d(*a, **k))
    _backward_op = staticmethod(lambda *a, **k: ops.maxpool2d_backward(*a, **k))


class MaxPool3d(_MaxPoolNd):
    """3-D max pooling over NCDHW volumes.

    Parameters
    ----------
    kernel_size : int or (int, int, int)
    stride : int or (int, int, int), default ``kernel_size``
    padding : int or (int, int, int), default 0
    dtype : None (default: accept float32 or float64), float32 or float64

    Shape
    -----
    x : (N, C, D, H, W) -> y : (N, C, Do, Ho, Wo), ``Do = floor((D + 2 * padding[0] - kD) / stride[0]) + 1``.
    """

    _nd = 3
    _forward_op = staticmethod(lambda *a, **k: ops.maxpool3d(*a, **k))
    _backward_op = staticmethod(lambda *a, **k: ops.maxpool3d_backward(*a, **k))


class Flatten(Layer):
    """Flatten every axis but the first: ``(N, *rest) -> (N, prod(rest))``.

    Parameters
    ----------
    dtype : None (default: accept float32 or float64), float32 or float64
    """

    def __init__(self, dtype=None):
        super().__init__(_dtype_arg(dtype, allow_none=True))

    def forward(self, x):
        x = self._input(x, None)
        if x.ndim < 2:
            raise ValueError(f"{self!r}: x: expected at least 2 axes (N, ...), got shape {x.shape}")
        self._cache = (x.shape, x.dtype)
        return np.ascontiguousarray(x).reshape(x.shape[0], -1)

    def backward(self, dy, input_grad=True):
        shape, dtype = self._cached()
        dy = self._check_dy(dy, (shape[0], int(np.prod(shape[1:]))), dtype)
        return dy.reshape(shape) if input_grad else None

    def output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)


# ----------------------------------------------------------------------------------------------
# activations


class _Activation(Layer):
    _uses_output = True  # backward from the forward output (sigmoid, tanh) or the input (relu)

    def __init__(self, dtype=None):
        super().__init__(_dtype_arg(dtype, allow_none=True))

    def forward(self, x):
        x = self._input(x, None)
        y = self._forward_op(x)
        self._cache = y if self._uses_output else x
        return y

    def backward(self, dy, input_grad=True):
        saved = self._cached()
        dy = self._check_dy(dy, saved.shape, saved.dtype)
        return self._backward_op(saved, dy) if input_grad else None


class Sigmoid(_Activation):
    """Logistic sigmoid, ``1 / (1 + exp(-x))``, elementwise. Shape: any -> same.

    Parameters
    ----------
    dtype : None (default: accept float32 or float64), float32 or float64
    """

    _forward_op = staticmethod(lambda x: ops.sigmoid(x))
    _backward_op = staticmethod(lambda y, dy: ops.sigmoid_backward(y, dy))


class Tanh(_Activation):
    """Hyperbolic tangent, elementwise. Shape: any -> same.

    Parameters
    ----------
    dtype : None (default: accept float32 or float64), float32 or float64
    """

    _forward_op = staticmethod(lambda x: ops.tanh(x))
    _backward_op = staticmethod(lambda y, dy: ops.tanh_backward(y, dy))


class ReLU(_Activation):
    """Rectified linear unit, ``max(x, 0)``, elementwise. Shape: any -> same.

    Parameters
    ----------
    dtype : None (default: accept float32 or float64), float32 or float64
    """

    _uses_output = False
    _forward_op = staticmethod(lambda x: ops.relu(x))
    _backward_op = staticmethod(lambda x, dy: ops.relu_backward(x, dy))


# The classes a saved model may name (fastnet.model.load looks them up here, never by import path).
REGISTRY = {cls.__name__: cls for cls in (Dense, Conv2d, Conv3d, MaxPool2d, MaxPool3d, Flatten,
                                          Sigmoid, Tanh, ReLU)}

__all__ = ["Layer", "Dense", "Conv2d", "Conv3d", "MaxPool2d", "MaxPool3d", "Flatten", "Sigmoid", "Tanh",
           "ReLU", "INITS", "init_weight"]


# ----------------------------------------------------------------------------------------------
# issue 12: the CNN layers (Conv1d, MaxPool1d, AvgPool2d, GlobalAvgPool2d, BatchNorm1d/2d, Dropout,
# Softmax, LeakyReLU, Reshape) live in fastnet/_layers_cnn.py; they are members of this module.

from ._layers_cnn import LAYERS as _CNN_LAYERS  # noqa: E402  (needs the classes above)
from ._layers_cnn import (AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Dropout,  # noqa: E402,F401
                          GlobalAvgPool2d, LeakyReLU, MaxPool1d, Reshape, Softmax)

REGISTRY.update({cls.__name__: cls for cls in _CNN_LAYERS})
__all__ += [cls.__name__ for cls in _CNN_LAYERS]

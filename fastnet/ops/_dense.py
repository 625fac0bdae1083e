"""Dense (fully connected) layer: ``y = x @ w.T + b`` and its gradients."""

import numpy as np

from .. import _validate
from .._trace import traced
from ..kernels import dense as _kernels


def _check_nonempty(a, name):
    if 0 in a.shape:
        raise ValueError(f"{name}: expected every dimension >= 1, got shape {a.shape}")


def _check_weight(x, w):
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w: expected shape (out_features, {x.shape[1]}) to match x's "
                         f"in_features={x.shape[1]}, got {w.shape}")


def _check_output(out, name, shape, dtype, inputs):
    """Raise unless ``out`` is a writeable C-contiguous ndarray of ``shape`` and ``dtype`` that
    shares no memory with ``inputs``."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray to write into, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {dtype} (the inputs'), got {out.dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {out.shape}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name}: expected a writeable C-contiguous array")
    if any(np.may_share_memory(out, a) for a in inputs):
        raise ValueError(f"{name}: must not share memory with the inputs")


@traced("dense")
def dense(x, w, b=None):
    """Affine map ``y = x @ w.T + b`` (PyTorch's ``linear``).

    Parameters
    ----------
    x : ndarray of shape (N, in_features), float32 or float64
    w : ndarray of shape (out_features, in_features), same dtype as x
    b : ndarray of shape (out_features,), same dtype as x, or None (no bias)

    Returns
    -------
    y : ndarray of shape (N, out_features), x's dtype.

    Shape
    -----
    (N, in_features) x (out_features, in_features) -> (N, out_features).
    """
    x = _validate.float_array(x, "x", ndim=2)
    w = _validate.float_array(w, "w", ndim=2)
    if b is not None:
        b = _validate.float_array(b, "b", ndim=1)
    _validate.same_dtype(x=x, w=w, b=b)
    _check_nonempty(x, "x")
    _check_nonempty(w, "w")
    _check_weight(x, w)
    if b is None:
        b = np.empty(0, dtype=x.dtype)
    elif b.shape[0] != w.shape[0]:
        raise ValueError(f"b: expected shape ({w.shape[0]},) (out_features of w), got {b.shape}")
    y = np.empty((x.shape[0], w.shape[0]), dtype=x.dtype)
    _kernels.dense_forward(x, w, b, y)
    return y


@traced("dense_backward")
def dense_backward(x, w, dy, dw=None, input_grad=True):
    """Gradients of ``y = x @ w.T + b``.

    Parameters
    ----------
    x : ndarray of shape (N, in_features), float32 or float64. The forward input.
    w : ndarray of shape (out_features, in_features), same dtype.
    dy : ndarray of shape (N, out_features), same dtype. Upstream gradient.
    dw : ndarray of shape (out_features, in_features), same dtype, C-contiguous, optional
        Where to write dw (every element; it must not overlap x, w or dy): a layer writes a
        parameter's gradient this way without a temporary and a pass to add it
        (:meth:`fastnet.parameter.Parameter.grad_target`). Default: a new array.
    input_grad : bool, default True. False skips dx (returned as None): a network's first layer,
        whose input needs no gradient (half the backward's multiplies).

    Returns
    -------
    dx : ndarray of shape (N, in_features), ``dy @ w``; None when ``input_grad`` is False
    dw : ndarray of shape (out_features, in_features), ``dy.T @ x`` (the given ``dw``, if any)
    db : ndarray of shape (out_features,), ``dy.sum(0)`` (returned even when the forward had no
        bias).
    """
    input_grad = _validate.boolean(input_grad, "input_grad")
    x = _validate.float_array(x, "x", ndim=2)
    w = _validate.float_array(w, "w", ndim=2)
    dy = _validate.float_array(dy, "dy", ndim=2)
    _validate.same_dtype(x=x, w=w, dy=dy)
    _check_nonempty(x, "x")
    _check_nonempty(w, "w")
    _check_weight(x, w)
    _validate.shape_equals(dy, (x.shape[0], w.shape[0]), "dy")
    dx = np.empty_like(x) if input_grad else None
    if dw is None:
        dw = np.empty_like(w)
    else:
        _check_output(dw, "dw", w.shape, x.dtype, (x, w, dy))
    db = np.empty(w.shape[0], dtype=x.dtype)
    _kernels.dense_backward(x, w, dy, dx, dw, db)
    return dx, dw, db

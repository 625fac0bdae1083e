"""Gradient clipping, as ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``: call between
``model.backward(...)`` and ``opt.step()``; both change ``Parameter.grad`` in place."""

import math
import numbers

import numpy as np

from ..parameter import Parameter
from .optimizers import _number


def _grads(params):
    if isinstance(params, Parameter):
        params = [params]
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"params: expected a Parameter or an iterable of Parameter (e.g. model.parameters()), "
                        f"got {type(params).__name__}") from None
    for i, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise TypeError(f"params: expected Parameter objects, got {type(p).__name__} at index {i}")
    return [p.grad for p in params]


def clip_grad_norm(params, max_norm, norm_type=2.0, error_if_nonfinite=False):
    r"""Scale the gradients so that their total norm is at most ``max_norm``; return the norm before.

    The total norm is taken over all gradients together, as if concatenated into one vector::

        total = (sum_p sum_i |g_p[i]| ** norm_type) ** (1 / norm_type)    (max_i |g| for inf)
        g_p <- g_p * min(1, max_norm / (total + 1e-6))

    Like PyTorch, the gradients are always multiplied by the (clamped) coefficient, so a NaN or
    infinite gradient makes the total NaN or inf and spreads to every gradient (inf: the others
    become 0), unless ``error_if_nonfinite`` asks for an error instead.

    Parameters
    ----------
    params : Parameter or iterable of Parameter
        Usually ``model.parameters()``; each ``.grad`` (float32 or float64, any shape) is changed in place.
    max_norm : float >= 0
    norm_type : float > 0 or ``math.inf``, default 2.0
    error_if_nonfinite : bool, default False
        Raise a FloatingPointError (and leave the gradients alone) if the total norm is NaN or inf.

    Returns
    -------
    float
        The total norm of the gradients before clipping (0.0 for no parameters).
    """
    grads = _grads(params)
    max_norm = _number(max_norm, "max_norm", minimum=0.0)
    if isinstance(norm_type, bool) or not isinstance(norm_type, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"norm_type: expected a positive real number or math.inf, got {norm_type!r}")
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"Invalid norm_type value: {norm_type} (expected norm_type > 0, or math.inf)")
    if not isinstance(error_if_nonfinite, bool):
        raise TypeError(f"error_if_nonfinite: expected a bool, got {type(error_if_nonfinite).__name__}")
    if not grads:
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        if norm_type == math.inf:
            norms = [float(np.max(np.abs(g))) if g.size else 0.0 for g in grads]
            total = max(norms)
            if any(math.isnan(v) for v in norms):
                total = math.nan
        else:
            total = sum(float(np.sum(np.abs(g.astype(np.float64, copy=False)) ** norm_type)) for g in grads)
            total = total ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise FloatingPointError(f"clip_grad_norm: the total norm {norm_type} of the gradients is {total}; "
                                 f"a gradient holds NaN or inf (check the loss and the learning rate), "
                                 f"or pass error_if_nonfinite=False to clip anyway")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        coef = max_norm / (total + 1e-6)
        if coef < 1.0 or math.isnan(coef):
            for g in grads:
                g *= g.dtype.type(coef)
    return total


def clip_grad_value(params, clip_value):
    """Clamp every gradient element into ``[-clip_value, clip_value]`` in place (NaN stays NaN).

    Parameters
    ----------
    params : Parameter or iterable of Parameter
        Usually ``model.parameters()``; each ``.grad`` (float32 or float64) is changed in place.
    clip_value : float >= 0
    """
    grads = _grads(params)
    clip_value = _number(clip_value, "clip_value", minimum=0.0)
    for g in grads:
        np.clip(g, -clip_value, clip_value, out=g)


__all__ = ["clip_grad_norm", "clip_grad_value"]

"""Central-difference gradient checks of any op or layer (as ``torch.autograd.gradcheck``)."""

import numbers
from collections import namedtuple

import numpy as np

__all__ = ["gradcheck", "GradcheckError", "Compared"]

Compared = namedtuple("Compared", "name analytic numeric max_abs_error")
Compared.__doc__ = """One array that :func:`gradcheck` compared.

name : str ("input 0", "input 1", ..., or "weight" / "bias" / "layer 3 weight" for parameters)
analytic : ndarray, the gradient the backward returned
numeric : ndarray, the central-difference estimate
max_abs_error : float, ``max |analytic - numeric|``
"""


class GradcheckError(AssertionError):
    """Raised by :func:`gradcheck` when an analytic gradient disagrees with central differences."""


def _is_model(fn):
    return hasattr(fn, "backward") and hasattr(fn, "parameters") and hasattr(fn, "forward")


def _check_tolerance(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"{name}: expected a non-negative number, got {value!r}")
    return float(value)


def _numeric(evaluate, array, dy, eps):
    """Central differences of ``sum(evaluate() * dy)`` with respect to ``array`` (perturbed in place)."""
    grad = np.zeros(array.shape, dtype=np.float64)
    flat = array.reshape(-1)  # a view (the callers pass C-contiguous arrays): perturbs array in place
    g = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = float(np.sum(evaluate() * dy))
        flat[i] = old - eps
        minus = float(np.sum(evaluate() * dy))
        flat[i] = old
        g[i] = (plus - minus) / (2.0 * eps)
    return grad


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, backward=None, dy=None, seed=0):
    """Compare analytic gradients with float64 central differences of ``sum(fn(*inputs) * dy)``.

    Two forms:

    * a layer or model (anything with ``forward``, ``backward`` and ``parameters``, e.g. a
      :class:`fastnet.layers.Layer` or :class:`fastnet.Sequential`, built with ``dtype=float64``):
      ``gradcheck(layer, x)`` checks ``layer.backward(dy)`` (dx) and every parameter's ``.grad``.
      The layer runs in its current mode; it must be deterministic (seed a Dropout with an int and
      rebuild it, or check ``ops.dropout`` with a fixed seed instead).
    * an op: ``gradcheck(op, inputs, backward=fn)`` with ``backward(*inputs, dy)`` returning the
      gradient of each input in order (a tuple, or one array for one input; None for an input it
      does not differentiate, e.g. an int argument). Example::

          gradcheck(ops.conv1d, (x, w, b),
                    backward=lambda x, w, b, dy: ops.conv1d_backward(x, w, dy))

    Parameters
    ----------
    fn : layer, model or callable
    inputs : ndarray or tuple of arguments. Every ndarray argument must be float64 (central
        differences in float32 are too coarse); other arguments (ints, None) pass through.
    eps : float > 0, default 1e-6: the step of the central differences
    atol, rtol : float >= 0: element ``i`` passes when
        ``|analytic[i] - numeric[i]| <= atol + rtol * |numeric[i]|`` (as ``numpy.allclose``)
    backward : callable, required for an op (see above); not used for layers
    dy : ndarray of the output's shape, optional: the upstream gradient (default: standard normal
        drawn with ``seed``)
    seed : int, default 0

    Returns
    -------
    list of :class:`Compared` (name, analytic, numeric, max_abs_error), one per array checked.

    Raises
    ------
    GradcheckError (an AssertionError) naming the worst element: the array, its index, both values
    and the tolerance. TypeError for non-float64 arrays; ValueError for bad tolerances.
    """
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
        raise ValueError(f"eps: expected a positive number, got {eps!r}")
    atol = _check_tolerance(atol, "atol")
    rtol = _check_tolerance(rtol, "rtol")
    args = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    args = tuple(np.ascontiguousarray(a) if isinstance(a, np.ndarray) else a for a in args)
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray) and a.dtype != np.float64:
            raise TypeError(f"inputs[{i}]: expected float64 (central differences need it), got {a.dtype}; "
                            f"cast with a.astype(np.float64) and build layers with dtype=np.float64")
    model = _is_model(fn)
    if model:
        if len(args) != 1 or not isinstance(args[0], np.ndarray):
            raise TypeError("inputs: a layer or model takes one float64 ndarray x")
        if backward is not None:
            raise TypeError("backward: not used for a layer or model (its own backward is checked)")
        params = list(fn.parameters())
        for p in params:
            if p.value.dtype != np.float64:
                raise TypeError(f"fn: parameter {p.name!r} is {p.value.dtype}; build the layer with dtype=np.float64")
    elif not callable(fn):
        raise TypeError(f"fn: expected a layer, a model or a callable op, got {type(fn).__name__}")
    elif not callable(backward):
        raise TypeError("backward: an op needs its backward, backward(*inputs, dy) -> gradients of the inputs")

    def evaluate():
        return np.asarray(fn.forward(args[0]) if model else fn(*args), dtype=np.float64)

    out = evaluate()
    if dy is None:
        dy = np.random.default_rng(seed).standard_normal(out.shape)
    dy = np.asarray(dy, dtype=np.float64)
    if dy.shape != out.shape:
        raise ValueError(f"dy: expected the output's shape {out.shape}, got {dy.shape}")

    pairs = []   # (name, analytic, the array to perturb)
    if model:
        saved = [p.grad.copy() for p in params]
        for p in params:
            p.grad[...] = 0
        fn.forward(args[0])
        dx = fn.backward(dy.copy())
        pairs.append(("input 0", dx, args[0]))
        names = _parameter_names(fn)
        for p, name in zip(params, names):
            pairs.append((name, p.grad.copy(), p.value))
        for p, g in zip(params, saved):
            p.grad[...] = g
    else:
        grads = backward(*args, dy.copy())
        if isinstance(grads, np.ndarray) or grads is None:
            grads = (grads,)
        grads = tuple(grads)
        arrays = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]
        if len(grads) not in (len(args), len(arrays)):
            raise ValueError(f"backward: returned {len(grads)} gradients for {len(args)} inputs")
        positions = range(len(args)) if len(grads) == len(args) else arrays
        for i, g in zip(positions, grads):
            if g is not None and isinstance(args[i], np.ndarray):
                pairs.append((f"input {i}", g, args[i]))

    compared = []
    for name, analytic, array in pairs:
        if analytic is None:
            continue
        analytic = np.asarray(analytic, dtype=np.float64)
        if analytic.shape != array.shape:
            raise GradcheckError(f"{name}: the analytic gradient has shape {analytic.shape}, "
                                 f"the input {array.shape}")
        numeric = _numeric(evaluate, array, dy, eps)
        error = np.abs(analytic - numeric)
        compared.append(Compared(name, analytic, numeric, float(error.max()) if error.size else 0.0))
        excess = error - (atol + rtol * np.abs(numeric))
        bad = ~(excess <= 0)                      # NaN counts as a failure
        if bad.any():
            worst = np.unravel_index(int(np.argmax(np.where(np.isnan(excess), np.inf, excess))), excess.shape)
            raise GradcheckError(
                f"gradcheck failed for {name} at index {tuple(int(i) for i in worst)}: analytic "
                f"{analytic[worst]!r}, numeric {numeric[worst]!r} (|difference| {error[worst]:.3g} > "
                f"atol {atol:g} + rtol {rtol:g} * |numeric|); {int(bad.sum())} of {bad.size} elements fail")
    return compared


def _parameter_names(fn):
    if hasattr(fn, "layers"):
        return [f"layer {i} {p.name}" for i, layer in enumerate(fn.layers) for p in layer.parameters()]
    return [p.name for p in fn.parameters()]

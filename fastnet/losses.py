"""Loss functions: callables ``loss(pred, target) -> (value, dpred)`` built on :mod:`fastnet.ops`.

``value`` is a NumPy scalar of ``pred``'s dtype and ``dpred`` the gradient of ``value`` with
respect to ``pred`` (same shape and dtype as ``pred``): pass it to ``model.backward(dpred)``.
"""

import numbers

import numpy as np

from . import ops


class Loss:
    """Base class. ``reduction`` says how the value combines samples: "mean" or "sum"."""

    reduction = "mean"
    #: whether ``target`` holds class labels (then ``fit`` reports accuracy)
    classification = False

    def __call__(self, pred, target):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self):
        return {}

    def __repr__(self):
        return f"{type(self).__name__}()"


class MSE(Loss):
    """Mean squared error, ``mean((pred - target) ** 2)`` over all elements.

    Notes
    -----
    Called as ``loss(pred, target) -> (value, dpred)`` with

    * ``pred``: ndarray of float32 or float64, any shape
    * ``target``: ndarray of the same shape and dtype
    * ``value``: scalar of pred's dtype
    * ``dpred``: ndarray like pred, ``2 * (pred - target) / pred.size``
    """

    def __call__(self, pred, target):
        return ops.mse_loss(pred, target)


class SquaredError(Loss):
    """The lectures' squared error, ``1/2 * sum((pred - target) ** 2)`` (a sum, not a mean).

    Plain gradient descent on it with ``optim.SGD(lr=eta)`` is exactly the lectures'
    ``w -= eta * sum_i dE_i/dw``.

    Notes
    -----
    Called as ``loss(pred, target) -> (value, dpred)`` with

    * ``pred``: ndarray of float32 or float64, any shape
    * ``target``: ndarray of the same shape and dtype
    * ``value``: scalar of pred's dtype
    * ``dpred``: ndarray like pred, ``pred - target``
    """

    reduction = "sum"

    def __call__(self, pred, target):
        return ops.squared_error(pred, target)


class CrossEntropy(Loss):
    """Softmax cross-entropy on raw scores (logits), averaged over the batch; softmax is fused.

    Exactly ``torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing)`` (see
    :func:`fastnet.ops.cross_entropy` for the formula): with class weights the mean divides by the
    summed weights of the targets.

    Parameters
    ----------
    label_smoothing : float in [0, 1], default 0.0
        Target ``(1 - label_smoothing) * onehot + label_smoothing / num_classes``.
    weight : ndarray of shape (num_classes,), optional
        A finite weight >= 0 per class.

    Notes
    -----
    Called as ``loss(pred, target) -> (value, dpred)`` with

    * ``pred``: ndarray of shape (N, num_classes), float32 or float64: logits (do not put a softmax
      layer in front of this loss)
    * ``target``: int ndarray of shape (N,): class labels in ``[0, num_classes)`` (not one-hot rows)
    * ``value``: scalar of pred's dtype; without weight and smoothing
      ``mean_i(logsumexp(pred[i]) - pred[i, target[i]])``
    * ``dpred``: ndarray like pred; without weight and smoothing ``(softmax(pred) - onehot(target)) / N``
    """

    classification = True

    def __init__(self, label_smoothing=0.0, weight=None):
        self.label_smoothing = ops._loss._positive(label_smoothing, "label_smoothing", strict=False, maximum=1.0)
        self.weight = _weight_copy(weight)

    def __call__(self, pred, target):
        return ops.cross_entropy(pred, target, label_smoothing=self.label_smoothing, weight=self.weight)

    def get_config(self):
        return {"label_smoothing": self.label_smoothing,
                "weight": None if self.weight is None else self.weight.tolist()}

    def __repr__(self):
        return _repr(self)


class NLL(Loss):
    """Negative log-likelihood on log-probabilities (after a log-softmax), as ``torch.nn.NLLLoss``.

    ``value = -sum_i w[y_i] pred[i, y_i] / sum_i w[y_i]`` over the rows whose label is not
    ``ignore_index``. On raw scores use :class:`CrossEntropy`, which fuses the log-softmax.

    Parameters
    ----------
    weight : ndarray of shape (num_classes,), optional
    ignore_index : int, optional (PyTorch's default is -100; here nothing is ignored by default)

    Notes
    -----
    Called as ``loss(pred, target) -> (value, dpred)`` with

    * ``pred``: ndarray of shape (N, num_classes), float32 or float64: log-probabilities
    * ``target``: int ndarray of shape (N,), class labels in ``[0, num_classes)``
    * ``value``: scalar of pred's dtype
    * ``dpred``: ndarray like pred, ``-w[y_i] / sum_i w[y_i]`` at ``[i, y_i]``, 0 elsewhere
    """

    classification = True

    def __init__(self, weight=None, ignore_index=None):
        if ignore_index is not None and (isinstance(ignore_index, bool)
                                         or not isinstance(ignore_index, numbers.Integral)):
            raise TypeError(f"ignore_index: expected None or an int, got {type(ignore_index).__name__}")
        self.weight = _weight_copy(weight)
        self.ignore_index = None if ignore_index is None else int(ignore_index)

    def __call__(self, pred, target):
        return ops.nll_loss(pred, target, weight=self.weight, ignore_index=self.ignore_index)

    def get_config(self):
        return {"weight": None if self.weight is None else self.weight.tolist(), "ignore_index": self.ignore_index}

    def __repr__(self):
        return _repr(self)


class BCEWithLogits(Loss):
    """Binary cross-entropy on raw scores, sigmoid fused and stable, as ``torch.nn.BCEWithLogitsLoss``.

    Per element ``max(x, 0) - x y + log1p(exp(-|x|))`` (with ``pos_weight`` p:
    ``(1 - y) x + (1 + (p - 1) y) softplus(-x)``), averaged over all elements. For binary and
    multi-label problems: one output (logit) per label, float targets 0/1 of the same shape.

    Parameters
    ----------
    pos_weight : float or ndarray broadcastable to pred's shape (usually (num_labels,)), optional
        Weight of the positive examples, e.g. ``n_negative / n_positive``.

    Notes
    -----
    Called as ``loss(pred, target) -> (value, dpred)`` with

    * ``pred``: ndarray of any shape, float32 or float64: logits (no sigmoid layer in front)
    * ``target``: ndarray of pred's shape and dtype, probabilities (usually 0.0 / 1.0)
    * ``value``: scalar of pred's dtype
    * ``dpred``: ndarray like pred, ``(sigmoid(pred) - target) / pred.size`` without pos_weight
    """

    def __init__(self, pos_weight=None):
        if pos_weight is not None and not isinstance(pos_weight, numbers.Real):
            pos_weight = _weight_copy(pos_weight, "pos_weight", allow_nd=True)
        self.pos_weight = pos_weight

    def __call__(self, pred, target):
        return ops.binary_cross_entropy_with_logits(pred, target, pos_weight=self.pos_weight)

    def get_config(self):
        pw = self.pos_weight
        return {"pos_weight": pw.tolist() if isinstance(pw, np.ndarray) else pw}

    def __repr__(self):
        return _repr(self)


class L1(Loss):
    """Mean absolute error, ``mean(|pred - target|)`` over all elements (PyTorch L1Loss).

    Notes
    -----
    Called as ``loss(pred, target) -> (value, dpred)`` with

    * ``pred``: ndarray of float32 or float64, any shape
    * ``target``: ndarray of the same shape and dtype
    * ``value``: scalar of pred's dtype
    * ``dpred``: ndarray like pred, ``sign(pred - target) / pred.size``
    """

    def __call__(self, pred, target):
        return ops.l1_loss(pred, target)


class Huber(Loss):
    """Huber loss (PyTorch HuberLoss): ``0.5 d^2`` if ``|d| < delta`` else ``delta (|d| - delta / 2)``,
    ``d = pred - target``, averaged over all elements. Less sensitive to outliers than MSE.

    Parameters
    ----------
    delta : float > 0, default 1.0

    Notes
    -----
    Called as ``loss(pred, target) -> (value, dpred)`` with

    * ``pred``: ndarray of float32 or float64, any shape
    * ``target``: ndarray of the same shape and dtype
    * ``value``: scalar of pred's dtype
    * ``dpred``: ndarray like pred, ``clip(d, -delta, delta) / pred.size``
    """

    def __init__(self, delta=1.0):
        self.delta = ops._loss._positive(delta, "delta")

    def __call__(self, pred, target):
        return ops.huber_loss(pred, target, delta=self.delta)

    def get_config(self):
        return {"delta": self.delta}

    def __repr__(self):
        return _repr(self)


def _weight_copy(weight, name="weight", allow_nd=False):
    """A read-only float64 copy of a weight array (None stays None); shapes are checked per call."""
    if weight is None:
        return None
    if isinstance(weight, (list, tuple)):
        weight = np.asarray(weight, dtype=np.float64)
    if not isinstance(weight, np.ndarray) or weight.dtype == np.bool_ or not (
            np.issubdtype(weight.dtype, np.floating) or np.issubdtype(weight.dtype, np.integer)):
        got = type(weight).__name__ + (f" of {weight.dtype}" if isinstance(weight, np.ndarray) else "")
        raise TypeError(f"{name}: expected None or a numpy.ndarray of real numbers, got {got}")
    if not allow_nd and weight.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array (one weight per class), got shape {weight.shape}")
    weight = np.array(weight, dtype=np.float64)
    weight.flags.writeable = False
    return weight


def _repr(loss):
    args = ", ".join(f"{k}={v!r}" for k, v in loss.get_config().items())
    return f"{type(loss).__name__}({args})"


REGISTRY = {cls.__name__: cls for cls in (MSE, SquaredError, CrossEntropy, NLL, BCEWithLogits, L1, Huber)}
_ALIASES = {"mse": MSE, "squared_error": SquaredError, "cross_entropy": CrossEntropy,
            "crossentropy": CrossEntropy, "nll": NLL, "bce_with_logits": BCEWithLogits, "l1": L1, "mae": L1,
            "huber": Huber}


def get(loss):
    """Return a loss object for a Loss instance, a Loss class, or a name ("mse", "cross_entropy",
    "squared_error", "nll", "bce_with_logits", "l1" (or "mae"), "huber"), with default settings."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    if isinstance(loss, str):
        cls = _ALIASES.get(loss.lower()) or REGISTRY.get(loss)
        if cls is None:
            raise ValueError(f"loss: unknown loss {loss!r}; expected one of "
                             f"{', '.join(map(repr, _ALIASES))} or a fastnet.losses.Loss")
        return cls()
    if callable(loss):
        return loss
    raise TypeError(f"loss: expected a fastnet.losses.Loss, a name or a callable, got {type(loss).__name__}")


__all__ = ["Loss", "MSE", "SquaredError", "CrossEntropy", "NLL", "BCEWithLogits", "L1", "Huber", "get"]

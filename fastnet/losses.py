"""Loss functions: callables ``loss(pred, target) -> (value, dpred)`` built on :mod:`fastnet.ops`.

``value`` is a NumPy scalar of ``pred``'s dtype and ``dpred`` the gradient of ``value`` with
respect to ``pred`` (same shape and dtype as ``pred``): pass it to ``model.backward(dpred)``.
"""

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

    Parameters (of the call)
    ------------------------
    pred : ndarray of float32 or float64, any shape
    target : ndarray of the same shape and dtype

    Returns
    -------
    value : scalar of pred's dtype
    dpred : ndarray like pred, ``2 * (pred - target) / pred.size``
    """

    def __call__(self, pred, target):
        return ops.mse_loss(pred, target)


class SquaredError(Loss):
    """The lectures' squared error, ``1/2 * sum((pred - target) ** 2)`` (a sum, not a mean).

    Plain gradient descent on it with ``optim.SGD(lr=eta)`` is exactly the lectures'
    ``w -= eta * sum_i dE_i/dw``.

    Parameters (of the call)
    ------------------------
    pred : ndarray of float32 or float64, any shape
    target : ndarray of the same shape and dtype

    Returns
    -------
    value : scalar of pred's dtype
    dpred : ndarray like pred, ``pred - target``
    """

    reduction = "sum"

    def __call__(self, pred, target):
        return ops.squared_error(pred, target)


class CrossEntropy(Loss):
    """Softmax cross-entropy on raw scores (logits), averaged over the batch; softmax is fused.

    Parameters (of the call)
    ------------------------
    pred : ndarray of shape (N, num_classes), float32 or float64
        Logits: do not put a softmax layer in front of this loss.
    target : int ndarray of shape (N,)
        Class labels in ``[0, num_classes)``.

    Returns
    -------
    value : scalar of pred's dtype, ``mean_i(logsumexp(pred[i]) - pred[i, target[i]])``
    dpred : ndarray like pred, ``(softmax(pred) - onehot(target)) / N``
    """

    classification = True

    def __call__(self, pred, target):
        return ops.cross_entropy(pred, target)


REGISTRY = {cls.__name__: cls for cls in (MSE, SquaredError, CrossEntropy)}
_ALIASES = {"mse": MSE, "squared_error": SquaredError, "cross_entropy": CrossEntropy,
            "crossentropy": CrossEntropy}


def get(loss):
    """Return a loss object for a Loss instance, a Loss class, or a name ("mse", "cross_entropy",
    "squared_error")."""
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


__all__ = ["Loss", "MSE", "SquaredError", "CrossEntropy", "get"]

"""Losses, each returning ``(loss, gradient)``: mse_loss, squared_error, cross_entropy,
binary_cross_entropy_with_logits, nll_loss, l1_loss, huber_loss.

Every loss is a mean (squared_error: a sum) over float64 partial sums, returned as a NumPy scalar
of the input's dtype. A loss too large for that dtype becomes inf (and NaN stays NaN) without a
NumPy warning: the training loop's finiteness check reports it.
"""

import math
import numbers

import numpy as np

from .. import _validate
from .._trace import traced
from ..kernels import losses as _kernels


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _scalar(value, dtype):
    """``value`` (a float64) as a NumPy scalar of ``dtype``: overflow to inf without a warning
    (``np.errstate`` only where a float32 can overflow: it costs a microsecond)."""
    if dtype == np.float64 or not abs(value) > _FLOAT32_MAX:   # NaN: not > anything
        return dtype.type(value)
    with np.errstate(over="ignore", invalid="ignore"):
        return dtype.type(value)


def _divide(total, count):
    """total / count in float64; 0 / 0 is NaN and x / 0 is inf, without a warning."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.float64(total) / np.float64(count)


def _labels(labels, n_rows, n_classes, ignore_index=None):
    """Class indices as a C-contiguous int64 array of shape (n_rows,), each in [0, n_classes)
    (or equal to ``ignore_index``)."""
    if isinstance(labels, (list, tuple)):
        labels = np.asarray(labels)
    if not isinstance(labels, np.ndarray):
        raise TypeError(f"labels: expected a numpy.ndarray of integers, got {type(labels).__name__}")
    # an integer 1-D array, or the error with the hint (one-hot rows: argmax; floats: astype)
    _validate.class_indices(labels, "labels", num_classes=n_classes)
    if labels.shape[0] != n_rows:
        raise ValueError(f"labels: expected shape ({n_rows},) (one label per row of logits), "
                         f"got {labels.shape}")
    indices = np.ascontiguousarray(labels, dtype=np.int64)   # a uint64 past int64's range turns negative
    if ignore_index is None:
        i = _kernels.first_label_outside(indices, n_classes)
    else:
        outside = (labels < 0) | (labels >= n_classes)
        outside &= labels != ignore_index
        bad = np.flatnonzero(outside)
        i = int(bad[0]) if bad.size else -1
    if i >= 0:
        also = "" if ignore_index is None else f" (or ignore_index={ignore_index})"
        raise ValueError(f"labels: expected every label in [0, {n_classes}){also}, got {labels[i]} "
                         f"at index {i}")
    return indices


def _logits(logits, name="logits"):
    logits = _validate.float_array(logits, name, ndim=2)
    if logits.shape[0] == 0 or logits.shape[1] == 0:
        raise ValueError(f"{name}: expected shape (N, C) with N >= 1 and C >= 1, got {logits.shape}")
    return logits


def _class_weight(weight, n_classes, dtype):
    """None, or ``weight`` as a C-contiguous (n_classes,) array of ``dtype``, finite and >= 0."""
    if weight is None:
        return None
    if isinstance(weight, (list, tuple)):
        weight = np.asarray(weight, dtype=np.float64)
    if not isinstance(weight, np.ndarray):
        raise TypeError(f"weight: expected None or a 1-D numpy.ndarray of per-class weights, "
                        f"got {type(weight).__name__}")
    if weight.dtype == np.bool_ or not (np.issubdtype(weight.dtype, np.floating)
                                        or np.issubdtype(weight.dtype, np.integer)):
        raise TypeError(f"weight: expected real numbers, got dtype {weight.dtype}")
    if weight.shape != (n_classes,):
        raise ValueError(f"weight: expected shape ({n_classes},) (one weight per class), got {weight.shape}")
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise ValueError(f"weight: expected finite weights >= 0, got {weight}")
    return np.array(weight, dtype=dtype, order="C")   # a writable copy: one kernel signature


def _positive(value, name, minimum=0.0, strict=True, maximum=None):
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}: {value!r}")
    value = float(value)
    low_ok = value > minimum if strict else value >= minimum
    if not math.isfinite(value) or not low_ok or (maximum is not None and value > maximum):
        rng = f"> {minimum}" if strict else f">= {minimum}"
        if maximum is not None:
            rng = f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name}: expected a finite number {rng}, got {value}")
    return value


def _pred_target(pred, target, names=("pred", "target")):
    pred_name, target_name = names
    pred = _validate.float_array(pred, pred_name)
    target = _validate.float_array(target, target_name)
    _validate.same_dtype(**{pred_name: pred, target_name: target})
    _validate.shape_equals(target, pred.shape, target_name)
    if pred.size == 0:
        raise ValueError(f"{pred_name}: expected at least one element, got shape {pred.shape}")
    return pred, target


@traced("mse_loss")
def mse_loss(pred, target):
    """Mean squared error, ``mean((pred - target)**2)`` over all elements (PyTorch MSELoss).

    Parameters
    ----------
    pred : ndarray of any shape, float32 or float64
    target : ndarray of pred's shape and dtype

    Returns
    -------
    loss : NumPy scalar of pred's dtype
    dpred : ndarray of pred's shape and dtype, ``2 * (pred - target) / pred.size``
    """
    pred, target = _pred_target(pred, target)
    dpred = np.empty(pred.shape, dtype=pred.dtype)
    total = _kernels.mse_loss_forward(pred.reshape(-1), target.reshape(-1), dpred.reshape(-1))
    return _scalar(total / pred.size, pred.dtype), dpred


@traced("squared_error")
def squared_error(pred, target):
    """Half the summed squared error, ``0.5 * sum((pred - target)**2)`` (the lectures' loss).

    Parameters
    ----------
    pred : ndarray of any shape, float32 or float64
    target : ndarray of pred's shape and dtype

    Returns
    -------
    loss : NumPy scalar of pred's dtype
    dpred : ndarray of pred's shape and dtype, ``pred - target``
    """
    pred, target = _pred_target(pred, target)
    dpred = np.empty(pred.shape, dtype=pred.dtype)
    total = _kernels.squared_error_forward(pred.reshape(-1), target.reshape(-1), dpred.reshape(-1))
    return _scalar(0.5 * total, pred.dtype), dpred


@traced("cross_entropy")
def cross_entropy(logits, labels, label_smoothing=0.0, weight=None):
    """Softmax cross-entropy averaged over the batch, exactly as ``torch.nn.CrossEntropyLoss``.

    With ``lse_i = logsumexp(logits[i])``, ``eps = label_smoothing``, ``w`` the class weights (all
    1 without ``weight``) and ``W = sum_i w[labels[i]]``::

        loss = sum_i [(1 - eps) w[y_i] (lse_i - logits[i, y_i]) + eps/C sum_c w[c] (lse_i - logits[i, c])] / W

    so without weights and smoothing it is ``mean_i(lse_i - logits[i, labels[i]])``. As in PyTorch
    the weighted mean divides by the summed weights of the targets, and the smoothing term is
    weighted by the class weights but normalised by the same ``W``. Computed with the max-shift
    (exponentials in the logits' dtype, sums and the loss in float64), so logits of +-1e4 are
    fine. A NaN logit makes the loss NaN.

    Parameters
    ----------
    logits : ndarray of shape (N, C), float32 or float64
        Raw scores: do not apply a softmax first.
    labels : ndarray of shape (N,), any integer dtype, each in [0, C)
        Class indices. Bool, float and one-hot labels are refused (TypeError).
    label_smoothing : float in [0, 1], default 0.0
        Mixes the one-hot target with the uniform distribution: target ``(1 - eps) onehot + eps / C``.
    weight : ndarray of shape (C,), optional
        A finite weight >= 0 per class (cast to logits' dtype), e.g. for unbalanced classes.

    Returns
    -------
    loss : NumPy scalar of logits' dtype
    dlogits : ndarray of shape (N, C), logits' dtype; without weights and smoothing
        ``(softmax(logits) - onehot(labels)) / N``
    """
    logits = _logits(logits)
    n_rows, n_classes = logits.shape
    labels = _labels(labels, n_rows, n_classes)
    label_smoothing = _positive(label_smoothing, "label_smoothing", strict=False, maximum=1.0)
    weight = _class_weight(weight, n_classes, logits.dtype)
    dlogits = np.empty_like(logits)
    if weight is None and label_smoothing == 0.0:
        total = _kernels.cross_entropy_forward(logits, labels, dlogits)
        return _scalar(total / n_rows, logits.dtype), dlogits
    if weight is None:
        weight = np.ones(n_classes, dtype=logits.dtype)
    weight_sum = float(np.sum(weight.astype(np.float64)[labels]))
    inv_weight_sum = _divide(1.0, weight_sum)
    total = _kernels.cross_entropy_weighted_forward(logits, labels, weight, label_smoothing, inv_weight_sum,
                                                    dlogits)
    return _scalar(_divide(total, weight_sum), logits.dtype), dlogits


@traced("nll_loss")
def nll_loss(log_probs, labels, weight=None, ignore_index=None):
    """Negative log-likelihood of the labels under log-probabilities, as ``torch.nn.NLLLoss`` (mean).

    ``loss = -sum_i w[y_i] log_probs[i, y_i] / sum_i w[y_i]`` over the rows whose label is not
    ``ignore_index`` (all of them by default; PyTorch's default is -100). Put a log-softmax in
    front, or use :func:`cross_entropy` on the raw scores, which fuses both. If every row is
    ignored (or has weight 0) the loss is NaN, as in PyTorch.

    Parameters
    ----------
    log_probs : ndarray of shape (N, C), float32 or float64
    labels : ndarray of shape (N,), any integer dtype, each in [0, C) or equal to ``ignore_index``
    weight : ndarray of shape (C,), optional
        A finite weight >= 0 per class (cast to log_probs' dtype).
    ignore_index : int, optional
        A label value whose rows are left out of the loss and get a zero gradient.

    Returns
    -------
    loss : NumPy scalar of log_probs' dtype
    dlog_probs : ndarray of shape (N, C), log_probs' dtype: ``-w[y_i] / sum_i w[y_i]`` at
        ``[i, y_i]``, 0 elsewhere
    """
    log_probs = _logits(log_probs, "log_probs")
    n_rows, n_classes = log_probs.shape
    if ignore_index is not None and (isinstance(ignore_index, bool)
                                     or not isinstance(ignore_index, (numbers.Integral, np.integer))):
        raise TypeError(f"ignore_index: expected None or an int, got {type(ignore_index).__name__}")
    labels = _labels(labels, n_rows, n_classes, ignore_index)
    weight = _class_weight(weight, n_classes, log_probs.dtype)
    if weight is None:
        weight = np.ones(n_classes, dtype=log_probs.dtype)
    sentinel = -1 if ignore_index is None else int(ignore_index)   # -1 never matches a checked label
    dlog_probs = np.empty_like(log_probs)
    total, weight_sum = _kernels.nll_loss_forward(log_probs, labels, weight, sentinel, dlog_probs)
    return _scalar(_divide(total, weight_sum), log_probs.dtype), dlog_probs


@traced("binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits(logits, target, pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable step, as ``torch.nn.BCEWithLogitsLoss`` (mean).

    Per element, with ``x = logits``, ``y = target`` and ``p = pos_weight`` (1 without it)::

        loss = (1 - y) x + (1 + (p - 1) y) (max(-x, 0) + log1p(exp(-|x|)))
             = max(x, 0) - x y + log1p(exp(-|x|))                      (p = 1)

    which is ``-[p y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))]`` without ever computing a log
    of 0 or an exp that overflows: logits of +-1e4 are fine. Averaged over all elements. Each
    element's loss and gradient keep their relative accuracy however small they are (the loss
    of x = -30 with y = 0, 9.4e-14, to 1 ulp).

    Parameters
    ----------
    logits : ndarray of any shape, float32 or float64
        Raw scores: do not apply a sigmoid first.
    target : ndarray of logits' shape and dtype
        Probabilities of the positive class, usually 0.0 or 1.0 (not checked: soft targets are fine).
    pos_weight : array-like broadcastable to logits' shape, optional
        Weight of the positive term, e.g. ``n_negative / n_positive`` per class, shape (C,) for
        logits of shape (N, C). Finite, cast to logits' dtype.

    Returns
    -------
    loss : NumPy scalar of logits' dtype
    dlogits : ndarray like logits, ``((1 - y) sigmoid(x) - p y sigmoid(-x)) / n``
        (``(sigmoid(x) - y) / n`` for p = 1), n = logits.size
    """
    logits, target = _pred_target(logits, target, names=("logits", "target"))
    if pos_weight is None:
        flat_weight = np.empty(0, dtype=logits.dtype)
    else:
        if isinstance(pos_weight, numbers.Real) and not isinstance(pos_weight, bool):
            pos_weight = np.asarray(pos_weight, dtype=np.float64)
        if isinstance(pos_weight, (list, tuple)):
            pos_weight = np.asarray(pos_weight, dtype=np.float64)
        if not isinstance(pos_weight, np.ndarray):
            raise TypeError(f"pos_weight: expected None, a number or a numpy.ndarray, got {type(pos_weight).__name__}")
        if pos_weight.dtype == np.bool_ or not (np.issubdtype(pos_weight.dtype, np.floating)
                                                or np.issubdtype(pos_weight.dtype, np.integer)):
            raise TypeError(f"pos_weight: expected real numbers, got dtype {pos_weight.dtype}")
        try:
            full = np.broadcast_to(pos_weight, logits.shape)
        except ValueError:
            per_class = logits.shape[-1] if logits.ndim else 1
            raise ValueError(f"pos_weight: shape {pos_weight.shape} does not broadcast to logits' shape "
                             f"{logits.shape}; use one weight per class, shape ({per_class},)") from None
        if not np.all(np.isfinite(pos_weight)):
            raise ValueError(f"pos_weight: expected finite weights, got {pos_weight}")
        flat_weight = np.array(full, dtype=logits.dtype, order="C").reshape(-1)   # writable copy
    dlogits = np.empty(logits.shape, dtype=logits.dtype)
    total = _kernels.bce_with_logits_forward(logits.reshape(-1), target.reshape(-1), flat_weight,
                                             dlogits.reshape(-1))
    return _scalar(total / logits.size, logits.dtype), dlogits


@traced("l1_loss")
def l1_loss(pred, target):
    """Mean absolute error, ``mean(|pred - target|)`` over all elements (PyTorch L1Loss).

    Parameters
    ----------
    pred : ndarray of any shape, float32 or float64
    target : ndarray of pred's shape and dtype

    Returns
    -------
    loss : NumPy scalar of pred's dtype
    dpred : ndarray of pred's shape and dtype, ``sign(pred - target) / pred.size`` (0 where equal,
        as in PyTorch; NaN where the difference is NaN)
    """
    pred, target = _pred_target(pred, target)
    dpred = np.empty(pred.shape, dtype=pred.dtype)
    total = _kernels.l1_loss_forward(pred.reshape(-1), target.reshape(-1), dpred.reshape(-1))
    return _scalar(total / pred.size, pred.dtype), dpred


@traced("huber_loss")
def huber_loss(pred, target, delta=1.0):
    """Huber loss averaged over all elements (PyTorch HuberLoss): quadratic near 0, linear beyond ``delta``.

    With ``d = pred - target``: ``0.5 d^2`` if ``|d| < delta``, else ``delta (|d| - delta / 2)``.
    For ``delta = 1`` it equals PyTorch's SmoothL1Loss (beta = 1).

    Parameters
    ----------
    pred : ndarray of any shape, float32 or float64
    target : ndarray of pred's shape and dtype
    delta : float > 0, default 1.0

    Returns
    -------
    loss : NumPy scalar of pred's dtype
    dpred : ndarray of pred's shape and dtype, ``clip(d, -delta, delta) / pred.size``
    """
    pred, target = _pred_target(pred, target)
    delta = _positive(delta, "delta")
    dpred = np.empty(pred.shape, dtype=pred.dtype)
    total = _kernels.huber_loss_forward(pred.reshape(-1), target.reshape(-1), delta, dpred.reshape(-1))
    return _scalar(total / pred.size, pred.dtype), dpred

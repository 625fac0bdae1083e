"""Losses, each returning ``(loss, gradient)``: mse_loss, squared_error, cross_entropy."""

import numpy as np

from .. import _validate
from .._trace import traced
from ..kernels import losses as _kernels


def _pred_target(pred, target):
    pred = _validate.float_array(pred, "pred")
    target = _validate.float_array(target, "target")
    _validate.same_dtype(pred=pred, target=target)
    _validate.shape_equals(target, pred.shape, "target")
    if pred.size == 0:
        raise ValueError(f"pred: expected at least one element, got shape {pred.shape}")
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
    return pred.dtype.type(total / pred.size), dpred


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
    return pred.dtype.type(0.5 * total), dpred


@traced("cross_entropy")
def cross_entropy(logits, labels):
    """Softmax cross-entropy averaged over the batch (PyTorch ``cross_entropy``, mean reduction).

    ``loss = mean_i(logsumexp(logits[i]) - logits[i, labels[i]])``, computed with the max-shift
    in float64, so logits of +-1e4 are fine. A NaN logit makes the loss NaN.

    Parameters
    ----------
    logits : ndarray of shape (N, C), float32 or float64
    labels : ndarray of shape (N,), any integer dtype, each in [0, C). Bool and float labels are
        refused (TypeError).

    Returns
    -------
    loss : NumPy scalar of logits' dtype
    dlogits : ndarray of shape (N, C), logits' dtype, ``(softmax(logits) - onehot(labels)) / N``
    """
    logits = _validate.float_array(logits, "logits", ndim=2)
    if isinstance(labels, (list, tuple)):
        labels = np.asarray(labels)
    if not isinstance(labels, np.ndarray):
        raise TypeError(f"labels: expected a numpy.ndarray of integers, got {type(labels).__name__}")
    _validate.class_indices(labels, "labels", num_classes=logits.shape[1])  # messages with the one-hot hint
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels: expected an integer dtype, got {labels.dtype}")
    if labels.ndim != 1:
        raise ValueError(f"labels: expected a 1-D array, got {labels.ndim}-D with shape {labels.shape}")
    n_rows, n_classes = logits.shape
    if n_rows == 0 or n_classes == 0:
        raise ValueError(f"logits: expected shape (N, C) with N >= 1 and C >= 1, got {logits.shape}")
    if labels.shape[0] != n_rows:
        raise ValueError(f"labels: expected shape ({n_rows},) (one label per row of logits), "
                         f"got {labels.shape}")
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"labels: expected every label in [0, {n_classes}), got {labels[i]} "
                         f"at index {i}")
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    dlogits = np.empty_like(logits)
    total = _kernels.cross_entropy_forward(logits, labels, dlogits)
    return logits.dtype.type(total / n_rows), dlogits

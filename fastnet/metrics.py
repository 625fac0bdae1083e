"""Metrics: accuracy, top-k accuracy, mean absolute error and the confusion matrix.

The functions take ``(y_true, y_pred)`` in that order (as scikit-learn and Keras do; the losses
take ``(pred, target)``). ``y_pred`` may be scores (logits or probabilities, shape (N, C)), from
which the predicted class is the argmax, or class indices (N,).

``fit`` and ``evaluate`` use the :class:`Metric` objects (``model.compile(..., metrics=[...])``
with names "accuracy", "top_5_accuracy" (any k), "mae", or :class:`TopKAccuracy` etc.). A metric
returns a *sum* over a batch's samples, so that epoch values are exact sample averages however the
samples are split into batches (or across processes).
"""

import numbers
import re

import numpy as np


# ----------------------------------------------------------------------------------------------
# argument checks


def _labels(y, name):
    if not isinstance(y, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray of class indices, got {type(y).__name__}")
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        hint = "; got one-hot rows? use y.argmax(1)" if y.ndim == 2 else "; convert with y.astype(np.int64)"
        raise TypeError(f"{name}: expected class indices (N,) of an integer dtype, got {y.dtype} "
                        f"with shape {y.shape}{hint}")
    if y.ndim != 1:
        raise ValueError(f"{name}: expected class indices of shape (N,), got shape {y.shape}")
    if y.size and y.min() < 0:
        i = int(np.argmax(y < 0))
        raise ValueError(f"{name}: expected non-negative class indices, got {y[i]} at index {i}")
    return y


def _predicted_classes(y_pred, name="y_pred"):
    """Class indices from scores (N, C) (argmax) or from indices (N,)."""
    if not isinstance(y_pred, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(y_pred).__name__}")
    if y_pred.ndim == 2 and y_pred.dtype.kind == "f":
        return np.argmax(y_pred, axis=1)
    return _labels(y_pred, name)


def _true_classes(y_true, y_pred, name="y_true"):
    # one-hot targets of the scores' shape are accepted (categorical accuracy)
    if (isinstance(y_true, np.ndarray) and isinstance(y_pred, np.ndarray) and y_true.ndim == 2
            and y_true.shape == y_pred.shape and y_true.dtype.kind == "f"):
        return np.argmax(y_true, axis=1)
    return _labels(y_true, name)


def _same_length(a, b):
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"y_pred: expected {a.shape[0]} samples (as y_true), got {b.shape[0]}")


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------------------------
# the functions


def accuracy(y_true, y_pred):
    """Fraction of samples whose predicted class is the true class.

    Parameters
    ----------
    y_true : int ndarray (N,) of class indices, or float one-hot (N, C) of y_pred's shape
    y_pred : float ndarray (N, C) of scores (argmax taken), or int ndarray (N,) of class indices

    Returns
    -------
    float in [0, 1]
    """
    return Accuracy().sum(y_true, y_pred) / max(len(y_true), 1)


def top_k_accuracy(y_true, y_pred, k=5):
    """Fraction of samples whose true class is among the ``k`` highest scores.

    Ties count in the sample's favour, as in TensorFlow's ``in_top_k``: the sample is correct when
    fewer than ``k`` classes score strictly higher than the true class. A NaN score for the true
    class counts as wrong.

    Parameters
    ----------
    y_true : int ndarray (N,) of class indices
    y_pred : float ndarray (N, C) of scores
    k : int >= 1

    Returns
    -------
    float in [0, 1]
    """
    return TopKAccuracy(k).sum(y_true, y_pred) / max(len(y_true), 1)


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_pred - y_true|)`` over all elements (arrays of the same shape). Returns a float."""
    return MeanAbsoluteError().sum(y_true, y_pred) / max(len(y_true), 1)


mae = mean_absolute_error


def confusion_matrix(y_true, y_pred, num_classes=None):
    """Counts of (true class, predicted class) pairs.

    Parameters
    ----------
    y_true : int ndarray (N,) of class indices
    y_pred : int ndarray (N,) of class indices, or float ndarray (N, C) of scores (argmax taken)
    num_classes : int, optional
        Default: C for scores, else ``max(y_true.max(), y_pred.max()) + 1``.

    Returns
    -------
    int64 ndarray (num_classes, num_classes): ``m[i, j]`` = samples of true class ``i`` predicted
    as ``j`` (rows: truth, columns: prediction, as in scikit-learn).
    """
    truth = _labels(y_true, "y_true")
    pred = _predicted_classes(y_pred)
    _same_length(truth, pred)
    if num_classes is None:
        if isinstance(y_pred, np.ndarray) and y_pred.ndim == 2:
            num_classes = y_pred.shape[1]
        else:
            num_classes = int(max(truth.max(initial=-1), pred.max(initial=-1))) + 1
        num_classes = max(num_classes, 1)
    num_classes = _positive_int(num_classes, "num_classes")
    for name, labels in (("y_true", truth), ("y_pred", pred)):
        bad = np.flatnonzero(labels >= num_classes)
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{name}: class {labels[i]} at index {i} is not below num_classes={num_classes}")
    flat = truth.astype(np.int64) * num_classes + pred.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


# ----------------------------------------------------------------------------------------------
# metric objects for fit / evaluate


class Metric:
    """Base class of the metrics ``fit`` reports. ``name`` is the key in the logs and History;
    ``sum(y_true, y_pred)`` returns the metric summed over the batch's samples (a float)."""

    name = None

    def sum(self, y_true, y_pred):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, y_true, y_pred):
        """The metric's mean over the samples."""
        return self.sum(y_true, y_pred) / max(len(y_true), 1)

    def __repr__(self):
        return f"{type(self).__name__}()"


class Accuracy(Metric):
    """Accuracy, as :func:`accuracy` (name ``'accuracy'``)."""

    name = "accuracy"

    def sum(self, y_true, y_pred):
        truth = _true_classes(y_true, y_pred)
        pred = _predicted_classes(y_pred)
        _same_length(truth, pred)
        return float(np.count_nonzero(truth == pred))


class TopKAccuracy(Metric):
    """Top-k accuracy, as :func:`top_k_accuracy` (name ``'top_{k}_accuracy'``).

    Parameters
    ----------
    k : int >= 1, default 5
    """

    def __init__(self, k=5):
        self.k = _positive_int(k, "k")
        self.name = f"top_{self.k}_accuracy"

    def sum(self, y_true, y_pred):
        truth = _labels(y_true, "y_true")
        if not isinstance(y_pred, np.ndarray) or y_pred.ndim != 2 or y_pred.dtype.kind != "f":
            raise ValueError(f"y_pred: top-k accuracy needs float scores of shape (N, C), got "
                             f"{getattr(y_pred, 'dtype', type(y_pred).__name__)} {getattr(y_pred, 'shape', '')}")
        _same_length(truth, y_pred)
        if truth.size and truth.max() >= y_pred.shape[1]:
            i = int(np.argmax(truth >= y_pred.shape[1]))
            raise ValueError(f"y_true: class {truth[i]} at index {i} is out of range for {y_pred.shape[1]} scores")
        score = y_pred[np.arange(truth.shape[0]), truth]
        higher = np.count_nonzero(y_pred > score[:, None], axis=1)
        return float(np.count_nonzero((higher < self.k) & ~np.isnan(score)))

    def __repr__(self):
        return f"TopKAccuracy(k={self.k})"


class MeanAbsoluteError(Metric):
    """Mean absolute error, as :func:`mean_absolute_error` (name ``'mae'``)."""

    name = "mae"

    def sum(self, y_true, y_pred):
        if not isinstance(y_true, np.ndarray) or not isinstance(y_pred, np.ndarray):
            raise TypeError("mae: expected numpy arrays y_true and y_pred")
        if y_true.shape != y_pred.shape:
            raise ValueError(f"y_true: expected the shape of y_pred {y_pred.shape}, got {y_true.shape}")
        n = max(y_true.shape[0], 1) if y_true.ndim else 1
        # per-sample mean over the other axes, summed over the samples
        return float(np.mean(np.abs(y_pred.astype(np.float64) - y_true)) * n)


class _FunctionMetric(Metric):
    """A user function ``fn(y_true, y_pred) -> batch mean``, summed as mean * samples."""

    def __init__(self, fn):
        self.fn = fn
        self.name = getattr(fn, "__name__", "metric")

    def sum(self, y_true, y_pred):
        return float(self.fn(y_true, y_pred)) * len(y_true)

    def __repr__(self):
        return f"metric({self.name})"


_NAMES = {"accuracy": Accuracy, "acc": Accuracy, "mae": MeanAbsoluteError,
          "mean_absolute_error": MeanAbsoluteError}
_TOP_K = re.compile(r"^top_(\d+)_accuracy$")


def get(metric):
    """A :class:`Metric` for a name ("accuracy", "top_5_accuracy" or any ``top_{k}_accuracy``,
    "mae"), a Metric instance or class, or a function ``fn(y_true, y_pred) -> mean``."""
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, type) and issubclass(metric, Metric):
        return metric()
    if isinstance(metric, str):
        key = metric.lower()
        if key in _NAMES:
            return _NAMES[key]()
        match = _TOP_K.match(key)
        if match:
            return TopKAccuracy(int(match.group(1)))
        raise ValueError(f"metrics: unknown metric {metric!r}; expected 'accuracy', 'top_5_accuracy' "
                         f"(any k), 'mae', a fastnet.metrics.Metric or a function(y_true, y_pred)")
    if callable(metric):
        return _FunctionMetric(metric)
    raise TypeError(f"metrics: expected a name, a fastnet.metrics.Metric or a function, got {type(metric).__name__}")


__all__ = ["accuracy", "top_k_accuracy", "mean_absolute_error", "mae", "confusion_matrix", "Metric",
           "Accuracy", "TopKAccuracy", "MeanAbsoluteError", "get"]

"""Callbacks for ``Sequential.fit`` (Keras-like): History, EarlyStopping, ModelCheckpoint, CSVLogger, ...

Epochs are 1-based everywhere, as on the progress bar: the first epoch is epoch 1 in
``on_epoch_begin``/``on_epoch_end``, in ``History.epoch``, in ``EarlyStopping.best_epoch`` and
``stopped_epoch``, in ``ModelCheckpoint``'s ``{epoch}`` and in ``CSVLogger``'s ``epoch`` column.
Batches are 1-based within their epoch. (Keras counts epochs from 0 in its callbacks and from 1 on
its bar.)

A callback may set ``model.stop_training = True``: ``fit`` then stops after the current batch
(from ``on_batch_end``) or the current epoch (from ``on_epoch_end``).
"""

import csv
import inspect
import io
import math
import numbers
import os
import tempfile

import numpy as np

from . import distributed as _distributed
from .optim import Optimizer


class Callback:
    """Base class for ``fit`` callbacks; override the hooks you need.

    Hooks, in order: ``on_train_begin(model)``; per epoch ``on_epoch_begin(model, epoch)``, per
    batch ``on_batch_begin(model, batch)`` and ``on_batch_end(model, batch, logs)`` (logs:
    "loss" of the batch, "size" its number of samples), ``on_epoch_end(model, epoch, logs)`` (logs:
    the epoch's metrics, which a callback may add to, e.g. "lr"); ``on_train_end(model)``.
    """

    def on_train_begin(self, model):
        pass

    def on_epoch_begin(self, model, epoch):
        pass

    def on_batch_begin(self, model, batch):
        pass

    def on_batch_end(self, model, batch, logs):
        pass

    def on_epoch_end(self, model, epoch, logs):
        pass

    def on_train_end(self, model):
        pass


class History:
    """What ``fit`` returns: per-epoch metrics.

    Attributes
    ----------
    history : dict of str -> list of float
        "loss" (training loss, averaged over the epoch's samples for mean losses, summed for sum
        losses), one entry per metric ("accuracy", "top_5_accuracy", "mae", ...), "val_loss" and
        "val_<metric>" with validation data, "samples_per_second", "seconds", and what callbacks
        add ("lr").
    epoch : list of int, the epochs run (1-based, as on the progress bar)
    """

    def __init__(self):
        self.history = {}
        self.epoch = []

    def _append(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key):
        return self.history[key]

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


# ----------------------------------------------------------------------------------------------
# helpers


def _check_monitor(monitor):
    if not isinstance(monitor, str):
        raise TypeError(f"monitor: expected a str, got {type(monitor).__name__}")
    return monitor


def _mode(mode, monitor):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if "accuracy" in monitor else "min"
    return mode


def _monitored(owner, monitor, logs):
    if monitor not in logs:
        raise ValueError(f"{owner}: monitor={monitor!r} is not among the metrics of this fit "
                         f"({', '.join(sorted(logs))}); pass validation_data (or validation_split) to fit "
                         f"for 'val_*' metrics")
    return logs[monitor]


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path, write, binary=True):
    """Write a file through a temporary file in its folder, fsync and ``os.replace``: a crash never
    leaves it half-written. ``write(f)`` writes the contents to the open file ``f``."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastnet-", suffix=".tmp", dir=directory)
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", newline="", encoding="utf-8")) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ----------------------------------------------------------------------------------------------
# callbacks


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of every epoch from ``schedule(epoch)``.

    Parameters
    ----------
    optimizer : fastnet.optim.Optimizer
    schedule : callable (epoch: int, 1-based) -> float, or "cosine"
        "cosine" anneals from the optimizer's current lr towards 0 over ``epochs`` epochs:
        ``lr_0 * (1 + cos(pi * (epoch - 1) / epochs)) / 2`` (lr_0 in the first epoch).
    epochs : int, required for "cosine"

    The lr of each epoch is added to the logs (and History) as "lr". For PyTorch-style scheduler
    objects (``fastnet.optim.lr_scheduler``) use :class:`LRSchedulerCallback`.
    """

    def __init__(self, optimizer, schedule, epochs=None):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected a fastnet.optim.Optimizer, got {type(optimizer).__name__}")
        if isinstance(schedule, str) and schedule == "cosine":
            if isinstance(epochs, bool) or not isinstance(epochs, (numbers.Integral, np.integer)) or epochs < 1:
                raise ValueError(f"epochs: the cosine schedule needs a positive int, got {epochs!r}")
            lr0 = optimizer.lr
            schedule = lambda epoch: lr0 * (1 + math.cos(math.pi * (epoch - 1) / epochs)) / 2  # noqa: E731
        elif not callable(schedule):
            raise TypeError(f"schedule: expected a callable or 'cosine', got {schedule!r}")
        self.optimizer = optimizer
        self.schedule = schedule

    def on_epoch_begin(self, model, epoch):
        self.optimizer.lr = self.schedule(epoch)

    def on_epoch_end(self, model, epoch, logs):
        logs["lr"] = self.optimizer.lr


class LRSchedulerCallback(Callback):
    """Run a PyTorch-style learning-rate scheduler from ``fit``: ``scheduler.step()`` after every
    epoch, or ``scheduler.step(logs[monitor])`` for schedulers that take a metric (ReduceLROnPlateau).

    Parameters
    ----------
    scheduler : any object with a ``step()`` method (e.g. ``fastnet.optim.lr_scheduler.StepLR``),
        or ``step(metric)`` (e.g. ``ReduceLROnPlateau``)
    monitor : str, optional
        The log key passed to ``step``. Default: "val_loss" for a ``step`` that requires a metric
        (or a scheduler class named ``*Plateau*``), else None: a plain ``step()``.

    The lr used in the epoch (``scheduler.optimizer.lr`` where the scheduler has an optimizer) is
    added to the logs as "lr", before the step.
    """

    def __init__(self, scheduler, monitor=None):
        step = getattr(scheduler, "step", None)
        if not callable(step):
            raise TypeError(f"scheduler: expected an object with a step() method, got {type(scheduler).__name__}")
        if monitor is None and (_requires_argument(step) or "plateau" in type(scheduler).__name__.lower()):
            monitor = "val_loss"
        self.scheduler = scheduler
        self.monitor = None if monitor is None else _check_monitor(monitor)

    def on_epoch_end(self, model, epoch, logs):
        optimizer = getattr(self.scheduler, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "lr"):
            logs["lr"] = optimizer.lr
        if self.monitor is None:
            self.scheduler.step()
        else:
            self.scheduler.step(_monitored("LRSchedulerCallback", self.monitor, logs))


def _requires_argument(method):
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False
    return any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


class EarlyStopping(Callback):
    """Stop ``fit`` when a monitored metric stops improving.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch logs: "loss", "accuracy", "val_loss", "val_accuracy", ...
    patience : int >= 0, default 0
        Epochs without improvement to wait before stopping.
    min_delta : float >= 0, default 0
        Smallest change that counts as an improvement.
    mode : "auto" (default), "min" or "max"
        "auto" maximises metrics whose name contains "accuracy" and minimises the rest.
    restore_best_weights : bool, default False
        On stopping (or at the end of training), restore the weights of the best epoch.

    Attributes
    ----------
    best : float
    best_epoch : int or None, 1-based (as on the progress bar and in ``History.epoch``)
    stopped_epoch : int or None, 1-based: the last epoch run, when this callback stopped training
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto", restore_best_weights=False):
        self.monitor = _check_monitor(monitor)
        if isinstance(patience, bool) or not isinstance(patience, (numbers.Integral, np.integer)) or patience < 0:
            raise ValueError(f"patience: expected a non-negative int, got {patience!r}")
        if not isinstance(min_delta, numbers.Real) or min_delta < 0:
            raise ValueError(f"min_delta: expected a non-negative number, got {min_delta!r}")
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.mode = _mode(mode, monitor)
        self.restore_best_weights = bool(restore_best_weights)

    def on_train_begin(self, model):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = None
        self.best_weights = None
        self.wait = 0
        self.stopped_epoch = None

    def _improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, model, epoch, logs):
        value = _monitored("EarlyStopping", self.monitor, logs)
        if self._improved(value):
            self.best = value
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = model.get_weights()
        else:
            self.wait += 1
            if self.wait > self.patience:
                self.stopped_epoch = epoch
                model.stop_training = True

    def on_train_end(self, model):
        if self.restore_best_weights and self.best_weights is not None:
            model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (``model.save``: one .npz, written atomically) at the end of epochs.

    Parameters
    ----------
    path : str or os.PathLike
        Where to save. May contain ``{epoch}`` (1-based) and log keys, formatted with
        ``str.format``: ``"ckpt-{epoch:03d}-{val_loss:.3f}.npz"``.
    monitor : str, default "val_loss"
        The log key compared with ``save_best_only``.
    save_best_only : bool, default False
        Save only when ``monitor`` improved on the best value so far (else every epoch).
    mode : "auto" (default), "min" or "max", as in :class:`EarlyStopping`

    Attributes
    ----------
    best : float, best_epoch : int or None (1-based), saved : list of str, the paths written
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto"):
        try:
            self.path = os.fspath(path)
        except TypeError:
            raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}") from None
        self.monitor = _check_monitor(monitor)
        if not isinstance(save_best_only, (bool, np.bool_)):
            raise TypeError(f"save_best_only: expected True or False, got {save_best_only!r}")
        self.save_best_only = bool(save_best_only)
        self.mode = _mode(mode, monitor)

    def on_train_begin(self, model):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = None
        self.saved = []

    def on_epoch_end(self, model, epoch, logs):
        if self.save_best_only:
            value = _monitored("ModelCheckpoint", self.monitor, logs)
            better = value < self.best if self.mode == "min" else value > self.best
            if not better:
                return
            self.best, self.best_epoch = value, epoch
        try:
            path = self.path.format(epoch=epoch, **logs)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"ModelCheckpoint: cannot format path {self.path!r} with epoch and the logs "
                             f"({', '.join(sorted(logs))}): {exc!r}") from None
        model.save(path)
        self.saved.append(path)


class CSVLogger(Callback):
    """Write the epoch logs to a CSV file: a header, then one row per epoch ("epoch" first, 1-based).

    The whole file is rewritten atomically after every epoch (a crash never leaves half a row).

    Parameters
    ----------
    path : str or os.PathLike
    separator : str, default ","
    append : bool, default False
        Keep the rows of an existing file (its header is kept; new rows follow its columns).
    """

    def __init__(self, path, separator=",", append=False):
        try:
            self.path = os.fspath(path)
        except TypeError:
            raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}") from None
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"separator: expected a single character, got {separator!r}")
        self.separator = separator
        self.append = bool(append)

    def on_train_begin(self, model):
        self.rows, self.columns = [], None
        if self.append and os.path.exists(self.path):
            with open(self.path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f, delimiter=self.separator)
                self.rows = list(reader)
                self.columns = reader.fieldnames

    def on_epoch_end(self, model, epoch, logs):
        row = {"epoch": epoch, **logs}
        if self.columns is None:
            self.columns = list(row)
        self.rows.append(row)
        out = io.StringIO()
        writer = csv.DictWriter(out, self.columns, restval="", extrasaction="ignore", delimiter=self.separator,
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        if _distributed.is_root():  # under MPI (fit(distributed=True)) rank 0 alone writes the log
            write_atomically(self.path, lambda f: f.write(out.getvalue()), binary=False)


class TerminateOnNaN(Callback):
    """Stop training cleanly when a batch's loss is NaN or infinite.

    Without this callback ``fit`` raises FloatingPointError on a non-finite loss. With it, ``fit``
    skips that batch's optimizer step (the weights stay finite), stops, and returns the History
    (the last epoch's "loss" is then NaN or inf).

    Attributes
    ----------
    stopped_epoch, stopped_batch : int or None (1-based)
    """

    def on_train_begin(self, model):
        self.stopped_epoch = self.stopped_batch = None
        self._epoch = None

    def on_epoch_begin(self, model, epoch):
        self._epoch = epoch

    def on_batch_end(self, model, batch, logs):
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            self.stopped_epoch, self.stopped_batch = self._epoch, batch
            model.stop_training = True


__all__ = ["Callback", "History", "EarlyStopping", "LearningRateScheduler", "LRSchedulerCallback",
           "ModelCheckpoint", "CSVLogger", "TerminateOnNaN"]

"""Sequential models: a PyTorch-style forward/backward API plus a Keras-style ``fit``.

Write your own loop::

    model = Sequential([Dense(64, 32), ReLU(), Dense(32, 10)])
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = losses.CrossEntropy()
    for xb, yb in datasets.batches(x, y, 32, shuffle=True, seed=0):
        opt.zero_grad()
        value, dlogits = loss_fn(model(xb), yb)
        model.backward(dlogits)
        opt.step()

or call ``model.fit(x, y, loss_fn, opt, epochs=10, batch_size=32, seed=0)``.

Saving: ``model.save(path)`` writes one .npz file (no pickle) holding a JSON architecture entry with
a format version, one array per parameter and one per buffer (BatchNorm running statistics);
``fastnet.model.load(path)`` rebuilds the model.
"""

import json
import math
import numbers
import os
import sys
import tempfile
import time
import zipfile

import numpy as np

from . import layers as layers_module
from . import losses as losses_module
from ._validate import boolean as _validate_bool
from .datasets import batches
from .layers import Layer
from .optim import Optimizer

FORMAT_NAME = "fastnet.Sequential"
FORMAT_VERSION = 1
_ARCH_KEY = "__fastnet_architecture__"


# ----------------------------------------------------------------------------------------------
# training history and callbacks


class History:
    """What ``fit`` returns: per-epoch metrics.

    Attributes
    ----------
    history : dict of str -> list of float
        "loss" (training loss, averaged over the epoch's samples for mean losses, summed for sum
        losses), "accuracy" for classification losses, "val_loss"/"val_accuracy" with
        ``validation_data``, "samples_per_second" and "seconds".
    epoch : list of int, the epochs run (0-based)
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


class Callback:
    """Base class for ``fit`` callbacks (Keras-like). Set ``model.stop_training = True`` to stop."""

    def on_train_begin(self, model):
        pass

    def on_epoch_begin(self, model, epoch):
        pass

    def on_epoch_end(self, model, epoch, logs):
        pass

    def on_train_end(self, model):
        pass


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of every epoch from ``schedule(epoch)``.

    Parameters
    ----------
    optimizer : fastnet.optim.Optimizer
    schedule : callable (epoch: int, 0-based) -> float, or "cosine"
        "cosine" anneals from the optimizer's current lr to 0 over ``epochs`` epochs:
        ``lr_0 * (1 + cos(pi * epoch / epochs)) / 2``.
    epochs : int, required for "cosine"
    """

    def __init__(self, optimizer, schedule, epochs=None):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected a fastnet.optim.Optimizer, got {type(optimizer).__name__}")
        if schedule == "cosine":
            if isinstance(epochs, bool) or not isinstance(epochs, (numbers.Integral, np.integer)) or epochs < 1:
                raise ValueError(f"epochs: the cosine schedule needs a positive int, got {epochs!r}")
            lr0 = optimizer.lr
            schedule = lambda epoch: lr0 * (1 + math.cos(math.pi * epoch / epochs)) / 2  # noqa: E731
        elif not callable(schedule):
            raise TypeError(f"schedule: expected a callable or 'cosine', got {schedule!r}")
        self.optimizer = optimizer
        self.schedule = schedule

    def on_epoch_begin(self, model, epoch):
        self.optimizer.lr = self.schedule(epoch)

    def on_epoch_end(self, model, epoch, logs):
        logs["lr"] = self.optimizer.lr


class EarlyStopping(Callback):
    """Stop ``fit`` when a monitored metric stops improving.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch logs: "loss", "accuracy", "val_loss", "val_accuracy".
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
    best : float, best_epoch : int, stopped_epoch : int or None
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto", restore_best_weights=False):
        if not isinstance(monitor, str):
            raise TypeError(f"monitor: expected a str, got {type(monitor).__name__}")
        if isinstance(patience, bool) or not isinstance(patience, (numbers.Integral, np.integer)) or patience < 0:
            raise ValueError(f"patience: expected a non-negative int, got {patience!r}")
        if not isinstance(min_delta, numbers.Real) or min_delta < 0:
            raise ValueError(f"min_delta: expected a non-negative number, got {min_delta!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        if mode == "auto":
            mode = "max" if "accuracy" in monitor else "min"
        self.mode = mode
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
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping: monitor={self.monitor!r} is not among the metrics of this fit "
                             f"({', '.join(sorted(logs))}); pass validation_data to fit for 'val_*' metrics")
        value = logs[self.monitor]
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


class _ProgressBar:
    """A plain-text progress bar on stderr: one line per epoch, redrawn in place on a terminal."""

    def __init__(self, epochs, total, stream=None, width=24, interval=0.1):
        self.epochs, self.total, self.width, self.interval = epochs, total, width, interval
        self.stream = sys.stderr if stream is None else stream
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last = 0.0

    def _line(self, epoch, done, loss, rate, extra=""):
        filled = int(self.width * done / max(self.total, 1))
        bar = "=" * filled + (">" if filled < self.width else "") + " " * (self.width - filled - 1)
        return (f"epoch {epoch + 1}/{self.epochs} [{bar[:self.width]}] {done}/{self.total} "
                f"loss {loss:.4f} {rate:,.0f} samples/s{extra}")

    def update(self, epoch, done, loss, rate):
        now = time.perf_counter()
        if self.tty and now - self.last >= self.interval:
            self.last = now
            self.stream.write("\r" + self._line(epoch, done, loss, rate) + "\033[K")
            self.stream.flush()

    def end_epoch(self, epoch, loss, rate, logs):
        extra = "".join(f" {k} {v:.4f}" for k, v in logs.items()
                        if k not in ("loss", "samples_per_second", "seconds", "lr"))
        extra += f" ({logs['seconds']:.1f} s)"
        line = self._line(epoch, self.total, loss, rate, extra)
        self.stream.write(("\r" + line + "\033[K\n") if self.tty else line + "\n")
        self.stream.flush()


# ----------------------------------------------------------------------------------------------
# summary table


def _short_count(n):
    """The lectures' shorthand, 4 digits: 614400 -> '0.6144M', 1327104 -> '1.327M', 4608 -> '4.608K'."""
    if n >= 1e5:
        return f"{n / 1e6:.4g}M"
    if n >= 1e3:
        return f"{n / 1e3:.4g}K"
    return str(n)


def _weight_formula(layer, in_shape, before_flatten):
    """(text, count) of a layer's weights (no biases) as the lectures write them, or ("", 0)."""
    name = type(layer).__name__
    weight = getattr(layer, "weight", None)
    if weight is None or name.startswith("BatchNorm"):
        return "", 0
    w = weight.value.shape
    if name.startswith("Conv"):      # (K, C, F...) -> (F x F x C) x K
        taps = "x".join(str(f) for f in w[2:])
        text = f"({taps}x{w[1]})x{w[0]}"
    elif name == "Dense" and before_flatten is not None and len(before_flatten) > 1:
        c, *spatial = before_flatten
        text = f"({'x'.join(str(s) for s in spatial)}x{c})x{w[0]}"
    else:
        text = f"{w[1]}x{w[0]}"
    count = int(np.prod(w))
    return f"{text} = {_short_count(count)}", count


class Summary(str):
    """What :meth:`Sequential.summary` returns: the table as a ``str``, plus its data.

    Attributes
    ----------
    rows : list of dict with "layer" (str), "output_shape" (tuple, one sample), "weights_formula"
        (str, e.g. "(5x5x96)x256 = 0.614M"), "weights" (int, without biases), "params" (int)
    total_params : int
    """

    def __new__(cls, title, rows, total_params):
        header = ("Layer", "Output shape", "Weights (lectures' arithmetic)", "Params")
        cells = [header] + [(r["layer"], str(("N",) + tuple(r["output_shape"])).replace("'", ""),
                             r["weights_formula"], f"{r['params']:,}") for r in rows]
        widths = [max(len(c[k]) for c in cells) for k in range(4)]
        rule = "-" * (sum(widths) + 6)

        def fmt(c):
            return f"{c[0]:<{widths[0]}}  {c[1]:<{widths[1]}}  {c[2]:<{widths[2]}}  {c[3]:>{widths[3]}}"

        lines = [title, rule, fmt(header), rule] + [fmt(c) for c in cells[1:]]
        lines += [rule, f"Total params: {total_params:,}"]
        self = super().__new__(cls, "\n".join(lines))
        self.title, self.rows, self.total_params, self._cells = title, rows, total_params, cells
        return self

    def __repr__(self):
        return str(self)

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))

    def _repr_html_(self):
        import html
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self._cells[0])
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                       for row in self._cells[1:])
        return (f"<p>{html.escape(self.title)}</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
                f"<tfoot><tr><td colspan='4'>Total params: {self.total_params:,}</td></tr></tfoot></table>")


# ----------------------------------------------------------------------------------------------
# the model


def _accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, axis=1) == labels))


class Sequential:
    """A stack of layers applied in order.

    Parameters
    ----------
    layers : list of fastnet.layers.Layer

    Attributes
    ----------
    layers : list of Layer
    training : bool (``train()`` / ``eval()``)
    stop_training : bool, set by callbacks to end ``fit`` after the current epoch
    """

    def __init__(self, layers):
        if isinstance(layers, Layer):
            raise TypeError("layers: expected a list of layers, got a single layer; wrap it in a list")
        try:
            layers = list(layers)
        except TypeError:
            raise TypeError(f"layers: expected a list of fastnet layers, got {type(layers).__name__}") from None
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers: expected fastnet.layers.Layer objects, got "
                                f"{type(layer).__name__} at index {i}")
        self.layers = layers
        self.training = True
        self.stop_training = False

    # -- PyTorch-style API ----------------------------------------------------------------------

    def forward(self, x):
        """Run ``x`` through every layer; returns the last layer's output."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    __call__ = forward

    def backward(self, dloss, input_grad=True):
        """Back-propagate ``dloss`` (gradient of the loss w.r.t. the output of the last ``forward``);
        accumulates every parameter's ``.grad`` and returns the gradient w.r.t. the input.

        ``input_grad=False`` returns None instead and lets the first layer skip that gradient
        (a whole backward-data convolution for a convolutional first layer); ``fit`` uses it, as
        PyTorch skips inputs that do not require grad.
        """
        input_grad = _validate_bool(input_grad, "input_grad")
        grad = dloss
        for i in range(len(self.layers) - 1, -1, -1):
            grad = self.layers[i].backward(grad, input_grad=input_grad or i > 0)
        return grad

    def parameters(self):
        """Every :class:`Parameter`, in layer order (weight before bias)."""
        return [p for layer in self.layers for p in layer.parameters()]

    def zero_grad(self):
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode=True):
        self.training = bool(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def num_parameters(self):
        return sum(p.size for p in self.parameters())

    @property
    def dtype(self):
        """The dtype of the model's parameters (None if it has none)."""
        params = self.parameters()
        return params[0].value.dtype if params else None

    def get_weights(self):
        """Copies of every parameter value, in ``parameters()`` order."""
        return [p.value.copy() for p in self.parameters()]

    def set_weights(self, weights):
        """Copy ``weights`` (as from ``get_weights``) into the parameters, checking shape and dtype."""
        params = self.parameters()
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(f"weights: expected {len(params)} arrays, got {len(weights)}")
        for i, (p, w) in enumerate(zip(params, weights)):
            w = np.asarray(w)
            if w.shape != p.value.shape or w.dtype != p.value.dtype:
                raise ValueError(f"weights[{i}]: expected shape {p.value.shape} and dtype {p.value.dtype}, "
                                 f"got {w.shape} {w.dtype}")
        for p, w in zip(params, weights):
            p.value[...] = w

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, index):
        return self.layers[index]

    def __repr__(self):
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"

    def summary(self, input_shape, print_fn=print):
        """A table of the layers: output shape, weight arithmetic in the lectures' terms, parameters.

        For each layer: its output shape for one sample of ``input_shape``, the weight count written
        as the lectures write it (a convolution's ``(F x F x C) x K`` with its value, a dense layer's
        ``(H x W x C) x out`` after a Flatten, else ``in x out``; biases not included) and its
        parameter count (weights and biases). Nothing is allocated or run: the shapes come from
        each layer's ``output_shape``.

        Parameters
        ----------
        input_shape : tuple of int (or an int)
            Shape of one input sample, without the batch axis (e.g. ``(3, 227, 227)``).
        print_fn : callable or None, default ``print``
            Called once with the table, as Keras' ``model.summary()`` prints it; None prints nothing
            (use it with ``print(model.summary(shape, print_fn=None))`` or to keep the table).

        Returns
        -------
        Summary : a ``str`` (the table) with ``rows`` (one dict per layer: "layer", "output_shape",
        "weights_formula", "weights", "params") and ``total_params``; a notebook displays it as an
        HTML table (``_repr_html_``), IPython as the plain table (``_repr_pretty_``).
        """
        if print_fn is not None and not callable(print_fn):
            raise TypeError(f"print_fn: expected a callable or None, got {type(print_fn).__name__}")
        if isinstance(input_shape, (numbers.Integral, np.integer)):
            input_shape = (int(input_shape),)
        try:
            shape = tuple(int(s) for s in input_shape)
        except TypeError:
            raise TypeError(f"input_shape: expected a tuple of ints (one sample, no batch axis), "
                            f"got {input_shape!r}") from None
        rows = []
        before_flatten = None          # the (C, H, W) a Flatten received: the lectures' (H x W x C)
        for i, layer in enumerate(self.layers):
            in_shape = shape
            shape = layer.output_shape(shape)
            formula, weights = _weight_formula(layer, in_shape, before_flatten)
            before_flatten = in_shape if type(layer).__name__ == "Flatten" else (
                before_flatten if not layer.parameters() and len(shape) == 1 else None)
            rows.append({"layer": f"{i}: {layer!r}", "output_shape": shape, "weights_formula": formula,
                         "weights": weights, "params": layer.num_parameters()})
        dtype = self.dtype
        title = (f"Sequential (input (N, {', '.join(map(str, input_shape))}), "
                 f"dtype {dtype.name if dtype is not None else '-'})")
        result = Summary(title, rows, self.num_parameters())
        if print_fn is not None:
            print_fn(str(result))
        return result

    # -- Keras-style API ------------------------------------------------------------------------

    def _check_xy(self, x, y, name_x="x", name_y="y"):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name_x}: expected a numpy.ndarray, got {type(x).__name__}")
        if not isinstance(y, np.ndarray):
            raise TypeError(f"{name_y}: expected a numpy.ndarray, got {type(y).__name__}")
        if x.ndim < 1 or x.shape[0] == 0:
            raise ValueError(f"{name_x}: expected at least one sample, got shape {x.shape}")
        if y.ndim < 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"{name_y}: expected {x.shape[0]} samples along axis 0 (as {name_x}), got shape {y.shape}")

    def fit(self, x, y, loss, optimizer, epochs=1, batch_size=None, shuffle=True, validation_data=None, seed=None,
            progress=True, callbacks=None):
        """Train with mini-batch gradient descent.

        Parameters
        ----------
        x : ndarray of shape (N, ...) and the model's dtype
        y : ndarray of shape (N, ...): targets of the loss (int64 labels (N,) for CrossEntropy)
        loss : fastnet.losses.Loss (or a name: "mse", "cross_entropy", "squared_error")
        optimizer : fastnet.optim.Optimizer over this model's parameters
        epochs : int >= 1
        batch_size : int >= 1 or None (default: one full batch, i.e. plain gradient descent)
        shuffle : bool, default True: reshuffle the samples each epoch
        validation_data : (x_val, y_val), optional; adds "val_loss" (and "val_accuracy")
        seed : int or None: seeds the shuffling; with the same seed and thread count ``fit`` gives
            bit-identical weights
        progress : bool, default True: a progress bar with loss and throughput on stderr
        callbacks : list of Callback (e.g. EarlyStopping), optional

        Returns
        -------
        History

        Raises
        ------
        FloatingPointError when the loss becomes NaN or infinite.
        """
        self._check_xy(x, y)
        loss_fn = losses_module.get(loss)
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected a fastnet.optim.Optimizer, got {type(optimizer).__name__}")
        own = {id(p) for p in self.parameters()}
        if not any(id(p) in own for p in optimizer.params):
            raise ValueError("optimizer: it holds none of this model's parameters; "
                             "create it with optimizer_class(model.parameters(), ...)")
        if isinstance(epochs, bool) or not isinstance(epochs, (numbers.Integral, np.integer)) or epochs < 1:
            raise ValueError(f"epochs: expected a positive int, got {epochs!r}")
        if batch_size is not None and (isinstance(batch_size, bool) or
                                       not isinstance(batch_size, (numbers.Integral, np.integer)) or batch_size < 1):
            raise ValueError(f"batch_size: expected a positive int or None, got {batch_size!r}")
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("validation_data: expected a pair (x_val, y_val)")
            self._check_xy(*validation_data, name_x="validation_data[0]", name_y="validation_data[1]")
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected fastnet.model.Callback objects, got {type(cb).__name__}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer))):
            raise TypeError(f"seed: expected an int or None, got {type(seed).__name__}")

        n = x.shape[0]
        rng = np.random.default_rng(seed)
        classification = getattr(loss_fn, "classification", False)
        sum_loss = getattr(loss_fn, "reduction", "mean") == "sum"
        history = History()
        bar = _ProgressBar(int(epochs), n) if progress else None
        self.stop_training = False
        self.train()
        for cb in callbacks:
            cb.on_train_begin(self)
        try:
            for epoch in range(int(epochs)):
                for cb in callbacks:
                    cb.on_epoch_begin(self, epoch)
                start = time.perf_counter()
                total_loss, correct, seen = 0.0, 0, 0
                for bi, (xb, yb) in enumerate(batches(x, y, batch_size, shuffle=shuffle, seed=rng)):
                    self.zero_grad()
                    optimizer.zero_grad()
                    out = self.forward(xb)
                    value, dout = loss_fn(out, yb)
                    value = float(value)
                    if not math.isfinite(value):
                        raise FloatingPointError(
                            f"fit: the loss became {value} at epoch {epoch + 1}, batch {bi + 1}; "
                            f"lower the learning rate (optimizer {optimizer!r}) or check the data for NaN/inf")
                    self.backward(dout, input_grad=False)
                    optimizer.step()
                    m = xb.shape[0]
                    total_loss += value if sum_loss else value * m
                    if classification:
                        correct += int(np.sum(np.argmax(out, axis=1) == yb))
                    seen += m
                    if bar is not None:
                        elapsed = time.perf_counter() - start
                        bar.update(epoch, seen, total_loss / (1 if sum_loss else seen), seen / max(elapsed, 1e-9))
                seconds = time.perf_counter() - start
                logs = {"loss": total_loss if sum_loss else total_loss / seen}
                if classification:
                    logs["accuracy"] = correct / seen
                if validation_data is not None:
                    val = self.evaluate(*validation_data, loss=loss_fn)
                    self.train()
                    logs.update({f"val_{k}": v for k, v in val.items()})
                logs["samples_per_second"] = seen / max(seconds, 1e-9)
                logs["seconds"] = seconds
                for cb in callbacks:
                    cb.on_epoch_end(self, epoch, logs)
                history._append(epoch, logs)
                if bar is not None:
                    bar.end_epoch(epoch, logs["loss"], logs["samples_per_second"], logs)
                if self.stop_training:
                    break
        finally:
            self.eval()
        for cb in callbacks:
            cb.on_train_end(self)
        return history

    def predict(self, x, batch_size=256):
        """Outputs of the model for ``x`` (in eval mode, ``batch_size`` samples at a time)."""
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x: expected a numpy.ndarray, got {type(x).__name__}")
        was_training = self.training
        self.eval()
        try:
            outs = [self.forward(xb) for xb in batches(x, None, batch_size)]
        finally:
            self.train(was_training)
        return np.concatenate(outs, axis=0)

    def evaluate(self, x, y, loss=None, batch_size=256):
        """Loss (and accuracy, for classification losses) on ``(x, y)``, in eval mode.

        Returns
        -------
        dict: {"loss": float, "accuracy": float (classification only)}; without ``loss`` and with
        integer labels ``y``, only "accuracy".
        """
        self._check_xy(x, y)
        out = self.predict(x, batch_size=batch_size)
        result = {}
        if loss is not None:
            loss_fn = losses_module.get(loss)
            value, _ = loss_fn(out, y)
            result["loss"] = float(value)
            classification = getattr(loss_fn, "classification", False)
        else:
            classification = np.issubdtype(y.dtype, np.integer) and y.ndim == 1 and out.ndim == 2
        if classification:
            result["accuracy"] = _accuracy(out, y)
        return result

    # -- saving and loading ---------------------------------------------------------------------

    def get_config(self):
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION,
                "layers": [{"class": type(layer).__name__, "config": layer.get_config()} for layer in self.layers]}

    def save(self, path):
        """Write the architecture and the weights to one .npz file at ``path`` (exactly that name).

        The file is written to a temporary file in the same directory, then moved into place with
        ``os.replace``: a crash never leaves a half-written model under ``path``.
        """
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        for layer in self.layers:
            if type(layer).__name__ not in layers_module.REGISTRY or type(layer) is not \
                    layers_module.REGISTRY[type(layer).__name__]:
                raise TypeError(f"save: layer {layer!r} is not a built-in fastnet layer and cannot be saved")
        arrays = {_ARCH_KEY: np.frombuffer(json.dumps(self.get_config()).encode("utf-8"), dtype=np.uint8)}
        for i, p in enumerate(self.parameters()):
            arrays[f"param_{i:04d}"] = p.value
        arrays.update(_buffer_arrays(self.layers))
        fd, tmp = tempfile.mkstemp(prefix=".fastnet-", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


def load(path):
    """Rebuild a model saved with :meth:`Sequential.save`.

    Raises
    ------
    FileNotFoundError if ``path`` does not exist; ValueError if it is not a fastnet model file, is
    corrupt or truncated, was written by a newer format version, or its weights do not match its
    architecture.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        # numpy reads only the bytes it needs and so may never reach the member's CRC check:
        # verify every member's CRC first (a flipped bit anywhere is reported, not loaded)
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad is not None:
                raise ValueError(f"CRC check failed for member {bad!r}")
        data = np.load(path, allow_pickle=False)
        if not hasattr(data, "files"):  # a bare .npy array, not an archive
            raise _NotFastnet("it is a single .npy array, not a fastnet .npz archive")
        with data:
            files = set(data.files)
            if _ARCH_KEY not in files:
                raise _NotFastnet("it has no fastnet architecture entry")
            arch = data[_ARCH_KEY]
            arrays = {k: data[k] for k in files if k != _ARCH_KEY}
    except _NotFastnet as exc:
        raise ValueError(f"{path}: not a fastnet model file: {exc}") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path}: not a fastnet model file, or corrupt/truncated "
                         f"({type(exc).__name__}: {exc})") from None
    if arch.dtype != np.uint8 or arch.ndim != 1:
        raise ValueError(f"{path}: corrupt fastnet model file: bad architecture entry")
    try:
        config = json.loads(arch.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: corrupt fastnet model file: architecture is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: not a fastnet model file (format {config.get('format') if isinstance(config, dict) else None!r})")
    version = config.get("version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{path}: corrupt fastnet model file: bad format version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path}: written in fastnet model format version {version}, this fastnet reads "
                         f"up to version {FORMAT_VERSION}; upgrade fastnet")
    layer_specs = config.get("layers")
    if not isinstance(layer_specs, list):
        raise ValueError(f"{path}: corrupt fastnet model file: no layer list")
    built = []
    for i, spec in enumerate(layer_specs):
        if not isinstance(spec, dict) or spec.get("class") not in layers_module.REGISTRY:
            name = spec.get("class") if isinstance(spec, dict) else spec
            raise ValueError(f"{path}: layer {i}: unknown layer class {name!r}")
        try:
            built.append(layers_module.REGISTRY[spec["class"]](**spec.get("config", {})))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: layer {i} ({spec['class']}): bad configuration ({exc})") from None
    model = Sequential(built)
    params = model.parameters()
    expected = {f"param_{i:04d}" for i in range(len(params))}
    buffers = _buffer_arrays(model.layers)
    if set(arrays) != expected | set(buffers):
        missing = sorted(set(buffers) - set(arrays))
        if missing and set(arrays) == expected | set(buffers) - set(missing):
            raise ValueError(f"{path}: the file lacks the layers' saved statistics {', '.join(missing)}")
        n_weights = len([k for k in arrays if k.startswith("param_")])
        raise ValueError(f"{path}: the file holds {n_weights} weight arrays and {len(arrays) - n_weights} "
                         f"buffers, the architecture needs {len(params)} and {len(buffers)}")
    for key, target in buffers.items():
        value = arrays[key]
        if value.shape != target.shape or value.dtype != target.dtype:
            raise ValueError(f"{path}: buffer {key} has shape {value.shape} and dtype {value.dtype}, the "
                             f"architecture needs {target.shape} {target.dtype}")
        target[...] = value
    for i, p in enumerate(params):
        w = arrays[f"param_{i:04d}"]
        if w.shape != p.value.shape or w.dtype != p.value.dtype:
            raise ValueError(f"{path}: weight {i} has shape {w.shape} and dtype {w.dtype}, the architecture "
                             f"needs {p.value.shape} {p.value.dtype}")
        p.value[...] = w
    model.eval()
    return model


class _NotFastnet(Exception):
    pass


def _buffer_arrays(layers):
    """{"buffer_LLLL_NAME": array} for every layer's non-trainable state (BatchNorm running
    statistics), keyed by layer index: saved next to the parameters, restored by ``load``."""
    arrays = {}
    for i, layer in enumerate(layers):
        buffers = getattr(layer, "buffers", None)
        if buffers is not None:
            for name, value in buffers().items():
                arrays[f"buffer_{i:04d}_{name}"] = value
    return arrays


__all__ = ["Sequential", "Summary", "History", "Callback", "EarlyStopping", "LearningRateScheduler", "load", "FORMAT_VERSION"]

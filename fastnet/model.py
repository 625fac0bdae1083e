"""Sequential models: a PyTorch-style forward/backward API plus Keras-style ``compile``/``fit``.

Keras style::

    model.compile("cross_entropy", "adam", metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, batch_size=32, validation_split=0.2, seed=0)
    model.evaluate(x_test, y_test)

or write your own loop::

    model = Sequential([Dense(64, 32), ReLU(), Dense(32, 10)])
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = losses.CrossEntropy()
    for xb, yb in datasets.batches(x, y, 32, shuffle=True, seed=0):
        opt.zero_grad()
        value, dlogits = loss_fn(model(xb), yb)
        model.backward(dlogits)
        opt.step()

``model.fit(x, y, loss_fn, opt, epochs=10)`` (loss and optimizer given to fit) works too. The
callbacks (:mod:`fastnet.callbacks`) and :class:`History` count epochs from 1, as the progress bar.

Saving: ``model.save(path)`` writes one .npz file (no pickle) holding a JSON architecture entry with
a format version, one array per parameter and one per buffer (BatchNorm running statistics);
``fastnet.model.load(path)`` rebuilds the model.
"""

import json
import math
import numbers
import os
import time

import numpy as np

from . import _validate, _warm
from . import distributed as _dist
from . import layers as layers_module
from . import losses as losses_module
from . import metrics as metrics_module
from . import optim as optim_module
from ._progress import Progress, _rate, check_verbose
from ._validate import boolean as _validate_bool
from .callbacks import write_atomically
from .callbacks import (Callback, EarlyStopping, History, LearningRateScheduler,  # noqa: F401 (also here)
                        TerminateOnNaN)
from .datasets import batches
from .layers import Layer
from .optim import Optimizer
from .saving import _ARCH_KEY, FORMAT_NAME, FORMAT_VERSION, _buffer_arrays, load  # noqa: F401
from .summary import Summary, _weight_formula  # noqa: F401 (Summary: also importable from here)



# ----------------------------------------------------------------------------------------------
# the model

#: compile()'s default metrics: accuracy for classification losses, none otherwise
DEFAULT_METRICS = ("accuracy",)


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

        ``input_grad=False`` returns None instead and skips the work no parameter's gradient
        needs: the first layer with parameters computes no input gradient (a whole
        backward-data convolution for a convolutional first layer, half the backward of a
        Dense one), and the parameter-free layers before it (a ``Flatten`` in front of an MLP)
        are not run backward at all. ``fit`` uses it, as PyTorch skips inputs that do not
        require grad.
        """
        input_grad = _validate_bool(input_grad, "input_grad")
        first = 0
        if not input_grad:
            first = next((i for i, layer in enumerate(self.layers) if layer.parameters()), len(self.layers))
        grad = dloss
        for i in range(len(self.layers) - 1, first - 1, -1):
            grad = self.layers[i].backward(grad, input_grad=input_grad or i > first)
        return None if not input_grad else grad

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

    def _weight_arrays(self):
        """The live arrays behind :meth:`get_weights`: per layer, its parameters (weight before
        bias), then its buffers (BatchNorm's running_mean, running_var), as Keras orders a model's
        trainable and non-trainable weights."""
        arrays = []
        for layer in self.layers:
            arrays += [p.value for p in layer.parameters()]
            buffers = getattr(layer, "buffers", None)
            if buffers is not None:
                arrays += list(buffers().values())
        return arrays

    def get_weights(self):
        """Copies of every parameter value and every buffer (BatchNorm's running statistics), layer
        by layer: a layer's parameters in ``parameters()`` order, then its buffers. Without
        BatchNorm layers this is ``[p.value for p in parameters()]``."""
        return [a.copy() for a in self._weight_arrays()]

    def set_weights(self, weights):
        """Copy ``weights`` (as from ``get_weights``: parameters and buffers) into the model,
        checking their number, shapes and dtypes."""
        targets = self._weight_arrays()
        weights = list(weights)
        if len(weights) != len(targets):
            raise ValueError(f"weights: expected {len(targets)} arrays (as get_weights() returns: every "
                             f"parameter and BatchNorm running statistic), got {len(weights)}")
        for i, (t, w) in enumerate(zip(targets, weights)):
            w = np.asarray(w)
            if w.shape != t.shape or w.dtype != t.dtype:
                raise ValueError(f"weights[{i}]: expected shape {t.shape} and dtype {t.dtype}, "
                                 f"got {w.shape} {w.dtype}")
        for t, w in zip(targets, weights):
            t[...] = w

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

    _compiled = None  # (loss, optimizer, metrics) after compile()

    def compile(self, loss, optimizer, metrics=DEFAULT_METRICS):
        """Set the loss, the optimizer and the metrics that ``fit`` and ``evaluate`` use by default.

        Parameters
        ----------
        loss : fastnet.losses.Loss, a Loss class, or a name ("cross_entropy", "mse", "squared_error")
        optimizer : fastnet.optim.Optimizer over this model's parameters, or a name ("sgd", "adam",
            "rmsprop", "adagrad", "adadelta", ...) for that optimizer with its default settings
        metrics : sequence of metric names or objects, default ("accuracy",)
            "accuracy", "top_5_accuracy" (any k), "mae", a ``fastnet.metrics.Metric`` (e.g.
            ``TopKAccuracy(3)``) or a function ``fn(y_true, y_pred) -> batch mean``. The default
            reports accuracy for classification losses (CrossEntropy with class indices) and no
            metric otherwise; pass metrics explicitly to always compute them.

        Returns
        -------
        self
        """
        loss_fn = losses_module.get(loss)
        optimizer = self._optimizer_arg(optimizer)
        self._compiled = (loss_fn, optimizer, self._metrics_arg(metrics))
        return self

    def _optimizer_arg(self, optimizer):
        if isinstance(optimizer, str):
            classes = {name.lower(): cls for name, cls in vars(optim_module).items()
                       if isinstance(cls, type) and issubclass(cls, Optimizer) and cls is not Optimizer}
            if optimizer.lower() not in classes:
                raise ValueError(f"optimizer: unknown optimizer {optimizer!r}; expected one of "
                                 f"{', '.join(map(repr, sorted(classes)))} or a fastnet.optim.Optimizer")
            return classes[optimizer.lower()](self.parameters())
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected a fastnet.optim.Optimizer or a name, got {type(optimizer).__name__}")
        own = {id(p) for p in self.parameters()}
        if not any(id(p) in own for p in optimizer.params):
            raise ValueError("optimizer: it holds none of this model's parameters; "
                             "create it with optimizer_class(model.parameters(), ...)")
        return optimizer

    @staticmethod
    def _metrics_arg(metrics):
        if metrics is DEFAULT_METRICS or metrics is None:
            return metrics
        if isinstance(metrics, (str, metrics_module.Metric)) or callable(metrics):
            metrics = [metrics]
        try:
            return [metrics_module.get(m) for m in metrics]
        except TypeError:
            if not isinstance(metrics, (list, tuple)):
                raise TypeError(f"metrics: expected a list of metric names or objects, got "
                                f"{type(metrics).__name__}") from None
            raise

    def _training_setup(self, loss, optimizer):
        """The loss and optimizer of a ``fit`` call: explicit arguments first, else compile()'s."""
        compiled = self._compiled or (None, None, DEFAULT_METRICS)
        if isinstance(loss, (numbers.Number, np.number)) and not isinstance(loss, bool):
            raise TypeError(f"loss: expected a fastnet.losses.Loss or a name, got the number {loss!r}; fit's "
                            f"third positional argument is the loss (fit(x, y, loss, optimizer, ...)): pass "
                            f"epochs= and batch_size= by keyword")
        if loss is None and compiled[0] is None:
            raise TypeError("fit: no loss; call model.compile(loss, optimizer) first, or pass loss= and optimizer=")
        if optimizer is None and compiled[1] is None:
            raise TypeError("fit: no optimizer; call model.compile(loss, optimizer) first, or pass optimizer=")
        loss_fn = compiled[0] if loss is None else losses_module.get(loss)
        optimizer = compiled[1] if optimizer is None else self._optimizer_arg(optimizer)
        return loss_fn, optimizer, compiled[2]

    @staticmethod
    def _resolve_metrics(metrics, loss_fn, y):
        """The Metric objects of a fit/evaluate; the default means accuracy for classification."""
        if metrics is DEFAULT_METRICS:
            classification = (getattr(loss_fn, "classification", False) and y.ndim == 1
                              and np.issubdtype(y.dtype, np.integer))
            return [metrics_module.Accuracy()] if classification else []
        return list(metrics or [])

    def _check_xy(self, x, y, name_x="x", name_y="y"):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name_x}: expected a numpy.ndarray, got {type(x).__name__}")
        if not isinstance(y, np.ndarray):
            raise TypeError(f"{name_y}: expected a numpy.ndarray, got {type(y).__name__}")
        if x.ndim < 1 or x.shape[0] == 0:
            raise ValueError(f"{name_x}: expected at least one sample, got shape {x.shape}")
        if y.ndim < 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"{name_y}: expected {x.shape[0]} samples along axis 0 (as {name_x}), got shape {y.shape}")

    # the pieces of fit's loop (a distributed fit shares them; see fastnet.distributed, issue 10)

    @staticmethod
    def _epoch_order(n, shuffle, rng):
        """The epoch's sample order: one permutation from the seeded ``rng`` (None: in order)."""
        return rng.permutation(n) if shuffle else None

    @staticmethod
    def _global_batches(n, order, batch_size, world=1):
        """Index the epoch's global batches: consecutive slices of ``order`` of ``batch_size * world``
        samples (the last may be smaller); a slice object when ``order`` is None (views, no copies).
        Each of ``world`` processes would take its share of a global batch (world = 1 today)."""
        step = n if batch_size is None else batch_size * world
        for start in range(0, n, step):
            yield slice(start, start + step) if order is None else order[start:start + step]

    def _train_step(self, xb, yb, loss_fn, optimizer, metric_fns):
        """Forward, loss and backward for one batch; accumulates the parameters' ``.grad``.

        Does not call ``optimizer.step()`` (``fit`` does, after this, so that gradients can be
        combined across processes in between).

        Returns
        -------
        (loss_sum, metric_sums, count): the batch's loss summed over its samples (the loss value
        itself for "sum" losses, value * count for "mean" losses), a list with each metric's sum
        over the samples, and the number of samples.
        """
        self.zero_grad()
        optimizer.zero_grad()
        out = self.forward(xb)
        value, dout = loss_fn(out, yb)
        count = xb.shape[0]
        value = float(value)
        loss_sum = value if getattr(loss_fn, "reduction", "mean") == "sum" else value * count
        self.backward(dout, input_grad=False)
        return loss_sum, [m.sum(yb, out) for m in metric_fns], count

    @staticmethod
    def _logs_from_totals(totals, count, names, sum_loss):
        """Epoch (or running) logs from the (sum, count) totals: ``totals[0]`` is the loss sum,
        ``totals[1:]`` the metric sums of ``names``. Sum losses report the sum, the rest means."""
        logs = {"loss": float(totals[0] if sum_loss else totals[0] / max(count, 1))}
        logs.update({name: float(total / max(count, 1)) for name, total in zip(names, totals[1:])})
        return logs

    def fit(self, x, y, loss=None, optimizer=None, *, epochs=1, batch_size=32, validation_split=0.0,
            validation_data=None, verbose=1, callbacks=None, shuffle=True, seed=None, distributed=False,
            progress=None):
        """Train with mini-batch gradient descent (Keras-style).

        ``model.compile(loss, optimizer, metrics)`` then ``model.fit(x, y, epochs=3)``; or pass the
        loss and the optimizer here, by keyword or as the older positional form
        ``fit(x, y, loss, optimizer, ...)`` (they override compile()'s).

        Parameters
        ----------
        x : ndarray of shape (N, ...) and the model's dtype
        y : ndarray of shape (N, ...): targets of the loss (int class indices (N,) for CrossEntropy)
        loss : fastnet.losses.Loss or a name, optional if compiled
        optimizer : fastnet.optim.Optimizer (or a name), optional if compiled
        epochs : int >= 1, default 1
        batch_size : int >= 1 or None, default 32
            None: one batch of all N samples per epoch, i.e. the lectures' full-batch gradient
            descent (with ``optim.SGD`` and a sum loss such as SquaredError, exactly
            ``w -= eta * sum_i dE_i/dw`` once per epoch).
        validation_split : float in [0, 1), default 0
            Hold out the last fraction of the samples (taken before shuffling, as in Keras) as
            validation data; ignored when ``validation_data`` is given.
        validation_data : (x_val, y_val), optional; adds "val_loss" and "val_<metric>"
        verbose : 0, 1 or 2, default 1
            0 silent; 1 a progress bar per epoch (tqdm: a widget in a notebook; on a pipe or in a
            file one clean line per epoch); 2 one line per epoch. Output goes to stderr.
        callbacks : list of fastnet.callbacks.Callback, optional
        shuffle : bool, default True: a new sample order each epoch
        seed : int or None: seeds the shuffling; with the same seed and thread count ``fit`` gives
            bit-identical weights
        distributed : bool, default False
            Data-parallel over MPI (run under ``mpiexec -n P``; see :mod:`fastnet.distributed`):
            every rank starts from rank 0's weights and optimizer state, takes its contiguous
            share of each global batch of ``batch_size * P`` samples, and steps with the global
            batch's gradient, so the result equals one process with ``batch_size * P`` (to
            rounding). ``batch_size`` is per rank. Metrics, callbacks and the NaN check see global
            values; validation is sharded; only rank 0 prints. Needs mpi4py.
        progress : bool, optional: deprecated alias of verbose (True: 1, False: 0)

        Returns
        -------
        History (epochs 1-based, as on the progress bar)

        Raises
        ------
        ValueError up front when x, y or the validation data hold NaN or inf (naming the first bad
        index); FloatingPointError when the loss becomes NaN or infinite (unless a TerminateOnNaN
        callback stops training instead).
        """
        loss_fn, optimizer, metrics = self._training_setup(loss, optimizer)
        if progress is not None:
            if verbose != 1:
                raise TypeError("fit: pass verbose= or the deprecated progress=, not both")
            verbose = 1 if _validate_bool(progress, "progress") else 0
        verbose = check_verbose(verbose)
        distributed = _validate_bool(distributed, "distributed")
        self._check_xy(x, y)
        if isinstance(epochs, bool) or not isinstance(epochs, (numbers.Integral, np.integer)) or epochs < 1:
            raise ValueError(f"epochs: expected a positive int, got {epochs!r}")
        if batch_size is not None and (isinstance(batch_size, bool) or
                                       not isinstance(batch_size, (numbers.Integral, np.integer)) or batch_size < 1):
            raise ValueError(f"batch_size: expected a positive int or None (one full batch), got {batch_size!r}")
        if not isinstance(validation_split, numbers.Real) or not 0 <= validation_split < 1:
            raise ValueError(f"validation_split: expected a fraction in [0, 1), got {validation_split!r}")
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("validation_data: expected a pair (x_val, y_val)")
            self._check_xy(*validation_data, name_x="validation_data[0]", name_y="validation_data[1]")
        elif validation_split > 0:
            split = int(x.shape[0] * (1 - validation_split))
            if split < 1 or split >= x.shape[0]:
                raise ValueError(f"validation_split: {validation_split} of {x.shape[0]} samples leaves an empty "
                                 f"training or validation set")
            validation_data = (x[split:], y[split:])
            x, y = x[:split], y[:split]
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected fastnet.callbacks.Callback objects, got {type(cb).__name__}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer))):
            raise TypeError(f"seed: expected an int or None, got {type(seed).__name__}")
        for name, data in (("x", x), ("y", y)) + ((("validation_data[0]", validation_data[0]),
                                                   ("validation_data[1]", validation_data[1]))
                                                  if validation_data is not None else ()):
            _validate.finite_data(data, name)
        metric_fns = self._resolve_metrics(metrics, loss_fn, y)

        if distributed:  # rank 0's weights, optimizer state and seed on every rank
            seed = _dist._fit_setup(self, optimizer, seed)
            distributed = _dist.size() > 1  # one rank: exactly the single-process path
        n = x.shape[0]
        world = _dist.size() if distributed else 1
        rng = np.random.default_rng(seed)
        names = [m.name for m in metric_fns]
        sum_loss = getattr(loss_fn, "reduction", "mean") == "sum"
        terminate_on_nan = any(isinstance(cb, TerminateOnNaN) for cb in callbacks)
        history = History()
        printer = Progress(verbose if _dist.is_root() else 0, int(epochs), n)
        # a cold kernel cache: say so, and compile from both ends of the network (fastnet/_warm.py);
        # under MPI the ranks share the cache (each kernel compiled once) and start no helper
        compile_helper = _warm.begin(self, x, batch_size, printer.verbose, helper=not distributed,
                                     loss=loss_fn, y=y)
        self.stop_training = False
        self.train()
        for cb in callbacks:
            cb.on_train_begin(self)
        try:
            for epoch in range(1, int(epochs) + 1):
                for cb in callbacks:
                    cb.on_epoch_begin(self, epoch)
                printer.begin_epoch(epoch)
                start = time.perf_counter()
                jit_start = _warm.compile_seconds()   # epoch 1's samples/s leave compilation out
                totals, seen = np.zeros(1 + len(metric_fns)), 0
                order = self._epoch_order(n, shuffle, rng)
                for batch, idx in enumerate(self._global_batches(n, order, batch_size, world), 1):
                    for cb in callbacks:
                        cb.on_batch_begin(self, batch)
                    if distributed:  # this rank's share; global sums and gradients (see fastnet.distributed)
                        loss_sum, metric_sums, count = _dist._train_step(self, x, y, idx, loss_fn, optimizer, metric_fns)
                    else:
                        loss_sum, metric_sums, count = self._train_step(x[idx], y[idx], loss_fn, optimizer, metric_fns)
                    batch_loss = loss_sum if sum_loss else loss_sum / count
                    finite = math.isfinite(loss_sum)
                    if not finite and not terminate_on_nan:
                        raise FloatingPointError(
                            f"fit: the loss became {batch_loss} at epoch {epoch}, batch {batch} (the data was "
                            f"checked for NaN/inf before training); lower the learning rate (optimizer "
                            f"{optimizer!r}), or stop cleanly with callbacks=[TerminateOnNaN()]")
                    if finite:
                        optimizer.step()
                    totals += [loss_sum] + metric_sums
                    seen += count
                    for cb in callbacks:
                        cb.on_batch_end(self, batch, {"loss": batch_loss, "size": count})
                    printer.update(seen, self._logs_from_totals(totals, seen, names, sum_loss),
                                   _rate(seen, time.perf_counter() - start - (_warm.compile_seconds() - jit_start)))
                    if self.stop_training:
                        break
                seconds = time.perf_counter() - start
                logs = self._logs_from_totals(totals, seen, names, sum_loss)
                if validation_data is not None:
                    val = (_dist._evaluate(self, *validation_data, loss_fn, metric_fns) if distributed
                           else self.evaluate(*validation_data, loss=loss_fn, metrics=metric_fns))
                    self.train()
                    logs.update({f"val_{k}": v for k, v in val.items()})
                jit = _warm.compile_seconds() - jit_start
                logs["samples_per_second"] = _rate(seen, seconds - jit)
                logs["seconds"] = seconds
                logs["compile_seconds"] = jit
                for cb in callbacks:
                    cb.on_epoch_end(self, epoch, logs)
                history._append(epoch, logs)
                printer.end_epoch(epoch, seen, logs)
                if distributed:  # one rank's callback asking to stop stops every rank
                    self.stop_training = _dist._any(self.stop_training)
                if self.stop_training:
                    break
        finally:
            printer.close()
            _warm.end(compile_helper, x.dtype)
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

    def evaluate(self, x, y, loss=None, batch_size=256, metrics=None):
        """Loss and metrics on ``(x, y)``, in eval mode.

        Parameters
        ----------
        x, y : as for ``fit``
        loss : Loss or name, optional; default the compiled loss (none if not compiled)
        batch_size : int, default 256 (changes only the rounding)
        metrics : sequence of metric names or objects, optional; default the compiled metrics, or
            accuracy for classification losses and integer labels

        Returns
        -------
        dict: {"loss": float (with a loss), metric name: float, ...}; without a loss and with
        integer labels ``y`` and scores (N, C), {"accuracy": ...}.
        """
        self._check_xy(x, y)
        compiled = self._compiled or (None, None, DEFAULT_METRICS)
        if loss is None:
            loss = compiled[0]
        metrics = compiled[2] if metrics is None else self._metrics_arg(metrics)
        out = self.predict(x, batch_size=batch_size)
        result = {}
        if loss is not None:
            loss_fn = losses_module.get(loss)
            value, _ = loss_fn(out, y)
            result["loss"] = float(value)
            metric_fns = self._resolve_metrics(metrics, loss_fn, y)
        elif metrics is DEFAULT_METRICS:
            classification = np.issubdtype(y.dtype, np.integer) and y.ndim == 1 and out.ndim == 2
            metric_fns = [metrics_module.Accuracy()] if classification else []
        else:
            metric_fns = list(metrics or [])
        for m in metric_fns:
            result[m.name] = m.sum(y, out) / x.shape[0]
        return result

    # -- saving and loading ---------------------------------------------------------------------

    def get_config(self):
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION,
                "layers": [{"class": type(layer).__name__, "config": layer.get_config()} for layer in self.layers]}

    @_dist.root_only  # under MPI: rank 0 writes, every rank waits for it
    def save(self, path):
        """Write the architecture and the weights to one .npz file at ``path`` (exactly that name).

        The file is written to a temporary file in the same directory, then moved into place with
        ``os.replace``: a crash never leaves a half-written model under ``path``.
        """
        path = os.fspath(path)
        for layer in self.layers:
            if type(layer).__name__ not in layers_module.REGISTRY or type(layer) is not \
                    layers_module.REGISTRY[type(layer).__name__]:
                raise TypeError(f"save: layer {layer!r} is not a built-in fastnet layer and cannot be saved")
        arrays = {_ARCH_KEY: np.frombuffer(json.dumps(self.get_config()).encode("utf-8"), dtype=np.uint8)}
        for i, p in enumerate(self.parameters()):
            arrays[f"param_{i:04d}"] = p.value
        arrays.update(_buffer_arrays(self.layers))
        write_atomically(path, lambda f: np.savez(f, **arrays))


__all__ = ["Sequential", "load", "FORMAT_VERSION"]  # the callbacks and Summary are documented in their own modules

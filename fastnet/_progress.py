"""What ``fit`` prints: a tqdm progress bar (a widget in a notebook) or one line per epoch.

All of ``fit``'s output goes through one :class:`Progress` object, gated by ``verbose``:

* 0: nothing;
* 1: a live ``tqdm.auto`` bar during each epoch on a terminal or in a notebook, replaced at the
  epoch's end by its full line; on a pipe or a file (no tty) only the line per epoch, as with 2
  (no carriage returns in logs);
* 2: one line per epoch.
"""

import os
import sys

from tqdm.auto import tqdm as _tqdm

_HIDDEN = ("samples_per_second", "seconds")


def _rate(seen, seconds):
    """Samples per second for ``seen`` samples in ``seconds`` (the time the rate is taken over;
    pass a time that excludes JIT compilation to show the steady-state rate)."""
    return seen / max(seconds, 1e-9)


def _in_notebook():
    # tqdm.auto resolves to tqdm.notebook's class inside a Jupyter kernel with ipywidgets
    return any(cls.__module__ == "tqdm.notebook" for cls in _tqdm.__mro__)


def _width(stream):
    """tqdm's width options for ``stream``: follow the terminal, or 100 columns where the terminal
    reports no size (a pty without one, as under ``script`` or some CI runners: tqdm would print
    an empty bar)."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        columns = 0
    return {"dynamic_ncols": True} if columns > 0 else {"ncols": 100}


def _format_logs(logs):
    parts = []
    for key, value in logs.items():
        if key in _HIDDEN:
            continue
        parts.append(f"{key} {value:.3g}" if key == "lr" else f"{key} {value:.4f}")
    return " - ".join(parts)


def check_verbose(verbose):
    if isinstance(verbose, bool):
        return int(verbose)
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose: expected 0 (silent), 1 (progress bar) or 2 (one line per epoch), got {verbose!r}")
    return int(verbose)


class Progress:
    """The printer of one ``fit`` call.

    Parameters
    ----------
    verbose : 0, 1 or 2 (see the module docstring)
    epochs : int, the number of epochs
    total : int, training samples per epoch
    stream : text file, default sys.stderr (ignored by the notebook widget)
    """

    def __init__(self, verbose, epochs, total, stream=None):
        self.verbose = check_verbose(verbose)
        self.epochs, self.total = int(epochs), int(total)
        self.stream = sys.stderr if stream is None else stream
        self.notebook = _in_notebook()
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.live = self.verbose == 1 and (self.notebook or tty)
        self.bar = None

    def begin_epoch(self, epoch):
        if not self.live:
            return
        kwargs = {} if self.notebook else {"file": self.stream, **_width(self.stream)}
        self.bar = _tqdm(total=self.total, desc=f"epoch {epoch}/{self.epochs}", unit="sample", leave=True,
                         mininterval=0.1,
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
                         **kwargs)

    def update(self, seen, logs, rate):
        """After a batch: ``seen`` samples so far this epoch, the running ``logs``, the rate."""
        if self.bar is not None:
            self.bar.set_postfix_str(f"{_format_logs(logs)} - {rate:,.0f} samples/s", refresh=False)
            self.bar.update(seen - self.bar.n)

    def end_epoch(self, epoch, seen, logs):
        """After an epoch, with its complete logs (validation metrics included)."""
        if self.bar is not None:
            # the live bar gives way to the full line (a bar is trimmed to the terminal's width)
            self.bar.leave = False
            self.close()
        if self.verbose:
            text = f"{_format_logs(logs)} - {logs['samples_per_second']:,.0f} samples/s ({logs['seconds']:.1f} s)"
            self.stream.write(f"epoch {epoch}/{self.epochs} - {seen}/{self.total} - {text}\n")
            self.stream.flush()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

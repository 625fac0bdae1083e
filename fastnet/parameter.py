"""Parameter: a trainable array and the gradient accumulated for it."""

import numpy as np

from ._validate import FLOAT_DTYPES


class Parameter:
    """A trainable array (``value``) and its gradient (``grad``), like ``torch.nn.Parameter``.

    Parameters
    ----------
    value : ndarray of float32 or float64, any shape
        The initial value. It is copied into a new C-contiguous array owned by the parameter.
    name : str, optional
        A label used in error messages and summaries (e.g. ``"weight"``).

    Attributes
    ----------
    value : ndarray, same shape and dtype as given
        Updated in place by the optimizers (``fastnet.optim``): keep a reference and it stays current.
    grad : ndarray, same shape and dtype as ``value``
        Layers *accumulate* into it in ``backward``; ``zero_grad()`` (or an optimizer's, or a model's)
        resets it to zero. Starts at zero. Always the same array object; assigning to ``grad``
        copies the given values into it (same shape required).

    ``zero_grad()`` defers its fill: the array is filled with zeros when ``grad`` is next read,
    or never, where a layer's backward writes its first gradient into it (:meth:`grad_target`) or
    copies it there (:meth:`accumulate_grad`) instead of adding to zeros. For a large Dense layer
    that saves two passes over the gradient (the fill, and the add's extra read): the lectures'
    AlexNet (28.8 M parameters, 25.1 M of them Dense weights) spent 11 ms of a 131 ms training
    step on them (2 threads, Zen 4, 2026-12-06). So an array kept from ``grad`` across
    ``zero_grad()`` shows its old values until ``grad`` is read again or a backward writes it (as
    PyTorch's ``.grad``, set to None by ``zero_grad()``, leaves a tensor kept from it unchanged).
    """

    __slots__ = ("value", "_grad", "_grad_is_zero", "name")

    def __init__(self, value, name=None):
        if not isinstance(value, np.ndarray):
            raise TypeError(f"value: expected a numpy.ndarray of float32 or float64, got {type(value).__name__}")
        if value.dtype not in FLOAT_DTYPES:
            raise TypeError(f"value: expected dtype float32 or float64, got {value.dtype}")
        self.value = np.array(value, order="C", copy=True)
        self._grad = np.zeros_like(self.value)
        self._grad_is_zero = False   # True: zero_grad() was called and the fill is still owed
        self.name = name

    @property
    def grad(self):
        if self._grad_is_zero:
            self._grad.fill(0)
            self._grad_is_zero = False
        return self._grad

    @grad.setter
    def grad(self, values):
        values = np.asarray(values)
        if values.shape != self.value.shape:
            raise ValueError(f"grad: expected shape {self.value.shape} (the parameter's), got {values.shape}")
        np.copyto(self._grad, values)
        self._grad_is_zero = False

    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def size(self):
        return self.value.size

    def zero_grad(self):
        """Set ``grad`` to zero, in place (the fill deferred: see the class docstring)."""
        self._grad_is_zero = True

    def accumulate_grad(self, g):
        """Add ``g`` (ndarray of ``value``'s shape and dtype) to ``grad``: a copy where ``grad`` is
        zero since ``zero_grad()``."""
        if self._grad_is_zero:
            np.copyto(self._grad, g)
            self._grad_is_zero = False
        else:
            self._grad += g

    def grad_target(self):
        """The ``grad`` array where it is zero since ``zero_grad()`` and not yet filled, else None.

        For a backward that can write its gradient into a given array: with the array, it must
        write every element (the gradient counts as accumulated from then on; on an error, call
        ``zero_grad()`` again); with None, it adds its gradient to ``grad``
        (:meth:`accumulate_grad`).
        """
        if not self._grad_is_zero:
            return None
        self._grad_is_zero = False
        return self._grad

    def __repr__(self):
        label = f" {self.name!r}" if self.name else ""
        return f"Parameter{label}(shape={self.value.shape}, dtype={self.value.dtype})"

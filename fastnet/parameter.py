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
        resets it to zero. Starts at zero.
    """

    __slots__ = ("value", "grad", "name")

    def __init__(self, value, name=None):
        if not isinstance(value, np.ndarray):
            raise TypeError(f"value: expected a numpy.ndarray of float32 or float64, got {type(value).__name__}")
        if value.dtype not in FLOAT_DTYPES:
            raise TypeError(f"value: expected dtype float32 or float64, got {value.dtype}")
        self.value = np.array(value, order="C", copy=True)
        self.grad = np.zeros_like(self.value)
        self.name = name

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
        """Set ``grad`` to zero, in place."""
        self.grad.fill(0)

    def __repr__(self):
        label = f" {self.name!r}" if self.name else ""
        return f"Parameter{label}(shape={self.value.shape}, dtype={self.value.dtype})"

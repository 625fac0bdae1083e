"""fastnet: neural networks on the CPU, with JIT-compiled Numba kernels.

Functional ops live in :mod:`fastnet.ops`, the kernels behind them in :mod:`fastnet.kernels`.
"""

__version__ = "0.1.0"

from . import ops
from ._runtime import compile, get_num_threads, info, set_num_threads

__all__ = ["ops", "compile", "get_num_threads", "info", "set_num_threads", "__version__"]

"""fastnet: neural networks on the CPU, with JIT-compiled Numba kernels.

* :mod:`fastnet.ops`: validated functional ops (NumPy in, NumPy out, PyTorch conventions), backed
  by the Numba kernels in :mod:`fastnet.kernels`.
* :mod:`fastnet.layers`, :class:`Sequential`, :mod:`fastnet.losses`, :mod:`fastnet.optim`,
  :mod:`fastnet.zoo`: the model layer; :mod:`fastnet.datasets`: data.
* :func:`profile`: a profiler of every op call; ``python -m fastnet bench``: benchmarks.
"""

__version__ = "0.1.0"

import importlib.util as _importlib_util

if _importlib_util.find_spec("fastnet.kernels") is None:  # pragma: no cover - depends on the install
    raise ImportError(
        f"fastnet.kernels is missing: this fastnet was imported from its source tree ({__path__[0]}), "
        "where the kernels live in the top-level kernels/ folder and only an install maps them to "
        "fastnet.kernels. Install with `pip install -e .` to work in the source tree, or run from "
        "another directory (or use the `fastnet` command) to use the installed package.")

from . import _malloc

_malloc.tune()   # before any buffer is allocated: see fastnet/_malloc.py

from . import ops
from . import datasets, layers, losses, optim, zoo
from ._runtime import compile, get_num_threads, info, set_num_threads
from .model import Callback, EarlyStopping, History, LearningRateScheduler, Sequential, load
from .parameter import Parameter
from .profiler import Profiler, profile
from . import callbacks, metrics
from .callbacks import CSVLogger, LRSchedulerCallback, ModelCheckpoint, TerminateOnNaN
from . import distributed  # mpi4py is imported only when a job needs it
from .gradcheck import GradcheckError, gradcheck

__all__ = [
    "ops", "datasets", "layers", "losses", "optim", "zoo",
    "Sequential", "load", "Parameter", "History", "Callback", "EarlyStopping", "LearningRateScheduler",
    "profile", "Profiler",
    "compile", "get_num_threads", "info", "set_num_threads", "__version__",
    "callbacks", "metrics", "CSVLogger", "LRSchedulerCallback", "ModelCheckpoint", "TerminateOnNaN",
    "distributed",
    "gradcheck", "GradcheckError",
]

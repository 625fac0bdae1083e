"""The one place that decides how every fastnet kernel is compiled.

Compile policy
--------------
* Lazy: a kernel is compiled the first time it is called with a new signature (one per dtype:
  kernels only ever see C-contiguous float32/float64 arrays and Python ints, so each kernel has at
  most two signatures). Nothing is compiled at import time, so ``import fastnet`` stays fast.
* Cached on disk, in fastnet's own folder (:mod:`fastnet.kernels._cache`): a process loads what an
  earlier one compiled, keyed by every kernel source file and the library versions, and locked so
  that processes starting together compile each kernel once. ``FASTNET_CACHE=0`` keeps kernels in
  memory only; ``FASTNET_CACHE_DIR`` moves the folder. Numba's own ``cache=True`` stays off: it
  keys a kernel by its own file only, writes next to the sources, and does not lock its index.
* ``fastnet.compile()`` compiles every kernel up front (into the cache) and reports the time it took.

Fast-math: we allow the reassociation/contraction flags that let LLVM vectorise reductions, but
never ``nnan``/``ninf``: with those, ``isnan`` is folded to False and NaN stops propagating.
"""

from numba import njit

from . import _cache

# A set (Numba refuses a frozenset); never mutate it.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Options shared by every kernel (cache=False: fastnet's own cache is attached by _cache.attach). error_model="numpy" lets divisions vectorise (no ZeroDivisionError
# checks); boundscheck stays off (the Python wrappers validate every shape before a kernel runs).
_COMMON = dict(cache=False, fastmath=FASTMATH, error_model="numpy", boundscheck=False, nogil=True)


def parallel_kernel(fn):
    """Decorate a kernel that splits its work with ``numba.prange``."""
    return _cache.attach(njit(parallel=True, **_COMMON)(fn))


def serial_kernel(fn):
    """Decorate a helper kernel (inlined into callers, or too small to be worth threads)."""
    return _cache.attach(njit(parallel=False, **_COMMON)(fn))


def accumulator_kernel(fn):
    """Decorate a serial helper whose arrays are float64 whatever the data's dtype (partial sums):
    the cache does not count it as a kernel of any data dtype (``_cache.has_entries``)."""
    return _cache.attach(njit(parallel=False, **_COMMON)(fn), dtype_free=True)


def strict_kernel(fn):
    """Decorate a tiny helper that must keep IEEE evaluation order (no fast-math at all): e.g. an
    addition whose chains LLVM would otherwise regroup under ``reassoc``. Inlined by LLVM into
    fast-math callers, whose loops still vectorise."""
    return _cache.attach(njit(parallel=False, **dict(_COMMON, fastmath=False))(fn))

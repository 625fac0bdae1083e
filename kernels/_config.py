"""The one place that decides how every fastnet kernel is compiled.

Compile policy
--------------
* Lazy: a kernel is compiled the first time it is called with a new signature (one per dtype:
  kernels only ever see C-contiguous float32/float64 arrays and Python ints, so each kernel has at
  most two signatures). Nothing is compiled at import time, so ``import fastnet`` stays fast.
* In memory only: ``cache=False``. Numba's on-disk cache of ``parallel=True`` functions has
  crashed when the thread count changed between runs (numba issue #7522), and a stale cache is a
  silent source of wrong answers. The price is that each new Python process compiles again.
* ``fastnet.compile()`` compiles every kernel up front and reports the time it took.

Fast-math: we allow the reassociation/contraction flags that let LLVM vectorise reductions, but
never ``nnan``/``ninf``: with those, ``isnan`` is folded to False and NaN stops propagating.
"""

from numba import njit

# A set (Numba refuses a frozenset); never mutate it.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Options shared by every kernel. error_model="numpy" lets divisions vectorise (no ZeroDivisionError
# checks); boundscheck stays off (the Python wrappers validate every shape before a kernel runs).
_COMMON = dict(cache=False, fastmath=FASTMATH, error_model="numpy", boundscheck=False, nogil=True)


def parallel_kernel(fn):
    """Decorate a kernel that splits its work with ``numba.prange``."""
    return njit(parallel=True, **_COMMON)(fn)


def serial_kernel(fn):
    """Decorate a helper kernel (inlined into callers, or too small to be worth threads)."""
    return njit(parallel=False, **_COMMON)(fn)


def strict_kernel(fn):
    """Decorate a tiny helper that must keep IEEE evaluation order (no fast-math at all): e.g. an
    addition whose chains LLVM would otherwise regroup under ``reassoc``. Inlined by LLVM into
    fast-math callers, whose loops still vectorise."""
    return njit(parallel=False, **dict(_COMMON, fastmath=False))(fn)

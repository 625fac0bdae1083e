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
* Set up at import, compiling nothing: on an AVX-512 host LLVM may use 512-bit vectors
  (:func:`_full_width_vectors`), Numba's registries are loaded (:func:`_load_numba_registries`),
  and the wrappers Numba builds around a kernel's prange loops are linked into it without being
  compiled on their own (:mod:`fastnet.kernels._link_only`: a fifth less compile time).

Fast-math: we allow the reassociation/contraction flags that let LLVM vectorise reductions, but
never ``nnan``/``ninf``: with those, ``isnan`` is folded to False and NaN stops propagating.
"""

import functools

import llvmlite.binding as _llvm
from numba import njit
from numba.core import codegen as _numba_codegen
from numba.core import config as _numba_config
from numba.core.registry import cpu_target as _cpu_target

from . import _cache, _link_only


def _full_width_vectors():
    """Let LLVM use 512-bit vectors on an AVX-512 host; return whether this process does.

    LLVM tunes its Intel AVX-512 CPU models (Skylake-X to Sapphire Rapids, and the Rocket Lake
    model that a KVM guest of a newer Xeon reports) with ``prefer-256-bit``: its loop vectoriser
    then emits 256-bit (ymm) code only, half the FMA width those CPUs have. AMD's znver4 / znver5
    models do not set it. Numba passes the host's features to LLVM, so fastnet appends
    ``-prefer-256-bit`` to them, when

    * the host has AVX-512 (``avx512f``),
    * neither ``NUMBA_CPU_NAME`` nor ``NUMBA_CPU_FEATURES`` is set (a user's choice, such as AVX2
      code for a comparison, is kept as it is), and
    * Numba's code generator does not exist yet: it reads the features once, when the process
      decorates its first Numba function, so a program that did so before ``import fastnet``
      keeps Numba's default for its functions and fastnet's alike.

    The code generator is shared, so the setting applies to every Numba function of the process.
    Numba re-reads its settings when a ``NUMBA_*`` environment variable changes within the process;
    the code generator keeps its 512-bit features then, and Numba's cache index names the host's
    default ones for what it stores after that (correct code either way).
    It is part of the cache key (``numba_cpu_features``). Measured on the 2-core Intel Xeon dev box
    (KVM, AVX-512 with AMX, LLVM reports rocketlake), 2026-12-02, ``python -m fastnet bench
    --quick``, 2 threads, fastnet time 256-bit / 512-bit: VGG 3x3 forward 1.40, ResNet stride 2
    1.33-1.36, C3D 1.32-1.35, AlexNet conv2 1.07-1.11, max pooling 1.3-2.2, whole steps 1.06-1.17;
    sigmoid 0.83-0.88 (memory-bound; still 1.5x PyTorch).
    """
    if "_toplevel_target_context" in vars(_cpu_target):
        return False
    if _numba_config.CPU_NAME is not None or _numba_config.CPU_FEATURES is not None:
        return False
    features = _llvm.get_host_cpu_features()
    if not features.get("avx512f", False):
        return False
    _numba_config.CPU_FEATURES = features.flatten() + ",-prefer-256-bit"
    return True


def _load_numba_registries():
    """Load Numba's typing and lowering registries now, at ``import fastnet``.

    Numba does this once per process, at its first compile or cache load: about 0.2 s, most of it
    importing ``numba.np.arraymath``, whose BLAS check imports ``scipy.linalg``. Done here, the
    first call of every op costs only its own cache load (3-17 ms on the dev box) instead of the
    first op of a script paying 0.2 s; nothing is compiled.
    """
    _cpu_target.typing_context.refresh()
    _cpu_target.target_context.refresh()


_VECTOR_PROBE = """
define void @probe(<16 x float>* %p) {
  %v = load <16 x float>, <16 x float>* %p
  %s = fadd <16 x float> %v, %v
  store <16 x float> %s, <16 x float>* %p
  ret void
}
"""


AVX512_VECTOR_BYTES = 64   # vector_bytes() of AVX-512 targets (several kernels pick limits by it)


@functools.cache
def vector_bytes():
    """Width in bytes of the widest vector registers of the CPU Numba compiles for: 64 (AVX-512),
    32 (AVX, AVX2) or 16 (SSE, and any other target).

    Asked of LLVM itself, for the CPU name and features Numba uses (``NUMBA_CPU_NAME`` /
    ``NUMBA_CPU_FEATURES`` where set, else the host's, with fastnet's 512-bit setting): it compiles
    a 16-float addition and the answer is the register kind it uses. So the AVX2 recipe
    (``NUMBA_CPU_NAME=znver3 NUMBA_CPU_FEATURES=""``) gets 32 on an AVX-512 host. A few
    milliseconds, once per process, when the first convolution kernel is compiled or its tile
    shape asked for (:mod:`fastnet.kernels.microkernel`).
    """
    name = _numba_config.CPU_NAME or _llvm.get_host_cpu_name()
    features = _numba_config.CPU_FEATURES
    if features is None:
        features = _numba_codegen.get_host_cpu_features()   # what Numba itself passes to LLVM
    machine = _llvm.Target.from_default_triple().create_target_machine(cpu=name, features=features)
    assembly = machine.emit_assembly(_llvm.parse_assembly(_VECTOR_PROBE))
    if "zmm" in assembly:
        return 64
    if "ymm" in assembly:
        return 32
    return 16


FULL_WIDTH_VECTORS = _full_width_vectors()
_load_numba_registries()
LINK_ONLY_WRAPPERS = _link_only.install()   # shorter compiles of parallel kernels

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


def inlined_kernel(fn):
    """Decorate a helper that Numba inlines into each caller's code before compiling it (not a call
    at run time): a small per-task step that several parallel kernels share, where the call cost
    measurably (its array arguments are passed field by field, its results as a tuple)."""
    return njit(parallel=False, inline="always", **_COMMON)(fn)


def accumulator_kernel(fn):
    """Decorate a serial helper whose arrays are float64 whatever the data's dtype (partial sums):
    the cache does not count it as a kernel of any data dtype (``_cache.has_entries``)."""
    return _cache.attach(njit(parallel=False, **_COMMON)(fn), dtype_free=True)


def probe_kernel(fn):
    """Decorate a parallel kernel that measures the machine, not data (:mod:`fastnet.kernels.probe`):
    like the accumulators, the cache does not count it as a kernel of any data dtype."""
    return _cache.attach(njit(parallel=True, **_COMMON)(fn), dtype_free=True)


def ieee_parallel_kernel(fn):
    """Decorate a parallel element-wise kernel whose square roots and divisions must be IEEE's
    (an optimizer's update): fast-math only to fuse multiply-adds, so LLVM neither approximates
    them (``afn``, ``arcp``: reciprocal estimates) nor reorders the arithmetic."""
    return _cache.attach(njit(parallel=True, **dict(_COMMON, fastmath={"contract"}))(fn))


def ieee_serial_kernel(fn):
    """Decorate a serial helper of an :func:`ieee_parallel_kernel` (one chunk of its update): the
    same fast-math, multiply-adds fused only."""
    return _cache.attach(njit(parallel=False, **dict(_COMMON, fastmath={"contract"}))(fn))


def strict_kernel(fn):
    """Decorate a tiny helper that must keep IEEE evaluation order (no fast-math at all): e.g. an
    addition whose chains LLVM would otherwise regroup under ``reassoc``. Inlined by LLVM into
    fast-math callers, whose loops still vectorise."""
    return _cache.attach(njit(parallel=False, **dict(_COMMON, fastmath=False))(fn))

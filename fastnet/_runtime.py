"""Threads, environment report and ahead-of-use compilation."""

import os
import platform
import time

import numba
import numpy as np


def set_num_threads(n):
    """Set the number of threads fastnet kernels use (1 <= n <= numba.config.NUMBA_NUM_THREADS)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n: expected an int, got {type(n).__name__}")
    limit = numba.config.NUMBA_NUM_THREADS
    if not 1 <= n <= limit:
        raise ValueError(f"n: expected 1 <= n <= {limit} (NUMBA_NUM_THREADS), got {n}")
    numba.set_num_threads(int(n))


def get_num_threads():
    """The number of threads fastnet kernels use."""
    return numba.get_num_threads()


def _threading_layer():
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet, so no layer is chosen
        from numba.np.ufunc import parallel
        parallel._launch_threads()
        return numba.threading_layer()


def _cpu_features():
    try:
        from numba.core.config import CPU_FEATURES  # set by the user, rare
        if CPU_FEATURES:
            return CPU_FEATURES
    except ImportError:
        pass
    import llvmlite.binding as llvm
    return llvm.get_host_cpu_features().flatten()


def info(as_dict=False):
    """Report versions, threads, threading layer and CPU features.

    Returns a multi-line string, or the underlying dict when ``as_dict`` is True.
    """
    import llvmlite.binding as llvm

    from . import __version__
    features = _cpu_features()
    simd = [f for f in ("sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512vnni",
                        "neon", "sve") if f"+{f}" in features.split(",")]
    report = {
        "fastnet": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "llvm": ".".join(str(v) for v in llvm.llvm_version_info),
        "platform": platform.platform(),
        "cpu": llvm.get_host_cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": get_num_threads(),
        "max_threads": numba.config.NUMBA_NUM_THREADS,
        "threading_layer": _threading_layer(),
        "simd": " ".join(simd) or "none detected",
    }
    try:
        import torch
        report["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        report["torch"] = "not installed"
    if as_dict:
        return report
    width = max(len(k) for k in report)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in report.items())


def compile(dtypes=("float32", "float64"), verbose=False):
    """Compile every kernel now, for each dtype, instead of on first use.

    Runs every public op (forward and backward) once on tiny inputs. Returns a dict
    ``{dtype name: seconds}``; with ``verbose`` also prints it. A second call is nearly free.
    """
    from .ops import _warmup
    timings = {}
    for dtype in dtypes:
        dtype = np.dtype(dtype)
        start = time.perf_counter()
        _warmup.run_all(dtype)
        timings[dtype.name] = time.perf_counter() - start
        if verbose:
            print(f"fastnet: compiled kernels for {dtype.name} in {timings[dtype.name]:.1f} s")
    return timings

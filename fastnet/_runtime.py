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
    """Report versions, threads, threading layer, CPU features and the kernel cache (folder, key, state).

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
    from .kernels import _cache
    cache = _cache.describe()
    report.update(cache_dir=cache["cache_dir"], cache_key=cache["cache_key"], cache_state=cache["cache_state"],
                  cache_entries=cache["cache_entries"])
    try:
        import torch
        report["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        report["torch"] = "not installed"
    if as_dict:
        return report
    width = max(len(k) for k in report)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in report.items())


def compile(dtypes=("float32", "float64"), verbose=False, only=None):
    """Compile every kernel now, for each dtype, instead of on first use, and store it in the cache.

    Runs every public op (forward and backward) once on tiny inputs whose shapes reach every form
    of every kernel. With the on-disk cache (``fastnet.kernels._cache``; on unless
    ``FASTNET_CACHE=0``) a later process, or a later call, loads them instead of compiling.

    Parameters
    ----------
    dtypes : sequence of dtype names or numpy dtypes, default ("float32", "float64")
    verbose : bool, default False: show a progress bar per dtype and print the time on stderr
    only : str or None: only the op families whose name contains it (see ``_warmup.step_names()``)

    Returns
    -------
    dict ``{dtype name: seconds}``
    """
    import sys

    from .kernels import _cache
    from .ops import _warmup
    timings = {}
    for dtype in dtypes:
        dtype = np.dtype(dtype)
        start = time.perf_counter()
        bar = None
        if verbose:
            from tqdm.auto import tqdm
            bar = tqdm(total=len([n for n in _warmup.step_names() if only is None or only in n]),
                       desc=f"fastnet: compiling {dtype.name}", unit="op", file=sys.stderr, leave=True)

        def progress(name, index, total, bar=bar):
            if bar is not None:
                bar.set_postfix_str(name)
                bar.n = index
                bar.refresh()

        _warmup.run_all(dtype, only=only, progress=progress)
        timings[dtype.name] = time.perf_counter() - start
        if bar is not None:
            bar.n = bar.total
            bar.set_postfix_str("done")
            bar.close()
            where = f"stored in {_cache.STATE.dir}" if _cache.STATE.enabled else "in memory only"
            print(f"fastnet: kernels for {dtype.name} ready in {timings[dtype.name]:.1f} s ({where})",
                  file=sys.stderr)
    return timings

"""Threads, environment report and ahead-of-use compilation."""

import os
import platform
import time

import numba
import numpy as np

from . import _malloc


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


def _vector_width():
    """How wide the kernels' vector code is chosen (see ``kernels._config._full_width_vectors``)."""
    from numba.core import config

    from .kernels import _config
    if _config.FULL_WIDTH_VECTORS:
        return "512-bit (AVX-512 host: fastnet added -prefer-256-bit to Numba's CPU features)"
    if config.CPU_NAME is not None or config.CPU_FEATURES is not None:
        return "as NUMBA_CPU_NAME / NUMBA_CPU_FEATURES select"
    return "LLVM's choice for this CPU"


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
        "vector_width": _vector_width(),
        "malloc": _malloc.state,
    }
    from .kernels import _cache, _config
    from .kernels import dense as _dense
    report["prange_wrappers"] = ("linked into each kernel, not compiled on their own (kernels/_link_only.py)"
                                 if _config.LINK_ONLY_WRAPPERS else
                                 "compiled as Numba does it (this Numba lacks what kernels/_link_only.py uses)")
    report["dense_blas"] = _dense.blas_description()
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


def python_command(code, *args):
    """The command line of a helper process running ``code`` (``python -c``) in this Python, that
    imports the fastnet this process runs. ``python -c`` puts the working directory first on
    sys.path, so in a source tree (the README's clean clone, after ``pip install .``) the helper
    imported the uninstalled ``fastnet/`` folder, which has no ``fastnet.kernels``, and died at
    once: the main job's first epoch compiled alone, 38.6 s there against 22.2 from another
    directory (Zen 4, 2026-12-07). The helper drops that entry first (as ``python -P`` does on
    3.11+)."""
    import sys
    return [sys.executable, "-c", "import sys\nif sys.path and sys.path[0] == '':\n    del sys.path[0]\n" + code,
            *args]


def _start_helpers(dtype, only, count):
    """Start ``count`` processes that run the warm-up steps in other orders, storing into the cache."""
    import subprocess

    from .kernels import _cache
    code = ("import sys, numpy as np; from fastnet.ops import _warmup; "
            "_warmup.run_all(np.dtype(sys.argv[1]), only=sys.argv[2] or None, start=int(sys.argv[3]), "
            "of=int(sys.argv[4]))")
    env = dict(os.environ, FASTNET_CACHE_DIR=_cache.STATE.root, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return [subprocess.Popen(python_command(code, dtype.name, only or "", str(k), str(count + 1)),
                             env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
            for k in range(1, count + 1)]


def compile(dtypes=("float32", "float64"), verbose=False, only=None, workers=None):
    """Compile every kernel now, for each dtype, instead of on first use, and store it in the cache.

    Runs every public op (forward and backward) once on tiny inputs whose shapes reach every form
    of every kernel. With the on-disk cache (``fastnet.kernels._cache``; on unless
    ``FASTNET_CACHE=0``) a later process, or a later call, loads them instead of compiling.

    Parameters
    ----------
    dtypes : sequence of dtype names or numpy dtypes, default ("float32", "float64")
    verbose : bool, default False: show a progress bar per dtype and print the time on stderr
    only : str or None: only the op families whose name contains it (see ``_warmup.step_names()``)
    workers : int or None
        Processes compiling at once (default: the number of cores, at most 4). Numba compiles one
        kernel at a time per process; with the cache on, helper processes walk the op families in
        other orders and store what they compile, and this process loads it (each kernel's file
        lock makes sure that every kernel is compiled once). Without the cache: 1.

    Returns
    -------
    dict ``{dtype name: seconds}``
    """
    import sys

    from .kernels import _cache
    from .ops import _warmup
    if workers is None:
        workers = min(os.cpu_count() or 1, 4)
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers: expected a positive int or None, got {workers!r}")
    timings = {}
    for dtype in dtypes:
        dtype = np.dtype(dtype)
        start = time.perf_counter()
        steps = [n for n in _warmup.step_names() if only is None or only in n]
        helpers = []
        # helper processes pay only on a cold cache (each costs an import of fastnet)
        if workers > 1 and len(steps) > 1 and _cache.STATE.usable() and not _cache.has_entries(dtype):
            helpers = _start_helpers(dtype, only, min(workers, len(steps)) - 1)
        bar = None
        if verbose:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(steps), desc=f"fastnet: compiling {dtype.name}", unit="op", file=sys.stderr,
                       leave=True)

        def progress(name, index, total, bar=bar):
            if bar is not None:
                bar.set_postfix_str(name)
                bar.n = index
                bar.refresh()

        try:
            _warmup.run_all(dtype, only=only, progress=progress)
        finally:
            for helper in helpers:   # what they have left is loading what this process compiled
                try:
                    helper.wait(timeout=60)
                except Exception:  # noqa: BLE001 - a helper that hangs or died only cost time
                    helper.kill()
        timings[dtype.name] = time.perf_counter() - start
        if bar is not None:
            bar.n = bar.total
            bar.set_postfix_str("done")
            bar.close()
            where = f"stored in {_cache.STATE.dir}" if _cache.STATE.enabled else "in memory only"
            print(f"fastnet: kernels for {dtype.name} ready in {timings[dtype.name]:.1f} s ({where})",
                  file=sys.stderr)
    return timings

"""The machine a benchmark runs on: its measured limits (sgemm, copy), what the kernels are
compiled for, NumPy's BLAS threads, and how whole its cores are right now (the probes that
:func:`fastnet.bench_runner.run` takes around every implementation of a case: parallel efficiency
and fork-join time)."""

import math
import time

import numpy as np

#: The probes are the machine's own (a fork-join's time; even the efficiency, which read 0.78-0.90
#: for the 8 minutes of one run on the Zen 4 dev VM, 0.93-1.00 in the others), so a case is judged
#: against the best probes seen in the same run: its cores were shared when its
#: efficiency is below EFFICIENCY_DROP times the run's highest, or its fork-join over
#: FORK_JOIN_SLOW times the run's fastest (see :func:`fastnet.bench_report.degraded`). On the dev
#: VM such spells read 0.46-0.76 and 2.5-3.0 us against 0.86-1.03 and 1.4-1.6 us.
EFFICIENCY_DROP = 0.85
FORK_JOIN_SLOW = 1.5
PROBE_REPEATS = 3      # best of this many timings, alone and together
PROBE_CALLS = 3000     # micro-kernel calls per unit of work: about 1 ms on one Zen 4 core (AVX-512)
FORK_JOINS = 100       # parallel regions per fork-join timing


def probe_cores(threads=None):
    """Both probes of the cores at ``threads`` threads: ``{"efficiency": parallel_efficiency(),
    "fork_join_us": fork_join_seconds() * 1e6}``, or None with fewer than 2 threads. About 7 ms."""
    threads = _threads(threads)
    if threads < 2:
        return None
    return {"efficiency": parallel_efficiency(threads), "fork_join_us": fork_join_seconds(threads) * 1e6}


def fork_join_seconds(threads=None, calls=FORK_JOINS):
    """Seconds one parallel region that does nearly nothing takes at ``threads`` threads
    (:func:`fastnet.kernels.probe.touch`): the threads' fork and join, and Numba's dispatch; the
    median of PROBE_REPEATS batches of ``calls``.

    Machine-dependent (1.4 us on the 2-core Zen 4 dev VM), so the runner compares it with the fastest
    seen in the same run: on that VM it doubled in the spells that slowed every short parallel
    kernel (:mod:`fastnet.kernels.probe`), sometimes while :func:`parallel_efficiency` stayed at 1.
    """
    from .kernels import probe
    a = np.zeros(max(_threads(threads), 1), dtype=np.float32)

    def batch():
        for _ in range(calls):
            probe.touch(a)
    times = _timings(_threads(threads), lambda: probe.touch(a), batch)
    return sorted(times)[len(times) // 2] / calls


def parallel_efficiency(threads=None, calls=PROBE_CALLS):
    """How fast ``threads`` threads run fastnet's micro-kernel side by side, as a share of one thread's
    speed alone: 1.0 on whole cores; float, or None with fewer than 2 threads.

    One unit of work is ``calls`` calls of :func:`~fastnet.kernels.microkernel.tile_fma` on
    operands in L1 (pure FMA throughput: no memory traffic, no load imbalance);
    :func:`fastnet.kernels.probe.fma_units` runs one unit on one thread, then one unit per thread
    on ``threads`` threads; the result is the best time alone / the best time together (best of
    PROBE_REPEATS each). Well below the run's best (EFFICIENCY_DROP) the threads were sharing
    physical cores or another tenant's work (see :mod:`fastnet.kernels.probe` for what that did
    to the dev VM's timings). About 6 ms with the defaults.
    """
    from .kernels import probe
    from .kernels.microkernel import tile_shape
    threads = _threads(threads)
    if threads < 2:
        return None
    mr, nr = tile_shape(np.dtype(np.float32))
    a = np.ones(mr * probe.STEPS, dtype=np.float32)
    b = np.full(probe.STEPS * nr, 1e-3, dtype=np.float32)
    c = np.zeros((threads, mr * nr), dtype=np.float32)

    def best(units):
        return min(_timings(units, lambda: probe.fma_units(a, b, c, units, 1),
                            lambda: probe.fma_units(a, b, c, units, calls)))
    return best(1) / best(threads)


def _threads(threads):
    """``threads``, or the calling thread's Numba thread count where None."""
    import numba
    return numba.get_num_threads() if threads is None else int(threads)


def _timings(threads, warm, fn):
    """PROBE_REPEATS timings (seconds) of ``fn()`` at ``threads`` Numba threads, after one call of
    ``warm()`` (which compiles or loads the kernel and starts the threads); the calling thread's
    thread count is restored."""
    import numba
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        warm()
        times = []
        for _ in range(PROBE_REPEATS):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return times
    finally:
        numba.set_num_threads(previous)


def measure_limits(quick=False):
    """The machine's measured limits: sgemm GFLOP/s (numpy float32 matmul) and copy GB/s.

    sgemm: best of 3 of ``a @ b`` with n = 2048 (1024 with ``quick``), 2 n^3 FLOPs.
    copy: best of 5 of ``np.copyto`` of a 256 MB float32 array (64 MB with ``quick``), counting
    the bytes read and written (2 x the array size), as STREAM does.
    """
    rng = np.random.default_rng(0)
    n = 1024 if quick else 2048
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    sgemm = 2 * n ** 3 / best / 1e9
    count = (16 if quick else 64) * 2 ** 20
    src = np.ones(count, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = math.inf
    for _ in range(5):
        t = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t)
    copy = 2 * src.nbytes / best / 1e9
    return {"sgemm_gflops": sgemm, "sgemm_n": n, "copy_gbs": copy, "copy_bytes": int(src.nbytes)}


def codegen_target():
    """What the kernels are compiled for and what PyTorch's oneDNN may use, as a line of text.

    ``NUMBA_CPU_NAME=znver3`` alone does not give AVX2 code on an AVX-512 host: Numba keeps the
    host's feature string (``+avx512f,...``), so LLVM still emits zmm instructions. AVX2 code
    needs ``NUMBA_CPU_FEATURES=""`` as well (the named CPU's own features).
    """
    import os

    from numba.core import config

    from .kernels import _config
    name, features = config.CPU_NAME, config.CPU_FEATURES
    if _config.FULL_WIDTH_VECTORS:
        numba_part = "Numba: the host CPU and its features, 512-bit vectors preferred (fastnet's -prefer-256-bit)"
    elif name is None and features is None:
        numba_part = "Numba: the host CPU and its features"
    else:
        shown = "the host's" if features is None else (repr(features) if features else "the named CPU's own")
        numba_part = f"Numba: CPU {name or 'host'}, features {shown}"
        if name is not None and features is None:
            numba_part += (" (NUMBA_CPU_FEATURES is unset, so the host ISA's instructions are still emitted;"
                           ' set NUMBA_CPU_FEATURES="" for the named CPU\'s ISA)')
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    return numba_part + "; oneDNN ISA cap: " + (cap or "none (the host's best)")


class _blas_limiter:
    """Limit NumPy's BLAS to ``threads`` with threadpoolctl when it is installed."""

    def __init__(self, threads):
        self.threads = threads
        self._ctx = None
        try:
            from threadpoolctl import threadpool_limits
            self._ctx = threadpool_limits(limits=threads, user_api="blas")
            self.description = f"{threads} (threadpoolctl)"
        except ImportError:
            self.description = "library default (install threadpoolctl to pin it)"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._ctx is not None:
            self._ctx.restore_original_limits()
        return False

"""Benchmarks: JIT compile time, apart from run time.

* ``test_compile_kernel``: compile a fresh copy of one fastnet kernel (its ``py_func`` through a new
  ``numba.jit`` with the kernel's own options, for the signature fastnet uses), per kernel module.
  Smoke mode compiles one small kernel once.
* ``test_compile_all_cold``: ``fastnet.compile(dtypes=("float32",))`` in a fresh Python process,
  the cold-start cost a user pays (full mode only: it takes about a minute).
"""

import subprocess
import sys
import time

import numba
import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

import fastnet

# kernel module -> an op call that compiles (at least) one of its kernels for float32
WARMUPS = {
    "activations": lambda rng: fastnet.ops.sigmoid(rng.standard_normal((4, 5)).astype(np.float32)),
    "dense": lambda rng: fastnet.ops.dense(rng.standard_normal((3, 4)).astype(np.float32),
                                           rng.standard_normal((2, 4)).astype(np.float32)),
    "pooling": lambda rng: fastnet.ops.maxpool2d(rng.standard_normal((1, 2, 4, 4)).astype(np.float32), 2),
    "conv2d": lambda rng: fastnet.ops.conv2d(rng.standard_normal((1, 2, 5, 5)).astype(np.float32),
                                             rng.standard_normal((3, 2, 3, 3)).astype(np.float32)),
    "conv3d": lambda rng: fastnet.ops.conv3d(rng.standard_normal((1, 2, 4, 4, 4)).astype(np.float32),
                                             rng.standard_normal((3, 2, 3, 3, 3)).astype(np.float32)),
}


def compiled_kernel(module_name):
    """(name, dispatcher) of a kernel of ``fastnet.kernels.<module_name>`` that fastnet compiled."""
    import importlib
    WARMUPS[module_name](np.random.default_rng(0))
    module = importlib.import_module(f"fastnet.kernels.{module_name}")
    found = sorted((name, d) for name, d in vars(module).items()
                   if isinstance(d, CPUDispatcher) and d.signatures and d.py_func.__module__ == module.__name__)
    if not found:
        pytest.skip(f"no compiled kernel found in fastnet.kernels.{module_name}")
    return found[0]


@pytest.mark.parametrize("module_name", list(WARMUPS))
def test_compile_kernel(benchmark, module_name, bench_size):
    if bench_size == "smoke" and module_name != "activations":
        pytest.skip("smoke mode compiles one small kernel only (compiling is seconds per kernel)")
    name, dispatcher = compiled_kernel(module_name)
    signature = dispatcher.signatures[0]

    def compile_fresh():
        fresh = numba.jit(**dispatcher.targetoptions)(dispatcher.py_func)
        fresh.compile(signature)
        return fresh

    benchmark.group = "compile|kernel"
    benchmark.extra_info.update(kernel=f"{module_name}.{name}", signature=str(signature))
    fresh = benchmark.pedantic(compile_fresh, rounds=1 if bench_size == "smoke" else 3, iterations=1)
    assert signature in fresh.signatures


def test_compile_all_cold(benchmark, bench_size):
    if bench_size == "smoke":
        pytest.skip("a cold fastnet.compile() takes about a minute: run with --benchmark-only")
    code = "import fastnet; fastnet.compile(dtypes=('float32',))"

    def cold():
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    benchmark.group = "compile|all kernels, float32, fresh process"
    seconds = benchmark.pedantic(cold, rounds=1, iterations=1)
    assert seconds > 0

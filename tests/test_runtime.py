"""Threads, info(), compile() and packaging."""

import importlib.util
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

import fastnet
from helpers import codegen_probe


def test_kernels_installed_only_as_fastnet_kernels():
    assert importlib.util.find_spec("fastnet.kernels") is not None
    assert importlib.util.find_spec("kernels") is None, "a top-level `kernels` package is importable"


def test_set_and_get_num_threads():
    before = fastnet.get_num_threads()
    try:
        fastnet.set_num_threads(1)
        assert fastnet.get_num_threads() == 1 == numba.get_num_threads()
    finally:
        fastnet.set_num_threads(before)
    assert fastnet.get_num_threads() == before


@pytest.mark.parametrize("bad, error, message", [
    (0, ValueError, "n: expected 1 <= n"),
    (10_000, ValueError, "n: expected 1 <= n"),
    (1.5, TypeError, "n: expected an int"),
    (True, TypeError, "n: expected an int"),
])
def test_set_num_threads_rejects(bad, error, message):
    with pytest.raises(error, match=message):
        fastnet.set_num_threads(bad)


def test_info_reports_versions_threads_and_layer():
    report = fastnet.info(as_dict=True)
    assert report["numba"] == numba.__version__
    assert report["numpy"] == np.__version__
    assert report["threads"] == fastnet.get_num_threads()
    assert report["threading_layer"] in ("tbb", "omp", "workqueue")
    text = fastnet.info()
    assert "threading_layer" in text and numba.__version__ in text
    from fastnet.kernels import cblas
    # the dense kernels' BLAS: NumPy's OpenBLAS by address where found, else np.dot's
    assert ("NumPy's OpenBLAS" in report["dense_blas"]) == (cblas.numpy_openblas() is not None)


def test_compile_warms_every_kernel_and_second_call_compiles_nothing():
    from fastnet.kernels import _cache
    first = fastnet.compile(dtypes=("float64",))
    assert set(first) == {"float64"}
    before = _cache.compile_seconds()
    fastnet.compile(dtypes=("float64",))
    # every kernel is in memory now: the second call only runs tiny ops, no compile or cache load
    assert _cache.compile_seconds() == before


_KERNELS_PROBE = """
import importlib
import sys
import numpy as np
from numba.core.dispatcher import Dispatcher
from fastnet.ops import _warmup
for only in sys.argv[2].split(","):
    _warmup.run_all(np.dtype(sys.argv[1]), only=only)
from numba.core import types
modules = [importlib.import_module("fastnet.kernels." + name) for name in sys.argv[3:]]
kernels = [(f"{module.__name__}.{name}", value) for module in modules for name, value in vars(module).items()
           if isinstance(value, Dispatcher) and value.__module__ == module.__name__]
missing = [name for name, kernel in kernels if kernel.targetoptions.get("parallel") and not kernel.overloads]
print(" ".join(missing) or "none")
# a kernel compiled twice for the same arrays, once per integer type (a prange index is uint64 in the
# gufunc): compile time spent for nothing. (A constant argument, Literal[int], is a specialisation
# some helpers are called for on purpose: their loops compiled for constant strides or counts.)
def shape(signature):
    return tuple("int" if isinstance(t, types.Integer) and not isinstance(t, types.Literal) else str(t)
                 for t in signature)
twice = [name for name, kernel in kernels if len({shape(s) for s in kernel.signatures}) < len(kernel.signatures)]
print(" ".join(twice) or "none")
"""


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("steps, modules", [
    ("conv", ["conv3d", "conv_lanes", "conv_weight", "conv_layout", "conv2d_plane", "winograd", "winograd3d",
              "winograd3d_weight", "winograd_weight", "transpose"]),
    ("maxpool", ["pooling", "pooling_3x3s2", "pooling3d", "pool_scan"]),
    ("avgpool", ["avgpool"]),
    ("optimizers", ["optimizers"]),
    ("sigmoid,tanh,relu", ["activations"]),
    ("dense", ["dense", "cblas"]),
    ("losses,softmax", ["losses", "softmax"]),
    ("batch_norm,dropout", ["normalization", "dropout"]),
], ids=["convolution", "pooling", "avgpool", "optimizers", "activations", "dense", "losses", "normalization"])
def test_warmup_steps_reach_every_kernel_of_their_modules(steps, modules, dtype):
    """fastnet.compile's conv (maxpool, ...) steps compile every parallel kernel of the convolution
    (pooling, ...) modules (each form of each pass, e.g. both 2x2 / 2 backward forms: short and
    long output rows; the serial helpers are compiled into them), in a fresh process, so that a
    warmed cache holds all of them; and none of their kernels twice for signatures that differ
    only in integer types. Except what no op reaches on this machine: below AVX-512, the flat
    planes' weight gradient (``kernels.conv2d._plane_weight_ok``) and the stride-2 Winograd
    form's weights (``kernels.conv2d.winograd_stride2_ok``); the dense kernels of the BLAS this
    NumPy does not have (``kernels.dense.dense_forward``), and the forward from a transposed copy
    of w except in float32 with OpenBLAS's SkylakeX kernels (``kernels.dense._transposes_w``)."""
    from fastnet.kernels import cblas
    from fastnet.kernels import conv2d as conv2d_kernels
    from fastnet.kernels import dense as dense_kernels
    from fastnet.kernels._config import vector_bytes
    unreached = set()
    if steps == "conv" and vector_bytes() < conv2d_kernels.AVX512_VECTOR_BYTES:
        unreached = {"fastnet.kernels.conv2d_plane.plane_weight_grad",
                     "fastnet.kernels.winograd.winograd_weights_stride2"}
    if steps == "dense":
        found = cblas.numpy_openblas()
        other_blas = {"_dense_forward_dot", "_dense_backward_dot"} if found else {"_dense_forward", "_dense_backward"}
        transposed = found and dtype == "float32" and found.core in dense_kernels.TRANSPOSED_W_CORES
        unreached = {f"fastnet.kernels.dense.{name}"
                     for name in other_blas | (set() if transposed else {"_dense_forward_transposed"})}
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    if dtype == "float32":
        # compiled, not loaded: a kernel loaded from the (warmed) cache compiles none of the serial
        # helpers it calls, so a helper typed twice (a prange index passed as uint64) shows only
        # here. On one thread each family takes 3-16 s, the convolutions about 100 s; the float64
        # forms (the same sources, as long again) load from the cache.
        env["FASTNET_CACHE"] = "0"
    out = subprocess.run([sys.executable, "-c", _KERNELS_PROBE, dtype, steps, *modules], capture_output=True,
                         text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr
    missing, twice = out.stdout.splitlines()
    assert set(missing.split()) - {"none"} == unreached
    assert twice == "none"


def test_warmup_compiles_both_forms_of_the_weight_gradient_tiles():
    """The weight gradient's tile kernel has two specializations (partial sums, or each task
    transposing its sums into dw: ``dw`` None or an array), which a layer picks by shape; the
    warm-up compiles both, on one thread as on more."""
    probe = ("import numpy as np\n"
             "from fastnet.ops import _warmup\n"
             "from fastnet.kernels import conv_weight\n"
             "_warmup.run_all(np.dtype('float32'), only='conv3d_gather')\n"
             "print(sorted(str(sig[-1]).split('(')[0] for sig in conv_weight._weight_tiles.signatures))\n")
    for threads in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600,
                             env=dict(os.environ, OMP_NUM_THREADS=threads, NUMBA_NUM_THREADS=threads))
        assert out.returncode == 0, out.stderr
        assert out.stdout.split("\n")[-2] == "['array', 'none']"


def test_cli_info_runs():
    out = subprocess.run([sys.executable, "-m", "fastnet", "info"], capture_output=True, text=True,
                         check=True).stdout
    assert "numba" in out and "threads" in out


def test_cli_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "fastnet", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for name in ("train", "info", "bench", "profile"):
        assert name in out



def test_avx512_hosts_get_512_bit_vectors_unless_the_user_chose():
    """LLVM's Intel AVX-512 tunings prefer 256-bit vectors; fastnet lifts that (kernels/_config.py)."""
    import llvmlite.binding as llvm
    host = llvm.get_host_cpu_features().flatten()
    if "+avx512f" not in host.split(","):
        assert not codegen_probe()["full_width"]
        pytest.skip("the host has no AVX-512")
    probe = codegen_probe()
    assert probe["full_width"] and probe["isa"] == "zmm" and probe["flag"]
    # the user's own settings are kept as they are ...
    assert not codegen_probe(NUMBA_CPU_FEATURES=host)["full_width"]
    probe = codegen_probe(NUMBA_CPU_NAME="znver3", NUMBA_CPU_FEATURES="")
    assert not probe["full_width"] and probe["isa"] == "ymm"
    # ... and so is a code generator that exists already (it read its features when created)
    assert not codegen_probe("numba-first")["full_width"]


def test_import_loads_numba_registries_so_the_first_op_call_is_only_a_cache_load():
    """Numba's one-time set-up (about 0.2 s: typing and lowering registries, numba.np.arraymath and
    its scipy.linalg BLAS check) happens at ``import fastnet``, not in the first kernel call."""
    assert codegen_probe()["registries"]


def test_helper_processes_import_the_installed_fastnet_not_a_source_tree(tmp_path):
    """The compile helpers run ``python -c``, which puts the working directory first on sys.path:
    started in a source tree (the README's clean clone after ``pip install .``) they imported its
    uninstalled fastnet/ and died. Their command line drops that entry."""
    from fastnet import _runtime
    (tmp_path / "fastnet").mkdir()
    (tmp_path / "fastnet" / "__init__.py").write_text("raise ImportError('the source tree, not the install')\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    done = subprocess.run(_runtime.python_command("import sys, fastnet; print(fastnet.__file__, sys.argv[1:])", "a"),
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    path, args = done.stdout.split(" ", 1)
    assert not path.startswith(str(tmp_path)) and args.strip() == "['a']"

"""kernels/_link_only.py: the wrappers of a fastnet kernel's prange loops are linked into it, not
optimized and compiled on their own, and the loops are optimized but get no machine code of their
own; the kernel computes the same, their code is still there when asked for, and Numba code that
is not a fastnet kernel is compiled as Numba does it."""

import numpy as np
import pytest
from llvmlite.binding import Linkage
from numba import guvectorize, njit, prange

from fastnet.kernels import _cache, _config, _link_only


def _scaled_row_sums(x, scale, out):
    """out[i] = scale * sum(x[i]): two prange loops (four wrapper libraries)."""
    for i in prange(x.shape[0]):
        total = 0.0
        for j in range(x.shape[1]):
            total += x[i, j]
        out[i] = total
    for i in prange(out.shape[0]):
        out[i] *= scale


def _fastnet_kernel(monkeypatch):
    """A fresh fastnet parallel kernel (no disk cache)."""
    monkeypatch.setattr(_cache.STATE, "enabled", False)
    return _config.parallel_kernel(_scaled_row_sums)


def _run(kernel, dtype):
    x = np.random.default_rng(3).standard_normal((37, 29)).astype(dtype)
    out = np.empty(37, dtype=dtype)
    kernel(x, 2.5, out)
    expected = 2.5 * x.astype(np.float64).sum(axis=1)
    return out, expected


@pytest.fixture
def materialized(monkeypatch):
    """The link-only libraries whose machine code something asked for, in order."""
    done = []
    original = _link_only._materialize

    def recording(library):
        if getattr(library, "_fastnet_pending", False):
            done.append(library)
        original(library)

    monkeypatch.setattr(_link_only, "_materialize", recording)
    return done


@pytest.fixture
def made(monkeypatch):
    """The libraries made link-only (wrappers) or optimized with their code put off (loops), in
    the order they were finalized."""
    done = []
    original = _link_only._link_only_finalize

    def recording(library, finalize):
        original(library, finalize)
        done.append(library)

    monkeypatch.setattr(_link_only, "_link_only_finalize", recording)
    return done


def test_installed_on_this_numba():
    import fastnet
    assert _config.LINK_ONLY_WRAPPERS is True
    assert _link_only.install() is False   # once per process
    assert fastnet.info(as_dict=True)["prange_wrappers"].startswith("linked into each kernel")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fastnet_kernel_wrappers_are_linked_not_compiled(monkeypatch, materialized, dtype):
    kernel = _fastnet_kernel(monkeypatch)
    before, loops_before = _link_only.LINK_ONLY_BUILT, _link_only.LOOPS_DEFERRED
    out, expected = _run(kernel, dtype)
    assert _link_only.LINK_ONLY_BUILT - before == 4   # a gufunc wrapper and a parallel wrapper per loop
    assert _link_only.LOOPS_DEFERRED - loops_before == 2
    assert materialized == []                         # nothing needed their own machine code
    np.testing.assert_allclose(out, expected, rtol=1e-6 if dtype == np.float32 else 1e-13)


def test_same_results_as_numba_alone(monkeypatch):
    linked = _fastnet_kernel(monkeypatch)
    out_linked, expected = _run(linked, np.float64)
    monkeypatch.setattr(_link_only, "ENABLED", False)
    before, loops_before = _link_only.LINK_ONLY_BUILT, _link_only.LOOPS_DEFERRED
    plain = _fastnet_kernel(monkeypatch)
    out_plain, _ = _run(plain, np.float64)
    assert (_link_only.LINK_ONLY_BUILT, _link_only.LOOPS_DEFERRED) == (before, loops_before)
    np.testing.assert_allclose(out_linked, out_plain, rtol=1e-15)
    np.testing.assert_allclose(out_plain, expected, rtol=1e-13)


def test_link_only_library_compiles_when_its_code_is_asked_for(monkeypatch, materialized, made):
    _run(_fastnet_kernel(monkeypatch), np.float64)
    wrappers = [library for library in made if library._fastnet_link_only == "linked"]
    loops = [library for library in made if library._fastnet_link_only == "optimized"]
    assert len(wrappers) == 4 and len(loops) == 2 and len(made) == 6
    assert all(library._fastnet_pending == "all" for library in wrappers)
    assert all(library._fastnet_pending == "code" for library in loops)
    loop = wrappers[0]._linking_libraries[0]   # the first gufunc wrapper's dependency: the loop itself
    assert loop is loops[0]
    names = [fn.name for fn in loop.get_defined_functions()]
    assert "parfor_gufunc" in names[0]
    assert not any(name.startswith(("_ZN7cpython", "cfunc.")) for name in names)   # no entry points
    parallel_wrapper = wrappers[-1]
    assembly = parallel_wrapper.get_asm_str()
    assert materialized == [parallel_wrapper] and not parallel_wrapper._fastnet_pending
    assert "ret" in assembly
    entry = next(fn.name for fn in parallel_wrapper.get_defined_functions() if fn.linkage == Linkage.external)
    assert parallel_wrapper.get_pointer_to_function(entry) != 0


def test_loop_is_optimized_once_and_compiles_when_its_code_is_asked_for(monkeypatch, materialized, made):
    """A loop's O3 passes ran before the kernel linked it (the kernel links optimized code); its
    machine code, put off, is made without running them again."""
    _run(_fastnet_kernel(monkeypatch), np.float32)
    loop = next(library for library in made if library._fastnet_link_only == "optimized")
    optimized = []
    monkeypatch.setattr(loop, "_optimize_final_module", lambda: optimized.append(loop))
    assembly = loop.get_asm_str()
    assert materialized == [loop] and optimized == [] and not loop._fastnet_pending
    assert "ret" in assembly


def test_other_numba_code_is_compiled_as_numba_does(materialized):
    before, loops_before = _link_only.LINK_ONLY_BUILT, _link_only.LOOPS_DEFERRED

    @njit(parallel=True)
    def doubled(x):
        out = np.empty_like(x)
        for i in prange(x.shape[0]):
            out[i] = 2.0 * x[i]
        return out

    @guvectorize(["void(float64[:], float64[:])"], "(n)->()", target="parallel")
    def row_max(row, out):
        out[0] = row.max()

    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(doubled(x[0]), 2.0 * x[0])
    np.testing.assert_array_equal(row_max(x), x.max(axis=1))
    assert (_link_only.LINK_ONLY_BUILT, _link_only.LOOPS_DEFERRED) == (before, loops_before) and materialized == []

"""Shorter compiles of parallel kernels: Numba's wrappers around each prange loop are linked, not compiled.

Numba compiles each ``prange`` loop of a kernel into a function of its own (the "gufunc") and
wraps it twice: a gufunc wrapper (the loop over its outer dimension) and a parallel wrapper (which
hands the iterations to the thread pool). Each of the three is a code library, and Numba finalizes a
library when the next one links it: it runs LLVM's O3 passes over it, with everything linked into
it, and generates its machine code. The kernel links all of them and optimizes and compiles the
whole once more. The two wrappers' own machine code is never run (the kernel calls its own copy of
the code), yet every loop body went through LLVM's optimizer and code generator four times.

:func:`install` makes the two wrapper libraries that Numba builds for a parfor
(``numba.parfors.parfor_lowering.call_parallel_gufunc``) while a fastnet kernel compiles
(:mod:`fastnet.kernels._cache` counts those compiles) *link-only*: their ``finalize()`` links the
libraries they depend on and marks them finalized, and their optimization and code generation are
put off until something asks for their machine code (a function pointer, the assembly, the object
code), which nothing does on this path. The kernel's own ``finalize()`` is unchanged: it links the
same code and optimizes and compiles it once. Numba code that is not a fastnet kernel (a user's
``@njit(parallel=True)`` or ``@guvectorize``) is compiled as before.

The README's main job (LeNet-5 on the digits, one process, Zen 4, float32) compiled its kernels in
36.5-37.1 s without this and 29.4-29.9 s with it (2026-12-07); the kernels' speed is unchanged
(the loop bodies still get O3 twice: in their own library and in the kernel's).

It works on Numba's internal code-library classes (checked on 0.60-0.68): where those lack a
method or attribute it uses, :func:`install` leaves Numba as it is and kernels compile as before.
"""

from numba.core import codegen as _codegen
from numba.parfors import parfor_lowering as _parfor_lowering

from . import _cache

_WRAPPING = 0          # > 0 while Numba builds a fastnet kernel's parfor wrappers (compiler lock held)
LINK_ONLY_BUILT = 0    # wrapper libraries made link-only so far in this process (tests, diagnostics)
ENABLED = True         # False: every library is finalized as Numba does it (tests compare both)

_NEEDED = {
    _codegen.CPUCodeLibrary: ("finalize", "_optimize_final_module", "_finalize_final_module",
                              "_get_module_for_linking", "get_asm_str", "serialize_using_object_code"),
    _codegen.JITCodeLibrary: ("get_pointer_to_function",),
    _codegen.JITCPUCodegen: ("create_library",),
}
_INSTANCE_ATTRIBUTES = ("_linking_libraries", "_reload_init", "_final_module", "_finalized")


def _supported():
    """Whether Numba's classes have every method this module wraps, and the function to wrap."""
    return (all(hasattr(cls, name) for cls, names in _NEEDED.items() for name in names)
            and callable(getattr(_parfor_lowering, "call_parallel_gufunc", None)))


def _link_only_finalize(library):
    """``finalize()`` of a link-only library: link what it depends on, as Numba's does, and stop
    before the optimization and the machine code (:func:`_materialize` does those when asked)."""
    _codegen.require_global_compiler_lock()
    library._raise_if_finalized()
    seen = set()
    for dependency in library._linking_libraries:
        if dependency not in seen:
            library._reload_init.update(dependency._reload_init)
            seen.add(dependency)
            library._final_module.link_in(dependency._get_module_for_linking(), preserve=True)
    library._final_module.verify()
    library._finalized = True
    library._fastnet_pending = True


def _materialize(library):
    """Finish a link-only library as Numba's ``finalize()`` would have: O3 and machine code."""
    if getattr(library, "_fastnet_pending", False):
        library._fastnet_pending = False
        library._optimize_final_module()
        library._final_module.verify()
        library._finalize_final_module()


def _wrap_needing_code(cls, name):
    """Make ``cls.name`` finish a link-only library before it runs."""
    original = getattr(cls, name)

    def method(self, *args, **kwargs):
        _materialize(self)
        return original(self, *args, **kwargs)

    method.__doc__ = original.__doc__
    method.__name__ = original.__name__
    setattr(cls, name, method)


def install():
    """Wrap Numba's code libraries as the module docstring says. Returns whether it did (False:
    an unexpected Numba, left as it is). Called once, at import (:mod:`fastnet.kernels._config`)."""
    if not _supported() or getattr(_parfor_lowering.call_parallel_gufunc, "_fastnet_link_only", False):
        return False

    call_parallel_gufunc = _parfor_lowering.call_parallel_gufunc

    def wrapped_call_parallel_gufunc(*args, **kwargs):
        global _WRAPPING
        fastnet_kernel = ENABLED and _cache.STATE.depth > 0
        _WRAPPING += fastnet_kernel
        try:
            return call_parallel_gufunc(*args, **kwargs)
        finally:
            _WRAPPING -= fastnet_kernel

    wrapped_call_parallel_gufunc._fastnet_link_only = True
    _parfor_lowering.call_parallel_gufunc = wrapped_call_parallel_gufunc

    create_library = _codegen.JITCPUCodegen.create_library

    def wrapped_create_library(self, name, **kwargs):
        global LINK_ONLY_BUILT
        library = create_library(self, name, **kwargs)
        # only the two wrappers are created inside call_parallel_gufunc
        if _WRAPPING > 0 and all(hasattr(library, name) for name in _INSTANCE_ATTRIBUTES):
            library._fastnet_link_only = True
            LINK_ONLY_BUILT += 1
        return library

    _codegen.JITCPUCodegen.create_library = wrapped_create_library

    finalize = _codegen.CPUCodeLibrary.finalize

    def wrapped_finalize(self):
        if getattr(self, "_fastnet_link_only", False):
            _link_only_finalize(self)
        else:
            finalize(self)

    wrapped_finalize.__doc__ = finalize.__doc__
    _codegen.CPUCodeLibrary.finalize = wrapped_finalize
    for cls, names in ((_codegen.JITCodeLibrary, ("get_pointer_to_function",)),
                       (_codegen.CPUCodeLibrary, ("get_asm_str", "serialize_using_object_code",
                                                  "get_function_cfg"))):
        for name in names:
            _wrap_needing_code(cls, name)
    return True

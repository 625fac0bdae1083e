"""Shorter compiles of parallel kernels: the wrappers around each prange loop are linked, not compiled.

Numba compiles each ``prange`` loop of a kernel into a function of its own (the "gufunc") and
wraps it twice: a gufunc wrapper (the loop over its outer dimension) and a parallel wrapper (which
hands the iterations to the thread pool). Each of the three is a code library, and Numba finalizes
a library when the next one links it: LLVM's O3 passes over it, with everything linked into it,
then its machine code. The kernel links all of them and optimizes and compiles the whole once
more. Only the kernel's machine code is run (it calls its own copy of the loop and the wrappers),
yet every loop body went through LLVM's optimizer and code generator four times. The loop was
also given a Python entry point and a C one, which nothing calls.

:func:`install` changes this for fastnet kernels only (while :mod:`fastnet.kernels._cache` counts
a kernel compile):

* the two wrapper libraries are *link-only*: their ``finalize()`` links the libraries they depend
  on and marks them finalized, and their O3 passes and machine code are put off until something
  asks for their code (a function pointer, the assembly, the object code), which nothing does on
  this path;
* the loop is compiled without the two entry points (Numba's ``no_compile``,
  ``no_cpython_wrapper`` and ``no_cfunc_wrapper`` flags); its library gets LLVM's O3 passes as
  before, which the kernel links, and only its machine code is put off, as the wrappers' is.

So the loop reaches the kernel through LLVM's O3 passes in its own library, then is linked,
optimized and compiled with the kernel. Before 2026-12-08 its machine code was made too, and as
LLVM's code generation rewrites a module in place (CodeGenPrepare and the like), the kernel linked
that rewritten IR; it now links the O3 output, so its code differs a little, at the same speed
(below). (Putting off the loop's O3 as well saved another 1-2 s on the main job below, but then the
kernel's O3 started from unoptimized loops: LeNet C1's forward came out 5% slower, the small 2x2
max pooling 4%.) Numba code that is not a fastnet kernel (a user's ``@njit(parallel=True)`` or
``@guvectorize``) is compiled as Numba does it.

The README's main job (LeNet-5 on the digits, one process, no compile helper, Zen 4, float32)
compiled its kernels in 38.0-38.5 s without this and 29-30 s with it, the loops' machine code
still made (2026-12-07); with that put off too, 28.1 -> 26.7-27.1 s (2026-12-08, two runs each,
alternating). The kernels run as fast (``python bench/link_only_ab.py --loops``).

It reaches into Numba's internal code-library classes and parfor lowering (written against Numba
0.68; 0.60 has the same structure): where a method, function or flag it uses is missing,
:func:`install` leaves Numba as it is and kernels compile as before.
"""

from numba.core import codegen as _codegen
from numba.core import compiler as _compiler
from numba.parfors import parfor_lowering as _parfor_lowering

from . import _cache

_WRAPPING = 0          # > 0 while Numba builds a fastnet kernel's parfor wrappers (compiler lock held)
LINK_ONLY_BUILT = 0    # libraries made link-only so far in this process: 2 per prange loop (tests)
LOOPS_DEFERRED = 0     # loop libraries whose machine code was put off so far: 1 per prange loop (tests)
DEFER_LOOP_CODE = True   # False: a loop's machine code is made as before (bench/link_only_ab.py --loops)
ENABLED = True         # False: every library is finalized as Numba does it (tests compare both)

_NEEDED = {
    _codegen.CPUCodeLibrary: ("finalize", "_optimize_final_module", "_finalize_final_module",
                              "_get_module_for_linking", "get_asm_str", "serialize_using_object_code",
                              "get_function_cfg"),
    _codegen.JITCodeLibrary: ("get_pointer_to_function",),
    _codegen.JITCPUCodegen: ("create_library",),
}
_INSTANCE_ATTRIBUTES = ("_final_module", "_finalized")
_LOOP_FLAGS = ("no_compile", "no_cpython_wrapper", "no_cfunc_wrapper")   # what a loop is compiled without
_LOOP_PIPELINE = "ParforGufuncCompiler"   # the pipeline class Numba compiles a prange loop with


def _supported():
    """Whether Numba has every method, function and flag this module uses."""
    return (all(hasattr(cls, name) for cls, names in _NEEDED.items() for name in names)
            and callable(getattr(_parfor_lowering, "call_parallel_gufunc", None))
            and callable(getattr(_compiler, "compile_ir", None))
            and all(hasattr(_compiler.Flags, name) for name in _LOOP_FLAGS))


def _fastnet_kernel_compiling():
    return ENABLED and _cache.STATE.depth > 0


def _make_link_only(library, optimized=False):
    """Mark a library not finalized yet as link-only (a wrapper), or (``optimized``: a loop) as
    one whose O3 passes run at finalize() and whose machine code is put off."""
    global LINK_ONLY_BUILT, LOOPS_DEFERRED
    if not library._finalized and all(hasattr(library, name) for name in _INSTANCE_ATTRIBUTES):
        library._fastnet_link_only = "optimized" if optimized else "linked"
        if optimized:
            LOOPS_DEFERRED += 1
        else:
            LINK_ONLY_BUILT += 1


def _link_only_finalize(library, finalize):
    """``finalize()`` of a link-only library: Numba's own (``finalize``: checks, linking what the
    library depends on), with its last two steps, the O3 passes (unless the library is marked
    "optimized") and the machine code, put off until :func:`_materialize`."""
    optimized = library._fastnet_link_only == "optimized"

    def pending():
        library._finalized = True
        library._fastnet_pending = "code" if optimized else "all"

    if not optimized:
        library._optimize_final_module = lambda: None   # instance attributes shadow the methods ...
    library._finalize_final_module = pending
    try:
        finalize(library)
    finally:
        vars(library).pop("_optimize_final_module", None)   # ... until here
        del library._finalize_final_module


def _materialize(library):
    """Finish a link-only library as Numba's ``finalize()`` would have: O3 (where it was put off)
    and machine code."""
    pending = getattr(library, "_fastnet_pending", False)
    if pending:
        library._fastnet_pending = False
        if pending == "all":
            library._optimize_final_module()
            library._final_module.verify()
        library._finalize_final_module()   # machine code; sets _finalized again


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
    """Wrap Numba's functions as the module docstring says. Returns whether it did (False: an
    unexpected Numba, left as it is). Called once, at import (:mod:`fastnet.kernels._config`)."""
    if not _supported() or getattr(_parfor_lowering.call_parallel_gufunc, "_fastnet_link_only", False):
        return False

    compile_ir = _compiler.compile_ir

    def wrapped_compile_ir(typingctx, targetctx, func_ir, args, return_type, flags, locals, *rest, **kwargs):
        pipeline = kwargs.get("pipeline_class")
        loop = getattr(pipeline, "__name__", None) == _LOOP_PIPELINE and _fastnet_kernel_compiling()
        if loop:
            flags = flags.copy()
            for name in _LOOP_FLAGS:
                setattr(flags, name, True)
        result = compile_ir(typingctx, targetctx, func_ir, args, return_type, flags, locals, *rest, **kwargs)
        if loop and DEFER_LOOP_CODE and getattr(result, "library", None) is not None:
            _make_link_only(result.library, optimized=True)   # not finalized: no_compile
        return result

    wrapped_compile_ir.__doc__ = compile_ir.__doc__
    _compiler.compile_ir = wrapped_compile_ir

    call_parallel_gufunc = _parfor_lowering.call_parallel_gufunc

    def wrapped_call_parallel_gufunc(*args, **kwargs):
        global _WRAPPING
        fastnet_kernel = _fastnet_kernel_compiling()
        _WRAPPING += fastnet_kernel
        try:
            return call_parallel_gufunc(*args, **kwargs)
        finally:
            _WRAPPING -= fastnet_kernel

    wrapped_call_parallel_gufunc._fastnet_link_only = True
    _parfor_lowering.call_parallel_gufunc = wrapped_call_parallel_gufunc

    create_library = _codegen.JITCPUCodegen.create_library

    def wrapped_create_library(self, name, **kwargs):
        library = create_library(self, name, **kwargs)
        if _WRAPPING > 0:   # only the two wrappers are created inside call_parallel_gufunc
            _make_link_only(library)
        return library

    _codegen.JITCPUCodegen.create_library = wrapped_create_library

    finalize = _codegen.CPUCodeLibrary.finalize

    def wrapped_finalize(self):
        if getattr(self, "_fastnet_link_only", False):
            _link_only_finalize(self, finalize)
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

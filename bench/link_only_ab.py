"""Kernel speed with and without ``kernels/_link_only.py``, in one process: for checking it after a Numba upgrade.

``kernels/_link_only.py`` changes how Numba builds the parallel kernels (the wrappers of each
prange loop are linked, not compiled on their own), not what they compute, so the kernels should
run as fast either way. Comparing two processes on a shared machine measures the machine, and
where the code lands in memory moves small kernels by a few percent. This script compiles every
parallel kernel of ``fastnet.kernels`` twice in one process, once as Numba builds it and once
link-only (no disk cache), then times a set of ops with each in turn, ``--rounds`` rounds of
``reps`` calls each, the order of the two alternating, and prints the fastest round and the first
quartile of each, and on / off::

    python bench/link_only_ab.py --rounds 15

Compiling both takes 2-3 minutes on two cores. An on / off ratio within the rounds' spread means
the same speed (2026-12-07, Zen 4, 2 threads, float32: 0.97-1.02).

``--loops`` compares only the loops' own machine code: made, as before 2026-12-08 (off), and put
off (on, the default), the wrappers link-only in both. The kernel then links a loop's O3 output
rather than the IR that code generation for the loop had left behind, so the kernel's code differs
a little (2026-12-08, Zen 4, 2 threads, float32: 0.96-1.05 by the fastest round, 0.91-1.11 by the
first quartile, over two runs).
"""

import argparse
import importlib
import pkgutil
import time

import numpy as np
from numba import njit
from numba.core.registry import CPUDispatcher

import fastnet.kernels as kernels
from fastnet import ops, optim
from fastnet.kernels import _cache, _link_only
from fastnet.parameter import Parameter


def _parallel_kernel_slots():
    """(module, name, {False: dispatcher, True: dispatcher}) for every parallel kernel: two fresh
    copies, compiled on first call, with the disk cache off."""
    _cache.STATE.enabled = False
    slots = []
    for info in pkgutil.iter_modules(kernels.__path__):
        module = importlib.import_module(f"{kernels.__name__}.{info.name}")
        for name, kernel in list(vars(module).items()):
            if (isinstance(kernel, CPUDispatcher) and kernel.py_func.__module__ == module.__name__
                    and kernel.targetoptions.get("parallel")):
                options = {k: v for k, v in kernel.targetoptions.items() if k != "nopython"}
                slots.append((module, name, {on: _cache.attach(njit(**options)(kernel.py_func))
                                             for on in (False, True)}))
    return slots


def _cases():
    """{name: (call, reps)}: the ops timed, float32."""
    rng = np.random.default_rng(0)

    def data(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    cases = {}
    for name, (x_shape, w_shape, pad) in {"LeNet C1 28x28": ((64, 1, 28, 28), (6, 1, 5, 5), 2),
                                          "LeNet C3": ((64, 6, 14, 14), (16, 6, 5, 5), 0),
                                          "VGG 3x3": ((8, 64, 56, 56), (64, 64, 3, 3), 1),
                                          "digits 3x3": ((32, 16, 4, 4), (32, 16, 3, 3), 1)}.items():
        x, w = data(*x_shape), data(*w_shape)
        dy = data(*ops.conv2d(x, w, padding=pad).shape)
        big = name == "VGG 3x3"
        cases[name + " fwd"] = (lambda x=x, w=w, pad=pad: ops.conv2d(x, w, padding=pad), 3 if big else 30)
        cases[name + " bwd"] = (lambda x=x, w=w, dy=dy, pad=pad: ops.conv2d_backward(x, w, dy, padding=pad),
                                2 if big else 20)
    x3, w3 = data(2, 32, 16, 16, 16), data(32, 32, 3, 3, 3)
    dy3 = data(*ops.conv3d(x3, w3, padding=1).shape)
    cases["C3D 3x3x3 fwd"] = (lambda: ops.conv3d(x3, w3, padding=1), 3)
    cases["C3D 3x3x3 bwd"] = (lambda: ops.conv3d_backward(x3, w3, dy3, padding=1), 2)
    xp = data(8, 64, 56, 56)
    dyp = data(*ops.maxpool2d(xp, 3, 2).shape)
    cases["maxpool 3x3/2 fwd"] = (lambda: ops.maxpool2d(xp, 3, 2), 10)
    cases["maxpool 3x3/2 bwd"] = (lambda: ops.maxpool2d_backward(xp, dyp, 3, 2), 5)
    small = data(64, 16, 8, 8)
    cases["maxpool 2x2 (64,16,8,8)"] = (lambda: ops.maxpool2d(small, 2, 2), 100)
    logits, labels = data(256, 1000), rng.integers(0, 1000, 256)
    cases["cross-entropy 256x1000"] = (lambda: ops.cross_entropy(logits, labels), 50)
    xd, wd, dyd = data(256, 784), data(512, 784), data(256, 512)
    cases["dense 256x784->512 fwd"] = (lambda: ops.dense(xd, wd), 10)
    cases["dense 256x784->512 bwd"] = (lambda: ops.dense_backward(xd, wd, dyd), 5)
    xr = data(64, 64, 56, 56)
    cases["relu (64,64,56,56)"] = (lambda: ops.relu(xr), 5)
    parameters = [Parameter(data(256, 784)), Parameter(data(512))]
    for parameter in parameters:
        parameter.grad[...] = data(*parameter.value.shape)
    adam = optim.Adam(parameters, lr=1e-3)
    cases["Adam step (784x256 + 512)"] = (adam.step, 20)
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timing rounds per op and form (default 15)")
    parser.add_argument("--loops", action="store_true",
                        help="compare the loops' machine code made (off) and put off (on), the wrappers "
                             "link-only in both")
    args = parser.parse_args()
    slots = _parallel_kernel_slots()

    def use(on):
        if args.loops:
            _link_only.DEFER_LOOP_CODE = on
        else:
            _link_only.ENABLED = on
        for module, name, forms in slots:
            setattr(module, name, forms[on])

    cases = _cases()
    start = time.perf_counter()
    for on in (False, True):   # compile each form with its setting
        use(on)
        for call, _ in cases.values():
            call()
    print(f"both forms of {len(slots)} parallel kernels compiled as needed in {time.perf_counter() - start:.0f} s")
    times = {(name, on): [] for name in cases for on in (False, True)}
    for round_ in range(args.rounds):
        for name, (call, reps) in cases.items():
            for on in ((False, True) if round_ % 2 == 0 else (True, False)):
                use(on)
                begin = time.perf_counter()
                for _ in range(reps):
                    call()
                times[(name, on)].append((time.perf_counter() - begin) / reps * 1e6)
    off_name, on_name = ("loops' code made", "loops' code put off") if args.loops else ("as Numba builds it", "link-only")
    print(f"| op | {off_name}, us (q25) | {on_name}, us (q25) | on / off (q25) |\n|---|---:|---:|---:|")
    for name in cases:
        off, on = sorted(times[(name, False)]), sorted(times[(name, True)])
        q = len(off) // 4
        print(f"| {name} | {off[0]:.1f} ({off[q]:.1f}) | {on[0]:.1f} ({on[q]:.1f}) | "
              f"{on[0] / off[0]:.3f} ({on[q] / off[q]:.3f}) |")


if __name__ == "__main__":
    main()

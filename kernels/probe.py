"""A probe of the machine, not of any op: how fast threads run the micro-kernel side by side.

On a shared VM the cores a process gets are not always whole: for seconds at a time, two vCPUs
may share one physical core's FMA units (SMT siblings) or a neighbour's work. Then every thread
runs slower while the others run, and a parallel kernel scales poorly, however it splits its work.
Measured on the 2-core Zen 4 dev VM, 2026-12-05, in 50 processes a few seconds apart: in 9 of
them a fork-join took 2.5-3.0 us (1.4-1.5 in the others), in 8 of those two threads each ran the
micro-kernel at 0.72-0.74 of one thread's speed alone (0.88-1.03 in the others), and in exactly
those 9 the LeNet-5 training step took 3.45-3.84 ms (2.21-2.71; one thread 3.6) and the 256 -> 256
5x5 forward scaled 1.6-1.8x on two threads (1.9-2.0x otherwise). The benchmark runner
(:mod:`fastnet.bench_runner`) measures both before and after each implementation of a case, so that
a report says which figures were taken in such a spell.
"""

import numpy as np
from numba import prange

from ._config import probe_kernel
from .microkernel import tile_cols, tile_fma, tile_rows

STEPS = 64   # reduction steps per tile_fma call: operands of a few KB, in L1


@probe_kernel
def fma_units(a, b, c, units, reps):
    """Run ``units`` independent units of work in parallel (one per thread when units equals the
    thread count); each unit is ``reps`` calls of :func:`~fastnet.kernels.microkernel.tile_fma`
    on L1-resident operands: MR x NR results reduced over STEPS steps, MR * NV vector FMAs a step,
    the loop of every convolution. a : (MR * STEPS,), b : (STEPS * NR,) and c : (units, MR * NR),
    one float dtype; c[u] receives unit u's tile, ``reps`` times the product a (MR, STEPS) @ b (STEPS,
    NR) (the first call sets it, the others add to it: work that is not optimised away)."""
    mr = tile_rows(a)
    nr = tile_cols(a)
    for unit in prange(units):
        abase = np.arange(mr) * STEPS
        aroff = np.zeros(1, dtype=np.int64)
        tile = c[unit]
        for r in range(reps):
            tile_fma(a, abase, aroff, 1, b, 0, nr, 1, STEPS, tile, nr, r > 0)


@probe_kernel
def touch(a):
    """a[i] += 1 for every i, in parallel: one parallel region that does next to nothing, so that
    its time is the fork and join of the threads (1.4-1.5 us on the dev VM's two whole cores,
    2.5-3.0 us in the spells described above)."""
    for i in prange(a.size):
        a[i] += 1

"""glibc's malloc thresholds, set at import so that per-call buffers are reused, not faulted in anew.

Every op call allocates buffers of megabytes: the padded channels-last copies and packed weights
of a convolution, Winograd's transformed tiles, the outputs. glibc serves a request of at least
its mmap threshold with fresh pages (each first touch a page fault, the kernel zeroing the page),
and gives free memory at the top of its heap back to the OS beyond its trim threshold. Both
thresholds start low (128 KB) and rise as the process frees large blocks, so whether a layer pays
the faults depends on what else the process allocated before: ResNet's stride-2 layer (64 -> 128
channels, 56 x 56, batch 8) took 2,420 page faults (10 MB of fresh pages, 10 ms of kernel time)
per backward-weight call in a process that had run only fastnet, none once a PyTorch convolution
had run in it (one of the measurements that differed between processes). Measured on the 2-core
Zen 4 dev VM, 2 threads, float32, 2026-12-05, two sessions of runs: forward + backward 22-25 ms
with glibc's defaults, 17.4-18.0 and 15.7-16.8 ms with these settings; 64 -> 64 3x3 at 28x28,
batch 32, 21-33 / 18.4-19.2 ms.

So fastnet sets the two thresholds where glibc's own rule stops raising them on 64-bit Linux
(``DEFAULT_MMAP_THRESHOLD_MAX``, 32 MB, and twice that for trimming): buffers under 32 MB come from
the heap and are reused call after call; up to 64 MB of freed heap stays mapped. Larger buffers
are mapped and unmapped as before. It is a setting of the whole process (so NumPy and PyTorch in
it get it too), made once at ``import fastnet``: only with glibc, only where the user has not set
either threshold (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``), and
not at all with ``FASTNET_MALLOC_TUNING=0``. ``fastnet.info()`` reports the outcome.
"""

import ctypes
import os

M_TRIM_THRESHOLD = -1   # mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")

state = "not set"   # what tune() did, for fastnet.info()


def tune():
    """Set glibc's mmap and trim thresholds as the module docstring says; return (and keep in
    :data:`state`) a line saying what was done."""
    global state
    if os.environ.get("FASTNET_MALLOC_TUNING", "1") == "0":
        state = "glibc defaults (FASTNET_MALLOC_TUNING=0)"
    elif any(name in os.environ for name in _USER_SETTINGS):
        state = "the user's settings (%s)" % ", ".join(n for n in _USER_SETTINGS if n in os.environ)
    else:
        try:
            libc = os.confstr("CS_GNU_LIBC_VERSION")   # "glibc 2.36"; absent or None elsewhere
        except (ValueError, OSError):
            libc = None
        if not libc or not libc.startswith("glibc"):
            state = "not glibc: the C library's defaults"
        else:
            mallopt = ctypes.CDLL(None).mallopt
            mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
            if (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                    and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1):
                state = "%s, mmap threshold %d MB, trim threshold %d MB" % (
                    libc, MMAP_THRESHOLD >> 20, TRIM_THRESHOLD >> 20)
            else:
                state = "%s refused the thresholds: its defaults" % libc
    return state

"""fastnet/_malloc.py: glibc's thresholds set at import, so per-call buffers are reused.

Each check runs in a fresh interpreter (the setting is per process and made once, at import), with
a timeout and one thread.
"""

import os
import subprocess
import sys

import pytest

glibc = (os.confstr("CS_GNU_LIBC_VERSION") or "") if hasattr(os, "confstr") else ""
needs_glibc = pytest.mark.skipif(not glibc.startswith("glibc"), reason="the setting is glibc's")
try:   # with transparent huge pages always on, fresh memory may take one fault per 2 MB
    with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
        huge_pages_always = "[always]" in f.read()
except OSError:
    huge_pages_always = False

# what a convolution's pass does per call: a few buffers of megabytes (padded copies, packed
# weights, partial sums), written, then freed. With glibc's defaults the thresholds settle at
# 3.9 MB / 7.8 MB after the first step, and the heap's free top (15.6 MB) is trimmed after every
# step: fresh pages each time. Under 4 MB each, so NumPy asks for no transparent huge pages
# (which would take one fault per 2 MB).
SCRIPT = """
import resource, sys
import numpy as np
import fastnet
def step():
    buffers = [np.empty(n // 4, dtype=np.float32) for n in (3_900_000,) * 4]
    for b in buffers:
        b[:] = 1.0
    return sum(float(b[-1]) for b in buffers)
step(); step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
print(fastnet.info(as_dict=True)["malloc"])
"""


def _faults_per_step(**env):
    run_env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", **env)
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"):
        if name not in env:
            run_env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=run_env, capture_output=True, text=True,
                          timeout=120, check=True)
    faults, state = done.stdout.strip().splitlines()
    return float(faults), state


@needs_glibc
def test_buffers_of_each_call_are_reused_not_faulted_in_again():
    faults, state = _faults_per_step()
    assert state.startswith("glibc") and "mmap threshold 32 MB, trim threshold 64 MB" in state
    assert faults < 100   # 15.6 MB of fresh pages would be 3,800 faults
    # the same steps with glibc's defaults: every step faults its pages in again
    faults, state = _faults_per_step(FASTNET_MALLOC_TUNING="0")
    assert state == "glibc defaults (FASTNET_MALLOC_TUNING=0)"
    if not huge_pages_always:
        assert faults > 1000


@needs_glibc
def test_the_users_own_malloc_settings_are_left_alone():
    faults, state = _faults_per_step(MALLOC_TRIM_THRESHOLD_="1000000")
    assert state == "the user's settings (MALLOC_TRIM_THRESHOLD_)"
    if not huge_pages_always:
        assert faults > 1000   # a 1 MB trim threshold: the pages go back every step

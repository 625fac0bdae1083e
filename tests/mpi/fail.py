"""Run under mpiexec: rank 1 raises while the others wait in a barrier; the job must abort, not hang."""

import time

from fastnet import distributed as dist

dist.init()
if dist.rank() == 1:
    time.sleep(0.5)
    raise RuntimeError("rank 1 fails on purpose")
dist.barrier()
print("not reached: the barrier returned", flush=True)

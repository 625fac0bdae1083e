"""Run under mpiexec: checks fastnet.distributed's collectives; each rank writes OUT_DIR/rank<r>.json."""

import collections
import json
import os
import sys

import numpy as np

from fastnet import distributed as dist
from fastnet.optim import Adam
from fastnet.parameter import Parameter


class CountingComm:
    """Forwards to the real communicator and counts the calls of each method."""

    def __init__(self, comm):
        self.comm, self.calls = comm, collections.Counter()

    def __getattr__(self, name):
        self.calls[name] += 1
        return getattr(self.comm, name)


def main(out_dir):
    size = dist.init()
    rank = dist.rank()
    counting = dist._comm = CountingComm(dist._comm)
    result = {"rank": rank, "size": size, "is_root": dist.is_root(), "launched_size": dist.launched_size(),
              "launched_rank": dist.launched_rank()}

    # broadcast: rank-dependent values, mixed dtypes, one Bcast per dtype
    rng = np.random.default_rng(100 + rank)
    shapes = [((3, 4), np.float64), ((4,), np.float32), ((2, 2, 3), np.float64), ((5,), np.float32)]
    params = [Parameter(rng.standard_normal(s).astype(d)) for s, d in shapes]
    root_rng = np.random.default_rng(100)
    expected = [root_rng.standard_normal(s).astype(d) for s, d in shapes]
    counting.calls.clear()
    dist.broadcast_parameters(params)
    result["broadcast_equal"] = all(np.array_equal(p.value, e) for p, e in zip(params, expected))
    result["broadcast_calls"] = counting.calls["Bcast"]

    # weighted gradient allreduce; rank 1 has no samples and NaN garbage in its grads
    counts = [3 + 2 * r for r in range(size)]
    counts[1] = 0
    def grads_of(r):
        g_rng = np.random.default_rng(200 + r)
        return [g_rng.standard_normal(s).astype(d) for s, d in shapes]
    for p, g in zip(params, grads_of(rank)):
        p.grad[...] = np.nan if counts[rank] == 0 else g
    counting.calls.clear()
    total = dist.allreduce_gradients(params, counts[rank])
    result["allreduce_calls"] = counting.calls["Allreduce"]
    result["total"] = total
    want = [sum(counts[r] * grads_of(r)[i].astype(np.float64) for r in range(size)) / sum(counts)
            for i in range(len(shapes))]
    result["mean_error"] = max(float(np.max(np.abs(p.grad - w))) for p, w in zip(params, want))
    result["grad_dtypes_kept"] = all(p.grad.dtype == np.dtype(d) for p, (s, d) in zip(params, shapes))
    result["grad_bytes"] = b"".join(p.grad.tobytes() for p in params).hex()

    for p, g in zip(params, grads_of(rank)):
        p.grad[...] = g
    dist.allreduce_gradients(params, 1, reduction="sum", total=size)
    want = [sum(grads_of(r)[i].astype(np.float64) for r in range(size)) for i in range(len(shapes))]
    result["sum_error"] = max(float(np.max(np.abs(p.grad - w))) for p, w in zip(params, want))

    # optimizer state: rank 0's moments and step count everywhere
    opt = Adam(params, lr=0.01 * (rank + 1))
    for _ in range(rank + 1):
        for p, g in zip(params, grads_of(rank)):
            p.grad[...] = g
        opt.step()
    dist.broadcast_optimizer_state(opt)
    dist.broadcast_parameters(params)
    result["opt_state"] = {"step_count": opt.step_count, "lr": opt.lr,
                           "steps": [s["step"] for s in opt.state],
                           "exp_avg": b"".join(s["exp_avg"].tobytes() for s in opt.state).hex()}

    # metrics as (sum, count); allreduce_sum; shard
    metrics = dist.reduce_metrics({"loss": (2.0 * rank, rank + 1), "accuracy": (rank, 2)})
    result["metrics"] = metrics
    result["allreduce_sum"] = dist.allreduce_sum(np.arange(3) + rank).tolist()
    result["shard"] = [[dist.shard(n).start, dist.shard(n).stop] for n in (0, 1, 7, 10)]
    # broadcast_object; run_on_root: rank 0 alone runs, a failure there raises on every rank
    result["object"] = dist.broadcast_object({"rank": rank})
    ran = []
    result["run_on_root"] = dist.run_on_root(lambda: ran.append(rank) or "done")
    result["ran"] = ran

    def fail():
        raise OSError("disk full")
    try:
        dist.run_on_root(fail)
        result["failure"] = None
    except (OSError, RuntimeError) as exc:
        result["failure"] = f"{type(exc).__name__}: {exc}"
    dist.barrier()
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1])

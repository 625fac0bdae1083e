"""Data-parallel throughput on one machine: samples/s for 1, 2, 4 MPI ranks x threads per rank.

A script, run by hand (it launches mpiexec and takes minutes; pytest collects this file, which
defines no tests)::

    python bench/bench_distributed.py                       # LeNet job and a wider CNN, 1/2/4 ranks
    python bench/bench_distributed.py --ranks 1 2 --threads 1 2 --steps 50 --models lenet

For every (model, ranks, threads per rank) it runs ``mpiexec -n RANKS python THIS --worker ...``,
which trains ``--steps`` steps (after ``--warmup`` steps that compile the kernels) of the loop that
``Sequential.fit(distributed=True)`` runs (this rank's share of a global batch of ``batch * ranks``
samples, forward, backward, fused gradient allreduce, optimizer step) and reports, from rank 0:
global samples/s, the step time, and the allreduce time per step with its share of the step.
The allreduce time includes waiting for the slowest rank (load imbalance shows up there).
Configurations with ranks x threads above the cores are marked oversubscribed.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time

MODELS = {
    # name: (description, input shape of one sample); build() makes the model
    "lenet": ("LeNet-5 of `fastnet train` (channels 16, 32) on 1x8x8 digits", (1, 8, 8)),
    "wide_cnn": ("wide CNN: conv5x5 3->64, pool, conv5x5 64->128, pool, dense 8192->256->10 on 3x32x32",
                 (3, 32, 32)),
}


def build(name, seed=0):
    import numpy as np
    import fastnet
    from fastnet import zoo
    from fastnet.layers import Conv2d, Dense, Flatten, MaxPool2d, ReLU
    if name == "lenet":
        from fastnet.jobs.train import CHANNELS
        return zoo.lenet5(dtype=np.float32, seed=seed, channels=CHANNELS)
    return fastnet.Sequential([
        Conv2d(3, 64, 5, padding=2, seed=seed), ReLU(), MaxPool2d(2),
        Conv2d(64, 128, 5, padding=2, seed=seed + 1), ReLU(), MaxPool2d(2),
        Flatten(), Dense(128 * 8 * 8, 256, seed=seed + 2), ReLU(), Dense(256, 10, seed=seed + 3)])


def worker(args):
    """One rank: time ``args.steps`` data-parallel steps; rank 0 prints one JSON line."""
    import numpy as np
    import fastnet
    from fastnet import distributed as dist
    from fastnet import losses, optim
    dist.init()
    fastnet.set_num_threads(args.threads)
    model = build(args.model)
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = losses.CrossEntropy()
    dist.broadcast_parameters(model.parameters())
    global_batch = args.batch * dist.size()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((global_batch,) + MODELS[args.model][1]).astype(np.float32)
    y = rng.integers(0, 10, global_batch)
    part = dist.shard(global_batch)
    xb, yb = x[part], y[part]
    params = optimizer.params
    grad_bytes = sum(p.grad.nbytes for p in params)

    def step():
        optimizer.zero_grad()
        value, dout = loss_fn(model(xb), yb)
        model.backward(dout, input_grad=False)
        t0 = time.perf_counter()
        dist.allreduce_gradients(params, xb.shape[0], total=global_batch)
        t1 = time.perf_counter()
        optimizer.step()
        return t1 - t0

    compile_start = time.perf_counter()
    for _ in range(args.warmup):
        step()
    compile_seconds = time.perf_counter() - compile_start
    dist.barrier()
    start = time.perf_counter()
    allreduce = sum(step() for _ in range(args.steps))
    dist.barrier()
    seconds = time.perf_counter() - start
    allreduce_mean = float(dist.allreduce_sum([allreduce])[0]) / dist.size()  # mean over the ranks
    bare = []  # the allreduce alone, all ranks lined up by a barrier first: communication without waiting
    for _ in range(20):
        dist.barrier()
        t0 = time.perf_counter()
        dist.allreduce_gradients(params, xb.shape[0], total=global_batch)
        bare.append(time.perf_counter() - t0)
    if dist.is_root():
        print(json.dumps({"model": args.model, "ranks": dist.size(), "threads": args.threads, "batch": args.batch,
                          "steps": args.steps, "seconds": seconds,
                          "samples_per_second": global_batch * args.steps / seconds,
                          "step_ms": 1e3 * seconds / args.steps, "allreduce_ms": 1e3 * allreduce_mean / args.steps,
                          "allreduce_share": allreduce_mean / seconds,
                          "bare_allreduce_ms": 1e3 * float(np.median(bare)), "grad_bytes": grad_bytes,
                          "parameters": model.num_parameters(), "warmup_seconds": compile_seconds}), flush=True)


# ----------------------------------------------------------------------------------------------
# the scaling model for many machines (on paper; --scaling-model prints it)

#: name: (parameters, forward multiply-adds per sample, fastnet GFLOP/s assumed for its training step)
#: The rates are fastnet's whole training steps (forward, loss, backward, SGD) measured on the
#: 2-core Zen 4 development machine, 2 threads, float32 (README performance table, 2026-12-07:
#: lenet5_step mnist28_b64 64.85, alexnet_step lectures227_b4 126.67, vgg2stage_step 56x56_b8
#: 270.57 GFLOP/s).
PAPER_MODELS = {
    "LeNet-5 (61.7k params, 32x32)": (61_706, 0.416e6, 64.85),
    "AlexNet as published (62M, 2 towers)": (62.4e6, 0.72e9, 126.67),
    "AlexNet, lectures' unpadded (28.8M)": (28.8e6, 0.61e9, 126.67),
    "VGG-16 (138M)": (138e6, 15.5e9, 270.57),
}
#: name: (bandwidth in bytes/s, per-message latency in s) -- nominal link rates, typical latencies
LINKS = {"1 Gb/s": (0.125e9, 50e-6), "10 Gb/s": (1.25e9, 20e-6), "100 Gb/s": (12.5e9, 2e-6)}
MACHINES = (2, 8, 32, 256)


def ring_allreduce_seconds(nbytes, machines, bandwidth, latency):
    """Ring allreduce: 2(P-1)/P * bytes / bandwidth + 2(P-1) * latency (reduce-scatter + allgather)."""
    p = machines
    return 2 * (p - 1) / p * nbytes / bandwidth + 2 * (p - 1) * latency


def scaling_model(efficiency=0.8):
    """Markdown: per model and link, the allreduce time and the per-rank batch that keeps
    compute / (compute + allreduce) >= ``efficiency`` (no overlap of communication with backward,
    as in fit: the allreduce runs after the whole backward pass)."""
    need = efficiency / (1 - efficiency)  # compute >= need * communication
    lines = [f"| model | link | compute per sample | allreduce per step, P = {' / '.join(map(str, MACHINES))} | "
             f"per-rank batch for >= {efficiency:.0%}, P = {' / '.join(map(str, MACHINES))} |",
             "|---|---|---:|---:|---:|"]
    for name, (params, macs, gflops) in PAPER_MODELS.items():
        per_sample = 3 * 2 * macs / (gflops * 1e9)  # forward + backward-data + backward-weight
        for link, (bandwidth, latency) in LINKS.items():
            comm = [ring_allreduce_seconds(4 * params, p, bandwidth, latency) for p in MACHINES]
            batch = [max(1, math.ceil(need * c / per_sample)) for c in comm]
            lines.append(f"| {name} | {link} | {_seconds(per_sample)} | {' / '.join(_seconds(c) for c in comm)} | "
                         f"{' / '.join(f'{b:,}' for b in batch)} |")
    return "\n".join(lines)


def _seconds(t):
    return f"{t * 1e6:.0f} us" if t < 1e-3 else f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def mpiexec():
    for candidate in (os.path.join(os.path.dirname(sys.executable), "mpiexec"), shutil.which("mpiexec")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit('no mpiexec: pip install "fastnet[mpi]" (mpi4py and mpich)')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["lenet", "wide_cnn"])
    parser.add_argument("--ranks", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--threads", nargs="+", type=int, default=None,
                        help="threads per rank (default: 1 and cores // ranks)")
    parser.add_argument("--batch", type=int, default=32, help="samples per rank and step (default 32)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first: JIT compile (default 3)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per launch (default 1800)")
    parser.add_argument("--scaling-model", action="store_true",
                        help="print the on-paper scaling model for many machines and exit")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="lenet", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scaling_model:
        print(scaling_model())
        return 0
    if args.worker:
        args.threads = args.threads[0] if args.threads else 1
        return worker(args)

    cores = os.cpu_count() or 1
    print(f"# fastnet data-parallel benchmark: {cores} cores, batch {args.batch} per rank, "
          f"{args.steps} timed steps, SGD momentum, float32")
    for name in args.models:
        model = build(name)
        grad_mb = sum(p.value.nbytes for p in model.parameters()) / 1e6
        print(f"# {name}: {MODELS[name][0]}; {model.num_parameters():,} parameters, {grad_mb:.2f} MB of gradients")
    print("| model | ranks | threads/rank | global batch | samples/s | step ms | allreduce ms (with waiting) | "
          "share of step | allreduce alone ms | note |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name in args.models:
        for ranks in args.ranks:
            threads = args.threads or sorted({1, max(1, cores // ranks)})
            for t in threads:
                # OMP_NUM_THREADS=1 under 2 Numba threads ran the LeNet step 4-7x slower here
                env = dict(os.environ, OMP_NUM_THREADS=str(t), NUMBA_NUM_THREADS=str(t))
                command = [mpiexec(), "-n", str(ranks), sys.executable, os.path.abspath(__file__), "--worker",
                           "--model", name, "--threads", str(t), "--batch", str(args.batch),
                           "--steps", str(args.steps), "--warmup", str(args.warmup)]
                result = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, env=env)
                lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
                if result.returncode != 0 or not lines:
                    print(f"| {name} | {ranks} | {t} | - | failed (rc {result.returncode}) | | | | | "
                          f"{result.stderr.strip().splitlines()[-1:] } |")
                    continue
                r = json.loads(lines[-1])
                note = "oversubscribed" if ranks * t > cores else ""
                print(f"| {name} | {ranks} | {t} | {args.batch * ranks} | {r['samples_per_second']:,.0f} | "
                      f"{r['step_ms']:.2f} | {r['allreduce_ms']:.3f} | {100 * r['allreduce_share']:.1f}% | "
                      f"{r['bare_allreduce_ms']:.3f} | {note} |",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The lectures' ImageNet networks, layer by layer: output sizes and parameter counts, then timings.

Prints ``summary()`` of AlexNet (the lectures' unpadded variant: 227 -> 55 -> 27 -> 23 -> 11 -> 9
-> 7 -> 5 -> 2, weights (5x5x96)x256 = 0.6M, (3x3x384)x384 = 1.327M, (2x2x256)x4096 = 4M, ...),
ZFNet (F = 11 -> 7; K = 512, 1024, 512) and VGG-16 (138,357,544 parameters, ~102M of them in
the first FC layer), built without running anything. Then it times one forward and backward pass
of each on a small batch (the first pass compiles the kernels; the second is timed), with a
per-layer table and the profiler's per-op table.

    python examples/alexnet_arithmetic.py [--batch 2] [--quick] [--no-timing]

``--quick``: the tables, and the timing of AlexNet only, batch 1, 10 classes; ``--no-timing``: the
tables only (no kernel runs, so nothing compiles).
VGG-16 needs about 1.1 GB of memory in float32 and several seconds per image on two cores.
"""

import argparse
import sys
import time

import numpy as np

import fastnet
from fastnet import losses, zoo

NETWORKS = {
    "AlexNet (lectures)": (zoo.alexnet, (3, 227, 227)),
    "ZFNet (lectures)": (zoo.zfnet, (3, 227, 227)),
    "VGG-16": (zoo.vgg16, (3, 224, 224)),
}


def layer_times(model, x, y):
    """Seconds of each layer's forward and backward for one step on (x, y)."""
    loss_fn = losses.CrossEntropy()
    forward, backward = [], []
    out = x
    for layer in model.layers:
        start = time.perf_counter()
        out = layer.forward(out)
        forward.append(time.perf_counter() - start)
    _, grad = loss_fn(out, y)
    for i in range(len(model.layers) - 1, -1, -1):
        start = time.perf_counter()
        grad = model.layers[i].backward(grad, input_grad=i > 0)
        backward.append(time.perf_counter() - start)
    return forward, backward[::-1]


def time_network(name, build, shape, batch, num_classes):
    model = build(num_classes=num_classes, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + shape).astype(np.float32)
    y = rng.integers(0, num_classes, batch)
    start = time.perf_counter()
    layer_times(model, x, y)                                  # compiles what this network uses
    first = time.perf_counter() - start
    model.zero_grad()
    with fastnet.profile() as prof:
        forward, backward = layer_times(model, x, y)
    total = sum(forward) + sum(backward)
    print(f"\n{name}: one forward + backward, batch {batch}: {total * 1e3:.1f} ms "
          f"(the first pass, with JIT compilation: {first:.1f} s)")
    print(f"{'layer':<44} {'forward ms':>11} {'backward ms':>12} {'share':>6}")
    for i, (layer, f, b) in enumerate(zip(model.layers, forward, backward)):
        if f + b >= 0.005 * total:
            print(f"{f'{i}: {layer!r}':<44} {f * 1e3:11.2f} {b * 1e3:12.2f} {(f + b) / total:6.1%}")
    print(prof.table())
    return total


def main(argv=None, quick=False):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tables, then AlexNet only at batch 1")
    parser.add_argument("--no-timing", action="store_true", help="the tables only")
    args = parser.parse_args(argv)
    quick = quick or args.quick
    counts = {}
    for name, (build, shape) in NETWORKS.items():
        print(f"\n{name}")
        model = build(seed=0)
        counts[name] = model.summary(shape).total_params
        del model
    timings = {}
    for name, (build, shape) in NETWORKS.items():
        if args.no_timing or (quick and not name.startswith("AlexNet")):
            continue
        timings[name] = time_network(name, build, shape, 1 if quick else args.batch, 10 if quick else 1000)
    return counts, timings


if __name__ == "__main__":
    main()
    sys.exit(0)

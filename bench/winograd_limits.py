"""Direct time / Winograd time per layer, for setting algorithm="auto"'s limits on this CPU.

The limits in ``kernels/conv2d.py`` (``WINOGRAD_*``, ``AVX2_WINOGRAD_*``) and
``kernels/winograd3d*.py`` were measured with this kind of table: for each 3x3 (3x3x3) stride-1
layer with padding 1, the forward, the input gradient and the weight gradient by the direct
kernels and by Winograd, each the best of ``--rounds`` rounds of 5 calls after a warm-up call
(every other round in the reverse order), and what "auto" picks on this CPU now. ``--5x5``: 5x5
layers with padding 2 (``WINOGRAD_5X5_*``). ``--stride2``: 3x3 (with ``--5x5``: 5x5) layers at
stride 2 with padding 1 (2), the forward only (``WINOGRAD_STRIDE2_*``; dx and dw print "-"); with
``--3d``, 3x3x3 layers at stride 2 (``kernels/winograd3d.py``'s ``WINOGRAD_STRIDE2_*``)::

    python bench/winograd_limits.py --threads 2                  # 2-D layers
    python bench/winograd_limits.py --threads 1 --5x5            # 2-D 5x5 layers
    python bench/winograd_limits.py --threads 2 --stride2 [--5x5]  # 2-D stride-2 layers
    python bench/winograd_limits.py --threads 1 --3d       # 3-D layers
    python bench/winograd_limits.py --threads 2 --3d --stride2   # 3-D stride-2 layers

A ratio above 1 means Winograd was faster. Layers: ``--layers "N,C,K,H;..."`` (2-D, square maps)
or ``"N,C,K,D,H;..."`` (3-D, H x H planes), else the built-in lists below.
"""

import argparse

import numba
import numpy as np

from fastnet.bench_runner import time_fn

LAYERS_2D = [(n, c, c, h) for c in (32, 64, 128, 256, 512) for h in (7, 14, 28) for n in (1, 2, 4, 8)]
# the 67 layers behind WINOGRAD_5X5_* (2026-12-07, Zen 3): up to 256 channels, 56x56 maps up to 64
LAYERS_2D_5X5 = [(n, c, c, h) for c in (16, 32, 64, 128, 256) for h in (7, 14, 28, 56) for n in (1, 4, 8, 32)
                 if c * c * h * h * n <= 256 * 256 * 14 * 14 * 16 and (h < 56 or c <= 64)]
# stride 2 (input sizes; the outputs are half as wide): ResNet's downsampling layers (C -> 2C) among them
LAYERS_2D_STRIDE2 = [(n, c, k, h) for c, k in ((16, 16), (32, 32), (32, 64), (64, 64), (64, 128), (128, 128),
                                               (128, 256), (256, 256), (256, 512), (512, 512))
                     for h in (14, 28, 56) for n in (1, 2, 8, 32) if c * k * h * h * n <= 64 * 128 * 56 * 56 * 8]
LAYERS_3D = [(1, c, c, d, h) for c in (8, 16, 32, 64, 128, 256) for d, h in ((4, 8), (8, 8), (8, 16))]
# 3-D stride 2 (input sizes): the bench's volumetric layer (2, 32 -> 64, 16x32x32) and 3-D ResNet-style
# downsampling layers of 8 to 256 channels, 32 to 3,136 output tiles
LAYERS_3D_STRIDE2 = [(2, 32, 64, 16, 32), (1, 32, 64, 16, 32), (2, 16, 32, 16, 32), (4, 16, 32, 16, 56),
                     (2, 8, 16, 16, 32), (2, 32, 32, 8, 56), (2, 64, 128, 8, 28), (8, 64, 128, 8, 28),
                     (2, 64, 128, 16, 56), (2, 128, 256, 8, 14), (4, 128, 128, 8, 28), (1, 64, 64, 8, 16),
                     (2, 256, 256, 4, 14), (1, 128, 128, 16, 28), (2, 32, 64, 16, 16), (2, 64, 64, 5, 15)]


def _best(fn, calls=5):
    """The fastest of ``calls`` timings of ``fn()`` after a warm-up call (seconds)."""
    fn()
    return min(time_fn(fn, calls, budget_s=np.inf)[0])


def _passes(layer, three_d, rng, taps=3, stride=1):
    """{(pass, algorithm): callable} for one layer (2-D: ``taps`` x ``taps`` filters, "same"
    padding; ``stride`` 2: 3x3, the forward only), and the rule's picks as "fwd/dx/dw" letters."""
    from fastnet.kernels import conv2d as k2, conv3d as k3, conv_weight as kw, winograd3d as w3
    from fastnet.kernels import winograd3d_weight as w3w
    n, c, k, *space = layer
    spatial = (space[0], space[1], space[1]) if three_d else (space[0], space[0])
    x = rng.standard_normal((n, c, *spatial)).astype(np.float32)
    w = (rng.standard_normal((k, c) + (taps,) * len(spatial)) * 0.1).astype(np.float32)
    p = taps // 2
    b = np.zeros(k, np.float32)
    if stride == 2 and three_d:
        y = np.empty((n, k) + tuple((s + 1) // 2 for s in spatial), np.float32)
        tiles = w3.tile_count(n, *y.shape[2:])
        fns = {("fwd", "direct"): lambda: k3.conv3d_forward(x, w, b, y, 2, 2, 2, 1, 1, 1),
               ("fwd", "winograd"): lambda: w3.conv3d_forward_winograd(x, w, b, y, 1, 1, 1, stride=2)}
        picked = w3.winograd_stride2_ok(c, k, y[0, 0].size * n, tiles, 3, 3, 3, 2, 2, 2, "auto")
        return fns, tiles, "W" if picked else "D"
    if stride == 2:
        y = np.empty((n, k, (spatial[0] + 1) // 2, (spatial[1] + 1) // 2), np.float32)
        tiles = k2._tiles(n, y.shape[2], y.shape[3])
        fns = {("fwd", alg): lambda alg=alg: k2.conv2d_forward(x, w, b, y, 2, 2, p, p, algorithm=alg)
               for alg in ("direct", "winograd")}
        picked = k2.winograd_stride2_ok(c, k, n * y.shape[2] * y.shape[3], tiles, taps, taps, 2, 2, "auto")
        return fns, tiles, "W" if picked else "D"
    y = np.empty((n, k, *spatial), np.float32)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    if three_d:
        tiles = w3.tile_count(n, *spatial)
        picks = (w3.winograd_ok(c, k, tiles, 3, 3, 3, 1, 1, 1, "auto"), w3.winograd_ok(k, c, tiles, 3, 3, 3, 1, 1, 1, "auto"),
                 w3w.winograd_weight_ok(c, k, tiles, 3, 3, 3, 1, 1, 1, "auto"))
        fns = {("fwd", "direct"): lambda: k3.conv3d_forward(x, w, b, y, 1, 1, 1, 1, 1, 1),
               ("fwd", "winograd"): lambda: w3.conv3d_forward_winograd(x, w, b, y, 1, 1, 1),
               ("dx", "direct"): lambda: k3.conv3d_backward_input(dy, w, dx, 1, 1, 1, 1, 1, 1),
               ("dx", "winograd"): lambda: w3.conv3d_backward_input_winograd(dy, w, dx, 1, 1, 1),
               ("dw", "direct"): lambda: kw.conv3d_backward_weight(x, dy, dw, db, 1, 1, 1, 1, 1, 1),
               ("dw", "winograd"): lambda: w3w.conv3d_backward_weight_winograd(x, dy, dw, db, 1, 1, 1)}
    else:
        tiles = k2._tiles(n, *spatial)
        picks = (k2.winograd_ok(c, k, tiles, taps, taps, 1, 1, "auto"),
                 k2.winograd_ok(k, c, tiles, taps, taps, 1, 1, "auto"),
                 k2.winograd_weight_ok(c, k, n * spatial[0] * spatial[1], tiles, taps, taps, 1, 1, "auto"))
        fns = {}
        for alg in ("direct", "winograd"):
            fns[("fwd", alg)] = lambda alg=alg: k2.conv2d_forward(x, w, b, y, 1, 1, p, p, algorithm=alg)
            fns[("dx", alg)] = lambda alg=alg: k2.conv2d_backward_input(dy, w, dx, 1, 1, p, p, algorithm=alg)
            fns[("dw", alg)] = lambda alg=alg: k2.conv2d_backward_weight(x, dy, dw, db, 1, 1, p, p, algorithm=alg)
    return fns, tiles, "/".join("W" if p else "D" for p in picks)


def measure(layers, three_d=False, rounds=3, calls=5, seed=0, taps=3, stride=1):
    """Yield (layer, tiles, {pass: direct seconds / Winograd seconds}, auto's picks) per layer
    (2-D: ``taps`` 3 or 5, ``stride`` 1 or 2; passes not measured are missing)."""
    rng = np.random.default_rng(seed)
    for layer in layers:
        fns, tiles, picks = _passes(layer, three_d, rng, taps, stride)
        best, order = {}, list(fns.items())
        for r in range(rounds):
            # every other round in reverse: on a shared VM, whatever ran first in a round read slow
            for key, fn in (order if r % 2 == 0 else order[::-1]):
                best[key] = min(best.get(key, np.inf), _best(fn, calls))
        yield layer, tiles, {p: best[(p, "direct")] / best[(p, "winograd")] for p in ("fwd", "dx", "dw")
                             if (p, "direct") in best}, picks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=numba.get_num_threads())
    parser.add_argument("--3d", dest="three_d", action="store_true", help="3x3x3 layers (default: 3x3)")
    parser.add_argument("--5x5", dest="five", action="store_true", help="2-D 5x5 layers (default: 3x3)")
    parser.add_argument("--stride2", action="store_true",
                        help="layers at stride 2 (3x3, 5x5 with --5x5, 3x3x3 with --3d), the forward only")
    parser.add_argument("--layers", help='"N,C,K,H;..." (2-D) or "N,C,K,D,H;..." (3-D)')
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    numba.set_num_threads(args.threads)
    layers = ([tuple(int(v) for v in item.split(",")) for item in args.layers.split(";")] if args.layers
              else (LAYERS_3D_STRIDE2 if args.stride2 else LAYERS_3D) if args.three_d
              else LAYERS_2D_STRIDE2 if args.stride2
              else LAYERS_2D_5X5 if args.five else LAYERS_2D)
    from fastnet.kernels._config import vector_bytes
    print(f"float32, {args.threads} thread(s), {vector_bytes()}-byte vectors; direct time / Winograd time")
    print("| layer (N, C, K, size) | tiles | fwd | dx | dw | auto fwd/dx/dw |")
    print("|---|---:|---:|---:|---:|---|")
    for layer, tiles, ratio, picks in measure(layers, args.three_d, args.rounds, taps=5 if args.five else 3,
                                              stride=2 if args.stride2 else 1):
        cells = " | ".join(f"{ratio[p]:.2f}" if p in ratio else "-" for p in ("fwd", "dx", "dw"))
        print(f"| {layer} | {tiles} | {cells} | {picks} |", flush=True)


if __name__ == "__main__":
    main()

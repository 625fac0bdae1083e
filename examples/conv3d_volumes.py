"""A small 3D CNN (Conv3d + MaxPool3d) that tells along which axis a bar lies in a noisy volume.

Each sample is an 8x8x8 volume of Gaussian noise with one bright bar of random length (6-8 voxels)
at a random place, lying along depth, height or width: the label is that axis (3 classes).

    python examples/conv3d_volumes.py [--epochs 12] [--quick]
"""

import argparse

import numpy as np

from fastnet import losses, optim
from fastnet.layers import Conv3d, Dense, Flatten, MaxPool3d, ReLU
from fastnet.model import Sequential

SIZE = 8


def make_bars(n, seed=0, noise=0.25, dtype=np.float32):
    """Volumes (n, 1, 8, 8, 8) with one bar each, and labels (n,) int64: the bar's axis (0, 1, 2)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, noise, size=(n, 1, SIZE, SIZE, SIZE))
    y = rng.integers(0, 3, size=n)
    for i in range(n):
        length = rng.integers(6, SIZE + 1)
        start = rng.integers(0, SIZE - length + 1)
        a, b = rng.integers(0, SIZE, size=2)
        line = slice(start, start + length)
        if y[i] == 0:
            x[i, 0, line, a, b] += 1.0
        elif y[i] == 1:
            x[i, 0, a, line, b] += 1.0
        else:
            x[i, 0, a, b, line] += 1.0
    return x.astype(dtype), y.astype(np.int64)


def build_model(seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return Sequential([
        Conv3d(1, 8, 3, padding=1, init="he", seed=rng, dtype=dtype), ReLU(),
        MaxPool3d(2),                                                     # 8^3 -> 4^3
        Conv3d(8, 16, 3, padding=1, init="he", seed=rng, dtype=dtype), ReLU(),
        MaxPool3d(2),                                                     # 4^3 -> 2^3
        Flatten(),
        Dense(16 * 2 * 2 * 2, 3, seed=rng, dtype=dtype),
    ])


def main(argv=None, quick=False):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--train", type=int, default=1200, help="training volumes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="1 epoch on 64 volumes (smoke test)")
    args = parser.parse_args(argv)
    quick = quick or args.quick
    epochs, n_train = (1, 64) if quick else (args.epochs, args.train)

    x_train, y_train = make_bars(n_train, seed=args.seed)
    x_test, y_test = make_bars(300, seed=args.seed + 1)
    model = build_model(args.seed)
    model.summary(x_train.shape[1:])
    loss = losses.CrossEntropy()
    model.fit(x_train, y_train, loss, optim.Adam(model.parameters(), lr=args.lr), epochs=epochs, batch_size=32,
              seed=args.seed, progress=not quick)
    metrics = model.evaluate(x_test, y_test, loss)
    print(f"test accuracy: {metrics['accuracy']:.4f} (chance: 0.33)")
    return metrics


if __name__ == "__main__":
    main()

"""One sigmoid neuron fitted to two points by full-batch gradient descent (the lecture's example).

X = [0.5, 2.5], Y = [0.2, 0.9], f(x) = sigmoid(w * x + b), squared error 1/2 * sum (f(x) - y)^2,
w = b = -2, eta = 1.0, 1000 epochs. fastnet's ``Sequential([Dense(1, 1), Sigmoid()])`` with
``losses.SquaredError`` and ``optim.SGD(lr=1.0)`` reproduces the lecture's hand-written loop
(``lecture_gradient_descent`` below, copied from the lecture) to 1e-12 in float64, epoch by epoch.

    python examples/sigmoid_neuron.py [--epochs 1000] [--plot surface.png] [--quick]

With matplotlib installed, ``--plot PATH`` draws the error surface and the descent path.
"""

import argparse
import sys

import numpy as np

from fastnet import datasets, losses, optim
from fastnet.layers import Dense, Sigmoid
from fastnet.model import Callback, Sequential

W0, B0, ETA = -2.0, -2.0, 1.0


# ---- the lecture's code, as written there ---------------------------------------------------
X = [0.5, 2.5]
Y = [0.2, 0.9]


def f(w, b, x):  # sigmoid with parameters w, b
    return 1.0 / (1.0 + np.exp(-(w * x + b)))


def error(w, b):
    err = 0.0
    for x, y in zip(X, Y):
        fx = f(w, b, x)
        err += 0.5 * (fx - y) ** 2
    return err


def grad_b(w, b, x, y):
    fx = f(w, b, x)
    return (fx - y) * fx * (1 - fx)


def grad_w(w, b, x, y):
    fx = f(w, b, x)
    return (fx - y) * fx * (1 - fx) * x


def lecture_gradient_descent(max_epochs=1000, w=W0, b=B0, eta=ETA):
    """The lecture's do_gradient_descent, returning (w, b) after every epoch."""
    path = []
    for i in range(max_epochs):
        dw, db = 0, 0
        for x, y in zip(X, Y):
            dw += grad_w(w, b, x, y)
            db += grad_b(w, b, x, y)
        w = w - eta * dw
        b = b - eta * db
        path.append((w, b))
    return np.array(path)


# ---- the same with fastnet -------------------------------------------------------------------


class RecordWeights(Callback):
    """Record (w, b) after every epoch."""

    def __init__(self):
        self.path = []

    def on_epoch_end(self, model, epoch, logs):
        dense = model.layers[0]
        self.path.append((float(dense.weight.value[0, 0]), float(dense.bias.value[0])))


def build_neuron(w=W0, b=B0, dtype=np.float64):
    model = Sequential([Dense(1, 1, dtype=dtype), Sigmoid()])
    model.layers[0].weight.value[...] = w
    model.layers[0].bias.value[...] = b
    return model


def fastnet_gradient_descent(max_epochs=1000, w=W0, b=B0, eta=ETA, dtype=np.float64):
    """Full-batch gradient descent with fastnet; returns (model, array of (w, b) after every epoch)."""
    x, y = datasets.toy_sigmoid(dtype)
    model = build_neuron(w, b, dtype)
    recorder = RecordWeights()
    model.fit(x, y, losses.SquaredError(), optim.SGD(model.parameters(), lr=eta), epochs=max_epochs,
              batch_size=None, shuffle=False, progress=False, callbacks=[recorder])
    return model, np.array(recorder.path)


def plot(path, filename):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return False
    ws = np.linspace(-6, 6, 121)
    bs = np.linspace(-6, 6, 121)
    ww, bb = np.meshgrid(ws, bs)
    err = np.vectorize(error)(ww, bb)
    fig, ax = plt.subplots(figsize=(6, 5))
    contour = ax.contourf(ww, bb, err, levels=30, cmap="viridis")
    fig.colorbar(contour, ax=ax, label="squared error")
    full = np.vstack([[W0, B0], path])
    ax.plot(full[:, 0], full[:, 1], "r.-", markersize=2, label="gradient descent")
    ax.set_xlabel("w")
    ax.set_ylabel("b")
    ax.legend()
    ax.set_title("one sigmoid neuron: error surface and descent path")
    fig.savefig(filename, dpi=100, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {filename}")
    return True


def main(argv=None, quick=False):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--plot", metavar="PATH", default=None, help="draw the error surface to PATH (PNG)")
    parser.add_argument("--quick", action="store_true", help="20 epochs (smoke test)")
    args = parser.parse_args(argv)
    epochs = 20 if (quick or args.quick) else args.epochs
    model, path = fastnet_gradient_descent(epochs)
    reference = lecture_gradient_descent(epochs)
    w, b = path[-1]
    x, y = datasets.toy_sigmoid()
    fx = model.predict(x)[:, 0]
    print(f"after {epochs} epochs: w = {w:.6f}, b = {b:.6f}, error = {error(w, b):.6f}")
    print(f"f(0.5) = {fx[0]:.4f} (target 0.2), f(2.5) = {fx[1]:.4f} (target 0.9)")
    print(f"largest difference from the lecture's loop over all epochs: {np.max(np.abs(path - reference)):.2e}")
    if args.plot:
        plot(path, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())

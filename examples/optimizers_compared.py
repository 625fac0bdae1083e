"""Every fastnet optimizer on the sigmoid neuron's error surface: loss curves and descent paths.

The same problem as examples/sigmoid_neuron.py (X = [0.5, 2.5], Y = [0.2, 0.9], start at
w = b = -2, squared error), run with each optimizer for the same number of epochs.

    python examples/optimizers_compared.py [PNG_PATH] [--epochs 200] [--quick]

With matplotlib installed, the loss curves and paths are drawn side by side to PNG_PATH
(default optimizers_compared.png); without it, a text summary is printed.
"""

import argparse
import sys

import numpy as np

from fastnet import datasets, losses, optim
from fastnet.layers import Dense, Sigmoid
from fastnet.model import Callback, Sequential

# name -> (optimizer class, keyword arguments); learning rates picked for this problem.
OPTIMIZERS = {
    "SGD (lr=1)": (optim.SGD, dict(lr=1.0)),
    "SGD momentum 0.9": (optim.SGD, dict(lr=1.0, momentum=0.9)),
    "SGD Nesterov 0.9": (optim.SGD, dict(lr=1.0, momentum=0.9, nesterov=True)),
    "Adagrad": (optim.Adagrad, dict(lr=0.5)),
    "RMSprop": (optim.RMSprop, dict(lr=0.05)),
    "Adadelta": (optim.Adadelta, dict(lr=1.0)),
    "Adam": (optim.Adam, dict(lr=0.1)),
}


class Recorder(Callback):
    def __init__(self):
        self.path, self.loss = [], []

    def on_epoch_end(self, model, epoch, logs):
        dense = model.layers[0]
        self.path.append((float(dense.weight.value[0, 0]), float(dense.bias.value[0])))
        self.loss.append(logs["loss"])


def run(optimizer_class, kwargs, epochs, w=-2.0, b=-2.0):
    """Train the neuron from (w, b); returns (path of (w, b) incl. the start, loss per epoch)."""
    x, y = datasets.toy_sigmoid(np.float64)
    model = Sequential([Dense(1, 1, dtype=np.float64), Sigmoid()])
    model.layers[0].weight.value[...] = w
    model.layers[0].bias.value[...] = b
    recorder = Recorder()
    model.fit(x, y, losses.SquaredError(), optimizer_class(model.parameters(), **kwargs), epochs=epochs,
              shuffle=False, progress=False, callbacks=[recorder])
    return np.vstack([[w, b], recorder.path]), np.array(recorder.loss)


def error_surface(ws, bs):
    x = np.array([0.5, 2.5])
    y = np.array([0.2, 0.9])
    ww, bb = np.meshgrid(ws, bs)
    fx = 1.0 / (1.0 + np.exp(-(ww[..., None] * x + bb[..., None])))
    return ww, bb, 0.5 * np.sum((fx - y) ** 2, axis=-1)


def draw(results, filename):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (ax_loss, ax_path) = plt.subplots(1, 2, figsize=(13, 5))
    ww, bb, err = error_surface(np.linspace(-6, 6, 121), np.linspace(-6, 6, 121))
    ax_path.contourf(ww, bb, err, levels=30, cmap="Greys")
    for name, (path, loss) in results.items():
        ax_loss.semilogy(np.arange(1, len(loss) + 1), loss, label=name)
        ax_path.plot(path[:, 0], path[:, 1], ".-", markersize=2, label=name)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("squared error")
    ax_loss.legend()
    ax_path.set_xlabel("w")
    ax_path.set_ylabel("b")
    ax_path.set_xlim(-6, 6)
    ax_path.set_ylim(-6, 6)
    ax_loss.set_title("loss per epoch")
    ax_path.set_title("paths on the error surface")
    fig.savefig(filename, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return True


def main(argv=None, quick=False):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("png", nargs="?", default="optimizers_compared.png", help="where to write the picture")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="10 epochs, no picture (smoke test)")
    args = parser.parse_args(argv)
    quick = quick or args.quick
    epochs = 10 if quick else args.epochs
    results = {name: run(cls, kwargs, epochs) for name, (cls, kwargs) in OPTIMIZERS.items()}
    print(f"{'optimizer':<18} {'final loss':>12} {'w':>9} {'b':>9}   (after {epochs} epochs from w = b = -2)")
    for name, (path, loss) in results.items():
        print(f"{name:<18} {loss[-1]:>12.3e} {path[-1, 0]:>9.4f} {path[-1, 1]:>9.4f}")
    if not quick:
        if draw(results, args.png):
            print(f"wrote {args.png}")
        else:
            print("matplotlib is not installed: text summary only (pip install matplotlib)")
    return results


if __name__ == "__main__":
    main()
    sys.exit(0)

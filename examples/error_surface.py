"""The lectures' sigmoid neuron: "guess work" against gradient descent on its error surface.

Two points, X = [0.5, 2.5], Y = [0.2, 0.9], one neuron f(x) = sigmoid(w x + b) and the squared
error L(w, b) = 1/2 * sum (f(x) - y)^2 (fastnet's ``losses.SquaredError`` on a
``Sequential([Dense(1, 1), Sigmoid()])``). First the lectures' table of hand-picked guesses and
their losses, then two searches from the same start (w = b = -2) with the same budget of loss
evaluations:

* guess work: random search, try a random step and keep it only if the loss goes down;
* gradient descent: the model's own backward pass and ``optim.SGD(lr=1)`` (two evaluations per
  step, forward and backward, counted as two guesses).

    python examples/error_surface.py [--steps 300] [--plot error_surface.png] [--seed 0] [--quick]

With matplotlib installed, ``--plot PATH`` draws both paths on the error surface; without it (or
without ``--plot``) a coarse text map of the surface is printed.
"""

import argparse
import sys

import numpy as np

from fastnet import datasets, losses, optim
from fastnet.layers import Dense, Sigmoid
from fastnet.model import Sequential

W0, B0 = -2.0, -2.0
# the lectures' guesses (w, b) and the losses printed on the slide
LECTURE_GUESSES = [(0.50, 0.00, 0.0730), (-0.10, 0.00, 0.1481), (0.94, -0.94, 0.0214),
                   (1.42, -1.73, 0.0028), (1.65, -2.08, 0.0003), (1.78, -2.27, 0.0000)]


def neuron(w=W0, b=B0):
    model = Sequential([Dense(1, 1, dtype=np.float64), Sigmoid()])
    model.set_weights([np.array([[w]]), np.array([b])])
    return model


def loss(w, b, x=None, y=None):
    if x is None:
        x, y = datasets.toy_sigmoid()
    value, _ = losses.SquaredError()(neuron(w, b)(x), y)
    return float(value)


def guess_work(steps, seed=0, scale=0.5):
    """Random search: steps loss evaluations; keep a random step when it lowers the loss."""
    rng = np.random.default_rng(seed)
    x, y = datasets.toy_sigmoid()
    w, b = W0, B0
    best = loss(w, b, x, y)
    path, curve = [(w, b)], [best]
    for _ in range(steps):
        dw, db = rng.normal(0.0, scale, size=2)
        trial = loss(w + dw, b + db, x, y)
        if trial < best:
            w, b, best = w + dw, b + db, trial
            path.append((w, b))
        curve.append(best)
    return np.array(path), np.array(curve)


def gradient_descent(steps, lr=1.0):
    """steps // 2 full-batch gradient-descent epochs (a forward and a backward each)."""
    x, y = datasets.toy_sigmoid()
    model = neuron()
    opt = optim.SGD(model.parameters(), lr=lr)
    loss_fn = losses.SquaredError()
    path, curve = [(W0, B0)], [loss(W0, B0, x, y)]
    for _ in range(steps // 2):
        opt.zero_grad()
        value, dout = loss_fn(model(x), y)
        model.backward(dout)
        opt.step()
        w, b = float(model.layers[0].weight.value[0, 0]), float(model.layers[0].bias.value[0])
        path.append((w, b))
        curve.append(loss(w, b, x, y))
    return np.array(path), np.array(curve)


def text_map(paths, size=(13, 25), extent=6.0):
    """A coarse map of the error surface ('.' low ... '#' high), with the paths' end points."""
    shades = " .:-=+*%#"
    ws = np.linspace(-extent, extent, size[1])
    bs = np.linspace(extent, -extent, size[0])
    x, y = datasets.toy_sigmoid()
    grid = np.array([[loss(w, b, x, y) for w in ws] for b in bs])
    levels = np.quantile(grid, np.linspace(0, 1, len(shades) + 1)[1:-1])
    rows = [[shades[int(np.searchsorted(levels, v))] for v in row] for row in grid]
    for mark, path in paths.items():
        w, b = path[-1]
        j = int(np.clip(np.round((w + extent) / (2 * extent) * (size[1] - 1)), 0, size[1] - 1))
        i = int(np.clip(np.round((extent - b) / (2 * extent) * (size[0] - 1)), 0, size[0] - 1))
        rows[i][j] = mark
    return "\n".join("".join(r) for r in rows)


def plot(paths, filename):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    x, y = datasets.toy_sigmoid()
    ws = np.linspace(-6, 6, 61)
    bs = np.linspace(-6, 6, 61)
    err = np.array([[loss(w, b, x, y) for w in ws] for b in bs])
    fig, ax = plt.subplots(figsize=(6, 5))
    contour = ax.contourf(ws, bs, err, levels=30, cmap="viridis")
    fig.colorbar(contour, ax=ax, label="L(w, b)")
    for (label, path), style in zip(paths.items(), ("w.-", "r.-")):
        ax.plot(path[:, 0], path[:, 1], style, markersize=3, label=label)
    ax.set_xlabel("w")
    ax.set_ylabel("b")
    ax.legend()
    ax.set_title("guess work vs gradient descent on the error surface")
    fig.savefig(filename, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return True


def main(argv=None, quick=False):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="loss evaluations per search")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="PATH", default=None)
    parser.add_argument("--quick", action="store_true", help="40 evaluations (smoke test)")
    args = parser.parse_args(argv)
    steps = 40 if (quick or args.quick) else args.steps

    print("the lectures' guesses:    w       b   L(w, b)   slide")
    for w, b, slide in LECTURE_GUESSES:
        print(f"                      {w:6.2f}  {b:6.2f}   {loss(w, b):.4f}   {slide:.4f}")

    guess_path, guess_curve = guess_work(steps, seed=args.seed)
    gd_path, gd_curve = gradient_descent(steps)
    print(f"\nfrom w = b = {W0}, {steps} loss evaluations each:")
    print(f"  guess work      : L = {guess_curve[-1]:.6f} at w = {guess_path[-1, 0]:.3f}, "
          f"b = {guess_path[-1, 1]:.3f} ({len(guess_path) - 1} accepted steps)")
    print(f"  gradient descent: L = {gd_curve[-1]:.6f} at w = {gd_path[-1, 0]:.3f}, b = {gd_path[-1, 1]:.3f} "
          f"({len(gd_path) - 1} epochs)")
    paths = {"guess work (G)": guess_path, "gradient descent (D)": gd_path}
    if args.plot and plot(paths, args.plot):
        print(f"wrote {args.plot}")
    else:
        if args.plot:
            print("matplotlib is not installed: a text map instead (pip install matplotlib)")
        print("\nerror surface, w from -6 (left) to 6, b from 6 (top) to -6; ' ' low ... '#' high;"
              " G, D: where each search ended")
        print(text_map({"G": guess_path, "D": gd_path}))
    return {"guess_work": (guess_path, guess_curve), "gradient_descent": (gd_path, gd_curve)}


if __name__ == "__main__":
    main()
    sys.exit(0)

"""A multilayer perceptron with sigmoid hidden layers on the built-in 8x8 digits.

    python examples/mlp_digits.py [--epochs 40] [--quick]
"""

import argparse

from fastnet import datasets, losses, optim, zoo


def main(argv=None, quick=False):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2 epochs (smoke test)")
    args = parser.parse_args(argv)
    quick = quick or args.quick
    epochs = 2 if quick else args.epochs

    (x_train, y_train), (x_test, y_test) = datasets.load_digits(seed=args.seed, flatten=True)
    model = zoo.mlp((64, 128, 64, 10), activation="sigmoid", seed=args.seed)
    model.summary((64,))
    loss = losses.CrossEntropy()
    model.fit(x_train, y_train, loss, optim.Adam(model.parameters(), lr=args.lr), epochs=epochs,
              batch_size=args.batch_size, seed=args.seed, validation_data=(x_test, y_test), progress=not quick)
    metrics = model.evaluate(x_test, y_test, loss)
    print(f"test accuracy: {metrics['accuracy']:.4f}")
    return metrics


if __name__ == "__main__":
    main()

"""LeNet-5 (conv-pool-conv-pool-dense) on the built-in 8x8 digits: >= 97% test accuracy.

    python examples/lenet_digits.py [--epochs 20] [--save lenet.npz] [--quick]

The same recipe as ``python -m fastnet train`` (fastnet/jobs/train.py); the network is
``fastnet.zoo.lenet5``.
"""

import argparse

from fastnet import datasets, losses, optim, zoo
from fastnet.jobs import train as recipe
from fastnet.model import LearningRateScheduler, load


def main(argv=None, quick=False):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--epochs", type=int, default=recipe.EPOCHS)
    parser.add_argument("--batch-size", type=int, default=recipe.BATCH_SIZE)
    parser.add_argument("--lr", type=float, default=recipe.LR)
    parser.add_argument("--seed", type=int, default=recipe.SEED)
    parser.add_argument("--save", metavar="PATH", default=None)
    parser.add_argument("--quick", action="store_true", help="1 epoch (smoke test)")
    args = parser.parse_args(argv)
    quick = quick or args.quick
    epochs = 1 if quick else args.epochs

    (x_train, y_train), (x_test, y_test) = datasets.load_digits(test_fraction=0.2, seed=args.seed)
    model = zoo.lenet5(seed=args.seed, channels=recipe.CHANNELS)
    model.summary(x_train.shape[1:])
    loss = losses.CrossEntropy()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    schedule = LearningRateScheduler(optimizer, "cosine", epochs=epochs)  # anneal lr to 0
    model.fit(x_train, y_train, loss, optimizer, epochs=epochs, batch_size=args.batch_size, seed=args.seed,
              progress=not quick, callbacks=[schedule])
    metrics = model.evaluate(x_test, y_test, loss)
    print(f"test accuracy: {metrics['accuracy']:.4f}")
    if args.save:
        model.save(args.save)
        again = load(args.save).evaluate(x_test, y_test, loss)
        print(f"saved to {args.save}; reloaded model's test accuracy: {again['accuracy']:.4f}")
    return metrics


if __name__ == "__main__":
    main()

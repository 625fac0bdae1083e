"""Train LeNet-5 on the built-in 8x8 digits and print the test accuracy.

``python -m fastnet train [--epochs N] [--batch-size B] [--lr LR] [--seed S] [--threads T] [--save PATH]``

Ends with the line ``test accuracy: 0.xxxx``. Under ``mpiexec -n P`` (P > 1) it trains data-parallel,
batch size per rank, and only rank 0 prints. The first epoch includes the JIT compilation of the
kernels (every new process compiles again; see kernels/_config.py).
"""

import os
import sys
import time

# The default recipe, shared with examples/lenet_digits.py and the tests.
EPOCHS = 30
BATCH_SIZE = 32
LR = 3e-3
SEED = 0
CHANNELS = (16, 32)  # wider than LeNet-5's (6, 16): the 8x8 input leaves only 2x2 maps


def add_arguments(parser):
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"training epochs (default {EPOCHS})")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help=f"mini-batch size (default {BATCH_SIZE})")
    parser.add_argument("--lr", type=float, default=LR, help=f"initial Adam learning rate, annealed to 0 by a cosine schedule (default {LR})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"seeds initialisation, split and shuffling (default {SEED})")
    parser.add_argument("--threads", type=int, default=None, help="number of threads (default: all cores)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--save", metavar="PATH", default=None, help="save the trained model to PATH (.npz)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def _check(args):
    if args.epochs < 1:
        raise ValueError(f"--epochs: expected a positive int, got {args.epochs}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size: expected a positive int, got {args.batch_size}")
    if not args.lr > 0:
        raise ValueError(f"--lr: expected a positive number, got {args.lr}")
    if args.seed < 0:
        raise ValueError(f"--seed: expected a non-negative int, got {args.seed}")


def train_lenet(epochs=EPOCHS, batch_size=BATCH_SIZE, lr=LR, seed=SEED, dtype="float32", progress=True,
                distributed=False):
    """Train fastnet.zoo.lenet5 on the digits with Adam and a cosine learning-rate schedule
    (``distributed``: data-parallel over MPI, ``batch_size`` per rank); returns (model, history, test metrics)."""
    from fastnet import datasets, losses, optim, zoo
    from fastnet.model import LearningRateScheduler
    (x_train, y_train), (x_test, y_test) = datasets.load_digits(test_fraction=0.2, seed=seed, dtype=dtype)
    model = zoo.lenet5(dtype=dtype, seed=seed, channels=CHANNELS)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    loss = losses.CrossEntropy()
    history = model.fit(x_train, y_train, loss, optimizer, epochs=epochs, batch_size=batch_size, seed=seed,
                        progress=progress, callbacks=[LearningRateScheduler(optimizer, "cosine", epochs)],
                        distributed=distributed)
    return model, history, model.evaluate(x_test, y_test, loss)


def _join_mpi(args):
    """Under an MPI launcher with several ranks: join the job and, without --threads, share the
    cores among the ranks on this machine. Returns the number of ranks (1 outside MPI)."""
    import fastnet
    from fastnet import distributed as dist
    if not dist.is_launched():
        return 1
    ranks = dist.init(required=True)
    local = int(os.environ.get("MPI_LOCALNRANKS") or os.environ.get("OMPI_COMM_WORLD_LOCAL_SIZE") or 1)
    if args.threads is None and local > 1:
        fastnet.set_num_threads(max(1, fastnet.get_num_threads() // local))
    return ranks


def run(args):
    start = time.perf_counter()
    try:
        _check(args)
        import fastnet
        if args.threads is not None:
            fastnet.set_num_threads(args.threads)
    except (TypeError, ValueError) as exc:
        print(f"fastnet train: error: {exc}", file=sys.stderr)
        return 2
    import fastnet
    from fastnet import distributed as dist
    ranks = _join_mpi(args)
    if ranks > 1 and not dist.is_root():  # rank 0 alone prints; the others train quietly
        model, _, _ = train_lenet(args.epochs, args.batch_size, args.lr, args.seed, args.dtype, False, True)
        if args.save:
            model.save(args.save)  # a collective: rank 0 writes, the others wait for it
        return 0
    print(f"LeNet-5 on the 8x8 digits: {args.epochs} epochs, batch {args.batch_size}, Adam lr {args.lr}, "
          f"seed {args.seed}, {fastnet.get_num_threads()} threads, {args.dtype}", file=sys.stderr)
    if ranks > 1:
        print(f"data-parallel over MPI: {ranks} ranks x {fastnet.get_num_threads()} threads, batch {args.batch_size} "
              f"per rank ({args.batch_size * ranks} per step)", file=sys.stderr)
    model, history, metrics = train_lenet(args.epochs, args.batch_size, args.lr, args.seed, args.dtype,
                                          args.progress, ranks > 1)
    total = time.perf_counter() - start
    seconds = history["seconds"]
    steady = sum(seconds[1:]) / max(len(seconds) - 1, 1)
    print(f"time: {total:.1f} s in all; first epoch (with JIT compilation) {seconds[0]:.1f} s, "
          f"later epochs {steady:.2f} s each", file=sys.stderr)
    if args.save:
        model.save(args.save)
        print(f"saved the model to {args.save}", file=sys.stderr)
    print(f"test loss: {metrics['loss']:.4f}")
    print(f"test accuracy: {metrics['accuracy']:.4f}")
    return 0

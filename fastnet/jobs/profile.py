"""Profile training epochs of the default model (LeNet-5 on the built-in digits): time per op, JIT compiles.

Prints fastnet.profile()'s table (calls, total and mean time, share, GFLOP/s or GB/s per op) and the
share of the epochs' wall time it accounts for; --trace writes a Chrome trace (open it in Perfetto).
"""

import time


def add_arguments(parser):
    parser.add_argument("--epochs", type=int, default=1, help="epochs to profile (default 1)")
    parser.add_argument("--batch-size", type=int, default=64, help="mini-batch size (default 64)")
    parser.add_argument("--trace", metavar="PATH", default=None, help="write a Chrome trace-event JSON file")
    parser.add_argument("--threads", type=int, default=None, help="number of threads (default: all cores)")
    parser.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (default 0.05)")
    parser.add_argument("--no-warmup", action="store_true",
                        help="do not compile the kernels first: the JIT compiles show up in the table")


def train_epochs(model, x, y, epochs, batch_size, lr):
    """A plain training loop: forward, cross-entropy, backward, SGD step per mini-batch."""
    import numpy as np

    from .. import ops, optim
    opt = optim.SGD(model.parameters(), lr=lr)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            xb, yb = np.ascontiguousarray(x[idx]), y[idx]
            opt.zero_grad()
            logits = model.forward(xb)
            loss, dlogits = ops.cross_entropy(logits, yb)
            model.backward(dlogits, input_grad=False)
            opt.step()
            losses.append(float(loss))
    return losses


def run(args):
    import numpy as np

    import fastnet
    from .. import zoo
    from ..datasets import load_digits
    from ..profiler import profile
    if args.epochs < 1:
        raise SystemExit(f"--epochs: expected >= 1, got {args.epochs}")
    if args.batch_size < 1:
        raise SystemExit(f"--batch-size: expected >= 1, got {args.batch_size}")
    if args.threads is not None:
        fastnet.set_num_threads(args.threads)
    (x, y), _ = load_digits(dtype=np.float32)
    y = np.asarray(y)
    if y.ndim > 1:
        y = y.argmax(axis=1)
    y = y.astype(np.int64)
    model = zoo.lenet5(dtype=np.float32, seed=0)
    if not args.no_warmup:
        seconds = fastnet.compile(dtypes=("float32",))
        print(f"compiled the float32 kernels in {sum(seconds.values()):.1f} s (not in the profile)")
    start = time.perf_counter()
    with profile() as prof:
        losses = train_epochs(model, x, y, args.epochs, args.batch_size, args.lr)
    wall = time.perf_counter() - start
    print(f"LeNet-5 on the built-in digits: {args.epochs} epoch(s), {len(x)} samples, batch {args.batch_size}, "
          f"{fastnet.get_num_threads()} threads; last loss {losses[-1]:.4f}")
    print(prof.table())
    accounted = prof.op_time + prof.compile_time
    print(f"the table accounts for {100 * accounted / wall:.1f}% of the epoch wall time ({wall * 1e3:.1f} ms); "
          "the rest is Python in the layers, the optimizer and batching")
    if args.trace:
        prof.export_chrome_trace(args.trace)
        print(f"wrote {args.trace} (open it in https://ui.perfetto.dev)")
    return 0

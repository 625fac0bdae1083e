"""Benchmarks: the losses, each a loss and its gradient in one call: softmax cross-entropy
(``ops.cross_entropy``) against the vectorised NumPy reference and
``torch.nn.functional.cross_entropy`` forward and backward; the elementwise losses (MSE, L1, Huber,
binary cross-entropy on logits) over a (1024, 1000) batch against PyTorch (and NumPy for MSE).

Run the real sizes with ``pytest bench/bench_losses.py --benchmark-enable --benchmark-only``; as a
test (smoke sizes) each implementation's loss and gradient are checked against the float64 loops.
"""

import numpy as np
import pytest

import fastnet
from fastnet import ops
from fastnet.reference import naive, vectorized

# name -> (full (N, C), smoke (N, C), label_smoothing)
CASES = {
    "imagenet_1000": ((1024, 1000), (3, 7), 0.0),
    "mnist_10": ((64, 10), (4, 3), 0.0),
    "imagenet_1000_smoothing": ((1024, 1000), (3, 7), 0.1),
}


def _problem(name, size, dtype):
    """(logits (N, C) of ``dtype``, labels (N,) int64) of a case, seeded by its name."""
    full, smoke, _ = CASES[name]
    n, c = full if size == "full" else smoke
    rng = np.random.default_rng(sum(map(ord, name)))
    return (rng.standard_normal((n, c)) * 3).astype(dtype), rng.integers(0, c, n)


def _step(impl, logits, labels, smoothing):
    """fn() returning (loss, dlogits) of ``impl`` on the case."""
    if impl == "fastnet":
        return lambda: ops.cross_entropy(logits, labels, label_smoothing=smoothing)
    if impl == "numpy":
        return lambda: vectorized.cross_entropy(logits, labels)
    torch = pytest.importorskip("torch")
    x, y = torch.from_numpy(logits.copy()).requires_grad_(), torch.from_numpy(labels)

    def fn():
        x.grad = None
        loss = torch.nn.functional.cross_entropy(x, y, label_smoothing=smoothing)
        loss.backward()
        return loss.item(), x.grad.numpy()
    return fn


@pytest.mark.parametrize("name, impl", [(name, impl) for name in CASES for impl in ("fastnet", "numpy", "torch")
                                         if impl != "numpy" or not CASES[name][2]])   # NumPy's has no smoothing
def test_cross_entropy(benchmark, name, impl, bench_size):
    smoothing = CASES[name][2]
    logits, labels = _problem(name, bench_size, np.float32)
    fn = _step(impl, logits, labels, smoothing)
    benchmark.group = f"cross_entropy fwd+bwd|{name}"
    benchmark.extra_info.update(shape=list(logits.shape), threads=fastnet.get_num_threads())
    if bench_size == "smoke":   # disabled benchmark: one call, checked
        loss, dlogits = benchmark(fn)
        want_loss, want_grad = naive.cross_entropy_weighted(logits.astype(np.float64), labels, smoothing)
        np.testing.assert_allclose(loss, want_loss, rtol=1e-5)
        np.testing.assert_allclose(dlogits, want_grad, rtol=1e-4, atol=1e-6)
    else:
        benchmark.pedantic(fn, rounds=20, iterations=1, warmup_rounds=2)


# name -> (the op in fastnet.ops, the float64 loops, torch.nn.functional's name, NumPy's or None)
ELEMENTWISE = {
    "mse_loss": (ops.mse_loss, naive.mse_loss, "mse_loss", vectorized.mse_loss),
    "l1_loss": (ops.l1_loss, naive.l1_loss, "l1_loss", None),
    "huber_loss": (ops.huber_loss, naive.huber_loss, "huber_loss", None),
    "bce_with_logits": (ops.binary_cross_entropy_with_logits, naive.binary_cross_entropy_with_logits,
                        "binary_cross_entropy_with_logits", None),
}
ELEMENTWISE_SHAPES = {"full": (1024, 1000), "smoke": (3, 7)}


@pytest.mark.parametrize("name, impl", [(name, impl) for name in ELEMENTWISE for impl in ("fastnet", "numpy", "torch")
                                         if impl != "numpy" or ELEMENTWISE[name][3] is not None])
def test_elementwise_loss(benchmark, name, impl, bench_size):
    op, loops, torch_name, numpy_op = ELEMENTWISE[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    shape = ELEMENTWISE_SHAPES[bench_size]
    pred = (rng.standard_normal(shape) * 3).astype(np.float32)
    target = (rng.random(shape) < 0.3).astype(np.float32)
    if impl == "torch":
        torch = pytest.importorskip("torch")
        x, y = torch.from_numpy(pred.copy()).requires_grad_(), torch.from_numpy(target)
        loss_fn = getattr(torch.nn.functional, torch_name)

        def fn():
            x.grad = None
            loss = loss_fn(x, y)
            loss.backward()
            return loss.item(), x.grad.numpy()
    else:
        fn = (lambda: op(pred, target)) if impl == "fastnet" else (lambda: numpy_op(pred, target))  # noqa: E731
    benchmark.group = f"{name} fwd+bwd|{shape[0]}x{shape[1]}"
    benchmark.extra_info.update(shape=list(shape), threads=fastnet.get_num_threads())
    if bench_size == "smoke":   # disabled benchmark: one call, checked
        loss, dpred = benchmark(fn)
        want_loss, want_grad = loops(pred.astype(np.float64), target.astype(np.float64))
        np.testing.assert_allclose(loss, want_loss, rtol=1e-5)
        np.testing.assert_allclose(dpred, want_grad, rtol=1e-4, atol=1e-6)
    else:
        benchmark.pedantic(fn, rounds=20, iterations=1, warmup_rounds=2)

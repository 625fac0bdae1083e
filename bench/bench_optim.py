"""Benchmarks: one optimizer step over the lectures' AlexNet classifier (its three dense layers,
58.6 M float32 parameters), fastnet's fused kernels (``fastnet.kernels.optimizers``) against the
same rules in NumPy (``fastnet.optim.optimizers.FUSED = False``) and ``torch.optim``.

Run the real sizes with ``pytest bench/bench_optim.py --benchmark-enable --benchmark-only``
(about 4 GB of memory); as a test (smoke sizes) every implementation's first step is checked
against the NumPy rule in float64.
"""

import contextlib

import numpy as np
import pytest

import fastnet
from fastnet import optim
from fastnet.optim import optimizers as rules
from fastnet.parameter import Parameter

# the lectures' AlexNet classifier: 9216 -> 4096 -> 4096 -> 1000, weights and biases
SHAPES = {"full": [(4096, 9216), (4096,), (4096, 4096), (4096,), (1000, 4096), (1000,)],
          "smoke": [(9, 70), (9,), (5, 9), (5,)]}
# name -> (class name in fastnet.optim and torch.optim, hyperparameters)
OPTIMIZERS = {
    "sgd_momentum": ("SGD", dict(lr=0.01, momentum=0.9)),
    "adagrad": ("Adagrad", dict(lr=0.01)),
    "rmsprop": ("RMSprop", dict(lr=0.001)),
    "adadelta": ("Adadelta", dict()),
    "adam": ("Adam", dict(lr=0.001)),
    "adamw": ("AdamW", dict(lr=0.001)),
}


def _problem(size, dtype):
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s).astype(dtype) for s in SHAPES[size]]
    grads = [(rng.standard_normal(s) * 0.01).astype(dtype) for s in SHAPES[size]]
    return values, grads


def _fastnet_step(name, values, grads):
    """(step, the parameters' arrays) of fastnet's optimizer over copies of ``values``."""
    cls, hyper = OPTIMIZERS[name]
    params = [Parameter(v.copy()) for v in values]
    for p, g in zip(params, grads):
        p.grad = g
    return getattr(optim, cls)(params, **hyper).step, [p.value for p in params]


def _torch_step(name, values, grads):
    torch = pytest.importorskip("torch")
    cls, hyper = OPTIMIZERS[name]
    params = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in values]
    for p, g in zip(params, grads):
        p.grad = torch.from_numpy(g)
    return getattr(torch.optim, cls)(params, **hyper).step, [p.detach().numpy() for p in params]


@contextlib.contextmanager
def _numpy_rules():
    """The rules' NumPy code inside the block (the baseline)."""
    rules.FUSED = False
    try:
        yield
    finally:
        rules.FUSED = True


@pytest.mark.parametrize("impl", ["fastnet", "numpy", "torch"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_step(benchmark, name, impl, bench_size):
    values, grads = _problem(bench_size, np.float32)
    step, arrays = (_torch_step if impl == "torch" else _fastnet_step)(name, values, grads)
    if impl == "numpy":
        optimizer_step = step

        def step():
            with _numpy_rules():
                optimizer_step()
    benchmark.group = f"optim|{name}"
    benchmark.extra_info.update(parameters=int(sum(v.size for v in values)), threads=fastnet.get_num_threads())
    if bench_size == "smoke":   # disabled benchmark: one call, checked
        benchmark(step)
        with _numpy_rules():
            want_step, want = _fastnet_step(name, *_problem("smoke", np.float64))
            want_step()
        for got, expected in zip(arrays, want):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        assert not np.allclose(arrays[0], values[0])   # the step moved the parameters
    else:
        benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)

"""The benchmark registry: one list of cases drives ``bench/`` (pytest-benchmark) and ``python -m fastnet bench``.

Each :class:`Case` is one op (or one training step) at one shape, forward only or forward+backward.
Each case runs under up to four implementations (:data:`IMPLEMENTATIONS`):

``fastnet``
    :mod:`fastnet.ops` (JIT-compiled Numba kernels; compiled by a warm-up call before timing).
``numpy``
    :mod:`fastnet.reference.vectorized`, the best pure-NumPy version (im2col + BLAS, ...).
``numpy_loops``
    :mod:`fastnet.reference.naive` / :mod:`fastnet.reference.naive_conv`, plain loops. Only on
    shapes where a call takes well under a second (the smoke shapes): elsewhere it is skipped, with
    the estimated time per call in the reason.
``torch``
    PyTorch CPU with fastnet's thread count, when PyTorch is installed.

:func:`prepare` builds the inputs (seeded), warms the implementation up, checks the warm-up
result against the reference and returns a :class:`Prepared` whose ``fn()`` is what gets timed
and whose ``check(result)`` validates any result of ``fn()``. The reference is the plain-loop
implementation in float64 on the smoke shapes, and the vectorized NumPy implementation in float64
on the full shapes (tests/test_benchmarks.py checks that one against the loops). Float32 results
are compared with ``rtol=1e-3`` and ``atol=1e-3 * max|reference|`` per output array.

Sizes: ``"full"`` is the shape named by the case (AlexNet conv1, VGG 3x3, ...); ``"smoke"`` is a
tiny shape with the same structure (stride, padding, kernel), used when the benchmarks run once as
tests. FLOPs and bytes come from :func:`fastnet.profiler.op_cost` (the one cost model), summed
over the fastnet ops a case calls.

:func:`fastnet.bench_runner.run` times the cases; its results go to :mod:`fastnet.bench_report`
(Markdown, JSON, plot). Beside this module: :mod:`fastnet.bench_networks` (the whole-network steps), :mod:`fastnet.bench_cnn`
(the "cnn" family's cases) and :mod:`fastnet.bench_machine` (the machine's limits, and the probe
that says whether its cores were whole while a case ran).
"""

import math
import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from . import bench_cnn

IMPLEMENTATIONS = ("fastnet", "numpy", "numpy_loops", "torch")
SIZES = ("full", "smoke")

# numpy_loops runs only when its estimated time per call is below this (seconds).
LOOPS_BUDGET_S = 0.5
# Rough cost of the plain loops, seconds per innermost iteration (measured: a scalar multiply-add
# of naive_conv is ~1 us; elementwise loops ~0.3 us an element).
_LOOPS_SECONDS_PER_MAC = 1.0e-6
_LOOPS_SECONDS_PER_ELEMENT = 0.3e-6


class Skip(Exception):
    """An implementation cannot run a case (not installed, or far too slow); ``str`` is why."""


@dataclass(frozen=True)
class Case:
    """One benchmark case.

    family : str
        The bench/ file it belongs to: activations, dense, conv2d, conv3d, pooling, training, sweep
        (conv2d cases over a grid of shapes, forward+backward only), cnn.
    op : str
        The op (``"conv2d"``) or the step (``"lenet5_step"``).
    name : str
        The shape's name (``"alexnet_conv1"``).
    backward : bool
        Forward+backward (True) or forward only (False). Training steps are always True.
    full, smoke : dict
        Shape parameters of the two sizes.
    """
    family: str
    op: str
    name: str
    backward: bool
    full: dict = field(hash=False, compare=False)
    smoke: dict = field(hash=False, compare=False)
    description: str = ""

    @property
    def mode(self):
        return "fwd+bwd" if self.backward else "fwd"

    @property
    def group(self):
        """pytest-benchmark group: ``op|case`` (``conv2d fwd+bwd|vgg_3x3``)."""
        return f"{self.op} {self.mode}|{self.name}"

    @property
    def id(self):
        return f"{self.op}-{self.mode.replace('+', '')}-{self.name}"

    def params(self, size):
        if size not in SIZES:
            raise ValueError(f"size: expected one of {SIZES}, got {size!r}")
        return self.full if size == "full" else self.smoke


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------

def _conv2d(name, n, c, hw, k, f, stride, pad, smoke, description):
    full = dict(x=(n, c, hw, hw), w=(k, c, f, f), stride=stride, padding=pad)
    return [Case("conv2d", "conv2d", name, bw, full, smoke, description) for bw in (False, True)]


def _conv3d(name, n, c, dhw, k, f, stride, pad, smoke, description):
    full = dict(x=(n, c) + tuple(dhw), w=(k, c, f, f, f), stride=stride, padding=pad)
    return [Case("conv3d", "conv3d", name, bw, full, smoke, description) for bw in (False, True)]


def _build_registry():
    cases = []
    # activations: 16M elements (a 64 MB float32 array)
    for op in ("sigmoid", "tanh", "relu"):
        for bw in (False, True):
            cases.append(Case("activations", op, "16M", bw, dict(x=(16, 1024, 1024)), dict(x=(3, 5, 7)),
                              "16M float32 elements"))
    # dense
    for name, (n, i, o) in {"mlp_256x784_512": (256, 784, 512), "1024cubed": (1024, 1024, 1024)}.items():
        for bw in (False, True):
            cases.append(Case("dense", "dense", name, bw, dict(x=(n, i), w=(o, i)),
                              dict(x=(4, 7), w=(5, 7)), f"x ({n}, {i}) @ w.T ({i}, {o})"))
    # 2D convolution
    cases += _conv2d("lenet_c1", 64, 1, 28, 6, 5, 1, 2,
                     dict(x=(2, 1, 8, 8), w=(3, 1, 5, 5), stride=1, padding=2), "LeNet C1")
    cases += _conv2d("lenet_c3", 64, 6, 14, 16, 5, 1, 0,
                     dict(x=(2, 2, 7, 7), w=(3, 2, 5, 5), stride=1, padding=0), "LeNet C3")
    cases += _conv2d("alexnet_conv1", 8, 3, 227, 96, 11, 4, 0,
                     dict(x=(1, 2, 19, 19), w=(2, 2, 11, 11), stride=4, padding=0), "AlexNet conv1")
    cases += _conv2d("resnet_stem", 8, 3, 224, 64, 7, 2, 3,
                     dict(x=(1, 3, 9, 64), w=(4, 3, 7, 7), stride=2, padding=3),
                     "ResNet's stem: an RGB image's first layer, 3 -> 64 channels, 7x7 stride 2, padding 3, "
                     "224x224, batch 8")
    cases += _conv2d("vgg_3x3", 8, 64, 56, 64, 3, 1, 1,
                     dict(x=(2, 3, 6, 6), w=(4, 3, 3, 3), stride=1, padding=1), "VGG 3x3")
    cases += _conv2d("resnet_stride2", 8, 64, 56, 128, 3, 2, 1,
                     dict(x=(2, 3, 7, 7), w=(4, 3, 3, 3), stride=2, padding=1), "ResNet stride 2")
    cases += _conv2d("vgg_256x14", 8, 256, 14, 256, 3, 1, 1,
                     dict(x=(2, 4, 5, 5), w=(4, 4, 3, 3), stride=1, padding=1),
                     "a deeper VGG layer: 256 -> 256 channels, 3x3 padding 1, 14x14, batch 8")
    cases += _conv2d("alexnet_conv2", 8, 96, 27, 256, 5, 1, 0,
                     dict(x=(2, 3, 8, 8), w=(4, 3, 5, 5), stride=1, padding=0),
                     "the lectures' AlexNet conv2: 96 -> 256 channels, 5x5, 27x27, no padding, batch 8")
    # 3D convolution
    cases += _conv3d("c3d_3x3x3", 2, 32, (8, 28, 28), 64, 3, 1, 1,
                     dict(x=(1, 2, 4, 4, 4), w=(2, 2, 3, 3, 3), stride=1, padding=1), "C3D 3x3x3")
    cases += _conv3d("volumetric_stride2", 2, 32, (16, 32, 32), 64, 3, 2, 1,
                     dict(x=(1, 2, 5, 5, 5), w=(2, 2, 3, 3, 3), stride=2, padding=1),
                     "volumetric 3x3x3 stride 2 (a 3D ResNet downsampling)")
    # pooling
    pools = [
        ("maxpool2d", "2x2s2", dict(x=(16, 64, 56, 56), kernel_size=2, stride=2, padding=0),
         dict(x=(2, 3, 6, 6), kernel_size=2, stride=2, padding=0)),
        ("maxpool2d", "3x3s2", dict(x=(8, 96, 55, 55), kernel_size=3, stride=2, padding=0),
         dict(x=(2, 3, 7, 7), kernel_size=3, stride=2, padding=0)),
        ("maxpool3d", "2x2x2s2", dict(x=(4, 64, 16, 56, 56), kernel_size=2, stride=2, padding=0),
         dict(x=(1, 2, 4, 4, 4), kernel_size=2, stride=2, padding=0)),
    ]
    for op, name, full, smoke in pools:
        for bw in (False, True):
            cases.append(Case("pooling", op, name, bw, full, smoke))
    # training steps (forward, loss, backward, SGD step)
    cases.append(Case("training", "lenet5_step", "digits8x8_b64", True, dict(batch=64), dict(batch=2),
                      "LeNet-5 (fastnet.zoo.lenet5) on the built-in 8x8 digits, batch 64"))
    cases.append(Case("training", "lenet5_step", "mnist28_b64", True, dict(batch=64, input_size=28),
                      dict(batch=1, input_size=28),
                      "LeNet-5 (fastnet.zoo.lenet5(input_size=28)), the classic 28x28 MNIST shape, batch 64 "
                      "of random images"))
    cases.append(Case("training", "mlp_step", "digits64_b64", True, dict(batch=64), dict(batch=2),
                      "MLP (fastnet.zoo.mlp) on the flattened 8x8 digits, batch 64"))
    cases.append(Case("training", "alexnet_step", "lectures227_b4", True,
                      dict(net="alexnet", batch=4, input_size=227, in_channels=3, num_classes=1000),
                      dict(net="alexnet_smoke", batch=2, input_size=43, in_channels=3, num_classes=5),
                      "the lectures' unpadded AlexNet (fastnet.zoo.alexnet(dropout=0.0)), 227x227, batch 4, "
                      "1000 classes; smoke: the same layer kinds at 43x43"))
    cases.append(Case("training", "vgg2stage_step", "56x56_b8", True,
                      dict(net="vgg_two_stage", batch=8, input_size=56, in_channels=64, num_classes=10),
                      dict(net="vgg_two_stage_smoke", batch=2, input_size=8, in_channels=2, num_classes=5),
                      "two VGG stages (64 -> 64 -> pool -> 128 -> 128 -> pool, 3x3 padding 1, ReLU) on 64 x "
                      "56x56 maps, then Dense(25088, 64) -> ReLU -> Dense(64, 10); batch 8"))
    cases += _sweep_registry()
    cases += [Case("cnn", op, name, backward, full, smoke, text)
              for op, name, full, smoke, text in bench_cnn.SPECS for backward in (False, True)]
    return tuple(cases)


# The shape sweep (family "sweep", fwd+bwd only): batch x channels (in = out) x kernel x stride, with
# "same" padding (kernel // 2). Spatial size 28, or 14 for 256 channels (where VGG has them), so that
# a full case takes well under a second in fastnet.
SWEEP_BATCHES = (1, 8, 32)
SWEEP_CHANNELS = {16: 28, 64: 28, 256: 14}
SWEEP_KERNELS = (3, 5)
SWEEP_STRIDES = (1, 2)


def _sweep_registry():
    cases = []
    for n in SWEEP_BATCHES:
        for c, hw in SWEEP_CHANNELS.items():
            for f in SWEEP_KERNELS:
                for s in SWEEP_STRIDES:
                    full = dict(x=(n, c, hw, hw), w=(c, c, f, f), stride=s, padding=f // 2)
                    smoke = dict(x=(min(n, 2), 2, 6, 6), w=(3, 2, f, f), stride=s, padding=f // 2)
                    cases.append(Case("sweep", "conv2d", f"sweep_b{n}_c{c}_{hw}_k{f}s{s}", True, full, smoke,
                                      f"shape sweep: batch {n}, {c} -> {c} channels, {hw}x{hw}, {f}x{f} "
                                      f"stride {s} padding {f // 2}"))
    return cases


CASES = _build_registry()


def cases(family=None, filter=None):
    """The registered cases, optionally of one ``family`` and/or whose id/group contains ``filter``."""
    out = [c for c in CASES if family is None or c.family == family]
    if filter:
        out = [c for c in out if filter in c.id or filter in c.group]
    return out


def get_case(case_id):
    for c in CASES:
        if c.id == case_id:
            return c
    raise KeyError(f"case: no benchmark case with id {case_id!r}")


# --------------------------------------------------------------------------------------------
# Implementations
# --------------------------------------------------------------------------------------------

def _module(impl):
    """The ops namespace of an array implementation."""
    if impl == "fastnet":
        from . import ops
        return ops
    if impl == "numpy":
        from .reference import vectorized
        return vectorized
    if impl == "numpy_loops":
        return _LoopsNamespace()
    raise ValueError(f"impl: expected one of {IMPLEMENTATIONS}, got {impl!r}")


class _LoopsNamespace:
    """naive.* and naive_conv.* under one roof (they are written by different engineers)."""

    def __getattr__(self, name):
        if name.startswith("conv"):
            from .reference import naive_conv as module
        else:
            from .reference import naive as module
        return getattr(module, name)


def _torch():
    try:
        import torch
    except ImportError:
        raise Skip("torch: PyTorch is not installed") from None
    from . import get_num_threads
    if torch.get_num_threads() != get_num_threads():
        torch.set_num_threads(get_num_threads())
    return torch


def _rng_arrays(case, size, dtype):
    """The seeded inputs of an op case (float64 master copies cast to ``dtype``)."""
    p = case.params(size)
    rng = np.random.default_rng(_seed(case.id))
    arrays = {"x": rng.standard_normal(p["x"])}
    if "w" in p:
        fan_in = int(np.prod(p["w"][1:]))
        arrays["w"] = rng.standard_normal(p["w"]) / math.sqrt(fan_in)
        arrays["b"] = rng.standard_normal(p["w"][0])
    return {k: v.astype(dtype) for k, v in arrays.items()}, rng


def _seed(text):
    """A seed that depends on the text only (hash() of str is salted per process)."""
    return zlib.crc32(text.encode())


def _kind(case):
    """The family whose code runs a case: the shape sweep is made of conv2d cases."""
    return "conv2d" if case.family == "sweep" else case.family


def _op_output_shape(case, size, inputs, dtype):
    """Output shape of the forward op, computed with the vectorized reference on zeros-free math."""
    if case.family == "cnn":
        return bench_cnn.output_shape(case, size, inputs, dtype)
    p = case.params(size)
    x = inputs["x"]
    kind = _kind(case)
    if kind == "activations":
        return x.shape
    if kind == "dense":
        return (x.shape[0], inputs["w"].shape[0])
    if kind in ("conv2d", "conv3d"):
        nd = x.ndim - 2
        k = inputs["w"].shape[2:]
        s, pad = p["stride"], p["padding"]
        return (x.shape[0], inputs["w"].shape[0]) + tuple((x.shape[2 + i] + 2 * pad - k[i]) // s + 1
                                                           for i in range(nd))
    if kind == "pooling":
        nd = x.ndim - 2
        k, s, pad = p["kernel_size"], p["stride"], p["padding"]
        return x.shape[:2] + tuple((x.shape[2 + i] + 2 * pad - k) // s + 1 for i in range(nd))
    raise AssertionError(case.family)


def _array_op_fn(case, size, impl, inputs):
    """fn() running ``case`` with an ops-like namespace (fastnet, numpy, numpy_loops)."""
    if case.family == "cnn":
        return bench_cnn.array_op_fn(case, size, impl, inputs)
    m = _module(impl)
    p = case.params(size)
    x, dy = inputs["x"], inputs.get("dy")
    op = case.op
    kind = _kind(case)
    if kind == "activations":
        forward, backward = getattr(m, op), getattr(m, op + "_backward")
        uses_output = op != "relu"
        if not case.backward:
            return lambda: forward(x)

        def fn():
            y = forward(x)
            return y, backward(y if uses_output else x, dy)
        return fn
    if kind == "dense":
        w, b = inputs["w"], inputs["b"]
        if not case.backward:
            return lambda: m.dense(x, w, b)

        def fn():
            y = m.dense(x, w, b)
            return (y,) + tuple(m.dense_backward(x, w, dy))
        return fn
    if kind in ("conv2d", "conv3d"):
        w, b = inputs["w"], inputs["b"]
        forward, backward = getattr(m, op), getattr(m, op + "_backward")
        s, pad = p["stride"], p["padding"]
        if not case.backward:
            return lambda: forward(x, w, b, stride=s, padding=pad)

        def fn():
            y = forward(x, w, b, stride=s, padding=pad)
            return (y,) + tuple(backward(x, w, dy, stride=s, padding=pad))
        return fn
    if kind == "pooling":
        forward, backward = getattr(m, op), getattr(m, op + "_backward")
        k, s, pad = p["kernel_size"], p["stride"], p["padding"]
        if not case.backward:
            return lambda: forward(x, k, s, pad)

        def fn():
            y = forward(x, k, s, pad)
            return y, backward(x, dy, k, s, pad)
        return fn
    raise AssertionError(case.family)


def _torch_op_fn(case, size, inputs):
    if case.family == "cnn":
        return bench_cnn.torch_op_fn(case, size, inputs)
    torch = _torch()
    F = torch.nn.functional
    p = case.params(size)
    t = {k: torch.from_numpy(v) for k, v in inputs.items()}
    x, dy = t["x"], t.get("dy")
    if case.backward:
        x = x.detach().requires_grad_(True)
    leaves = [x]
    kind = _kind(case)
    if kind == "activations":
        def forward(x):
            return getattr(torch, case.op)(x)
    elif kind == "dense":
        w, b = t["w"].requires_grad_(case.backward), t["b"].requires_grad_(case.backward)
        leaves += [w, b]

        def forward(x):
            return F.linear(x, w, b)
    elif kind in ("conv2d", "conv3d"):
        w, b = t["w"].requires_grad_(case.backward), t["b"].requires_grad_(case.backward)
        leaves += [w, b]
        conv = F.conv2d if kind == "conv2d" else F.conv3d

        def forward(x):
            return conv(x, w, b, stride=p["stride"], padding=p["padding"])
    elif kind == "pooling":
        pool = F.max_pool2d if case.op == "maxpool2d" else F.max_pool3d

        def forward(x):
            return pool(x, p["kernel_size"], p["stride"], p["padding"])
    else:
        raise AssertionError(case.family)
    return _torch_fn(torch, forward, x, leaves, dy, case.backward)


def _torch_fn(torch, forward, x, leaves, dy, backward):
    """fn() of a torch case: ``forward(x)`` under no_grad, or forward and the gradients of the
    ``leaves`` for ``dy`` (as NumPy arrays: y first)."""
    if not backward:
        def fn():
            with torch.no_grad():
                return forward(x).numpy()
        return fn

    def fn():
        y = forward(x)
        grads = torch.autograd.grad(y, leaves, dy)
        return (y.detach().numpy(),) + tuple(g.numpy() for g in grads)
    return fn


# ----------------------------------------------------------------------------- training steps
# The networks and the three step implementations live in fastnet/bench_networks.py (imported at
# call time: it imports Skip and _seed from here).

# --------------------------------------------------------------------------------------------
# prepare / check
# --------------------------------------------------------------------------------------------

def _loops_estimate(case, size):
    """Estimated seconds per call of the plain loops at ``size``."""
    if case.family == "cnn":
        return bench_cnn.loops_estimate(case, size)
    p = case.params(size)
    if case.family == "training":
        # forward, dx and dw: about three times the forward's multiply-adds per sample
        from .bench_networks import step_macs
        return p["batch"] * 3 * step_macs(case, size) * _LOOPS_SECONDS_PER_MAC
    x = int(np.prod(p["x"]))
    factor = 3 if case.backward else 1
    if _kind(case) in ("conv2d", "conv3d"):
        nd = len(p["x"]) - 2
        out = 1
        for i in range(nd):
            out *= (p["x"][2 + i] + 2 * p["padding"] - p["w"][2 + i]) // p["stride"] + 1
        macs = p["x"][0] * p["w"][0] * out * int(np.prod(p["w"][1:]))
        return factor * macs * _LOOPS_SECONDS_PER_MAC
    if case.family == "dense":
        return factor * p["x"][0] * p["w"][0] * p["w"][1] * _LOOPS_SECONDS_PER_MAC
    if case.family == "pooling":
        nd = len(p["x"]) - 2
        return factor * x * (p["kernel_size"] ** nd) / p["stride"] ** nd * _LOOPS_SECONDS_PER_ELEMENT
    return factor * x * _LOOPS_SECONDS_PER_ELEMENT


@dataclass
class Prepared:
    """A case ready to time: ``fn()`` runs it once; ``check(result)`` validates any result of fn."""
    case: Case
    impl: str
    size: str
    dtype: np.dtype
    fn: object
    reference: object
    warmup_seconds: float
    flops: int
    bytes: int

    def check(self, result):
        check_case_result(self.case, self.impl, self.size, self.dtype, result, self.reference)


def check_case_result(case, impl, size, dtype, result, reference):
    """:func:`check_result`, except for torch's dropout, whose mask comes from torch's generator:
    that result is checked for structure instead (:func:`check_dropout`)."""
    label = f"{case.id} [{impl}]"
    if case.op == "dropout" and impl == "torch":
        inputs = _inputs(case, size, dtype)
        return bench_cnn.check_dropout(result, inputs["x"], inputs.get("dy"), bench_cnn.DROPOUT_P, dtype, label)
    return check_result(result, reference, dtype, label=label)


def check_result(result, reference, dtype, label=""):
    """Assert that ``result`` matches ``reference`` array by array: shape, dtype, values.

    float32: ``rtol=1e-3, atol=1e-3 * max|reference array|``; float64: 1e-9 and 1e-9.
    """
    results = result if isinstance(result, tuple) else (result,)
    references = reference if isinstance(reference, tuple) else (reference,)
    if len(results) != len(references):
        raise AssertionError(f"{label}: {len(results)} outputs, expected {len(references)}")
    tol = 1e-3 if np.dtype(dtype) == np.float32 else 1e-9
    for i, (r, e) in enumerate(zip(results, references)):
        r = np.asarray(r)
        e = np.asarray(e)
        if r.shape != e.shape:
            raise AssertionError(f"{label}: output {i} has shape {r.shape}, expected {e.shape}")
        if r.dtype != np.dtype(dtype):
            raise AssertionError(f"{label}: output {i} has dtype {r.dtype}, expected {np.dtype(dtype)}")
        scale = float(np.max(np.abs(e))) if e.size else 0.0
        np.testing.assert_allclose(r, e, rtol=tol, atol=tol * max(scale, 1e-30),
                                   err_msg=f"{label}: output {i} differs from the reference")


_REFERENCE_CACHE = {}


def _inputs(case, size, dtype):
    if case.family == "training":
        raise AssertionError("training cases build their own inputs")
    inputs, rng = _rng_arrays(case, size, dtype)
    if case.backward:
        shape = _op_output_shape(case, size, inputs, dtype)
        inputs["dy"] = rng.standard_normal(shape).astype(dtype)
    return inputs


def reference_result(case, size, dtype=np.float32, cheap=False):
    """The expected output of ``case`` (float64 computation, cast to ``dtype``); cached.

    ``cheap`` (``--quick``, full shapes): the vectorized NumPy result in ``dtype`` itself, which
    saves one slow float64 call per case; it is also the numpy implementation's warm-up result.
    """
    dtype = np.dtype(dtype)
    cheap = bool(cheap) and size != "smoke"
    key = (case.id, size, dtype.name, cheap)
    if key not in _REFERENCE_CACHE:
        ref_impl = "numpy_loops" if size == "smoke" else "numpy"
        ref_dtype = dtype if cheap else np.float64
        if case.family == "training":
            from . import bench_networks as nets
            model = nets.build_model(case, ref_dtype, size)
            x, labels = nets.training_data(case, size, ref_dtype)
            result = nets._functional_step(model, x, labels, ref_impl)()
        else:
            inputs = {k: v.astype(ref_dtype) for k, v in _inputs(case, size, dtype).items()}
            result = _array_op_fn(case, size, ref_impl, inputs)()
        result = result if isinstance(result, tuple) else (result,)
        _REFERENCE_CACHE[key] = tuple(np.asarray(r).astype(dtype) for r in result)
    return _REFERENCE_CACHE[key]


def _cost(case, size, dtype):
    """(flops, bytes) of one call, from :func:`fastnet.profiler.op_cost` (the one cost model).

    Op cases: the cost of the forward op (+ its backward) on the case's inputs and output shapes. Training steps: the summed cost of every fastnet op one
    fastnet step makes (recorded with the profiler); (0, 0) if that step cannot run.
    """
    from .profiler import Profiler, op_cost
    if case.family == "cnn":
        return bench_cnn.cost(case, size, dtype)
    if case.family == "training":
        try:
            fn = make_fn(case, "fastnet", size, dtype)
            with Profiler(record_compile=False) as prof:
                fn()
        except Exception:  # the cost is informative only; the fastnet run itself reports errors
            return 0, 0
        return sum(e.flops for e in prof.events), sum(e.bytes for e in prof.events)
    inputs = _inputs(case, size, dtype)
    x, dy = inputs["x"], inputs.get("dy")
    # the outputs' shapes and dtypes are all the cost model needs: no reference computation
    y = np.empty(_op_output_shape(case, size, inputs, dtype), dtype=dtype)
    kind = _kind(case)
    if kind in ("dense", "conv2d", "conv3d"):
        reference = (y, x, inputs["w"], inputs["b"])
    else:
        reference = (y, x)
    if kind == "activations":
        calls = [(case.op, (x,), y)]
        if case.backward:
            calls.append((case.op + "_backward", (y if case.op != "relu" else x, dy), reference[1]))
    elif kind == "dense":
        calls = [("dense", (x, inputs["w"], inputs["b"]), y)]
        if case.backward:
            calls.append(("dense_backward", (x, inputs["w"], dy), reference[1:]))
    elif kind in ("conv2d", "conv3d"):
        calls = [(case.op, (x, inputs["w"], inputs["b"]), y)]
        if case.backward:
            calls.append((case.op + "_backward", (x, inputs["w"], dy), reference[1:]))
    else:  # pooling
        calls = [(case.op, (x,), y)]
        if case.backward:
            calls.append((case.op + "_backward", (x, dy), reference[1]))
    total_flops = total_bytes = 0
    for op, args, result in calls:
        flops, nbytes = op_cost(op, args, {}, result)
        total_flops += flops
        total_bytes += nbytes
    return total_flops, total_bytes


_COST_CACHE = {}


def case_cost(case, size="full", dtype=np.float32):
    """(flops, bytes) of one call of ``case`` (cached); see :func:`_cost`."""
    key = (case.id, size, np.dtype(dtype).name)
    if key not in _COST_CACHE:
        _COST_CACHE[key] = _cost(case, size, dtype)
    return _COST_CACHE[key]


def make_fn(case, impl, size="full", dtype=np.float32):
    """The callable that runs ``case`` with ``impl`` (no warm-up, no check). Raises :class:`Skip`."""
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"impl: expected one of {IMPLEMENTATIONS}, got {impl!r}")
    dtype = np.dtype(dtype)
    if impl == "numpy_loops":
        estimate = _loops_estimate(case, size)
        if estimate > LOOPS_BUDGET_S:
            raise Skip(f"numpy_loops: plain Python loops would take ~{_human(estimate)} per call at "
                       f"this shape; they run on the smoke shapes only")
    if impl == "torch":
        _torch()
    if case.family == "training":
        from . import bench_networks as nets
        model = nets.build_model(case, dtype, size)
        x, labels = nets.training_data(case, size, dtype)
        if impl == "fastnet":
            return nets._fastnet_step(model, x, labels)
        if impl == "torch":
            return nets._torch_step(model, x, labels)
        return nets._functional_step(model, x, labels, impl)
    inputs = _inputs(case, size, dtype)
    if impl == "torch":
        return _torch_op_fn(case, size, inputs)
    return _array_op_fn(case, size, impl, inputs)


def prepare(case, impl, size="full", dtype=np.float32, check=True, quick=False):
    """Build, warm up (JIT compile for fastnet) and check one implementation of a case.

    ``quick``: the reference is the float32 vectorized result (see :func:`reference_result`) and the
    numpy implementation's warm-up is that very computation. Raises :class:`Skip` when the
    implementation cannot run the case (see its message).
    """
    dtype = np.dtype(dtype)
    fn = make_fn(case, impl, size, dtype)
    cheap = quick and size != "smoke"
    if cheap and impl == "numpy":
        start = time.perf_counter()
        reference = reference_result(case, size, dtype, cheap=True)  # = numpy's own warm-up call
        warmup = time.perf_counter() - start
        flops, nbytes = case_cost(case, size, dtype)
        return Prepared(case, impl, size, dtype, fn, reference, warmup, flops, nbytes)
    start = time.perf_counter()
    result = fn()  # warm-up: compiles fastnet's kernels, fills caches
    warmup = time.perf_counter() - start
    reference = reference_result(case, size, dtype, cheap=cheap) if check else None
    if check:
        check_case_result(case, impl, size, dtype, result, reference)
    flops, nbytes = case_cost(case, size, dtype)
    return Prepared(case, impl, size, dtype, fn, reference, warmup, flops, nbytes)


def _human(seconds):
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    if seconds >= 1:
        return f"{seconds:.1f} s"
    return f"{seconds * 1e3:.1f} ms"

"""The benchmark registry's "cnn" family (bench/bench_cnn.py): conv1d, avgpool2d, batch_norm,
softmax, leaky_relu and dropout. :mod:`fastnet.benchmarks` registers :data:`SPECS` and hands a
case of the family to the functions here (output shape, the three ways to run it, its cost and
the plain loops' estimate); they import the registry's helpers at call time.
"""

import numpy as np

#: (op, name, full shapes, smoke shapes, description): each registered forward-only and forward+backward
SPECS = [
    ("conv1d", "k5_c64_l1000", dict(x=(16, 64, 1000), w=(64, 64, 5), stride=1, padding=2),
     dict(x=(2, 3, 9), w=(4, 3, 5), stride=1, padding=2), "1-D conv, 64 -> 64 channels, 5 taps, 16 x 1000 samples"),
    ("conv1d", "k7_s2", dict(x=(16, 32, 2000), w=(64, 32, 7), stride=2, padding=3),
     dict(x=(2, 3, 11), w=(4, 3, 7), stride=2, padding=3), "1-D conv, stride 2, 7 taps"),
    ("avgpool2d", "3x3s2p1", dict(x=(8, 96, 55, 55), kernel_size=3, stride=2, padding=1),
     dict(x=(2, 3, 7, 7), kernel_size=3, stride=2, padding=1), "average pool 3x3/2, padding 1"),
    ("batch_norm", "resnet_64x56", dict(x=(16, 64, 56, 56)), dict(x=(4, 3, 5, 5)),
     "batch norm (training) over (16, 64, 56, 56)"),
    ("softmax", "imagenet_1000", dict(x=(1024, 1000)), dict(x=(4, 7)), "softmax over 1000 classes, batch 1024"),
    ("leaky_relu", "16M", dict(x=(16, 1024, 1024)), dict(x=(3, 5, 7)), "leaky ReLU (slope 0.01), 16M elements"),
    ("dropout", "p0.5_4096x4096", dict(x=(4096, 4096)), dict(x=(3, 5, 7)),
     "inverted dropout p=0.5 over AlexNet's FC width (4096) x 4096 rows: mask draw and scaling; "
     "torch draws its own mask, so its result is checked for structure (see check_dropout)"),
]


LEAKY_SLOPE = 0.01   # the leaky_relu case's negative slope (fastnet's and torch's default)
DROPOUT_P = 0.5      # the dropout case's p


def check_dropout(result, x, dy, p, dtype, label=""):
    """Check a dropout result drawn with another generator (torch's): same shapes and dtype, every
    output either 0 or x / (1 - p), about 1 - p of them kept (within 6 standard deviations), and
    the gradient (when given) dy / (1 - p) exactly where the forward kept an element, 0 elsewhere.

    ``result``: y, (y, mask) or (y, dx) for a forward+backward case.
    """
    results = result if isinstance(result, tuple) else (result,)
    y = np.asarray(results[0])
    if y.shape != x.shape or y.dtype != np.dtype(dtype):
        raise AssertionError(f"{label}: y has shape {y.shape} and dtype {y.dtype}, expected {x.shape} {dtype}")
    kept = y != 0
    scale = np.dtype(dtype).type(1.0 / (1.0 - p))
    tol = 1e-6 if np.dtype(dtype) == np.float32 else 1e-12
    np.testing.assert_allclose(y[kept], x[kept] * scale, rtol=tol, err_msg=f"{label}: a kept element is not x / (1 - p)")
    share, n = kept.mean(), kept.size
    sigma = np.sqrt(p * (1 - p) / n)
    if abs(share - (1 - p)) > 6 * sigma:
        raise AssertionError(f"{label}: kept {share:.5f} of the elements, expected {1 - p} +- {6 * sigma:.5f}")
    if dy is not None and len(results) > 1:
        dx = np.asarray(results[1])
        np.testing.assert_allclose(dx, np.where(kept, dy * scale, 0), rtol=tol,
                                   err_msg=f"{label}: dx is not dy / (1 - p) where kept, 0 elsewhere")


def _cnn_norm_params(x):
    """The seeded gamma, beta and running statistics of a batch_norm case."""
    from .benchmarks import _seed
    rng = np.random.default_rng(_seed("batch_norm" + str(x.shape)))
    c = x.shape[1]
    return (rng.uniform(0.5, 1.5, c).astype(x.dtype), rng.standard_normal(c).astype(x.dtype),
            np.zeros(c, x.dtype), np.ones(c, x.dtype))


def output_shape(case, size, inputs, dtype):
    """The forward op's output shape."""
    p, x = case.params(size), inputs["x"]
    if case.op == "conv1d":
        w = inputs["w"]
        return (x.shape[0], w.shape[0], (x.shape[2] + 2 * p["padding"] - w.shape[2]) // p["stride"] + 1)
    if case.op == "avgpool2d":
        k, s, pad = p["kernel_size"], p["stride"], p["padding"]
        return x.shape[:2] + tuple((n + 2 * pad - k) // s + 1 for n in x.shape[2:])
    return x.shape


def _cnn_namespace(impl):
    if impl == "numpy_loops":
        from .reference import naive
        return naive
    from .benchmarks import _module
    return _module(impl)


def array_op_fn(case, size, impl, inputs):
    """fn() running ``case`` with an ops-like namespace (fastnet, numpy, numpy_loops)."""
    from .benchmarks import _seed
    m, p = _cnn_namespace(impl), case.params(size)
    x, dy = inputs["x"], inputs.get("dy")
    if case.op == "conv1d":
        w, b, s, pad = inputs["w"], inputs["b"], p["stride"], p["padding"]
        forward = lambda: m.conv1d(x, w, b, stride=s, padding=pad)  # noqa: E731
        backward = lambda: tuple(m.conv1d_backward(x, w, dy, stride=s, padding=pad))  # noqa: E731
    elif case.op == "avgpool2d":
        k, s, pad = p["kernel_size"], p["stride"], p["padding"]
        forward = lambda: m.avgpool2d(x, k, s, pad)  # noqa: E731
        backward = lambda: (m.avgpool2d_backward(x, dy, k, s, pad),)  # noqa: E731
    elif case.op == "batch_norm":
        gamma, beta, mean, var = _cnn_norm_params(x)
        forward = lambda: m.batch_norm(x, gamma, beta, mean.copy(), var.copy(), True)  # noqa: E731
        backward = lambda: tuple(m.batch_norm_backward(x, gamma, dy))  # noqa: E731
    elif case.op == "leaky_relu":
        forward = lambda: m.leaky_relu(x, LEAKY_SLOPE)  # noqa: E731
        backward = lambda: (m.leaky_relu_backward(x, dy, LEAKY_SLOPE),)  # noqa: E731
    elif case.op == "dropout":
        seed = _seed(case.id)   # the same seed every call: the same mask in fastnet and numpy
        if not case.backward:
            return lambda: m.dropout(x, DROPOUT_P, seed)

        def fn():
            y, mask = m.dropout(x, DROPOUT_P, seed)
            return y, m.dropout_backward(dy, mask, DROPOUT_P)
        return fn
    else:  # softmax
        forward = lambda: m.softmax(x, 1)  # noqa: E731
        backward = None
    if not case.backward:
        return forward
    if case.op == "softmax":
        def fn():
            y = m.softmax(x, 1)
            return y, m.softmax_backward(y, dy, 1)
        return fn
    return lambda: (forward(),) + backward()


def torch_op_fn(case, size, inputs):
    """fn() running ``case`` in PyTorch (the forward under no_grad, or forward and autograd)."""
    from .benchmarks import _torch, _torch_fn
    torch = _torch()
    F = torch.nn.functional
    p = case.params(size)
    t = {k: torch.from_numpy(v) for k, v in inputs.items()}
    x, dy = t["x"], t.get("dy")
    x = x.detach().requires_grad_(case.backward)
    leaves = [x]
    if case.op == "conv1d":
        w, b = t["w"].requires_grad_(case.backward), t["b"].requires_grad_(case.backward)
        leaves += [w, b]

        def forward(x):
            return F.conv1d(x, w, b, stride=p["stride"], padding=p["padding"])
    elif case.op == "avgpool2d":
        def forward(x):
            return F.avg_pool2d(x, p["kernel_size"], p["stride"], p["padding"])
    elif case.op == "batch_norm":
        gamma, beta, mean, var = (torch.from_numpy(a) for a in _cnn_norm_params(inputs["x"]))
        gamma, beta = gamma.requires_grad_(case.backward), beta.requires_grad_(case.backward)
        leaves += [gamma, beta]

        def forward(x):
            return F.batch_norm(x, mean.clone(), var.clone(), gamma, beta, training=True)
    elif case.op == "leaky_relu":
        def forward(x):
            return F.leaky_relu(x, LEAKY_SLOPE)
    elif case.op == "dropout":
        def forward(x):
            return F.dropout(x, DROPOUT_P, training=True)
    else:
        def forward(x):
            return torch.softmax(x, dim=1)
    if case.op == "dropout" and not case.backward:   # (y, mask) as fastnet returns them
        def fn():
            with torch.no_grad():
                y = forward(x)
                return y.numpy(), (y != 0).to(y.dtype).numpy()
        return fn
    return _torch_fn(torch, forward, x, leaves, dy, case.backward)


def cost(case, size, dtype):
    """(FLOPs, bytes) of one call of the case's fastnet ops (:func:`fastnet.profiler.op_cost`)."""
    from .benchmarks import _inputs
    from .profiler import op_cost
    inputs = _inputs(case, size, dtype)
    x, dy = inputs["x"], inputs.get("dy")
    y = np.empty(output_shape(case, size, inputs, dtype), dtype=dtype)
    if case.op == "conv1d":
        calls = [("conv1d", (x, inputs["w"], inputs["b"]), y)]
        if case.backward:
            calls.append(("conv1d_backward", (x, inputs["w"], dy), (x, inputs["w"], inputs["b"])))
    elif case.op == "batch_norm":
        params = _cnn_norm_params(x)
        calls = [("batch_norm", (x,) + params, y)]
        if case.backward:
            calls.append(("batch_norm_backward", (x, params[0], dy), (x, params[0], params[1])))
    elif case.op == "dropout":
        calls = [("dropout", (x,), (y, y))]
        if case.backward:
            calls.append(("dropout_backward", (dy, y), x))
    else:
        calls = [(case.op, (x,), y)]
        if case.backward:
            calls.append((case.op + "_backward", (y if case.op == "softmax" else x, dy), x))
    costs = [op_cost(op, args, {}, result) for op, args, result in calls]
    return sum(c[0] for c in costs), sum(c[1] for c in costs)


def loops_estimate(case, size):
    """Estimated seconds per call of the plain loops at ``size``."""
    from .benchmarks import _LOOPS_SECONDS_PER_ELEMENT, _LOOPS_SECONDS_PER_MAC
    p = case.params(size)
    x = int(np.prod(p["x"]))
    factor = 3 if case.backward else 1
    if case.op == "conv1d":
        out = (p["x"][2] + 2 * p["padding"] - p["w"][2]) // p["stride"] + 1
        return factor * p["x"][0] * p["w"][0] * out * int(np.prod(p["w"][1:])) * _LOOPS_SECONDS_PER_MAC
    if case.op == "avgpool2d":
        return factor * x * p["kernel_size"] ** 2 / p["stride"] ** 2 * _LOOPS_SECONDS_PER_ELEMENT
    if case.op == "softmax" and case.backward:   # the loop Jacobian-vector product is O(L^2) per row
        return x * p["x"][1] * _LOOPS_SECONDS_PER_ELEMENT
    return 4 * factor * x * _LOOPS_SECONDS_PER_ELEMENT

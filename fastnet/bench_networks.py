"""Whole-network training steps for the benchmark registry: the networks, their data, and one step
(forward, cross-entropy, backward, SGD) written three ways: fastnet layers, an ops namespace (NumPy
or the plain loops), and the same network rebuilt in ``torch.nn``.

The cases themselves are registered in :mod:`fastnet.benchmarks` (family ``"training"``); a case's
``full``/``smoke`` dict names the network (``net``), ``batch``, ``input_size`` and, for the networks
other than LeNet-5 and the MLP, ``in_channels`` and ``num_classes``. Every step starts from the
same weights (so that every call returns the same loss and updated parameters) and uses no
dropout (p=0 in every implementation), so that results compare exactly across implementations.

A step returns ``(loss, *updated parameters)``, the parameters being the live arrays, not copies:
a result is valid until the next call (which restores the weights), which is how the runner and
bench/ use it (they check the last result before calling again). Copying them would add the same
memory traffic to every implementation (115 MB a step for AlexNet) and pull the ratios towards 1.
"""

import numpy as np

from .benchmarks import Skip, _seed

# The lectures' AlexNet at a smoke size: the same layer kinds (11x11/4 conv, 3x3/2 pool, an unpadded
# 3x3 conv, the two hidden dense layers with dropout), 3 channels of 43x43 -> 9 -> 4 -> 2.
ALEXNET_SMOKE = [("conv", 2, 11, 4, 0), ("pool", 3, 2), ("conv", 3, 3, 1, 0)]
# Two VGG stages: 64 -> 64 -> pool -> 128 -> 128 -> pool, 3x3 padding 1, ReLU after every conv.
VGG_TWO_STAGE = [("conv", 64, 3, 1, 1), ("conv", 64, 3, 1, 1), ("pool", 2, 2),
                 ("conv", 128, 3, 1, 1), ("conv", 128, 3, 1, 1), ("pool", 2, 2)]
VGG_TWO_STAGE_SMOKE = [("conv", 3, 3, 1, 1), ("conv", 3, 3, 1, 1), ("pool", 2, 2),
                       ("conv", 4, 3, 1, 1), ("conv", 4, 3, 1, 1), ("pool", 2, 2)]
VGG_HEAD = 64  # the dense head: Flatten -> Dense(flat, 64) -> ReLU -> Dense(64, num_classes)


def _conv_net(spec, in_channels, input_size, hidden, num_classes, dtype, seed, dropout=None):
    """Conv stack from a zoo-style ``spec`` (ReLU after each conv), then Flatten and dense layers of
    sizes ``hidden`` (ReLU, and ``Dropout(dropout)`` when given, after each) and ``num_classes``."""
    from .layers import Dense, Dropout, Flatten, ReLU, _generator
    from .model import Sequential
    from .zoo import _conv_stack
    rng = _generator(seed)
    layers = _conv_stack(spec, in_channels, dtype, rng)
    shape = (in_channels, input_size, input_size)
    for layer in layers:
        shape = layer.output_shape(shape)
    layers.append(Flatten())
    width = int(np.prod(shape))
    for h in hidden:
        layers += [Dense(width, h, dtype=dtype, init="he", seed=rng), ReLU()]
        if dropout is not None:
            layers.append(Dropout(dropout, seed=0))
        width = h
    layers.append(Dense(width, num_classes, dtype=dtype, init="xavier", seed=rng))
    return Sequential(layers)


def _net(case, size):
    return case.params(size).get("net", "mlp" if case.op == "mlp_step" else "lenet5")


def build_model(case, dtype, size="full"):
    """The fastnet model of a training case at ``size`` (seeded: the same weights every call), its
    biases drawn as PyTorch's default init does (see :func:`_torch_style_biases`)."""
    return _torch_style_biases(_build_model(case, dtype, size), _seed(case.id + "bias"))


def _torch_style_biases(model, seed):
    """Set every bias to uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), as torch.nn.Linear/Conv2d do.

    Why not zeros (fastnet's default): the check compares the updated parameters, with an atol of
    1e-3 times each array's largest value. A zero bias after one step is the update alone,
    -lr * db, and a step is only piecewise smooth: where a max-pool window holds two values within
    float32 rounding of each other, which one receives the gradient depends on the last bit of the
    convolution below, so two correct float32 implementations send a whole gradient element to
    different places (seen: a 2.6e-7 gap in the VGG two-stage step on AVX-512 moved db of every
    conv layer below it by 0.2-0.6%). Near-ties of this size are in almost every random batch of
    these networks (measured: 1-4 windows per pooling layer within 1e-6 of the layer's largest
    value). With non-zero biases, biases are checked like weights: the value after the step.
    """
    rng = np.random.default_rng(seed)
    for layer in _model_layers(model):
        bias = getattr(layer, "bias", None)
        if bias is not None:
            fan_in = int(np.prod(layer.weight.value.shape[1:]))
            bound = 1.0 / np.sqrt(fan_in)
            bias.value[...] = rng.uniform(-bound, bound, bias.value.shape)
    return model


def _build_model(case, dtype, size):
    from . import zoo
    p = case.params(size)
    net = _net(case, size)
    if net == "lenet5":
        return zoo.lenet5(dtype=dtype, seed=0, input_size=p.get("input_size", 8))
    if net == "mlp":
        return zoo.mlp(dtype=dtype, seed=0)
    if net == "alexnet":  # the lectures' unpadded AlexNet (227x227), dropout off
        return zoo.alexnet(num_classes=p["num_classes"], dtype=dtype, seed=0, variant="lectures", dropout=0.0)
    if net == "alexnet_smoke":
        return _conv_net(ALEXNET_SMOKE, p["in_channels"], p["input_size"], (8, 8), p["num_classes"], dtype, 0,
                         dropout=0.0)
    if net in ("vgg_two_stage", "vgg_two_stage_smoke"):
        spec = VGG_TWO_STAGE if net == "vgg_two_stage" else VGG_TWO_STAGE_SMOKE
        head = (VGG_HEAD,) if net == "vgg_two_stage" else (6,)
        return _conv_net(spec, p["in_channels"], p["input_size"], head, p["num_classes"], dtype, 0)
    raise AssertionError(net)


def training_data(case, size, dtype):
    """A seeded batch for the case's network and its int64 labels.

    LeNet-5 and the MLP at ``input_size`` 8: the built-in 8x8 digits (images, or flattened for the
    MLP); otherwise random
    normal images (batch, in_channels, input_size, input_size) with random labels.
    """
    p = case.params(size)
    batch, input_size = p["batch"], p.get("input_size", 8)
    if input_size == 8 and _net(case, size) in ("lenet5", "mlp"):
        from .datasets import load_digits
        (x_train, y_train), _ = load_digits(dtype=dtype, flatten=case.op == "mlp_step")
        x = np.ascontiguousarray(x_train[:batch])
        labels = np.asarray(y_train[:batch])
        if labels.ndim > 1:  # one-hot
            labels = labels.argmax(axis=1)
    else:
        rng = np.random.default_rng(_seed(case.id))
        x = rng.standard_normal((batch, p.get("in_channels", 1), input_size, input_size)).astype(dtype)
        labels = rng.integers(0, p.get("num_classes", 10), size=batch)
    return x, labels.astype(np.int64)


_MACS_CACHE = {}


def step_macs(case, size):
    """Multiply-adds of one forward pass of the case's network per sample (Dense and conv layers)."""
    key = (case.id, size)
    if key not in _MACS_CACHE:
        p = case.params(size)
        model = build_model(case, np.float32, size)
        shape = (p.get("in_channels", 1), p.get("input_size", 8), p.get("input_size", 8))
        if case.op == "mlp_step":
            shape = (int(np.prod(shape)),)
        macs = 0
        for layer in _model_layers(model):
            out = layer.output_shape(shape)
            kind = type(layer).__name__
            if kind == "Dense":
                macs += layer.weight.value.size
            elif kind in ("Conv2d", "Conv3d"):
                macs += int(np.prod(out)) * int(np.prod(layer.weight.value.shape[1:]))
            shape = out
        _MACS_CACHE[key] = macs
    return _MACS_CACHE[key]


def _model_layers(model):
    layers = getattr(model, "layers", None)
    return list(layers) if layers is not None else list(model)


def _layer_spec(layer):
    """(kind, dict) of a fastnet layer, enough to rebuild it with other implementations."""
    kind = type(layer).__name__
    spec = {}
    if kind in ("Dense", "Conv2d", "Conv3d"):
        spec["w"] = layer.weight.value
        spec["b"] = layer.bias.value if layer.bias is not None else None
    if kind in ("Conv2d", "Conv3d", "MaxPool2d", "MaxPool3d"):
        spec["stride"], spec["padding"] = tuple(layer.stride), tuple(layer.padding)
    if kind in ("MaxPool2d", "MaxPool3d"):
        spec["kernel_size"] = tuple(layer.kernel_size)
    if kind == "Dropout":
        if layer.p != 0.0:  # a random mask differs between implementations: no comparable result
            raise Skip(f"layer Dropout(p={layer.p}): the training-step benchmark needs p=0 (deterministic)")
        spec["p"] = 0.0
    if kind not in ("Dense", "Conv2d", "Conv3d", "MaxPool2d", "MaxPool3d", "Flatten", "Sigmoid", "Tanh",
                    "ReLU", "Dropout"):
        raise Skip(f"layer {kind} has no counterpart in the numpy/torch training-step benchmark")
    return kind, spec


LEARNING_RATE = 0.01


def _fastnet_step(model, x, labels):
    from . import ops, optim
    params = model.parameters()
    initial = [p.value.copy() for p in params]
    opt = optim.SGD(params, lr=LEARNING_RATE)

    def fn():
        for p, v in zip(params, initial):  # every step starts from the same weights: comparable output
            np.copyto(p.value, v)
        model.zero_grad()
        logits = model.forward(x)
        loss, dlogits = ops.cross_entropy(logits, labels)
        model.backward(dlogits, input_grad=False)   # as in PyTorch: the images need no gradient
        opt.step()
        return (np.asarray(loss),) + tuple(p.value for p in params)  # no copy: see module docstring
    return fn


def _functional_step(model, x, labels, impl):
    """The same model and step written with an ops namespace (numpy or numpy_loops), plain SGD."""
    from .benchmarks import _module
    m = _module(impl)
    specs = [_layer_spec(layer) for layer in _model_layers(model)]
    params = []  # (spec dict, key) of every trainable array, in model.parameters() order
    for kind, spec in specs:
        for key in ("w", "b"):
            if spec.get(key) is not None:
                spec[key] = spec[key].copy()
                params.append((spec, key))
    initial = [spec[key].copy() for spec, key in params]

    def forward(kind, spec, h):
        if kind == "Dense":
            return m.dense(h, spec["w"], spec["b"])
        if kind in ("Conv2d", "Conv3d"):
            return getattr(m, kind.lower())(h, spec["w"], spec["b"], stride=spec["stride"],
                                            padding=spec["padding"])
        if kind in ("MaxPool2d", "MaxPool3d"):
            return getattr(m, kind.lower())(h, spec["kernel_size"], spec["stride"], spec["padding"])
        if kind == "Flatten":
            return h.reshape(h.shape[0], -1)
        if kind == "Dropout":  # p=0: the identity
            return h
        return getattr(m, kind.lower())(h)

    def fn():
        for (spec, key), v in zip(params, initial):
            np.copyto(spec[key], v)
        inputs, h = [], x
        for kind, spec in specs:
            inputs.append(h)
            h = forward(kind, spec, h)
            spec["_y"] = h
        loss, d = m.cross_entropy(h, labels)
        grads = {}
        for (kind, spec), h_in in zip(reversed(specs), reversed(inputs)):
            if kind == "Dense":
                d, dw, db = m.dense_backward(h_in, spec["w"], d)
            elif kind in ("Conv2d", "Conv3d"):
                d, dw, db = getattr(m, kind.lower() + "_backward")(h_in, spec["w"], d, stride=spec["stride"],
                                                                   padding=spec["padding"])
            elif kind in ("MaxPool2d", "MaxPool3d"):
                d = getattr(m, kind.lower() + "_backward")(h_in, d, spec["kernel_size"], spec["stride"],
                                                           spec["padding"])
            elif kind == "Flatten":
                d = d.reshape(h_in.shape)
            elif kind == "Dropout":
                pass
            elif kind == "ReLU":
                d = m.relu_backward(h_in, d)
            else:
                d = getattr(m, kind.lower() + "_backward")(spec["_y"], d)
            if kind in ("Dense", "Conv2d", "Conv3d"):
                grads[id(spec)] = (dw, db)
        for spec, key in params:
            g = grads[id(spec)][0 if key == "w" else 1]
            spec[key] -= spec[key].dtype.type(LEARNING_RATE) * g
        return (np.asarray(loss),) + tuple(spec[key] for spec, key in params)
    return fn


def _torch_step(model, x, labels):
    from .benchmarks import _torch
    torch = _torch()
    nn = torch.nn
    modules = []
    for layer in _model_layers(model):
        kind, spec = _layer_spec(layer)
        if kind == "Dense":
            w = spec["w"]
            mod = nn.Linear(w.shape[1], w.shape[0], bias=spec["b"] is not None)
        elif kind in ("Conv2d", "Conv3d"):
            w = spec["w"]
            cls = nn.Conv2d if kind == "Conv2d" else nn.Conv3d
            mod = cls(w.shape[1], w.shape[0], w.shape[2:], stride=spec["stride"], padding=spec["padding"],
                      bias=spec["b"] is not None)
        elif kind in ("MaxPool2d", "MaxPool3d"):
            cls = nn.MaxPool2d if kind == "MaxPool2d" else nn.MaxPool3d
            mod = cls(spec["kernel_size"], spec["stride"], spec["padding"])
        elif kind == "Flatten":
            mod = nn.Flatten()
        elif kind == "Dropout":
            mod = nn.Dropout(spec["p"])
        else:
            mod = getattr(nn, kind)()
        if kind in ("Dense", "Conv2d", "Conv3d"):
            mod = mod.to(torch.from_numpy(spec["w"]).dtype)
            with torch.no_grad():
                mod.weight.copy_(torch.from_numpy(spec["w"]))
                if spec["b"] is not None:
                    mod.bias.copy_(torch.from_numpy(spec["b"]))
        modules.append(mod)
    net = nn.Sequential(*modules)
    params = list(net.parameters())
    initial = [p.detach().clone() for p in params]
    opt = torch.optim.SGD(params, lr=LEARNING_RATE)
    xt, yt = torch.from_numpy(x), torch.from_numpy(labels)
    loss_fn = nn.CrossEntropyLoss()

    def fn():
        with torch.no_grad():
            for p, v in zip(params, initial):
                p.copy_(v)
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(net(xt), yt)
        loss.backward()
        opt.step()
        return (loss.detach().numpy(),) + tuple(p.detach().numpy() for p in params)
    return fn



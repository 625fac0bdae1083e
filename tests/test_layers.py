"""Layers: forward against plain NumPy, float64 central-difference checks of every backward (input
and parameter gradients), gradient accumulation, output shapes, initialisation and argument errors."""

import numpy as np
import pytest

from fastnet import layers
from fastnet.layers import Conv2d, Conv3d, Dense, Flatten, MaxPool2d, MaxPool3d, ReLU, Sigmoid, Tanh
from fastnet.parameter import Parameter

from helpers import DTYPES, assert_close, assert_gradient, rng


def away_from_zero(x, margin=0.05):
    """Push values out of (-margin, margin): ReLU's kink must not sit inside a finite difference."""
    return np.where(np.abs(x) < margin, np.sign(x + 1e-300) * margin + x, x)


# (id, layer factory, input shape); all float64 for the gradient checks
GRAD_CASES = [
    ("dense", lambda: Dense(5, 3, dtype=np.float64, seed=1), (4, 5)),
    ("dense-nobias", lambda: Dense(5, 3, bias=False, dtype=np.float64, seed=1), (2, 5)),
    ("conv2d", lambda: Conv2d(2, 3, 3, dtype=np.float64, seed=1), (2, 2, 5, 5)),
    ("conv2d-s2p1", lambda: Conv2d(2, 3, 3, stride=2, padding=1, dtype=np.float64, seed=1), (1, 2, 6, 5)),
    ("conv2d-rect", lambda: Conv2d(1, 2, (2, 3), stride=(1, 2), padding=(1, 0), dtype=np.float64, seed=1),
     (1, 1, 4, 6)),
    ("conv3d", lambda: Conv3d(2, 2, 2, dtype=np.float64, seed=1), (1, 2, 3, 4, 3)),
    ("conv3d-s2p1", lambda: Conv3d(1, 2, 3, stride=2, padding=1, dtype=np.float64, seed=1), (1, 1, 4, 4, 4)),
    ("maxpool2d", lambda: MaxPool2d(2), (2, 2, 4, 4)),
    ("maxpool2d-s1p1", lambda: MaxPool2d(3, stride=1, padding=1), (1, 2, 4, 5)),
    ("maxpool3d", lambda: MaxPool3d(2), (1, 2, 4, 4, 4)),
    ("maxpool3d-s1", lambda: MaxPool3d((2, 2, 1), stride=1), (1, 1, 3, 3, 2)),
    ("flatten", lambda: Flatten(), (2, 3, 2, 2)),
    ("sigmoid", lambda: Sigmoid(), (3, 4)),
    ("tanh", lambda: Tanh(), (3, 4)),
    ("relu", lambda: ReLU(), (3, 4)),
]


@pytest.mark.parametrize("name,factory,shape", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_float64(name, factory, shape):
    layer = factory()
    r = rng(7)
    x = r.standard_normal(shape)
    if name == "relu":
        x = away_from_zero(x)
    y = layer.forward(x)
    assert y.dtype == np.float64
    assert y.shape == (shape[0],) + layer.output_shape(shape[1:])
    dy = r.standard_normal(y.shape)
    layer.zero_grad()
    dx = layer.backward(dy)
    assert dx.shape == x.shape and dx.dtype == np.float64
    assert_gradient(dx, lambda v: layer.forward(v), x, dy)
    for p in layer.parameters():
        analytic = p.grad.copy()
        assert_gradient(analytic, lambda _: layer.forward(x), p.value, dy)


@pytest.mark.parametrize("name,factory,shape", GRAD_CASES[:7], ids=[c[0] for c in GRAD_CASES[:7]])
def test_backward_accumulates_into_grad(name, factory, shape):
    layer = factory()
    x = rng(1).standard_normal(shape)
    y = layer.forward(x)
    dy = rng(2).standard_normal(y.shape)
    layer.backward(dy)
    once = [p.grad.copy() for p in layer.parameters()]
    layer.backward(dy)
    for p, g in zip(layer.parameters(), once):
        assert np.any(g != 0)
        np.testing.assert_allclose(p.grad, 2 * g, rtol=1e-12)
    layer.zero_grad()
    assert all(not p.grad.any() for p in layer.parameters())


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_forward_matches_numpy(dtype):
    layer = Dense(6, 4, dtype=dtype, seed=3)
    layer.bias.value[...] = rng(4).standard_normal(4)
    x = rng(5).standard_normal((3, 6)).astype(dtype)
    y = layer(x)
    assert_close(y, x.astype(np.float64) @ layer.weight.value.T.astype(np.float64) + layer.bias.value, dtype)


def naive_conv2d(x, w, b, stride, padding):
    n, c, h, wd = x.shape
    k, _, fh, fw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho = (h + 2 * padding - fh) // stride + 1
    wo = (wd + 2 * padding - fw) // stride + 1
    y = np.zeros((n, k, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + fh, j * stride:j * stride + fw]
            y[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1)])
def test_conv2d_forward_matches_naive(dtype, stride, padding):
    layer = Conv2d(2, 3, 3, stride=stride, padding=padding, dtype=dtype, seed=0)
    layer.bias.value[...] = [0.1, -0.2, 0.3]
    x = rng(1).standard_normal((2, 2, 6, 7)).astype(dtype)
    expected = naive_conv2d(x.astype(np.float64), layer.weight.value.astype(np.float64),
                            layer.bias.value.astype(np.float64), stride, padding)
    assert_close(layer(x), expected, dtype, scale=10)


def test_maxpool_and_activations_forward_values():
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(MaxPool2d(2)(x)[0, 0], [[5, 7], [13, 15]])
    v = np.array([[-400.0, -1.0, 0.5, 400.0]])
    assert_close(Sigmoid()(v), 1 / (1 + np.exp(-np.clip(v, -700, 700))), np.float64)
    assert_close(Tanh()(v), np.tanh(v), np.float64)
    np.testing.assert_array_equal(ReLU()(v), [[0, 0, 0.5, 400]])
    assert np.all(np.isfinite(Sigmoid()(v.astype(np.float32))))


def test_layers_match_torch_float64():
    torch = pytest.importorskip("torch")
    conv = Conv2d(2, 4, 3, stride=2, padding=1, dtype=np.float64, seed=0)
    dense = Dense(4 * 2 * 2, 5, dtype=np.float64, seed=1)
    conv.bias.value[...] = rng(2).standard_normal(4)
    dense.bias.value[...] = rng(3).standard_normal(5)
    pool, flat, act = MaxPool2d(2), Flatten(), Tanh()
    x = rng(4).standard_normal((3, 2, 8, 8))
    y = dense(flat(pool(act(conv(x)))))
    dy = rng(5).standard_normal(y.shape)
    dx = conv.backward(act.backward(pool.backward(flat.backward(dense.backward(dy)))))

    tx = torch.tensor(x, requires_grad=True)
    tcw = torch.tensor(conv.weight.value, requires_grad=True)
    tcb = torch.tensor(conv.bias.value, requires_grad=True)
    tdw = torch.tensor(dense.weight.value, requires_grad=True)
    tdb = torch.tensor(dense.bias.value, requires_grad=True)
    h = torch.nn.functional.conv2d(tx, tcw, tcb, stride=2, padding=1)
    h = torch.nn.functional.max_pool2d(torch.tanh(h), 2).reshape(3, -1)
    ty = torch.nn.functional.linear(h, tdw, tdb)
    ty.backward(torch.tensor(dy))
    assert_close(y, ty.detach().numpy(), np.float64)
    assert_close(dx, tx.grad.numpy(), np.float64)
    for mine, theirs in [(conv.weight, tcw), (conv.bias, tcb), (dense.weight, tdw), (dense.bias, tdb)]:
        assert_close(mine.grad, theirs.grad.numpy(), np.float64)


# ---- initialisation and dtypes -------------------------------------------------------------


def test_default_dtype_is_float32_and_float64_allowed():
    assert Dense(3, 2).weight.value.dtype == np.float32
    assert Conv2d(1, 2, 3).bias.value.dtype == np.float32
    assert Conv3d(1, 2, 3, dtype=np.float64).weight.value.dtype == np.float64
    assert Dense(3, 2, dtype="float64").dtype == np.float64


def test_seeded_initialisation_is_reproducible():
    a, b, c = Dense(20, 10, seed=5), Dense(20, 10, seed=5), Dense(20, 10, seed=6)
    np.testing.assert_array_equal(a.weight.value, b.weight.value)
    assert not np.array_equal(a.weight.value, c.weight.value)
    assert not a.bias.value.any()
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    np.testing.assert_array_equal(Conv2d(2, 3, 3, seed=g1).weight.value, Conv2d(2, 3, 3, seed=g2).weight.value)


def test_xavier_and_he_scales():
    xavier = Dense(400, 200, init="xavier", dtype=np.float64, seed=0).weight.value
    limit = np.sqrt(6 / 600)
    assert np.abs(xavier).max() <= limit
    assert np.abs(xavier).max() > 0.95 * limit
    np.testing.assert_allclose(xavier.std(), np.sqrt(2 / 600), rtol=0.05)
    he = Conv2d(16, 32, 3, init="he", dtype=np.float64, seed=0).weight.value
    np.testing.assert_allclose(he.std(), np.sqrt(2 / (16 * 9)), rtol=0.05)
    he_u = Dense(300, 300, init="he_uniform", dtype=np.float64, seed=0).weight.value
    assert np.abs(he_u).max() <= np.sqrt(6 / 300)
    xn = Dense(300, 100, init="xavier_normal", dtype=np.float64, seed=0).weight.value
    np.testing.assert_allclose(xn.std(), np.sqrt(2 / 400), rtol=0.05)


@pytest.mark.parametrize("layer,input_shape,expected", [
    (Conv2d(3, 8, 5, stride=1, padding=2), (3, 28, 28), (8, 28, 28)),
    (Conv2d(3, 8, 3, stride=2, padding=0), (3, 9, 10), (8, 4, 4)),
    (Conv3d(1, 4, (3, 3, 1), padding=(1, 1, 0)), (1, 5, 6, 7), (4, 5, 6, 7)),
    (MaxPool2d(2), (6, 7, 8), (6, 3, 4)),
    (MaxPool2d(3, stride=2, padding=1), (2, 8, 8), (2, 4, 4)),
    (MaxPool3d(2), (4, 4, 6, 8), (4, 2, 3, 4)),
    (Flatten(), (3, 4, 5), (60,)),
    (Dense(10, 3), (10,), (3,)),
    (ReLU(), (4, 2), (4, 2)),
])
def test_output_shape(layer, input_shape, expected):
    assert layer.output_shape(input_shape) == expected


# ---- argument errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("make,exc,match", [
    (lambda: Dense(0, 3), ValueError, "in_features"),
    (lambda: Dense(3, -1), ValueError, "out_features"),
    (lambda: Dense(2.5, 3), TypeError, "in_features"),
    (lambda: Dense(True, 3), TypeError, "in_features"),
    (lambda: Dense(3, 3, dtype=np.int32), ValueError, "dtype"),
    (lambda: Dense(3, 3, dtype=np.float16), ValueError, "dtype"),
    (lambda: Dense(3, 3, init="orthogonal"), ValueError, "init"),
    (lambda: Dense(3, 3, seed="x"), TypeError, "seed"),
    (lambda: Conv2d(1, 2, 0), ValueError, "kernel_size"),
    (lambda: Conv2d(1, 2, (3, 3, 3)), ValueError, "kernel_size"),
    (lambda: Conv2d(1, 2, 3, stride=0), ValueError, "stride"),
    (lambda: Conv2d(1, 2, 3, padding=-1), ValueError, "padding"),
    (lambda: Conv2d(0, 2, 3), ValueError, "in_channels"),
    (lambda: Conv3d(1, 2, (3, 3)), ValueError, "kernel_size"),
    (lambda: MaxPool2d(2, padding=2), ValueError, "padding"),
    (lambda: MaxPool3d(0), ValueError, "kernel_size"),
    (lambda: Sigmoid(dtype="int8"), ValueError, "dtype"),
])
def test_constructor_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_forward_input_errors():
    layer = Dense(4, 2)
    with pytest.raises(TypeError, match="float32"):
        layer(np.zeros((3, 4)))  # float64 into a float32 layer
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        layer(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        layer(np.zeros((3, 4, 1), np.float32))
    with pytest.raises(TypeError, match="ndarray"):
        layer([[1.0, 2.0, 3.0, 4.0]])
    with pytest.raises(TypeError, match="dtype"):
        ReLU()(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="channels"):
        Conv2d(3, 2, 3)(np.zeros((1, 2, 5, 5), np.float32))


def test_backward_errors():
    layer = Dense(4, 2, dtype=np.float64)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((1, 2)))
    layer(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="dy"):
        layer.backward(np.zeros((3, 3)))
    with pytest.raises(TypeError, match="dy"):
        layer.backward(np.zeros((3, 2), np.float32))


def test_parameter_basics():
    p = Parameter(np.ones((2, 3), np.float32), "weight")
    assert p.shape == (2, 3) and p.dtype == np.float32 and p.size == 6
    assert p.grad.shape == (2, 3) and not p.grad.any()
    assert "weight" in repr(p)
    with pytest.raises(TypeError, match="value"):
        Parameter(np.ones(3, np.int64))
    with pytest.raises(TypeError, match="value"):
        Parameter([1.0, 2.0])


def test_parameter_zero_grad_is_deferred_but_always_reads_zero():
    """zero_grad() only marks the gradient: reading grad fills the zeros; accumulate_grad copies
    where grad is zero and adds otherwise; grad_target hands out the array once after zero_grad;
    grad is always the same array, and assigning to it copies (same shape required)."""
    p = Parameter(np.ones((2, 3), np.float32))
    g = p.grad
    g[...] = 5
    p.zero_grad()
    assert g[0, 0] == 5                        # not filled yet: deferred
    assert p.grad is g and not g.any()         # filled on reading
    p.zero_grad()
    p.accumulate_grad(np.full((2, 3), 2, np.float32))
    p.accumulate_grad(np.full((2, 3), 3, np.float32))
    np.testing.assert_array_equal(p.grad, np.full((2, 3), 5, np.float32))
    assert p.grad_target() is None             # not zero: a backward must add
    p.zero_grad()
    target = p.grad_target()
    assert target is g and p.grad_target() is None   # once: whoever gets it writes the gradient
    target[...] = 7
    np.testing.assert_array_equal(p.grad, np.full((2, 3), 7, np.float32))
    p.grad = np.arange(6.0).reshape(2, 3)
    assert p.grad is g and g.dtype == np.float32 and g[1, 2] == 5
    with pytest.raises(ValueError, match="grad: expected shape"):
        p.grad = np.zeros(6)


@pytest.mark.parametrize("name,factory,shape", GRAD_CASES[:7], ids=[c[0] for c in GRAD_CASES[:7]])
def test_backward_after_zero_grad_replaces_the_old_gradient(name, factory, shape):
    """After zero_grad() a backward leaves exactly its own gradient (written straight into the
    Dense weight's array, copied for the others), whatever grad held before, and the same
    gradient as a backward into freshly zeroed arrays."""
    layer = factory()
    x = rng(1).standard_normal(shape)
    dy = rng(2).standard_normal(layer.forward(x).shape)
    layer.backward(dy)
    expected = [p.grad.copy() for p in layer.parameters()]
    arrays = [p.grad for p in layer.parameters()]
    for p in layer.parameters():
        p.grad[...] = np.nan                   # stale values a missed element would show
    layer.zero_grad()
    layer.forward(x)
    layer.backward(dy)
    for p, a, e in zip(layer.parameters(), arrays, expected):
        assert p.grad is a
        np.testing.assert_array_equal(p.grad, e)


def test_dense_backward_with_a_failing_dw_keeps_the_gradient_owed(monkeypatch):
    """Where the write into the weight's gradient fails, that gradient still reads zero after."""
    from fastnet import ops
    layer = Dense(5, 3, dtype=np.float64, seed=1)
    x = rng(3).standard_normal((4, 5))
    layer.forward(x)
    layer.weight.grad[...] = 9
    layer.zero_grad()

    def failing(*args, **kwargs):
        raise MemoryError("no room")
    monkeypatch.setattr(ops, "dense_backward", failing)
    with pytest.raises(MemoryError):
        layer.backward(np.ones((4, 3)))
    assert not layer.weight.grad.any()


def test_dense_backward_writes_dw_into_a_given_array():
    from fastnet import ops
    x = rng(4).standard_normal((4, 5)).astype(np.float32)
    w = rng(5).standard_normal((3, 5)).astype(np.float32)
    dy = rng(6).standard_normal((4, 3)).astype(np.float32)
    out = np.full((3, 5), np.nan, np.float32)
    dx, dw, db = ops.dense_backward(x, w, dy, dw=out)
    assert dw is out
    np.testing.assert_array_equal(out, ops.dense_backward(x, w, dy)[1])
    with pytest.raises(TypeError, match="dw: expected dtype float32"):
        ops.dense_backward(x, w, dy, dw=np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"dw: expected shape \(3, 5\)"):
        ops.dense_backward(x, w, dy, dw=np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        ops.dense_backward(x, w, dy, dw=np.zeros((5, 3), np.float32).T)
    with pytest.raises(ValueError, match="share memory"):
        ops.dense_backward(x, w, dy, dw=w)
    with pytest.raises(TypeError, match="dw: expected a numpy.ndarray"):
        ops.dense_backward(x, w, dy, dw=[[0.0] * 5] * 3)


def test_layer_registry_lists_every_layer():
    assert set(layers.REGISTRY) == {"Dense", "Conv2d", "Conv3d", "MaxPool2d", "MaxPool3d", "Flatten",
                                    "Sigmoid", "Tanh", "ReLU",
                                    "Conv1d", "MaxPool1d", "AvgPool2d", "GlobalAvgPool2d", "BatchNorm1d",
                                    "BatchNorm2d", "Dropout", "Softmax", "LeakyReLU", "Reshape"}
    for cls in layers.REGISTRY.values():
        config = cls(**{"Dense": dict(in_features=2, out_features=3),
                        "Conv2d": dict(in_channels=1, out_channels=2, kernel_size=3),
                        "Conv3d": dict(in_channels=1, out_channels=2, kernel_size=3),
                        "MaxPool2d": dict(kernel_size=2), "MaxPool3d": dict(kernel_size=2),
                        "Conv1d": dict(in_channels=1, out_channels=2, kernel_size=3),
                        "MaxPool1d": dict(kernel_size=2), "AvgPool2d": dict(kernel_size=2),
                        "BatchNorm1d": dict(num_features=2), "BatchNorm2d": dict(num_features=2),
                        "Dropout": dict(p=0.3, seed=1), "Reshape": dict(shape=(2, -1))}
                     .get(cls.__name__, {})).get_config()
        cls(**config)  # rebuildable from its own config

"""Winograd F(2x2, 3x3) conv2d (algorithm="winograd"): reference loops, PyTorch, central differences,
error bound, determinism, validation, the Conv2d layer keyword; the weight transform's panels, the
work split, and the AVX2 tile shapes in a fresh process."""

import os
import subprocess
import sys

import numba
import numpy as np
import pytest

import fastnet
from fastnet import layers
from fastnet.kernels import conv2d as k2
from fastnet.kernels import _config, winograd
from fastnet.kernels.microkernel import tile_shape
from fastnet.ops import conv2d, conv2d_backward
from fastnet.reference import naive_conv
from helpers import DTYPES, assert_close, conv_problem, conv_scale, rng

# (x shape, K, padding): odd and even sizes (odd Ho/Wo leave half tiles), batch 1, C and K not
# multiples of anything, padding 0..3 (3: wider than the filter; dx then takes the direct form),
# one tile row, a single output; tile rows of 2 to 15 tiles (the output transform takes W, W/2 or
# W/4 tiles per call by the row's width) and chunks that cross tile rows and images.
CASES = [
    pytest.param((2, 3, 7, 6), 4, 1, id="odd-h-p1"),
    pytest.param((1, 5, 9, 8), 7, 0, id="batch1-p0"),
    pytest.param((2, 17, 8, 11), 19, 2, id="C17-K19-p2"),
    pytest.param((1, 2, 3, 3), 3, 0, id="one-output"),
    pytest.param((3, 1, 4, 13), 1, 1, id="C1-K1-one-tile-row"),
    pytest.param((1, 6, 5, 5), 2, 3, id="p3"),
    pytest.param((2, 33, 30, 29), 35, 1, id="several-chunks"),
]


def _reference(x, w, b, padding):
    return naive_conv.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 1, padding)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, k, padding", CASES)
def test_matches_reference(xs, k, padding, dtype):
    ws = (k, xs[1], 3, 3)
    x, w, b = conv_problem(xs, ws, dtype)
    y = conv2d(x, w, b, 1, padding, algorithm="winograd")
    assert_close(y, _reference(x, w, b, padding).astype(dtype), dtype, scale=conv_scale(ws))
    dy = rng(1).standard_normal(y.shape).astype(dtype)
    dx, dw, db = conv2d_backward(x, w, dy, 1, padding, algorithm="winograd")
    ex, ew, eb = naive_conv.conv2d_backward(x.astype(np.float64), w.astype(np.float64),
                                            dy.astype(np.float64), 1, padding)
    assert_close(dx, ex.astype(dtype), dtype, scale=conv_scale((xs[1], k, 3, 3)))
    assert_close(dw, ew.astype(dtype), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)
    assert_close(db, eb.astype(dtype), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_directly_with_asymmetric_padding(dtype):
    x, w, b = conv_problem((2, 4, 7, 10), (5, 4, 3, 3), dtype, seed=2)
    y = np.full((2, 5, 7, 8), np.nan, dtype=dtype)   # ph = 1, pw = 0: Ho = 7, Wo = 8
    winograd.conv2d_forward_winograd(x, w, b, y, 1, 0)
    assert_close(y, _reference(x, w, b, (1, 0)).astype(dtype), dtype, scale=conv_scale(w.shape))


@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_transform_matches_the_formula(dtype):
    # K = 5 in panels of 4 (the second panel has 3 zero columns); C = 70: two channel blocks
    w = rng(3).standard_normal((5, 70, 3, 3)).astype(dtype)
    g = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
    u = winograd.winograd_weights(w, 4)
    assert u.shape == (16, 2, 70, 4) and u.dtype == dtype
    assert not u[:, 1, :, 1:].any()   # the padding is zero
    for k in range(5):
        for c in range(70):
            exact = (g @ w[k, c].astype(np.float64) @ g.T).reshape(16)
            if dtype == np.float64:
                np.testing.assert_allclose(u[:, k // 4, c, k % 4], exact, rtol=1e-15, atol=1e-15)
            else:   # computed in float64, rounded once: at most one float32 rounding step apart
                np.testing.assert_allclose(u[:, k // 4, c, k % 4], exact.astype(np.float32),
                                           rtol=2.0 ** -23, atol=0)


def test_work_split():
    """Chunks are whole micro-kernel row groups; the output channels split into whole panels only
    where the tiles alone leave at most MIN_CHUNKS / 2 chunks."""
    assert winograd.work_split(8, 56, 56, 64, 8, 32) == (64, 64)     # VGG 64 -> 64: 98 chunks
    assert winograd.work_split(8, 14, 14, 256, 8, 32) == (16, 256)   # 392 tiles: 25 chunks
    assert winograd.work_split(1, 14, 14, 256, 8, 32) == (8, 64)     # 49 tiles: 7 chunks x 4 blocks
    assert winograd.work_split(1, 3, 3, 3, 8, 32) == (8, 32)          # one tile, one panel
    for n, ho, wo, k in [(2, 30, 29, 35), (1, 1, 1, 1), (3, 2, 26, 1), (4, 14, 14, 512)]:
        for mr, nr in [(8, 32), (8, 16), (6, 16), (6, 8)]:
            per, block = winograd.work_split(n, ho, wo, k, mr, nr)
            assert per % mr == 0 and per >= mr and block % nr == 0 and nr <= block <= -(-k // nr) * nr


def test_output_channel_blocks():
    """A small layer (9 tiles: 2 chunks) whose output channels are split into blocks of one panel,
    K not a multiple of the panel or vector width."""
    x, w, b = conv_problem((1, 20, 6, 6), (70, 20, 3, 3), np.float32, seed=13)
    mr, nr = tile_shape(np.dtype(np.float32))
    assert winograd.work_split(1, 6, 6, 70, mr, nr)[1] < -(-70 // nr) * nr
    y = conv2d(x, w, b, 1, 1, algorithm="winograd")
    assert_close(y, _reference(x, w, b, 1).astype(np.float32), np.float32, scale=conv_scale(w.shape))


_OTHER_TARGET = """
import numpy as np
from fastnet.kernels import winograd
from fastnet.kernels._config import vector_bytes
from fastnet.reference import naive_conv
errors = []
for dtype in (np.float32, np.float64):
    for xs, k, (ph, pw) in [((2, 9, 9, 31), 21, (1, 1)), ((1, 5, 8, 9), 3, (2, 0))]:
        g = np.random.default_rng(0)
        x = g.standard_normal(xs).astype(dtype)
        w = g.standard_normal((k, xs[1], 3, 3)).astype(dtype)
        b = g.standard_normal(k).astype(dtype)
        y = np.full((xs[0], k, xs[2] + 2 * ph - 2, xs[3] + 2 * pw - 2), np.nan, dtype)
        winograd.conv2d_forward_winograd(x, w, b, y, ph, pw)
        e = naive_conv.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 1, (ph, pw))
        errors.append(np.abs(y - e).max() / np.abs(e).max())
print(vector_bytes(), *errors)
"""


@pytest.mark.skipif(_config.vector_bytes() != 64, reason="covers the AVX2 tile shapes on an AVX-512 host")
def test_avx2_tile_shapes():
    """The AVX2 recipe (NUMBA_CPU_NAME=znver3 NUMBA_CPU_FEATURES=""): 6-row tiles, 8 float32 lanes,
    so other chunk sizes and transposes than this host's; checked in a fresh process."""
    env = dict(os.environ, NUMBA_CPU_NAME="znver3", NUMBA_CPU_FEATURES="", NUMBA_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", _OTHER_TARGET], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    width, *errors = out.stdout.split()
    assert width == "32"
    assert all(float(e) <= 1e-5 for e in errors[:2]) and all(float(e) <= 1e-12 for e in errors[2:]), errors


@pytest.mark.parametrize("channels", [64, 256])
def test_float32_error_bound(channels):
    """float32 Winograd error against the float64 reference: max |error| <= 1e-5 * max |y|
    (measured about 5e-7), within a few times the direct kernels' own error."""
    x, w, b = conv_problem((1, channels, 10, 10), (8, channels, 3, 3), np.float32, seed=4)
    exact = _reference(x, w, b, 1)
    scale = np.abs(exact).max()
    wino = np.abs(conv2d(x, w, b, 1, 1, algorithm="winograd") - exact).max() / scale
    direct = np.abs(conv2d(x, w, b, 1, 1, algorithm="direct") - exact).max() / scale
    assert wino <= 1e-5
    assert wino <= 10 * max(direct, 1e-7)


def test_central_difference_gradients():
    x, w, b = conv_problem((2, 3, 5, 6), (4, 3, 3, 3), np.float64, seed=5)
    compared = fastnet.gradcheck(
        lambda x, w, b: conv2d(x, w, b, 1, 1, algorithm="winograd"), (x, w, b),
        backward=lambda x, w, b, dy: conv2d_backward(x, w, dy, 1, 1, algorithm="winograd"),
        atol=1e-8, rtol=1e-6)
    assert [c.name for c in compared] == ["input 0", "input 1", "input 2"]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, k, padding", [((2, 16, 11, 10), 24, 1), ((1, 7, 9, 9), 5, 2)])
def test_matches_torch(torch, xs, k, padding, dtype):
    ws = (k, xs[1], 3, 3)
    x, w, b = conv_problem(xs, ws, dtype, seed=6)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, padding=padding)
    y = conv2d(x, w, b, 1, padding, algorithm="winograd")
    assert_close(y, ty.detach().numpy(), dtype, scale=conv_scale(ws))
    dy = rng(7).standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(dy))
    dx, dw, db = conv2d_backward(x, w, dy, 1, padding, algorithm="winograd")
    assert_close(dx, tx.grad.numpy(), dtype, scale=conv_scale((xs[1], k, 3, 3)))
    assert_close(dw, tw.grad.numpy(), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)


def test_deterministic_across_runs_and_thread_counts():
    # several chunks (196 tiles, 8 per chunk), so that threads really split the work
    x, w, _ = conv_problem((4, 8, 14, 14), (8, 8, 3, 3), np.float32, seed=8)
    dy = rng(9).standard_normal((4, 8, 14, 14)).astype(np.float32)

    def run():
        return (conv2d(x, w, None, 1, 1, algorithm="winograd"),) + \
            conv2d_backward(x, w, dy, 1, 1, algorithm="winograd")

    first, again = run(), run()
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = run()
    finally:
        numba.set_num_threads(old)
    for a, b, c in zip(first, again, single):
        assert np.array_equal(a, b)
        assert np.array_equal(a, c)


def test_auto_follows_the_dispatch_constants(monkeypatch):
    x, w, b = conv_problem((1, 4, 6, 6), (4, 4, 3, 3), np.float32, seed=10)
    direct = conv2d(x, w, b, 1, 1, algorithm="direct")
    wino = conv2d(x, w, b, 1, 1, algorithm="winograd")
    assert not np.array_equal(direct, wino)   # different rounding: tells the paths apart
    monkeypatch.setattr(k2, "WINOGRAD_AUTO", False)
    assert np.array_equal(conv2d(x, w, b, 1, 1), direct)
    monkeypatch.setattr(k2, "WINOGRAD_AUTO", True)
    monkeypatch.setattr(k2, "WINOGRAD_MIN_CHANNELS", 4)
    monkeypatch.setattr(k2, "WINOGRAD_MIN_TILES", 9)   # 3 x 3 tiles of 2 x 2 outputs
    assert np.array_equal(conv2d(x, w, b, 1, 1), wino)
    dy = rng(12).standard_normal(direct.shape).astype(np.float32)
    assert np.array_equal(conv2d_backward(x, w, dy, 1, 1)[0],
                          conv2d_backward(x, w, dy, 1, 1, algorithm="winograd")[0])
    assert np.array_equal(conv2d(x, w, b, 2, 1), conv2d(x, w, b, 2, 1, algorithm="direct"))  # strided
    monkeypatch.setattr(k2, "WINOGRAD_MIN_TILES", 10)
    assert np.array_equal(conv2d(x, w, b, 1, 1), direct)
    monkeypatch.setattr(k2, "WINOGRAD_MIN_TILES", 9)
    monkeypatch.setattr(k2, "WINOGRAD_MIN_CHANNELS", 5)
    assert np.array_equal(conv2d(x, w, b, 1, 1), direct)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(algorithm="fast"), ValueError, r"^algorithm: expected one of 'auto', 'direct', 'winograd', got 'fast'"),
    (dict(algorithm=None), TypeError, "^algorithm: expected one of"),
    (dict(algorithm="winograd", stride=2), ValueError, "^algorithm: 'winograd' needs 3x3 filters at stride 1"),
    (dict(algorithm="winograd", w_shape=(2, 3, 5, 5)), ValueError, r"^algorithm: 'winograd' needs 3x3.*5x5"),
    (dict(algorithm="winograd", w_shape=(2, 3, 3, 1)), ValueError, r"^algorithm: 'winograd' needs 3x3.*3x1"),
])
def test_bad_algorithm(kwargs, error, match):
    kwargs = dict(kwargs)
    w = np.zeros(kwargs.pop("w_shape", (2, 3, 3, 3)), np.float32)
    x = np.zeros((1, 3, 8, 8), np.float32)
    with pytest.raises(error, match=match):
        conv2d(x, w, None, padding=1, **kwargs)
    dy = np.zeros(conv2d(x, w, None, stride=kwargs.get("stride", 1), padding=1).shape, np.float32)
    with pytest.raises(error, match=match):
        conv2d_backward(x, w, dy, padding=1, **kwargs)


def test_conv2d_layer_algorithm():
    layer = layers.Conv2d(3, 4, 3, padding=1, dtype=np.float64, seed=0, algorithm="winograd")
    assert layer.get_config()["algorithm"] == "winograd"
    assert "algorithm" not in layers.Conv2d(3, 4, 3).get_config()   # "auto": config as before
    again = layers.Conv2d(**layer.get_config())
    assert again.algorithm == "winograd"
    x = rng(11).standard_normal((2, 3, 6, 7))
    y = layer.forward(x)
    assert np.array_equal(y, conv2d(x, layer.weight.value, layer.bias.value, 1, 1, algorithm="winograd"))
    fastnet.gradcheck(layer, x, atol=1e-8, rtol=1e-6)
    with pytest.raises(ValueError, match="^algorithm: expected one of"):
        layers.Conv2d(3, 4, 3, algorithm="fft")
    with pytest.raises(ValueError, match="^algorithm: 'winograd' needs kernel_size 3 and stride 1"):
        layers.Conv2d(3, 4, 3, stride=2, algorithm="winograd")
    with pytest.raises(ValueError, match="^algorithm: 'winograd' needs kernel_size 3"):
        layers.Conv2d(3, 4, 5, algorithm="winograd")

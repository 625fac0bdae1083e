"""Winograd F(2x2x2, 3x3x3) conv3d (algorithm="winograd"): reference loops, PyTorch, central
differences, error bound, determinism, validation, the "auto" rule, the Conv3d layer keyword; the
weight transform, the work split, NaN, and the AVX2 tile shapes in a fresh process."""

import numba
import numpy as np
import pytest

import fastnet
from fastnet import layers
from fastnet.kernels import _config, winograd3d, winograd3d_weight
from fastnet.kernels.microkernel import tile_shape
from fastnet.ops import conv3d, conv3d_backward
from fastnet.reference import naive_conv
from helpers import DTYPES, assert_close, avx2_errors, conv_problem, conv_scale, rng

# (x shape, K, padding): odd and even sizes on every axis (odd Do/Ho/Wo leave half tiles), batch 1,
# C and K not multiples of anything, padding 0..3 (3: wider than the filter; dx then takes the
# direct form) and asymmetric, a single output, one tile deep; rows of 2 to 15 tiles (the output
# transform takes W, W/2 or W/4 tiles per call) and chunks that cross rows, planes and volumes.
CASES = [
    pytest.param((2, 3, 5, 6, 7), 4, 1, id="odd-even-p1"),
    pytest.param((1, 5, 4, 9, 8), 7, 0, id="batch1-p0"),
    pytest.param((2, 17, 3, 8, 11), 19, 2, id="C17-K19-p2"),
    pytest.param((1, 2, 3, 3, 3), 3, 0, id="one-output"),
    pytest.param((3, 1, 2, 4, 13), 1, 1, id="C1-K1-one-tile-deep"),
    pytest.param((1, 6, 4, 5, 5), 2, 3, id="p3"),
    pytest.param((2, 4, 5, 6, 4), 3, (0, 2, 1), id="asymmetric-padding"),
    pytest.param((2, 33, 6, 12, 29), 35, 1, id="several-chunks"),
]


def _reference(x, w, b, padding):
    return naive_conv.conv3d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 1, padding)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, k, padding", CASES)
def test_matches_reference(xs, k, padding, dtype):
    ws = (k, xs[1], 3, 3, 3)
    x, w, b = conv_problem(xs, ws, dtype)
    y = conv3d(x, w, b, 1, padding, algorithm="winograd")
    assert_close(y, _reference(x, w, b, padding).astype(dtype), dtype, scale=conv_scale(ws))
    dy = rng(1).standard_normal(y.shape).astype(dtype)
    dx, dw, db = conv3d_backward(x, w, dy, 1, padding, algorithm="winograd")
    ex, ew, eb = naive_conv.conv3d_backward(x.astype(np.float64), w.astype(np.float64),
                                            dy.astype(np.float64), 1, padding)
    assert_close(dx, ex.astype(dtype), dtype, scale=conv_scale((xs[1], k, 3, 3, 3)))
    assert_close(dw, ew.astype(dtype), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)
    assert_close(db, eb.astype(dtype), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", [(1, 0, 2), (2, 2, 2), (0, 0, 0)])
def test_kernels_directly(padding, dtype):
    """The forward and backward-input kernels write every element of their outputs (NaN-filled
    before) with the reference values; the backward-input kernel for every padding it accepts."""
    x, w, b = conv_problem((2, 5, 4, 7, 6), (6, 5, 3, 3, 3), dtype, seed=2)
    exact = _reference(x, w, b, padding)
    y = np.full(exact.shape, np.nan, dtype=dtype)
    winograd3d.conv3d_forward_winograd(x, w, b, y, *padding)
    assert_close(y, exact.astype(dtype), dtype, scale=conv_scale(w.shape))
    dy = rng(3).standard_normal(y.shape).astype(dtype)
    dx = np.full(x.shape, np.nan, dtype=dtype)
    winograd3d.conv3d_backward_input_winograd(dy, w, dx, *padding)
    ex = naive_conv.conv3d_backward(x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64), 1,
                                    padding)[0]
    assert_close(dx, ex.astype(dtype), dtype, scale=conv_scale((5, 6, 3, 3, 3)))


def _g():
    return np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("flip", [False, True])
def test_weight_transform_matches_the_formula(flip, dtype):
    # 5 output channels in panels of 4 (the second panel has 3 zero columns); 70 input channels:
    # two channel blocks. flip: the backward-input filters w[c, o, ::-1, ::-1, ::-1], read in place.
    w = rng(3).standard_normal((70, 5, 3, 3, 3) if flip else (5, 70, 3, 3, 3)).astype(dtype)
    g = _g()
    u = winograd3d.winograd3d_weights(w, 4, flip)
    assert u.shape == (64, 2, 70, 4) and u.dtype == dtype
    assert not u[:, 1, :, 1:].any()   # the padding is zero
    for k in range(5):
        for c in range(70):
            f = (w[c, k, ::-1, ::-1, ::-1] if flip else w[k, c]).astype(np.float64)
            exact = np.einsum("ia,jb,le,abe->ijl", g, g, g, f).reshape(64)
            if dtype == np.float64:
                np.testing.assert_allclose(u[:, k // 4, c, k % 4], exact, rtol=1e-14, atol=1e-14)
            else:   # computed in float64, rounded once: at most one float32 rounding step apart
                np.testing.assert_allclose(u[:, k // 4, c, k % 4], exact.astype(np.float32),
                                           rtol=2.0 ** -23, atol=0)


def test_transforms_are_the_1d_transforms_on_each_axis():
    """One tile, one channel: y = A^T [(G g) * (B^T d)] with each matrix on each axis, written out
    with the 1-D matrices of F(2, 3), against the kernel (float64)."""
    bt = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
    at = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)
    d = rng(4).standard_normal((1, 1, 4, 4, 4))
    g = rng(5).standard_normal((1, 1, 3, 3, 3))
    u = np.einsum("ia,jb,le,abe->ijl", _g(), _g(), _g(), g[0, 0])
    v = np.einsum("ia,jb,le,abe->ijl", bt, bt, bt, d[0, 0])
    expected = np.einsum("ia,jb,le,abe->ijl", at, at, at, u * v)
    y = np.empty((1, 1, 2, 2, 2))
    winograd3d.conv3d_forward_winograd(d, g, np.zeros(1), y, 0, 0, 0)
    np.testing.assert_allclose(y[0, 0], expected, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(y, naive_conv.conv3d(d, g), rtol=1e-13, atol=1e-13)


def test_work_split():
    """Chunks are whole micro-kernel row groups; the output channels split into whole panels only
    where the tiles alone leave at most MIN_CHUNKS / 2 chunks."""
    per, block = winograd3d.work_split(2, 8, 28, 28, 64, 8, 32)   # C3D: 1568 tiles
    assert (per, block) == (winograd3d.TILE_TARGET // 8 * 8, 64)
    assert winograd3d.work_split(1, 2, 2, 2, 3, 8, 32) == (8, 32)   # one tile, one panel
    per, block = winograd3d.work_split(1, 4, 6, 6, 128, 8, 32)      # 18 tiles: 3 chunks x 4 blocks
    assert per == 8 and block == 32
    for n, do, ho, wo, k in [(2, 6, 12, 29, 35), (1, 1, 1, 1, 1), (3, 2, 2, 26, 1), (4, 4, 14, 14, 512)]:
        for mr, nr in [(8, 32), (8, 16), (6, 16), (6, 8), (16, 16), (12, 8)]:   # wide and narrow tiles
            per, block = winograd3d.work_split(n, do, ho, wo, k, mr, nr)
            assert per % mr == 0 and per >= mr and block % nr == 0 and nr <= block <= -(-k // nr) * nr


def test_output_channel_blocks():
    """A small layer (18 tiles: 3 chunks) whose output channels are split into blocks of whole
    panels, K not a multiple of the panel or vector width."""
    x, w, b = conv_problem((1, 20, 4, 6, 6), (70, 20, 3, 3, 3), np.float32, seed=13)
    mr, nr = tile_shape(np.dtype(np.float32))
    assert winograd3d.work_split(1, 4, 6, 6, 70, mr, nr)[1] < -(-70 // nr) * nr
    y = conv3d(x, w, b, 1, 1, algorithm="winograd")
    assert_close(y, _reference(x, w, b, 1).astype(np.float32), np.float32, scale=conv_scale(w.shape))


_OTHER_TARGET = """
import numpy as np
from fastnet.kernels import winograd3d
from fastnet.kernels._config import vector_bytes
from fastnet.reference import naive_conv
errors = []
for dtype in (np.float32, np.float64):
    for xs, k, pad in [((2, 9, 3, 5, 31), 21, (1, 1, 1)), ((1, 5, 4, 8, 9), 3, (2, 0, 1))]:
        g = np.random.default_rng(0)
        x = g.standard_normal(xs).astype(dtype)
        w = g.standard_normal((k, xs[1], 3, 3, 3)).astype(dtype)
        b = g.standard_normal(k).astype(dtype)
        y = np.full((xs[0], k) + tuple(s + 2 * p - 2 for s, p in zip(xs[2:], pad)), np.nan, dtype)
        winograd3d.conv3d_forward_winograd(x, w, b, y, *pad)
        e = naive_conv.conv3d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 1, pad)
        errors.append(np.abs(y - e).max() / np.abs(e).max())
print(vector_bytes(), *errors)
"""


@pytest.mark.skipif(_config.vector_bytes() != 64, reason="covers the AVX2 tile shapes on an AVX-512 host")
def test_avx2_tile_shapes():
    """The AVX2 recipe (NUMBA_CPU_NAME=znver3 NUMBA_CPU_FEATURES=""): 6-row tiles, 8 float32 lanes,
    so other chunk sizes and transposes than this host's; checked in a fresh process."""
    errors = avx2_errors(_OTHER_TARGET)
    assert len(errors) == 4
    assert all(e <= 1e-5 for e in errors[:2]) and all(e <= 1e-12 for e in errors[2:]), errors


@pytest.mark.parametrize("channels", [32, 128])
def test_float32_error_bound(channels):
    """float32 Winograd error against the float64 reference: max |error| <= 1e-5 * max |y|
    (measured about 1e-6, see the module docstring), within a few times the direct kernels' own."""
    x, w, b = conv_problem((1, channels, 6, 6, 6), (8, channels, 3, 3, 3), np.float32, seed=4)
    exact = _reference(x, w, b, 1)
    scale = np.abs(exact).max()
    wino = np.abs(conv3d(x, w, b, 1, 1, algorithm="winograd") - exact).max() / scale
    direct = np.abs(conv3d(x, w, b, 1, 1, algorithm="direct") - exact).max() / scale
    assert wino <= 1e-5
    assert wino <= 20 * max(direct, 1e-7)


def test_central_difference_gradients():
    # y is linear in each input, so central differences are exact but for rounding: a step of
    # 1e-4 (not the default 1e-6) keeps that rounding (sums of 81 products per output, 180 outputs
    # per sum) well under atol
    x, w, b = conv_problem((2, 3, 3, 4, 5), (4, 3, 3, 3, 3), np.float64, seed=5)
    compared = fastnet.gradcheck(
        lambda x, w, b: conv3d(x, w, b, 1, 1, algorithm="winograd"), (x, w, b),
        backward=lambda x, w, b, dy: conv3d_backward(x, w, dy, 1, 1, algorithm="winograd"),
        eps=1e-4, atol=1e-8, rtol=1e-6)
    assert [c.name for c in compared] == ["input 0", "input 1", "input 2"]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, k, padding", [((2, 16, 5, 11, 10), 24, 1), ((1, 7, 4, 9, 9), 5, 2)])
def test_matches_torch(torch, xs, k, padding, dtype):
    ws = (k, xs[1], 3, 3, 3)
    x, w, b = conv_problem(xs, ws, dtype, seed=6)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv3d(tx, tw, tb, padding=padding)
    y = conv3d(x, w, b, 1, padding, algorithm="winograd")
    assert_close(y, ty.detach().numpy(), dtype, scale=conv_scale(ws))
    dy = rng(7).standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(dy))
    dx, dw, db = conv3d_backward(x, w, dy, 1, padding, algorithm="winograd")
    assert_close(dx, tx.grad.numpy(), dtype, scale=conv_scale((xs[1], k, 3, 3, 3)))
    assert_close(dw, tw.grad.numpy(), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)


def test_deterministic_across_runs_and_thread_counts():
    # several chunks (4 * 3 * 7 * 7 = 588 tiles), so that threads really split the work; the
    # forward on wide tiles (20 output channels), dx on narrow ones (8)
    x, w, _ = conv_problem((4, 8, 6, 14, 14), (20, 8, 3, 3, 3), np.float32, seed=8)
    dy = rng(9).standard_normal((4, 20, 6, 14, 14)).astype(np.float32)

    def run():
        return (conv3d(x, w, None, 1, 1, algorithm="winograd"),) + \
            conv3d_backward(x, w, dy, 1, 1, algorithm="winograd")

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


def test_nan_reaches_the_outputs_that_see_it_and_stays_in_its_tiles():
    """A NaN input reaches every output whose window holds it; Winograd also spreads it to the
    other outputs of the 2x2x2 tiles whose 4x4x4 input windows hold it, and no further."""
    x, w, b = conv_problem((1, 2, 6, 6, 6), (3, 2, 3, 3, 3), np.float64, seed=11)
    x[0, 1, 2, 3, 4] = np.nan   # padding 0: outputs d in 0..2, h in 1..3, w in 2..4 see it
    y = conv3d(x, w, b, 1, 0, algorithm="winograd")
    sees = np.zeros(y.shape, bool)
    sees[:, :, 0:3, 1:4, 2:4] = True
    assert np.isnan(y[sees]).all()
    tiles = np.zeros(y.shape, bool)   # the tiles whose windows (2t .. 2t + 3 per axis) hold it
    tiles[:, :, 0:4, 0:4, 2:4] = True
    assert np.isfinite(y[~tiles]).all()


def test_auto_follows_the_dispatch_constants(monkeypatch):
    """"auto" takes Winograd by the constants, for the correlation it would compute: with padding
    0, the forward makes 2 x 3 x 3 tiles of y, the backward-input 3 x 4 x 4 tiles of dx."""
    x, w, b = conv_problem((1, 4, 6, 8, 8), (5, 4, 3, 3, 3), np.float32, seed=10)
    dy = rng(12).standard_normal((1, 5, 4, 6, 6)).astype(np.float32)
    y = {a: conv3d(x, w, b, 1, 0, algorithm=a) for a in ("direct", "winograd")}
    dx = {a: conv3d_backward(x, w, dy, 1, 0, algorithm=a)[0] for a in ("direct", "winograd")}
    assert not np.array_equal(y["direct"], y["winograd"])   # different rounding: tells the paths apart
    assert not np.array_equal(dx["direct"], dx["winograd"])

    def picked(got, results):
        return [a for a, r in results.items() if np.array_equal(got, r)]

    def auto(min_channels, min_tiles, enabled=True):
        monkeypatch.setattr(winograd3d, "WINOGRAD_AUTO", enabled)
        monkeypatch.setattr(winograd3d, "WINOGRAD_MIN_CHANNELS", min_channels)
        monkeypatch.setattr(winograd3d, "WINOGRAD_MIN_TILES", min_tiles)
        return (picked(conv3d(x, w, b, 1, 0), y) + picked(conv3d_backward(x, w, dy, 1, 0)[0], dx))

    assert auto(4, 18) == ["winograd", "winograd"]
    assert auto(4, 18, enabled=False) == ["direct", "direct"]
    assert auto(5, 18) == ["direct", "direct"]      # C = 4 (forward in, dx out)
    assert auto(4, 19) == ["direct", "winograd"]
    assert auto(4, 48) == ["direct", "winograd"]
    assert auto(4, 49) == ["direct", "direct"]
    assert np.array_equal(conv3d(x, w, b, 2, 1), conv3d(x, w, b, 2, 1, algorithm="direct"))  # strided
    assert np.array_equal(conv3d(x, w[:, :, :2], b, 1, 1), conv3d(x, w[:, :, :2], b, 1, 1, algorithm="direct"))


def test_backward_input_falls_back_to_direct_above_padding_2():
    x, w, _ = conv_problem((1, 3, 2, 3, 2), (2, 3, 3, 3, 3), np.float64, seed=14)
    dy = rng(15).standard_normal(conv3d(x, w, None, 1, (1, 3, 2)).shape)
    got = conv3d_backward(x, w, dy, 1, (1, 3, 2), algorithm="winograd")
    assert np.array_equal(got[0], conv3d_backward(x, w, dy, 1, (1, 3, 2), algorithm="direct")[0])
    expected = naive_conv.conv3d_backward(x, w, dy, 1, (1, 3, 2))
    for a, e in zip(got, expected):
        assert_close(a, e, np.float64)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(algorithm="fast"), ValueError, r"^algorithm: expected one of 'auto', 'direct', 'winograd', got 'fast'"),
    (dict(algorithm=None), TypeError, "^algorithm: expected one of"),
    (dict(algorithm="winograd", stride=3), ValueError,
     r"^algorithm: .winograd. needs 3x3x3 filters at stride 1, or 3x3x3 at stride 2, got .*\(3, 3, 3\)"),
    (dict(algorithm="winograd", stride=(1, 1, 2)), ValueError, r"^algorithm: 'winograd' needs 3x3x3.*\(1, 1, 2\)"),
    (dict(algorithm="winograd", w_shape=(2, 3, 5, 5, 5)), ValueError, r"^algorithm: 'winograd' needs 3x3x3.*5x5x5"),
    (dict(algorithm="winograd", w_shape=(2, 3, 1, 3, 3)), ValueError, r"^algorithm: 'winograd' needs 3x3x3.*1x3x3"),
])
def test_bad_algorithm(kwargs, error, match):
    kwargs = dict(kwargs)
    w = np.zeros(kwargs.pop("w_shape", (2, 3, 3, 3, 3)), np.float32)
    x = np.zeros((1, 3, 6, 6, 6), np.float32)
    with pytest.raises(error, match=match):
        conv3d(x, w, None, padding=1, **kwargs)
    dy = np.zeros(conv3d(x, w, None, stride=kwargs.get("stride", 1), padding=1).shape, np.float32)
    with pytest.raises(error, match=match):
        conv3d_backward(x, w, dy, padding=1, **kwargs)


def test_conv3d_layer_algorithm():
    layer = layers.Conv3d(3, 4, 3, padding=1, dtype=np.float64, seed=0, algorithm="winograd")
    assert layer.get_config()["algorithm"] == "winograd"
    assert "algorithm" not in layers.Conv3d(3, 4, 3).get_config()   # "auto": config as before
    again = layers.Conv3d(**layer.get_config())
    assert again.algorithm == "winograd"
    x = rng(11).standard_normal((2, 3, 3, 4, 5))
    y = layer.forward(x)
    assert np.array_equal(y, conv3d(x, layer.weight.value, layer.bias.value, 1, 1, algorithm="winograd"))
    dy = rng(12).standard_normal(y.shape)
    dx = layer.backward(dy)
    assert np.array_equal(dx, conv3d_backward(x, layer.weight.value, dy, 1, 1, algorithm="winograd")[0])
    fastnet.gradcheck(layer, x, eps=1e-4, atol=1e-8, rtol=1e-6)   # step: see test_central_difference_gradients
    with pytest.raises(ValueError, match="^algorithm: expected one of"):
        layers.Conv3d(3, 4, 3, algorithm="fft")
    with pytest.raises(ValueError, match="^algorithm: 'winograd' needs kernel_size 3 and stride 1"):
        layers.Conv3d(3, 4, 3, stride=(1, 2, 1), algorithm="winograd")
    with pytest.raises(ValueError, match="^algorithm: 'winograd' needs kernel_size 3"):
        layers.Conv3d(3, 4, (3, 3, 5), algorithm="winograd")


# ----------------------------------------------------------------------------------------------
# the weight gradient, Winograd F(3x3x3, 2x2x2) (fastnet.kernels.winograd3d_weight)

# (x shape, K, padding) for dw: CASES plus one group split into blocks of input channels (3 NR
# panels in float32) and of output channels (two MR row panels per block), several groups with K
# and C above a vector, half tiles on every axis, and narrow tiles (C <= one vector) with K > MR.
WEIGHT_CASES = CASES + [
    pytest.param((1, 70, 3, 7, 9), 9, 1, id="one-group-blocks"),
    pytest.param((3, 21, 5, 9, 7), 37, 1, id="groups-odd-edges"),
    pytest.param((2, 9, 4, 6, 10), 40, (1, 0, 2), id="narrow-K40"),
    pytest.param((1, 3, 2, 2, 2), 2, 3, id="p3-all-padding-tiles"),
]


def _weight_reference(x, w, dy, padding):
    return naive_conv.conv3d_backward(x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64), 1,
                                      padding)[1:]


def _out_shape(xs, k, padding):
    pads = (padding,) * 3 if np.isscalar(padding) else padding
    return (xs[0], k) + tuple(s + 2 * p - 2 for s, p in zip(xs[2:], pads)), pads


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, k, padding", WEIGHT_CASES)
def test_weight_gradient_matches_reference(xs, k, padding, dtype):
    """The kernel writes every element of dw and db (NaN-filled before) with the reference values;
    conv3d_backward(algorithm="winograd") returns exactly the kernel's results."""
    ws = (k, xs[1], 3, 3, 3)
    x, w, _ = conv_problem(xs, ws, dtype, seed=16)
    ys, pads = _out_shape(xs, k, padding)
    dy = rng(17).standard_normal(ys).astype(dtype)
    dw = np.full(ws, np.nan, dtype=dtype)
    db = np.full(k, np.nan, dtype=dtype)
    winograd3d_weight.conv3d_backward_weight_winograd(x, dy, dw, db, *pads)
    ew, eb = _weight_reference(x, w, dy, padding)
    scale = float(np.sqrt(dy[:, 0].size)) + 1
    assert_close(dw, ew.astype(dtype), dtype, scale=scale)
    assert_close(db, eb.astype(dtype), dtype, scale=scale)
    _, dw_op, db_op = conv3d_backward(x, w, dy, 1, padding, input_grad=False, algorithm="winograd")
    assert np.array_equal(dw_op, dw) and np.array_equal(db_op, db)


def test_weight_gradient_algebra_one_tile():
    """One tile, one channel pair, written out with the 1-D matrices of F(3, 2) on each axis:
    dw = G^T [(A g) * (B^T d)] G with every matrix on every axis (float64)."""
    bt = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
    a = np.array([[1, 0], [1, 1], [1, -1], [0, -1]], dtype=np.float64)
    d = rng(20).standard_normal((1, 1, 4, 4, 4))
    g = rng(21).standard_normal((1, 1, 2, 2, 2))
    s = np.einsum("ia,jb,le,abe->ijl", a, a, a, g[0, 0])
    v = np.einsum("ia,jb,le,abe->ijl", bt, bt, bt, d[0, 0])
    expected = np.einsum("ia,jb,le,ijl->abe", _g(), _g(), _g(), s * v)
    dw, db = np.empty((1, 1, 3, 3, 3)), np.empty(1)
    winograd3d_weight.conv3d_backward_weight_winograd(d, g, dw, db, 0, 0, 0)
    np.testing.assert_allclose(dw[0, 0], expected, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dw, naive_conv.conv3d_backward(d, np.zeros((1, 1, 3, 3, 3)), g)[1],
                               rtol=1e-13, atol=1e-13)


def test_weight_split():
    """Groups by shape only; blocks of whole panels; several groups split only the input channels,
    and only where groups are fewer than threads; one group: blocks of at most WEIGHT_BLOCK_BYTES
    of partial sums, at least as many as threads where the panels allow."""
    f32 = np.dtype(np.float32).itemsize
    # C3D (1568 tiles, 32 -> 64): 512 KB of partial sums per group: 8 groups, no blocks
    assert winograd3d_weight.weight_split(2, 8, 28, 28, 32, 64, f32, 8, 32, 2) == (8, 32, 64, 32)
    # 98 tiles: one group; 128 -> 128 (4 MB): two blocks of output channels for two threads
    assert winograd3d_weight.weight_split(2, 4, 7, 7, 128, 128, f32, 8, 32, 2) == (1, 32, 64, 128)
    assert winograd3d_weight.weight_split(2, 4, 7, 7, 128, 128, f32, 8, 32, 1) == (1, 32, 128, 128)
    # 512 -> 512 (64 MB in all): blocks of 128 x 128 channels (4 MB), whatever the threads
    for threads in (1, 2, 16):
        assert winograd3d_weight.weight_split(1, 2, 7, 7, 512, 512, f32, 8, 32, threads) == (1, 32, 128, 128)
    for n, do, ho, wo, c, k in [(2, 6, 12, 29, 35, 33), (1, 1, 1, 1, 1, 1), (3, 2, 2, 26, 1, 7), (4, 4, 14, 14, 512, 64),
                                (1, 2, 2, 2, 300, 3)]:
        for mr, nr in [(8, 32), (8, 16), (6, 16), (16, 16), (12, 8)]:
            for threads in (1, 2, 3, 8):
                groups, step, kb, cb = winograd3d_weight.weight_split(n, do, ho, wo, c, k, f32, mr, nr, threads)
                kr, cp = -(-k // mr) * mr, -(-c // nr) * nr
                assert 1 <= groups <= winograd3d_weight.WEIGHT_GROUPS and step == winograd3d_weight.WEIGHT_TILES
                assert kb % mr == 0 and mr <= kb <= kr and cb % nr == 0 and nr <= cb <= cp
                assert (groups, step) == winograd3d_weight.weight_split(n, do, ho, wo, c, k, f32, mr, nr, 1)[:2]
                blocks = -(-kr // kb) * -(-cp // cb)
                if groups > 1:
                    assert kb == kr
                else:   # unless the blocks are single panels already
                    assert 64 * kb * cb * f32 <= winograd3d_weight.WEIGHT_BLOCK_BYTES or (kb, cb) == (mr, nr)
                    assert blocks >= threads or (kb, cb) == (mr, nr)


@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_gradient_blocks_of_both_channels(monkeypatch, dtype):
    """One group whose partial sums exceed WEIGHT_BLOCK_BYTES (set small): blocks of both output
    and input channels, each turned into dw by its task; bitwise the same as one block (one
    thread: 4 x 2 or 4 x 3 panels)."""
    x, w, _ = conv_problem((1, 45, 4, 5, 6), (27, 45, 3, 3, 3), dtype, seed=22)
    dy = rng(23).standard_normal((1, 27, 4, 5, 6)).astype(dtype)

    def run():
        dw = np.full(w.shape, np.nan, dtype=dtype)
        db = np.full(27, np.nan, dtype=dtype)
        winograd3d_weight.conv3d_backward_weight_winograd(x, dy, dw, db, 1, 1, 1)
        return dw, db

    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        whole = run()
    finally:
        numba.set_num_threads(old)
    mr, nr = tile_shape(np.dtype(dtype))
    monkeypatch.setattr(winograd3d_weight, "WEIGHT_BLOCK_BYTES", 64 * mr * nr * np.dtype(dtype).itemsize)
    groups, _, kb, cb = winograd3d_weight.weight_split(1, 4, 5, 6, 45, 27, np.dtype(dtype).itemsize, mr, nr, 1)
    assert (groups, kb, cb) == (1, mr, nr)   # 4 x 2 (float32) or 4 x 3 (float64) blocks
    blocked = run()
    assert np.array_equal(whole[0], blocked[0]) and np.array_equal(whole[1], blocked[1])
    ew, eb = _weight_reference(x, w, dy, 1)
    assert_close(blocked[0], ew.astype(dtype), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)


@pytest.mark.parametrize("xs, k", [((2, 32, 8, 12, 12), 64), ((1, 128, 4, 8, 8), 128)])
def test_weight_gradient_float32_error_bound(xs, k):
    """float32 Winograd dw against the float64 reference: max |error| <= 1e-5 * max |dw| (measured
    3e-7 to 6e-7, see the module docstring), within a few times the direct kernels' own."""
    x, w, _ = conv_problem(xs, (k, xs[1], 3, 3, 3), np.float32, seed=24)
    dy = rng(25).standard_normal((xs[0], k) + xs[2:]).astype(np.float32)
    exact = _weight_reference(x, w, dy, 1)[0]
    scale = np.abs(exact).max()
    wino = np.abs(conv3d_backward(x, w, dy, 1, 1, algorithm="winograd")[1] - exact).max() / scale
    direct = np.abs(conv3d_backward(x, w, dy, 1, 1, algorithm="direct")[1] - exact).max() / scale
    assert wino <= 1e-5
    assert wino <= 20 * max(direct, 1e-7)


def test_weight_gradient_central_differences():
    # odd sizes, asymmetric padding (2 on height), several groups (200 tiles, float64 narrow
    # tiles): dw and db only (dx: test_central_difference_gradients)
    x, w, b = conv_problem((2, 2, 9, 5, 10), (3, 2, 3, 3, 3), np.float64, seed=26)
    assert winograd3d_weight.weight_split(2, 9, 7, 10, 2, 3, 8, 16, 8, 1)[0] >= 2

    def backward(x, w, b, dy):
        return (None,) + conv3d_backward(x, w, dy, 1, (1, 2, 1), input_grad=False, algorithm="winograd")[1:]

    compared = fastnet.gradcheck(lambda x, w, b: conv3d(x, w, b, 1, (1, 2, 1)), (x, w, b), backward=backward,
                                 eps=1e-4, atol=1e-8, rtol=1e-6)
    assert [c.name for c in compared] == ["input 1", "input 2"]


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two threads")
@pytest.mark.parametrize("xs, k, split", [
    ((4, 20, 6, 14, 14), 24, "groups"),          # 588 tiles: 9 groups
    ((1, 70, 3, 7, 9), 9, "input blocks"),       # 40 tiles: one group, input channel blocks on 2 threads
    ((1, 16, 4, 6, 6), 40, "output blocks"),     # 18 tiles: one group, output channel blocks on 2 threads
])
def test_weight_gradient_deterministic_across_runs_and_thread_counts(xs, k, split):
    x, w, _ = conv_problem(xs, (k, xs[1], 3, 3, 3), np.float32, seed=27)
    dy = rng(28).standard_normal((xs[0], k) + xs[2:]).astype(np.float32)
    narrow = xs[1] <= tile_shape(np.dtype(np.float32), True)[1]
    mr, nr = tile_shape(np.dtype(np.float32), narrow)
    one = winograd3d_weight.weight_split(xs[0], *xs[2:], xs[1], k, 4, mr, nr, 1)
    two = winograd3d_weight.weight_split(xs[0], *xs[2:], xs[1], k, 4, mr, nr, 2)
    if split == "groups":
        assert one == two and one[0] > 2
    else:
        assert one[0] == two[0] == 1 and one[2:] != two[2:]
        assert (two[3] < one[3]) if split == "input blocks" else (two[2] < one[2])

    def run():
        return conv3d_backward(x, w, dy, 1, 1, input_grad=False, algorithm="winograd")[1:]

    old = numba.get_num_threads()
    try:
        numba.set_num_threads(2)
        first, again = run(), run()
        numba.set_num_threads(1)
        single = run()
    finally:
        numba.set_num_threads(old)
    for a, b, c in zip(first, again, single):
        assert np.array_equal(a, b)
        assert np.array_equal(a, c)


def test_weight_gradient_nan_stays_in_its_input_channel():
    """A NaN in x reaches every tap of dw[:, c] whose windows hold it (as the direct form does) and
    may reach other taps of dw[:, c] through the tiles, but no other input channel."""
    x, w, _ = conv_problem((1, 3, 6, 6, 6), (2, 3, 3, 3, 3), np.float64, seed=29)
    x[0, 1, 2, 3, 4] = np.nan
    dy = rng(30).standard_normal((1, 2, 4, 4, 4))
    dw, db = conv3d_backward(x, w, dy, 1, 0, input_grad=False, algorithm="winograd")[1:]
    expected = naive_conv.conv3d_backward(x, w, dy, 1, 0)[1]
    assert np.isnan(dw[np.isnan(expected)]).all()
    assert np.isfinite(dw[:, [0, 2]]).all() and np.isfinite(db).all()


def test_weight_auto_follows_the_dispatch_constants(monkeypatch):
    """dw under "auto": Winograd by WEIGHT_MIN_CHANNELS (on the input channels C = 4 only: K = 2
    does not count), WEIGHT_MIN_TILES (2x2x2 tiles of dy: 2 x 3 x 3 here) and
    winograd3d.WINOGRAD_AUTO; never for strides or other filter sizes."""
    monkeypatch.setattr(winograd3d_weight, "vector_bytes", lambda: 64)   # AVX-512's limits on any CPU
    x, w, _ = conv_problem((1, 4, 6, 8, 8), (2, 4, 3, 3, 3), np.float32, seed=31)
    dy = rng(32).standard_normal((1, 2, 4, 6, 6)).astype(np.float32)
    dw = {a: conv3d_backward(x, w, dy, 1, 0, algorithm=a)[1] for a in ("direct", "winograd")}
    assert not np.array_equal(dw["direct"], dw["winograd"])   # different rounding: tells the paths apart

    def auto(min_channels, min_tiles, enabled=True):
        monkeypatch.setattr(winograd3d, "WINOGRAD_AUTO", enabled)
        monkeypatch.setattr(winograd3d_weight, "WEIGHT_MIN_CHANNELS", min_channels)
        monkeypatch.setattr(winograd3d_weight, "WEIGHT_MIN_TILES", min_tiles)
        got = conv3d_backward(x, w, dy, 1, 0)[1]
        return [a for a, r in dw.items() if np.array_equal(got, r)]

    assert auto(4, 18) == ["winograd"]
    assert auto(4, 18, enabled=False) == ["direct"]
    assert auto(5, 18) == ["direct"]       # C = 4
    assert auto(4, 19) == ["direct"]
    monkeypatch.setattr(winograd3d_weight, "WEIGHT_MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd3d_weight, "WEIGHT_MIN_TILES", 1)
    for stride, ws in [(2, w), (1, w[:, :, :2])]:   # strided, 2x3x3: the direct kernels whatever the rule
        y = conv3d(x, ws, None, stride, 1)
        g = rng(33).standard_normal(y.shape).astype(np.float32)
        assert np.array_equal(conv3d_backward(x, ws, g, stride, 1)[1],
                              conv3d_backward(x, ws, g, stride, 1, algorithm="direct")[1])


@pytest.mark.parametrize("vector_bytes", [32, 16])
def test_weight_auto_below_avx512_follows_its_own_constants(vector_bytes, monkeypatch):
    """With AVX2 (or SSE) vectors, dw under "auto" takes Winograd by AVX2_WEIGHT_MIN_CHANNELS and
    AVX2_WEIGHT_MIN_TILES (WEIGHT_MIN_CHANNELS and WEIGHT_MIN_TILES are AVX-512's)."""
    monkeypatch.setattr(winograd3d_weight, "vector_bytes", lambda: vector_bytes)
    ok = winograd3d_weight.winograd_weight_ok
    assert not ok(31, 64, 64, 3, 3, 3, 1, 1, 1, "auto") and ok(32, 64, 64, 3, 3, 3, 1, 1, 1, "auto")
    assert not ok(32, 64, 63, 3, 3, 3, 1, 1, 1, "auto")
    assert ok(16, 16, 1, 3, 3, 3, 1, 1, 1, "winograd") and not ok(64, 64, 10**6, 3, 3, 3, 1, 1, 1, "direct")
    monkeypatch.setattr(winograd3d_weight, "vector_bytes", lambda: 64)
    assert ok(12, 64, 32, 3, 3, 3, 1, 1, 1, "auto")
    monkeypatch.setattr(winograd3d_weight, "vector_bytes", lambda: vector_bytes)
    x, w, _ = conv_problem((1, 4, 6, 8, 8), (2, 4, 3, 3, 3), np.float32, seed=31)
    dy = rng(32).standard_normal((1, 2, 4, 6, 6)).astype(np.float32)   # 2 x 3 x 3 tiles
    dw = {a: conv3d_backward(x, w, dy, 1, 0, algorithm=a)[1] for a in ("direct", "winograd")}
    assert not np.array_equal(dw["direct"], dw["winograd"])
    monkeypatch.setattr(winograd3d_weight, "WEIGHT_MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd3d_weight, "WEIGHT_MIN_TILES", 1)
    for min_channels, min_tiles, expected in ((4, 18, "winograd"), (5, 18, "direct"), (4, 19, "direct")):
        monkeypatch.setattr(winograd3d_weight, "AVX2_WEIGHT_MIN_CHANNELS", min_channels)
        monkeypatch.setattr(winograd3d_weight, "AVX2_WEIGHT_MIN_TILES", min_tiles)
        assert np.array_equal(conv3d_backward(x, w, dy, 1, 0)[1], dw[expected])

"""The stride-2 form of Winograd for 3x3x3 conv3d at stride 2, the forward only (algorithm="winograd",
and "auto" by kernels.winograd3d.WINOGRAD_STRIDE2_*): the weight transform, reference loops in
float32 and float64, PyTorch, float64 central differences (the backward passes are the direct
kernels'), the float32 error bound, NaN propagation, determinism across thread counts, the "auto"
rule, validation, the Conv3d layer, and AVX2's tile shapes in a fresh process. (The 1-D tables are
winograd.py's, checked in exact arithmetic by test_winograd_stride2.py.)"""

import numba
import numpy as np
import pytest

import fastnet
from fastnet import layers
from fastnet.kernels import _config, winograd, winograd3d
from fastnet.ops import conv3d, conv3d_backward
from fastnet.reference import naive_conv
from helpers import DTYPES, assert_close, avx2_errors, conv_problem, conv_scale, rng

# (x shape, K, padding): odd and even sizes on every axis (an odd Do, Ho or Wo leaves half tiles;
# an even padded size a last plane no window reads), batch 1, C and K not multiples of anything
# (K <= 16: the narrow tiles; 19, 35: the wide ones), padding 0..3 (3: wider than the filter) and
# asymmetric, a single output, one tile deep; rows of 1 to 8 tiles (the output transform takes W,
# W/2 or W/4 tiles per call) and chunks that cross rows, planes and volumes.
CASES = [
    pytest.param((2, 3, 7, 6, 9), 4, 1, id="odd-even-p1"),
    pytest.param((1, 5, 8, 9, 10), 7, 0, id="batch1-p0"),
    pytest.param((2, 17, 5, 8, 11), 19, 2, id="C17-K19-p2"),
    pytest.param((1, 2, 3, 3, 3), 3, 0, id="one-output"),
    pytest.param((3, 1, 4, 4, 29), 1, 1, id="C1-K1-one-tile-deep"),
    pytest.param((1, 6, 5, 5, 5), 2, 3, id="p3"),
    pytest.param((2, 4, 6, 7, 5), 3, (0, 2, 1), id="asymmetric-padding"),
    pytest.param((2, 33, 9, 14, 31), 35, 1, id="several-chunks"),
]


def _reference(x, w, b, padding):
    return naive_conv.conv3d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 2, padding)


@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_transform_matches_the_formula(dtype):
    """U (125, 1, P, C, nr) = G (x) G (x) G f per filter with winograd.py's stride-2 G (5 x 3),
    computed in float64 and rounded once, zero past K (5 output channels in panels of 4; 70 input
    channels: two channel blocks)."""
    w = rng(3).standard_normal((5, 70, 3, 3, 3)).astype(dtype)
    g = np.array(winograd.FILTER_TRANSFORM_STRIDE2, dtype=np.float64)
    assert np.array_equal(winograd3d.FILTER_TRANSFORM[(3, 2)], g)
    u = winograd3d.winograd3d_weights_stride2(w, 4)
    assert u.shape == (125, 1, 2, 70, 4) and u.dtype == dtype
    assert not u[:, 0, 1, :, 1:].any()   # the padding is zero
    got = u[:, 0].transpose(0, 1, 3, 2).reshape(125, 8, 70)[:, :5]
    exact = np.einsum("ia,jb,le,kcabe->ijlkc", g, g, g, w.astype(np.float64)).reshape(125, 5, 70)
    if dtype == np.float64:
        np.testing.assert_allclose(got, exact, rtol=1e-14, atol=1e-14)
    else:   # at most one float32 rounding step from the float64 value
        np.testing.assert_allclose(got, exact.astype(np.float32), rtol=2.0 ** -23, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, k, padding", CASES)
def test_matches_reference(xs, k, padding, dtype):
    """y against the loops; the gradients, which the direct kernels compute, bitwise those of
    algorithm="direct"."""
    ws = (k, xs[1], 3, 3, 3)
    x, w, b = conv_problem(xs, ws, dtype)
    y = conv3d(x, w, b, 2, padding, algorithm="winograd")
    assert_close(y, _reference(x, w, b, padding).astype(dtype), dtype, scale=conv_scale(ws))
    if y.size > 1:
        assert not np.array_equal(y, conv3d(x, w, b, 2, padding, algorithm="direct"))   # not the direct path
    dy = rng(1).standard_normal(y.shape).astype(dtype)
    for got, direct in zip(conv3d_backward(x, w, dy, 2, padding, algorithm="winograd"),
                           conv3d_backward(x, w, dy, 2, padding, algorithm="direct")):
        assert np.array_equal(got, direct)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_directly_writes_every_output(dtype):
    """conv3d_forward_winograd writes y in full (NaN-filled before) for uneven paddings per axis."""
    x, w, b = conv_problem((2, 4, 7, 10, 6), (5, 4, 3, 3, 3), dtype, seed=2)
    pad = (1, 0, 2)
    shape = (2, 5) + tuple((s + 2 * p - 3) // 2 + 1 for s, p in zip(x.shape[2:], pad))
    y = np.full(shape, np.nan, dtype=dtype)
    winograd3d.conv3d_forward_winograd(x, w, b, y, *pad, stride=2)
    assert_close(y, _reference(x, w, b, pad).astype(dtype), dtype, scale=conv_scale(w.shape))


@pytest.mark.parametrize("channels", [32, 64])
def test_float32_error_bound(channels):
    """float32 against the float64 reference: max |error| <= 1e-5 * max |y| (measured 2e-7 to
    4e-7: the transforms only add and subtract), within a few times the direct kernels' error."""
    x, w, b = conv_problem((2, channels, 9, 14, 14), (40, channels, 3, 3, 3), np.float32, seed=4)
    exact = _reference(x, w, b, 1)
    scale = np.abs(exact).max()
    wino = np.abs(conv3d(x, w, b, 2, 1, algorithm="winograd") - exact).max() / scale
    direct = np.abs(conv3d(x, w, b, 2, 1, algorithm="direct") - exact).max() / scale
    assert wino <= 1e-5
    assert wino <= 10 * max(direct, 1e-7)


def test_central_difference_gradients():
    x, w, b = conv_problem((2, 3, 5, 6, 7), (4, 3, 3, 3, 3), np.float64, seed=5)
    compared = fastnet.gradcheck(
        lambda x, w, b: conv3d(x, w, b, 2, 1, algorithm="winograd"), (x, w, b),
        backward=lambda x, w, b, dy: conv3d_backward(x, w, dy, 2, 1, algorithm="winograd"),
        eps=1e-6, atol=1e-8, rtol=1e-6)
    assert [c.name for c in compared] == ["input 0", "input 1", "input 2"]


def test_matches_torch():
    torch = pytest.importorskip("torch")
    for dtype in DTYPES:
        x, w, b = conv_problem((2, 16, 7, 11, 10), (24, 16, 3, 3, 3), dtype, seed=6)
        ty = torch.nn.functional.conv3d(*(torch.from_numpy(a) for a in (x, w, b)), stride=2, padding=1)
        assert_close(conv3d(x, w, b, 2, 1, algorithm="winograd"), ty.numpy(), dtype, scale=conv_scale(w.shape))


def test_nan_reaches_the_outputs_that_read_it():
    """Per axis each input enters only the products of the outputs whose windows read it, so a
    NaN reaches exactly the outputs it reaches by the direct sum (here: at a window's centre, a
    corner shared by eight windows, an edge, the border)."""
    x, w, b = conv_problem((1, 4, 9, 9, 9), (3, 4, 3, 3, 3), np.float32, seed=7)
    for d, h, wd in ((4, 4, 4), (2, 2, 2), (1, 2, 6), (0, 8, 3)):
        bad = x.copy()
        bad[0, 1, d, h, wd] = np.nan
        got = np.isnan(conv3d(bad, w, b, 2, 1, algorithm="winograd"))
        assert got.any() and np.array_equal(got, np.isnan(conv3d(bad, w, b, 2, 1, algorithm="direct")))


def test_deterministic_across_runs_and_thread_counts():
    x, w, _ = conv_problem((2, 8, 16, 16, 16), (20, 8, 3, 3, 3), np.float32, seed=8)   # 128 tiles: several chunks
    first = conv3d(x, w, None, 2, 1, algorithm="winograd")
    assert np.array_equal(first, conv3d(x, w, None, 2, 1, algorithm="winograd"))
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = conv3d(x, w, None, 2, 1, algorithm="winograd")
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(first, single)


def test_auto_follows_its_constants(monkeypatch):
    """"auto" takes the stride-2 form with AVX-512 vectors only, from WINOGRAD_STRIDE2_MIN_CHANNELS
    channels, WINOGRAD_STRIDE2_MIN_OUT_CHANNELS output channels, up to WINOGRAD_STRIDE2_MAX_FILTERS
    filters, from WINOGRAD_STRIDE2_MIN_TILES tiles and outputs filling WINOGRAD_STRIDE2_MIN_FILL of
    them; for the forward only; WINOGRAD_AUTO False turns it off."""
    ok = winograd3d.winograd_stride2_ok
    monkeypatch.setattr(winograd3d, "vector_bytes", lambda: 64)
    s2 = (3, 3, 3, 2, 2, 2)
    assert ok(32, 64, 2 * 8 * 16 * 16, 512, *s2, "auto")              # the bench's volumetric layer
    assert ok(64, 128, 8 * 4 * 14 * 14, 8 * 2 * 7 * 7, *s2, "auto")   # 64 -> 128, batch 8
    assert not ok(32, 64, 4 * 511 * 8, 511, *s2, "auto") and not ok(31, 64, 8 * 512, 512, *s2, "auto")
    assert not ok(32, 63, 8 * 512, 512, *s2, "auto") and not ok(128, 128, 8 * 512, 512, *s2, "auto")
    assert ok(128, 64, 8 * 512, 512, *s2, "auto") and not ok(129, 64, 8 * 512, 512, *s2, "auto")
    assert not ok(64, 64, 343 * 8, 512, *s2, "auto")   # 7x7x7 outputs: 343 of 512 filled
    assert not ok(64, 64, 10**6, 10**6, 3, 3, 3, 1, 1, 1, "auto") and not ok(64, 64, 1, 1, 3, 3, 3, 2, 2, 1, "winograd")
    assert not ok(64, 64, 10**6, 10**6, *s2, "direct") and ok(1, 1, 1, 1, *s2, "winograd")
    assert not ok(64, 64, 1, 1, 5, 5, 5, 2, 2, 2, "winograd")
    monkeypatch.setattr(winograd3d, "vector_bytes", lambda: 32)
    assert not ok(32, 64, 2 * 8 * 16 * 16, 512, *s2, "auto") and ok(1, 1, 1, 1, *s2, "winograd")
    x, w, b = conv_problem((1, 4, 11, 12, 11), (4, 4, 3, 3, 3), np.float32, seed=10)   # 6x6x6 outputs: 3x3x3 tiles, all filled
    direct = conv3d(x, w, b, 2, 1, algorithm="direct")
    wino = conv3d(x, w, b, 2, 1, algorithm="winograd")
    assert not np.array_equal(direct, wino)
    dy = rng(12).standard_normal(direct.shape).astype(np.float32)
    grads = conv3d_backward(x, w, dy, 2, 1, algorithm="direct")
    for vector_bytes, channels, out_channels, filters, tiles, fill, auto, expected in (
            (64, 4, 4, 16, 27, 1.0, True, wino), (64, 5, 4, 16, 27, 1.0, True, direct),
            (64, 4, 5, 16, 27, 1.0, True, direct), (64, 4, 4, 15, 27, 1.0, True, direct),
            (64, 4, 4, 16, 28, 1.0, True, direct), (64, 4, 4, 16, 27, 1.01, True, direct),
            (64, 4, 4, 16, 27, 1.0, False, direct), (32, 4, 4, 16, 27, 1.0, True, direct)):
        monkeypatch.setattr(winograd3d, "vector_bytes", lambda: vector_bytes)
        monkeypatch.setattr(winograd3d, "WINOGRAD_STRIDE2_MIN_CHANNELS", channels)
        monkeypatch.setattr(winograd3d, "WINOGRAD_STRIDE2_MIN_OUT_CHANNELS", out_channels)
        monkeypatch.setattr(winograd3d, "WINOGRAD_STRIDE2_MAX_FILTERS", filters)
        monkeypatch.setattr(winograd3d, "WINOGRAD_STRIDE2_MIN_TILES", tiles)
        monkeypatch.setattr(winograd3d, "WINOGRAD_STRIDE2_MIN_FILL", fill)
        monkeypatch.setattr(winograd3d, "WINOGRAD_AUTO", auto)
        assert np.array_equal(conv3d(x, w, b, 2, 1), expected)
        for got, want in zip(conv3d_backward(x, w, dy, 2, 1), grads):
            assert np.array_equal(got, want)


@pytest.mark.parametrize("w_shape, stride, match", [
    ((2, 3, 3, 3, 3), 3, r"^algorithm: 'winograd' needs 3x3x3 filters at stride 1, or 3x3x3 at stride 2, "
                         r"got filters 3x3x3 .* at stride \(3, 3, 3\)"),
    ((2, 3, 5, 5, 5), 2, r"^algorithm: 'winograd' needs 3x3x3 filters at stride 1, or 3x3x3 at stride 2, "
                         r"got filters 5x5x5"),
    ((2, 3, 3, 3, 3), (2, 2, 1), r"^algorithm: 'winograd' needs .* at stride \(2, 2, 1\)"),
])
def test_bad_stride_for_winograd(w_shape, stride, match):
    x = np.zeros((1, 3, 8, 8, 8), np.float32)
    with pytest.raises(ValueError, match=match):
        conv3d(x, np.zeros(w_shape, np.float32), None, stride, 1, algorithm="winograd")


def test_conv3d_layer_at_stride_2():
    layer = layers.Conv3d(3, 4, 3, stride=2, padding=1, dtype=np.float64, seed=0, algorithm="winograd")
    x = rng(11).standard_normal((2, 3, 5, 6, 7))
    assert np.array_equal(layer.forward(x), conv3d(x, layer.weight.value, layer.bias.value, 2, 1,
                                                   algorithm="winograd"))
    fastnet.gradcheck(layer, x, atol=1e-8, rtol=1e-6)
    with pytest.raises(ValueError, match=r"^algorithm: 'winograd' needs kernel_size 3 and stride 1 "
                                         r"\(3 also at stride 2\), got kernel_size=\(5, 5, 5\) stride=\(2, 2, 2\)"):
        layers.Conv3d(3, 4, 5, stride=2, algorithm="winograd")


_OTHER_TARGET = """
import numpy as np
from fastnet.kernels import winograd3d
from fastnet.kernels._config import vector_bytes
from fastnet.reference import naive_conv
errors = []
for dtype in (np.float32, np.float64):
    for xs, k, pad in [((2, 9, 5, 9, 61), 21, (1, 1, 1)), ((1, 5, 8, 9, 7), 3, (2, 0, 1))]:
        g = np.random.default_rng(0)
        x = g.standard_normal(xs).astype(dtype)
        w = g.standard_normal((k, xs[1], 3, 3, 3)).astype(dtype)
        b = g.standard_normal(k).astype(dtype)
        e = naive_conv.conv3d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 2, pad)
        y = np.full(e.shape, np.nan, dtype)
        winograd3d.conv3d_forward_winograd(x, w, b, y, *pad, stride=2)
        errors.append(np.abs(y - e).max() / np.abs(e).max())
print(vector_bytes(), *errors)
"""


@pytest.mark.skipif(_config.vector_bytes() != 64, reason="covers the AVX2 tile shapes on an AVX-512 host")
def test_avx2_tile_shapes():
    """The AVX2 recipe (NUMBA_CPU_NAME=znver3 NUMBA_CPU_FEATURES=""): 6-row tiles and 8 float32
    lanes, in a fresh process (rows of 15 tiles: an unmasked output step of 8 tiles, then more;
    K = 3 on the narrow tiles)."""
    errors = avx2_errors(_OTHER_TARGET)
    assert len(errors) == 4
    assert all(e <= 1e-5 for e in errors[:2]) and all(e <= 1e-12 for e in errors[2:]), errors

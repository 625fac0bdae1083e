"""The stride-2 forms of Winograd for 3x3 and 5x5 conv2d at stride 2, the forward only
(algorithm="winograd", and "auto" by kernels.conv2d.WINOGRAD_STRIDE2_*): their tables in exact
arithmetic, the weight transforms, reference loops in float32 and float64, PyTorch, float64 central
differences (the backward passes are the direct kernels'), the float32 error bound, NaN
propagation, determinism across thread counts, the "auto" rule, validation, and AVX2's tile shapes
in a fresh process."""

from fractions import Fraction

import numba
import numpy as np
import pytest

import fastnet
from fastnet import layers
from fastnet.kernels import _config, winograd
from fastnet.kernels import conv2d as k2
from fastnet.ops import conv2d, conv2d_backward
from fastnet.reference import naive_conv
from helpers import DTYPES, assert_close, assert_filter_transform, avx2_errors, conv_problem, conv_scale, rng

# (x shape, K, padding, r): odd and even sizes (an odd Ho or Wo leaves half tiles; an even padded
# size a last row no window reads), batch 1, C and K not multiples of anything, padding 0..r (r:
# wider than the filter), one output, one tile row, tile rows of 2 to 15 tiles (the output
# transform takes W, W/2 or W/4 tiles per call) and chunks that cross tile rows and images.
CASES = [pytest.param(xs, k, padding, r, id=f"{r}x{r}-{name}") for r, cases in (
    (3, (("odd-h-p1", (2, 3, 7, 6), 4, 1), ("batch1-p0", (1, 5, 9, 8), 7, 0), ("C17-K19-p2", (2, 17, 8, 11), 19, 2),
         ("one-output", (1, 2, 3, 3), 3, 0), ("C1-K1-one-tile-row", (3, 1, 4, 25), 1, 1), ("p3", (1, 6, 5, 5), 2, 3),
         ("several-chunks", (2, 33, 60, 57), 35, 1))),
    (5, (("odd-h-p2", (2, 3, 9, 8), 4, 2), ("batch1-p0", (1, 5, 11, 10), 7, 0), ("C17-K19-p1", (2, 17, 10, 13), 19, 1),
         ("one-output", (1, 2, 5, 5), 3, 0), ("C1-K1-one-tile-row", (3, 1, 6, 27), 1, 2), ("p5", (1, 6, 5, 5), 2, 5),
         ("several-chunks", (2, 33, 60, 57), 35, 2)))) for name, xs, k, padding in cases]
SIZES = [3, 5]


def _reference(x, w, b, padding):
    return naive_conv.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 2, padding)


def _filter_transform(r):
    """G of the (r, 2) form, exact: (5 x 3) or (7 x 5)."""
    if r == 3:
        return [[Fraction(c) for c in row] for row in winograd.FILTER_TRANSFORM_STRIDE2]
    return [[Fraction(s).limit_denominator(10) * c for c in row]
            for s, row in zip(winograd.FILTER_SCALE_5X5_STRIDE2, winograd.FILTER_TRANSFORM_5X5_STRIDE2)]


@pytest.mark.parametrize("r", SIZES)
def test_transform_tables_compute_the_strided_correlation(r):
    """In exact arithmetic, A^T [(G g) * (B^T d)] with the (r, 2) tables is the 1-D correlation at
    stride 2, y[i] = sum_k g[k] d[2 i + k] (i = 0, 1), for every basis filter and (r + 2)-value
    window: r + 2 products, not 2 r. The 2-D transforms apply the tables per axis."""
    bt = [[Fraction(c) for c in row] for row in winograd.INPUT_TRANSFORM[(r, 2)]]
    at = [[Fraction(c) for c in row] for row in winograd.OUTPUT_TRANSFORM[(r, 2)]]
    g = _filter_transform(r)
    n = r + 2
    assert len(bt) == len(g) == n and len(at) == 2
    for k in range(r):
        for j in range(n):
            u = [row[k] for row in g]
            v = [row[j] for row in bt]
            y = [sum(row[e] * u[e] * v[e] for e in range(n)) for row in at]
            assert y == [int(j == 2 * i + k) for i in range(2)], (k, j, y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("r", SIZES)
def test_weight_transform_matches_the_formula(r, dtype):
    """U (n, n, 1, P, C, nr) (3x3) or (n, n, 1, 1, P, C, nr) (5x5) = G f G^T per filter, computed
    in float64 and rounded once, zero past K."""
    w = rng(3).standard_normal((5, 70, r, r)).astype(dtype)   # K = 5 in panels of 4; C = 70: two blocks
    g = np.array(_filter_transform(r), dtype=np.float64)
    n = r + 2
    transform = winograd.winograd_weights_stride2 if r == 3 else winograd.winograd_weights_5x5_stride2
    for nr in (4, 6, 8):
        u = transform(w, nr)
        panels = -(-5 // nr)
        assert u.shape == (n, n) + (1,) * (r // 2) + (panels, 70, nr) and u.dtype == dtype
        got = u.reshape(n, n, panels, 70, nr).transpose(0, 1, 2, 4, 3).reshape(n, n, panels * nr, 70)
        assert_filter_transform(got, g, w)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, k, padding, r", CASES)
def test_matches_reference(xs, k, padding, r, dtype):
    """y against the loops; the gradients, which the direct kernels compute, bitwise those of
    algorithm="direct"."""
    ws = (k, xs[1], r, r)
    x, w, b = conv_problem(xs, ws, dtype)
    y = conv2d(x, w, b, 2, padding, algorithm="winograd")
    assert_close(y, _reference(x, w, b, padding).astype(dtype), dtype, scale=conv_scale(ws))
    assert not np.array_equal(y, conv2d(x, w, b, 2, padding, algorithm="direct"))   # not the direct path
    dy = rng(1).standard_normal(y.shape).astype(dtype)
    for got, direct in zip(conv2d_backward(x, w, dy, 2, padding, algorithm="winograd"),
                           conv2d_backward(x, w, dy, 2, padding, algorithm="direct")):
        assert np.array_equal(got, direct)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("r", SIZES)
def test_kernel_directly_with_asymmetric_padding(r, dtype):
    x, w, b = conv_problem((2, 4, 7, 10), (5, 4, r, r), dtype, seed=2)
    ph, pw = r // 2, 0
    y = np.full((2, 5, 4, (10 - r) // 2 + 1), np.nan, dtype=dtype)   # Ho = (7 + 2 ph - r) // 2 + 1 = 4
    winograd.conv2d_forward_winograd(x, w, b, y, ph, pw, stride=2)
    assert_close(y, _reference(x, w, b, (ph, pw)).astype(dtype), dtype, scale=conv_scale(w.shape))


@pytest.mark.parametrize("r", SIZES)
@pytest.mark.parametrize("channels", [64, 256])
def test_float32_error_bound(channels, r):
    """float32 against the float64 reference: max |error| <= 1e-5 * max |y| (measured 1e-7 to
    3e-7: the 3x3 form's transforms only add and subtract, the 5x5 form's halve a few sums),
    within a few times the direct kernels' error."""
    x, w, b = conv_problem((2, channels, 14, 14), (40, channels, r, r), np.float32, seed=4)
    exact = _reference(x, w, b, r // 2)
    scale = np.abs(exact).max()
    wino = np.abs(conv2d(x, w, b, 2, r // 2, algorithm="winograd") - exact).max() / scale
    direct = np.abs(conv2d(x, w, b, 2, r // 2, algorithm="direct") - exact).max() / scale
    assert wino <= 1e-5
    assert wino <= 10 * max(direct, 1e-7)


@pytest.mark.parametrize("r", SIZES)
def test_central_difference_gradients(r):
    x, w, b = conv_problem((2, 3, 7, 8), (4, 3, r, r), np.float64, seed=5)
    compared = fastnet.gradcheck(
        lambda x, w, b: conv2d(x, w, b, 2, r // 2, algorithm="winograd"), (x, w, b),
        backward=lambda x, w, b, dy: conv2d_backward(x, w, dy, 2, r // 2, algorithm="winograd"),
        eps=1e-6, atol=1e-8, rtol=1e-6)
    assert [c.name for c in compared] == ["input 0", "input 1", "input 2"]


@pytest.mark.parametrize("r", SIZES)
def test_matches_torch(r):
    torch = pytest.importorskip("torch")
    for dtype in DTYPES:
        x, w, b = conv_problem((2, 16, 11, 10), (24, 16, r, r), dtype, seed=6)
        ty = torch.nn.functional.conv2d(*(torch.from_numpy(a) for a in (x, w, b)), stride=2, padding=r // 2)
        assert_close(conv2d(x, w, b, 2, r // 2, algorithm="winograd"), ty.numpy(), dtype, scale=conv_scale(w.shape))


@pytest.mark.parametrize("r", SIZES)
def test_nan_reaches_the_outputs_that_read_it(r):
    """Per axis each input enters only the products of the outputs whose windows read it, so a
    NaN reaches exactly the outputs it reaches by the direct sum (here: at a window's centre, a
    corner shared by four windows, an edge)."""
    x, w, b = conv_problem((1, 4, 9, 9), (3, 4, r, r), np.float32, seed=7)
    for h, wd in ((4, 4), (2, 6), (0, 8)):
        bad = x.copy()
        bad[0, 1, h, wd] = np.nan
        got = np.isnan(conv2d(bad, w, b, 2, r // 2, algorithm="winograd"))
        assert got.any() and np.array_equal(got, np.isnan(conv2d(bad, w, b, 2, r // 2, algorithm="direct")))


@pytest.mark.parametrize("r", SIZES)
def test_deterministic_across_runs_and_thread_counts(r):
    x, w, _ = conv_problem((4, 8, 28, 28), (8, 8, r, r), np.float32, seed=8)   # 196 tiles: several chunks
    first = conv2d(x, w, None, 2, r // 2, algorithm="winograd")
    assert np.array_equal(first, conv2d(x, w, None, 2, r // 2, algorithm="winograd"))
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = conv2d(x, w, None, 2, r // 2, algorithm="winograd")
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(first, single)


def test_auto_follows_its_constants(monkeypatch):
    """"auto" takes the 3x3 stride-2 form with AVX-512 vectors only, from
    WINOGRAD_STRIDE2_MIN_CHANNELS channels, WINOGRAD_STRIDE2_MIN_TILES tiles and outputs filling
    WINOGRAD_STRIDE2_MIN_FILL of them; the 5x5 form with any vectors by WINOGRAD_5X5_STRIDE2_*;
    for the forward only; WINOGRAD_AUTO False turns them off."""
    ok = k2.winograd_stride2_ok
    monkeypatch.setattr(k2, "vector_bytes", lambda: 64)
    for r, prefix in ((3, "WINOGRAD_STRIDE2_"), (5, "WINOGRAD_5X5_STRIDE2_")):
        c, t = getattr(k2, prefix + "MIN_CHANNELS"), getattr(k2, prefix + "MIN_TILES")
        assert ok(c, c, 4 * t, t, r, r, 2, 2, "auto") and not ok(c, c, 4 * t, t - 1, r, r, 2, 2, "auto")
        assert not ok(c - 1, c, 4 * t, t, r, r, 2, 2, "auto") and not ok(c, c - 1, 4 * t, t, r, r, 2, 2, "auto")
        assert ok(64, 128, 8 * 28 * 28, 8 * 14 * 14, r, r, 2, 2, "auto")            # 64 -> 128 at 56x56
        assert not ok(64, 64, 32 * 7 * 7, 32 * 4 * 4, r, r, 2, 2, "auto")          # 7x7 outputs: 49 of 64 filled
        assert not ok(64, 64, 10**6, 10**6, r, r, 1, 1, "auto") and not ok(64, 64, 1, 1, r, r, 2, 1, "winograd")
        assert not ok(64, 64, 10**6, 10**6, r, r, 2, 2, "direct") and ok(1, 1, 1, 1, r, r, 2, 2, "winograd")
    assert not ok(64, 64, 1, 1, 7, 7, 2, 2, "winograd") and not ok(64, 64, 1, 1, 3, 5, 2, 2, "winograd")
    monkeypatch.setattr(k2, "vector_bytes", lambda: 32)
    assert not ok(64, 128, 8 * 28 * 28, 8 * 14 * 14, 3, 3, 2, 2, "auto") and ok(1, 1, 1, 1, 3, 3, 2, 2, "winograd")
    assert ok(64, 128, 8 * 28 * 28, 8 * 14 * 14, 5, 5, 2, 2, "auto")   # 5x5: AVX2 too
    for r, prefix in ((3, "WINOGRAD_STRIDE2_"), (5, "WINOGRAD_5X5_STRIDE2_")):
        x, w, b = conv_problem((1, 4, 11, 12), (4, 4, r, r), np.float32, seed=10)   # 6 x 6 outputs: 3 x 3 tiles
        direct = conv2d(x, w, b, 2, r // 2, algorithm="direct")
        wino = conv2d(x, w, b, 2, r // 2, algorithm="winograd")
        assert not np.array_equal(direct, wino)
        dy = rng(12).standard_normal(direct.shape).astype(np.float32)
        grads = conv2d_backward(x, w, dy, 2, r // 2, algorithm="direct")
        for vector_bytes, channels, tiles, fill, auto, expected in (
                (64, 4, 9, 1.0, True, wino), (64, 5, 9, 1.0, True, direct), (64, 4, 10, 1.0, True, direct),
                (64, 4, 9, 1.01, True, direct), (64, 4, 9, 1.0, False, direct),
                (32, 4, 9, 1.0, True, direct if r == 3 else wino)):
            monkeypatch.setattr(k2, "vector_bytes", lambda: vector_bytes)
            monkeypatch.setattr(k2, prefix + "MIN_CHANNELS", channels)
            monkeypatch.setattr(k2, prefix + "MIN_TILES", tiles)
            monkeypatch.setattr(k2, prefix + "MIN_FILL", fill)
            monkeypatch.setattr(k2, "WINOGRAD_AUTO", auto)
            assert np.array_equal(conv2d(x, w, b, 2, r // 2), expected)
            for got, want in zip(conv2d_backward(x, w, dy, 2, r // 2), grads):
                assert np.array_equal(got, want)


@pytest.mark.parametrize("w_shape, stride, match", [
    ((2, 3, 3, 3), 3, r"^algorithm: 'winograd' needs 3x3 or 5x5 filters at stride 1, or 3x3 or 5x5 at stride "
                      r"2, got filters 3x3 .* at stride \(3, 3\)"),
    ((2, 3, 7, 7), 2, r"^algorithm: 'winograd' needs 3x3 or 5x5 filters at stride 1, or 3x3 or 5x5 at stride "
                      r"2, got filters 7x7"),
    ((2, 3, 3, 3), (2, 1), r"^algorithm: 'winograd' needs .* at stride \(2, 1\)"),
])
def test_bad_stride_for_winograd(w_shape, stride, match):
    x = np.zeros((1, 3, 8, 8), np.float32)
    with pytest.raises(ValueError, match=match):
        conv2d(x, np.zeros(w_shape, np.float32), None, stride, 1, algorithm="winograd")


@pytest.mark.parametrize("r", SIZES)
def test_conv2d_layer_at_stride_2(r):
    layer = layers.Conv2d(3, 4, r, stride=2, padding=r // 2, dtype=np.float64, seed=0, algorithm="winograd")
    x = rng(11).standard_normal((2, 3, 9, 8))
    assert np.array_equal(layer.forward(x), conv2d(x, layer.weight.value, layer.bias.value, 2, r // 2,
                                                   algorithm="winograd"))
    fastnet.gradcheck(layer, x, atol=1e-8, rtol=1e-6)
    with pytest.raises(ValueError, match=r"^algorithm: 'winograd' needs kernel_size 3 or 5 and stride 1 "
                                         r"\(3 or 5 also at stride 2\), got kernel_size=\(7, 7\) stride=\(2, 2\)"):
        layers.Conv2d(3, 4, 7, stride=2, algorithm="winograd")


_OTHER_TARGET = """
import numpy as np
from fastnet.kernels import winograd
from fastnet.kernels._config import vector_bytes
from fastnet.reference import naive_conv
errors = []
for dtype in (np.float32, np.float64):
    for xs, k, (ph, pw), r in [((2, 9, 17, 61), 21, (1, 1), 3), ((1, 5, 8, 9), 3, (2, 0), 3),
                               ((2, 9, 17, 61), 21, (2, 2), 5), ((1, 5, 8, 9), 3, (1, 0), 5)]:
        g = np.random.default_rng(0)
        x, w, b = g.standard_normal(xs).astype(dtype), g.standard_normal((k, xs[1], r, r)).astype(dtype), g.standard_normal(k).astype(dtype)
        e = naive_conv.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 2, (ph, pw))
        y = np.full(e.shape, np.nan, dtype)
        winograd.conv2d_forward_winograd(x, w, b, y, ph, pw, stride=2)
        errors.append(np.abs(y - e).max() / np.abs(e).max())
print(vector_bytes(), *errors)
"""


@pytest.mark.skipif(_config.vector_bytes() != 64, reason="covers the AVX2 tile shapes on an AVX-512 host")
def test_avx2_tile_shapes():
    """The AVX2 recipe (NUMBA_CPU_NAME=znver3 NUMBA_CPU_FEATURES=""): 6-row tiles and 8 float32
    lanes, in a fresh process, both forms (rows of 16 tiles: an unmasked output step of 8 tiles,
    then more)."""
    errors = avx2_errors(_OTHER_TARGET)
    assert len(errors) == 8
    assert all(e <= 1e-5 for e in errors[:4]) and all(e <= 1e-12 for e in errors[4:]), errors

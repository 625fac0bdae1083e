"""Winograd F(2x2, 3x3) and F(2x2, 5x5) conv2d (algorithm="winograd"): the transforms' tables,
reference loops, PyTorch, central differences, error bounds, determinism, validation, the Conv2d
layer keyword; the weight transforms' panels, the work split, and the AVX2 tile shapes in a fresh
process. The weight gradient by Winograd F(3x3, 2x2) and F(5x5, 2x2)
(kernels.conv2d.conv2d_backward_weight, algorithm="winograd"): the same checks, its work split and
its "auto" constants."""

import os
from fractions import Fraction

import numba
import numpy as np
import pytest

import fastnet
from fastnet import layers
from fastnet.kernels import conv2d as k2
from fastnet.kernels import _config, winograd, winograd_weight
from fastnet.kernels.microkernel import tile_shape
from fastnet.ops import conv2d, conv2d_backward
from fastnet.reference import naive_conv
from helpers import (DTYPES, assert_close, assert_filter_transform, assert_gradient, avx2_errors, conv_problem,
                     conv_scale, rng)

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
# ... and for 5x5 filters (6x6 windows): the same kinds, padding 0..5 (5: dx takes the direct form)
CASES_5X5 = [pytest.param(xs, k, padding, id="5x5-" + name) for name, xs, k, padding in (
    ("odd-h-p2", (2, 3, 7, 6), 4, 2), ("batch1-p0", (1, 5, 9, 8), 7, 0), ("C17-K19-p1", (2, 17, 8, 11), 19, 1),
    ("one-output", (1, 2, 5, 5), 3, 0), ("C1-K1-one-tile-row", (3, 1, 5, 17), 1, 0), ("p5", (1, 6, 5, 5), 2, 5),
    ("several-chunks", (2, 33, 30, 29), 35, 2))]
FORWARD_CASES = [pytest.param(*case.values, 3, id=case.id) for case in CASES] + \
    [pytest.param(*case.values, 5, id=case.id) for case in CASES_5X5]


def _reference(x, w, b, padding):
    return naive_conv.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 1, padding)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, k, padding, r", FORWARD_CASES)
def test_matches_reference(xs, k, padding, r, dtype):
    """y, dx, dw, db against the loops."""
    ws = (k, xs[1], r, r)
    x, w, b = conv_problem(xs, ws, dtype)
    y = conv2d(x, w, b, 1, padding, algorithm="winograd")
    assert_close(y, _reference(x, w, b, padding).astype(dtype), dtype, scale=conv_scale(ws))
    dy = rng(1).standard_normal(y.shape).astype(dtype)
    dx, dw, db = conv2d_backward(x, w, dy, 1, padding, algorithm="winograd")
    ex, ew, eb = naive_conv.conv2d_backward(x.astype(np.float64), w.astype(np.float64),
                                            dy.astype(np.float64), 1, padding)
    assert_close(dx, ex.astype(dtype), dtype, scale=conv_scale((xs[1], k, r, r)))
    assert_close(dw, ew.astype(dtype), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)
    assert_close(db, eb.astype(dtype), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("r", [3, 5])
def test_kernel_directly_with_asymmetric_padding(r, dtype):
    x, w, b = conv_problem((2, 4, 7, 10), (5, 4, r, r), dtype, seed=2)
    ph, pw = r // 2, 0
    y = np.full((2, 5, 7, 11 - r), np.nan, dtype=dtype)   # Ho = 7, Wo = 10 - r + 1
    winograd.conv2d_forward_winograd(x, w, b, y, ph, pw)
    assert_close(y, _reference(x, w, b, (ph, pw)).astype(dtype), dtype, scale=conv_scale(w.shape))


def _exact(value):
    return Fraction(value).limit_denominator(1000)


@pytest.mark.parametrize("r", [3, 5])
def test_transform_tables_compute_the_correlation(r):
    """In exact arithmetic, the tables of F(2, r) give the 1-D correlation y[i] = sum_k g[k] d[i + k]
    for every basis filter and window: A^T [(G g) * (B^T d)] with G = winograd_weights' G (3x3)
    or diag(FILTER_SCALE_5X5) FILTER_TRANSFORM_5X5 (5x5). The 2-D transforms apply them per axis."""
    bt = [[Fraction(c) for c in row] for row in winograd.INPUT_TRANSFORM[r]]
    at = [[_exact(c) for c in row] for row in winograd.OUTPUT_TRANSFORM[r]]
    if r == 3:
        g = [[Fraction(1), 0, 0], [Fraction(1, 2)] * 3, [Fraction(1, 2), Fraction(-1, 2), Fraction(1, 2)],
             [0, 0, Fraction(1)]]
    else:
        g = [[_exact(s) * c for c in row]
             for s, row in zip(winograd.FILTER_SCALE_5X5, winograd.FILTER_TRANSFORM_5X5)]
    n = r + 1
    assert len(bt) == len(g) == n and len(at) == 2
    for k in range(r):
        for j in range(n):
            filt = [Fraction(int(q == k)) for q in range(r)]
            window = [Fraction(int(q == j)) for q in range(n)]
            u = [sum(row[q] * filt[q] for q in range(r)) for row in g]
            v = [sum(row[q] * window[q] for q in range(n)) for row in bt]
            y = [sum(row[e] * u[e] * v[e] for e in range(n)) for row in at]
            assert y == [int(j == i + k) for i in range(2)], (k, j, y)


@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_transform_5x5_matches_the_formula(dtype):
    """U (6, 6, P, C, nr) = G f G^T per filter, computed in float64 and rounded once, zero past K;
    flip: that of w[:, :, ::-1, ::-1] transposed, read in place, bitwise."""
    w = rng(3).standard_normal((5, 70, 5, 5)).astype(dtype)   # K = 5 in panels of 4; C = 70
    g = np.diag(winograd.FILTER_SCALE_5X5) @ np.array(winograd.FILTER_TRANSFORM_5X5, dtype=np.float64)
    for nr in (4, 6, 8):   # 6: a masked step on every ISA; 4: one on AVX-512 (8 float64 lanes)
        u = winograd.winograd_weights_5x5(w, nr, False)
        panels = -(-5 // nr)
        assert u.shape == (6, 6, panels, 70, nr) and u.dtype == dtype
        got = u.transpose(0, 1, 2, 4, 3).reshape(6, 6, panels * nr, 70)
        assert_filter_transform(got, g, w)
        flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))   # (70, 5, 5, 5)
        np.testing.assert_array_equal(winograd.winograd_weights_5x5(w, nr, True),
                                      winograd.winograd_weights_5x5(flipped, nr, False))


@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_transform_matches_the_formula(dtype):
    # K = 5 in panels of 4 (the second panel has 3 zero columns); C = 70: two channel blocks
    w = rng(3).standard_normal((5, 70, 3, 3)).astype(dtype)
    g = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
    u = winograd.winograd_weights(w, 4, False)
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


@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_transform_of_the_flipped_filters_reads_w_in_place(dtype):
    """flip: the transform of w[:, :, ::-1, ::-1] transposed (the backward-input correlation's
    filters, C x K), read in place, is bitwise that of the flipped copy."""
    w = rng(4).standard_normal((70, 5, 3, 3)).astype(dtype)   # K = 70, C = 5
    flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    u = winograd.winograd_weights(w, 4, True)
    assert u.shape == (16, 2, 70, 4)
    np.testing.assert_array_equal(u, winograd.winograd_weights(flipped, 4, False))


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
from fastnet.kernels import winograd, winograd_weight
from fastnet.kernels._config import vector_bytes
from fastnet.reference import naive_conv
errors, weight_errors = [], []
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
        dy = g.standard_normal(y.shape).astype(dtype)   # the weight gradient
        dw, db = np.full(w.shape, np.nan, dtype), np.full(k, np.nan, dtype)
        winograd_weight.conv2d_backward_weight_winograd(x, dy, dw, db, ph, pw)
        _, ew, eb = naive_conv.conv2d_backward(x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64),
                                               1, (ph, pw))
        weight_errors.append(max(np.abs(dw - ew).max() / np.abs(ew).max(), np.abs(db - eb).max() / np.abs(eb).max()))
print(vector_bytes(), *errors, *weight_errors)
"""


@pytest.mark.skipif(_config.vector_bytes() != 64, reason="covers the AVX2 tile shapes on an AVX-512 host")
def test_avx2_tile_shapes():
    """The AVX2 recipe (NUMBA_CPU_NAME=znver3 NUMBA_CPU_FEATURES=""): 6-row tiles, 8 float32 lanes,
    so other chunk sizes and transposes than this host's; checked in a fresh process (the forward,
    then the weight gradient: rows of 16 tiles of dy, the last a half tile: in float32 an unmasked
    step of 8 tiles, then a masked one)."""
    errors = avx2_errors(_OTHER_TARGET)
    assert len(errors) == 8
    forward, weight = errors[:4], errors[4:]
    assert all(e <= 1e-5 for e in forward[:2]) and all(e <= 1e-12 for e in forward[2:]), errors
    assert all(e <= 1e-5 for e in weight[:2]) and all(e <= 1e-12 for e in weight[2:]), errors


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


@pytest.mark.parametrize("channels", [96, 256])
def test_float32_error_bound_5x5(channels):
    """F(2x2, 5x5) in float32 (6x6 windows, coefficients up to 5 and 16/15): max |error| <= 1e-5 *
    max |y| (measured 2.6e-6 at 96 channels), forward and dx (a sum over the output channels)."""
    x, w, b = conv_problem((2, channels, 11, 11), (16, channels, 5, 5), np.float32, seed=4)
    exact = _reference(x, w, b, 0)
    scale = np.abs(exact).max()
    assert np.abs(conv2d(x, w, b, 1, 0, algorithm="winograd") - exact).max() <= 1e-5 * scale
    dy = rng(5).standard_normal((2, 16, 7, 7)).astype(np.float32)
    exact_dx = naive_conv.conv2d_backward(x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64), 1,
                                          0)[0]
    dx = conv2d_backward(x, w, dy, 1, 0, algorithm="winograd")[0]
    assert np.abs(dx - exact_dx).max() <= 1e-5 * np.abs(exact_dx).max()


@pytest.mark.parametrize("r", [3, 5])
def test_central_difference_gradients(r):
    """5x5 with a step of 1e-4: y is linear in x, w and b, so the central difference has no
    truncation error, and F(2x2, 5x5)'s float64 rounding (about 3e-15 of |y|, 10x the 3x3 form's)
    divided by a 1e-6 step reached 4e-8 of a 6.5e-3 gradient."""
    x, w, b = conv_problem((2, 3, 5, 6), (4, 3, r, r), np.float64, seed=5)
    compared = fastnet.gradcheck(
        lambda x, w, b: conv2d(x, w, b, 1, r // 2, algorithm="winograd"), (x, w, b),
        backward=lambda x, w, b, dy: conv2d_backward(x, w, dy, 1, r // 2, algorithm="winograd"),
        eps=1e-6 if r == 3 else 1e-4, atol=1e-8, rtol=1e-6)
    assert [c.name for c in compared] == ["input 0", "input 1", "input 2"]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, k, padding, r", [((2, 16, 11, 10), 24, 1, 3), ((1, 7, 9, 9), 5, 2, 3),
                                               ((2, 16, 11, 10), 24, 2, 5), ((1, 7, 9, 9), 5, 1, 5)])
def test_matches_torch(torch, xs, k, padding, r, dtype):
    ws = (k, xs[1], r, r)
    x, w, b = conv_problem(xs, ws, dtype, seed=6)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, padding=padding)
    y = conv2d(x, w, b, 1, padding, algorithm="winograd")
    assert_close(y, ty.detach().numpy(), dtype, scale=conv_scale(ws))
    dy = rng(7).standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(dy))
    dx, dw, db = conv2d_backward(x, w, dy, 1, padding, algorithm="winograd")
    assert_close(dx, tx.grad.numpy(), dtype, scale=conv_scale((xs[1], k, r, r)))
    assert_close(dw, tw.grad.numpy(), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)


@pytest.mark.parametrize("r", [3, 5])
def test_deterministic_across_runs_and_thread_counts(r):
    # several chunks (196 tiles, 8 per chunk), so that threads really split the work
    x, w, _ = conv_problem((4, 8, 14, 14), (8, 8, r, r), np.float32, seed=8)
    dy = rng(9).standard_normal((4, 8, 14, 14)).astype(np.float32)

    def run():
        return (conv2d(x, w, None, 1, r // 2, algorithm="winograd"),) + \
            conv2d_backward(x, w, dy, 1, r // 2, algorithm="winograd")

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
    monkeypatch.setattr(k2, "vector_bytes", lambda: 64)   # AVX-512's limits on any CPU
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


@pytest.mark.parametrize("vector_bytes", [32, 16])
def test_auto_needs_more_tiles_below_avx512(vector_bytes, monkeypatch):
    """With AVX2 (or SSE) vectors, "auto" takes Winograd from AVX2_WINOGRAD_MIN_TILES tiles, or
    AVX2_WINOGRAD_MIN_TILES_LARGE above AVX2_WINOGRAD_LARGE channel pairs (C * K); AVX-512 from
    WINOGRAD_MIN_TILES. The forward and the input gradient both follow it."""
    ok = k2.winograd_ok
    monkeypatch.setattr(k2, "vector_bytes", lambda: 64)
    assert ok(64, 64, 32, 3, 3, 1, 1, "auto") and ok(512, 512, 32, 3, 3, 1, 1, "auto")
    monkeypatch.setattr(k2, "vector_bytes", lambda: vector_bytes)
    assert not ok(64, 64, 95, 3, 3, 1, 1, "auto") and ok(64, 64, 96, 3, 3, 1, 1, "auto")
    assert ok(256, 256, 96, 3, 3, 1, 1, "auto")                            # 256 * 256: not large
    assert not ok(256, 384, 191, 3, 3, 1, 1, "auto") and ok(256, 384, 192, 3, 3, 1, 1, "auto")
    assert not ok(16, 16, 10**6, 3, 3, 1, 1, "auto")                       # WINOGRAD_MIN_CHANNELS
    assert ok(64, 64, 1, 3, 3, 1, 1, "winograd") and not ok(64, 64, 10**6, 3, 3, 1, 1, "direct")
    # through conv2d and conv2d_backward: 3 x 3 tiles of 2 x 2 outputs, 4 channels
    x, w, b = conv_problem((1, 4, 6, 6), (4, 4, 3, 3), np.float32, seed=10)
    dy = rng(12).standard_normal((1, 4, 6, 6)).astype(np.float32)
    direct = conv2d(x, w, b, 1, 1, algorithm="direct"), conv2d_backward(x, w, dy, 1, 1, algorithm="direct")[0]
    wino = conv2d(x, w, b, 1, 1, algorithm="winograd"), conv2d_backward(x, w, dy, 1, 1, algorithm="winograd")[0]
    assert not np.array_equal(direct[0], wino[0]) and not np.array_equal(direct[1], wino[1])
    monkeypatch.setattr(k2, "WINOGRAD_MIN_CHANNELS", 4)
    monkeypatch.setattr(k2, "WINOGRAD_MIN_TILES", 9)
    for tiles, large, expected in ((9, 10**6, wino), (10, 10**6, direct), (10**6, 15, wino), (10**6, 16, direct)):
        monkeypatch.setattr(k2, "AVX2_WINOGRAD_MIN_TILES", tiles)
        monkeypatch.setattr(k2, "AVX2_WINOGRAD_MIN_TILES_LARGE", 9)
        monkeypatch.setattr(k2, "AVX2_WINOGRAD_LARGE", large)   # C * K = 16: large below 16
        assert np.array_equal(conv2d(x, w, b, 1, 1), expected[0])
        assert np.array_equal(conv2d_backward(x, w, dy, 1, 1)[0], expected[1])


@pytest.mark.parametrize("vector_bytes", [64, 32])
def test_auto_5x5_follows_its_constants(vector_bytes, monkeypatch):
    """5x5 stride 1: "auto" takes Winograd F(2x2, 5x5) for the forward and dx from
    WINOGRAD_5X5_MIN_CHANNELS channels and WINOGRAD_5X5_MIN_TILES tiles, and F(5x5, 2x2) for dw
    from WINOGRAD_5X5_WEIGHT_MIN_CHANNELS and WINOGRAD_5X5_WEIGHT_MIN_TILES, whatever the vector
    width; neither pass reads the other's constants, nor the 3x3 ones."""
    monkeypatch.setattr(k2, "vector_bytes", lambda: vector_bytes)
    ok = k2.winograd_ok
    assert not ok(32, 32, 159, 5, 5, 1, 1, "auto") and ok(32, 32, 160, 5, 5, 1, 1, "auto")
    assert not ok(16, 64, 10**6, 5, 5, 1, 1, "auto") and not ok(64, 64, 10**6, 5, 5, 2, 2, "auto")
    assert ok(96, 256, 1152, 5, 5, 1, 1, "auto")   # AlexNet conv2 at batch 8
    assert k2.winograd_weight_ok(96, 256, 8 * 23 * 23, 1152, 5, 5, 1, 1, "auto")   # ... its dw too
    assert not k2.winograd_weight_ok(96, 256, 1 * 23 * 23, 144, 5, 5, 1, 1, "auto")   # batch 1
    assert not ok(64, 64, 10**6, 5, 3, 1, 1, "auto") and not ok(64, 64, 10**6, 7, 7, 1, 1, "winograd")
    x, w, b = conv_problem((1, 4, 6, 6), (4, 4, 5, 5), np.float32, seed=10)   # 3 x 3 tiles
    dy = rng(12).standard_normal((1, 4, 6, 6)).astype(np.float32)
    direct = conv2d(x, w, b, 1, 2, algorithm="direct"), conv2d_backward(x, w, dy, 1, 2, algorithm="direct")
    wino = conv2d(x, w, b, 1, 2, algorithm="winograd"), conv2d_backward(x, w, dy, 1, 2, algorithm="winograd")
    assert not np.array_equal(direct[0], wino[0]) and not np.array_equal(direct[1][0], wino[1][0])
    assert not np.array_equal(direct[1][1], wino[1][1]) and np.array_equal(direct[1][2], wino[1][2])   # dw, db
    for channels, tiles, expected in ((4, 9, wino), (5, 9, direct), (4, 10, direct)):
        monkeypatch.setattr(k2, "WINOGRAD_5X5_MIN_CHANNELS", channels)
        monkeypatch.setattr(k2, "WINOGRAD_5X5_MIN_TILES", tiles)
        assert np.array_equal(conv2d(x, w, b, 1, 2), expected[0])
        assert np.array_equal(conv2d_backward(x, w, dy, 1, 2)[0], expected[1][0])
        assert np.array_equal(conv2d_backward(x, w, dy, 1, 2)[1], direct[1][1])   # dw: its own constants
    monkeypatch.setattr(k2, "WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(k2, "WINOGRAD_WEIGHT_MIN_CHANNELS", 1)
    monkeypatch.setattr(k2, "WINOGRAD_WEIGHT_MIN_OUTPUTS", 1)
    # dw: with narrower vectors AVX2_WINOGRAD_5X5_WEIGHT_MIN_TILES applies too (the higher limit)
    if vector_bytes == 64:
        limit = "WINOGRAD_5X5_WEIGHT_MIN_TILES"
        monkeypatch.setattr(k2, "AVX2_WINOGRAD_5X5_WEIGHT_MIN_TILES", 10**9)   # not read
    else:
        limit = "AVX2_WINOGRAD_5X5_WEIGHT_MIN_TILES"
        monkeypatch.setattr(k2, "WINOGRAD_5X5_WEIGHT_MIN_TILES", 1)
    for channels, tiles, expected in ((4, 9, wino), (5, 9, direct), (4, 10, direct)):
        monkeypatch.setattr(k2, "WINOGRAD_5X5_WEIGHT_MIN_CHANNELS", channels)
        monkeypatch.setattr(k2, limit, tiles)
        got = conv2d_backward(x, w, dy, 1, 2)
        assert np.array_equal(got[0], direct[1][0]) and np.array_equal(got[1], expected[1][1])
    # ... and outputs that fill WINOGRAD_5X5_WEIGHT_MIN_FILL of the tiles: 7x7 (49 of 16 tiles' 64) do not
    monkeypatch.setattr(k2, limit, 1)
    x7 = rng(13).standard_normal((1, 4, 7, 7)).astype(np.float32)
    dy7 = rng(14).standard_normal((1, 4, 7, 7)).astype(np.float32)
    dw7 = {alg: conv2d_backward(x7, w, dy7, 1, 2, algorithm=alg)[1] for alg in ("direct", "winograd")}
    assert np.array_equal(conv2d_backward(x7, w, dy7, 1, 2)[1], dw7["direct"])
    monkeypatch.setattr(k2, "WINOGRAD_5X5_WEIGHT_MIN_FILL", 0.75)
    assert np.array_equal(conv2d_backward(x7, w, dy7, 1, 2)[1], dw7["winograd"])
    assert not k2.winograd_weight_ok(64, 64, 10**6, 10**6, 5, 5, 2, 2, "auto")
    assert not k2.winograd_weight_ok(64, 64, 10**6, 10**6, 5, 3, 1, 1, "winograd")


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(algorithm="fast"), ValueError, r"^algorithm: expected one of 'auto', 'direct', 'winograd', got 'fast'"),
    (dict(algorithm=None), TypeError, "^algorithm: expected one of"),
    (dict(algorithm="winograd", stride=3), ValueError, "^algorithm: 'winograd' needs 3x3 or 5x5 filters at stride 1"),
    (dict(algorithm="winograd", w_shape=(2, 3, 7, 7)), ValueError, r"^algorithm: 'winograd' needs 3x3 or 5x5.*7x7"),
    (dict(algorithm="winograd", w_shape=(2, 3, 3, 1)), ValueError, r"^algorithm: 'winograd' needs 3x3 or 5x5.*3x1"),
    (dict(algorithm="winograd", w_shape=(2, 3, 5, 3)), ValueError, r"^algorithm: 'winograd' needs 3x3 or 5x5.*5x3"),
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
    with pytest.raises(ValueError, match="^algorithm: 'winograd' needs kernel_size 3 or 5 and stride 1"):
        layers.Conv2d(3, 4, 3, stride=3, algorithm="winograd")
    with pytest.raises(ValueError, match="^algorithm: 'winograd' needs kernel_size 3 or 5"):
        layers.Conv2d(3, 4, 7, algorithm="winograd")
    with pytest.raises(ValueError, match="^algorithm: 'winograd' needs kernel_size 3 or 5"):
        layers.Conv2d(3, 4, (5, 3), algorithm="winograd")
    five = layers.Conv2d(3, 4, 5, padding=2, dtype=np.float64, seed=0, algorithm="winograd")
    assert np.array_equal(five.forward(x), conv2d(x, five.weight.value, five.bias.value, 1, 2, algorithm="winograd"))


# --- the weight gradient: Winograd F(3x3, 2x2) and F(5x5, 2x2) (kernels.conv2d.conv2d_backward_weight) ---

# CASES plus rows of dy wider than two vectors of tiles (the dy transform's unmasked steps, then a
# masked one; odd Ho and Wo: half tiles at the right and bottom edges), rows of exactly one or two
# vectors of tiles whose last tile is a half tile (Wo = 31: that step must be masked), and
# asymmetric padding
WEIGHT_CASES = [pytest.param(*case.values, 3, id=case.id) for case in CASES + [
    pytest.param((1, 3, 40, 71), 5, 1, id="wide-rows-odd"),
    pytest.param((1, 4, 9, 31), 5, 1, id="half-tile-ends-a-vector"),
    pytest.param((2, 4, 9, 36), 6, (0, 2), id="asym-pad"),
]] + [pytest.param(*case.values, 5, id=case.id) for case in CASES_5X5 + [
    pytest.param((1, 3, 40, 71), 5, 2, id="5x5-wide-rows-odd"),
    pytest.param((1, 4, 11, 31), 5, 2, id="5x5-half-tile-ends-a-vector"),
    pytest.param((2, 4, 9, 36), 6, (0, 3), id="5x5-asym-pad"),
]]


def _pads(padding):
    return (padding, padding) if np.isscalar(padding) else padding


def _weight_grad(x, dy, algorithm="winograd", r=3):
    """(dw, db) by kernels.conv2d.conv2d_backward_weight, outputs prefilled with NaN (so that
    every element must be written); padding from the shapes (r x r, stride 1)."""
    k = dy.shape[1]
    ph = (dy.shape[2] - x.shape[2] + r - 1) // 2
    pw = (dy.shape[3] - x.shape[3] + r - 1) // 2
    dw = np.full((k, x.shape[1], r, r), np.nan, dtype=x.dtype)
    db = np.full(k, np.nan, dtype=x.dtype)
    k2.conv2d_backward_weight(x, dy, dw, db, 1, 1, ph, pw, algorithm=algorithm)
    return dw, db


def _weight_problem(xs, k, padding, dtype, seed=20, r=3):
    ph, pw = _pads(padding)
    gen = rng(seed)
    x = gen.standard_normal(xs).astype(dtype)
    dy = gen.standard_normal((xs[0], k, xs[2] + 2 * ph - r + 1, xs[3] + 2 * pw - r + 1)).astype(dtype)
    return x, dy


def _weight_reference(x, dy, padding, r=3):
    w = np.zeros((dy.shape[1], x.shape[1], r, r))
    _, ew, eb = naive_conv.conv2d_backward(x.astype(np.float64), w, dy.astype(np.float64), 1, padding)
    return ew, eb


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, k, padding, r", WEIGHT_CASES)
def test_weight_gradient_matches_reference(xs, k, padding, r, dtype):
    x, dy = _weight_problem(xs, k, padding, dtype, r=r)
    dw, db = _weight_grad(x, dy, r=r)
    ew, eb = _weight_reference(x, dy, padding, r=r)
    scale = float(np.sqrt(dy[:, 0].size)) + 1
    assert_close(dw, ew.astype(dtype), dtype, scale=scale)
    assert_close(db, eb.astype(dtype), dtype, scale=scale)
    # the kernel itself, called directly, gives the same bits
    dw2, db2 = np.empty_like(dw), np.empty_like(db)
    winograd_weight.conv2d_backward_weight_winograd(x, dy, dw2, db2, *_pads(padding))
    assert np.array_equal(dw, dw2) and np.array_equal(db, db2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("r", [3, 5])
@pytest.mark.parametrize("channels, n_out", [(70, 9), (20, 40)], ids=["input-channels", "output-channels"])
def test_weight_gradient_of_channel_blocks(channels, n_out, r, dtype, monkeypatch):
    """One group split into blocks (as with fewer groups than threads, forced here through the
    thread count weight_split sees): of input channels where C has more panels (70: not a multiple
    of the panel width, the last block narrower), of output channels where K has (40 with 20
    input channels: one or two panels); the same bits as one block."""
    x, dy = _weight_problem((1, channels, 6, 7), n_out, r // 2, dtype, seed=21, r=r)
    mr, nr = tile_shape(np.dtype(dtype))
    one = _weight_grad(x, dy, r=r)
    split = winograd_weight.weight_split
    monkeypatch.setattr(winograd_weight, "weight_split", lambda *a, **kw: split(*a[:-1], 8, **kw))
    _, _, c_block, k_block = winograd_weight.weight_split(1, 6, 7, channels, n_out, x.itemsize, mr, nr, 1, taps=r)
    if channels == 70:
        assert c_block < -(-channels // nr) * nr and k_block == -(-n_out // mr) * mr
    else:
        assert c_block == -(-channels // nr) * nr and k_block < -(-n_out // mr) * mr
    blocks = _weight_grad(x, dy, r=r)
    ew, eb = _weight_reference(x, dy, r // 2, r=r)
    assert_close(blocks[0], ew.astype(dtype), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)
    assert np.array_equal(one[0], blocks[0]) and np.array_equal(one[1], blocks[1])


def test_weight_split():
    """Groups by shape only (at most WEIGHT_GROUPS, at least WEIGHT_GROUP_TILES tiles each, at most
    WEIGHT_PARTIAL_BYTES of partial sums, at least one); the blocks are whole panels, of input
    channels or of output channels, whichever leaves the largest block the smaller share."""
    split = winograd_weight.weight_split
    assert split(8, 56, 56, 64, 64, 4, 8, 32, 1) == (16, 64, 64, 64)    # VGG 64: 6272 tiles
    assert split(8, 56, 56, 64, 64, 4, 8, 32, 2) == (16, 64, 64, 64)
    assert split(8, 28, 28, 128, 128, 4, 8, 32, 1) == (4, 128, 128, 128)   # 1 MB a group
    assert split(8, 14, 14, 256, 256, 4, 8, 32, 1) == (1, 128, 256, 256)   # 4 MB a group
    assert split(8, 14, 14, 256, 256, 4, 8, 32, 2) == (1, 128, 128, 256)   # two blocks of C (a tie: C)
    assert split(1, 3, 3, 3, 3, 4, 8, 32, 2) == (1, 64, 32, 8)             # one tile
    # 5x5: 36 partial sums per (k, c); AlexNet conv2 (96 -> 256, 23x23 b8, 1152 tiles): 3.5 MB a group
    assert split(8, 23, 23, 96, 256, 4, 8, 32, 1, taps=5) == (1, 128, 96, 256)
    assert split(8, 23, 23, 96, 256, 4, 8, 32, 2, taps=5) == (1, 128, 96, 128)   # 3 panels of C: split K
    assert split(8, 23, 23, 96, 256, 4, 8, 32, 3, taps=5) == (1, 128, 32, 256)   # 3 threads: C
    assert split(8, 28, 28, 64, 64, 4, 8, 32, 1, taps=5) == (7, 128, 64, 64)     # 0.6 MB a group: long steps
    for n, ho, wo, c, k in [(2, 30, 29, 33, 35), (1, 1, 1, 1, 1), (4, 14, 14, 512, 512), (9, 9, 9, 70, 3),
                            (1, 23, 23, 96, 256)]:
        for mr, nr in [(8, 32), (8, 16), (6, 16), (6, 8)]:
            for threads in (1, 2, 3, 64):
                for taps in (3, 5):
                    groups, step, c_block, k_block = split(n, ho, wo, c, k, 4, mr, nr, threads, taps)
                    assert groups == split(n, ho, wo, c, k, 4, mr, nr, 1, taps)[0]   # not the threads
                    assert 1 <= groups <= winograd_weight.WEIGHT_GROUPS and step >= 1
                    assert c_block % nr == 0 and nr <= c_block <= -(-c // nr) * nr
                    assert k_block % mr == 0 and mr <= k_block <= -(-k // mr) * mr
                    assert c_block == -(-c // nr) * nr or k_block == -(-k // mr) * mr   # one of the two
                    if groups >= threads:   # blocks only where threads would lack a task
                        assert -(-c // c_block) * -(-k // k_block) == 1


@pytest.mark.parametrize("channels, r", [(64, 3), (256, 3), (96, 5), (256, 5)])
def test_weight_gradient_float32_error_bound(channels, r):
    """float32 Winograd dw against the float64 reference: max |error| <= 1e-5 * max |dw|, within a
    few times the direct kernels' own error. Measured: 3x3 3.2e-7 and 4.0e-7 (the direct core 3.5e-7
    and 6.3e-7); 5x5 3.0e-6 and 3.1e-6 (7.1e-7 and 1.4e-6): F(5x5, 2x2)'s transforms have larger
    terms that cancel. 3x3: 14 groups of tiles (64 channels) and 6 (256); 5x5: 7 and 2."""
    x, dy = _weight_problem((4, channels, 30, 30), 40, r // 2, np.float32, seed=22, r=r)
    ew, _ = _weight_reference(x, dy, r // 2, r=r)
    scale = np.abs(ew).max()
    wino = np.abs(_weight_grad(x, dy, r=r)[0] - ew).max() / scale
    direct = np.abs(_weight_grad(x, dy, "direct", r=r)[0] - ew).max() / scale
    assert wino <= 1e-5
    assert wino <= 10 * max(direct, 1e-7)


@pytest.mark.parametrize("padding, r", [(1, 3), ((0, 2), 3), (2, 5), ((0, 3), 5)])
def test_weight_gradient_central_differences(padding, r):
    x, w, b = conv_problem((2, 3, 5, 6), (4, 3, r, r), np.float64, seed=23)
    y = conv2d(x, w, b, 1, padding)
    dy = rng(24).standard_normal(y.shape)
    dw, db = _weight_grad(x, dy, r=r)
    assert_gradient(dw, lambda w: conv2d(x, w, b, 1, padding), w, dy, rtol=1e-6, atol=1e-8)
    assert_gradient(db, lambda b: conv2d(x, w, b, 1, padding), b, dy, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("xs, k, r", [((4, 8, 30, 30), 8, 3), ((2, 192, 14, 14), 128, 3),
                                     ((4, 8, 30, 30), 8, 5), ((2, 96, 14, 14), 64, 5)],
                         ids=["many-groups", "one-group-channel-blocks", "5x5-many-groups", "5x5-one-group"])
def test_weight_gradient_deterministic_across_runs_and_thread_counts(xs, k, r):
    # 900 tiles: 14 groups of tiles; 98 tiles: one group, whose channels two threads split (each
    # with a few milliseconds of work, so that they run at the same time, on their own buffers)
    x, dy = _weight_problem(xs, k, r // 2, np.float32, seed=25, r=r)
    first, again = _weight_grad(x, dy, r=r), _weight_grad(x, dy, r=r)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = _weight_grad(x, dy, r=r)
        numba.set_num_threads(2)
        double = _weight_grad(x, dy, r=r)
    finally:
        numba.set_num_threads(old)
    for a, b, c, d in zip(first, again, single, double):
        assert np.array_equal(a, b) and np.array_equal(a, c) and np.array_equal(a, d)


def test_weight_gradient_auto_follows_the_dispatch_constants(monkeypatch):
    monkeypatch.setattr(k2, "vector_bytes", lambda: 64)   # AVX-512's limits on any CPU
    x, dy = _weight_problem((1, 4, 6, 6), 4, 1, np.float32, seed=26)   # 36 positions, 4 channels
    direct, wino = _weight_grad(x, dy, "direct")[0], _weight_grad(x, dy, "winograd")[0]
    assert not np.array_equal(direct, wino)   # different rounding: tells the paths apart
    assert np.array_equal(_weight_grad(x, dy, "auto")[0], direct)
    monkeypatch.setattr(k2, "WINOGRAD_WEIGHT_MIN_CHANNELS", 4)
    monkeypatch.setattr(k2, "WINOGRAD_WEIGHT_MIN_OUTPUTS", 36)
    assert np.array_equal(_weight_grad(x, dy, "auto")[0], wino)
    monkeypatch.setattr(k2, "WINOGRAD_AUTO", False)
    assert np.array_equal(_weight_grad(x, dy, "auto")[0], direct)
    monkeypatch.setattr(k2, "WINOGRAD_AUTO", True)
    monkeypatch.setattr(k2, "WINOGRAD_WEIGHT_MIN_OUTPUTS", 37)
    assert np.array_equal(_weight_grad(x, dy, "auto")[0], direct)
    monkeypatch.setattr(k2, "WINOGRAD_WEIGHT_MIN_OUTPUTS", 36)
    monkeypatch.setattr(k2, "WINOGRAD_WEIGHT_MIN_CHANNELS", 5)
    assert np.array_equal(_weight_grad(x, dy, "auto")[0], direct)
    monkeypatch.setattr(k2, "WINOGRAD_WEIGHT_MIN_CHANNELS", 4)
    # C * K = 16 above WINOGRAD_WEIGHT_LARGE: WINOGRAD_WEIGHT_MIN_OUTPUTS_LARGE decides
    monkeypatch.setattr(k2, "WINOGRAD_WEIGHT_LARGE", 15)
    monkeypatch.setattr(k2, "WINOGRAD_WEIGHT_MIN_OUTPUTS_LARGE", 37)
    assert np.array_equal(_weight_grad(x, dy, "auto")[0], direct)
    monkeypatch.setattr(k2, "WINOGRAD_WEIGHT_MIN_OUTPUTS_LARGE", 36)
    assert np.array_equal(_weight_grad(x, dy, "auto")[0], wino)
    monkeypatch.setattr(k2, "WINOGRAD_WEIGHT_LARGE", 16)
    monkeypatch.setattr(k2, "WINOGRAD_WEIGHT_MIN_OUTPUTS", 37)
    assert np.array_equal(_weight_grad(x, dy, "auto")[0], direct)
    # the forward's constants do not decide it, and strided layers never take it
    monkeypatch.setattr(k2, "WINOGRAD_WEIGHT_MIN_OUTPUTS", 36)
    monkeypatch.setattr(k2, "WINOGRAD_MIN_CHANNELS", 10**6)
    monkeypatch.setattr(k2, "WINOGRAD_MIN_TILES", 10**6)
    assert np.array_equal(_weight_grad(x, dy, "auto")[0], wino)
    assert not k2.winograd_weight_ok(64, 64, 10**6, 10**6 // 4, 3, 3, 2, 2, "auto")
    assert not k2.winograd_weight_ok(4, 4, 36, 9, 5, 5, 1, 1, "auto")   # 5x5: its own constants
    assert not k2.winograd_weight_ok(64, 64, 10**6, 10**6 // 4, 3, 3, 1, 1, "direct")


@pytest.mark.parametrize("vector_bytes, size, winograd_expected", [
    (64, 7, True), (32, 7, False), (16, 7, False),   # 7 x 7: 49 of 16 tiles' 64 positions
    (32, 9, True), (32, 6, True),                     # 81 of 100; 36 of 36
])
def test_weight_gradient_needs_full_tiles_below_avx512(vector_bytes, size, winograd_expected, monkeypatch):
    """With AVX2 (or SSE) vectors, "auto" takes Winograd for the weight gradient only where dy's
    positions fill at least AVX2_WINOGRAD_WEIGHT_MIN_FILL of its 2 x 2 tiles (7 x 7 maps do not)."""
    monkeypatch.setattr(k2, "vector_bytes", lambda: vector_bytes)
    monkeypatch.setattr(k2, "WINOGRAD_WEIGHT_MIN_CHANNELS", 4)
    monkeypatch.setattr(k2, "WINOGRAD_WEIGHT_MIN_OUTPUTS", 1)
    x, dy = _weight_problem((2, 4, size, size), 5, 1, np.float32, seed=27)
    direct, wino = _weight_grad(x, dy, "direct")[0], _weight_grad(x, dy, "winograd")[0]
    assert not np.array_equal(direct, wino)
    assert np.array_equal(_weight_grad(x, dy, "auto")[0], wino if winograd_expected else direct)
    tiles = 2 * ((size + 1) // 2) ** 2
    assert k2.winograd_weight_ok(4, 5, 2 * size * size, tiles, 3, 3, 1, 1, "auto") == winograd_expected


def test_limits_script_measures_both_algorithms(capsys):
    """bench/winograd_limits.py, the table behind auto's limits: one tiny 2-D and 3-D layer, each
    pass a positive ratio, and auto's picks as this CPU's rule gives them."""
    import importlib.util
    path = os.path.join(os.path.dirname(__file__), os.pardir, "bench", "winograd_limits.py")
    spec = importlib.util.spec_from_file_location("winograd_limits", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    (layer, tiles, ratio, picks), = script.measure([(2, 4, 5, 6)], rounds=1, calls=1)
    assert layer == (2, 4, 5, 6) and tiles == 2 * 3 * 3
    assert set(ratio) == {"fwd", "dx", "dw"} and all(np.isfinite(r) and r > 0 for r in ratio.values())
    assert picks == "D/D/D"   # 4 and 5 channels: under every limit
    (_, tiles3, ratio3, picks3), = script.measure([(1, 12, 4, 4, 6)], three_d=True, rounds=1, calls=1)
    assert tiles3 == 2 * 3 * 3 and all(np.isfinite(r) and r > 0 for r in ratio3.values())
    assert picks3 == "D/D/D"   # 18 tiles: under every 3-D limit
    (_, tiles5, ratio5, picks5), = script.measure([(2, 4, 5, 6)], rounds=1, calls=1, taps=5)
    assert tiles5 == 18 and set(ratio5) == {"fwd", "dx", "dw"}
    assert all(np.isfinite(r) and r > 0 for r in ratio5.values())
    assert picks5 == "D/D/D" and len(script.LAYERS_2D_5X5) == 67
    for taps in (3, 5):   # --stride2 [--5x5]: the forward only, 12x12 inputs: 6x6 outputs, 9 tiles per image
        (_, tiles2, ratio2, picks2), = script.measure([(2, 4, 5, 12)], rounds=1, calls=1, taps=taps, stride=2)
        assert tiles2 == 18 and set(ratio2) == {"fwd"} and np.isfinite(ratio2["fwd"]) and ratio2["fwd"] > 0
        assert picks2 == "D"
    assert len(script.LAYERS_2D_STRIDE2) == 90
    threads = numba.get_num_threads()
    try:   # main sets the thread count: the tests after this one keep theirs
        script.main(["--threads", "1", "--rounds", "1", "--layers", "1,4,4,6"])
        out = capsys.readouterr().out
        assert "direct time / Winograd time" in out and "| (1, 4, 4, 6) | 9 |" in out
        script.main(["--threads", "1", "--rounds", "1", "--layers", "1,4,4,6", "--5x5"])
    finally:
        numba.set_num_threads(threads)
    out = capsys.readouterr().out.rstrip()
    assert "| (1, 4, 4, 6) | 9 |" in out and "| - |" not in out and out.endswith("| D/D/D |")   # dw measured too

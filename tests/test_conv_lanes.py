"""The forward form with output positions in vector lanes (kernels/conv_lanes.py): strided layers of few
channels. Reference loops, the core's results, the step order, central differences, PyTorch, NaN, threads."""

import numba
import numpy as np
import pytest

from fastnet.kernels import conv2d as conv2d_kernels
from fastnet.kernels import conv3d as conv3d_kernels
from fastnet.kernels import conv_lanes
from fastnet.ops import conv2d, conv2d_backward, conv3d
from fastnet.reference import naive_conv
from helpers import DTYPES, assert_close, assert_gradient, conv_problem, conv_scale, rng

# (x shape, w shape, stride, padding), 5-D; every output row at least 16 positions (the vector
# lanes of float32 on AVX-512, the widest case), most not a multiple of them (the last vector of a
# row overlaps the one before), K not a multiple of a tile's channels (4 or 8)
CASES = [
    pytest.param((2, 3, 1, 9, 40), (5, 3, 1, 7, 7), (1, 2, 2), (0, 3, 3), id="stem-like-7x7s2p3"),
    pytest.param((1, 1, 1, 6, 70), (7, 1, 1, 3, 5), (1, 1, 4), (0, 1, 2), id="C1-s4"),
    pytest.param((2, 4, 1, 5, 60), (13, 4, 1, 3, 3), (1, 3, 3), (0, 1, 1), id="C4-s3"),
    pytest.param((1, 3, 1, 4, 90), (4, 3, 1, 2, 6), (1, 1, 5), (0, 0, 2), id="s5-K4"),
    pytest.param((1, 3, 1, 3, 64), (9, 3, 1, 3, 3), 2, (0, 1, 1), id="rows-of-whole-vectors"),
    pytest.param((1, 2, 5, 6, 36), (3, 2, 3, 3, 3), (2, 1, 2), 1, id="3d"),
    pytest.param((3, 3, 1, 2, 33), (17, 3, 1, 2, 2), (1, 2, 2), 0, id="K17-batch3"),
    pytest.param((2, 3, 1, 6, 40), (4, 3, 1, 3, 3), 1, (0, 1, 1), id="s1-3x3"),
    pytest.param((3, 1, 1, 12, 28), (6, 1, 1, 5, 5), 1, (0, 2, 2), id="s1-LeNet-C1"),
]


def _forward(x, w, b, stride, padding, lanes):
    stride = (stride,) * 3 if np.isscalar(stride) else stride
    padding = (padding,) * 3 if np.isscalar(padding) else padding
    out = [(s + 2 * p - f) // st + 1 for s, p, f, st in zip(x.shape[2:], padding, w.shape[2:], stride)]
    y = np.full((x.shape[0], w.shape[0], *out), np.nan, dtype=x.dtype)
    conv3d_kernels.conv3d_forward(x, w, b, y, *stride, *padding, lanes=lanes)
    return y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, stride, padding", CASES)
def test_matches_reference_and_the_core(xs, ws, stride, padding, dtype):
    x, w, b = conv_problem(xs, ws, dtype, seed=3)
    y = _forward(x, w, b, stride, padding, lanes=True)
    expected = naive_conv.conv3d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), stride, padding)
    assert_close(y, expected.astype(dtype), dtype, scale=conv_scale(ws))
    # the same sums as the core's, in another order
    assert_close(y, _forward(x, w, b, stride, padding, lanes=False), dtype, scale=conv_scale(ws))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("s, pw, width", [(1, 2, 28), (2, 3, 224), (2, 0, 7), (3, 1, 20), (4, 0, 227), (4, 5, 9),
                                          (5, 2, 31), (2, 4, 3), (2, 1, 17), (4, 2, 38), (4, 3, 70), (2, 0, 64)])
def test_fill_phases_matches_numpy(s, pw, width, dtype):
    # (2, 1, 17): 8 positions inside the row, one vector of float32 on AVX2; (4, 2, 38): 9, the
    # last vector overlapping; (2, 0, 64) and (4, 3, 70) with whole vectors of float64
    n, c, d, h, pd, ph = 2, 3, 2, 3, 1, 2
    wq = (width + 2 * pw) // s + 2   # a few columns past the padded input: zeros too
    x = rng(s).standard_normal((n, c, d, h, width)).astype(dtype)
    xq = np.full((n, d + 2 * pd, h + 2 * ph, c, s, wq), np.nan, dtype=dtype)
    conv_lanes._fill_phases(x, xq, pd, ph, pw)
    padded = np.zeros((n, c, d + 2 * pd, h + 2 * ph, wq * s + width + 2 * pw), dtype=dtype)
    padded[:, :, pd:pd + d, ph:ph + h, pw:pw + width] = x
    expected = padded[..., :wq * s].reshape(n, c, d + 2 * pd, h + 2 * ph, wq, s).transpose(0, 2, 3, 1, 5, 4)
    assert np.array_equal(xq, expected)


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5])
def test_pack_lanes_weights_matches_numpy(s):
    w = rng(5).standard_normal((7, 3, 2, 3, 4))
    kb = conv_lanes.lanes_shape(w.dtype)[0]
    groups = -(-7 // kb)
    wpk = np.full((groups, 2 * 3 * 4 * 3, kb), np.nan)
    conv_lanes._pack_lanes_weights(w, wpk, conv_lanes._weight_offsets((2, 3, 4), 3, s))
    padded = np.zeros((groups * kb,) + w.shape[1:])
    padded[:7] = w
    a, b, c, e = conv_lanes._step_order((2, 3, 4), 3, s).T
    expected = padded[:, c, a, b, e].reshape(groups, kb, -1).transpose(0, 2, 1)
    assert np.array_equal(wpk, expected)


def test_step_order_and_offsets():
    # every step once; filter rows, then channels, then the taps by phase: e % s, then e // s
    order = conv_lanes._step_order((1, 2, 11), 3, 4)
    row_taps = [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7]
    assert order.tolist() == [[0, b, c, e] for b in range(2) for c in range(3) for e in row_taps]
    assert conv_lanes._step_order((1, 1, 3), 1, 5)[:, 3].tolist() == [0, 1, 2]   # stride > taps
    assert conv_lanes._step_order((2, 2, 3), 2, 1)[:, 3].tolist() == [0, 1, 2] * 8
    # each step's offset: xq[a, b, c, e % s, e // s] in a (Dp, Hp, C, s, Wq) layout
    hq, wq = 9, 20
    xq = np.arange(2 * hq * 3 * 4 * wq).reshape(2, hq, 3, 4, wq)
    a, b, c, e = conv_lanes._step_order((2, 2, 11), 3, 4).T
    offsets = conv_lanes._step_offsets((2, 2, 11), 3, 4, hq, wq)
    assert np.array_equal(offsets, xq[a, b, c, e % 4, e // 4])


def test_lanes_fit_by_shape():
    fit = conv_lanes.lanes_fit
    lanes = conv_lanes.lanes_shape(np.float32)[2]
    assert fit(3, 7 * 7, 2, 112, np.float32)           # ResNet's stem
    assert fit(3, 3 * 3, 2, 112, np.float32)           # a 3x3 stride-2 stem
    assert fit(3, 11 * 11, 4, 55, np.float32) == (lanes == 8)   # AlexNet conv1 (AVX-512: 4 vectors of 16 waste)
    assert not fit(3, 7 * 7 * 7, 2, 112, np.float32)   # a 7x7x7 3-D stem: 1029 steps, the core
    assert fit(3, 3 * 3, 1, 224, np.float32)           # VGG's first layer, stride 1
    assert fit(1, 5 * 5, 1, 32, np.float32)            # LeNet's C1 on 32 x 32 (rows of whole vectors)
    assert not fit(5, 3 * 3, 2, 112, np.float32)       # more channels
    assert not fit(3, 3 * 3, 2, lanes - 1, np.float32)   # rows shorter than a vector
    assert not fit(3, 3 * 3, 2, lanes + 1, np.float32)   # two vectors for W + 1 positions: waste
    assert fit(3, 3 * 3, 2, 8 * lanes + 1, np.float32)


def test_ops_take_it_by_shape(monkeypatch):
    calls = []
    real = conv3d_kernels.conv_lanes_forward
    monkeypatch.setattr(conv3d_kernels, "conv_lanes_forward", lambda *a: (calls.append(a[0].shape), real(*a))[1])
    x, w, b = conv_problem((1, 3, 8, 64), (5, 3, 3, 3), np.float32, seed=4)   # rows of 32 outputs
    y = conv2d(x, w, b, stride=2, padding=1)
    assert calls == [(1, 3, 1, 8, 64)]
    assert_close(y, naive_conv.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 2, 1)
                 .astype(np.float32), np.float32, scale=conv_scale(w.shape))
    conv3d(x[:, :, None], w[:, :, None], b, stride=(1, 2, 2), padding=(0, 1, 1))
    assert calls == [(1, 3, 1, 8, 64)] * 2
    # stride 1: before the flat planes, unless the caller forces those or the core
    y1 = conv2d(x, w, b, stride=1, padding=1)
    assert calls == [(1, 3, 1, 8, 64)] * 3
    for plane in (True, False):
        forced = np.empty_like(y1)
        conv2d_kernels.conv2d_forward(x, w, b, forced, 1, 1, 1, 1, plane=plane)
        assert calls == [(1, 3, 1, 8, 64)] * 3
        assert_close(forced, y1, np.float32, scale=conv_scale(w.shape))
    conv2d(x[:, :1], w[:, :1], b, stride=1, padding=1)   # and one channel
    assert calls == [(1, 3, 1, 8, 64)] * 3 + [(1, 1, 1, 8, 64)]


def test_central_differences_float64():
    # the forward (this form) against the analytic backward (the core's): central differences of
    # the forward in x and in w
    x, w, b = conv_problem((1, 2, 3, 32), (3, 2, 3, 3), np.float64, seed=6)
    assert conv_lanes.lanes_fit(2, 9, 2, 16, np.float64)
    dy = rng(7).standard_normal((1, 3, 2, 16))
    dx, dw, _ = conv2d_backward(x, w, dy, 2, 1)
    assert_gradient(dx, lambda v: conv2d(v, w, b, 2, 1), x, dy)
    assert_gradient(dw, lambda v: conv2d(x, v, b, 2, 1), w, dy)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_nonfinite_input_reaches_exactly_the_outputs_that_see_it(bad):
    x, w, b = conv_problem((1, 3, 1, 5, 48), (6, 3, 1, 3, 5), np.float64, seed=8)
    x[0, 1, 0, 2, 17] = bad
    y = _forward(x, w, b, (1, 1, 2), (0, 1, 2), lanes=True)
    expected = naive_conv.conv3d(x, w, b, (1, 1, 2), (0, 1, 2))
    assert np.array_equal(np.isnan(y), np.isnan(expected))
    assert np.array_equal(np.isinf(y), np.isinf(expected))
    finite = np.isfinite(expected)
    assert 0 < finite.sum() < finite.size
    assert_close(y[finite], expected[finite], np.float64)


def test_deterministic_across_thread_counts():
    x, w, b = conv_problem((3, 3, 1, 11, 70), (10, 3, 1, 5, 5), np.float32, seed=9)
    first = _forward(x, w, b, 2, 2, lanes=True)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = _forward(x, w, b, 2, 2, lanes=True)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(first, single)
    assert np.array_equal(first, _forward(x, w, b, 2, 2, lanes=True))


@pytest.mark.parametrize("y_shape, threads", [((8, 96, 1, 55, 55), 2), ((1, 96, 1, 55, 55), 2), ((1, 5, 1, 2, 9), 4),
                                              ((3, 64, 1, 112, 112), 16), ((2, 8, 3, 20, 40), 3)])
def test_tile_parts_share_the_tiles_evenly(y_shape, threads):
    _, nv, lanes = conv_lanes.lanes_shape(np.float32)
    n, _, do, ho, wo = y_shape
    tiles = -(-n * do * ho * -(-wo // lanes) // nv)
    parts = conv_lanes._tile_parts(y_shape, np.float32, threads)
    assert parts % threads == 0 or parts == tiles   # as many for every thread, unless too few tiles
    sizes = [(p + 1) * tiles // parts - p * tiles // parts for p in range(parts)]
    assert sum(sizes) == tiles and min(sizes) >= 1
    assert max(sizes) <= conv_lanes.CHUNK_TILES and max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("parts", [1, 2, 7, 1000])
def test_any_split_of_the_tiles_gives_the_same_result(parts, monkeypatch):
    # 30 tiles of 3 vectors (18 on AVX-512): in one part, in uneven ones, one part a tile, and
    # more parts than tiles (some empty)
    x, w, b = conv_problem((3, 3, 1, 11, 70), (10, 3, 1, 5, 5), np.float32, seed=12)
    expected = naive_conv.conv3d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 2, 2)
    first = _forward(x, w, b, 2, 2, lanes=True)
    assert_close(first, expected.astype(np.float32), np.float32, scale=conv_scale(w.shape))
    monkeypatch.setattr(conv_lanes, "_tile_parts", lambda y_shape, dtype, threads: parts)
    assert np.array_equal(_forward(x, w, b, 2, 2, lanes=True), first)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    x, w, b = conv_problem((2, 3, 20, 64), (8, 3, 7, 7), dtype, seed=10)   # a small ResNet stem
    y = conv2d(x, w, b, stride=2, padding=3)
    expected = torch.nn.functional.conv2d(*(torch.from_numpy(a) for a in (x, w, b)), stride=2, padding=3)
    assert_close(y, expected.numpy(), dtype, scale=conv_scale(w.shape))


def test_rows_shorter_than_a_vector_are_refused_not_written_out_of_place():
    lanes = conv_lanes.lanes_shape(np.float32)[2]
    x, w, b = conv_problem((1, 3, 1, 3, 2 * lanes - 2), (2, 3, 1, 1, 1), np.float32)   # rows of W - 1 outputs
    with pytest.raises(ValueError, match="^y: output rows of"):
        _forward(x, w, b, (1, 1, 2), 0, lanes=True)

"""conv2d / conv2d_backward: reference loops, central differences, PyTorch, validation, NaN."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnet.ops import conv2d, conv2d_backward
from fastnet.reference import naive_conv
from helpers import DTYPES, assert_close, assert_gradient, conv_problem, conv_scale, rng

# (x shape, w shape, stride, padding): batch 1, 1x1 kernels, kernel equal to the padded input,
# stride > kernel, odd sizes, asymmetric stride and padding, C = 1 and K = 1.
CASES = [
    pytest.param((2, 3, 7, 6), (4, 3, 3, 3), 1, 1, id="3x3-s1-p1"),
    pytest.param((1, 2, 9, 8), (5, 2, 3, 3), (2, 3), (1, 2), id="batch1-asym-stride-pad"),
    pytest.param((2, 3, 5, 7), (6, 3, 1, 1), 1, 0, id="1x1"),
    pytest.param((2, 2, 5, 5), (3, 2, 7, 7), 1, 1, id="kernel-equals-padded-input"),
    pytest.param((2, 2, 9, 11), (3, 2, 2, 2), (3, 4), (0, 1), id="stride-gt-kernel"),
    pytest.param((3, 1, 7, 9), (2, 1, 3, 5), (2, 1), (2, 0), id="C1-odd"),
    pytest.param((2, 4, 6, 5), (1, 4, 2, 3), 1, (0, 2), id="K1"),
    pytest.param((1, 1, 1, 1), (1, 1, 1, 1), 1, 0, id="single-pixel"),
    pytest.param((2, 5, 12, 13), (9, 5, 5, 4), 2, 2, id="K9-5x4-s2"),
    pytest.param((2, 3, 17, 19), (7, 3, 11, 11), 4, 0, id="alexnet-like-s4"),
    # C >= 16: backward-input takes the gather (residue-class) form at stride 1 or batch 1
    pytest.param((2, 16, 7, 6), (5, 16, 3, 3), 1, 1, id="C16-s1"),
    pytest.param((1, 18, 9, 10), (3, 18, 3, 4), (2, 3), (1, 2), id="C18-batch1-strided"),
    pytest.param((2, 16, 9, 8), (4, 16, 3, 3), 2, 1, id="C16-strided-scatter"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, stride, padding", CASES)
def test_matches_reference(xs, ws, stride, padding, dtype):
    x, w, b = conv_problem(xs, ws, dtype)
    y = conv2d(x, w, b, stride, padding)
    expected = naive_conv.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                                 stride, padding)
    assert_close(y, expected.astype(dtype), dtype, scale=conv_scale(ws))
    dy = rng(1).standard_normal(y.shape).astype(dtype)
    dx, dw, db = conv2d_backward(x, w, dy, stride, padding)
    ex, ew, eb = naive_conv.conv2d_backward(x.astype(np.float64), w.astype(np.float64),
                                            dy.astype(np.float64), stride, padding)
    assert_close(dx, ex.astype(dtype), dtype, scale=conv_scale(ws))
    assert_close(dw, ew.astype(dtype), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)
    assert_close(db, eb.astype(dtype), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)


@settings(max_examples=15)
@given(n=st.integers(1, 2), c=st.integers(1, 3), k=st.integers(1, 5),
       h=st.integers(1, 9), wd=st.integers(1, 9), fh=st.integers(1, 4), fw=st.integers(1, 4),
       sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
       seed=st.integers(0, 2**16))
def test_property_random_shapes(n, c, k, h, wd, fh, fw, sh, sw, ph, pw, seed):
    if fh > h + 2 * ph or fw > wd + 2 * pw:
        with pytest.raises(ValueError, match="^w:"):
            conv2d(np.zeros((n, c, h, wd)), np.zeros((k, c, fh, fw)), None, (sh, sw), (ph, pw))
        return
    x, w, b = conv_problem((n, c, h, wd), (k, c, fh, fw), np.float64, seed)
    y = conv2d(x, w, b, (sh, sw), (ph, pw))
    assert_close(y, naive_conv.conv2d(x, w, b, (sh, sw), (ph, pw)), np.float64)
    dy = rng(seed + 1).standard_normal(y.shape)
    for got, want in zip(conv2d_backward(x, w, dy, (sh, sw), (ph, pw)),
                         naive_conv.conv2d_backward(x, w, dy, (sh, sw), (ph, pw))):
        assert_close(got, want, np.float64)


@pytest.mark.parametrize("xs, ws, stride, padding", [
    ((2, 2, 5, 4), (3, 2, 3, 2), 1, 1),
    ((1, 2, 6, 7), (2, 2, 3, 3), (2, 3), (1, 0)),
])
def test_central_difference_gradients(xs, ws, stride, padding):
    x, w, b = conv_problem(xs, ws, np.float64, seed=3)
    y = conv2d(x, w, b, stride, padding)
    dy = rng(4).standard_normal(y.shape)
    dx, dw, db = conv2d_backward(x, w, dy, stride, padding)
    assert_gradient(dx, lambda v: conv2d(v, w, b, stride, padding), x, dy)
    assert_gradient(dw, lambda v: conv2d(x, v, b, stride, padding), w, dy)
    assert_gradient(db, lambda v: conv2d(x, w, v, stride, padding), b, dy)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, stride, padding", [
    ((2, 3, 10, 9), (4, 3, 3, 3), 1, 1),
    ((3, 4, 13, 12), (5, 4, 5, 3), (2, 3), (2, 1)),
    ((1, 2, 8, 8), (3, 2, 1, 1), 2, 0),
])
def test_matches_torch(torch, xs, ws, stride, padding, dtype):
    x, w, b = conv_problem(xs, ws, dtype, seed=5)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=padding)
    y = conv2d(x, w, b, stride, padding)
    assert_close(y, ty.detach().numpy(), dtype, scale=conv_scale(ws))
    dy = rng(6).standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(dy))
    dx, dw, db = conv2d_backward(x, w, dy, stride, padding)
    assert_close(dx, tx.grad.numpy(), dtype, scale=conv_scale(ws))
    assert_close(dw, tw.grad.numpy(), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)
    assert_close(db, tb.grad.numpy(), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)


def test_bias_none_is_zero_bias_and_noncontiguous_inputs():
    x, w, b = conv_problem((2, 3, 8, 9), (4, 3, 3, 3), np.float32, seed=7)
    assert np.array_equal(conv2d(x, w), conv2d(x, w, np.zeros(4, np.float32)))
    # Fortran-ordered / strided views give the same answer as their contiguous copies
    xf = np.asfortranarray(x)
    wt = np.ascontiguousarray(w.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    bs = np.repeat(b, 2)[::2]
    assert not xf.flags.c_contiguous and not wt.flags.c_contiguous and not bs.flags.c_contiguous
    y = conv2d(xf, wt, bs, 2, 1)
    assert y.flags.c_contiguous
    assert np.array_equal(y, conv2d(x, w, b, 2, 1))
    dy = rng(8).standard_normal(y.shape).astype(np.float32)
    for got, want in zip(conv2d_backward(xf, wt, np.asfortranarray(dy), 2, 1),
                         conv2d_backward(x, w, dy, 2, 1)):
        assert got.flags.c_contiguous
        assert np.array_equal(got, want)


@pytest.mark.parametrize("xs, ws, stride, padding, dys", [
    ((4, 8, 20, 20), (8, 8, 3, 3), 2, 1, (4, 8, 10, 10)),      # the tile core
    ((9, 6, 14, 14), (16, 6, 5, 5), 1, 0, (9, 16, 10, 10)),    # the flat planes (LeNet C3)
], ids=["core", "flat-plane"])
def test_deterministic_across_runs_and_thread_counts(xs, ws, stride, padding, dys):
    x, w, _ = conv_problem(xs, ws, np.float32, seed=9)
    dy = rng(10).standard_normal(dys).astype(np.float32)
    first = (conv2d(x, w, None, stride, padding),) + conv2d_backward(x, w, dy, stride, padding)
    again = (conv2d(x, w, None, stride, padding),) + conv2d_backward(x, w, dy, stride, padding)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = (conv2d(x, w, None, stride, padding),) + conv2d_backward(x, w, dy, stride, padding)
    finally:
        numba.set_num_threads(old)
    for a, b, c in zip(first, again, single):
        assert np.array_equal(a, b)
        assert np.array_equal(a, c)


def test_nan_propagates_to_the_outputs_that_see_it():
    x, w, b = conv_problem((1, 2, 7, 8), (3, 2, 3, 3), np.float64, seed=11)
    x[0, 1, 2, 5] = np.nan
    y = conv2d(x, w, b, 1, 1)
    # the outputs whose window covers x[0, :, 2, 5] (padded (3, 6)): rows 1..3, cols 4..6
    sees = np.zeros(y.shape, bool)
    sees[:, :, 1:4, 4:7] = True
    assert np.isnan(y[sees]).all()
    assert np.isfinite(y[~sees]).all()
    dy = np.ones_like(y)
    dx, dw, db = conv2d_backward(x, w, dy, 1, 1)
    assert np.isnan(dw[:, 1]).all()          # every tap of channel 1 meets the NaN once
    assert np.isfinite(dw[:, 0]).all()
    assert np.isfinite(dx).all() and np.isfinite(db).all()   # they do not read x


def _bad_inputs():
    f32, f64 = np.float32, np.float64
    x = np.zeros((2, 3, 8, 8), f32)
    w = np.zeros((4, 3, 3, 3), f32)
    b = np.zeros(4, f32)
    return [
        (dict(x=x.astype(np.int32)), TypeError, "^x: expected dtype float32 or float64, got int32"),
        (dict(x=x.astype(np.float16)), TypeError, "^x: expected dtype"),
        (dict(x=x.tolist()), TypeError, "^x: expected a numpy.ndarray"),
        (dict(w=w.astype(f64)), TypeError, "^w: dtype float64 does not match x dtype float32"),
        (dict(b=b.astype(f64)), TypeError, "^b: dtype float64 does not match"),
        (dict(x=x[0]), ValueError, r"^x: expected a 4-D array, got 3-D"),
        (dict(w=w[0]), ValueError, r"^w: expected a 4-D array, got 3-D"),
        (dict(b=b[None]), ValueError, r"^b: expected a 1-D array, got 2-D"),
        (dict(w=np.zeros((4, 2, 3, 3), f32)), ValueError, r"^w: expected 3 input channels"),
        (dict(b=np.zeros(5, f32)), ValueError, r"^b: expected shape \(4,\).*got \(5,\)"),
        (dict(w=np.zeros((0, 3, 3, 3), f32), b=None), ValueError, r"^w: every dimension"),
        (dict(stride=0), ValueError, "^stride: every entry must be >= 1, got 0"),
        (dict(stride=(1, 0)), ValueError, "^stride: every entry must be >= 1"),
        (dict(stride=(1, 1, 1)), ValueError, "^stride: expected an int or a tuple of 2 ints"),
        (dict(stride=1.5), TypeError, "^stride: expected an int"),
        (dict(padding=-1), ValueError, "^padding: every entry must be >= 0, got -1"),
        (dict(padding=(1,)), ValueError, "^padding: expected an int or a tuple of 2 ints"),
        (dict(w=np.zeros((4, 3, 11, 3), f32)), ValueError, "^w: window of 11 along H is larger"),
        (dict(w=np.zeros((4, 3, 3, 13), f32), padding=2), ValueError, "^w: window of 13 along W"),
    ]


@pytest.mark.parametrize("change, error, message", _bad_inputs())
def test_bad_input_forward(change, error, message):
    args = dict(x=np.zeros((2, 3, 8, 8), np.float32), w=np.zeros((4, 3, 3, 3), np.float32),
                b=np.zeros(4, np.float32), stride=1, padding=0)
    args.update(change)
    with pytest.raises(error, match=message):
        conv2d(**args)


@pytest.mark.parametrize("change, error, message", [c for c in _bad_inputs() if "b" not in c[0]] + [
    (dict(dy=np.zeros((2, 4, 6, 5), np.float32)), ValueError,
     r"^dy: expected shape \(2, 4, 6, 6\), got \(2, 4, 6, 5\)"),
    (dict(dy=np.zeros((2, 4, 6, 6), np.float64)), TypeError, "^dy: dtype float64 does not match"),
    (dict(dy=np.zeros((2, 4, 6), np.float32)), ValueError, "^dy: expected a 4-D array"),
])
def test_bad_input_backward(change, error, message):
    args = dict(x=np.zeros((2, 3, 8, 8), np.float32), w=np.zeros((4, 3, 3, 3), np.float32),
                dy=np.zeros((2, 4, 6, 6), np.float32), stride=1, padding=0)
    change = {k: v for k, v in change.items() if k != "b"}
    args.update(change)
    with pytest.raises(error, match=message):
        conv2d_backward(**args)


# --- the two implementations behind conv2d at stride 1 (fastnet.kernels.conv2d picks by shape) ---

from fastnet.kernels import conv2d as conv2d_kernels  # noqa: E402

PLANE_CASES = [
    pytest.param((2, 1, 28, 28), (6, 1, 5, 5), 2, id="lenet-c1"),
    pytest.param((7, 6, 14, 14), (16, 6, 5, 5), 0, id="lenet-c3-groups-of-images"),
    pytest.param((2, 3, 7, 9), (5, 3, 3, 7), (1, 3), id="fw7-asym-pad"),
    pytest.param((3, 2, 5, 5), (3, 2, 5, 5), 0, id="kernel-equals-input"),
    pytest.param((2, 2, 5, 4), (9, 2, 2, 4), (1, 2), id="fw4-k9"),
    pytest.param((1, 1, 1, 1), (1, 1, 1, 1), 0, id="single-pixel"),
    pytest.param((2, 4, 6, 6), (2, 4, 3, 3), (3, 3), id="padding-above-f-1"),
]


def _kernel_call(x, w, b, dy, padding, plane):
    ph, pw = (padding, padding) if np.isscalar(padding) else padding
    y = np.empty(dy.shape, dtype=x.dtype)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    conv2d_kernels.conv2d_forward(x, w, b, y, 1, 1, ph, pw, plane=plane)
    conv2d_kernels.conv2d_backward_input(dy, w, dx, 1, 1, ph, pw, plane=plane)
    conv2d_kernels.conv2d_backward_weight(x, dy, dw, db, 1, 1, ph, pw, plane=plane)
    return y, dx, dw, db


@pytest.mark.parametrize("plane", [True, False], ids=["flat-plane", "core"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, padding", PLANE_CASES)
def test_stride1_implementations_match_reference(xs, ws, padding, dtype, plane):
    x, w, b = conv_problem(xs, ws, dtype, seed=5)
    expected_y = naive_conv.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 1,
                                   padding)
    dy = rng(6).standard_normal(expected_y.shape).astype(dtype)
    y, dx, dw, db = _kernel_call(x, w, b, dy, padding, plane)
    ex, ew, eb = naive_conv.conv2d_backward(x.astype(np.float64), w.astype(np.float64),
                                            dy.astype(np.float64), 1, padding)
    assert_close(y, expected_y.astype(dtype), dtype, scale=conv_scale(ws))
    assert_close(dx, ex.astype(dtype), dtype, scale=conv_scale((ws[1], ws[0]) + ws[2:]))
    assert_close(dw, ew.astype(dtype), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)
    assert_close(db, eb.astype(dtype), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)


@pytest.mark.parametrize("plane_max", [0, 10**9], ids=["core", "flat-plane"])
def test_central_difference_gradients_of_both_stride1_paths(plane_max, monkeypatch):
    monkeypatch.setattr(conv2d_kernels, "PLANE_MAX_REDUCTION", plane_max)
    monkeypatch.setattr(conv2d_kernels, "PLANE_MAX_WASTE", 100.0)
    x, w, b = conv_problem((2, 3, 6, 5), (4, 3, 3, 4), np.float64, seed=7)
    y = conv2d(x, w, b, 1, (1, 2))
    dy = rng(8).standard_normal(y.shape)
    dx, dw, db = conv2d_backward(x, w, dy, 1, (1, 2))
    assert_gradient(dx, lambda v: conv2d(v, w, b, 1, (1, 2)), x, dy)
    assert_gradient(dw, lambda v: conv2d(x, v, b, 1, (1, 2)), w, dy)
    assert_gradient(db, lambda v: conv2d(x, w, v, 1, (1, 2)), b, dy)


def test_shape_rule_picks_the_flat_planes_for_short_reductions_and_the_core_for_the_rest():
    ok = conv2d_kernels._plane_ok
    assert ok(1 * 25, 32 * 32, 28 * 28, 1, 1, None)          # LeNet C1
    assert ok(1 * 25, 32 * 32, 28 * 28, 1, 1, None, dx_reduction=6 * 25)   # ... and its dx
    assert not ok(3 * 9, 34 * 34, 32 * 32, 1, 1, None, dx_reduction=64 * 9)   # 3 -> 64: the core's dx
    assert not ok(6 * 25, 14 * 14, 10 * 10, 1, 1, None)      # LeNet C3: the core's narrow tiles
    assert not ok(64 * 9, 58 * 58, 56 * 56, 1, 1, None)      # VGG 3x3
    assert not ok(8 * 9, 6 * 6, 4 * 4, 1, 1, None)           # mostly padding
    assert ok(8 * 9, 6 * 6, 4 * 4, 1, 1, None, conv2d_kernels.PLANE_MAX_WASTE_WEIGHT)   # ... but dw: planes
    assert not ok(8 * 9, 4 * 4, 2 * 2, 1, 1, None, conv2d_kernels.PLANE_MAX_WASTE_WEIGHT)
    assert not ok(1 * 25, 32 * 32, 28 * 28, 2, 1, True)      # never at stride > 1, even forced


@pytest.mark.parametrize("vector_bytes, planes", [(64, True), (32, False), (16, False)],
                         ids=["avx512", "avx2", "sse"])
def test_forward_takes_the_flat_planes_for_many_multiply_adds_on_avx512_only(vector_bytes, planes, monkeypatch):
    monkeypatch.setattr(conv2d_kernels, "vector_bytes", lambda: vector_bytes)
    ok = conv2d_kernels._plane_forward_ok
    limit = conv2d_kernels.AVX2_PLANE_MAX_MACS
    assert ok(8 * 9, 64, 10 * 10, 8 * 8, 1, 1, None) is planes        # 8 -> 64 3x3: 4608 per output
    assert ok(8 * 9, limit // 72, 10 * 10, 8 * 8, 1, 1, None)           # 8 -> 14: 1008, below the limit
    assert ok(8 * 9, limit // 72 + 1, 10 * 10, 8 * 8, 1, 1, None) is planes   # 8 -> 15: 1080
    assert ok(1 * 9, 16, 10 * 10, 8 * 8, 1, 1, None)                  # few multiply-adds: planes, any ISA
    assert not ok(8 * 9, 64, 4 * 4, 2 * 2, 1, 1, None)                # mostly padding, any ISA
    assert ok(8 * 9, 64, 10 * 10, 8 * 8, 1, 1, True) and not ok(1 * 9, 16, 10 * 10, 8 * 8, 1, 1, False)
    # the dispatch follows the rule: count the flat-plane correlations (6 channels: not the lanes form)
    calls = []
    real = conv2d_kernels.plane_correlate
    monkeypatch.setattr(conv2d_kernels, "plane_correlate", lambda *a: calls.append(1) or real(*a))
    x, w, b = conv_problem((2, 6, 8, 8), (20, 6, 3, 3), np.float64, seed=19)   # 1080 per output
    y = np.empty((2, 20, 8, 8))
    conv2d_kernels.conv2d_forward(x, w, b, y, 1, 1, 1, 1)
    assert len(calls) == (1 if planes else 0)
    assert_close(y, naive_conv.conv2d(x, w, b, 1, 1), np.float64)


@pytest.mark.parametrize("vector_bytes, planes", [(64, True), (32, False), (16, False)],
                         ids=["avx512", "avx2", "sse"])
def test_weight_gradient_takes_the_flat_planes_on_avx512_only(vector_bytes, planes, monkeypatch):
    monkeypatch.setattr(conv2d_kernels, "vector_bytes", lambda: vector_bytes)
    ok = conv2d_kernels._plane_weight_ok
    assert ok(1 * 25, 32 * 32, 28 * 28, 1, 1, None) is planes       # LeNet C1
    assert ok(1 * 9, 10 * 10, 8 * 8, 1, 1, None) is planes          # fastnet train's first conv
    assert not ok(8 * 9, 4 * 4, 2 * 2, 1, 1, None)                  # mostly padding, any ISA
    assert ok(1 * 25, 32 * 32, 28 * 28, 1, 1, True) and not ok(1 * 25, 32 * 32, 28 * 28, 1, 1, False)
    # the dispatch follows the rule: count the flat-plane weight gradient's runs
    calls = []
    real = conv2d_kernels.plane_weight_grad
    monkeypatch.setattr(conv2d_kernels, "plane_weight_grad", lambda *a: calls.append(1) or real(*a))
    x, w, _ = conv_problem((2, 1, 8, 8), (4, 1, 3, 3), np.float64, seed=17)
    dy = rng(18).standard_normal((2, 4, 8, 8))
    _, dw, db = conv2d_backward(x, w, dy, 1, 1)
    _, ew, eb = naive_conv.conv2d_backward(x, w, dy, 1, 1)
    assert len(calls) == (1 if planes else 0)
    assert_close(dw, ew, np.float64)
    assert_close(db, eb, np.float64)


@pytest.mark.parametrize("shape, pads, tail", [((3, 2, 5, 4), (1, 2), 7), ((64, 1, 8, 8), (1, 1), 32),
                                               ((16, 3, 20, 20), (2, 2), 0)], ids=["small", "lenet-digits", "parallel"])
def test_flat_planes_matches_numpy(shape, pads, tail):
    """The flat-plane copy on the calling thread (up to FLAT_SERIAL_MAX values) and in parallel:
    channel-major padded planes, zeros around them and in the tail."""
    from fastnet.kernels.conv2d_plane import flat_planes
    x = rng(15).standard_normal(shape)
    ph, pw = pads
    hp, wp = shape[2] + 2 * ph, shape[3] + 2 * pw
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))).transpose(1, 0, 2, 3).reshape(shape[1], -1)
    want = np.concatenate([padded, np.zeros((shape[1], tail))], axis=1)
    np.testing.assert_array_equal(flat_planes(x, ph, pw, hp, wp, tail), want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 4096, 70_001], ids=["one", "serial", "blocks"])
def test_all_finite_finds_any_inf_or_nan(n, dtype):
    """The planes' guard (``np.isfinite(x).all()`` without the temporary): on the calling thread,
    and by blocks in parallel, a single inf or NaN anywhere (first, last, a block's edge)."""
    from fastnet.kernels.conv2d_plane import FINITE_BLOCK, all_finite
    x = rng(14).standard_normal(n).astype(dtype)
    assert all_finite(x)
    for at in sorted({0, n // 2, n - 1, min(n - 1, FINITE_BLOCK), min(n - 1, FINITE_BLOCK - 1)}):
        for bad in (np.inf, -np.inf, np.nan):
            y = x.copy()
            y[at] = bad
            assert not all_finite(y), (at, bad)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_weight_gradient_with_nonfinite_input_matches_reference(bad, monkeypatch):
    # x[.., 0, 8] is read only by taps q >= 2 (no padding, Wo = 7): on the flat grid it also meets
    # zeros of dy, which must not turn the other taps' sums into NaN
    monkeypatch.setattr(conv2d_kernels, "vector_bytes", lambda: 64)   # the planes' rule on any CPU
    assert conv2d_kernels._plane_weight_ok(2 * 3 * 3, 8 * 9, 6 * 7, 1, 1, None)   # a flat-plane shape
    x, w, _ = conv_problem((2, 2, 8, 9), (3, 2, 3, 3), np.float64, seed=12)
    x[1, 0, 0, 8] = bad
    dy = rng(13).standard_normal((2, 3, 6, 7))
    _, dw, _ = conv2d_backward(x, w, dy, 1, 0)
    _, ew, _ = naive_conv.conv2d_backward(x, w, dy, 1, 0)
    assert np.array_equal(np.isnan(dw), np.isnan(ew))
    assert np.array_equal(np.isinf(dw), np.isinf(ew))
    finite = np.isfinite(ew)
    assert finite[:, 0, :, :2].all() and not finite[:, 0, 0, 2:].any()
    assert_close(dw[finite], ew[finite], np.float64)


@pytest.mark.parametrize("op, nd", [(conv2d_backward, 2), ("conv3d_backward", 3)])
def test_backward_without_input_gradient(op, nd):
    from fastnet import ops
    op = getattr(ops, op) if isinstance(op, str) else op
    x = rng(14).standard_normal((2, 3) + (6,) * nd)
    w = rng(15).standard_normal((4, 3) + (3,) * nd)
    dy = rng(16).standard_normal((2, 4) + (4,) * nd)
    dx, dw, db = op(x, w, dy, 1, 0)
    none, dw2, db2 = op(x, w, dy, 1, 0, input_grad=False)
    assert none is None and dx.shape == x.shape
    assert np.array_equal(dw, dw2) and np.array_equal(db, db2)
    with pytest.raises(TypeError, match="^input_grad: expected True or False, got 1"):
        op(x, w, dy, 1, 0, input_grad=1)

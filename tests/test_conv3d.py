"""conv3d / conv3d_backward: reference loops, central differences, PyTorch, validation, NaN."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnet.ops import conv2d, conv2d_backward, conv3d, conv3d_backward
from fastnet.reference import naive_conv
from helpers import DTYPES, assert_close, assert_gradient, conv_problem, conv_scale, rng

# (x shape, w shape, stride, padding)
CASES = [
    pytest.param((2, 2, 5, 6, 4), (3, 2, 3, 3, 3), 1, 1, id="3x3x3-s1-p1"),
    pytest.param((1, 2, 5, 6, 7), (3, 2, 3, 2, 3), (1, 2, 3), (1, 0, 2), id="batch1-asym"),
    pytest.param((2, 3, 3, 4, 5), (4, 3, 1, 1, 1), 1, 0, id="1x1x1"),
    pytest.param((1, 2, 3, 3, 4), (2, 2, 5, 5, 6), 1, 1, id="kernel-equals-padded-input"),
    pytest.param((2, 1, 7, 7, 8), (2, 1, 2, 2, 2), (3, 4, 3), 0, id="stride-gt-kernel-C1"),
    pytest.param((1, 3, 4, 5, 5), (1, 3, 2, 3, 3), 2, (0, 1, 2), id="K1"),
    # C >= 16: backward-input takes the gather (residue-class) form
    pytest.param((2, 16, 3, 4, 5), (3, 16, 3, 3, 3), 1, 1, id="C16-s1"),
    pytest.param((1, 17, 4, 5, 6), (2, 17, 2, 3, 2), (2, 1, 3), (1, 0, 1), id="C17-batch1-strided"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, stride, padding", CASES)
def test_matches_reference(xs, ws, stride, padding, dtype):
    assert_matches_loops(xs, ws, stride, padding, dtype)


def assert_matches_loops(xs, ws, stride, padding, dtype, seed=0):
    """conv3d and conv3d_backward against the float64 loop references (inputs seeded by ``seed``,
    dy by ``seed + 1``)."""
    x, w, b = conv_problem(xs, ws, dtype, seed=seed)
    y = conv3d(x, w, b, stride, padding)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    assert_close(y, naive_conv.conv3d(x64, w64, b.astype(np.float64), stride, padding).astype(dtype),
                 dtype, scale=conv_scale(ws))
    dy = rng(seed + 1).standard_normal(y.shape).astype(dtype)
    dx, dw, db = conv3d_backward(x, w, dy, stride, padding)
    ex, ew, eb = naive_conv.conv3d_backward(x64, w64, dy.astype(np.float64), stride, padding)
    long_sum = float(np.sqrt(dy[:, 0].size)) + 1
    assert_close(dx, ex.astype(dtype), dtype, scale=conv_scale(ws))
    assert_close(dw, ew.astype(dtype), dtype, scale=long_sum)
    assert_close(db, eb.astype(dtype), dtype, scale=long_sum)


@settings(max_examples=10)
@given(n=st.integers(1, 2), c=st.integers(1, 2), k=st.integers(1, 3),
       size=st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5)),
       taps=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
       padding=st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
       seed=st.integers(0, 2**16))
def test_property_random_shapes(n, c, k, size, taps, stride, padding, seed):
    if any(f > s + 2 * p for f, s, p in zip(taps, size, padding)):
        with pytest.raises(ValueError, match="^w:"):
            conv3d(np.zeros((n, c) + size), np.zeros((k, c) + taps), None, stride, padding)
        return
    x, w, b = conv_problem((n, c) + size, (k, c) + taps, np.float64, seed)
    y = conv3d(x, w, b, stride, padding)
    assert_close(y, naive_conv.conv3d(x, w, b, stride, padding), np.float64)
    dy = rng(seed + 1).standard_normal(y.shape)
    for got, want in zip(conv3d_backward(x, w, dy, stride, padding),
                         naive_conv.conv3d_backward(x, w, dy, stride, padding)):
        assert_close(got, want, np.float64)


@settings(max_examples=12)
@given(n=st.integers(1, 2), c=st.integers(1, 3), k=st.integers(1, 3),
       size=st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 6)),
       taps=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4)),
       padding=st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
       seed=st.integers(0, 2**16))
def test_both_backward_input_forms(n, c, k, size, taps, stride, padding, seed):
    """conv3d_backward_input picks one of two forms by C, stride and N; check each form directly."""
    from fastnet.kernels import conv3d as kernels
    if any(f > s + 2 * p for f, s, p in zip(taps, size, padding)):
        return
    x, w, _ = conv_problem((n, c) + size, (k, c) + taps, np.float64, seed)
    y = naive_conv.conv3d(x, w, None, stride, padding)
    dy = rng(seed + 1).standard_normal(y.shape)
    expected = naive_conv.conv3d_backward(x, w, dy, stride, padding)[0]
    for form in (kernels._backward_input_gather, kernels._backward_input_scatter):
        dx = np.full(x.shape, np.nan)
        form(dy, w, dx, *stride, *padding)
        assert_close(dx, expected, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("w_shape", [(256, 96, 1, 5, 5), (96, 3, 1, 11, 11), (16, 6, 1, 5, 5), (5, 7, 2, 3, 1)])
def test_pack_patch_weights_matches_numpy(dtype, w_shape):
    """The col2im form's weights: (K, Lp) with each row's patch in (tap, channel) order, zero
    columns up to Lp, panel by panel (Lp / NR, K, NR): as a NumPy transpose builds them."""
    from fastnet.kernels import conv_layout as layout
    from fastnet.kernels.microkernel import tile_shape
    w = rng(63).standard_normal(w_shape).astype(dtype)
    n_out, channels = w_shape[:2]
    patch = channels * int(np.prod(w_shape[2:]))
    nr = tile_shape(np.dtype(dtype))[1]
    lp = -(-patch // nr) * nr
    matrix = np.zeros((n_out, lp), dtype=dtype)
    matrix[:, :patch] = w.transpose(0, 2, 3, 4, 1).reshape(n_out, patch)
    expected = matrix.reshape(n_out, lp // nr, nr).transpose(1, 0, 2)
    got = layout._pack_patch_weights(w, lp, nr)
    assert got.shape == expected.shape and got.dtype == np.dtype(dtype) and got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)


def _scatter_settings_agree(xs, ws, stride, padding, dtype, seed, settings, monkeypatch):
    """Run the col2im form once per ``settings`` (a dict of conv3d module constants to set each
    time): every run gives the same bits, and they match the float64 reference."""
    from fastnet.kernels import conv3d as kernels
    x, w, _ = conv_problem(xs, ws, dtype, seed=seed)
    y = naive_conv.conv3d(x.astype(np.float64), w.astype(np.float64), None, stride, padding)
    dy = rng(seed + 1).standard_normal(y.shape).astype(dtype)
    results = []
    for constants in settings:
        for name, value in constants.items():
            monkeypatch.setattr(kernels, name, value)
        dx = np.full(x.shape, np.nan, dtype=dtype)
        kernels._backward_input_scatter(dy, w, dx, *stride, *padding)
        results.append(dx)
    for dx in results[1:]:
        assert np.array_equal(dx, results[0])
    expected = naive_conv.conv3d_backward(x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64),
                                          stride, padding)[0]
    assert_close(results[0], expected.astype(dtype), dtype, scale=conv_scale(w.shape))


@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_row_groups_give_identical_sums(dtype, monkeypatch):
    """The col2im form computes the patch gradients of several output rows per pass over the
    weights (tiles running across rows, the last one short); how many rows share a pass changes
    no sum: one row, three, a whole plane give the same bits, which match the reference."""
    wo = 11   # positions a row of dy, 4 rows a plane
    _scatter_settings_agree((2, 5, 3, 8, 7), (6, 5, 2, 3, 3), (1, 2, 1), (1, 1, 2), dtype, 61,
                            [{"SCATTER_POSITIONS": p} for p in (1, 3 * wo, 3 * wo + 5, 10**6)], monkeypatch)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, stride, padding", [
    ((2, 5, 1, 9, 9), (130, 5, 1, 3, 3), (1, 1, 1), (0, 1, 1)),     # K = 130: 2 past whole vectors
    ((1, 3, 2, 7, 11), (128, 3, 2, 5, 5), (1, 1, 1), (1, 0, 2)),    # 3-D, rows of 11 positions
    ((2, 4, 1, 9, 9), (136, 4, 1, 3, 3), (1, 2, 2), (0, 1, 1)),     # stride 2: 5 positions a row
    ((1, 2, 1, 30, 30), (16, 2, 1, 5, 5), (1, 1, 1), (0, 0, 0)),   # K = 16, 26 a row (vectors + rest)
])
def test_scatter_packed_dy_gives_identical_sums(dtype, xs, ws, stride, padding, monkeypatch):
    """The col2im form with K >= SCATTER_PACK_MIN_K first transposes each group's dy to a row of
    K values per position (W x W blocks in registers, the rest of the positions and channels one
    at a time, the short last tile's position repeated); the sums are those of dy read in place,
    bit for bit, with one row or many per group, and match the reference."""
    settings = [{"SCATTER_PACK_MIN_K": least, "SCATTER_POSITIONS": positions}
                for least in (1, 10**9) for positions in (1, 192)]   # packed, then in place
    _scatter_settings_agree(xs, ws, stride, padding, dtype, 64, settings, monkeypatch)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, stride, padding", [
    ((2, 20, 1, 9, 37), (24, 20, 1, 3, 3), (1, 2, 2), (0, 1, 1)),   # runs of 18-19 per class
    ((2, 37, 2, 5, 40), (17, 37, 2, 3, 3), (1, 1, 1), (0, 1, 1)),   # stride 1: whole planes
    ((1, 16, 1, 6, 70), (16, 16, 1, 1, 5), (1, 1, 3), (0, 0, 2)),   # stride 3 along w
], ids=str)
def test_gather_backward_input_with_register_tiles(xs, ws, stride, padding, dtype):
    """The gather form's results leave its blocks by W x W register tiles (the last ones
    overlapping) into planes (stride 1), value by value into rows of every s-th value (residue
    classes): with channels and rows of a tile or more, against the reference."""
    from fastnet.kernels import conv3d as kernels
    x, w, _ = conv_problem(xs, ws, dtype, seed=45)
    dy = rng(46).standard_normal(naive_conv.conv3d(x, w, None, stride, padding).shape).astype(dtype)
    expected = naive_conv.conv3d_backward(x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64),
                                          stride, padding)[0]
    dx = np.full(x.shape, np.nan, dtype)
    kernels._backward_input_gather(dy, w, dx, *stride, *padding)
    assert_close(dx, expected.astype(dtype), dtype, scale=conv_scale(ws))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, stride, padding", [
    ((2, 32, 3, 9, 10), (8, 32, 3, 3, 3), 1, 1),                    # C3D-like: one block per plane
    ((1, 3, 2, 40, 61), (5, 3, 1, 3, 2), (1, 1, 1), (0, 1, 0)),      # several row blocks per plane
    ((2, 4, 5, 11, 13), (6, 4, 3, 3, 3), 2, 1),                     # stride 2
    ((1, 3, 1, 27, 47), (7, 3, 1, 11, 11), (1, 4, 4), 0),            # AlexNet-like stride 4
])
@pytest.mark.parametrize("x_read", ["copy", "in_place"])
def test_backward_weight_matches_reference(xs, ws, stride, padding, dtype, x_read, monkeypatch):
    """The weight gradient on shapes with several blocks, chunks and tap tiles (and in float32),
    reading x from its padded channels-last copy or in place (each filter position's channels
    rounded up to whole tiles, however many rows that adds)."""
    from fastnet.kernels import conv_weight
    monkeypatch.setattr(conv_weight, "IN_PLACE_MAX_WASTE", -1.0 if x_read == "copy" else 100.0)
    x, w, _ = conv_problem(xs, ws, dtype, seed=21)
    y = conv3d(x, w, None, stride, padding)
    dy = rng(22).standard_normal(y.shape).astype(dtype)
    _, got_w, got_b = conv3d_backward(x, w, dy, stride, padding)
    _, ew, eb = naive_conv.conv3d_backward(x.astype(np.float64), w.astype(np.float64),
                                           dy.astype(np.float64), stride, padding)
    long_sum = float(np.sqrt(dy[:, 0].size)) + 1
    assert_close(got_w, ew.astype(dtype), dtype, scale=long_sum)
    assert_close(got_b, eb.astype(dtype), dtype, scale=long_sum)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, stride, padding", [
    ((2, 16, 1, 9, 11), (24, 16, 1, 3, 3), (1, 2, 2), (0, 1, 1)),   # ResNet-like stride 2
    ((1, 8, 4, 7, 9), (5, 8, 3, 3, 3), 2, 1),                       # 3-D, narrow tiles (K <= W)
    ((2, 12, 1, 10, 10), (40, 12, 1, 5, 5), 1, 2),                  # channels not a multiple of MR
    ((3, 6, 2, 5, 33), (9, 6, 2, 1, 4), (1, 1, 3), (1, 0, 2)),      # uneven filter, stride 3 along w
], ids=str)
def test_backward_weight_in_place_equals_copy_bitwise(xs, ws, stride, padding, dtype, monkeypatch):
    """The weight gradient reading x in place (each filter position's channels rounded up to
    whole tiles, the rows past C computed and dropped, the padding never read) gives the same bits
    as reading the padded channels-last copy: each tile skips exactly the products with padding."""
    from fastnet.kernels import conv_weight
    x, w, _ = conv_problem(xs, ws, dtype, seed=29)
    dy = rng(30).standard_normal(conv3d(x, w, None, stride, padding).shape).astype(dtype)
    results = []
    for waste in (-1.0, 100.0):   # never, always in place
        monkeypatch.setattr(conv_weight, "IN_PLACE_MAX_WASTE", waste)
        results.append(conv3d_backward(x, w, dy, stride, padding)[1:])
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, stride, padding, partial_bytes", [
    ((1, 32, 1, 7, 7), (40, 32, 1, 5, 5), 1, 2, None),                 # batch 1: one chunk
    ((1, 60, 1, 6, 6), (20, 60, 1, 3, 3), (1, 2, 2), (0, 1, 1), None),  # C not a multiple of MR (AVX-512)
    ((1, 16, 3, 4, 5), (9, 16, 3, 3, 3), 1, 1, None),                  # 3-D, narrow tiles
    ((1, 16, 1, 1, 1), (24, 16, 1, 5, 5), 1, (0, 2, 2), None),          # taps that meet only padding
    ((3, 24, 1, 12, 30), (33, 24, 1, 3, 3), 1, 1, 1),                  # several units, one chunk
], ids=str)
def test_backward_weight_fused_transpose_equals_partial_sums_bitwise(xs, ws, stride, padding, partial_bytes,
                                                                      dtype, monkeypatch):
    """With one chunk and x read in place, each task transposes its channel blocks' sums into dw
    itself, from a private buffer: the same bits as the partial sums reduced apart, whatever the
    buffer's size (one channel block per task, or all), and the reference's values."""
    from fastnet.kernels import conv_weight
    x, w, _ = conv_problem(xs, ws, dtype, seed=31)
    dy = rng(32).standard_normal(conv3d(x, w, None, stride, padding).shape).astype(dtype)
    monkeypatch.setattr(conv_weight, "IN_PLACE_MAX_WASTE", 0.125)
    if partial_bytes is not None:
        monkeypatch.setattr(conv_weight, "PARTIAL_BYTES", partial_bytes)
    reduce = conv_weight._reduce_weight_and_bias
    chunks = []

    def spy(partial, *args):
        chunks.append(partial.shape[0])
        return reduce(partial, *args)
    monkeypatch.setattr(conv_weight, "_reduce_weight_and_bias", spy)
    results = []
    for min_blocks, buffer_bytes in ((10**9, 0), (0, 1), (0, 2**30)):
        monkeypatch.setattr(conv_weight, "FUSED_MIN_BLOCKS", min_blocks)
        monkeypatch.setattr(conv_weight, "FUSED_BUFFER_BYTES", buffer_bytes)
        results.append(conv3d_backward(x, w, dy, stride, padding)[1:])
    assert chunks == [1, 0, 0]   # the partial sums, then the tasks' own transposes
    for dw, db in results[1:]:
        np.testing.assert_array_equal(dw, results[0][0])
        np.testing.assert_array_equal(db, results[0][1])
    _, ew, eb = naive_conv.conv3d_backward(x.astype(np.float64), w.astype(np.float64),
                                           dy.astype(np.float64), stride, padding)
    long_sum = float(np.sqrt(dy[:, 0].size)) + 1
    assert_close(results[1][0], ew.astype(dtype), dtype, scale=long_sum)
    assert_close(results[1][1], eb.astype(dtype), dtype, scale=long_sum)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
@pytest.mark.parametrize("x_read", ["copy", "in_place"])
def test_backward_weight_nonfinite_input_reaches_exactly_the_taps_that_see_it(bad, x_read, monkeypatch):
    """x[..., 0] (the first column) is never read by tap e = 2 at stride 1, padding 1: an inf or
    NaN there makes NaN of exactly the weights whose windows see it (the reference's pattern),
    whether x is read from its padded copy or in place."""
    from fastnet.kernels import conv_weight
    monkeypatch.setattr(conv_weight, "IN_PLACE_MAX_WASTE", -1.0 if x_read == "copy" else 100.0)
    x, w, _ = conv_problem((1, 2, 3, 6, 8), (3, 2, 3, 3, 3), np.float64, seed=23)
    x[0, 0, 1, 2, 0] = bad
    dy = rng(24).standard_normal((1, 3, 3, 6, 8))
    _, ew, eb = naive_conv.conv3d_backward(x, w, dy, 1, 1)
    _, got_w, got_b = conv3d_backward(x, w, dy, 1, 1)
    assert np.array_equal(np.isnan(got_w), np.isnan(ew))
    assert np.array_equal(np.isinf(got_w), np.isinf(ew))
    assert np.isfinite(got_w[:, :, :, :, 2]).all() and np.isfinite(got_w[:, 1]).all()
    finite = np.isfinite(ew)
    assert_close(got_w[finite], ew[finite], np.float64)
    assert_close(got_b, eb, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k, c, taps", [(48, 32, (1, 3, 3)), (40, 33, (1, 3, 3)), (17, 16, (1, 1, 1)),
                                        (6, 1, (1, 5, 5)), (20, 19, (3, 3, 3)), (96, 3, (1, 11, 11)),
                                        (16, 6, (1, 5, 5)), (30, 10, (1, 3, 3))],
                         ids=str)
def test_pack_forward_weights_matches_numpy(k, c, taps, dtype):
    """The forward weight matrix (taps * C, Kp), stored panel by panel (Kp / NR, taps * C, NR):
    whole channel groups x output blocks go through the in-register tile transpose, the rest
    (channels or outputs past the last full block) and the zero columns through the scalar loop;
    every entry is w's, moved exactly. Panels of one vector (the narrow tile) and of two."""
    from fastnet.kernels import conv_layout as kernels
    from fastnet.kernels.microkernel import vector_lanes
    w = rng(41).standard_normal((k, c) + taps).astype(dtype)
    lanes = vector_lanes(w)
    for nr in (lanes, 2 * lanes):
        kp = -(-k // nr) * nr + nr
        wt = kernels._pack_weights(w, False, 0, 0, 0, 1, 1, 1, *taps, kp, nr)
        n_taps = int(np.prod(taps))
        expected = np.zeros((n_taps * c, kp), dtype)
        expected[:, :k] = w.reshape(k, c, n_taps).transpose(2, 1, 0).reshape(n_taps * c, k)
        np.testing.assert_array_equal(wt, _panels(expected, nr))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("chunks, k, c, taps", [(1, 40, 33, (1, 5, 5)), (3, 40, 17, (1, 3, 3)),
                                                (2, 5, 3, (1, 1, 1)), (1, 16, 16, (1, 1, 1)),
                                                (4, 33, 7, (3, 3, 3)), (1, 3, 1, (1, 11, 11)),
                                                (2, 70, 20, (1, 1, 2)), (1, 17, 1, (1, 3, 3))], ids=str)
@pytest.mark.parametrize("extra_rows", [0, 3])
@pytest.mark.parametrize("by_channel", [False, True], ids=["tap_major", "by_channel"])
def test_reduce_weight_gradient_matches_numpy(chunks, k, c, taps, extra_rows, by_channel, dtype):
    """The weight gradient's last step: dw[k, c, tap] = partial[0, row, k] + partial[1, row, k] +
    ..., summed in chunk order (bit for bit), then transposed into dw: groups of channels with at
    least a vector of rows and whole vectors of output channels by the in-register tiles (the last
    row tile overlapping), the rest (k past the last full vector; fewer rows than a vector) by the
    scalar loop. The row of tap (c, tap): tap * CP + c, or c * taps + tap (``by_channel``, dw's
    order); CP = C + extra_rows: the rows c >= C (x read in place) are skipped. db is dy's channel
    sum; with no partial sums (the tiles wrote dw), dw is left alone."""
    from fastnet.kernels import conv_weight as kernels
    g = rng(47)
    n_taps = int(np.prod(taps))
    cp = c + extra_rows
    kp = -(-k // 16) * 16 + 16
    partial = g.standard_normal((chunks, n_taps * cp + 8, kp)).astype(dtype)
    dy = g.standard_normal((2, k, 1, 2, 3)).astype(dtype)
    dw = np.full((k, c) + taps, np.nan, dtype)
    db = np.full(k, np.nan, dtype)
    kernels._reduce_weight_and_bias(partial, cp, by_channel, dy, dw, db)
    total = partial[0].copy()
    for chunk in range(1, chunks):
        total += partial[chunk]
    if by_channel:
        expected = total[:cp * n_taps, :k].reshape(cp, n_taps, k)[:c].transpose(2, 0, 1).reshape(dw.shape)
    else:
        expected = total[:n_taps * cp, :k].reshape(n_taps, cp, k)[:, :c].transpose(2, 1, 0).reshape(dw.shape)
    np.testing.assert_array_equal(dw, expected)
    np.testing.assert_allclose(db, dy.astype(np.float64).sum(axis=(0, 2, 3, 4)), rtol=1e-6)
    db[:] = np.nan
    kernels._reduce_weight_and_bias(partial[:0], cp, by_channel, dy, dw, db)
    np.testing.assert_array_equal(dw, expected)
    np.testing.assert_allclose(db, dy.astype(np.float64).sum(axis=(0, 2, 3, 4)), rtol=1e-6)


def _panels(matrix, nr):
    """A (rows, kp) matrix stored panel by panel: (kp / nr, rows, nr)."""
    return matrix.reshape(matrix.shape[0], -1, nr).transpose(1, 0, 2)


def _class_taps(f, s, r):
    return 0 if r >= f else (f - r + s - 1) // s


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k, c, filt, stride, extra",
                         [(40, 33, (1, 3, 3), (1, 1, 1), 16), (17, 16, (1, 1, 1), (1, 1, 1), 0),
                          (16, 32, (3, 3, 3), (2, 2, 2), 0), (5, 48, (1, 5, 5), (1, 2, 2), 16),
                          (96, 3, (1, 11, 11), (1, 4, 4), 13), (20, 16, (1, 2, 2), (1, 1, 1), 0)], ids=str)
def test_pack_class_weights_matches_numpy(k, c, filt, stride, extra, dtype):
    """The backward-input gather form's weight matrix of every residue class: rows (tap, input
    channel i < K) of the class's flipped taps, columns o < C, zeros to Kp, stored panel by panel.
    Filters shorter and longer than a vector (overlapping tile rows; several tiles per filter),
    strides 1 to 4, output channels past the last full block (the scalar loop), panels of one
    vector and of two."""
    from fastnet.kernels import conv_layout as kernels
    from fastnet.kernels.microkernel import vector_lanes
    w = rng(43).standard_normal((k, c) + filt).astype(dtype)
    lanes = vector_lanes(w)
    for nr in (lanes, 2 * lanes):
        kp = -(-(c + extra) // nr) * nr
        for r in np.ndindex(*stride):
            taps = tuple(_class_taps(f, s, q) for f, s, q in zip(filt, stride, r))
            if 0 in taps:
                continue
            wt = kernels._pack_weights(w, True, *r, *stride, *taps, kp, nr)
            expected = np.zeros((int(np.prod(taps)) * k, kp), dtype)
            for tap, (a, b, e) in enumerate(np.ndindex(*taps)):
                position = [q + (t - 1 - j) * s for q, t, j, s in zip(r, taps, (a, b, e), stride)]
                expected[tap * k:(tap + 1) * k, :c] = w[:, :, position[0], position[1], position[2]]
            assert wt.flags.c_contiguous
            np.testing.assert_array_equal(wt, _panels(expected, nr))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("narrow", [False, True], ids=["wide", "narrow"])
def test_work_splits_give_bitwise_identical_sums(dtype, narrow):
    """The forward core's units (position blocks x weight panels), their ranges per thread and the
    reduction slices, and the weight gradient's tap groups, move work between threads and calls,
    never change a sum: every split gives the same bits, for either tile shape, and the sums match
    the reference. Nor does skipping the products with padding: the forward's position order, the
    weight gradient's row runs."""
    from fastnet.kernels import conv3d as kernels
    from fastnet.kernels import conv_plan, conv_weight
    from fastnet.kernels.microkernel import tile_shape
    mr, nr = tile_shape(np.dtype(dtype), narrow)
    x, w, b = conv_problem((2, 7, 3, 9, 10), (2 * nr + 3, 7, 3, 3, 3), dtype, seed=27)
    xp = kernels._pad_channels_last(x, 1, 1, 1, 0, 0, 0, 7)
    kp = 3 * nr
    wt = kernels._pack_weights(w, False, 0, 0, 0, 1, 1, 1, 3, 3, 3, kp, nr)
    geom = np.array([[1, 0, 0, 3, 1, 0], [1, 0, 0, 9, 1, 0], [1, 0, 0, 10, 1, 0]], dtype=np.int64)
    valid = np.array([[1, 4], [1, 10], [1, 11]], dtype=np.int64)   # the rows (columns) of xp that hold x
    edges_first = conv_plan.position_order(geom, valid, (3, 3, 3), 2)
    assert sorted(edges_first) == list(range(540)) and list(edges_first) != list(range(540))
    results = []
    for block, panels, rows in [(mr, 1, 1), (4 * mr, 3, 9), (12 * mr, 2, 4), (540 // mr * mr, 3, 2)]:
        units = -(-540 // block) * -(-3 // panels)
        # one thread's range, one unit per range, and uneven ranges (some empty)
        for bounds in ([0, units], list(range(units + 1)), [0, 0, units // 3, units // 3, units]):
            # either position order: the taps a tile skips meet only padding (zeros), so no sum changes
            for order in (edges_first, np.empty(0, dtype=np.int64)):
                y = np.full((2, w.shape[0], 3, 9, 10), np.nan, dtype=dtype)
                kernels._forward_tiles(xp, 7, wt, b, y, geom, valid, order, 3, 3, 3, narrow, block, panels,
                                       rows, np.array(bounds, dtype=np.int64))
                results.append(y)
    for y in results[1:]:
        assert np.array_equal(y, results[0])
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    assert_close(results[0], naive_conv.conv3d(x64, w64, b.astype(np.float64), 1, 1).astype(dtype),
                 dtype, scale=conv_scale(w.shape))
    dy = rng(28).standard_normal(results[0].shape).astype(dtype)
    dycl = conv_weight._dy_panels(dy, kp, nr)
    lp = -(-7 * 27 // mr) * mr
    # xp's strides of n, d, h, w, c (in values), no offset: the channels-last copy
    strides = np.array([xp[0].size, xp[0, 0].size, xp.shape[3], 7, 1, 0], dtype=np.int64)
    sums = []
    everywhere = np.array([[-9, 99], [-9, 99], [-9, 99]], dtype=np.int64)   # no product skipped
    for groups in (1, 2, lp // mr):
        for rows_valid in (valid, everywhere):
            partial = np.full((1, lp, kp), np.nan, dtype=dtype)
            conv_weight._weight_tiles(xp, strides, 7, 7, False, dycl, partial, rows_valid, 3, 3, 3, 1, 1, 1,
                                      narrow, 4, -(-(lp // mr) // groups), None)
            sums.append(partial[:, :7 * 27])
    for partial in sums[1:]:
        assert np.array_equal(partial, sums[0])
    expected = naive_conv.conv3d_backward(x64, w64, dy.astype(np.float64), 1, 1)[1]
    got = sums[0][0, :, :w.shape[0]].reshape(3, 3, 3, 7, -1).transpose(4, 3, 0, 1, 2)
    assert_close(got, expected.astype(dtype), dtype, scale=float(np.sqrt(dy[:, 0].size)) + 1)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("xs, ws", [((2, 4, 5, 40, 30), (6, 4, 3, 3, 3)), ((1, 64, 2, 6, 6), (40, 64, 3, 3, 3))],
                         ids=["chunks", "one_chunk"])
def test_deterministic_across_runs_and_thread_counts(stride, xs, ws):
    """Backward-weights with several row blocks per plane and more units than chunks, or with one
    chunk whose tasks transpose their sums into dw (8 channel blocks: 2 a task on 1 thread, 1 on 2),
    and the gather backward-input (residue classes for stride 2): bitwise equal on 1 and N threads."""
    import numba
    x, w, b = conv_problem(xs, ws, np.float32, seed=25)
    dy = rng(26).standard_normal(conv3d(x, w, b, stride, 1).shape).astype(np.float32)
    first = (conv3d(x, w, b, stride, 1),) + conv3d_backward(x, w, dy, stride, 1)
    again = (conv3d(x, w, b, stride, 1),) + conv3d_backward(x, w, dy, stride, 1)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = (conv3d(x, w, b, stride, 1),) + conv3d_backward(x, w, dy, stride, 1)
    finally:
        numba.set_num_threads(old)
    for a, c, d in zip(first, again, single):
        assert np.array_equal(a, c)
        assert np.array_equal(a, d)


def test_central_difference_gradients():
    stride, padding = (1, 2, 1), (1, 0, 1)
    x, w, b = conv_problem((1, 2, 3, 5, 3), (2, 2, 2, 3, 2), np.float64, seed=3)
    y = conv3d(x, w, b, stride, padding)
    dy = rng(4).standard_normal(y.shape)
    dx, dw, db = conv3d_backward(x, w, dy, stride, padding)
    assert_gradient(dx, lambda v: conv3d(v, w, b, stride, padding), x, dy)
    assert_gradient(dw, lambda v: conv3d(x, v, b, stride, padding), w, dy)
    assert_gradient(db, lambda v: conv3d(x, w, v, stride, padding), b, dy)


def test_depth_one_equals_conv2d():
    """conv3d with depth 1 and a depth-1 kernel is conv2d (both use the one 3-D core)."""
    x, w, b = conv_problem((2, 3, 1, 9, 8), (4, 3, 1, 3, 2), np.float32, seed=12)
    y3 = conv3d(x, w, b, (1, 2, 1), (0, 1, 1))
    y2 = conv2d(x[:, :, 0], w[:, :, 0], b, (2, 1), (1, 1))
    assert np.array_equal(y3[:, :, 0], y2)
    dy = rng(13).standard_normal(y3.shape).astype(np.float32)
    g3 = conv3d_backward(x, w, dy, (1, 2, 1), (0, 1, 1))
    g2 = conv2d_backward(x[:, :, 0], w[:, :, 0], dy[:, :, 0], (2, 1), (1, 1))
    assert np.array_equal(g3[0][:, :, 0], g2[0])
    assert np.array_equal(g3[1][:, :, 0], g2[1])
    assert np.array_equal(g3[2], g2[2])


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, stride, padding", [
    ((2, 3, 6, 7, 5), (4, 3, 3, 3, 3), 1, 1),
    ((1, 2, 8, 7, 9), (3, 2, 3, 2, 4), (2, 1, 3), (1, 2, 0)),
])
def test_matches_torch(torch, xs, ws, stride, padding, dtype):
    x, w, b = conv_problem(xs, ws, dtype, seed=5)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv3d(tx, tw, tb, stride=stride, padding=padding)
    y = conv3d(x, w, b, stride, padding)
    assert_close(y, ty.detach().numpy(), dtype, scale=conv_scale(ws))
    dy = rng(6).standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(dy))
    dx, dw, db = conv3d_backward(x, w, dy, stride, padding)
    long_sum = float(np.sqrt(dy[:, 0].size)) + 1
    assert_close(dx, tx.grad.numpy(), dtype, scale=conv_scale(ws))
    assert_close(dw, tw.grad.numpy(), dtype, scale=long_sum)
    assert_close(db, tb.grad.numpy(), dtype, scale=long_sum)


def test_nan_propagates_to_the_outputs_that_see_it():
    x, w, b = conv_problem((1, 2, 4, 5, 6), (3, 2, 2, 3, 3), np.float64, seed=11)
    x[0, 0, 1, 2, 3] = np.nan
    y = conv3d(x, w, b, 1, 0)
    sees = np.zeros(y.shape, bool)
    sees[:, :, 0:2, 0:3, 1:4] = True   # d in {0, 1}, h in {0..2}, w in {1..3}
    assert np.isnan(y[sees]).all()
    assert np.isfinite(y[~sees]).all()
    dx, dw, db = conv3d_backward(x, w, np.ones_like(y), 1, 0)
    assert np.isnan(dw[:, 0]).all() and np.isfinite(dw[:, 1]).all()
    assert np.isfinite(dx).all() and np.isfinite(db).all()


def test_noncontiguous_inputs():
    x, w, b = conv_problem((2, 2, 4, 5, 6), (3, 2, 2, 2, 3), np.float32, seed=14)
    xf = np.asfortranarray(x)
    assert not xf.flags.c_contiguous
    y = conv3d(xf, w, b[::-1].copy()[::-1], 1, 1)
    assert np.array_equal(y, conv3d(x, w, b, 1, 1))
    dy = rng(15).standard_normal(y.shape).astype(np.float32)
    for got, want in zip(conv3d_backward(xf, np.asfortranarray(w), dy, 1, 1),
                         conv3d_backward(x, w, dy, 1, 1)):
        assert np.array_equal(got, want)


_F32 = np.float32


@pytest.mark.parametrize("change, error, message", [
    (dict(x=np.zeros((2, 3, 5, 5, 5), np.int64)), TypeError, "^x: expected dtype float32 or float64"),
    (dict(w=np.zeros((4, 3, 3, 3, 3), np.float64)), TypeError, "^w: dtype float64 does not match"),
    (dict(b=np.zeros(4, np.float64)), TypeError, "^b: dtype float64 does not match"),
    (dict(x=np.zeros((2, 3, 5, 5), _F32)), ValueError, "^x: expected a 5-D array, got 4-D"),
    (dict(w=np.zeros((4, 3, 3, 3), _F32)), ValueError, "^w: expected a 5-D array, got 4-D"),
    (dict(w=np.zeros((4, 1, 3, 3, 3), _F32)), ValueError, "^w: expected 3 input channels"),
    (dict(b=np.zeros(3, _F32)), ValueError, r"^b: expected shape \(4,\)"),
    (dict(stride=(1, 1)), ValueError, "^stride: expected an int or a tuple of 3 ints"),
    (dict(stride=(1, 0, 1)), ValueError, "^stride: every entry must be >= 1"),
    (dict(padding=(0, -1, 0)), ValueError, "^padding: every entry must be >= 0"),
    (dict(padding=(0, 0, 0, 0)), ValueError, "^padding: expected an int or a tuple of 3 ints"),
    (dict(w=np.zeros((4, 3, 6, 3, 3), _F32)), ValueError, "^w: window of 6 along D is larger"),
])
def test_bad_input(change, error, message):
    args = dict(x=np.zeros((2, 3, 5, 5, 5), _F32), w=np.zeros((4, 3, 3, 3, 3), _F32),
                b=np.zeros(4, _F32), stride=1, padding=0)
    args.update(change)
    with pytest.raises(error, match=message):
        conv3d(**args)
    args.pop("b")
    args["dy"] = np.zeros((2, 4, 3, 3, 3), _F32)
    if "b" not in change:
        with pytest.raises(error, match=message):
            conv3d_backward(**args)


@pytest.mark.parametrize("dy, error, message", [
    (np.zeros((2, 4, 3, 3, 2), _F32), ValueError, r"^dy: expected shape \(2, 4, 3, 3, 3\)"),
    (np.zeros((2, 4, 3, 3, 3), np.float64), TypeError, "^dy: dtype float64 does not match"),
    (np.zeros((2, 4, 3, 3), _F32), ValueError, "^dy: expected a 5-D array"),
])
def test_bad_dy(dy, error, message):
    with pytest.raises(error, match=message):
        conv3d_backward(np.zeros((2, 3, 5, 5, 5), _F32), np.zeros((4, 3, 3, 3, 3), _F32), dy)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pads, extra, pitch", [
    ((2, 3, 4, 5, 6), (1, 2, 0), (0, 0, 0), 3),
    ((1, 1, 1, 3, 3), (0, 0, 0), (0, 0, 0), 1),
    ((2, 4, 2, 3, 5), (0, 1, 2), (1, 2, 3), 4),
    ((2, 3, 4, 8, 8), (1, 1, 1), (0, 1, 0), 3),   # channel stride a multiple of 1 KB
    ((2, 3, 4, 8, 8), (0, 0, 0), (0, 0, 0), 16),  # ... with a pitch: zero columns past C
    ((2, 6, 1, 14, 14), (0, 0, 0), (0, 0, 0), 6),   # LeNet C3's input
    ((1, 3, 1, 37, 41), (0, 0, 0), (0, 0, 0), 3),   # AlexNet conv1's: 3 channels, long rows
    ((2, 7, 2, 5, 3), (1, 0, 0), (0, 1, 0), 9),     # rows shorter than the channels, pitch past C
    ((2, 3, 1, 9, 35), (0, 1, 2), (0, 0, 1), 3),    # padding along W
    ((1, 15, 1, 4, 21), (0, 1, 1), (0, 0, 0), 15),  # C = W - 1 (float32 on AVX-512)
    ((1, 4, 1, 3, 40), (0, 0, 3), (0, 0, 0), 5),    # a pitch of 5 > C = 4
    # 2 to 8 channels at pitch C, any padding: the rows interleaved (and in the cases above)
    ((2, 2, 1, 5, 20), (0, 1, 1), (0, 0, 0), 2),    # two channels
    ((1, 3, 1, 2, 3), (0, 0, 0), (0, 0, 0), 3),     # rows shorter than a vector
    ((2, 4, 3, 6, 19), (1, 1, 2), (1, 1, 2), 4),    # four channels, everything padded
    ((1, 5, 2, 8, 16), (0, 2, 1), (0, 0, 0), 7),
    ((2, 37, 3, 19, 21), (1, 2, 1), (1, 0, 2), 40),   # register tiles, the last ones overlapping
    ((3, 64, 1, 16, 16), (0, 1, 1), (0, 0, 0), 64),   # tiles of channels, rows buffered (1 KB)
    ((1, 20, 1, 3, 7), (0, 0, 0), (0, 0, 0), 32),     # rows shorter than a tile: tiles span rows
    ((2, 19, 1, 5, 7), (0, 1, 2), (0, 1, 1), 24),     # ... with padding and a pitch
    ((1, 20, 4, 8, 8), (0, 1, 1), (0, 0, 0), 24),     # ... 1 KB apart
    ((1, 20, 64, 2, 2), (1, 0, 1), (0, 0, 0), 20),    # planes shorter than a tile, 1 KB apart: buffered
    # 9 to W - 1 channels (AVX-512), no padding along W: the plane transposed W positions at a time
    ((2, 11, 3, 7, 9), (1, 2, 0), (1, 1, 0), 11),     # (63 positions: the last tile overlapping)
    ((2, 5, 3, 7, 9), (1, 2, 0), (1, 1, 0), 5),       # (interleaved since 2026-12-07)
    ((2, 7, 1, 3, 3), (0, 0, 0), (0, 0, 0), 7),
    # 5 to 8 channels at pitch C: interleaved too, a whole plane at a time without padding along W
    ((1, 6, 1, 9, 33), (0, 2, 0), (0, 1, 0), 6),      # (297 positions: the vector loop and its rest)
    ((2, 8, 2, 5, 6), (1, 1, 2), (0, 1, 1), 8),       # padding along W: row by row
])
def test_pad_channels_last_matches_numpy(dtype, shape, pads, extra, pitch):
    """The channels-last padded copy equals np.pad + transpose (zeros past the end, and in the
    columns past C of each position's ``pitch``)."""
    from fastnet.kernels import conv_layout as layout
    x = np.random.default_rng(7).standard_normal(shape).astype(dtype)
    pd, ph, pw = pads
    ed, eh, ew = extra
    # a NaN copy first: its memory is reused, so a cell the kernel misses holds NaN, not a value
    # left right by an earlier call
    layout._pad_channels_last(np.full_like(x, np.nan), pd, ph, pw, ed, eh, ew, pitch)
    got = layout._pad_channels_last(x, pd, ph, pw, ed, eh, ew, pitch)
    padded = np.pad(x, ((0, 0), (0, pitch - shape[1]), (pd, pd + ed), (ph, ph + eh), (pw, pw + ew)))
    n, c, dp, hp, wp = padded.shape
    expected = padded.transpose(0, 2, 3, 4, 1).reshape(n, dp, hp, wp * c)
    assert got.shape == expected.shape and got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", range(1, 18))   # every form's channel counts, W - 1 and W + 1 too
@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 2), size=st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 19)),
       pads=st.tuples(st.integers(0, 1), st.integers(0, 2), st.sampled_from([0, 0, 1, 2])),
       extra=st.tuples(st.integers(0, 1), st.integers(0, 1), st.sampled_from([0, 0, 1])),
       pitch_extra=st.sampled_from([0, 0, 0, 3]), seed=st.integers(0, 2**16))
def test_property_pad_channels_last(dtype, n, c, size, pads, extra, pitch_extra, seed):
    """Every copy form (interleaved rows or planes for 2 to 8 channels, the few-channel transposes,
    the register tiles, channel by channel, position by position), whichever the channel count,
    padding and pitch pick: np.pad + transpose, every cell written."""
    from fastnet.kernels import conv_layout as layout
    x = rng(seed).standard_normal((n, c) + size).astype(dtype)
    pitch = c + pitch_extra
    layout._pad_channels_last(np.full_like(x, np.nan), *pads, *extra, pitch)
    got = layout._pad_channels_last(x, *pads, *extra, pitch)
    (pd, ph, pw), (ed, eh, ew) = pads, extra
    padded = np.pad(x, ((0, 0), (0, pitch - c), (pd, pd + ed), (ph, ph + eh), (pw, pw + ew)))
    expected = padded.transpose(0, 2, 3, 4, 1).reshape(got.shape)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("rows_per_band", [1, 2, 3])
@pytest.mark.parametrize("shape", [(2, 37, 2, 7, 19), (1, 40, 2, 9, 5)])
def test_pad_channels_last_in_bands_of_rows(monkeypatch, rows_per_band, shape):
    """The register tiles fill a band of rows a group of channels at a time: bands of 1, 2 and 3
    rows (the last one short) give the same copy as one band of all rows, also where a band holds
    fewer positions than a tile (rows of 5: a tile then reaches into the next band or the one
    before)."""
    from fastnet.kernels import conv_layout as layout
    x = np.random.default_rng(8).standard_normal(shape).astype(np.float32)
    whole = layout._pad_channels_last(x, 1, 1, 2, 0, 1, 0, 40)
    row_bytes = whole.shape[3] * x.itemsize
    monkeypatch.setattr(layout, "FILL_BAND_BYTES", rows_per_band * row_bytes)
    layout._pad_channels_last(np.full_like(x, np.nan), 1, 1, 2, 0, 1, 0, 40)
    got = layout._pad_channels_last(x, 1, 1, 2, 0, 1, 0, 40)
    padded = np.pad(x, ((0, 0), (0, 40 - shape[1]), (1, 1), (1, 2), (2, 2)))
    expected = padded.transpose(0, 2, 3, 4, 1).reshape(whole.shape)
    np.testing.assert_array_equal(whole, expected)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [
    (2, 40, 1, 5, 7),     # two panels (float32, AVX-512), the second with channels past K: zeros
    (3, 6, 2, 3, 3),      # fewer channels than a vector (narrow tile)
    (2, 64, 1, 1, 1),     # planes of one position: value by value
    (2, 128, 1, 14, 14),  # whole tiles, the last of each plane overlapping
    (1, 70, 2, 3, 5),
])
def test_dy_panels_match_numpy(dtype, shape):
    """The weight gradient's copy of dy, channels-last panel by panel (panel-major, then image),
    equals the NumPy transpose, with zeros in the channels past K."""
    from fastnet.kernels import conv_weight
    from fastnet.kernels.microkernel import narrow_fits, tile_shape
    nr = tile_shape(np.dtype(dtype), narrow_fits(shape[1], np.dtype(dtype)))[1]
    kp = -(-shape[1] // nr) * nr
    dy = rng(31).standard_normal(shape).astype(dtype)
    conv_weight._dy_panels(np.full_like(dy, np.nan), kp, nr)   # reused memory holds NaN
    got = conv_weight._dy_panels(dy, kp, nr)
    n, k = shape[:2]
    full = np.zeros((n, kp) + shape[2:], dtype)
    full[:, :k] = dy
    expected = full.reshape(n, kp // nr, nr, *shape[2:]).transpose(1, 0, 3, 4, 5, 2)
    np.testing.assert_array_equal(got, expected.reshape(kp // nr * n, shape[2], shape[3], shape[4] * nr))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, stride, padding", [
    ((1, 200, 3, 4, 5), (5, 200, 3, 3, 3), 1, 1),        # forward: filter rows of 600 values
    ((2, 360, 1, 5, 6), (6, 360, 1, 5, 5), (1, 2, 2), 1),  # strided, 5 rows of 1800
    ((1, 5, 3, 4, 5), (300, 5, 3, 3, 3), 1, 1),          # gather backward-input: K*taps = 8100
])
def test_long_reductions_match_reference(xs, ws, stride, padding, dtype):
    """Reductions sliced by filter rows (a weight panel over SLICE_BYTES), forward and backward."""
    assert_matches_loops(xs, ws, stride, padding, dtype, seed=32)


def test_long_reductions_deterministic_across_thread_counts():
    """Sliced reductions (forward 300*27 = 8100, gather backward-input 48*27 = 1296): bitwise
    equal on 1 and N threads."""
    import numba
    x, w, b = conv_problem((2, 300, 3, 9, 10), (48, 300, 3, 3, 3), np.float32, seed=34)
    dy = rng(35).standard_normal(conv3d(x, w, b, 1, 1).shape).astype(np.float32)
    first = (conv3d(x, w, b, 1, 1),) + conv3d_backward(x, w, dy, 1, 1)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = (conv3d(x, w, b, 1, 1),) + conv3d_backward(x, w, dy, 1, 1)
    finally:
        numba.set_num_threads(old)
    for a, c in zip(first, single):
        assert np.array_equal(a, c)

"""The blocked dense kernels (single-threaded BLAS per row block on fastnet's threads, and the
fallback of one BLAS call per product) and the fused 2x2x2 / 2 max-pool 3-D path, against the
reference loops in float32 and float64."""

import numpy as np
import pytest

import fastnet
from fastnet import ops
from fastnet.kernels import cblas
from fastnet.kernels import dense as dense_kernels
from fastnet.reference import naive
from helpers import DTYPES, assert_close, rng

# (N, in, out): several row blocks on 2+ threads, uneven blocks, blocks of one tile
DENSE_SHAPES = [(256, 40, 48), (97, 33, 65), (35, 7, 70), (16, 5, 3), (1, 9, 300), (300, 3, 1)]


def _data(n, k, m, dtype, seed=0):
    g = rng(seed)
    return (g.standard_normal((n, k)).astype(dtype), g.standard_normal((m, k)).astype(dtype),
            g.standard_normal(m).astype(dtype), g.standard_normal((n, m)).astype(dtype))


def _check_dense(shape, dtype):
    x, w, b, dy = _data(*shape, dtype)
    assert_close(ops.dense(x, w, b), naive.dense(x, w, b), dtype, scale=4)
    assert_close(ops.dense(x, w), naive.dense(x, w), dtype, scale=4)
    reference = naive.dense_backward(x, w, dy)
    for got, want in zip(ops.dense_backward(x, w, dy), reference):
        assert_close(got, want, dtype, scale=4)
    # without dx (a first layer): dw on all the threads, the same values
    dx, dw, db = ops.dense_backward(x, w, dy, input_grad=False)
    assert dx is None
    assert_close(dw, reference[1], dtype, scale=4)
    assert_close(db, reference[2], dtype, scale=4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", DENSE_SHAPES, ids=str)
@pytest.mark.parametrize("threads", [1, 2])
def test_dense_blocked_matches_reference(shape, dtype, threads):
    before = fastnet.get_num_threads()
    if threads > before:
        pytest.skip(f"needs {threads} threads")
    try:
        fastnet.set_num_threads(threads)
        _check_dense(shape, dtype)
    finally:
        fastnet.set_num_threads(before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", DENSE_SHAPES, ids=str)
def test_dense_kernels_any_block_count_match_reference(shape, dtype):
    """Blocks of rows or of columns (forward) as on any thread count (uneven, more blocks than
    threads), with and without a bias."""
    x, w, b, dy = _data(*shape, dtype)
    n, _, m = shape
    want = naive.dense(x, w, b)
    rdx, rdw, rdb = naive.dense_backward(x, w, dy)
    for kind, forward, backward in _blas_kernels(dtype):
        for blocks in (1, 2, 3, 5):
            for by_columns in (False, True):
                for bias, reference in ((b, want), (np.zeros(0, dtype), naive.dense(x, w))):
                    y = np.full((n, m), np.nan, dtype)
                    forward(x, w, bias, y, min(blocks, m if by_columns else n), by_columns)
                    assert_close(y, reference, dtype, scale=4)
            dx, dw, db = np.full_like(x, np.nan), np.full_like(w, np.nan), np.full(m, np.nan, dtype)
            backward(x, w, dy, dx, dw, db, min(blocks, n), min(blocks, m))
            assert_close(dx, rdx, dtype, scale=4)
            assert_close(dw, rdw, dtype, scale=4)
            np.testing.assert_array_equal(db, ops.dense_backward(x, w, dy)[2])   # order-fixed sum
            assert_close(db, rdb, dtype, scale=4)


def _blas_kernels(dtype):
    """(name, forward, backward) of the BLAS kernels: Numba's np.dot, and NumPy's OpenBLAS by
    address where it is found, with the address bound."""
    kernels = [("np.dot", dense_kernels._dense_forward_dot, dense_kernels._dense_backward_dot)]
    found = cblas.numpy_openblas()
    if found is not None:
        address = found.sgemm if dtype == np.float32 else found.dgemm
        kernels.append(("cblas", lambda *a: dense_kernels._dense_forward(*a, address),
                        lambda *a: dense_kernels._dense_backward(*a, address, False)))
        kernels.append(("cblas, on the calling thread", lambda *a: dense_kernels._dense_forward(*a, address),
                        lambda *a: dense_kernels._dense_backward(*a, address, True)))
        # the forward from transposed copies of w (always by columns: correct for any split)
        kernels.append(("cblas, w transposed",
                        lambda x, w, b, y, blocks, _: dense_kernels._dense_forward_transposed(x, w, b, y, blocks,
                                                                                             address),
                        lambda *a: dense_kernels._dense_backward(*a, address, False)))
    return kernels


# (N, in, out) of a few rows: the skinny kernels (blocks of output features)
SKINNY_SHAPES = [(4, 37, 50), (1, 300, 17), (7, 5, 3), (3, 1, 40)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SKINNY_SHAPES, ids=str)
def test_dense_skinny_kernels_any_block_count_match_reference(shape, dtype):
    """The few-rows kernels on uneven block counts, more blocks than threads, one block per output
    feature: against the loop reference, db bitwise as the BLAS path's (rows summed in order)."""
    x, w, b, dy = _data(*shape, dtype)
    n, _, m = shape
    want = naive.dense(x, w, b)
    rdx, rdw, rdb = naive.dense_backward(x, w, dy)
    first = None
    for blocks in (1, 2, 3, m):
        y = np.full((n, m), np.nan, dtype)
        dense_kernels._dense_forward_skinny(x, w, b, y, min(blocks, m))
        assert_close(y, want, dtype, scale=4)
        y0 = np.full((n, m), np.nan, dtype)
        dense_kernels._dense_forward_skinny(x, w, np.zeros(0, dtype), y0, min(blocks, m))
        assert_close(y0, naive.dense(x, w), dtype, scale=4)
        dx, dw, db = np.full_like(x, np.nan), np.full_like(w, np.nan), np.full(m, np.nan, dtype)
        dense_kernels._dense_backward_skinny(x, w, dy, dx, dw, db, min(blocks, m))
        assert_close(dx, rdx, dtype, scale=4)
        assert_close(dw, rdw, dtype, scale=4)
        assert_close(db, rdb, dtype, scale=4)
        if first is None:
            first = (dw, db)
        np.testing.assert_array_equal(dw, first[0])   # dw and db do not depend on the blocks
        np.testing.assert_array_equal(db, first[1])


def test_dense_ops_take_the_skinny_kernels_for_few_rows(monkeypatch):
    """The ops route a few rows to the skinny kernels (the backward only for a large w) and the
    rest to BLAS: checked by making the other path fail."""
    x, w, b, dy = _data(3, 6, 5, np.float64)

    def fail(*args):
        raise AssertionError("wrong path")

    for name in ("_dense_forward", "_dense_forward_dot"):
        monkeypatch.setattr(dense_kernels, name, fail)
    assert_close(ops.dense(x, w, b), naive.dense(x, w, b), np.float64)
    for name in ("_dense_backward", "_dense_backward_dot"):
        monkeypatch.setattr(dense_kernels, name, fail)
    monkeypatch.setattr(dense_kernels, "SKINNY_BACKWARD_BYTES", 0)
    for got, want in zip(ops.dense_backward(x, w, dy), naive.dense_backward(x, w, dy)):
        assert_close(got, want, np.float64)
    dx, dw, db = ops.dense_backward(x, w, dy, input_grad=False)
    assert dx is None
    for got, want in zip((dw, db), naive.dense_backward(x, w, dy)[1:]):
        assert_close(got, want, np.float64)
    monkeypatch.undo()
    monkeypatch.setattr(dense_kernels, "_dense_forward_skinny", fail)
    monkeypatch.setattr(dense_kernels, "_dense_backward_skinny", fail)
    x, w, b, dy = _data(16, 6, 5, np.float64)
    assert_close(ops.dense(x, w, b), naive.dense(x, w, b), np.float64)
    ops.dense_backward(x, w, dy)


@pytest.mark.parametrize("shape, by_columns", [((64, 8, 64), True), ((32, 8, 200), True),
                                               ((65, 8, 64), False), ((200, 8, 32), False)], ids=str)
def test_dense_forward_splits_the_larger_of_rows_and_features(shape, by_columns, monkeypatch):
    """On 2+ threads the forward's sgemm blocks split out_features where it is at least N (an
    sgemm of 256 x 256 ran faster than one of 128 x 512), else the rows."""
    if fastnet.get_num_threads() < 2:
        pytest.skip("needs 2 threads")
    monkeypatch.setattr(dense_kernels, "SERIAL_MACS", 0)   # these small products would run in one block
    calls = []
    for name in ("_dense_forward", "_dense_forward_dot", "_dense_forward_transposed"):
        def spy(*args, kernel=getattr(dense_kernels, name), name=name):
            # n_blocks, by_columns (the transposed copies' kernel splits columns only)
            calls.append((args[4], True) if name == "_dense_forward_transposed" else args[4:6])
            return kernel(*args)

        monkeypatch.setattr(dense_kernels, name, spy)
    x, w, b, _ = _data(*shape, np.float32)
    assert_close(ops.dense(x, w, b), naive.dense(x, w, b), np.float32, scale=4)
    assert len(calls) == 1 and calls[0][0] > 1 and calls[0][1] == by_columns, calls


@pytest.mark.parametrize("shape, serial", [((64, 64, 10), True), ((64, 32, 64), True), ((64, 64, 64), False)],
                         ids=str)
def test_dense_small_products_run_on_the_calling_thread(shape, serial, monkeypatch):
    """Products of up to SERIAL_MACS multiply-adds: the forward in one block, the backward's tasks
    in turn, both with no parallel region; larger ones split over the threads."""
    if fastnet.get_num_threads() < 2:
        pytest.skip("needs 2 threads")
    if cblas.numpy_openblas() is None:
        pytest.skip("NumPy's OpenBLAS not found")
    calls = []
    for name in ("_dense_forward", "_dense_forward_transposed"):
        def spy(*args, kernel=getattr(dense_kernels, name)):
            calls.append(args[4])   # n_blocks
            return kernel(*args)

        monkeypatch.setattr(dense_kernels, name, spy)
    backward = dense_kernels._dense_backward

    def spy_backward(*args):
        calls.append(args[-1])   # serial
        return backward(*args)

    monkeypatch.setattr(dense_kernels, "_dense_backward", spy_backward)
    x, w, b, dy = _data(*shape, np.float32)
    assert_close(ops.dense(x, w, b), naive.dense(x, w, b), np.float32, scale=4)
    for got, want in zip(ops.dense_backward(x, w, dy), naive.dense_backward(x, w, dy)):
        assert_close(got, want, np.float32, scale=4)
    assert (calls[0] == 1) == serial and calls[1] == serial, calls


@pytest.mark.parametrize("core, dtype, shape, transposed", [
    ("SkylakeX", np.float32, (48, 40, 64), True),
    ("SkylakeX", np.float32, (40, 33, 65), True),        # column blocks of uneven width
    ("SkylakeX", np.float32, (300, 3, 2), False),        # row blocks: w read in place
    ("SkylakeX", np.float64, (48, 40, 64), False),       # dgemm: no gain measured
    ("SkylakeX", np.float32, (64, 1025, 1024), False),   # w over TRANSPOSED_W_MAX_BYTES
    ("Haswell", np.float32, (48, 40, 64), False),        # AVX2 kernels: no gain measured
], ids=str)
def test_dense_forward_transposes_w_for_the_cores_where_it_paid(core, dtype, shape, transposed,
                                                               monkeypatch):
    """With OpenBLAS's SkylakeX kernels, float32 and w of at most TRANSPOSED_W_MAX_BYTES, the
    forward of a layer with at least as many output features as rows (column blocks, or one block
    on one thread) takes a transposed copy of w; fewer features (row blocks) and the other cases
    read w in place. By shape, not by thread count."""
    found = cblas.numpy_openblas()
    if found is None:
        pytest.skip("NumPy's OpenBLAS not found")
    monkeypatch.setattr(dense_kernels, "numpy_openblas", lambda: found._replace(core=core))
    calls = []
    for name in ("_dense_forward", "_dense_forward_transposed"):
        def spy(*args, kernel=getattr(dense_kernels, name), name=name):
            calls.append(name)
            return kernel(*args)

        monkeypatch.setattr(dense_kernels, name, spy)
    x, w, b, _ = _data(*shape, dtype)
    assert_close(ops.dense(x, w, b), naive.dense(x, w, b), dtype, scale=4)
    assert calls == ["_dense_forward_transposed" if transposed else "_dense_forward"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", DENSE_SHAPES[:3], ids=str)
def test_dense_fallback_without_blas_control_matches_reference(shape, dtype, monkeypatch):
    """Neither NumPy's OpenBLAS nor a controllable SciPy OpenBLAS: one np.dot call per product."""
    monkeypatch.setattr(dense_kernels, "numpy_openblas", lambda: None)
    monkeypatch.setattr(dense_kernels, "_blas_funcs", ())
    _check_dense(shape, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", DENSE_SHAPES[:3], ids=str)
def test_dense_without_numpy_openblas_takes_np_dot_blocks(shape, dtype, monkeypatch):
    """A NumPy built against another BLAS: the np.dot kernels, on blocks, SciPy's OpenBLAS
    single-threaded inside them."""
    monkeypatch.setattr(dense_kernels, "numpy_openblas", lambda: None)
    for name in ("_dense_forward", "_dense_backward"):
        monkeypatch.setattr(dense_kernels, name, None)   # the CBLAS kernels are not called
    _check_dense(shape, dtype)


@pytest.mark.parametrize("which", ["numpy", "scipy"])
def test_dense_restores_blas_threads(which, monkeypatch):
    """The OpenBLAS a call drives runs single-threaded inside it and has its setting back after."""
    x, w, b, dy = _data(64, 8, 40, np.float32)
    if which == "scipy":
        monkeypatch.setattr(dense_kernels, "numpy_openblas", lambda: None)
        ops.dense(x, w, b)
        funcs = dense_kernels._blas_funcs
    else:
        found = cblas.numpy_openblas()
        funcs = found.thread_funcs if found is not None else ()
    if not funcs:
        pytest.skip(f"no controllable OpenBLAS bundled with {which}")
    setter, getter = funcs
    before = getter()
    try:
        setter(2)
        ops.dense(x, w, b)
        ops.dense_backward(x, w, dy)
        assert getter() == 2
    finally:
        setter(before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_bitwise_reproducible_for_a_thread_count(dtype):
    x, w, b, dy = _data(200, 30, 50, dtype, seed=3)
    first = (ops.dense(x, w, b),) + ops.dense_backward(x, w, dy)
    second = (ops.dense(x, w, b),) + ops.dense_backward(x, w, dy)
    for a, c in zip(first, second):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 4, 6, 8), (1, 2, 5, 7, 9), (2, 1, 3, 3, 3), (1, 1, 2, 2, 2),
                                   (1, 2, 2, 4, 33)], ids=str)
def test_maxpool3d_2x2x2_fused_matches_reference(shape, dtype):
    x = rng(11).standard_normal(shape).astype(dtype)
    x.reshape(-1)[1::7] = x.reshape(-1)[::7][:x.reshape(-1)[1::7].size]   # ties
    np.testing.assert_array_equal(ops.maxpool3d(x, 2), naive.maxpool3d(x, 2))
    x[0, 0, 0, 0, 1] = np.nan
    x[-1, -1, -1, -1, -1] = np.nan
    y = ops.maxpool3d(x, 2, 2, 0)
    np.testing.assert_array_equal(y, naive.maxpool3d(x, 2, 2, 0))   # NaN positions and values
    assert np.isnan(y[0, 0, 0, 0, 0])


def _pool_backward_case(shape, dtype, seed):
    """Integer-valued x (ties), some NaNs, dy with some -0.0."""
    g = rng(seed)
    x = g.integers(0, 3, shape).astype(dtype)
    x.reshape(-1)[::11] = np.nan
    dy = g.standard_normal(shape[:2] + tuple(s // 2 for s in shape[2:])).astype(dtype)
    dy.reshape(-1)[::5] = -0.0
    return x, dy


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 6, 8), (1, 2, 7, 9), (1, 1, 2, 2), (2, 2, 5, 4), (1, 3, 4, 35)],
                         ids=str)
def test_maxpool2d_backward_2x2_fast_path(shape, dtype):
    from fastnet.kernels import pooling
    x, dy = _pool_backward_case(shape, dtype, 5)
    dx = ops.maxpool2d_backward(x, dy, 2)
    np.testing.assert_array_equal(dx, naive.maxpool2d_backward(x, dy, 2))
    generic = np.full_like(x, 7.0)
    pooling.maxpool2d_backward(x, dy, generic, 2, 2, 2, 2, 0, 0, False)
    assert dx.tobytes() == generic.tobytes()   # bitwise, signs of zeros included


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, merged", [((64, 6, 8, 8), (6, 1, 512, 8)), ((64, 16, 4, 4), (4, 1, 1024, 4)),
                                           ((3, 5, 10, 7), (1, 1, 150, 7)), ((2, 3, 5, 8), (2, 3, 5, 8)),
                                           ((7, 1, 6, 700), (7, 1, 6, 700))], ids=str)
def test_maxpool2d_2x2_merges_small_planes(shape, merged, dtype):
    """2x2 / 2: planes of an even height run stacked into taller planes of up to
    MERGED_PLANE_VALUES values (no window crosses two planes; odd widths keep floor mode's last
    column per row); odd heights, whose last row floor mode drops, and large planes keep theirs.
    Forward and backward as the reference, the backward bitwise the generic path's."""
    from fastnet.kernels import pooling
    x, dy = _pool_backward_case(shape, dtype, 9)
    assert pooling._merged_planes(x, dy)[0].shape == merged
    np.testing.assert_array_equal(ops.maxpool2d(x, 2), naive.maxpool2d(x, 2))
    dx = ops.maxpool2d_backward(x, dy, 2)
    np.testing.assert_array_equal(dx, naive.maxpool2d_backward(x, dy, 2))
    generic = np.full_like(x, 7.0)
    pooling.maxpool2d_backward(x, dy, generic, 2, 2, 2, 2, 0, 0, False)
    assert dx.tobytes() == generic.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", ["_maxpool2d_backward_2x2s2", "_maxpool2d_backward_2x2s2_planes"])
@pytest.mark.parametrize("shape", [(2, 3, 6, 8), (1, 2, 7, 9), (1, 1, 2, 2), (2, 2, 5, 4), (1, 3, 4, 35),
                                   (3, 1, 9, 40), (1, 2, 28, 28)], ids=str)
def test_maxpool2d_backward_2x2_both_forms(shape, form, dtype):
    """The row-by-row and the whole-plane 2x2 / 2 backward (the dispatcher picks one by the output
    row's length, and the ISA): each, for any split of the planes into runs, gives the generic
    path's bits (odd sizes: floor mode's uncovered last row and column, where the plane form's
    unused lanes write junk that must be cleared)."""
    from fastnet.kernels import pooling
    x, dy = _pool_backward_case(shape, dtype, 8)
    generic = np.full_like(x, 7.0)
    pooling.maxpool2d_backward(x, dy, generic, 2, 2, 2, 2, 0, 0, False)
    planes = shape[0] * shape[1]
    for n_chunks in sorted({1, 2, planes, planes + 1}):
        dx = np.full_like(x, 5.0)
        getattr(pooling, form)(x, dy, dx, n_chunks)
        assert dx.tobytes() == generic.tobytes(), n_chunks


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 4, 6, 8), (1, 2, 5, 7, 9), (1, 1, 2, 2, 2), (1, 2, 3, 5, 4),
                                   (1, 1, 2, 3, 33)], ids=str)
def test_maxpool3d_backward_2x2x2_fast_path(shape, dtype):
    from fastnet.kernels import pooling3d
    x, dy = _pool_backward_case(shape, dtype, 6)
    dx = ops.maxpool3d_backward(x, dy, 2)
    np.testing.assert_array_equal(dx, naive.maxpool3d_backward(x, dy, 2))
    generic = np.full_like(x, 7.0)
    pooling3d.maxpool3d_backward(x, dy, generic, 2, 2, 2, 2, 2, 2, 0, 0, 0, False)
    assert dx.tobytes() == generic.tobytes()


# 3x3 / 2 without padding (fused forward and backward paths): odd and even sizes (floor mode's
# uncovered last row / column), the smallest plane, batch 1, a single window row or column, and a
# width giving more windows than one vector; AlexNet's 55x55 and a tall even-width plane (the
# backward works on whole planes in lanes of stride ``width`` whose unused lanes read the next rows)
POOL3_SHAPES = [(2, 3, 7, 9), (1, 2, 8, 10), (1, 1, 3, 3), (2, 2, 4, 3), (1, 1, 3, 12), (1, 3, 11, 4),
                (2, 1, 9, 71), (1, 2, 6, 40), (2, 2, 55, 55), (1, 3, 20, 6)]


def _pool3_case(shape, dtype, seed, ties):
    g = rng(seed)
    if ties == "nan":   # windows with several NaNs (the first wins) and infinities
        x = g.choice(np.array([np.nan, np.inf, -np.inf, 1.0, -1.0, 0.0]), size=shape,
                     p=[0.25, 0.1, 0.1, 0.2, 0.15, 0.2]).astype(dtype)
    elif ties:   # few distinct values: first-max-wins, windows sharing their winner
        x = g.integers(0, 3, shape).astype(dtype)
        x.reshape(-1)[::11] = np.nan
    else:
        x = g.standard_normal(shape).astype(dtype)
        x.reshape(-1)[5::37] = np.nan
    dy = g.standard_normal(shape[:2] + tuple((s - 3) // 2 + 1 for s in shape[2:])).astype(dtype)
    dy.reshape(-1)[::5] = -0.0
    return x, dy


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ties", [False, True, "nan"])
@pytest.mark.parametrize("shape", POOL3_SHAPES, ids=str)
def test_maxpool2d_3x3s2_fast_paths(shape, ties, dtype):
    from fastnet.kernels import pooling
    x, dy = _pool3_case(shape, dtype, 7, ties)
    y = ops.maxpool2d(x, 3, 2)
    np.testing.assert_array_equal(y, naive.maxpool2d(x, 3, 2))   # NaN positions and values
    generic_y = np.full_like(y, 7.0)
    pooling.maxpool2d_forward(x, generic_y, 3, 3, 2, 2, 0, 0, False)
    np.testing.assert_array_equal(y, generic_y)
    dx = ops.maxpool2d_backward(x, dy, 3, 2)
    # overlapping windows add in output order, as the reference loop and the generic path do
    np.testing.assert_array_equal(dx, naive.maxpool2d_backward(x, dy, 3, 2))
    generic = np.full_like(x, 7.0)
    pooling.maxpool2d_backward(x, dy, generic, 3, 3, 2, 2, 0, 0, False)
    assert dx.tobytes() == generic.tobytes()   # bitwise, signs of zeros included
    fast = np.full_like(x, 7.0)   # the fast path writes every cell (none left from before)
    pooling.maxpool2d_backward(x, dy, fast, 3, 3, 2, 2, 0, 0)
    assert fast.tobytes() == generic.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_maxpool2d_3x3s2_shared_cells_accumulate_in_order(dtype):
    """A cell that is the max of all four windows around it gets their four gradients."""
    x = np.zeros((1, 1, 5, 5), dtype)
    x[0, 0, 2, 2] = 5.0
    dy = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], dtype)
    dx = ops.maxpool2d_backward(x, dy, 3, 2)
    assert dx[0, 0, 2, 2] == 10.0 and dx.sum() == 10.0
    # values whose sum depends on the order: the fast path must add as the reference does
    dy = np.array([[[[1.0, 1e-8], [-1.0, 3e-8]]]], dtype)
    np.testing.assert_array_equal(ops.maxpool2d_backward(x, dy, 3, 2),
                                  naive.maxpool2d_backward(x, dy, 3, 2))
    # ties: the first cell in row-major order wins each window
    x = np.ones((1, 1, 5, 5), dtype)
    dx = ops.maxpool2d_backward(x, np.ones((1, 1, 2, 2), dtype), 3, 2)
    expected = np.zeros((5, 5))
    expected[0, 0] = expected[0, 2] = expected[2, 0] = expected[2, 2] = 1.0
    np.testing.assert_array_equal(dx[0, 0], expected)


@pytest.mark.parametrize("n_chunks", [1, 2, 5, 6, 9])
def test_maxpool2d_3x3s2_any_chunk_count(n_chunks):
    """The fused kernels split the planes into runs that reuse one scratch: any split (fewer, as
    many as or more runs than the 6 planes) gives the reference's bits."""
    from fastnet.kernels import pooling
    x, dy = _pool3_case((2, 3, 13, 11), np.float64, 11, True)
    y = np.full((2, 3, 6, 5), 7.0)
    pooling._maxpool2d_forward_3x3s2(x, y, n_chunks)
    np.testing.assert_array_equal(y, naive.maxpool2d(x, 3, 2))
    dx = np.full_like(x, 7.0)
    pooling._maxpool2d_backward_3x3s2(x, dy, dx, n_chunks)
    assert dx.tobytes() == naive.maxpool2d_backward(x, dy, 3, 2).tobytes()


def test_maxpool2d_3x3s2_reproducible_across_thread_counts():
    x, dy = _pool3_case((3, 5, 13, 15), np.float32, 9, False)
    threads = fastnet.get_num_threads()
    try:
        fastnet.set_num_threads(1)
        one = (ops.maxpool2d(x, 3, 2), ops.maxpool2d_backward(x, dy, 3, 2))
        fastnet.set_num_threads(threads)
        many = (ops.maxpool2d(x, 3, 2), ops.maxpool2d_backward(x, dy, 3, 2))
    finally:
        fastnet.set_num_threads(threads)
    for a, b in zip(one, many):
        assert a.tobytes() == b.tobytes()


def test_dense_forms_script_times_both_forms(capsys):
    """bench/dense_forms.py, the table behind the transposed copy's rule: both forms timed on a
    tiny layer (PyTorch's too where installed), the rule's pick as this CPU's rule gives it, and
    the module's rule left as it was."""
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(__file__), os.pardir, "bench", "dense_forms.py")
    spec = importlib.util.spec_from_file_location("dense_forms", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    rule = (dense_kernels.TRANSPOSED_W_CORES, dense_kernels.TRANSPOSED_W_MAX_BYTES)
    (layer, best, transposed), = script.measure([(20, 17, 33)], rounds=1, calls=1)
    assert layer == (20, 17, 33) and {"in place", "transposed"} <= set(best)
    assert all(np.isfinite(t) and t > 0 for t in best.values())
    assert transposed == dense_kernels._transposes_w(np.empty((20, 17), np.float32),
                                                     np.empty((33, 17), np.float32))
    assert (dense_kernels.TRANSPOSED_W_CORES, dense_kernels.TRANSPOSED_W_MAX_BYTES) == rule
    threads = fastnet.get_num_threads()
    try:
        script.main(["--threads", "1", "--rounds", "1", "--calls", "1", "--layers", "20,17,33"])
    finally:
        fastnet.set_num_threads(threads)
    out = capsys.readouterr().out.rstrip()
    assert "| (20, 17, 33) |" in out and out.endswith("transposed |" if transposed else "in place |")

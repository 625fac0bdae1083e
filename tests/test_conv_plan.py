"""The forward core's plan (kernels/conv_plan.py): position order, tile costs, the split between threads.

The kernels' results do not depend on the plan (tests/test_conv3d.py runs every split bit for
bit); these tests check the plan itself against loop references: that the order groups the
positions by how they meet the padding, that a tile's cost counts the taps the kernel computes,
and that the split covers every unit once and gives the threads equal work.
"""

import itertools

import numpy as np
import pytest

from fastnet.kernels import conv_plan

# (geom, valid, taps, n_batch): 2-D 14 x 14, 5 x 5 padding 2 (five classes per dim); stride 2
# with padding 1 (two); 3-D with padding on every side; no padding (no classes)
GEOMETRIES = {
    "5x5_pad2": ([[1, 0, 0, 1, 1, 0], [1, 0, 0, 14, 1, 0], [1, 0, 0, 14, 1, 0]],
                 [[0, 1], [2, 16], [2, 16]], (1, 5, 5), 2),
    "3x3_stride2": ([[1, 0, 0, 1, 1, 0], [2, 0, 0, 7, 1, 0], [2, 0, 0, 7, 1, 0]],
                    [[0, 1], [1, 15], [1, 15]], (1, 3, 3), 3),
    "3d": ([[1, 0, 0, 3, 1, 0], [1, 0, 0, 9, 1, 0], [1, 0, 0, 10, 1, 0]],
           [[1, 4], [1, 10], [1, 11]], (3, 3, 3), 2),
    "no_padding": ([[1, 0, 0, 1, 1, 0], [1, 0, 0, 10, 1, 0], [1, 0, 0, 10, 1, 0]],
                   [[0, 1], [0, 14], [0, 14]], (1, 5, 5), 1),
}


def _geometry(name):
    geom, valid, taps, n_batch = GEOMETRIES[name]
    return np.array(geom, dtype=np.int64), np.array(valid, dtype=np.int64), taps, n_batch


def _data_taps(geom, valid, taps, dim, q):
    """The taps of dim whose input row holds data, for output index q: a Python list."""
    start = (geom[dim, 2] + q) * geom[dim, 0] + geom[dim, 1]
    return [a for a in range(taps[dim]) if valid[dim, 0] <= start + a < valid[dim, 1]]


def _positions(geom, n_batch):
    nd, nh, nw = geom[:, 3]
    return list(itertools.product(range(n_batch), range(nd), range(nh), range(nw)))


@pytest.mark.parametrize("name", GEOMETRIES)
def test_position_order_groups_positions_by_the_taps_they_skip(name):
    geom, valid, taps, n_batch = _geometry(name)
    order = conv_plan.position_order(geom, valid, taps, n_batch)
    positions = _positions(geom, n_batch)
    if name == "no_padding":
        assert order.size == 0   # every window meets the padding alike: (n, d, h, w) order
        return
    # reference: the classes in turn (per dim, the runs of q whose windows skip the same taps),
    # each class's positions in (n, d, h, w) order
    runs = []
    for dim in range(3):
        kinds = [tuple(_data_taps(geom, valid, taps, dim, q)) for q in range(geom[dim, 3])]
        run_of = [0]
        for q in range(1, len(kinds)):
            run_of.append(run_of[-1] + (kinds[q] != kinds[q - 1]))
        runs.append(run_of)
    classes = sorted({(runs[0][d], runs[1][h], runs[2][w]) for _, d, h, w in positions})
    expected = [i for c in classes for i, (_, d, h, w) in enumerate(positions)
                if (runs[0][d], runs[1][h], runs[2][w]) == c]
    assert order.dtype == np.int64
    assert order.tolist() == expected


@pytest.mark.parametrize("mr", [8, 6, 16])
@pytest.mark.parametrize("name", GEOMETRIES)
def test_tile_costs_count_the_taps_each_tile_computes(name, mr):
    geom, valid, taps, n_batch = _geometry(name)
    order = conv_plan.position_order(geom, valid, taps, n_batch)
    positions = _positions(geom, n_batch)
    taken = [positions[i] for i in order] if order.size else positions
    taken += [taken[-1]] * (-len(taken) % mr)   # a short last tile repeats the last position
    costs = conv_plan.tile_costs(geom, valid, taps, n_batch, order, mr)
    expected = []
    for t in range(len(taken) // mr):
        count = 1
        for dim in range(3):   # the hull of the taps that meet data at some position of the tile
            met = [a for p in taken[t * mr:(t + 1) * mr] for a in _data_taps(geom, valid, taps, dim, p[dim + 1])]
            count *= max(met) - min(met) + 1 if met else 0
        expected.append(count + 1)
    assert costs.tolist() == expected


def _shares(costs, panels, block, group, mr, bounds):
    """Each thread's work under the split, units taken block by block, groups in turn."""
    k = block // mr
    units = []
    for b0 in range(0, costs.size, k):
        for g0 in range(0, panels, group):
            units.append(int(costs[b0:b0 + k].sum()) * min(group, panels - g0))
    assert bounds[0] == 0 and bounds[-1] == len(units)
    assert all(bounds[t] <= bounds[t + 1] for t in range(len(bounds) - 1))
    return [sum(units[bounds[t]:bounds[t + 1]]) for t in range(len(bounds) - 1)], max(units)


@pytest.mark.parametrize("threads", [1, 2, 3, 16])
@pytest.mark.parametrize("tiles, panels", [(25, 8), (7, 8), (98, 2), (196, 8), (1568, 1), (3, 1)])
def test_split_covers_every_unit_once_with_equal_shares(tiles, panels, threads):
    rng = np.random.default_rng(tiles * panels + threads)
    costs = rng.integers(5, 26, size=tiles)   # uneven tiles, as where some meet the padding
    block, group, bounds = conv_plan.forward_split(costs, panels, 8, threads)
    assert block % 8 == 0 and 8 <= block <= conv_plan.POSITIONS_TARGET and 1 <= group <= panels
    assert bounds.dtype == np.int64 and bounds.size == threads + 1
    shares, largest_unit = _shares(costs, panels, block, group, 8, bounds)
    assert sum(shares) == costs.sum() * panels
    # the busiest thread is within one unit of an equal share, and no worse than the finest split
    # (one tile x one panel per unit) by more than the tolerance
    assert max(shares) <= sum(shares) / threads + largest_unit
    finest = conv_plan._balanced_bounds(np.repeat(costs, panels), threads)[1]
    assert max(shares) * (1 - conv_plan.SPLIT_TOLERANCE) <= finest


def test_split_of_a_batch_one_layer_keeps_both_threads_busy():
    """256 -> 256 channels, 5 x 5 at 14 x 14, batch 1: 25 tiles of 8 positions, 8 panels of 32
    channels. The earlier split (blocks of 4 tiles, Numba's equal counts of units) gave one of
    two threads 56% of the work; the plan gives each half, in blocks as large as that allows."""
    geom, valid, taps, n_batch = _geometry("5x5_pad2")
    order = conv_plan.position_order(geom, valid, taps, 1)
    costs = conv_plan.tile_costs(geom, valid, taps, 1, order, 8)
    block, group, bounds = conv_plan.forward_split(costs, 8, 8, 2)
    shares, _ = _shares(costs, 8, block, group, 8, bounds)
    assert max(shares) <= sum(shares) / 2 * (1 + conv_plan.SPLIT_TOLERANCE)
    assert conv_plan.forward_split(costs, 8, 8, 1)[:2] == (96, 8)   # one thread: the largest units


def test_plan_is_kept_per_shape_and_thread_count():
    geom, valid, taps, n_batch = _geometry("5x5_pad2")
    args = (geom, valid, taps, n_batch, 256, 256, np.float32, False)
    first = conv_plan.forward_plan(*args, 2)
    assert conv_plan.forward_plan(geom.copy(), valid.copy(), taps, n_batch, 256, 256, np.float32, False, 2) is first
    other = conv_plan.forward_plan(*args, 3)
    assert other is not first and other[1][3].size == 4
    assert first[0] is other[0] or np.array_equal(first[0], other[0])   # the order does not depend on threads

"""How the convolution core's forward pass orders and splits its work between threads (NumPy, once per shape).

:func:`~fastnet.kernels.conv3d._forward_tiles` (the forward pass, and dx in the gather form) takes
its output positions in the order :func:`position_order` gives, MR at a time (the tiles), and its
work in units of a block of tiles x a group of NR-column weight panels, each thread one contiguous
range of units (:func:`forward_split`). Neither changes a sum: a tile's positions and the
reduction slices are fixed by the shapes, so results do not depend on the split or the thread
count. The plans are plain NumPy, computed once per shape and thread count and kept
(:func:`forward_plan`): a layer pays for them at its first call only, and no kernel is compiled
for them.
"""

import functools

import numpy as np

from .microkernel import tile_shape

POSITIONS_TARGET = 96   # at most this many output positions per work unit (whole tiles)
# reduction slices of at most this much of one weight panel (whole filter rows), so that it stays
# in L2 while every tile of a block passes. Measured on the 2-core Zen 4, 2 threads, float32
# (2026-12-05), forward ms at 16 / 64 / 128 / 256 KB: AlexNet conv2 (a 30 KB filter row per
# 16-column panel) with AVX2 code 25.6 / 25.9 / 32.7 / 37.2, with AVX-512 (61 KB rows of 32
# columns) 23.3 / 23.3 / 23.2 / 23.2; 256 -> 256 5x5 at 14x14 b8 AVX2 24.5 / 24.4 / 24.6 / 27.6.
SLICE_BYTES = 64 * 1024
# positions grouped by how they meet the padding (position_order) where a filter row's
# channels-last run FW * C is at least this long. Measured on one Zen 4 core (AVX-512, float32,
# 2026-12-05), core time (n, d, h, w) order / grouped: 256 -> 256 at 14x14 b8: 5x5 1.10, 5x5
# stride 2 1.18, 3x3 stride 2 1.08, b1 5x5 1.04; 64 channels 5x5 at 28x28 b32 (FW * C = 320) 1.00;
# 16 channels 3x3 at 28x28 b32 (48) 0.88: short runs, where a tile's calls and its positions'
# set-up cost more than the taps skipped. Below 512 the order saves 2-7% of the multiplies (64
# channels at 28x28 b32: 3x3 stride 2 3.5%, 5x5 4.7%; b8 5x5 stride 2 6.5%), not the time, even
# with its runs of fewer than W positions stored by masked stores instead of value by value
# (tried 2026-12-06, AVX-512, core ms (n, d, h, w) order / grouped, one thread: those three
# 4.18 / 4.14, 43.8 / 44.3, 2.74 / 2.63; two threads, eight 64-channel and 3-D layers: grouped
# 0.92-1.00 times as fast, one 1.05). Why is open: the edge classes' tiles take one position
# from each of MR rows, and widening the copy's rows off a 4 KB multiple changed nothing.
ORDER_MIN_SPAN = 512
# a split whose slowest thread has at most this much more work than the best split's is as good:
# the larger blocks and panel groups win (weights and inputs reused across more tiles)
SPLIT_TOLERANCE = 0.01
PLANS_KEPT = 64   # plans kept (a model's layers need one per conv shape, one per dx residue class)


def forward_plan(geom, valid, taps, n_batch, kp, channels, dtype, narrow, threads):
    """(order, (block, panels, rows_per_slice, bounds)): the position order and work split of
    :func:`~fastnet.kernels.conv3d._forward_tiles` for these shapes (its arguments of the same
    names; ``taps`` = (taps_d, taps_h, taps_w), ``threads``: the parallel region's thread count).

    Kept per shape (the PLANS_KEPT most recently used, an LRU cache): the arrays returned are
    shared between calls, read only; a plan holds 8 bytes per output position (the order) where
    the padding groups positions, a few per tile otherwise.
    """
    return _plan(geom.tobytes(), valid.tobytes(), tuple(int(t) for t in taps), int(n_batch), int(kp),
                 int(channels), np.dtype(dtype).str, bool(narrow), int(threads))


@functools.lru_cache(maxsize=PLANS_KEPT)
def _plan(geom_bytes, valid_bytes, taps, n_batch, kp, channels, dtype, narrow, threads):
    geom = np.frombuffer(geom_bytes, dtype=np.int64).reshape(3, 6)
    valid = np.frombuffer(valid_bytes, dtype=np.int64).reshape(3, 2)
    dtype = np.dtype(dtype)
    mr, nr = tile_shape(dtype, narrow)
    if taps[2] * channels >= ORDER_MIN_SPAN:
        order = position_order(geom, valid, taps, n_batch)
    else:
        order = np.empty(0, dtype=np.int64)
    costs = tile_costs(geom, valid, taps, n_batch, order, mr)
    row_bytes = taps[2] * channels * nr * dtype.itemsize
    block, panels, bounds = forward_split(costs, kp // nr, mr, threads)
    return order, (block, panels, max(1, SLICE_BYTES // max(1, row_bytes)), bounds)


def _tap_ranges(geom, valid, taps, dim, q):
    """Per output index q (an array) along ``dim``: the filter taps [lo, hi) whose input rows hold
    data (``valid``) for the window that starts at ``(q0 + q) * step + offset`` (``geom``)."""
    start = (geom[dim, 2] + q) * geom[dim, 0] + geom[dim, 1]
    lo = np.clip(valid[dim, 0] - start, 0, taps[dim])
    hi = np.clip(valid[dim, 1] - start, 0, taps[dim])
    return lo, hi


def position_order(geom, valid, taps, n_batch):
    """The order in which the tiles take the output positions: grouped by how their windows meet
    the padding, so that a tile's positions skip the same filter taps.

    Per dim, the output indices q split into runs whose windows leave the data rows [lo, hi) of
    ``valid`` by the same number of taps before and after (with 5 x 5 filters and padding 2: q = 0,
    1, the interior, the last two); the order is class by class (a run per dim), each in
    (n, d, h, w) order: int64 flat (n, d, h, w) indices of the ``geom`` grid. An empty array where
    every window meets the padding alike (no padding): (n, d, h, w) order.
    Without it a tile crosses from a row's end to the next row's start and computes the union of
    both edges' taps: 12% more work than the data needs with 5 x 5 filters at 14 x 14, 7% with
    3 x 3, 20% with 5 x 5 stride 2.
    """
    classes = []
    for dim in range(3):
        lo, hi = _tap_ranges(geom, valid, taps, dim, np.arange(geom[dim, 3]))
        change = np.ones(lo.size, dtype=bool)
        change[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
        classes.append(np.cumsum(change) - 1)   # the run of each q
    if max(c[-1] for c in classes) == 0:
        return np.empty(0, dtype=np.int64)
    nd, nh, nw = (int(n) for n in geom[:, 3])
    key = (classes[0][:, None, None] * (classes[1][-1] + 1) + classes[1][None, :, None]) \
        * (classes[2][-1] + 1) + classes[2][None, None, :]
    key = np.broadcast_to(key, (n_batch, nd, nh, nw)).reshape(-1)
    return np.argsort(key, kind="stable").astype(np.int64)


def tile_costs(geom, valid, taps, n_batch, order, mr):
    """Each tile's work in filter taps: the taps its positions meet data at, as the tile trims
    them (the union over its positions, per dim), plus one for the tile's own set-up. A short last
    tile repeats the last position, as the kernel does."""
    nd, nh, nw = (int(n) for n in geom[:, 3])
    total = n_batch * nd * nh * nw
    tiles = -(-total // mr)
    p = order if order.size else np.arange(total, dtype=np.int64)
    p = np.concatenate([p, np.full(tiles * mr - total, p[-1], dtype=np.int64)])
    cost = np.ones(tiles, dtype=np.int64)
    for dim, q in ((0, p // (nh * nw) % nd), (1, p // nw % nh), (2, p % nw)):
        lo, hi = _tap_ranges(geom, valid, taps, dim, q)
        cost *= np.maximum(0, hi.reshape(tiles, mr).max(axis=1) - lo.reshape(tiles, mr).min(axis=1))
    return cost + 1


def forward_split(costs, panels, mr, threads):
    """(block, panels per unit, bounds): the work split for tiles of these ``costs`` (int64, one
    per tile, :func:`tile_costs`) and ``panels`` NR-column weight panels.

    A unit is ``block`` positions (a whole number of tiles, at most POSITIONS_TARGET) x a group
    of panels; the units are taken block by block, the groups of a block in turn, and thread t
    runs units ``bounds[t] .. bounds[t + 1] - 1`` (``bounds``: int64 (threads + 1,)), cut where
    the work (tile costs x panels) is closest to equal shares. Of the splits whose busiest thread
    has the least work (within SPLIT_TOLERANCE), the one with the largest blocks, then the
    largest groups: each unit streams its panels past every tile of its block. Measured on the
    2-core Zen 4 (AVX-512, float32, 2026-12-05), forward core ms, the split this replaced (blocks
    of 96 positions, panels split only where blocks were fewer than 4 per thread, Numba's equal
    counts of units per thread: the first thread got the remainder) / this one: 256 -> 256 5x5 at
    14x14 b1 3.01 / 2.65, b8 21.7 / 19.4; 64 -> 64 5x5 at 28x28 b1 0.84 / 0.68; AlexNet conv2
    23.8 / 22.9.
    """
    tiles = costs.size
    prefix = np.concatenate([[0], np.cumsum(costs)])
    best = None
    for k in range(min(POSITIONS_TARGET // mr, tiles), 0, -1):   # largest blocks first
        starts = np.arange(0, tiles, k)
        block_cost = prefix[np.minimum(starts + k, tiles)] - prefix[starts]
        for g in range(panels, 0, -1):
            groups = -(-panels // g)
            group_panels = np.full(groups, g, dtype=np.int64)
            group_panels[-1] = panels - (groups - 1) * g
            bounds, busiest = _balanced_bounds((block_cost[:, None] * group_panels[None, :]).ravel(), threads)
            if best is None or busiest < best[0] * (1 - SPLIT_TOLERANCE):
                best = (busiest, k * mr, g, bounds)
        if best[0] * threads <= prefix[-1] * panels * (1 + SPLIT_TOLERANCE):
            break   # even shares already: smaller blocks cannot do better
    return best[1], best[2], best[3]


def _balanced_bounds(unit_costs, threads):
    """(bounds, busiest): ``threads`` contiguous ranges of units, cut where the cumulative cost is
    nearest each equal share, and the largest range's cost."""
    prefix = np.concatenate([[0], np.cumsum(unit_costs)])
    shares = prefix[-1] * np.arange(1, threads) / threads
    after = np.searchsorted(prefix, shares)   # first cut at or past each share
    before = np.maximum(after - 1, 0)
    cut = np.where(shares - prefix[before] < prefix[np.minimum(after, prefix.size - 1)] - shares,
                   before, np.minimum(after, unit_costs.size))
    bounds = np.concatenate([[0], np.maximum.accumulate(cut), [unit_costs.size]]).astype(np.int64)
    return bounds, int(np.max(prefix[bounds[1:]] - prefix[bounds[:-1]]))

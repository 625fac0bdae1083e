"""The register-tile micro-kernel (kernels/microkernel.py): NumPy reference, accumulation, NaN,
tile shapes per target, and the generated code (vector FMAs on the target's widest registers)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from numba import njit

from fastnet.kernels import _config
from fastnet.kernels.microkernel import narrow_fits, shaped_tile_fma, tile_cols, tile_fma, tile_rows, tile_shape
from helpers import DTYPES, assert_close, rng


@njit
def _call(a, abase, aroff, aj, b, br, bj, nr, nj, c, ci, accumulate):
    tile_fma(a, abase, aroff, aj, b, br, bj, nr, nj, c, ci, accumulate)
    return tile_rows(a), tile_cols(a)


@njit
def _call_shaped(a, abase, aroff, aj, b, br, bj, nr, nj, c, ci, accumulate, narrow):
    shaped_tile_fma(a, abase, aroff, aj, b, br, bj, nr, nj, c, ci, accumulate, narrow)
    return tile_rows(a, narrow), tile_cols(a, narrow)


def _reference(a, abase, aroff, aj, b, br, bj, nr, nj, c, ci, accumulate, mr, ncols):
    """The formula of the docstring, as plain loops in float64."""
    out = c.astype(np.float64)
    for i in range(mr):
        for v in range(ncols):
            total = 0.0
            for r in range(nr):
                for j in range(nj):
                    total += float(a[abase[i] + aroff[r] + j * aj]) * float(b[r * br + j * bj + v])
            out[i * ci + v] = (out[i * ci + v] if accumulate else 0.0) + total
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("nr, nj, aj", [(1, 1, 1), (3, 7, 1), (2, 5, 3), (0, 4, 1), (4, 0, 1)])
@pytest.mark.parametrize("shape", ["wide", "shaped-wide", "shaped-narrow"])
def test_matches_the_formula(dtype, accumulate, nr, nj, aj, shape):
    narrow = shape == "shaped-narrow"
    mr, ncols = tile_shape(np.dtype(dtype), narrow)
    g = rng(nr * 10 + nj)
    a = g.standard_normal(400).astype(dtype)
    # rows anywhere in a, out of order; outer steps at uneven offsets
    abase = g.permutation(np.arange(0, 200, 7))[:mr].astype(np.int64)
    assert abase.size == mr
    aroff = np.array([0, 40, 13, 90][:max(nr, 1)], dtype=np.int64)
    br, bj = nj * ncols + 5, ncols + 3
    b = g.standard_normal(max(nr, 1) * br + max(nj, 1) * bj + ncols).astype(dtype)
    ci = ncols + 2
    c = g.standard_normal(mr * ci).astype(dtype)
    expected = _reference(a, abase, aroff, aj, b, br, bj, nr, nj, c, ci, accumulate, mr, ncols)
    gaps = [(i * ci + ncols, i * ci + ci) for i in range(mr)]
    before = c.copy()
    if shape == "wide":
        got = _call(a, abase, aroff, aj, b, br, bj, nr, nj, c, ci, np.bool_(accumulate))
    else:
        got = _call_shaped(a, abase, aroff, aj, b, br, bj, nr, nj, c, ci, np.bool_(accumulate), narrow)
    assert got == (mr, ncols)
    assert_close(c, expected.astype(dtype), dtype, scale=np.sqrt(max(nr * nj, 1)))
    for lo, hi in gaps:   # what lies between the tile's rows is not touched
        np.testing.assert_array_equal(c[lo:hi], before[lo:hi])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("narrow", [False, True])
def test_nan_and_inf_propagate(dtype, narrow):
    mr, ncols = tile_shape(np.dtype(dtype), narrow)
    a = np.ones(mr * 4, dtype=dtype)
    a[2 * 4 + 1] = np.nan                    # row 2, step 1
    col = min(5, ncols - 1)                   # a narrow float64 tile on AVX2 has 4 columns
    b = np.ones(4 * ncols, dtype=dtype)
    b[3 * ncols + col] = np.inf               # step 3
    c = np.zeros(mr * ncols, dtype=dtype)
    _call_shaped(a, np.arange(mr, dtype=np.int64) * 4, np.zeros(1, np.int64), 1, b, 0, ncols, 1, 4, c,
                 ncols, np.bool_(False), narrow)
    c = c.reshape(mr, ncols)
    assert np.isnan(c[2]).all()
    assert np.isinf(c[np.arange(mr) != 2, col]).all()
    rest = np.delete(np.delete(c, 2, axis=0), col, axis=1)
    assert (rest == 4).all()


def test_tile_shape_follows_the_vector_width():
    width = _config.vector_bytes()
    assert width in (16, 32, 64)
    mr32, nr32 = tile_shape(np.dtype(np.float32))
    mr64, nr64 = tile_shape(np.dtype(np.float64))
    assert mr32 == mr64 and nr32 == 2 * nr64
    assert nr32 % (width // 4) == 0 and nr64 % (width // 8) == 0
    # accumulators plus the loaded vectors and one broadcast fit the register file
    registers = 32 if width == 64 else 16
    for narrow in (False, True):
        rows, cols = tile_shape(np.dtype(np.float32), narrow)
        vectors = cols // (width // 4)
        assert rows * vectors + vectors + 1 <= registers
    # the narrow shape: one vector, more rows; it fits columns up to one vector
    assert tile_shape(np.dtype(np.float32), True)[1] == width // 4 and tile_shape(np.dtype(np.float32), True)[0] > mr32
    assert narrow_fits(width // 4, np.dtype(np.float32)) and not narrow_fits(width // 4 + 1, np.dtype(np.float32))


_PROBE = """
import numpy as np
from numba import njit
import fastnet
from fastnet.kernels import _config
from fastnet.kernels.microkernel import tile_fma

@njit
def f(a, abase, aroff, b, c):
    tile_fma(a, abase, aroff, 1, b, 0, 64, 1, 8, c, 64, False)

a = np.ones(64, np.float32)
f(a, np.zeros(8, np.int64), np.zeros(1, np.int64), np.ones(1024, np.float32), np.zeros(1024, np.float32))
asm = list(f.inspect_asm().values())[0]
fmas = [line for line in asm.splitlines() if "vfmadd" in line]
isa = "zmm" if any("zmm" in line for line in fmas) else "ymm" if any("ymm" in line for line in fmas) else "xmm"
print(_config.vector_bytes(), isa, len(fmas))
"""


def _probe(**env):
    full = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", FASTNET_CACHE="0")
    for name in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES"):
        full.pop(name, None)
    full.update(env)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=full, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    width, isa, fmas = out.stdout.split()
    return int(width), isa, int(fmas)


def test_generated_code_uses_the_targets_widest_vectors():
    """The tile is vector FMAs on zmm registers where the target has AVX-512, ymm under the AVX2
    recipe (NUMBA_CPU_NAME=znver3 NUMBA_CPU_FEATURES=""), and vector_bytes says the same."""
    width, isa, fmas = _probe()
    assert (width, isa) in ((64, "zmm"), (32, "ymm"), (16, "xmm"))
    assert fmas >= 8
    if width == 64:
        assert _probe(NUMBA_CPU_NAME="znver3", NUMBA_CPU_FEATURES="")[:2] == (32, "ymm")

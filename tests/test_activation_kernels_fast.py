"""The vectorised tanh (polynomial for small |x|, exp-based form otherwise): accuracy in ulps
against libm (the float64 reference loop ``fastnet.reference.naive.tanh``), both forms and the
switch between them, signed zeros, saturation, infinities, subnormals and NaN."""

import math

import numpy as np
import pytest

import fastnet
from fastnet import ops
from fastnet.reference import naive
from helpers import DTYPES, assert_close, rng

# max error in units in the last place of the correctly rounded result
MAX_ULPS = {np.float32: 2.0, np.float64: 3.0}


def _tanh_inputs(dtype):
    g = rng(7)
    parts = [
        g.standard_normal(200_000) * 5,
        np.linspace(-12.0, 12.0, 240_001),
        np.linspace(0.6, 0.65, 20_001),                   # around the switch at |x| = 0.625
        np.logspace(-40, 1.5, 50_000), -np.logspace(-40, 1.5, 50_000),
    ]
    x = np.concatenate(parts).astype(dtype)
    switch = dtype(0.625)
    near = [np.nextafter(switch, dtype(0)), switch, np.nextafter(switch, dtype(1))]
    return np.concatenate([x, near, np.negative(near)]).astype(dtype)


def _ulps(actual, exact, dtype):
    """|actual - exact| in ulps of the exact value rounded to ``dtype``."""
    spacing = np.spacing(np.abs(exact).astype(dtype)).astype(np.float64)
    spacing = np.maximum(spacing, float(np.finfo(dtype).smallest_subnormal))
    return np.abs(actual.astype(np.float64) - exact) / spacing


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_accuracy_in_ulps(dtype):
    x = _tanh_inputs(dtype)
    exact = np.array([math.tanh(float(v)) for v in x])     # libm, float64
    y = ops.tanh(x)
    err = _ulps(y, exact, dtype)
    assert err.max() <= MAX_ULPS[dtype], f"{err.max():.2f} ulps at x={x[err.argmax()]!r}"
    assert_close(y, naive.tanh(x), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_special_values(dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.array([0.0, -0.0, tiny, -tiny, 1e-30, -1e-30, 9.5, -9.5, 20.0, -20.0, 400.0, -400.0,
                  1e30, -1e30, np.inf, -np.inf, np.nan], dtype=dtype)
    with np.errstate(all="raise"):
        y = ops.tanh(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y[:6], x[:6])                          # tanh(x) == x near 0
    np.testing.assert_array_equal(np.signbit(y[:16]), np.signbit(x[:16]))  # -0 stays -0
    np.testing.assert_array_equal(y[10:16], np.sign(x[10:16]))           # exactly +-1
    assert np.isnan(y[16])
    assert np.all(np.abs(y[:16]) <= 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_matches_numpy(dtype):
    x = (rng(3).standard_normal(10_001) * 3).astype(dtype)
    tol = {np.float32: 3e-7, np.float64: 1e-15}[dtype]
    np.testing.assert_allclose(ops.tanh(x), np.tanh(x), rtol=tol, atol=0)


def test_tanh_bitwise_reproducible_float64_across_thread_counts():
    x = rng(5).standard_normal(100_003) * 5
    threads = fastnet.get_num_threads()
    try:
        fastnet.set_num_threads(1)
        one = ops.tanh(x)
    finally:
        fastnet.set_num_threads(threads)
    np.testing.assert_array_equal(one, ops.tanh(x))


def test_log1p_unit_accuracy_in_ulps():
    """The vectorisable float32 log1p on [0, 1] (softplus's log1p(exp(-|x|)) in the BCE loss):
    within 2 ulps of libm's float64 log1p, tiny arguments included (log1p(e) == e), both sides of
    the switch at sqrt(2) - 1."""
    from numba import njit

    from fastnet.kernels.activations import _SQRT2_M1, _log1p_unit

    @njit
    def run(e, out):
        for i in range(e.shape[0]):
            out[i] = _log1p_unit(e[i])

    switch = np.float32(_SQRT2_M1)
    e = np.concatenate([np.geomspace(1e-38, 1.0, 200_001), np.linspace(0.0, 1.0, 200_001),
                        [np.nextafter(switch, np.float32(0)), switch, np.nextafter(switch, np.float32(1))],
                        rng(8).random(50_000)]).astype(np.float32)
    out = np.empty_like(e)
    run(e, out)
    exact = np.log1p(e.astype(np.float64))
    err = _ulps(out, exact, np.float32)
    assert err.max() <= MAX_ULPS[np.float32], f"{err.max():.2f} ulps at e={e[err.argmax()]!r}"
    tiny = e < 1e-8
    np.testing.assert_array_equal(out[tiny], e[tiny])


@pytest.mark.parametrize("dtype, low", [(np.float32, -87.3), (np.float64, -708.0)])
def test_exp_nonpos_accuracy_in_ulps(dtype, low):
    """The vectorisable exp under sigmoid, tanh, softmax and the losses, over its whole range:
    its ln 2 split survives fast-math (as z - n hi - n lo, LLVM's reassociation made it
    z - n (hi + lo): 4.5 ulps in float32, 210 in float64)."""
    from numba import njit

    from fastnet.kernels.activations import _exp_nonpos

    @njit(fastmath=True)
    def run(z, out):
        for i in range(z.shape[0]):
            out[i] = _exp_nonpos(z[i])

    z = np.concatenate([np.linspace(low, 0.0, 400_001), -rng(9).random(50_000) * -low,
                        [low, -1e-30, -0.0, 0.0]]).astype(dtype)
    out = np.empty_like(z)
    run(z, out)
    exact = np.array([math.exp(float(v)) for v in z])
    err = _ulps(out, exact, dtype)
    assert err.max() <= MAX_ULPS[dtype], f"{err.max():.2f} ulps at z={z[err.argmax()]!r}"
    below = np.array([low - 1.0, -1e4, -np.inf], dtype)
    run(below, out[:3])
    np.testing.assert_array_equal(out[:3], 0.0)

"""Pointwise activation kernels: sigmoid, tanh, relu (forward and backward).

Every kernel takes flat (1-D), C-contiguous float32/float64 arrays of equal length and writes its
result into ``out``; the wrappers in :mod:`fastnet.ops` ravel inputs of any shape. Work is split
with ``prange`` over elements, small arrays run on the calling thread (SERIAL_MAX_EXP,
SERIAL_MAX): each output element is computed alone, so results do not depend on the thread count.

sigmoid
-------
``sigmoid(x) = 1 / (1 + exp(-x))`` is computed from ``t = exp(-|x|)``, which lies in (0, 1] and
therefore never overflows: ``s = 1 / (1 + t)`` is the answer for ``x >= 0`` and ``t * s`` for
``x < 0``. For float32, ``exp`` is a branch-free Cephes-style polynomial that builds ``2**n``
directly from the float's exponent bits, which LLVM vectorises (``math.exp`` is a scalar libm
call, SVML being unavailable); its error is at most 1 ulp. Arguments below -87.3 (where exp would
leave the normal range) give ``t = 0``, so ``sigmoid(-1000) == 0`` and ``sigmoid(1000) == 1``
exactly, without warnings. float64 takes Cephes' Pade form of exp the same way (at most 2 ulps,
zero below -708; libm's scalar ``exp`` before: 65536 values on one Zen 4 thread 285 -> 61 us).
NaN in gives NaN out.

tanh
----
Branch-free and vectorised for both dtypes (``math.tanh`` compiled to a scalar libm call per
element, about 50x slower than NumPy): Cephes' odd polynomial (float32) / rational (float64) form
for ``|x| < 0.625``, else ``1 - 2e / (1 + e)`` with ``e = exp(-2|x|)`` from the same vectorisable
exp (a Cephes Pade form for float64), signed with ``copysign``. Measured against libm: at most
1.4 ulp (float32) and 2 ulp (float64); ``tanh(-0) == -0``, ``tanh(+-inf) == +-1``, NaN gives NaN.
"""

import math

import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.extending import intrinsic, overload

from ._config import FASTMATH, parallel_kernel

# --- a vectorisable exp for arguments <= 0 ---------------------------------------------------------

_EXP_LO_F32 = -87.3  # exp(-87.3) ~ 1.25e-38, just above the smallest normal float32
_LOG2E = 1.44269504088896341
_LN2_HI = 0.693359375       # ln 2 split in two so that n * _LN2_HI is exact in float32
_LN2_LO = -2.12194440e-4


_EXP_LO_F64 = -708.0  # exp(-708) ~ 3.3e-308, just above the smallest normal float64
_LN2_HI_F64 = 6.93145751953125e-1   # Cephes' split of ln 2 (n * hi exact for |n| < 2**11)
_LN2_LO_F64 = 1.42860682030941723212e-6


@intrinsic
def _int64_bits_as_float64(typingctx, bits):
    """Reinterpret the bits of an int64 as a float64 (a no-op bitcast, vectorisable)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _int32_bits_as_float32(typingctx, bits):
    """Reinterpret the bits of an int32 as a float32 (a no-op bitcast, vectorisable)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (``llvm.fma``), for floats of one type.

    Called without fast-math flags, so ``reassoc`` in the caller cannot refactor it: exp's
    ``z - n hi - n lo`` as two of these keeps its split of ln 2 (written as plain arithmetic,
    LLVM turned it into ``z - n (hi + lo)``: float64 exp 210 ulps off at -700, float32 4.5).
    """
    if not isinstance(a, types.Float) or not (a == b == c):
        return None
    sig = a(a, b, c)

    def codegen(context, builder, signature, args):
        ty = args[0].type
        fn = builder.module.declare_intrinsic("llvm.fma", [ty], ir.FunctionType(ty, [ty, ty, ty]))
        return builder.call(fn, args)

    return sig, codegen


def _exp_nonpos(z):  # pragma: no cover - replaced by the overload below inside kernels
    raise NotImplementedError


@overload(_exp_nonpos, jit_options=dict(fastmath=set(FASTMATH), error_model="numpy"))
def _exp_nonpos_overload(z):
    """exp(z) for z <= 0 (or NaN, which gives an unspecified finite value: callers select the NaN
    result themselves), branch-free so that LLVM vectorises it.

    float32: Cephes' expf polynomial (at most 1 ulp), 2**n built from the exponent bits; z below
    -87.3 gives exactly 0. float64: Cephes' exp Pade form (at most 2 ulps), z below -708 gives 0.
    The argument reduction ``z - n ln 2`` takes ln 2 in two parts by :func:`_fma`, which
    fast-math cannot refactor.
    """
    if z == types.float32:
        def exp_nonpos_float32(z):
            zc = z if z >= np.float32(_EXP_LO_F32) else np.float32(_EXP_LO_F32)   # NaN -> lo
            n = np.floor(zc * np.float32(_LOG2E) + np.float32(0.5))
            r = _fma(-n, np.float32(_LN2_LO), _fma(-n, np.float32(_LN2_HI), zc))   # |r| <= ln2 / 2
            p = np.float32(1.9875691500e-4)
            p = p * r + np.float32(1.3981999507e-3)
            p = p * r + np.float32(8.3334519073e-3)
            p = p * r + np.float32(4.1665795894e-2)
            p = p * r + np.float32(1.6666665459e-1)
            p = p * r + np.float32(5.0000001201e-1)
            p = _fma(p, r * r, r) + np.float32(1.0)
            scale = _int32_bits_as_float32((np.int32(n) + np.int32(127)) << np.int32(23))
            t = p * scale                     # exp(z) for z >= lo
            return np.float32(0.0) if z < np.float32(_EXP_LO_F32) else t
        return exp_nonpos_float32

    if z == types.float64:
        def exp_nonpos_float64(z):
            zc = z if z >= _EXP_LO_F64 else _EXP_LO_F64                  # NaN -> lo
            n = np.floor(zc * _LOG2E + 0.5)
            r = _fma(-n, _LN2_LO_F64, _fma(-n, _LN2_HI_F64, zc))          # |r| <= ln2 / 2
            rr = r * r
            px = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr
                      + 9.99999999999999999910e-1)
            qx = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr
                  + 2.27265548208155028766e-1) * rr + 2.00000000000000000009e0
            e = 1.0 + 2.0 * (px / (qx - px))                              # exp(r)
            scale = _int64_bits_as_float64((np.int64(n) + np.int64(1023)) << np.int64(52))
            t = e * scale
            return 0.0 if z < _EXP_LO_F64 else t
        return exp_nonpos_float64


# --- a vectorisable log1p for arguments in [0, 1] ---------------------------------------------------

_SQRT2_M1 = 0.41421356237309515   # sqrt(2) - 1: above it, log1p(e) = ln 2 + log((1 + e) / 2)


def _log1p_unit(e):  # pragma: no cover - replaced by the overload below inside kernels
    raise NotImplementedError


@overload(_log1p_unit, jit_options=dict(fastmath=set(FASTMATH), error_model="numpy"))
def _log1p_unit_overload(e):
    """log1p(e) for e in [0, 1] (softplus's ``log1p(exp(-|x|))``), branch-free for float32.

    float32: Cephes' logf polynomial on r = e (e <= sqrt 2 - 1, so 1 + e is never rounded: tiny e
    give e itself) or on r = (e - 1) / 2 plus ln 2 (1 + e = 2 (1 + r)); within 2 ulps (1.6 at
    worst over [0, 1]), vectorised by LLVM. float64: libm's ``log1p``.
    """
    if e == types.float32:
        def log1p_unit_float32(e):
            big = e > np.float32(_SQRT2_M1)
            r = (e - np.float32(1.0)) * np.float32(0.5) if big else e
            k = np.float32(1.0) if big else np.float32(0.0)
            z = r * r
            p = np.float32(7.0376836292e-2)
            p = p * r - np.float32(1.1514610310e-1)
            p = p * r + np.float32(1.1676998740e-1)
            p = p * r - np.float32(1.2420140846e-1)
            p = p * r + np.float32(1.4249322787e-1)
            p = p * r - np.float32(1.6668057665e-1)
            p = p * r + np.float32(2.0000714765e-1)
            p = p * r - np.float32(2.4999993993e-1)
            p = p * r + np.float32(3.3333331174e-1)
            y = r * z * p + k * np.float32(_LN2_LO) - np.float32(0.5) * z
            return r + y + k * np.float32(_LN2_HI)
        return log1p_unit_float32

    if e == types.float64:
        def log1p_unit_float64(e):
            return math.log1p(e)
        return log1p_unit_float64


def _sigmoid_scalar(x):  # pragma: no cover - replaced by the overload below inside kernels
    raise NotImplementedError


@overload(_sigmoid_scalar, jit_options=dict(fastmath=set(FASTMATH), error_model="numpy"))
def _sigmoid_scalar_overload(x):
    if x == types.float32:
        def sigmoid_float32(x):
            t = _exp_nonpos(-abs(x))          # in [0, 1]
            s = np.float32(1.0) / (np.float32(1.0) + t)
            y = s if x >= np.float32(0.0) else t * s
            return x if x != x else y         # NaN in, NaN out
        return sigmoid_float32

    if x == types.float64:
        def sigmoid_float64(x):
            t = _exp_nonpos(-abs(x))          # in [0, 1]
            s = 1.0 / (1.0 + t)
            y = s if x >= 0 else t * s
            return x if x != x else y         # NaN in, NaN out
        return sigmoid_float64


def _tanh_scalar(x):  # pragma: no cover - replaced by the overload below inside kernels
    raise NotImplementedError


@overload(_tanh_scalar, jit_options=dict(fastmath=set(FASTMATH), error_model="numpy"))
def _tanh_scalar_overload(x):
    """tanh, branch-free (both forms computed, one selected) so that LLVM vectorises it.

    |x| < 0.625: Cephes' odd polynomial/rational form, x + x**3 * R(x**2) (no cancellation).
    |x| >= 0.625: (1 - e) / (1 + e) with e = exp(-2|x|) <= 0.287 (so 1 - e loses nothing). Both are
    computed for |x| and given x's sign with copysign (so tanh(-0) = -0);
    e underflows to exactly 0 for large |x|, giving exactly +-1 (also for +-inf). NaN gives NaN.
    """
    if x == types.float32:
        def tanh_float32(x):
            ax = abs(x)
            z = x * x
            small = ((((np.float32(-5.70498872745e-3) * z + np.float32(2.06390887954e-2)) * z
                       - np.float32(5.37397155531e-2)) * z + np.float32(1.33314422036e-1)) * z
                     - np.float32(3.33332819422e-1)) * z * ax + ax
            e = _exp_nonpos(np.float32(-2.0) * ax)
            big = np.float32(1.0) - (e + e) / (np.float32(1.0) + e)
            y = math.copysign(small if ax < np.float32(0.625) else big, x)   # tanh(-0) = -0
            return x if x != x else y         # NaN in, NaN out
        return tanh_float32

    if x == types.float64:
        def tanh_float64(x):
            ax = abs(x)
            z = x * x
            p = (-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z - 1.61468768441708447952e3
            q = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z + 4.84406305325125486048e3
            small = ax + ax * z * (p / q)
            e = _exp_nonpos(-2.0 * ax)
            big = 1.0 - (e + e) / (1.0 + e)
            y = math.copysign(small if ax < 0.625 else big, x)
            return x if x != x else y
        return tanh_float64


# --- kernels ---------------------------------------------------------------------------------------

# Arrays of at most this many elements run on the calling thread, with no parallel region: its
# fork and join (1.5-3 us on the dev box) cost more than the work. Measured on two Zen 4 threads,
# float32, 2026-12-07, parallel / serial us: sigmoid 1024 2.2 / 0.8, 4096 3.1 / 2.0, 16384 5.7 /
# 7.2; relu 4096 2.3 / 0.7, 16384 2.8 / 1.9, 32768 3.4 / 2.7, 65536 4.4 / 5.7.
SERIAL_MAX_EXP = 8192    # sigmoid, tanh: an exp per element
SERIAL_MAX = 32768       # the others: a few operations per element, bound by memory


@parallel_kernel
def sigmoid_forward(x, out):
    """out[i] = 1 / (1 + exp(-x[i])). x, out: (n,) float32/float64."""
    if x.shape[0] <= SERIAL_MAX_EXP:   # no parallel region
        for i in range(x.shape[0]):
            out[i] = _sigmoid_scalar(x[i])
    else:
        for i in prange(x.shape[0]):
            out[i] = _sigmoid_scalar(x[i])


@parallel_kernel
def sigmoid_backward(y, dy, dx):
    """dx[i] = dy[i] * y[i] * (1 - y[i]), where y = sigmoid(x). y, dy, dx: (n,)."""
    one = y.dtype.type(1.0)
    if y.shape[0] <= SERIAL_MAX:   # no parallel region
        for i in range(y.shape[0]):
            dx[i] = dy[i] * y[i] * (one - y[i])
    else:
        for i in prange(y.shape[0]):
            dx[i] = dy[i] * y[i] * (one - y[i])


@parallel_kernel
def tanh_forward(x, out):
    """out[i] = tanh(x[i]) (vectorised, see ``_tanh_scalar``). x, out: (n,)."""
    if x.shape[0] <= SERIAL_MAX_EXP:   # no parallel region
        for i in range(x.shape[0]):
            out[i] = _tanh_scalar(x[i])
    else:
        for i in prange(x.shape[0]):
            out[i] = _tanh_scalar(x[i])


@parallel_kernel
def tanh_backward(y, dy, dx):
    """dx[i] = dy[i] * (1 - y[i]**2), where y = tanh(x). y, dy, dx: (n,)."""
    one = y.dtype.type(1.0)
    if y.shape[0] <= SERIAL_MAX:   # no parallel region
        for i in range(y.shape[0]):
            dx[i] = dy[i] * (one - y[i] * y[i])
    else:
        for i in prange(y.shape[0]):
            dx[i] = dy[i] * (one - y[i] * y[i])


@parallel_kernel
def relu_forward(x, out):
    """out[i] = max(x[i], 0); NaN stays NaN (NaN <= 0 is False). x, out: (n,)."""
    zero = x.dtype.type(0.0)
    if x.shape[0] <= SERIAL_MAX:   # no parallel region
        for i in range(x.shape[0]):
            out[i] = zero if x[i] <= zero else x[i]
    else:
        for i in prange(x.shape[0]):
            out[i] = zero if x[i] <= zero else x[i]


@parallel_kernel
def relu_backward(x, dy, dx):
    """dx[i] = dy[i] if x[i] > 0, 0 if x[i] <= 0, NaN if x[i] is NaN. x is relu's input."""
    zero = x.dtype.type(0.0)
    if x.shape[0] <= SERIAL_MAX:   # no parallel region
        for i in range(x.shape[0]):
            dx[i] = x[i] if x[i] != x[i] else (dy[i] if x[i] > zero else zero)
    else:
        for i in prange(x.shape[0]):
            dx[i] = x[i] if x[i] != x[i] else (dy[i] if x[i] > zero else zero)


@parallel_kernel
def leaky_relu_forward(x, negative_slope, out):
    """out[i] = x[i] if x[i] > 0 else negative_slope * x[i]; NaN stays NaN (NaN * slope is NaN).
    x, out: (n,)."""
    zero = x.dtype.type(0.0)
    slope = x.dtype.type(negative_slope)
    if x.shape[0] <= SERIAL_MAX:   # no parallel region
        for i in range(x.shape[0]):
            out[i] = x[i] if x[i] > zero else x[i] * slope
    else:
        for i in prange(x.shape[0]):
            out[i] = x[i] if x[i] > zero else x[i] * slope


@parallel_kernel
def leaky_relu_backward(x, dy, negative_slope, dx):
    """dx[i] = dy[i] if x[i] > 0 else negative_slope * dy[i] (as PyTorch: the slope at 0);
    NaN where x[i] is NaN. x is leaky_relu's input; x, dy, dx: (n,)."""
    zero = x.dtype.type(0.0)
    slope = x.dtype.type(negative_slope)
    if x.shape[0] <= SERIAL_MAX:   # no parallel region
        for i in range(x.shape[0]):
            dx[i] = x[i] if x[i] != x[i] else (dy[i] if x[i] > zero else dy[i] * slope)
    else:
        for i in prange(x.shape[0]):
            dx[i] = x[i] if x[i] != x[i] else (dy[i] if x[i] > zero else dy[i] * slope)

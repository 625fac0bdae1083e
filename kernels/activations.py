"""Pointwise activation kernels: sigmoid, tanh, relu (forward and backward).

Every kernel takes flat (1-D), C-contiguous float32/float64 arrays of equal length and writes its
result into ``out``; the wrappers in :mod:`fastnet.ops` ravel inputs of any shape. Work is split
with ``prange`` over elements: each output element is written by exactly one iteration, so results
do not depend on the thread count.

sigmoid
-------
``sigmoid(x) = 1 / (1 + exp(-x))`` is computed from ``t = exp(-|x|)``, which lies in (0, 1] and
therefore never overflows: ``s = 1 / (1 + t)`` is the answer for ``x >= 0`` and ``t * s`` for
``x < 0``. For float32, ``exp`` is a branch-free Cephes-style polynomial that builds ``2**n``
directly from the float's exponent bits, which LLVM vectorises (``math.exp`` is a scalar libm
call, SVML being unavailable); its error is about 1 ulp. Arguments below -87.3 (where exp would
leave the normal range) give ``t = 0``, so ``sigmoid(-1000) == 0`` and ``sigmoid(1000) == 1``
exactly, without warnings. float64 uses libm's ``exp`` (exact path). NaN in gives NaN out.
"""

import math

import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.extending import intrinsic, overload

from ._config import FASTMATH, parallel_kernel

# --- a vectorisable float32 exp for arguments in [_EXP_LO_F32, 0] --------------------------------

_EXP_LO_F32 = -87.3  # exp(-87.3) ~ 1.25e-38, just above the smallest normal float32
_LOG2E = 1.44269504088896341
_LN2_HI = 0.693359375       # ln 2 split in two so that n * _LN2_HI is exact in float32
_LN2_LO = -2.12194440e-4


@intrinsic
def _int32_bits_as_float32(typingctx, bits):
    """Reinterpret the bits of an int32 as a float32 (a no-op bitcast, vectorisable)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


def _sigmoid_scalar(x):  # pragma: no cover - replaced by the overload below inside kernels
    raise NotImplementedError


@overload(_sigmoid_scalar, jit_options=dict(fastmath=set(FASTMATH), error_model="numpy"))
def _sigmoid_scalar_overload(x):
    if x == types.float32:
        def sigmoid_float32(x):
            z = -abs(x)                       # in [-inf, 0], or NaN
            zc = z if z >= np.float32(_EXP_LO_F32) else np.float32(_EXP_LO_F32)   # NaN -> lo, fixed below
            n = np.floor(zc * np.float32(_LOG2E) + np.float32(0.5))
            r = zc - n * np.float32(_LN2_HI) - n * np.float32(_LN2_LO)   # |r| <= ln2 / 2
            p = np.float32(1.9875691500e-4)
            p = p * r + np.float32(1.3981999507e-3)
            p = p * r + np.float32(8.3334519073e-3)
            p = p * r + np.float32(4.1665795894e-2)
            p = p * r + np.float32(1.6666665459e-1)
            p = p * r + np.float32(5.0000001201e-1)
            p = p * (r * r) + r + np.float32(1.0)
            scale = _int32_bits_as_float32((np.int32(n) + np.int32(127)) << np.int32(23))
            t = p * scale                     # exp(z) for z >= lo
            t = np.float32(0.0) if z < np.float32(_EXP_LO_F32) else t
            s = np.float32(1.0) / (np.float32(1.0) + t)
            y = s if x >= np.float32(0.0) else t * s
            return x if x != x else y         # NaN in, NaN out
        return sigmoid_float32

    if x == types.float64:
        def sigmoid_float64(x):
            t = math.exp(-abs(x))            # in [0, 1]: never overflows; NaN stays NaN
            s = 1.0 / (1.0 + t)
            return s if x >= 0 else t * s
        return sigmoid_float64


# --- kernels ---------------------------------------------------------------------------------------

@parallel_kernel
def sigmoid_forward(x, out):
    """out[i] = 1 / (1 + exp(-x[i])). x, out: (n,) float32/float64."""
    for i in prange(x.shape[0]):
        out[i] = _sigmoid_scalar(x[i])


@parallel_kernel
def sigmoid_backward(y, dy, dx):
    """dx[i] = dy[i] * y[i] * (1 - y[i]), where y = sigmoid(x). y, dy, dx: (n,)."""
    one = y.dtype.type(1.0)
    for i in prange(y.shape[0]):
        dx[i] = dy[i] * y[i] * (one - y[i])


@parallel_kernel
def tanh_forward(x, out):
    """out[i] = tanh(x[i]) (libm). x, out: (n,)."""
    for i in prange(x.shape[0]):
        out[i] = math.tanh(x[i])


@parallel_kernel
def tanh_backward(y, dy, dx):
    """dx[i] = dy[i] * (1 - y[i]**2), where y = tanh(x). y, dy, dx: (n,)."""
    one = y.dtype.type(1.0)
    for i in prange(y.shape[0]):
        dx[i] = dy[i] * (one - y[i] * y[i])


@parallel_kernel
def relu_forward(x, out):
    """out[i] = max(x[i], 0); NaN stays NaN. x, out: (n,)."""
    zero = x.dtype.type(0.0)
    for i in prange(x.shape[0]):
        v = x[i]
        out[i] = zero if v <= zero else v   # NaN <= 0 is False: NaN passes through


@parallel_kernel
def relu_backward(x, dy, dx):
    """dx[i] = dy[i] if x[i] > 0, 0 if x[i] <= 0, NaN if x[i] is NaN. x is relu's input."""
    zero = x.dtype.type(0.0)
    for i in prange(x.shape[0]):
        v = x[i]
        g = dy[i] if v > zero else zero
        dx[i] = v if v != v else g

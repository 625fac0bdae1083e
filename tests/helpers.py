"""Shared test helpers: one tolerance table, comparison and gradient-check functions, a code-generation probe."""

import os
import subprocess
import sys

import numpy as np

# One tolerance table for every test: float64 tight, float32 looser.
TOLERANCE = {
    np.dtype(np.float32): dict(rtol=2e-4, atol=2e-5),
    np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12),
}

DTYPES = [np.float32, np.float64]


def assert_close(actual, expected, dtype=None, scale=1.0):
    """Assert shape, then dtype, then values. ``scale`` widens atol for long float32 sums."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != expected {expected.shape}"
    if dtype is not None:
        assert actual.dtype == np.dtype(dtype), f"dtype {actual.dtype} != expected {np.dtype(dtype)}"
    tol = TOLERANCE[np.dtype(dtype if dtype is not None else actual.dtype)]
    np.testing.assert_allclose(actual, expected, rtol=tol["rtol"], atol=tol["atol"] * scale)


def numerical_gradient(f, x, dy, eps=1e-6):
    """Central-difference gradient of ``(f(x) * dy).sum()`` with respect to ``x`` (float64)."""
    assert x.dtype == np.float64
    grad = np.zeros_like(x)
    flat = x.reshape(-1)  # a view: perturbs x in place
    g = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = float((f(x) * dy).sum())
        flat[i] = old - eps
        minus = float((f(x) * dy).sum())
        flat[i] = old
        g[i] = (plus - minus) / (2 * eps)
    return grad


def assert_gradient(analytic, f, x, dy, eps=1e-6, rtol=1e-6, atol=1e-8):
    """Compare an analytic gradient with central differences of ``(f(x) * dy).sum()``."""
    numeric = numerical_gradient(f, x, dy, eps)
    assert analytic.shape == numeric.shape
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol)


def rng(seed=0):
    return np.random.default_rng(seed)


def conv_problem(xs, ws, dtype, seed=0):
    """Unit-normal x of shape ``xs``, w of shape ``ws`` and a bias of length ws[0], all ``dtype``."""
    r = rng(seed)
    return (r.standard_normal(xs).astype(dtype), r.standard_normal(ws).astype(dtype),
            r.standard_normal(ws[0]).astype(dtype))


def conv_scale(ws):
    """float32 atol widening for a convolution with weights of shape ``ws``: its outputs are sums of
    C*F products of unit normals."""
    return max(1.0, float(np.sqrt(np.prod(ws[1:]))))


_CODEGEN_PROBE = """
import sys
if sys.argv[1] == "numba-first":      # a Numba function decorated before fastnet is imported
    import numba
    numba.njit(lambda x: x)
import fastnet, numba, numpy as np
registries = "numba.np.arraymath" in sys.modules   # before anything compiles
from numba.core import config
from fastnet.kernels import _config
@numba.njit(fastmath=True)
def f(a, b, c):
    for i in range(a.size):
        c[i] = a[i] * b[i] + c[i]
a = np.ones(64, np.float32)
f(a, a, a.copy())
asm = f.inspect_asm(f.signatures[0])
print(_config.FULL_WIDTH_VECTORS, "zmm" if "zmm" in asm else "ymm" if "ymm" in asm else "none",
      str(config.CPU_FEATURES).endswith(",-prefer-256-bit"), registries)
"""


def avx2_errors(script):
    """Run ``script`` in a fresh process under the AVX2 recipe (NUMBA_CPU_NAME=znver3
    NUMBA_CPU_FEATURES="": 8 float32 lanes and 6-row tiles, also on an AVX-512 host), two threads.
    The script prints the vector width in bytes, then relative errors; returns the errors, as
    floats, after checking that the width was AVX2's (32)."""
    env = dict(os.environ, NUMBA_CPU_NAME="znver3", NUMBA_CPU_FEATURES="", NUMBA_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    width, *errors = out.stdout.split()
    assert width == "32", width
    return [float(e) for e in errors]


def codegen_probe(mode="plain", **env):
    """Run a fresh process that imports fastnet (after decorating a Numba function first, with
    ``mode="numba-first"``) and compiles a small fused multiply-add loop, under ``env`` and without
    the caller's NUMBA_CPU_NAME / NUMBA_CPU_FEATURES. Returns a dict: ``full_width``
    (kernels._config.FULL_WIDTH_VECTORS), ``isa`` ("zmm", "ymm" or "none": the widest registers of
    the loop), ``flag`` (Numba's CPU features end with -prefer-256-bit), ``registries``
    (numba.np.arraymath was imported by ``import fastnet``)."""
    full = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", FASTNET_CACHE="0")
    for name in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES"):
        full.pop(name, None)
    full.update(env)
    out = subprocess.run([sys.executable, "-c", _CODEGEN_PROBE, mode], env=full, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    full_width, isa, flag, registries = out.stdout.split()
    return dict(full_width=full_width == "True", isa=isa, flag=flag == "True", registries=registries == "True")


def assert_filter_transform(got, g, w):
    """A 2-D Winograd weight transform: ``got`` (n, n, K', C), K' >= K output channels padded to
    whole panels, against ``g @ w @ g.T`` per filter computed exactly in float64 from w (K, C,
    r, r): zero past K, within 1e-14 in float64, at most one float32 rounding in float32."""
    k = w.shape[0]
    assert not got[:, :, k:].any()   # the padding is zero
    exact = np.einsum("ip,kcpq,jq->ijkc", g, w.astype(np.float64), g)
    if w.dtype == np.float64:
        np.testing.assert_allclose(got[:, :, :k], exact, rtol=1e-14, atol=1e-14)
    else:   # at most one float32 rounding step from the float64 value
        np.testing.assert_allclose(got[:, :, :k], exact.astype(np.float32), rtol=2.0 ** -23, atol=0)

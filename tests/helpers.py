"""Shared test helpers: one tolerance table, comparison and gradient-check functions."""

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

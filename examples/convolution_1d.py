"""The lectures' 1-D convolution: smoothing a noisy series with a 7-tap filter.

A laser sensor tracks an aeroplane; to denoise its readings x_t we take a weighted average of the
recent ones, s_t = sum_{a=0}^{6} x_{t-a} w_{-a}, with the slide's filter (w_{-6}, ..., w_0) =
(0.01, 0.01, 0.02, 0.02, 1, 0.4, 0.5) slid over the series 1.00 ... 2.70. ``fastnet.ops.conv1d``
computes exactly this (a cross-correlation with the filter stored from w_{-6} to w_0), checked
here against the formula evaluated term by term. (The slide's S row is illustrative: its numbers
were drawn for another filter; the formula is what counts.)

    python examples/convolution_1d.py
"""

import sys

import numpy as np

from fastnet import ops

WEIGHTS = [0.01, 0.01, 0.02, 0.02, 1.0, 0.4, 0.5]          # w_{-6}, w_{-5}, ..., w_{-1}, w_0
SERIES = [1.00, 1.10, 1.20, 1.40, 1.70, 1.80, 1.90, 2.10, 2.20, 2.40, 2.50, 2.70]


def by_formula(x, w):
    """s_t = sum_{a=0}^{6} x_{t-a} w_{-a} for every t with a full window (t = 6, ..., 11)."""
    taps = len(w)
    w_minus = {a: w[taps - 1 - a] for a in range(taps)}     # w_{-a}
    return np.array([sum(x[t - a] * w_minus[a] for a in range(taps)) for t in range(taps - 1, len(x))])


def by_conv1d(x, w, dtype=np.float64):
    x = np.asarray(x, dtype)[None, None, :]                  # (N=1, C=1, L=12)
    w = np.asarray(w, dtype)[None, None, :]                  # (K=1, C=1, F=7)
    return ops.conv1d(x, w)[0, 0]                            # (Lo = 12 - 7 + 1 = 6,)


def main(argv=None):
    formula = by_formula(SERIES, WEIGHTS)
    conv = by_conv1d(SERIES, WEIGHTS)
    print("w (w_-6 ... w_0):", " ".join(f"{v:.2f}" for v in WEIGHTS))
    print("x               :", " ".join(f"{v:.2f}" for v in SERIES))
    print(" t   s_t (ops.conv1d)   s_t (formula)")
    for t, (a, b) in enumerate(zip(conv, formula), start=len(WEIGHTS) - 1):
        print(f"{t:2d}   {a:16.4f}   {b:13.4f}")
    print(f"largest difference: {np.max(np.abs(conv - formula)):.1e}")
    return conv, formula


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)

"""Plain NumPy implementations of every op, for tests and benchmarks.

* :mod:`fastnet.reference.naive` and :mod:`fastnet.reference.naive_conv`: obviously-correct
  loops, written for reading, not speed. Every kernel is tested against them.
* :mod:`fastnet.reference.vectorized`: the best pure-NumPy version a competent user would
  write (sliding_window_view + tensordot for convolution, ...), the baseline of the benchmarks.
"""

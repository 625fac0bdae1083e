"""Benchmarks: the 2-D convolution shape sweep (batch 1, 8, 32 x 16, 64, 256 channels x 3x3 and 5x5 x stride 1 and 2, forward+backward), so that no kernel is tuned to one shape; against NumPy and PyTorch.

Cases and implementations (fastnet, numpy, numpy_loops, torch) come from fastnet.benchmarks.
"""

from benchutil import parametrize_family, run_case


@parametrize_family("sweep")
def test_sweep(benchmark, case, impl, bench_size):
    run_case(benchmark, case, impl, bench_size)

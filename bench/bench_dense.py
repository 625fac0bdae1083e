"""Benchmarks: dense 256x784->512 and 1024^3, forward and forward+backward.

Cases and implementations (fastnet, numpy, numpy_loops, torch) come from fastnet.benchmarks.
"""

from benchutil import parametrize_family, run_case


@parametrize_family("dense")
def test_dense(benchmark, case, impl, bench_size):
    run_case(benchmark, case, impl, bench_size)

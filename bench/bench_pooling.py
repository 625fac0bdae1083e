"""Benchmarks: max-pool 2x2/2 on (16,64,56,56), 3x3/2 on (8,96,55,55), 3D 2x2x2/2; forward and forward+backward.

Cases and implementations (fastnet, numpy, numpy_loops, torch) come from fastnet.benchmarks.
"""

from benchutil import parametrize_family, run_case


@parametrize_family("pooling")
def test_pooling(benchmark, case, impl, bench_size):
    run_case(benchmark, case, impl, bench_size)

"""Benchmarks: sigmoid, tanh, relu on 16M elements, forward and forward+backward.

Cases and implementations (fastnet, numpy, numpy_loops, torch) come from fastnet.benchmarks.
"""

from benchutil import parametrize_family, run_case


@parametrize_family("activations")
def test_activations(benchmark, case, impl, bench_size):
    run_case(benchmark, case, impl, bench_size)

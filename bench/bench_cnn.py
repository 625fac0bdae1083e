"""Benchmarks: the issue-12 ops: conv1d (two shapes), avgpool2d 3x3/2, batch_norm (training), softmax;
forward and forward+backward.

Cases and implementations (fastnet, numpy, numpy_loops, torch) come from fastnet.benchmarks.
"""

from benchutil import parametrize_family, run_case


@parametrize_family("cnn")
def test_cnn(benchmark, case, impl, bench_size):
    run_case(benchmark, case, impl, bench_size)

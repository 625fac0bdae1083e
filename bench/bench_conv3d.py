"""Benchmarks: 3D convolution: C3D 3x3x3 and a volumetric stride-2 case; forward and forward+backward.

Cases and implementations (fastnet, numpy, numpy_loops, torch) come from fastnet.benchmarks.
"""

from benchutil import parametrize_family, run_case


@parametrize_family("conv3d")
def test_conv3d(benchmark, case, impl, bench_size):
    run_case(benchmark, case, impl, bench_size)

"""Benchmarks: 2D convolution: LeNet C1/C3, AlexNet conv1 and the lectures' conv2, VGG 3x3 and a deeper VGG layer (256 at 14x14), ResNet stride 2; forward and forward+backward.

Cases and implementations (fastnet, numpy, numpy_loops, torch) come from fastnet.benchmarks.
"""

from benchutil import parametrize_family, run_case


@parametrize_family("conv2d")
def test_conv2d(benchmark, case, impl, bench_size):
    run_case(benchmark, case, impl, bench_size)

"""Benchmarks: one training step (forward, cross-entropy, backward, SGD step): LeNet-5 on the 8x8 digits and on 28x28 (MNIST-shaped) random images, the MLP, the lectures' AlexNet (227x227, batch 4) and two VGG stages (56x56, batch 8); against the same network in PyTorch.

Cases and implementations (fastnet, numpy, numpy_loops, torch) come from fastnet.benchmarks.
"""

from benchutil import parametrize_family, run_case


@parametrize_family("training")
def test_training(benchmark, case, impl, bench_size):
    run_case(benchmark, case, impl, bench_size)

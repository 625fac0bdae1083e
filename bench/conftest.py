"""Shared fixtures of the pytest-benchmark suite (cases come from fastnet.benchmarks).

* ``pytest`` (addopts has ``--benchmark-disable``): every benchmark runs once, on the tiny smoke
  shapes, as a test: warm-up, result checked against the plain-loop reference.
* ``pytest bench/ --benchmark-enable --benchmark-only``: the real shapes, timed, grouped ``op|case`` so that the
  implementations sit side by side (add ``--benchmark-columns=median,ops`` for a compact table).
"""

import pytest

from fastnet import benchmarks


@pytest.fixture(scope="session")
def bench_size(request):
    """"smoke" when benchmarks are disabled (ordinary test runs), else "full"."""
    # addopts sets --benchmark-disable; --benchmark-enable (needed beside --benchmark-only) overrides it
    disabled = (request.config.getoption("benchmark_disable", default=False)
                and not request.config.getoption("benchmark_enable", default=False))
    return "smoke" if disabled else "full"


@pytest.fixture(scope="session", autouse=True)
def _torch_threads():
    """PyTorch uses fastnet's thread count."""
    try:
        import torch
    except ImportError:
        return
    import fastnet
    torch.set_num_threads(fastnet.get_num_threads())

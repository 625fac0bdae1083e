"""Helpers shared by the bench_*.py files (imported by name: bench/ is on sys.path under pytest)."""

import pytest

from fastnet import benchmarks


def run_case(benchmark, case, impl, size):
    """Prepare (warm up, check) ``impl`` on ``case``, time it, and check the timed result too."""
    try:
        prepared = benchmarks.prepare(case, impl, size)
    except benchmarks.Skip as exc:
        pytest.skip(str(exc))
    benchmark.group = case.group
    benchmark.name = f"{case.id}[{impl}]"
    benchmark.extra_info.update(impl=impl, size=size, flops=prepared.flops, bytes=prepared.bytes,
                                warmup_s=round(prepared.warmup_seconds, 4))
    result = benchmark(prepared.fn)
    prepared.check(result)
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None and stats.stats.median:
        median = stats.stats.median
        if prepared.flops:
            benchmark.extra_info["GFLOP/s"] = round(prepared.flops / median / 1e9, 3)
        else:
            benchmark.extra_info["GB/s"] = round(prepared.bytes / median / 1e9, 3)


def parametrize_family(family):
    """Decorator: parametrize a test over every case of ``family`` x every implementation."""
    cases = benchmarks.cases(family=family)

    def decorate(fn):
        fn = pytest.mark.parametrize("impl", benchmarks.IMPLEMENTATIONS)(fn)
        return pytest.mark.parametrize("case", cases, ids=[c.id for c in cases])(fn)
    return decorate

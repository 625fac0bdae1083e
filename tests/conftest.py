import os

import pytest
from hypothesis import HealthCheck, settings

# JIT compilation makes first calls slow: no per-example deadline. CI runs derandomized so that a
# run is reproducible; locally hypothesis explores new examples each run.
settings.register_profile("default", deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(autouse=True)
def _restore_thread_count():
    """Tests that change the thread count (directly, or through a job's --threads) must not leak
    it into later tests, which would then silently skip their multi-thread cases."""
    import fastnet
    before = fastnet.get_num_threads()
    yield
    fastnet.set_num_threads(before)

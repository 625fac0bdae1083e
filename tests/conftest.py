import os

import pytest
from hypothesis import HealthCheck, settings

# JIT compilation makes first calls slow: no per-example deadline. CI runs derandomized so that a
# run is reproducible; locally hypothesis explores new examples each run.
settings.register_profile("default", deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


#: A run that collects at least this many tests (the whole suite) compiles every kernel first.
WARM_ALL_FROM = 500


def pytest_collection_finish(session):
    """The whole suite: compile every kernel for both dtypes first, into the kernel cache, with one
    process per core (fastnet.compile). Tests and the processes they start then load kernels
    instead of compiling them one at a time, in one process. A run of a few tests compiles only
    what it uses, as a user's program does."""
    if len(session.items) >= WARM_ALL_FROM:
        import fastnet
        seconds = fastnet.compile(dtypes=("float32", "float64"))
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            "fastnet: kernels compiled or loaded in " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))


@pytest.fixture(autouse=True)
def _restore_thread_count():
    """Tests that change the thread count (directly, or through a job's --threads) must not leak
    it into later tests, which would then silently skip their multi-thread cases."""
    import fastnet
    before = fastnet.get_num_threads()
    yield
    fastnet.set_num_threads(before)

"""The hook through which :mod:`fastnet.profiler` sees every call of a public op.

Every public function in :mod:`fastnet.ops` is wrapped by :func:`traced`. While no profiler is
running the wrapper costs one global lookup and one extra Python call; while one is running, the
profiler's ``_call`` times the op and records it.
"""

import functools

# The profiler currently recording, or None. Set only by fastnet.profiler.
active = None


def traced(op_name):
    """Decorator: report calls of a public op to the active profiler, if any."""
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            profiler = active
            if profiler is None:
                return fn(*args, **kwargs)
            return profiler._call(op_name, fn, args, kwargs)
        wrapper.op_name = op_name
        return wrapper
    return decorate

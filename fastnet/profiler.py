"""Where does the time go? A profiler for fastnet ops, and the one FLOP/byte model of every op.

Usage::

    import fastnet
    with fastnet.profile() as prof:
        model_step()                     # anything that calls fastnet.ops
    print(prof.table())                  # per op: calls, total, mean, share, throughput
    prof.export_chrome_trace("trace.json")   # open in https://ui.perfetto.dev

Every public op in :mod:`fastnet.ops` is wrapped by :func:`fastnet._trace.traced`. While a
:class:`Profiler` is active, each call is timed and recorded as an :class:`OpEvent` (op name,
input shapes, dtype, wall time, FLOPs and bytes moved from :func:`op_cost`). An op called from
inside another op (for example a backward that reuses a forward) is *not* recorded a second time:
its time belongs to the outer call. Numba JIT compilations are recorded apart, from numba's
``"numba:compile"`` events, as :class:`CompileEvent`; the compile time spent inside an op call is
subtracted from that call's run time and shown on its own line of the table.

When no profiler is active the only cost is one global lookup and one Python call per op (see
``tests/test_profiler.py`` and the report of ``python -m fastnet profile`` for measured figures).
"""

import json
import math
import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from . import _trace

__all__ = ["profile", "Profiler", "OpEvent", "CompileEvent", "op_cost"]


# --------------------------------------------------------------------------------------------
# The FLOP / byte model (shared with fastnet.benchmarks)
# --------------------------------------------------------------------------------------------
# FLOPs count a multiply-add as 2. Bytes are the compulsory traffic: every input array read once,
# every output array written once. Ops with a FLOP count are compute-bound (throughput in GFLOP/s);
# the others are memory-bound (throughput in GB/s).

def _arrays(obj):
    """Every ndarray in ``obj`` (an array, or a tuple/list of arrays and scalars)."""
    if isinstance(obj, np.ndarray):
        return [obj]
    if isinstance(obj, (tuple, list)):
        out = []
        for item in obj:
            out.extend(_arrays(item))
        return out
    return []


def _nbytes(objs):
    return sum(a.nbytes for obj in objs for a in _arrays(obj))


def _conv_macs(x, w, y):
    """Multiply-adds of a forward convolution: (every output element) x (C x kernel volume)."""
    return int(np.prod(y.shape, dtype=np.int64)) * int(np.prod(w.shape[1:], dtype=np.int64))


def _positional(args, kwargs, names):
    """Map the leading positional/keyword arguments of an op to ``names``."""
    values = dict(zip(names, args))
    for name in names:
        if name in kwargs:
            values[name] = kwargs[name]
    return values


def op_cost(op_name, args, kwargs, result):
    """FLOPs and bytes moved by one call of a public op.

    Parameters
    ----------
    op_name : str
        The name given to :func:`fastnet._trace.traced`, e.g. ``"conv2d_backward"``.
    args, kwargs : tuple, dict
        The arguments of the call (arrays with their real shapes).
    result : ndarray or tuple
        What the call returned.

    Returns
    -------
    (flops, bytes) : (int, int)
        ``flops`` is 0 for memory-bound ops (activations, pooling, losses).
    """
    inputs = list(args) + list(kwargs.values())
    nbytes = _nbytes(inputs) + _nbytes([result])
    flops = 0
    try:
        if op_name in ("conv1d", "conv2d", "conv3d"):
            v = _positional(args, kwargs, ("x", "w", "b"))
            macs = _conv_macs(v["x"], v["w"], result)
            flops = 2 * macs + (result.size if v.get("b") is not None else 0)
        elif op_name in ("conv1d_backward", "conv2d_backward", "conv3d_backward"):
            v = _positional(args, kwargs, ("x", "w", "dy", "stride", "padding", "input_grad"))
            # dx and dw each cost one forward convolution's multiply-adds; db is a sum over dy.
            macs = _conv_macs(v["x"], v["w"], v["dy"])
            flops = (4 if v.get("input_grad", True) else 2) * macs + v["dy"].size
        elif op_name == "dense":
            v = _positional(args, kwargs, ("x", "w", "b"))
            flops = 2 * result.size * v["w"].shape[1] + (result.size if v.get("b") is not None else 0)
        elif op_name == "dense_backward":
            v = _positional(args, kwargs, ("x", "w", "dy"))
            flops = 4 * v["dy"].size * v["w"].shape[1] + v["dy"].size
    except (AttributeError, IndexError, KeyError, TypeError):
        flops = 0  # an op called with unusual arguments: keep profiling, skip its FLOP count
    return int(flops), int(nbytes)


def format_throughput(flops, nbytes, seconds):
    """``"12.3 GFLOP/s"`` for compute-bound ops, ``"4.5 GB/s"`` for memory-bound ones."""
    if seconds <= 0:
        return "-"
    if flops:
        return f"{flops / seconds / 1e9:.1f} GFLOP/s"
    return f"{nbytes / seconds / 1e9:.2f} GB/s"


# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------

@dataclass
class OpEvent:
    """One recorded call of a public op.

    ``start`` is in seconds since the profiler was entered; ``duration`` is the wall time of the
    call, ``compile_time`` the part of it numba spent compiling (0 after the first call).
    """
    op: str
    shapes: list
    dtype: str
    start: float
    duration: float
    flops: int
    bytes: int
    thread: int
    compile_time: float = 0.0

    @property
    def run_time(self):
        """Wall time minus JIT compile time."""
        return max(self.duration - self.compile_time, 0.0)

    @property
    def gflops(self):
        return self.flops / self.run_time / 1e9 if self.run_time > 0 else 0.0

    @property
    def gbytes(self):
        return self.bytes / self.run_time / 1e9 if self.run_time > 0 else 0.0


@dataclass
class CompileEvent:
    """One numba compilation (``"numba:compile"`` event) of ``function`` for ``signature``.

    Compilations nest (a parallel kernel compiles the serial helpers it calls): ``depth`` is 0 for
    the outermost one, and only depth-0 events are summed into compile totals.
    """
    function: str
    signature: str
    start: float
    duration: float = 0.0
    depth: int = 0
    thread: int = 0
    extra: dict = field(default_factory=dict)


def _shape_of(obj):
    if isinstance(obj, np.ndarray):
        return list(obj.shape)
    if isinstance(obj, (tuple, list)) and obj and all(isinstance(o, np.ndarray) for o in obj):
        return [list(o.shape) for o in obj]
    return None


def _make_compile_listener(profiler):
    """A numba ``Listener`` that records ``"numba:compile"`` start/end events into ``profiler``."""
    from numba.core import event

    class CompileListener(event.Listener):
        def __init__(self):
            self.stack = threading.local()

        def _stack(self):
            items = getattr(self.stack, "items", None)
            if items is None:
                items = self.stack.items = []
            return items

        def on_start(self, ev):
            stack = self._stack()
            data = ev.data or {}
            dispatcher = data.get("dispatcher")
            py_func = getattr(dispatcher, "py_func", None)
            name = getattr(py_func, "__qualname__", None) or repr(dispatcher)
            module = getattr(py_func, "__module__", "") or ""
            sig = ", ".join(str(a) for a in (data.get("args") or ()))
            stack.append(CompileEvent(function=f"{module}.{name}" if module else name,
                                      signature=f"({sig})",
                                      start=time.perf_counter() - profiler._t0, depth=len(stack),
                                      thread=threading.get_ident()))

        def on_end(self, ev):
            stack = self._stack()
            if not stack:
                return
            record = stack.pop()
            record.duration = time.perf_counter() - profiler._t0 - record.start
            profiler.compile_events.append(record)
            if record.depth == 0:
                seconds = profiler._compile_seconds_by_thread
                seconds[record.thread] = seconds.get(record.thread, 0.0) + record.duration

    return CompileListener()


# --------------------------------------------------------------------------------------------
# The profiler
# --------------------------------------------------------------------------------------------

class Profiler:
    """Record every :mod:`fastnet.ops` call and every JIT compilation while active.

    Use it as a context manager (``with fastnet.profile() as prof:``); it can be entered once.
    Only one profiler can be active at a time.

    Attributes
    ----------
    events : list of OpEvent
        The op calls, in the order they finished.
    compile_events : list of CompileEvent
        Every numba compilation, nested ones included.
    wall_time : float
        Seconds between entering and leaving the context (None while it is running).
    """

    def __init__(self, record_compile=True):
        self.record_compile = bool(record_compile)
        self.events = []
        self.compile_events = []
        self.wall_time = None
        self._t0 = None
        self._local = threading.local()
        self._listener = None
        self._compile_seconds_by_thread = {}
        self._threads = {}
        self._entered = False

    # -- context manager -----------------------------------------------------------------
    def __enter__(self):
        if self._entered:
            raise RuntimeError("a Profiler can be entered only once; create a new one with fastnet.profile()")
        if _trace.active is not None:
            raise RuntimeError("another fastnet profiler is already active; nested profiling is not supported")
        self._entered = True
        self._t0 = time.perf_counter()
        if self.record_compile:
            from numba.core import event
            self._listener = _make_compile_listener(self)
            event.register("numba:compile", self._listener)
        _trace.active = self
        return self

    def __exit__(self, exc_type, exc, tb):
        _trace.active = None
        if self._listener is not None:
            from numba.core import event
            try:
                event.unregister("numba:compile", self._listener)
            except (ValueError, KeyError):
                pass
            self._listener = None
        self.wall_time = time.perf_counter() - self._t0
        return False

    # -- the hook called by fastnet._trace.traced -----------------------------------------
    def _call(self, op_name, fn, args, kwargs):
        local = self._local
        if getattr(local, "depth", 0):
            # Called from inside another op: its time is already counted by the outer call.
            return fn(*args, **kwargs)
        thread = threading.get_ident()
        compile_before = self._compile_seconds_by_thread.get(thread, 0.0)
        local.depth = 1
        start = time.perf_counter()
        try:
            result = fn(*args, **kwargs)
        finally:
            end = time.perf_counter()
            local.depth = 0
        compile_time = self._compile_seconds_by_thread.get(thread, 0.0) - compile_before
        flops, nbytes = op_cost(op_name, args, kwargs, result)
        shapes, dtype = [], ""
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, np.ndarray):
                shapes.append(list(a.shape))
                dtype = dtype or a.dtype.name
        self.events.append(OpEvent(op=op_name, shapes=shapes, dtype=dtype, start=start - self._t0,
                                   duration=end - start, flops=flops, bytes=nbytes,
                                   thread=self._thread_index(thread), compile_time=compile_time))
        return result

    def _thread_index(self, ident):
        if ident not in self._threads:
            self._threads[ident] = len(self._threads) + 1
        return self._threads[ident]

    # -- summaries ------------------------------------------------------------------------
    @property
    def compile_time(self):
        """Seconds spent in (outermost) numba compilations while the profiler ran."""
        return sum(e.duration for e in self.compile_events if e.depth == 0)

    @property
    def op_time(self):
        """Seconds spent in recorded op calls, compile time excluded."""
        return sum(e.run_time for e in self.events)

    def summary(self):
        """Per-op aggregates, sorted by total run time (largest first).

        Returns a list of dicts with keys ``op, calls, total, mean, share, flops, bytes,
        throughput`` (share is of the summed op time; throughput formatted as in the table).
        """
        rows = {}
        for e in self.events:
            r = rows.setdefault(e.op, dict(op=e.op, calls=0, total=0.0, flops=0, bytes=0))
            r["calls"] += 1
            r["total"] += e.run_time
            r["flops"] += e.flops
            r["bytes"] += e.bytes
        grand = sum(r["total"] for r in rows.values()) + self.compile_time
        out = sorted(rows.values(), key=lambda r: r["total"], reverse=True)
        for r in out:
            r["mean"] = r["total"] / r["calls"]
            r["share"] = r["total"] / grand if grand > 0 else 0.0
            r["throughput"] = format_throughput(r["flops"], r["bytes"], r["total"])
        return out

    def table(self, sort_by="total"):
        """A readable text table of the op calls aggregated by op, sorted by total time.

        Columns: op, calls, total (ms), mean (ms), share (% of the op + compile time listed),
        throughput (GFLOP/s for convolution and dense ops, GB/s for the memory-bound ones).
        JIT compilation has its own line; a footer compares the total with the wall time.
        """
        rows = self.summary()
        if sort_by not in ("total", "calls", "mean"):
            raise ValueError(f"sort_by: expected 'total', 'calls' or 'mean', got {sort_by!r}")
        rows.sort(key=lambda r: r[sort_by], reverse=True)
        compile_total = self.compile_time
        grand = sum(r["total"] for r in rows) + compile_total
        header = ("op", "calls", "total ms", "mean ms", "share", "throughput")
        lines = []
        for r in rows:
            lines.append((r["op"], str(r["calls"]), f"{r['total'] * 1e3:.2f}", f"{r['mean'] * 1e3:.3f}",
                          f"{100 * r['share']:.1f}%", r["throughput"]))
        n_compiles = sum(1 for e in self.compile_events if e.depth == 0)
        if n_compiles:
            lines.append(("[numba compile]", str(n_compiles), f"{compile_total * 1e3:.2f}",
                          f"{compile_total / n_compiles * 1e3:.3f}",
                          f"{100 * compile_total / grand:.1f}%" if grand > 0 else "0.0%", "-"))
        lines.append(("total", str(sum(r["calls"] for r in rows)), f"{grand * 1e3:.2f}", "", "100.0%", ""))
        widths = [max(len(header[i]), *(len(line[i]) for line in lines)) for i in range(len(header))]

        def fmt(cells):
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        out = [fmt(header), "  ".join("-" * w for w in widths)]
        out.extend(fmt(line) for line in lines[:-1])
        out.append("  ".join("-" * w for w in widths))
        out.append(fmt(lines[-1]))
        wall = self.wall_time if self.wall_time is not None else time.perf_counter() - self._t0
        if wall and wall > 0:
            out.append(f"wall time {wall * 1e3:.2f} ms; the ops and compiles above account for "
                       f"{100 * grand / wall:.1f}% of it")
        return "\n".join(out)

    def __str__(self):
        return self.table()

    # -- Chrome trace ---------------------------------------------------------------------
    def chrome_trace(self):
        """The recording as a Chrome trace-event dict (``{"traceEvents": [...]}``).

        Op calls are complete ("X") events on one track per Python thread, JIT compilations on
        their own track; ``ts``/``dur`` are microseconds since the profiler started.
        """
        pid = os.getpid()
        compile_tid = 0
        events = [
            {"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": "fastnet"}},
            {"name": "thread_name", "ph": "M", "pid": pid, "tid": compile_tid,
             "args": {"name": "numba compile"}},
        ]
        for ident, index in self._threads.items():
            events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": index,
                           "args": {"name": f"fastnet ops (thread {index})"}})
        for e in self.events:
            args = {"shapes": e.shapes, "dtype": e.dtype, "flops": e.flops, "bytes": e.bytes}
            if e.compile_time:
                args["compile_ms"] = round(e.compile_time * 1e3, 3)
            if e.run_time > 0:
                args["GFLOP/s" if e.flops else "GB/s"] = round(e.gflops if e.flops else e.gbytes, 3)
            events.append({"name": e.op, "cat": "op", "ph": "X", "ts": round(e.start * 1e6, 3),
                           "dur": round(e.duration * 1e6, 3), "pid": pid, "tid": e.thread, "args": args})
        for c in self.compile_events:
            events.append({"name": f"compile {c.function}", "cat": "compile", "ph": "X",
                           "ts": round(c.start * 1e6, 3), "dur": round(c.duration * 1e6, 3), "pid": pid,
                           "tid": compile_tid, "args": {"signature": c.signature, "depth": c.depth}})
        return {"traceEvents": events, "displayTimeUnit": "ms"}

    def export_chrome_trace(self, path):
        """Write :meth:`chrome_trace` as JSON to ``path`` (open it in Perfetto or chrome://tracing)."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.chrome_trace(), f)
        return path


def profile(record_compile=True):
    """Return a :class:`Profiler`; use it as ``with fastnet.profile() as prof: ...``.

    Parameters
    ----------
    record_compile : bool, default True
        Also record numba JIT compilations (``prof.compile_events``).
    """
    return Profiler(record_compile=record_compile)


def measure_overhead(calls=100_000):
    """Seconds per call added by the ``traced`` wrapper with no profiler active, and with one.

    Times ``calls`` calls of a no-op, undecorated and decorated; returns a dict of per-call
    seconds ``{"plain", "traced_off", "traced_on", "off_overhead", "on_overhead"}``.
    """
    def noop(x):
        return x

    wrapped = _trace.traced("noop")(noop)

    def timeit(fn):
        best = math.inf
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(calls):
                fn(None)
            best = min(best, time.perf_counter() - start)
        return best / calls

    if _trace.active is not None:
        raise RuntimeError("measure_overhead needs no profiler to be active")
    plain = timeit(noop)
    off = timeit(wrapped)
    with Profiler(record_compile=False) as prof:
        on = timeit(wrapped)
    del prof
    return {"plain": plain, "traced_off": off, "traced_on": on,
            "off_overhead": off - plain, "on_overhead": on - plain}

"""How ``python -m fastnet bench`` times the registry's cases (:mod:`fastnet.benchmarks`): every
implementation of a case in turn, the cores probed around fastnet and PyTorch, a case measured
again while they were shared (:mod:`fastnet.bench_machine`), and on request fastnet and PyTorch
timed in alternating rounds; the results dict goes to :mod:`fastnet.bench_report`."""

import datetime
import statistics
import time

import numpy as np

from .bench_machine import EFFICIENCY_DROP, FORK_JOIN_SLOW, _blas_limiter, codegen_target, measure_limits, probe_cores
from .bench_report import degraded
from .benchmarks import CASES, IMPLEMENTATIONS, Skip, prepare

COOLDOWN_S = 0.15  # pause before preparing each implementation of a case (see run())
RETRIES = 2         # times a case is measured again while the cores are shared (see run())
ROUND_S = 0.4       # time budget of each implementation's turn in a round (see run(rounds=...))


def time_fn(fn, repeats, budget_s, min_repeats=1):
    """Run ``fn`` up to ``repeats`` times (stopping once ``budget_s`` is spent and ``min_repeats``
    are done); return (list of seconds, last result)."""
    times, result = [], None
    deadline = time.perf_counter() + budget_s
    for i in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
        if len(times) >= min_repeats and time.perf_counter() > deadline:
            break
    return times, result


def run(selected=None, size="full", quick=False, loops=None, threads=None, progress=None,
        dtype=np.float32, repeats=None, budget_s=None, precompile=True, retries=RETRIES, probe=None,
        rounds=0, round_s=ROUND_S):
    """Run ``selected`` cases (default: all) with every implementation; return the results dict.

    quick : bool
        Fewer repeats and a smaller time budget per implementation, no numpy_loops, smaller
        limit measurements. ``size="smoke"`` (tiny shapes) is for tests.
    loops : bool, optional
        Run numpy_loops where affordable (default: not in quick mode).
    precompile : bool, default True
        Run ``fastnet.compile()`` first and report its time (each case is warmed up anyway).
        ``fastnet bench --filter`` turns it off, so that only the selected cases' kernels compile.
    progress : callable(str), optional
        Called with a line of progress text per case.
    retries : int, default RETRIES
        Times a case is measured again (all of its implementations) when the probes of the cores
        (:func:`fastnet.bench_machine.probe_cores`), taken before and after fastnet and PyTorch,
        say that the cores were shared for a while (see :func:`fastnet.bench_report.degraded`: well
        below the best probes of the run so far):
        times taken then do not compare with the others (on the 2-core dev VM such spells come and
        go within seconds). The attempt with the best probes is kept; the entry's
        ``"parallel_efficiency"`` is its lowest efficiency and ``"fork_join_us"`` its slowest
        fork-join (None with one thread, and on the smoke shapes, which are not timed for their
        numbers, unless ``probe`` is given).
    probe : callable() -> dict or None, optional
        The probe (default: :func:`~fastnet.bench_machine.probe_cores` at ``threads``): a dict with
        ``"efficiency"`` and ``"fork_join_us"``.
    rounds : int, default 0
        Also time fastnet and PyTorch in turn, ``rounds`` rounds of ``round_s`` seconds each (at
        least 3 calls a turn), after a case's measurement: the entry's ``"interleaved"``, with
        each turn's median (None where PyTorch is skipped). On a shared machine the two sides
        then meet the same spells of load, and the ratio of their fastest rounds
        (:func:`fastnet.bench_report.interleaved_speedup`) moved less on the 2-core dev VM than
        the ratio of medians taken one implementation after the other (README, Performance).

    The dict has ``"meta"`` (date, machine info, limits, threads, settings) and ``"results"``:
    one entry per case with ``id, group, family, op, name, mode, flops, bytes, unit`` and
    ``"impls": {impl: {"median_s", "times_s", "warmup_s"} or {"skipped": reason}}``.
    """
    from . import _runtime, get_num_threads, set_num_threads
    if threads is not None:
        set_num_threads(threads)
    threads = get_num_threads()
    loops = (not quick) if loops is None else loops
    if repeats is None:
        repeats = 3 if quick else 15
    if budget_s is None:
        budget_s = 0.2 if quick else 2.0
    selected = list(CASES if selected is None else selected)

    from .kernels import _cache
    jit_start = _cache.compile_seconds()
    limiter = _blas_limiter(threads)
    with limiter:
        info = _runtime.info(as_dict=True)
        compile_s = None
        if precompile:  # compile every kernel first, and report how long that took
            compile_s = sum(_runtime.compile(dtypes=(np.dtype(dtype).name,)).values())
        limits = measure_limits(quick=quick or size == "smoke")
        if probe is None and size != "smoke":
            def probe():
                return probe_cores(threads)
        results = []
        best = {"efficiency": None, "fork_join_us": None}   # the best probes of the run so far
        for case in selected:
            entry = None
            for attempts in range(1, 2 + max(0, retries)):
                attempt = _measure_case(case, size, dtype, quick, loops, repeats, budget_s, probe, best)
                if entry is None or _better(attempt, entry):
                    entry = attempt
                if not degraded(entry, best):
                    break
            entry["attempts"] = attempts
            if rounds > 0:
                entry["interleaved"] = _interleaved(case, size, dtype, quick, rounds, round_s)
            results.append(entry)
            if progress is not None:
                progress(_progress_line(entry))
    meta = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "info": info, "threads": threads, "threading_layer": info.get("threading_layer"),
        "blas_threads": limiter.description, "limits": limits, "compile_s": compile_s,
        "jit_s": _cache.compile_seconds() - jit_start, "kernel_cache": info.get("cache_state"),
        "dtype": np.dtype(dtype).name, "size": size, "quick": bool(quick), "repeats": repeats,
        "budget_s": budget_s, "codegen": codegen_target(), "rounds": rounds, "round_s": round_s,
        "probe": {"efficiency_drop": EFFICIENCY_DROP, "fork_join_slow": FORK_JOIN_SLOW,
                  "retries": max(0, retries), "on": probe is not None, "best": best},
    }
    return {"meta": meta, "results": results}


def _measure_case(case, size, dtype, quick, loops, repeats, budget_s, probe, best):
    """One result entry of :func:`run`: every implementation of ``case``, and the probes of the
    cores taken before and after fastnet and PyTorch (the lowest efficiency and slowest fork-join
    are kept; None without ``probe``); ``best``, the run's best probes so far, is kept up to date."""
    entry = dict(id=case.id, group=case.group, family=case.family, op=case.op, name=case.name,
                 mode=case.mode, description=case.description, impls={})
    probes = []
    for impl in ("numpy", "fastnet", "numpy_loops", "torch"):  # numpy first: quick's reference
        if impl == "numpy_loops" and not loops and size != "smoke":
            entry["impls"][impl] = {"skipped": "numpy_loops: not run in --quick mode"}
            continue
        # Let the previous implementation's idle threads stop spinning first (OpenBLAS
        # spins ~0.1 s after a call): on 2 cores a spinning thread halves the next one.
        # Smoke shapes (tests) are not timed for their numbers: no pause.
        if size != "smoke":
            time.sleep(COOLDOWN_S)
        try:
            prepared = prepare(case, impl, size, dtype, quick=quick)
        except Skip as exc:
            entry["impls"][impl] = {"skipped": str(exc)}
            continue
        checked = probe is not None and impl in ("fastnet", "torch")
        if checked:
            probes.append(probe())
        times, result = time_fn(prepared.fn, repeats, budget_s)
        if checked:
            probes.append(probe())
        prepared.check(result)
        entry["impls"][impl] = {"median_s": statistics.median(times), "times_s": times,
                                "warmup_s": prepared.warmup_seconds}
        entry["flops"], entry["bytes"] = prepared.flops, prepared.bytes
    entry["impls"] = {impl: entry["impls"][impl] for impl in IMPLEMENTATIONS}
    entry["unit"] = "GFLOP/s" if entry.get("flops") else "GB/s"
    probes = [p for p in probes if p is not None]
    entry["parallel_efficiency"] = min(p["efficiency"] for p in probes) if probes else None
    entry["fork_join_us"] = max(p["fork_join_us"] for p in probes) if probes else None
    for p in probes:
        if best["efficiency"] is None or p["efficiency"] > best["efficiency"]:
            best["efficiency"] = p["efficiency"]
        if best["fork_join_us"] is None or p["fork_join_us"] < best["fork_join_us"]:
            best["fork_join_us"] = p["fork_join_us"]
    return entry


def _interleaved(case, size, dtype, quick, rounds, round_s):
    """fastnet and PyTorch timed in turn, ``rounds`` rounds: {"rounds", "round_s", "fastnet_s",
    "torch_s"} with each turn's median time (lists of ``rounds``), or None where PyTorch (or
    fastnet) is skipped. Each turn's last result is checked against the reference."""
    try:
        prepared = {impl: prepare(case, impl, size, dtype, quick=quick) for impl in ("fastnet", "torch")}
    except Skip:
        return None
    medians = {impl: [] for impl in prepared}
    for _ in range(rounds):
        for impl, p in prepared.items():
            if size != "smoke":
                time.sleep(COOLDOWN_S)   # the other side's idle threads stop spinning (see _measure_case)
            times, result = time_fn(p.fn, 10**9, round_s, min_repeats=3)   # the budget ends a turn
            p.check(result)
            medians[impl].append(statistics.median(times))
    return {"rounds": rounds, "round_s": round_s, "fastnet_s": medians["fastnet"], "torch_s": medians["torch"]}


def _better(attempt, entry):
    """Whether a new attempt at a case is the one to keep: the higher lowest efficiency, or the
    same with a faster slowest fork-join."""
    def key(e):
        return (round(e.get("parallel_efficiency") or 0.0, 2), -(e.get("fork_join_us") or 0.0))
    return key(attempt) > key(entry)


def _progress_line(entry):
    parts = []
    for impl, r in entry["impls"].items():
        parts.append(f"{impl} {r['median_s'] * 1e3:.3f} ms" if "median_s" in r else f"{impl} skipped")
    return f"{entry['group']}: " + ", ".join(parts)

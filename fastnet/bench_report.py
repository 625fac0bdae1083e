"""The benchmark report: the Markdown table of ``python -m fastnet bench`` (and its parser), the
JSON file and the bar chart, from the results dict of :func:`fastnet.bench_runner.run`."""

import json

import numpy as np

from .bench_machine import EFFICIENCY_DROP, FORK_JOIN_SLOW

TIME_COLUMNS = ("fastnet", "numpy", "numpy_loops", "torch")   # the "<impl> ms" columns, in order


def degraded(entry, best):
    """Whether an entry's probes say that its cores were shared while it was measured, judged
    against ``best``, the best probes of the run (``{"efficiency": highest, "fork_join_us":
    fastest}``, either None where unknown): an efficiency below EFFICIENCY_DROP times the highest
    (at most 1), or a fork-join over FORK_JOIN_SLOW times the fastest."""
    value, slowest = entry.get("parallel_efficiency"), entry.get("fork_join_us")
    # above 1 is the noise of the one-thread timing (read up to 1.16), not a better machine
    if value is not None and best.get("efficiency") is not None and value < EFFICIENCY_DROP * min(1.0, best["efficiency"]):
        return True
    return (slowest is not None and best.get("fork_join_us") is not None
            and slowest > FORK_JOIN_SLOW * best["fork_join_us"])


def throughput(entry, impl="fastnet"):
    """(value, unit) of ``impl`` on a result entry: GFLOP/s for compute-bound cases, else GB/s."""
    r = entry["impls"].get(impl, {})
    if "median_s" not in r or not r["median_s"]:
        return None, entry.get("unit")
    if entry.get("flops"):
        return entry["flops"] / r["median_s"] / 1e9, "GFLOP/s"
    return entry.get("bytes", 0) / r["median_s"] / 1e9, "GB/s"


def speedup(entry, other):
    """``other``'s median time / fastnet's median time (> 1: fastnet is faster), or None."""
    f = entry["impls"].get("fastnet", {})
    o = entry["impls"].get(other, {})
    if "median_s" not in f or "median_s" not in o or not f["median_s"]:
        return None
    return o["median_s"] / f["median_s"]


def interleaved_speedup(entry):
    """PyTorch's fastest round / fastnet's fastest round of the alternating rounds
    (``bench_runner.run(rounds=...)``), or None where there were none."""
    rounds = entry.get("interleaved")
    if not rounds or not rounds["fastnet_s"] or not min(rounds["fastnet_s"]):
        return None
    return min(rounds["torch_s"]) / min(rounds["fastnet_s"])


TABLE_COLUMNS = ("case", "fastnet ms", "numpy ms", "numpy_loops ms", "torch ms", "fastnet throughput",
                 "% of limit", "speedup vs numpy", "speedup vs torch", "cores")
ROUNDS_COLUMN = "vs torch, rounds"   # the column after "speedup vs torch" in a run with rounds


def report_markdown(report):
    """The Markdown report: a header with machine and settings, then one table row per case."""
    meta = report["meta"]
    info = meta["info"]
    limits = meta["limits"]
    lines = [
        "# fastnet benchmark",
        "",
        f"- date: {meta['date']}",
        f"- CPU: {info.get('cpu')} ({info.get('cpu_count')} logical cores, SIMD: {info.get('simd')})",
        f"- threads: {meta['threads']} (fastnet/Numba and PyTorch); NumPy BLAS threads: {meta['blas_threads']}",
        f"- threading layer: {meta['threading_layer']}",
        *([f"- code generated for: {meta['codegen']}"] if meta.get("codegen") else []),
        f"- versions: fastnet {info.get('fastnet')}, Python {info.get('python')}, NumPy {info.get('numpy')}, "
        f"Numba {info.get('numba')}, LLVM {info.get('llvm')}, PyTorch {info.get('torch')}",
        f"- measured limits: sgemm {limits['sgemm_gflops']:.1f} GFLOP/s (numpy float32 matmul, "
        f"n={limits['sgemm_n']}), copy {limits['copy_gbs']:.1f} GB/s (np.copyto, read + write)",
        f"- fastnet.compile() for {meta['dtype']}: "
        + (f"{meta['compile_s']:.1f} s (JIT, before timing)" if meta["compile_s"] is not None
           else "not run (a filtered run compiles only its cases' kernels)")
        + (f"; kernels compiled or loaded in this run: {meta['jit_s']:.1f} s (kernel cache: {meta['kernel_cache']})"
           if meta.get("jit_s") is not None else ""),
        f"- dtype {meta['dtype']}, shapes: {meta['size']}, {'quick: ' if meta['quick'] else ''}"
        f"median of up to {meta['repeats']} runs ({meta['budget_s']} s budget per implementation)",
        "- speedup = other implementation's median time / fastnet's median time (> 1: fastnet is faster);"
        " % of limit = fastnet's throughput / sgemm GFLOP/s (compute-bound cases) or / copy GB/s (the others)",
        *_probe_lines(meta, report["results"]),
        *([f"- {ROUNDS_COLUMN} = PyTorch's time / fastnet's, each the median of its fastest of "
           f"{meta['rounds']} rounds in which the two took turns ({meta['round_s']} s a turn)"]
          if meta.get("rounds") else []),
        "",
    ]
    columns = table_columns(meta)
    lines += ["| " + " | ".join(columns) + " |",
              "|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|"]
    for entry in report["results"]:
        cells = [case_label(entry)]
        for impl in TIME_COLUMNS:
            r = entry["impls"].get(impl, {})
            cells.append(f"{r['median_s'] * 1e3:.3f}" if "median_s" in r else "-")
        value, unit = throughput(entry)
        if value is None:
            cells += ["-", "-"]
        else:
            limit = limits["sgemm_gflops"] if unit == "GFLOP/s" else limits["copy_gbs"]
            cells += [f"{value:.2f} {unit}", f"{100 * value / limit:.1f}%"]
        for other in ("numpy", "torch"):
            s = speedup(entry, other)
            cells.append("-" if s is None else f"{s:.2f}x")
        if meta.get("rounds"):
            s = interleaved_speedup(entry)
            cells.append("-" if s is None else f"{s:.2f}x")
        cells.append(_cores_cell(entry, (meta.get("probe") or {}).get("best") or {}))
        lines.append("| " + " | ".join(cells) + " |")
    skipped = sorted({r["skipped"] for e in report["results"] for r in e["impls"].values() if "skipped" in r})
    if skipped:
        lines += ["", "Skipped (\"-\"):"] + [f"- {reason}" for reason in skipped]
    return "\n".join(lines)


def table_columns(meta):
    """The table's columns: TABLE_COLUMNS, with ROUNDS_COLUMN after "speedup vs torch" where the
    run had alternating rounds."""
    if not meta.get("rounds"):
        return TABLE_COLUMNS
    at = TABLE_COLUMNS.index("speedup vs torch") + 1
    return TABLE_COLUMNS[:at] + (ROUNDS_COLUMN,) + TABLE_COLUMNS[at:]


def _cores_cell(entry, best):
    """The "cores" cell: the entry's lowest parallel efficiency and slowest fork-join, marked
    "shared" where :func:`degraded` (``best``: the run's best probes)."""
    value = entry.get("parallel_efficiency")
    if value is None:
        return "-"
    cell = f"{value:.2f}, {entry['fork_join_us']:.1f} us"
    return cell + (" shared" if degraded(entry, best) else "")


def _probe_lines(meta, results):
    """The report's header line on the probes of the cores (none where they were not taken)."""
    probe = meta.get("probe") or {}
    if not probe.get("on"):
        return []
    best = probe.get("best") or {}
    again = sum(1 for e in results if e.get("attempts", 1) > 1)
    shared = sum(1 for e in results if degraded(e, best))
    known = best.get("efficiency") is not None
    best_text = (f"{best['efficiency']:.2f} and {best['fork_join_us']:.1f} us" if known else "none")
    return [f"- cores = the probes taken before and after fastnet and PyTorch (fastnet.bench_machine."
            f"probe_cores): the lowest parallel efficiency ({meta['threads']} threads running fastnet's "
            f"micro-kernel side by side, as a share of one thread's speed alone; 1.00: whole cores) and "
            f"the slowest fork-join (a parallel region doing nothing); the best of this run: {best_text}. "
            f"A case whose efficiency fell below {probe['efficiency_drop']} times the best so far (at most 1), or "
            f"whose fork-join took over {probe['fork_join_slow']} times the fastest so far, was measured "
            f"again, up to {probe['retries']} times ({again} of {len(results)} cases); \"shared\" marks "
            f"the {shared} still so against the run's best: their cores were shared with other work "
            f"while they ran, and their times do not compare with the others'"]


def case_label(entry):
    """The table's "case" cell: the group with "|" (a Markdown column separator) shown as " / "."""
    return entry["group"].replace("|", " / ")


def parse_markdown_table(text):
    """Parse the table of :func:`report_markdown` back into a list of {column: cell} dicts."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    out = []
    for line in rows[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        out.append(dict(zip(header, cells)))
    return header, out


def save_json(report, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, default=_json_default)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def plot(report, path):
    """A bar chart of fastnet's speedup over NumPy and PyTorch per case. Needs matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("--plot needs matplotlib, which is not installed: "
                          "pip install matplotlib (or pip install fastnet[plot])") from None
    entries = report["results"]
    labels = [e["group"] for e in entries]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(labels) + 1.5))
    y = np.arange(len(labels))
    for i, other in enumerate(("numpy", "torch")):
        values = [speedup(e, other) or 0.0 for e in entries]
        ax.barh(y + (i - 0.5) * 0.4, values, height=0.4, label=f"vs {other}")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlabel("speedup of fastnet (other time / fastnet time)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

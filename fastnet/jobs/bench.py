"""Benchmark fastnet against NumPy (vectorized and plain loops) and PyTorch; print a Markdown ratio table.

Runs the cases of fastnet.benchmarks (the registry behind bench/) without pytest. Every
implementation is warmed up (JIT compile) and checked against the reference before it is timed.
"""

import sys


def add_arguments(parser):
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats, no plain-loop baseline: under three minutes on 2 cores")
    parser.add_argument("--json", metavar="PATH", default=None, help="also write every timing as JSON")
    parser.add_argument("--plot", metavar="PATH", default=None,
                        help="also write a bar chart of the speedups (needs matplotlib)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for fastnet, PyTorch and NumPy's BLAS (default: fastnet's current)")
    parser.add_argument("--filter", metavar="SUBSTR", default=None,
                        help="only the cases whose id or group contains SUBSTR (e.g. conv2d, vgg, fwd+bwd)")
    parser.add_argument("--rounds", type=int, default=0, metavar="N",
                        help="also time fastnet and PyTorch in turn, N rounds of 0.4 s each per case, and "
                             "report PyTorch's fastest round / fastnet's (steadier on a shared machine)")
    parser.add_argument("--smoke", action="store_true", help=argparse_suppress())


def argparse_suppress():
    import argparse
    return argparse.SUPPRESS  # --smoke: tiny shapes, for tests only


def run(args):
    from .. import bench_report, bench_runner, benchmarks
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("fastnet bench: --plot needs matplotlib, which is not installed; "
                  "pip install matplotlib (or pip install 'fastnet[plot]')", file=sys.stderr)
            return 2
    if args.rounds < 0:
        print(f"fastnet bench: --rounds must be 0 or more, got {args.rounds}", file=sys.stderr)
        return 2
    selected = benchmarks.cases(filter=args.filter)
    if not selected:
        print(f"fastnet bench: no case matches --filter {args.filter!r}; cases are:\n  "
              + "\n  ".join(c.id for c in benchmarks.CASES), file=sys.stderr)
        return 2

    def progress(line):
        print(line, file=sys.stderr, flush=True)

    # a filtered run compiles only what its cases use; the whole registry compiles everything first
    report = bench_runner.run(selected, size="smoke" if args.smoke else "full", quick=args.quick,
                             threads=args.threads, progress=progress, precompile=args.filter is None,
                             rounds=args.rounds)
    print(bench_report.report_markdown(report))
    if args.json:
        bench_report.save_json(report, args.json)
        print(f"\nwrote {args.json}", file=sys.stderr)
    if args.plot:
        bench_report.plot(report, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0

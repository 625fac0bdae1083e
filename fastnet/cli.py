"""The ``fastnet`` command line: ``python -m fastnet SUBCOMMAND`` (or the ``fastnet`` script).

Each subcommand lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``.
"""

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "train": ("fastnet.jobs.train", "train LeNet-5 on the built-in digits (the default job)"),
    "info": ("fastnet.jobs.info", "print versions, threads, threading layer and CPU features"),
    "bench": ("fastnet.jobs.bench", "benchmark fastnet against NumPy and PyTorch, print a ratio table"),
    "profile": ("fastnet.jobs.profile", "profile one training epoch of the default model"),
    "cache": ("fastnet.jobs.cache", "show, fill (warm) or empty (clear) the on-disk kernel cache"),
}


def build_parser():
    parser = argparse.ArgumentParser(prog="fastnet", description="fastnet: neural networks on the CPU "
                                     "with JIT-compiled Numba kernels.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=module.__doc__.strip().splitlines()[0])
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args._run(args) or 0


if __name__ == "__main__":
    sys.exit(main())

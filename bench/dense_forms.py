"""The dense forward's two gemm forms, and PyTorch's, per layer: for setting the transposed copy's rule on this CPU.

``kernels/dense.py`` computes a forward block either from w in place (sgemm with B transposed)
or from a transposed copy of w (``TRANSPOSED_W_CORES``, ``TRANSPOSED_W_MAX_BYTES``). This table
times ``fastnet.ops.dense`` in both forms, and PyTorch's ``linear`` where it is installed, per
layer, in one process, each the median of ``--calls`` calls, the fastest of ``--rounds`` rounds
in which the three took turns; and what the rule picks now::

    python bench/dense_forms.py --threads 2
    python bench/dense_forms.py --threads 1 --layers "256,784,512;64,400,120"

A ratio above 1 means that form was faster. Layers: ``--layers "N,in,out;..."``, else LAYERS.
"""

import argparse

import numba
import numpy as np

from fastnet.bench_runner import time_fn

# the bench's MLP layer, LeNet-5's and an MLP's layers, wider ones, 1024 cubed, and w of 16 MB
LAYERS = [(256, 784, 512), (128, 784, 256), (32, 784, 512), (64, 400, 120), (64, 120, 84),
          (64, 1024, 1024), (1024, 1024, 1024), (64, 2048, 2048)]


def _median(fn, calls):
    fn()
    return float(np.median(time_fn(fn, calls, budget_s=np.inf)[0]))


def measure(layers, rounds=5, calls=30, seed=0):
    """Yield (layer, {form: seconds}, transposed by the rule now) per layer; forms "in place",
    "transposed" and, where PyTorch is installed, "torch"."""
    from fastnet import ops
    from fastnet.kernels import dense
    try:
        import torch
        torch.set_num_threads(numba.get_num_threads())
    except ImportError:
        torch = None
    rule = (dense.TRANSPOSED_W_CORES, dense.TRANSPOSED_W_MAX_BYTES)
    found = dense.numpy_openblas()
    core = found.core if found is not None else ""   # without it both forms read w in place
    rng = np.random.default_rng(seed)
    for layer in layers:
        n, n_in, n_out = layer
        x = rng.standard_normal((n, n_in)).astype(np.float32)
        w = rng.standard_normal((n_out, n_in)).astype(np.float32)
        b = rng.standard_normal(n_out).astype(np.float32)
        # each form with the rule that forces it (any size for the transposed copy)
        forms = {"in place": (((), 0), lambda: ops.dense(x, w, b)),
                 "transposed": (((core,), np.inf), lambda: ops.dense(x, w, b))}
        if torch is not None:
            tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
            forms["torch"] = (rule, lambda: torch.nn.functional.linear(tx, tw, tb))
        best = {}
        try:
            for r in range(rounds):
                order = list(forms.items())
                # every other round in reverse: on a shared VM, whatever ran first in a round read slow
                for name, (form_rule, fn) in (order if r % 2 == 0 else order[::-1]):
                    dense.TRANSPOSED_W_CORES, dense.TRANSPOSED_W_MAX_BYTES = form_rule
                    best[name] = min(best.get(name, np.inf), _median(fn, calls))
        finally:
            dense.TRANSPOSED_W_CORES, dense.TRANSPOSED_W_MAX_BYTES = rule
        yield layer, best, dense._transposes_w(x, w)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=numba.get_num_threads())
    parser.add_argument("--layers", help='"N,in,out;..."')
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args(argv)
    numba.set_num_threads(args.threads)
    layers = ([tuple(int(v) for v in item.split(",")) for item in args.layers.split(";")] if args.layers
              else LAYERS)
    from fastnet.kernels import dense
    print(f"float32, {args.threads} thread(s); {dense.blas_description()}")
    print("| layer (N, in, out) | in place ms | transposed ms | torch ms | in place / transposed "
          "| torch / transposed | rule |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for layer, best, transposed in measure(layers, args.rounds, args.calls):
        torch_ms = f"{best['torch'] * 1e3:.3f}" if "torch" in best else "-"
        torch_ratio = f"{best['torch'] / best['transposed']:.2f}" if "torch" in best else "-"
        print(f"| {layer} | {best['in place'] * 1e3:.3f} | {best['transposed'] * 1e3:.3f} | {torch_ms} "
              f"| {best['in place'] / best['transposed']:.2f} | {torch_ratio} "
              f"| {'transposed' if transposed else 'in place'} |", flush=True)


if __name__ == "__main__":
    main()

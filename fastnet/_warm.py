"""Compile a model's kernels in a helper process while training starts (a cold kernel cache only).

Numba compiles one kernel at a time per process. On a cold cache, ``Sequential.fit`` starts one
helper process that computes the loss once (which training reaches last), then the convolutions'
weight gradients alone (their forward kernels are what training needs first), then runs the model's
layers one by one, last layer first, on random inputs of the shapes training will use, so that the
two processes compile from both ends of the network (a layer whose kernel the training process is
compiling is put off until the helper has nothing else to do); each kernel's file lock
(:mod:`fastnet.kernels._cache`) makes sure that every kernel is compiled once, by whichever process
reaches it first, and the other loads it from the cache. The compiled code is the same whoever
compiles it, so results do not change. The helper is stopped when ``fit`` returns; anything it
stored stays in the cache.
"""

import json
import os
import subprocess
import sys

import numpy as np


def compile_seconds():
    """Wall seconds this process has spent compiling or loading kernels (see kernels/_cache.py)."""
    from .kernels import _cache
    return _cache.compile_seconds()


def begin(model, x, batch_size, verbose, helper=True, loss=None, y=None):
    """At the start of ``fit``: on a cold cache for x's dtype, say so once on stderr (unless
    ``verbose`` is 0) and start the helper (if ``helper``; ``loss`` and the targets ``y`` let it
    compile the loss too). Returns it (or None) for :func:`end`."""
    from .kernels import _cache
    if _cache.has_entries(x.dtype):
        return None
    if verbose:
        _cache.announce_compile(x.dtype)
    if not helper:
        return None
    target = None if y is None else np.asarray(y)
    helper = start(model, x.shape[1:], x.shape[0] if batch_size is None else min(batch_size, x.shape[0]), x.dtype,
                   loss, None if target is None else (target.shape[1:], target.dtype))
    if helper is not None:
        helper.fastnet_compile_start = compile_seconds()
    return helper


def end(helper, dtype):
    """At the end of ``fit``: stop the helper; remember how long this cold run compiled (the
    estimate that the next cold run prints)."""
    if helper is None:
        return
    stop(helper)
    from .kernels import _cache
    _cache.record_compile_seconds(dtype, compile_seconds() - helper.fastnet_compile_start)


def start(model, sample_shape, batch_size, dtype, loss=None, target=None):
    """Start the helper for ``model`` trained on batches of ``(batch_size,) + sample_shape``.

    ``loss`` (a built-in :mod:`fastnet.losses` object) and ``target`` (the per-sample shape and
    dtype of the targets): the helper compiles the loss first, which the training process reaches
    last (a custom loss, or one whose config is not JSON, is left to the training process).
    Returns the process, or None where a helper would not help: one core, the cache off, or a
    layer that the helper cannot rebuild (not a built-in layer)."""
    from . import layers as layers_module
    from . import losses as losses_module
    from .kernels import _cache
    if (os.cpu_count() or 1) < 2 or not _cache.STATE.usable():
        return None
    if any(layers_module.REGISTRY.get(type(layer).__name__) is not type(layer) for layer in model.layers):
        return None
    try:
        spec = {"config": model.get_config(), "shape": [int(batch_size), *map(int, sample_shape)],
                "dtype": np.dtype(dtype).name}
        text = json.dumps(spec)
    except (TypeError, ValueError):
        return None
    if target is not None and losses_module.REGISTRY.get(type(loss).__name__) is type(loss):
        try:
            text = json.dumps(dict(spec, loss={"class": type(loss).__name__, "config": loss.get_config(),
                                               "target_shape": [int(d) for d in target[0]],
                                               "target_dtype": np.dtype(target[1]).name}))
        except (TypeError, ValueError):
            pass
    env = dict(os.environ, FASTNET_CACHE_DIR=_cache.STATE.root, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    try:
        return _popen(env, text)
    except OSError:
        return None


def _popen(env, spec):
    from ._runtime import python_command
    proc = subprocess.Popen(python_command("from fastnet._warm import main; main()"), env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        proc.stdin.write(spec)
        proc.stdin.close()
    except OSError:   # it died at start: it only cost time
        pass
    return proc


def stop(proc):
    """Stop the helper if it still runs (a kernel it was storing is written atomically)."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    """The helper: rebuild the layers; compute the loss once (zero targets: class 0, or 0.0), then
    each convolution's weight gradient alone and each layer's forward and backward, last layer
    first, putting off a task whose kernel the training process is compiling."""
    from . import layers as layers_module
    from . import losses as losses_module
    from .kernels import _cache
    spec = json.loads(sys.stdin.read())
    dtype = np.dtype(spec["dtype"])
    built = [layers_module.REGISTRY[s["class"]](**s.get("config", {})) for s in spec["config"]["layers"]]
    shapes = [tuple(spec["shape"])]
    for layer in built:
        shapes.append((shapes[0][0], *layer.output_shape(shapes[-1][1:])))
    rng = np.random.default_rng(0)
    if "loss" in spec:
        loss = losses_module.REGISTRY[spec["loss"]["class"]](**spec["loss"]["config"])
        target = np.zeros((shapes[0][0], *spec["loss"]["target_shape"]), dtype=spec["loss"]["target_dtype"])
        try:
            loss(rng.standard_normal(shapes[-1]).astype(dtype), target)
        except Exception:  # noqa: BLE001 - targets that zeros do not fit: the training process compiles it
            pass
    # The convolutions' weight gradients come first, without their forward passes: the forward
    # kernels are the ones the training process needs next, at its first convolution (run whole
    # first, the helper reached them as it did and it waited on their locks: 25 of a 33 s cold
    # first epoch of fastnet train compiled one kernel at a time). A task whose kernel the
    # training process is compiling (its lock is busy) is put off, and the next one tried; when
    # every task left is busy, wait for the first of them.
    convs = [i for i in reversed(range(len(built))) if isinstance(built[i], layers_module._ConvNd)]
    pending = [(i, True) for i in convs] + [(i, False) for i in reversed(range(len(built)))]
    while pending:
        _cache.STATE.defer_busy = True
        for i, weights_only in list(pending):
            if _run_layer(built[i], i, shapes[i], dtype, rng, weights_only):
                pending.remove((i, weights_only))
        if pending:
            _cache.STATE.defer_busy = False
            i, weights_only = pending.pop(0)
            _run_layer(built[i], i, shapes[i], dtype, rng, weights_only)


def _run_layer(layer, i, shape, dtype, rng, weights_only=False):
    """One forward and backward of ``layer`` (the input gradient unless it is the first layer), or
    with ``weights_only`` (a convolution) its parameter gradients alone, from a random input
    cached as its forward would; False where a kernel's lock was busy (see :func:`main`), True
    when done or failed otherwise."""
    from .kernels import _cache
    _cache.STATE.deferred = False
    try:
        layer.train()
        x = rng.standard_normal(shape).astype(dtype)
        if weights_only:
            y_shape = (shape[0], *layer.output_shape(shape[1:]))
            layer._cache = (x, y_shape)   # what _ConvNd.forward keeps for its backward
            layer.backward(np.ones(y_shape, dtype=dtype), input_grad=False)
        else:
            y = layer.forward(x)
            layer.backward(np.ones_like(y), input_grad=i > 0)
    except Exception:  # noqa: BLE001 - Numba wraps KernelBusy of a callee in its own errors
        return not _cache.STATE.deferred
    return True

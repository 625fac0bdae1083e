"""Loading what :meth:`fastnet.Sequential.save` writes: one versioned .npz file, architecture as JSON plus weights, checked on load."""

import json
import os
import zipfile

import numpy as np

from . import layers as layers_module

FORMAT_NAME = "fastnet.Sequential"
FORMAT_VERSION = 1
_ARCH_KEY = "__fastnet_architecture__"


def load(path):
    """Rebuild a model saved with :meth:`Sequential.save`.

    Raises
    ------
    FileNotFoundError if ``path`` does not exist; ValueError if it is not a fastnet model file, is
    corrupt or truncated, was written by a newer format version, or its weights do not match its
    architecture.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        # numpy reads only the bytes it needs and so may never reach the member's CRC check:
        # verify every member's CRC first (a flipped bit anywhere is reported, not loaded)
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad is not None:
                raise ValueError(f"CRC check failed for member {bad!r}")
        data = np.load(path, allow_pickle=False)
        if not hasattr(data, "files"):  # a bare .npy array, not an archive
            raise _NotFastnet("it is a single .npy array, not a fastnet .npz archive")
        with data:
            files = set(data.files)
            if _ARCH_KEY not in files:
                raise _NotFastnet("it has no fastnet architecture entry")
            arch = data[_ARCH_KEY]
            arrays = {k: data[k] for k in files if k != _ARCH_KEY}
    except _NotFastnet as exc:
        raise ValueError(f"{path}: not a fastnet model file: {exc}") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path}: not a fastnet model file, or corrupt/truncated "
                         f"({type(exc).__name__}: {exc})") from None
    if arch.dtype != np.uint8 or arch.ndim != 1:
        raise ValueError(f"{path}: corrupt fastnet model file: bad architecture entry")
    try:
        config = json.loads(arch.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: corrupt fastnet model file: architecture is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: not a fastnet model file (format {config.get('format') if isinstance(config, dict) else None!r})")
    version = config.get("version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{path}: corrupt fastnet model file: bad format version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path}: written in fastnet model format version {version}, this fastnet reads "
                         f"up to version {FORMAT_VERSION}; upgrade fastnet")
    layer_specs = config.get("layers")
    if not isinstance(layer_specs, list):
        raise ValueError(f"{path}: corrupt fastnet model file: no layer list")
    built = []
    for i, spec in enumerate(layer_specs):
        if not isinstance(spec, dict) or spec.get("class") not in layers_module.REGISTRY:
            name = spec.get("class") if isinstance(spec, dict) else spec
            raise ValueError(f"{path}: layer {i}: unknown layer class {name!r}")
        try:
            built.append(layers_module.REGISTRY[spec["class"]](**spec.get("config", {})))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: layer {i} ({spec['class']}): bad configuration ({exc})") from None
    from .model import Sequential
    model = Sequential(built)
    params = model.parameters()
    expected = {f"param_{i:04d}" for i in range(len(params))}
    buffers = _buffer_arrays(model.layers)
    if set(arrays) != expected | set(buffers):
        missing = sorted(set(buffers) - set(arrays))
        if missing and set(arrays) == expected | set(buffers) - set(missing):
            raise ValueError(f"{path}: the file lacks the layers' saved statistics {', '.join(missing)}")
        n_weights = len([k for k in arrays if k.startswith("param_")])
        raise ValueError(f"{path}: the file holds {n_weights} weight arrays and {len(arrays) - n_weights} "
                         f"buffers, the architecture needs {len(params)} and {len(buffers)}")
    for key, target in buffers.items():
        value = arrays[key]
        if value.shape != target.shape or value.dtype != target.dtype:
            raise ValueError(f"{path}: buffer {key} has shape {value.shape} and dtype {value.dtype}, the "
                             f"architecture needs {target.shape} {target.dtype}")
        target[...] = value
    for i, p in enumerate(params):
        w = arrays[f"param_{i:04d}"]
        if w.shape != p.value.shape or w.dtype != p.value.dtype:
            raise ValueError(f"{path}: weight {i} has shape {w.shape} and dtype {w.dtype}, the architecture "
                             f"needs {p.value.shape} {p.value.dtype}")
        p.value[...] = w
    model.eval()
    return model


class _NotFastnet(Exception):
    pass


def _buffer_arrays(layers):
    """{"buffer_LLLL_NAME": array} for every layer's non-trainable state (BatchNorm running
    statistics), keyed by layer index: saved next to the parameters, restored by ``load``."""
    arrays = {}
    for i, layer in enumerate(layers):
        buffers = getattr(layer, "buffers", None)
        if buffers is not None:
            for name, value in buffers().items():
                arrays[f"buffer_{i:04d}_{name}"] = value
    return arrays



"""Data sets and mini-batches.

* :func:`toy_sigmoid`: the lectures' two points for a single sigmoid neuron.
* :func:`load_digits`: the 1,797 8x8 handwritten digits shipped with fastnet (UCI optical digits,
  Alpaydin & Kaynak, CC BY 4.0; see ``fastnet/data/DIGITS_LICENSE.txt``), checksum-verified.
* :func:`load_idx`: a reader for MNIST-format IDX files (plain or gzip); :func:`load_mnist`: the
  four MNIST files of a folder, split as :func:`load_digits` returns its data.
* :func:`train_test_split`: a seeded (optionally stratified) split of any ``(x, y)``.
* :func:`one_hot`: class indices to one-hot rows.
* :func:`batches`: a seeded mini-batch iterator.
"""

import gzip
import hashlib
import io
import numbers
import os
import struct
from pathlib import Path

import numpy as np

from ._validate import FLOAT_DTYPES

DATA_DIR = Path(__file__).resolve().parent / "data"
DIGITS_FILE = DATA_DIR / "digits.csv.gz"
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
DIGITS_COUNT = 1797


def _float_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected float32 or float64, got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"dtype: expected float32 or float64, got {dt}")
    return dt


def toy_sigmoid(dtype=np.float64):
    """The lectures' toy data for one sigmoid neuron: X = [0.5, 2.5], Y = [0.2, 0.9].

    Returns
    -------
    x : ndarray of shape (2, 1), ``dtype`` (float64 by default)
    y : ndarray of shape (2, 1), ``dtype``
        Shaped as a batch of two one-feature samples, ready for ``Sequential([Dense(1, 1), Sigmoid()])``.
    """
    dt = _float_dtype(dtype)
    return np.array([[0.5], [2.5]], dtype=dt), np.array([[0.2], [0.9]], dtype=dt)


def _read_digits():
    try:
        raw = DIGITS_FILE.read_bytes()
    except OSError as exc:
        raise FileNotFoundError(f"the digits data file {DIGITS_FILE} is missing: reinstall fastnet ({exc})") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != DIGITS_SHA256:
        raise ValueError(f"{DIGITS_FILE}: checksum mismatch (sha256 {digest}, expected {DIGITS_SHA256}); "
                         f"the file is corrupt: reinstall fastnet")
    table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",", dtype=np.int64)
    if table.shape != (DIGITS_COUNT, 65):
        raise ValueError(f"{DIGITS_FILE}: expected a {DIGITS_COUNT} x 65 table, got {table.shape}")
    return table[:, :64], table[:, 64]


def load_digits(test_fraction=0.2, seed=0, dtype=np.float32, flatten=False):
    """The 1,797 8x8 handwritten digits (UCI optical digits), split into train and test sets.

    The split is a seeded, stratified shuffle: each digit class contributes
    ``round(test_fraction * class_count)`` samples to the test set, so both sets keep the class balance.

    Parameters
    ----------
    test_fraction : float in [0, 1), default 0.2
        Share of the samples held out for testing.
    seed : int, default 0
        Seeds the split (same seed, same split).
    dtype : float32 (default) or float64
        Dtype of the images.
    flatten : bool, default False
        Return images as (N, 64) rows instead of (N, 1, 8, 8).

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        x : ndarray of shape (N, 1, 8, 8) (or (N, 64)), ``dtype``, pixel counts 0..16 scaled to [0, 1]
        y : int64 ndarray of shape (N,), labels 0..9
    """
    dt = _float_dtype(dtype)
    _check_fraction_and_seed(test_fraction, seed)
    pixels, labels = _read_digits()
    images = (pixels / 16.0).astype(dt)
    if not flatten:
        images = images.reshape(-1, 1, 8, 8)
    return train_test_split(images, labels, test_fraction=test_fraction, seed=seed, stratify=True)


def _check_fraction_and_seed(test_fraction, seed):
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real):
        raise TypeError(f"test_fraction: expected a float in [0, 1), got {type(test_fraction).__name__}")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction: expected a float in [0, 1), got {test_fraction}")
    if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)) or seed < 0:
        raise TypeError(f"seed: expected a non-negative int, got {seed!r}")


def train_test_split(x, y, test_fraction=0.2, seed=0, stratify=False):
    """Split samples into a train and a test set by a seeded shuffle, optionally stratified.

    Unstratified: ``round(test_fraction * N)`` samples, drawn at random, form the test set.
    Stratified: each class (value of ``y``) contributes ``round(test_fraction * class_count)``
    samples, so both sets keep the class balance (the split :func:`load_digits` uses). Both sets
    are then shuffled, so classes are mixed within each.

    Parameters
    ----------
    x : ndarray of shape (N, ...)
        Samples, any dtype.
    y : ndarray of shape (N, ...)
        Targets, any dtype; with ``stratify`` a 1-D array of class labels (integers).
    test_fraction : float in [0, 1), default 0.2
    seed : int >= 0, default 0
        Same seed, same split.
    stratify : bool, default False

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        C-contiguous copies of rows of ``x`` and ``y``; every sample lands in exactly one set.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x: expected a numpy.ndarray, got {type(x).__name__}")
    if not isinstance(y, np.ndarray):
        raise TypeError(f"y: expected a numpy.ndarray, got {type(y).__name__}")
    if x.ndim < 1:
        raise ValueError("x: expected at least one axis (the samples)")
    if y.ndim < 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y: expected {x.shape[0]} samples along axis 0 (as x), got shape {y.shape}")
    _check_fraction_and_seed(test_fraction, seed)
    if not isinstance(stratify, bool):
        raise TypeError(f"stratify: expected True or False, got {stratify!r}")
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    if stratify:
        if y.ndim != 1 or y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"y: stratify=True needs a 1-D array of integer class labels, got shape {y.shape} "
                             f"and dtype {y.dtype}; for one-hot rows pass y.argmax(axis=1)")
        test_idx, train_idx = [], []
        for label in np.unique(y):
            idx = np.flatnonzero(y == label)
            idx = idx[rng.permutation(idx.size)]
            n_test = int(round(test_fraction * idx.size))
            test_idx.append(idx[:n_test])
            train_idx.append(idx[n_test:])
        train_idx = np.concatenate(train_idx) if train_idx else np.zeros(0, np.int64)
        test_idx = np.concatenate(test_idx) if test_idx else np.zeros(0, np.int64)
    else:
        order = rng.permutation(n)
        n_test = int(round(test_fraction * n))
        test_idx, train_idx = order[:n_test], order[n_test:]
    train_idx = train_idx[rng.permutation(train_idx.size)]
    test_idx = test_idx[rng.permutation(test_idx.size)]
    return ((np.ascontiguousarray(x[train_idx]), np.ascontiguousarray(y[train_idx])),
            (np.ascontiguousarray(x[test_idx]), np.ascontiguousarray(y[test_idx])))


def one_hot(labels, num_classes, dtype=np.float32):
    """Class indices to one-hot rows: ``out[..., k] = 1`` where ``labels == k``, else 0.

    Parameters
    ----------
    labels : integer ndarray of any shape (usually (N,)), each in [0, num_classes)
    num_classes : int >= 1
    dtype : float32 (default) or float64

    Returns
    -------
    ndarray of shape ``labels.shape + (num_classes,)``, ``dtype``
    """
    dt = _float_dtype(dtype)
    if isinstance(labels, (list, tuple)):
        labels = np.asarray(labels)
    if not isinstance(labels, np.ndarray):
        raise TypeError(f"labels: expected a numpy.ndarray of integer class indices, got {type(labels).__name__}")
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels: expected an integer dtype (class indices), got {labels.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (numbers.Integral, np.integer)):
        raise TypeError(f"num_classes: expected a positive int, got {type(num_classes).__name__}: {num_classes!r}")
    if num_classes < 1:
        raise ValueError(f"num_classes: expected a positive int, got {num_classes}")
    bad = np.flatnonzero((labels.reshape(-1) < 0) | (labels.reshape(-1) >= num_classes))
    if bad.size:
        i = int(bad[0])
        index = tuple(int(v) for v in np.unravel_index(i, labels.shape)) if labels.ndim != 1 else i
        raise ValueError(f"labels: expected every label in [0, {num_classes}), got {labels.reshape(-1)[i]} "
                         f"at index {index}")
    out = np.zeros(labels.shape + (int(num_classes),), dtype=dt)
    np.put_along_axis(out, labels[..., None].astype(np.intp), 1, axis=-1)
    return out


# IDX type codes (http://yann.lecun.com/exdb/mnist/): all multi-byte values are big-endian.
IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def load_idx(path):
    """Read an IDX file (the MNIST format), plain or gzip-compressed.

    Layout: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions ``ndim``, then ``ndim`` big-endian uint32
    sizes, then the data in C order, big-endian. Gzip is detected from the content, not the name.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ndarray of shape (sizes...), dtype from the type code in native byte order

    Raises
    ------
    ValueError if the file is not an IDX file, has an unknown type code, or is truncated or too long.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    if len(raw) < 4:
        raise ValueError(f"{path}: not an IDX file: only {len(raw)} bytes, the header needs at least 4")
    zero0, zero1, code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0:
        raise ValueError(f"{path}: not an IDX file: magic number {raw[:4].hex()} does not start with two zero bytes")
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X} (expected one of {known})")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, file has {len(raw)}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header
    if got < expected:
        raise ValueError(f"{path}: truncated IDX data: shape {shape} of {dtype.newbyteorder('=').name} needs "
                         f"{expected} bytes, file has {got}")
    if got > expected:
        raise ValueError(f"{path}: IDX file has {got - expected} bytes beyond the declared shape {shape}")
    data = np.frombuffer(raw, dtype=dtype, offset=header, count=expected // dtype.itemsize)
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def save_idx(path, array):
    """Write ``array`` (uint8, int8, int16, int32, float32 or float64) as an uncompressed IDX file
    (``.gz`` suffix: gzip-compressed). The inverse of :func:`load_idx`."""
    array = np.asarray(array)
    codes = {dt.newbyteorder("=").str: code for code, dt in IDX_DTYPES.items()}
    key = array.dtype.newbyteorder("=").str
    if key not in codes:
        raise TypeError(f"array: dtype {array.dtype} has no IDX type code")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"array: expected 1 to 255 dimensions, got {array.ndim}")
    code = codes[key]
    raw = (bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
           + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes())
    if str(path).endswith(".gz"):
        raw = gzip.compress(raw)
    with open(path, "wb") as f:
        f.write(raw)


MNIST_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
               "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def _mnist_file(folder, name):
    for candidate in (folder / name, folder / (name + ".gz")):
        if candidate.is_file():
            return candidate
    present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    listing = ", ".join(present[:8]) + (", ..." if len(present) > 8 else "") if present else "nothing"
    raise FileNotFoundError(
        f"load_mnist: {name} (or {name}.gz) is missing in {folder} (the folder holds {listing}); "
        f"the folder needs the four MNIST files {', '.join(MNIST_FILES.values())}, each plain or gzip, "
        f"as published (e.g. by the MNIST mirrors or torchvision's MNIST/raw folder)")


def load_mnist(folder, dtype=np.float32, flatten=False):
    """Read MNIST (or a dataset in its format, e.g. Fashion-MNIST) from the four standard IDX files.

    ``folder`` must hold ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each plain or with a ``.gz``
    suffix (gzip). Nothing is downloaded. The split is the published one (60,000 / 10,000 for
    MNIST), in file order.

    Parameters
    ----------
    folder : str or os.PathLike
    dtype : float32 (default) or float64
        Dtype of the images.
    flatten : bool, default False
        Return images as (N, H*W) rows instead of (N, 1, H, W).

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        as :func:`load_digits`: x : ndarray of shape (N, 1, 28, 28) (or (N, 784)), ``dtype``, pixels
        0..255 scaled to [0, 1]; y : int64 ndarray of shape (N,), labels 0..9

    Raises
    ------
    FileNotFoundError naming the first missing file; ValueError if a file is not uint8 IDX of the
    expected rank, or images and labels disagree in count.
    """
    dt = _float_dtype(dtype)
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder: expected a str or os.PathLike, got {type(folder).__name__}")
    if not isinstance(flatten, bool):
        raise TypeError(f"flatten: expected True or False, got {flatten!r}")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"load_mnist: {folder} is not a folder; pass the folder that holds the four "
                                f"MNIST files {', '.join(MNIST_FILES.values())}")
    paths = {key: _mnist_file(folder, name) for key, name in MNIST_FILES.items()}
    out = []
    for part in ("train", "test"):
        images_path, labels_path = paths[f"{part}_images"], paths[f"{part}_labels"]
        images, labels = load_idx(images_path), load_idx(labels_path)
        if images.dtype != np.uint8 or images.ndim != 3:
            raise ValueError(f"{images_path}: expected uint8 images of shape (N, rows, cols), got {images.dtype} "
                             f"of shape {images.shape}")
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise ValueError(f"{labels_path}: expected uint8 labels of shape (N,), got {labels.dtype} "
                             f"of shape {labels.shape}")
        if labels.shape[0] != images.shape[0]:
            raise ValueError(f"{labels_path}: {labels.shape[0]} labels for {images.shape[0]} images in "
                             f"{images_path.name}")
        x = (images / np.float64(255)).astype(dt)
        x = x.reshape(x.shape[0], -1) if flatten else x.reshape(x.shape[0], 1, *x.shape[1:])
        out.append((np.ascontiguousarray(x), labels.astype(np.int64)))
    return tuple(out)


def batches(x, y=None, batch_size=32, shuffle=False, seed=None):
    """Iterate over mini-batches of ``x`` (and ``y``), in order or in a seeded random order.

    Parameters
    ----------
    x : ndarray of shape (N, ...)
    y : ndarray of shape (N, ...), optional
    batch_size : int >= 1, or None for one full batch
        The last batch holds the remainder (it may be smaller).
    shuffle : bool, default False
    seed : int, numpy.random.Generator or None
        Seeds the shuffle (same seed, same order). Ignored without ``shuffle``.

    Yields
    ------
    (x_batch, y_batch) if ``y`` is given, else x_batch; contiguous copies when shuffled, views otherwise.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x: expected a numpy.ndarray, got {type(x).__name__}")
    if x.ndim < 1:
        raise ValueError("x: expected at least one axis (the samples)")
    n = x.shape[0]
    if y is not None:
        if not isinstance(y, np.ndarray):
            raise TypeError(f"y: expected a numpy.ndarray, got {type(y).__name__}")
        if y.ndim < 1 or y.shape[0] != n:
            raise ValueError(f"y: expected {n} samples along axis 0 (as x), got shape {y.shape}")
    if batch_size is None:
        batch_size = max(n, 1)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (numbers.Integral, np.integer)):
        raise TypeError(f"batch_size: expected a positive int or None, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size}")
    batch_size = int(batch_size)
    if shuffle:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        order = rng.permutation(n)
    for start in range(0, n, batch_size):
        if shuffle:
            idx = order[start:start + batch_size]
            xb = x[idx]
            yb = None if y is None else y[idx]
        else:
            xb = x[start:start + batch_size]
            yb = None if y is None else y[start:start + batch_size]
        yield xb if y is None else (xb, yb)


__all__ = ["toy_sigmoid", "load_digits", "load_idx", "save_idx", "load_mnist", "train_test_split", "one_hot",
           "batches"]

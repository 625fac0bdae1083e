"""train_test_split, one_hot and load_mnist (tiny IDX files written in tmp_path, gz and plain)."""

import gzip

import numpy as np
import pytest

from fastnet import datasets


def _data(n=50, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)      # row i holds 2i, 2i + 1: traceable
    y = rng.integers(0, classes, n)
    return x, y


@pytest.mark.parametrize("stratify", [False, True])
@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.5, 0.9])
def test_split_is_a_partition(fraction, stratify):
    x, y = _data()
    (x_train, y_train), (x_test, y_test) = datasets.train_test_split(x, y, fraction, seed=3, stratify=stratify)
    rows = np.concatenate([x_train[:, 0], x_test[:, 0]]) / 2
    np.testing.assert_array_equal(np.sort(rows), np.arange(50))          # every sample exactly once
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]), y[rows.astype(int)])  # aligned
    assert x_train.dtype == x.dtype and y_test.dtype == y.dtype and x_train.flags.c_contiguous
    if stratify:
        counts = np.bincount(y, minlength=3)
        np.testing.assert_array_equal(np.bincount(y_test, minlength=3), np.round(fraction * counts).astype(int))
    else:
        assert len(x_test) == round(fraction * 50)


def test_split_seeded_and_shuffled():
    x, y = _data()
    a = datasets.train_test_split(x, y, seed=1)
    b = datasets.train_test_split(x, y, seed=1)
    c = datasets.train_test_split(x, y, seed=2)
    np.testing.assert_array_equal(a[1][0], b[1][0])
    assert not np.array_equal(a[1][0], c[1][0])
    assert not np.all(np.diff(a[0][0][:, 0]) > 0)          # not left in file order


def test_load_digits_split_unchanged_by_the_refactor():
    """load_digits now splits with train_test_split(stratify=True); the digest was taken from the
    split of the earlier, inline implementation: the same seed must still give the same sets."""
    import hashlib
    (a, ya), (b, yb) = datasets.load_digits(seed=0)
    digest = hashlib.sha256(ya.tobytes() + yb.tobytes() + a.tobytes() + b.tobytes()).hexdigest()
    assert digest == "cfb7499ea9bb453c9bbe5609e01df03a063f2704326dd25a707789e7f59b18db"


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(x=[1, 2], y=np.zeros(2)), TypeError, "x: expected a numpy.ndarray"),
    (dict(y=np.zeros(3)), ValueError, r"y: expected 50 samples along axis 0 \(as x\), got shape \(3,\)"),
    (dict(test_fraction=1.0), ValueError, r"test_fraction: expected a float in \[0, 1\), got 1.0"),
    (dict(test_fraction="0.2"), TypeError, "test_fraction"),
    (dict(seed=-1), TypeError, "seed"),
    (dict(stratify=1), TypeError, "stratify"),
    (dict(y=np.eye(50, 3), stratify=True), ValueError, r"integer class labels.*y.argmax\(axis=1\)"),
])
def test_split_errors(kwargs, exc, match):
    x, y = _data()
    args = dict(x=x, y=y)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        datasets.train_test_split(**args)


def test_one_hot():
    out = datasets.one_hot(np.array([2, 0, 1, 2]), 4)
    assert out.shape == (4, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out, np.eye(4, dtype=np.float32)[[2, 0, 1, 2]])
    np.testing.assert_array_equal(out.argmax(1), [2, 0, 1, 2])
    grid = datasets.one_hot(np.array([[1, 0], [0, 1]], np.uint8), 2, dtype=np.float64)
    assert grid.shape == (2, 2, 2) and grid.dtype == np.float64 and grid[0, 0, 1] == 1 and grid.sum() == 4


@pytest.mark.parametrize("args, exc, match", [
    ((np.array([0, 3]), 3), ValueError, r"labels: expected every label in \[0, 3\), got 3 at index 1"),
    ((np.array([[0, 1], [-1, 0]]), 3), ValueError, r"got -1 at index \(1, 0\)"),
    ((np.array([0.0, 1.0]), 3), TypeError, r"integer dtype \(class indices\), got float64"),
    ((np.array([0, 1]), 0), ValueError, "num_classes"),
    ((np.array([0, 1]), 2.0), TypeError, "num_classes"),
    ((5, 3), TypeError, "labels: expected a numpy.ndarray"),
])
def test_one_hot_errors(args, exc, match):
    with pytest.raises(exc, match=match):
        datasets.one_hot(*args)


def _write_mnist(folder, gz, n_train=5, n_test=3, rows=4, cols=3, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, rows, cols), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, rows, cols), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for i, (name, array) in enumerate(arrays.items()):
        use_gz = gz if isinstance(gz, bool) else i % 2 == 0     # "mixed": some gz, some plain
        datasets.save_idx(folder / (name + (".gz" if use_gz else "")), array)
    return arrays


@pytest.mark.parametrize("gz", [False, True, "mixed"])
def test_load_mnist(tmp_path, gz):
    arrays = _write_mnist(tmp_path, gz)
    if gz is True:
        with open(tmp_path / "train-images-idx3-ubyte.gz", "rb") as f:
            assert f.read(2) == b"\x1f\x8b"
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist(tmp_path)
    assert x_train.shape == (5, 1, 4, 3) and x_test.shape == (3, 1, 4, 3)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64 and y_test.shape == (3,)
    np.testing.assert_array_equal(x_train[:, 0] * np.float32(255), arrays["train-images-idx3-ubyte"].astype(np.float32))
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])
    flat = datasets.load_mnist(str(tmp_path), dtype=np.float64, flatten=True)
    assert flat[0][0].shape == (5, 12) and flat[0][0].dtype == np.float64
    assert 0.0 <= flat[1][0].min() and flat[1][0].max() <= 1.0


def test_load_mnist_missing_file_is_named(tmp_path):
    _write_mnist(tmp_path, True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte \(or t10k-labels-idx1-ubyte.gz\) is missing"):
        datasets.load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        datasets.load_mnist(tmp_path / "nowhere")


def test_load_mnist_bad_contents(tmp_path):
    _write_mnist(tmp_path, False, n_train=5)
    datasets.save_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="4 labels for 5 images"):
        datasets.load_mnist(tmp_path)
    datasets.save_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros((5, 1), np.uint8))
    with pytest.raises(ValueError, match=r"expected uint8 labels of shape \(N,\)"):
        datasets.load_mnist(tmp_path)
    datasets.save_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((5, 4, 3), np.float32))
    with pytest.raises(ValueError, match="expected uint8 images"):
        datasets.load_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(gzip.compress(b"\x00\x00\x08"))
    with pytest.raises(ValueError, match="not an IDX file"):
        datasets.load_mnist(tmp_path)
    with pytest.raises(TypeError, match="folder"):
        datasets.load_mnist(3)

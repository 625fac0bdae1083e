"""Data: the toy points, the shipped digits (checksum, split), the IDX reader and mini-batches."""

import gzip
import shutil

import numpy as np
import pytest

from fastnet import datasets


def test_toy_sigmoid():
    x, y = datasets.toy_sigmoid()
    assert x.shape == (2, 1) and y.shape == (2, 1)
    assert x.dtype == np.float64 and y.dtype == np.float64
    np.testing.assert_array_equal(x[:, 0], [0.5, 2.5])
    np.testing.assert_array_equal(y[:, 0], [0.2, 0.9])
    assert datasets.toy_sigmoid(np.float32)[0].dtype == np.float32


@pytest.fixture(scope="module")
def digits():
    return datasets.load_digits(test_fraction=0.2, seed=0)


def test_load_digits_shapes_and_ranges(digits):
    (x_train, y_train), (x_test, y_test) = digits
    assert x_train.shape == (1438, 1, 8, 8) and x_test.shape == (359, 1, 8, 8)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert y_test.shape == (359,) and y_test.dtype == np.int64
    assert x_train.flags.c_contiguous
    for x in (x_train, x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    # pixel counts are multiples of 1/16
    np.testing.assert_array_equal(x_train * 16, np.round(x_train * 16))
    assert set(np.unique(y_train)) == set(range(10))


def test_load_digits_split_is_stratified_disjoint_and_complete(digits):
    (x_train, y_train), (x_test, y_test) = digits
    counts = np.bincount(np.concatenate([y_train, y_test]))
    # the known class sizes of the UCI optical digits test set
    np.testing.assert_array_equal(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    np.testing.assert_array_equal(np.bincount(y_test), np.round(0.2 * counts).astype(int))
    rows = {r.tobytes() + bytes([l]) for r, l in zip(x_train.reshape(len(x_train), -1), y_train)}
    # the UCI file has a few exact duplicate images; the split itself never repeats a row index,
    # so the total of distinct (image, label) pairs cannot exceed the sample count
    both = rows | {r.tobytes() + bytes([l]) for r, l in zip(x_test.reshape(len(x_test), -1), y_test)}
    assert len(both) <= 1797 and len(x_train) + len(x_test) == 1797


def test_load_digits_seeded(digits):
    (a, ya), _ = digits
    (b, yb), _ = datasets.load_digits(seed=0)
    (c, yc), _ = datasets.load_digits(seed=1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(ya, yc)


def test_load_digits_options():
    (x, y), (xt, yt) = datasets.load_digits(test_fraction=0.5, dtype=np.float64, flatten=True)
    assert x.shape[1:] == (64,) and x.dtype == np.float64
    assert abs(len(xt) - 1797 / 2) < 10
    (x, y), (xt, yt) = datasets.load_digits(test_fraction=0.0)
    assert len(x) == 1797 and len(xt) == 0


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(test_fraction=1.0), ValueError, "test_fraction"),
    (dict(test_fraction=-0.1), ValueError, "test_fraction"),
    (dict(test_fraction="half"), TypeError, "test_fraction"),
    (dict(dtype=np.int32), ValueError, "dtype"),
    (dict(seed=-1), TypeError, "seed"),
])
def test_load_digits_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        datasets.load_digits(**kwargs)


def test_digits_checksum_verified(tmp_path, monkeypatch):
    bad = tmp_path / "digits.csv.gz"
    shutil.copy(datasets.DIGITS_FILE, bad)
    raw = bytearray(bad.read_bytes())
    raw[1000] ^= 0xFF
    bad.write_bytes(bytes(raw))
    monkeypatch.setattr(datasets, "DIGITS_FILE", bad)
    with pytest.raises(ValueError, match="checksum"):
        datasets.load_digits()
    monkeypatch.setattr(datasets, "DIGITS_FILE", tmp_path / "missing.csv.gz")
    with pytest.raises(FileNotFoundError, match="missing"):
        datasets.load_digits()


def test_digits_attribution_shipped():
    text = (datasets.DATA_DIR / "DIGITS_LICENSE.txt").read_text()
    assert "Alpaydin" in text and "CC BY 4.0" in text and datasets.DIGITS_SHA256 in text


# ---- IDX ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, dtype, gz):
    r = np.random.default_rng(0)
    a = (r.standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    datasets.save_idx(path, a)
    b = datasets.load_idx(path)
    assert b.shape == a.shape and b.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(a, b)


def test_idx_mnist_style_bytes(tmp_path):
    # written by hand: MNIST labels header 0x00000801, count 3
    path = tmp_path / "labels"
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    np.testing.assert_array_equal(datasets.load_idx(path), [7, 2, 1])
    # images: 0x00000803, 2 x 2 x 2, and gzip detected from content, whatever the name
    raw = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]) + bytes(range(8))
    gz = tmp_path / "images.bin"
    gz.write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(datasets.load_idx(gz), np.arange(8).reshape(2, 2, 2))
    # big-endian int32
    path.write_bytes(bytes([0, 0, 0x0C, 1, 0, 0, 0, 2, 0, 0, 1, 0, 0xFF, 0xFF, 0xFF, 0xFF]))
    np.testing.assert_array_equal(datasets.load_idx(path), [256, -1])


@pytest.mark.parametrize("raw,match", [
    (b"", "header"),
    (b"\x00\x00", "header"),
    (b"PK\x03\x04" + bytes(20), "magic"),
    (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 0]), "type code"),
    (bytes([0, 0, 8, 0]), "0 dimensions"),
    (bytes([0, 0, 8, 2, 0, 0, 0, 2]), "truncated IDX header"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]), "truncated IDX data"),
    (bytes([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0]), "truncated IDX data"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 1, 1, 2]), "beyond"),
])
def test_idx_bad_files(tmp_path, raw, match):
    path = tmp_path / "bad.idx"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=match):
        datasets.load_idx(path)


def test_idx_truncated_gzip(tmp_path):
    path = tmp_path / "bad.idx.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 100]) + bytes(100))[:-12])
    with pytest.raises(ValueError, match="gzip"):
        datasets.load_idx(path)


def test_idx_argument_errors(tmp_path):
    with pytest.raises(TypeError, match="path"):
        datasets.load_idx(42)
    with pytest.raises(FileNotFoundError):
        datasets.load_idx(tmp_path / "nope")
    with pytest.raises(TypeError, match="IDX type code"):
        datasets.save_idx(tmp_path / "x", np.zeros(3, np.uint16))


# ---- batches --------------------------------------------------------------------------------------


def test_batches_in_order():
    x = np.arange(10).reshape(10, 1)
    y = np.arange(10) * 10
    got = list(datasets.batches(x, y, batch_size=4))
    assert [len(b[0]) for b in got] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in got])[:, 0], np.arange(10))
    np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), y)
    whole = list(datasets.batches(x, y, batch_size=None))
    assert len(whole) == 1 and len(whole[0][0]) == 10
    assert len(list(datasets.batches(x, batch_size=3))) == 4


def test_batches_shuffled_seeded_and_aligned():
    x = np.arange(20).reshape(20, 1).astype(np.float32)
    y = np.arange(20)
    a = [yb for _, yb in datasets.batches(x, y, 6, shuffle=True, seed=3)]
    b = [yb for _, yb in datasets.batches(x, y, 6, shuffle=True, seed=3)]
    c = [yb for _, yb in datasets.batches(x, y, 6, shuffle=True, seed=4)]
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not all(np.array_equal(p, q) for p, q in zip(a, c))
    assert sorted(np.concatenate(a)) == list(range(20))
    assert not np.array_equal(np.concatenate(a), np.arange(20))
    for xb, yb in datasets.batches(x, y, 6, shuffle=True, seed=3):
        np.testing.assert_array_equal(xb[:, 0], yb)  # rows stay paired


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(x=np.zeros((4, 2)), y=np.zeros(3), batch_size=2), ValueError, "y"),
    (dict(x=np.zeros((4, 2)), y=None, batch_size=0), ValueError, "batch_size"),
    (dict(x=np.zeros((4, 2)), y=None, batch_size=2.0), TypeError, "batch_size"),
    (dict(x=[1, 2], y=None, batch_size=1), TypeError, "x"),
])
def test_batches_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        list(datasets.batches(**kwargs))

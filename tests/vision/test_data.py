"""Loaders (digits, IDX incl. gzip, Fashion-MNIST folder layout, CSV), forget splits, and bad input."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from obliviate.errors import DataError
from obliviate.vision import forget_split, load_csv, load_digits, load_fashion_mnist, read_idx, unlearn
from obliviate.vision.data import FASHION_MNIST_DIR


def _idx_bytes(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def test_read_idx_plain_and_gzip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a-idx3-ubyte").write_bytes(_idx_bytes(images, 0x08))
    with gzip.open(tmp_path / "b-idx3-ubyte.gz", "wb") as f:
        f.write(_idx_bytes(images, 0x08))
    ints = np.array([1, -2, 300], dtype=">i4")
    (tmp_path / "c").write_bytes(_idx_bytes(ints, 0x0C))
    np.testing.assert_array_equal(read_idx(tmp_path / "a-idx3-ubyte"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "b-idx3-ubyte.gz"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "c"), [1, -2, 300])


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(DataError, match="bad magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(_idx_bytes(np.zeros(4, np.uint8), 0x08)[:-1])
    with pytest.raises(DataError, match="payload size"):
        read_idx(tmp_path / "short")
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent")


def test_fashion_mnist_folder_layout(tmp_path):
    """Four gzipped IDX files named as Debian installs them: 20 train and 10 test images of 28×28."""
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 20), ("t10k", 10)):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        with gzip.open(tmp_path / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(_idx_bytes(imgs, 0x08))
        with gzip.open(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(_idx_bytes((np.arange(n) % 10).astype(np.uint8), 0x08))
    d = load_fashion_mnist(tmp_path)
    assert d.x_train.shape == (20, 1, 28, 28) and d.x_test.shape == (10, 1, 28, 28) and d.num_classes == 10
    assert 0.0 <= float(d.x_train.min()) and float(d.x_train.max()) <= 1.0


@pytest.mark.skipif(not FASHION_MNIST_DIR.exists(), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist_subsample():
    d = load_fashion_mnist(train_limit=500, test_limit=100)
    assert d.x_train.shape == (500, 1, 28, 28) and len(d.y_test) == 100
    assert torch.bincount(d.y_train).tolist() == [50] * 10


def test_digits_shapes():
    d = load_digits()
    assert d.x_train.shape == (1437, 1, 8, 8) and d.x_test.shape == (360, 1, 8, 8)
    assert d.num_classes == 10 and float(d.x_train.max()) <= 1.0


def test_csv_string_labels_and_standardised(tmp_path):
    rows = ["a,b,kind"] + [f"{i},{i % 3},{'cat' if i % 2 else 'dog'}" for i in range(20)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    d = load_csv(tmp_path / "t.csv", "kind")
    assert d.classes == ("cat", "dog") and d.input_shape == (2,)
    assert len(d.y_train) == 16 and len(d.y_test) == 4
    torch.testing.assert_close(d.x_train.mean(0), torch.zeros(2), atol=1e-5, rtol=0)


def test_csv_errors(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,y\n1,x,0\n2,y,1\n")
    with pytest.raises(DataError, match="field 'nope'.*columns: a, b, y"):
        load_csv(tmp_path / "t.csv", "nope")
    with pytest.raises(DataError, match="field 'b'.*numeric"):
        load_csv(tmp_path / "t.csv", "y")
    (tmp_path / "n.csv").write_text("a,y\n1,0\n,1\n3,0\n")
    with pytest.raises(DataError, match="n.csv:3: field 'a': missing value"):
        load_csv(tmp_path / "n.csv", "y")


def test_forget_split_random_and_class():
    y = torch.arange(100) % 10
    f, r = forget_split(y, "random", 10, fraction=0.1, seed=0)
    assert len(f) == 10 and len(r) == 90 and not set(f.tolist()) & set(r.tolist())
    f2, _ = forget_split(y, "random", 10, fraction=0.1, seed=0)
    assert torch.equal(f, f2)
    fc, rc = forget_split(y, "class", 10, forget_class=3)
    assert (y[fc] == 3).all() and (y[rc] != 3).all() and len(fc) == 10


def test_forget_class_without_samples():
    y = torch.tensor([0, 1, 1, 0])
    with pytest.raises(DataError, match="forget class has no training samples"):
        forget_split(y, "class", 3, forget_class=2)
    with pytest.raises(DataError, match="outside the label range"):
        forget_split(y, "class", 3, forget_class=5)


def test_empty_forget_set(tiny):
    model, _, retain = tiny
    empty = TensorDataset(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
    with pytest.raises(DataError, match="forget set is empty"):
        unlearn(model, empty, retain, "ft")
    with pytest.raises(DataError, match="forget set is empty"):
        forget_split(torch.arange(5), "random", 5, fraction=0.05)


def test_labels_out_of_range(tiny):
    """The tiny model has 3 outputs: a label 7 in the forget set is an error, named, before any training on it."""
    model, _, retain = tiny
    bad = TensorDataset(torch.zeros(4, 4), torch.tensor([0, 1, 7, 2]))
    for method in ("ga", "salun"):
        with pytest.raises(DataError, match=r"forget labels.*label outside \[0, 3\).*got 7"):
            unlearn(model, bad, retain, method)

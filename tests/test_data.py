import gzip
import struct

import numpy as np
import pytest
import torch

from flatenn import data


def write_idx(path, arr):
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def fake_fashion(root, n_train=40, n_test=10, raw_layout=False):
    folder = root / "FashionMNIST" / "raw" if raw_layout else root
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        arrays[part] = (rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n))
        write_idx(folder / f"{part}-images-idx3-ubyte.gz", arrays[part][0])
        write_idx(folder / f"{part}-labels-idx1-ubyte.gz", arrays[part][1])
    return arrays


@pytest.mark.parametrize("raw_layout", [False, True])
def test_fashion_mnist_from_idx_files(tmp_path, raw_layout):
    arrays = fake_fashion(tmp_path, raw_layout=raw_layout)
    train, test = data.load_fashion_mnist(tmp_path)
    assert train.x.shape == (40, 1, 28, 28) and train.x.dtype == torch.uint8
    assert np.array_equal(test.x[:, 0].numpy(), arrays["t10k"][0])
    assert np.array_equal(train.y.numpy(), arrays["train"][1])


def test_truncated_idx_is_an_error(tmp_path):
    with gzip.open(tmp_path / "x.gz", "wb") as f:
        f.write(struct.pack(">HBB", 0, 8, 1) + struct.pack(">I", 10) + b"\x01\x02")
    with pytest.raises(data.DataError, match="truncated"):
        data.read_idx(tmp_path / "x.gz")


def test_missing_fashion_names_the_key(tmp_path):
    with pytest.raises(data.DataError, match="^dataset.root: no train-images"):
        data.load("fashion_mnist", str(tmp_path), val_size=5)


def test_seeded_split_and_subsets(tmp_path):
    fake_fashion(tmp_path)
    a = data.load("fashion_mnist", str(tmp_path), val_size=10, seed=3, train_subset=20, test_subset=4)
    b = data.load("fashion_mnist", str(tmp_path), val_size=10, seed=3, train_subset=20, test_subset=4)
    c = data.load("fashion_mnist", str(tmp_path), val_size=10, seed=4)
    assert (len(a.train), len(a.val), len(a.test)) == (20, 10, 4)
    assert torch.equal(a.val.x, b.val.x) and not torch.equal(a.val.x, c.val.x)
    path = tmp_path / "d.pt"
    data.save(a, path)
    back = data.read(path)
    assert torch.equal(back.train.x, a.train.x) and back.shape == (1, 28, 28)


def test_cifar10_path_on_generated_files(tmp_path):
    data.write_fake_cifar10(tmp_path, n_train=6, n_test=4)
    ds = data.load("cifar10", str(tmp_path), val_size=5)
    assert ds.shape == (3, 32, 32) and len(ds.train) == 25 and len(ds.test) == 4
    with pytest.raises(data.DataError, match="^dataset.root"):
        data.load("cifar10", str(tmp_path / "none"), val_size=5)


def test_digits():
    ds = data.load("digits", val_size=100)
    assert ds.shape == (1, 8, 8) and int(ds.train.x.max()) == 255
    assert len(ds.train) + len(ds.val) + len(ds.test) == 1797

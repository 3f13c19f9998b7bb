"""Datasets as in-memory tensors and seeded splits.

Every dataset is returned as uint8 images (N, C, H, W) and int64 labels; models scale to
[0, 1] themselves, so the tensors stay small and the input quantization is exact.
"""
from __future__ import annotations

import gzip
import pickle
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from flatenn import registry
from flatenn.catalog import NUM_CLASSES

FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

from flatenn.io import DataError  # noqa: E402  (a dataset is missing or malformed; the message says where)


@dataclass
class Split:
    x: torch.Tensor  # uint8, (N, C, H, W)
    y: torch.Tensor  # int64, (N,)

    def __len__(self) -> int:
        return len(self.y)

    def head(self, n: int | None) -> "Split":
        # clone: a saved view would drag the whole storage into the file
        return self if n is None else Split(self.x[:n].clone(), self.y[:n].clone())


@dataclass
class Dataset:
    name: str
    train: Split
    val: Split
    test: Split

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return NUM_CLASSES[self.name]

    def to_dict(self) -> dict:
        return {"name": self.name, **{k: {"x": getattr(self, k).x, "y": getattr(self, k).y}
                                      for k in ("train", "val", "test")}}

    @classmethod
    def from_dict(cls, d: dict) -> "Dataset":
        return cls(d["name"], *(Split(d[k]["x"], d[k]["y"]) for k in ("train", "val", "test")))


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: damaged or truncated file ({str(e).splitlines()[0][:100]})") from None
    if len(data) < 4 or data[0:2] != b"\x00\x00" or data[2] != 0x08 or not 1 <= data[3] <= 4:
        raise DataError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise DataError(f"{path}: truncated IDX file ({arr.size} of {int(np.prod(dims))} values)")
    return arr.reshape(dims)


def _find_idx(root: Path, stem: str) -> Path:
    # The Debian package keeps the files flat; torchvision keeps them in FashionMNIST/raw/.
    for folder in (root, root / "FashionMNIST" / "raw"):
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                return folder / name
    raise DataError(
        f"dataset.root: no {stem}[.gz] under {root} or {root}/FashionMNIST/raw; install it with "
        f"'apt-get install dataset-fashion-mnist' or set dataset.root to a torchvision data root")


def load_fashion_mnist(root: str | Path) -> tuple[Split, Split]:
    root = Path(root)
    out = []
    for part in ("train", "test"):
        (ipath, images), (lpath, labels) = ((p, read_idx(p)) for p in (_find_idx(root, s) for s in FASHION_FILES[part]))
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{ipath}: expected 28x28 images, got shape {images.shape}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(f"{lpath}: expected {len(images)} labels, got shape {labels.shape}")
        if labels.max(initial=0) >= NUM_CLASSES["fashion_mnist"]:
            raise DataError(f"{lpath}: label {int(labels.max())} outside the 10 classes")
        out.append(Split(torch.from_numpy(images.copy()).unsqueeze(1),
                         torch.from_numpy(labels.astype(np.int64))))
    return out[0], out[1]


def load_digits_dataset(test_fraction: float = 0.2, seed: int = 0) -> tuple[Split, Split]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(np.round(d.images * (255 / 16)).astype(np.uint8)).unsqueeze(1)
    y = torch.from_numpy(d.target.astype(np.int64))
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(test_fraction * len(y)))
    return Split(x[perm[n_test:]], y[perm[n_test:]]), Split(x[perm[:n_test]], y[perm[:n_test]])


def fashion_mnist_source(root, seed):
    return load_fashion_mnist(root)


def digits_source(root, seed):
    return load_digits_dataset(seed=seed)


def cifar10_source(root, seed):
    return load_cifar10(root)


def load_cifar10(root: str | Path) -> tuple[Split, Split]:
    """CIFAR-10 from torchvision's layout (root/cifar-10-batches-py), never downloaded.

    The python batches are read directly (the same pickles torchvision reads), so no
    checksum list ties the loader to one copy of the files.
    """
    folder = Path(root) / "cifar-10-batches-py"
    if not folder.is_dir():
        raise DataError(f"dataset.root: no cifar-10-batches-py under {root}; download CIFAR-10 "
                        f"with torchvision once and point dataset.root at its root")
    out = []
    for names in ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"]):
        xs, ys = [], []
        for name in names:
            batch = _load_cifar_batch(folder / name)
            xs.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.extend(batch["labels"])
        out.append(Split(torch.from_numpy(np.concatenate(xs)), torch.tensor(ys, dtype=torch.int64)))
    return out[0], out[1]


class _ArraysOnly(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a data file can never run code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused {module}.{name}")
        return super().find_class(module, name)


def _load_cifar_batch(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            batch = _ArraysOnly(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, AttributeError) as e:
        raise DataError(f"{path}: not a CIFAR-10 batch ({str(e).splitlines()[0][:100]})") from None
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise DataError(f"{path}: not a CIFAR-10 batch (missing data or labels)")
    data = np.asarray(batch["data"])
    if data.ndim != 2 or data.shape[1] != 3072 or len(batch["labels"]) != len(data):
        raise DataError(f"{path}: not a CIFAR-10 batch (data of shape {data.shape}, {len(batch['labels'])} labels)")
    return batch


def load(name: str, root: str | None = None, *, val_size: int, seed: int = 0,
         train_subset: int | None = None, test_subset: int | None = None) -> Dataset:
    """Load a registered dataset (flatenn.registry), split a seeded validation set off the training
    set, optionally subset."""
    try:
        source = registry.dataset(name)
    except ValueError as e:
        raise DataError(str(e)) from None
    if root is None and source.needs_root:
        raise DataError(f"dataset.root: {name} needs the path of its data")
    train, test = source.load(root or source.default_root, seed)
    for part, split in (("train", train), ("test", test)):
        if (split.x.dtype != torch.uint8 or tuple(split.x.shape[1:]) != tuple(source.shape)
                or tuple(split.y.shape) != (len(split.x),) or split.y.dtype != torch.int64):
            raise DataError(f"dataset {name}: its {part} split is not uint8 images of shape {tuple(source.shape)} "
                            "with one label each")
        if len(split.y) and not 0 <= int(split.y.min()) <= int(split.y.max()) < source.num_classes:
            raise DataError(f"dataset {name}: labels outside its {source.num_classes} classes in its {part} split")
    if val_size >= len(train):
        raise DataError(f"dataset.val_size: {val_size} leaves no training data ({len(train)} images)")
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    if train_subset is not None:
        train_idx = train_idx[:train_subset]
    return Dataset(name, Split(train.x[train_idx], train.y[train_idx]),
                   Split(train.x[val_idx], train.y[val_idx]), test.head(test_subset))


def save(ds: Dataset, path: str | Path) -> None:
    from flatenn.io import atomic_torch_save

    atomic_torch_save(ds.to_dict(), path)


def read(path: str | Path) -> Dataset:
    """A dataset file written by ``save``; never runs code from it."""
    from flatenn.io import safe_torch_load

    d = safe_torch_load(path, "dataset file", keys=("name", "train", "val", "test"))
    try:
        ds = Dataset.from_dict(d)
        for part in ("train", "val", "test"):
            s = getattr(ds, part)
            if s.x.dtype != torch.uint8 or s.x.dim() != 4 or s.y.dim() != 1 or len(s.x) != len(s.y):
                raise DataError(f"{path}: {part} split is not uint8 images (N, C, H, W) with N labels")
        if ds.name not in NUM_CLASSES:
            raise DataError(f"{path}: unknown dataset name {ds.name!r}")
    except (KeyError, TypeError, AttributeError) as e:
        raise DataError(f"{path}: not a dataset file ({e})") from None
    return ds


def write_fake_cifar10(root: str | Path, n_train: int = 50, n_test: int = 20, seed: int = 0) -> None:
    """Write a tiny random dataset in CIFAR-10's python layout (for tests of that path)."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else n_train
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, n).tolist()}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)

"""Damaged or hostile inputs: one line on stderr, exit status 2, no output, and no code run."""
import gzip
import json
import pathlib
import pickle
import struct

import numpy as np
import pytest
import torch

from flatenn import cli, data, models

Q = {"weight_bits": 8, "act_bits": 8, "quantize_first_last": True}
TRAIN = {"dataset": {"name": "digits"}, "quant": Q, "variant": {"threshold": 0.0, "alpha": 0.0, "penalty": "l1"},
         "training": {"epochs": 1, "batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0,
                      "warmup_steps": 0, "ramp_epochs": 1, "rho": 0.0, "augment": False}, "device": "cpu"}
EVAL = {"evaluate": {"batch_size": 64}, "device": "cpu"}
DATASET = {"name": "fashion_mnist", "root": None, "val_size": 10, "train_subset": None, "test_subset": None,
           "split_seed": 0}


class Payload:
    """Unpickling this creates a file: proof that a loader ran code."""

    def __init__(self, marker):
        self.marker = pathlib.Path(marker)

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def write_idx(path, arr, gz=True):
    raw = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape) + arr.astype(
        np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def fashion(root, images=None, labels=None, n=20):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for part in ("train", "t10k"):
        write_idx(root / f"{part}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)) if images is None else images)
        write_idx(root / f"{part}-labels-idx1-ubyte.gz", rng.integers(0, 10, n) if labels is None else labels)
    return root


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A real dataset file and model file to damage."""
    d = tmp_path_factory.mktemp("good")
    ds = data.load("digits", val_size=50)
    data.save(ds, d / "data.pt")
    torch.manual_seed(0)
    m = models.build("lenet5", ds.shape, 10, Q)
    models.save(m, d / "m/digits/lenet5/standard/conventional/s0.pt", arch="lenet5", in_shape=ds.shape,
                num_classes=10, qcfg=Q, variant=TRAIN["variant"])
    return d


def expect_one_line_error(capsys, argv, out, contains):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and contains in err[0], err
    assert not pathlib.Path(out).exists()


def model_path(tmp_path):
    p = tmp_path / "m/digits/lenet5/standard/conventional/s0.pt"
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def damaged_model(kind, tmp_path, good):
    p = model_path(tmp_path)
    blob = (good / "m/digits/lenet5/standard/conventional/s0.pt").read_bytes()
    meta = torch.load(good / "m/digits/lenet5/standard/conventional/s0.pt", weights_only=True)
    if kind == "garbage":
        p.write_bytes(b"not a model at all" * 10)
    elif kind == "truncated":
        p.write_bytes(blob[: len(blob) // 2])
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "payload":
        torch.save({**meta, "extra": Payload(tmp_path / "PWNED")}, p)
    elif kind == "missing keys":
        torch.save({k: v for k, v in meta.items() if k != "state_dict"}, p)
    elif kind == "wrong shapes":
        torch.save({**meta, "num_classes": 7}, p)
    elif kind == "not a dict":
        torch.save([1, 2, 3], p)
    return p


MODEL_CASES = [("garbage", "not a readable model file"), ("truncated", "not a readable model file"),
               ("empty", "not a readable model file"), ("payload", "refused to load this model file"),
               ("missing keys", "missing state_dict"), ("wrong shapes", "does not match its architecture"),
               ("not a dict", "expected a dict")]


@pytest.mark.parametrize("kind,message", MODEL_CASES)
def test_damaged_model_file(tmp_path, good, capsys, kind, message):
    m = damaged_model(kind, tmp_path, good)
    out = tmp_path / "e.json"
    expect_one_line_error(capsys, ["evaluate", "--settings", json.dumps(EVAL), "--data", str(good / "data.pt"),
                                   "--model", str(m), "--out", str(out)], out, message)
    assert not (tmp_path / "PWNED").exists()


def damaged_dataset(kind, tmp_path, good):
    p = tmp_path / "data.pt"
    d = torch.load(good / "data.pt", weights_only=True)
    if kind == "garbage":
        p.write_bytes(b"\x00garbage" * 100)
    elif kind == "truncated":
        blob = (good / "data.pt").read_bytes()
        p.write_bytes(blob[: len(blob) // 3])
    elif kind == "payload":
        torch.save({**d, "extra": Payload(tmp_path / "PWNED")}, p)
    elif kind == "missing keys":
        torch.save({k: v for k, v in d.items() if k != "test"}, p)
    elif kind == "wrong dtype":
        d["train"]["x"] = d["train"]["x"].float()
        torch.save(d, p)
    elif kind == "label count":
        d["test"]["y"] = d["test"]["y"][:-1]
        torch.save(d, p)
    return p


DATA_CASES = [("garbage", "not a readable dataset file"), ("truncated", "not a readable dataset file"),
              ("payload", "refused to load this dataset file"), ("missing keys", "missing test"),
              ("wrong dtype", "train split is not uint8"), ("label count", "test split is not uint8")]


@pytest.mark.parametrize("kind,message", DATA_CASES)
def test_damaged_dataset_file(tmp_path, good, capsys, kind, message):
    d = damaged_dataset(kind, tmp_path, good)
    out = tmp_path / "e.json"
    expect_one_line_error(capsys, ["evaluate", "--settings", json.dumps(EVAL), "--data", str(d), "--model",
                                   str(good / "m/digits/lenet5/standard/conventional/s0.pt"), "--out", str(out)],
                          out, message)
    assert not (tmp_path / "PWNED").exists()


def fashion_case(kind, root):
    rng = np.random.default_rng(1)
    if kind == "truncated gz":
        fashion(root)
        blob = (root / "train-images-idx3-ubyte.gz").read_bytes()
        (root / "train-images-idx3-ubyte.gz").write_bytes(blob[: len(blob) // 2])
    elif kind == "garbage gz":
        fashion(root)
        (root / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage, not gzip")
    elif kind == "wrong magic":
        fashion(root)
        (root / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x01\x02\x03\x04" + bytes(40)))
    elif kind == "wrong image shape":
        fashion(root, images=rng.integers(0, 256, (20, 32, 32)))
    elif kind == "labels out of range":
        fashion(root, labels=np.full(20, 12))
    elif kind == "label count":
        fashion(root, labels=rng.integers(0, 10, 19))
    elif kind == "truncated idx body":
        fashion(root)
        write_idx(root / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (20, 28, 28)))
        raw = gzip.decompress((root / "t10k-images-idx3-ubyte.gz").read_bytes())
        (root / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:-100]))


FASHION_CASES = [("truncated gz", "damaged or truncated file"), ("garbage gz", "damaged or truncated file"),
                 ("wrong magic", "not an unsigned-byte IDX file"), ("wrong image shape", "expected 28x28 images"),
                 ("labels out of range", "outside the 10 classes"), ("label count", "expected 20 labels"),
                 ("truncated idx body", "truncated IDX file")]


@pytest.mark.parametrize("kind,message", FASHION_CASES)
def test_damaged_fashion_mnist(tmp_path, capsys, kind, message):
    root = tmp_path / "fm"
    fashion_case(kind, root)
    out = tmp_path / "data.pt"
    expect_one_line_error(capsys, ["prepare-data", "--settings", json.dumps({"dataset": {**DATASET, "root": str(root)}}),
                                   "--out", str(out)], out, message)


def test_cifar_batch_with_a_payload_is_refused(tmp_path, capsys):
    data.write_fake_cifar10(tmp_path / "c", n_train=4, n_test=4)
    with open(tmp_path / "c/cifar-10-batches-py/data_batch_3", "wb") as f:
        pickle.dump({"data": np.zeros((4, 3072), np.uint8), "labels": [0] * 4, "x": Payload(tmp_path / "PWNED")}, f)
    out = tmp_path / "data.pt"
    settings = {"dataset": {**DATASET, "name": "cifar10", "root": str(tmp_path / "c"), "val_size": 2}}
    expect_one_line_error(capsys, ["prepare-data", "--settings", json.dumps(settings), "--out", str(out)], out,
                          "not a CIFAR-10 batch (refused pathlib.Path")
    assert not (tmp_path / "PWNED").exists()


def test_checkpoint_with_a_payload_is_refused(tmp_path, good, capsys):
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"key": "x", "evil": Payload(tmp_path / "PWNED")}, ckpt)
    out = model_path(tmp_path)
    expect_one_line_error(capsys, ["train", "--settings", json.dumps(TRAIN), "--data", str(good / "data.pt"),
                                   "--checkpoint", str(ckpt), "--out", str(out)], out,
                          "refused to load this training checkpoint")
    assert not (tmp_path / "PWNED").exists()


def test_garbage_checkpoint(tmp_path, good, capsys):
    ckpt = tmp_path / "ckpt.pt"
    ckpt.write_bytes(b"garbage")
    out = model_path(tmp_path)
    expect_one_line_error(capsys, ["train", "--settings", json.dumps(TRAIN), "--data", str(good / "data.pt"),
                                   "--checkpoint", str(ckpt), "--out", str(out)], out,
                          "not a readable training checkpoint")


def test_diverging_training_is_one_line_and_writes_no_model(tmp_path, good, capsys):
    out = model_path(tmp_path)
    settings = {**TRAIN, "training": {**TRAIN["training"], "lr": 1e30}}
    expect_one_line_error(capsys, ["train", "--settings", json.dumps(settings), "--data", str(good / "data.pt"),
                                   "--out", str(out)], out, "training diverged: loss")


CLI_CASES = [
    (["evaluate", "--settings", "{not json", "--data", "D", "--model", "M", "--out", "O"], "--settings: not valid JSON"),
    (["evaluate", "--settings", "[1, 2]", "--data", "D", "--model", "M", "--out", "O"], "--settings: must be a JSON object"),
    (["evaluate", "--settings", "{}", "--data", "D", "--model", "M", "--out", "O"], "no such dataset file"),
    (["evaluate", "--settings", json.dumps(EVAL), "--data", "GOOD", "--model", "nowhere.pt", "--out", "O"],
     "no such model file"),
    (["evaluate", "--settings", "{}", "--data", "GOOD", "--model", "MODEL", "--out", "O"], "--settings: missing key"),
    (["train", "--settings", json.dumps(TRAIN), "--data", "GOOD", "--out", "O"], "not a per-model path"),
    (["campaign", "--settings", json.dumps({"rates": {"bitflip": [0.0, 2.0]}, "trials": 1, "eval_size": 10, "mode": "exact",
                                            "maps": "shared", "seed": 0}), "--data", "GOOD", "--model", "MODEL",
      "--fault", "bitflip", "--out", "O"], "rate: must be a number in [0, 1]"),
    (["campaign", "--settings", json.dumps({"rates": {"flip": [0.0, 0.1]}, "trials": 1, "eval_size": 10, "mode": "exact",
                                            "maps": "shared", "seed": 0}), "--data", "GOOD", "--model", "MODEL",
      "--fault", "flip", "--out", "O"], "fault: unknown fault 'flip'"),
    (["evaluate", "--settings", json.dumps({**EVAL, "device": "cuda" if not torch.cuda.is_available() else "tpu"}),
      "--data", "GOOD", "--model", "MODEL", "--out", "O"], "device:"),
]


@pytest.mark.parametrize("argv,message", CLI_CASES)
def test_bad_cli_arguments(tmp_path, good, capsys, argv, message):
    out = tmp_path / "out.json"
    sub = {"GOOD": str(good / "data.pt"), "MODEL": str(good / "m/digits/lenet5/standard/conventional/s0.pt"),
           "O": str(out)}
    expect_one_line_error(capsys, [sub.get(a, a) for a in argv], out, message)


def test_a_bug_inside_the_package_is_not_reported_as_a_settings_error(monkeypatch, tmp_path):
    """A KeyError raised by package code is that error (a traceback), not '--settings: missing key'."""
    from flatenn import tables

    def broken(files):
        raise KeyError("internal")

    monkeypatch.setattr(tables, "runtime", broken)
    with pytest.raises(KeyError, match="internal"):
        cli.main(["runtime", "--benchmarks", "--out", str(tmp_path / "r.csv")])

import os

import pytest

from flatenn import io


def test_writes_are_fsynced_before_and_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync", os.path.isdir(f"/proc/self/fd/{fd}")))
                        or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append(("replace", None)) or real_replace(a, b))
    io.write_json(tmp_path / "out.json", {"a": 1})
    assert events == [("fsync", False), ("replace", None), ("fsync", True)]
    assert io.read_json(tmp_path / "out.json") == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_failed_write_leaves_nothing(tmp_path):
    def boom(f):
        f.write(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        io.atomic_write_bytes(tmp_path / "x.pt", boom)
    assert list(tmp_path.iterdir()) == []


def test_model_identity_from_its_path():
    assert io.model_id("results/models/fashion_mnist/lenet5/as_mid/saq/s3.pt") == {
        "dataset": "fashion_mnist", "arch": "lenet5", "variant": "as_mid", "training": "saq", "seed": 3}
    with pytest.raises(ValueError, match="not a per-model path"):
        io.model_id("model.pt")

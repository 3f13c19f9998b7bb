"""Durable atomic writes and safe reads.

A write goes to a temporary file that is fsynced, renamed over the target and followed by
an fsync of the folder: an interrupted job or a power cut never leaves a file that looks
complete. Reads of tensors never unpickle code (``weights_only=True``), and a damaged file
is one ``DataError`` line that names it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

MODEL_COLS = ("dataset", "arch", "variant", "training", "seed")


class DataError(ValueError):
    """A data, model or result file is missing or malformed; the message names it."""


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def _commit(tmp: Path, path: Path) -> None:
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself must reach the disk
    finally:
        os.close(fd)


def atomic_write_bytes(path, write) -> None:
    """Call ``write(file)`` on a temporary file, make it durable, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        _commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_torch_save(obj, path) -> None:
    import torch

    atomic_write_bytes(path, lambda f: torch.save(obj, f))


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode()))


def safe_torch_load(path, what: str, map_location="cpu", keys=()) -> dict:
    """A dict of tensors and plain values from a torch file, never running code from it."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such {what}")
    try:
        obj = torch.load(path, weights_only=True, map_location=map_location)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:
        refused = [line for line in str(e).splitlines() if "Unsupported global" in line]
        if refused:  # a pickled object that would run code on loading
            raise DataError(f"{path}: refused to load this {what}: it holds more than tensors and plain "
                            f"values ({refused[0].strip()[:100]})") from None
        raise DataError(f"{path}: not a readable {what} (damaged, truncated or another format)") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: not a {what} (expected a dict, got {type(obj).__name__})")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise DataError(f"{path}: not a {what} (missing {', '.join(missing)})")
    return obj


def model_id(path) -> dict:
    """Identity of a per-model file: <anything>/<dataset>/<arch>/<variant>/<training>/s<seed>.<ext>,
    the layout the workflow writes (results/models/..., results/campaign/.../<fault>.csv excepted)."""
    parts = Path(path).with_suffix("").parts[-5:]
    if len(parts) < 5 or not parts[4].startswith("s") or not parts[4][1:].isdigit():
        raise ValueError(f"{path}: not a per-model path .../<dataset>/<arch>/<variant>/<training>/s<seed>")
    return dict(zip(MODEL_COLS, [*parts[:4], int(parts[4][1:])]))


def write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a readable JSON result ({str(e).splitlines()[0][:120]})") from None


def write_csv(path, df) -> None:
    atomic_write_text(path, df.to_csv(index=False))

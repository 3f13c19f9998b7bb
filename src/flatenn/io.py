"""Atomic file writes: an interrupted job never leaves a file that looks complete."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def atomic_torch_save(obj, path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    torch.save(obj, tmp)
    os.replace(tmp, path)


def atomic_write_text(path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    tmp.write_text(text)
    os.replace(tmp, path)


MODEL_COLS = ("dataset", "arch", "variant", "training", "seed")


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
    return json.loads(Path(path).read_text())


def write_csv(path, df) -> None:
    atomic_write_text(path, df.to_csv(index=False))

"""What every job reads its inputs with: the stored dataset, the device, a table."""
from __future__ import annotations

from pathlib import Path


def dataset(path):
    from flatenn import data

    return data.read(path)


def device(settings):
    from flatenn.evaluation import device

    return device(settings.get("device", "cpu"))


def read(path):
    import pandas as pd

    return pd.read_csv(path)


def concat(frames):
    import pandas as pd

    return pd.concat([f for f in frames if len(f)], ignore_index=True)


def run_tables(folder, option: str) -> dict:
    """A finished run's clean and fault tables ({"clean", "seed_means"}) from its paper_tables
    folder; a missing one is a FileNotFoundError that names ``option``."""
    folder = Path(folder)
    for name in ("clean_accuracy", "fault_accuracy_by_seed"):
        if not (folder / f"{name}.csv").is_file():
            raise FileNotFoundError(f"{option}: {folder / name}.csv is missing")
    return {"clean": read(folder / "clean_accuracy.csv"), "seed_means": read(folder / "fault_accuracy_by_seed.csv")}


def rungs(folders, prefix: str, kind, what: str) -> dict:
    """Rung folders named <prefix><number> (x2 with ``kind`` int, r0.05 with float): {number:
    folder}; any other name is a ValueError that says ``what`` a rung folder is."""
    import re

    digits = r"(\d+)" if kind is int else r"(\d+(?:\.\d+)?)"
    out = {}
    for folder in map(Path, folders):
        m = re.fullmatch(re.escape(prefix) + digits, folder.name)
        if not m:
            raise ValueError(f"--rungs: {folder} is not {what}")
        out[kind(m.group(1))] = folder
    return out

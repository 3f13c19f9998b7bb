"""What every job reads its inputs with: the stored dataset, the device, a table."""
from __future__ import annotations


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

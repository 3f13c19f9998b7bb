"""Fault-injection campaigns on a model's weight memory image.

Trial t at (fault, rate) draws its fault map from a generator seeded by (architecture,
fault, rate, t) only, so every variant and training of one architecture meets the same
faulty cells: comparisons between them are paired (common random numbers). Only the
stored weights of the quantized layers are hit; biases and BN parameters stay fault-free.
"""
from __future__ import annotations

import logging
import time
import zlib

import torch
from torch import nn
from tqdm import tqdm

from flatenn import evaluation, faults
from flatenn.quant import clear_deployed, load_memory_image

log = logging.getLogger("flatenn.campaign")


def trial_seed(base: int, *parts) -> int:
    """A seed that depends on the named point and trial only (stable across runs)."""
    return (base * 1_000_003 + zlib.crc32("|".join(map(str, parts)).encode())) % (2 ** 63)


def evaluation_set(ds, size: int | None, seed: int, dev=None):
    """A fixed, seeded subset of the test set, batched once for all trials."""
    n = len(ds.test) if size is None else min(size, len(ds.test))
    idx = torch.randperm(len(ds.test), generator=torch.Generator().manual_seed(seed))[:n]
    return evaluation.batches(ds.test.x[idx], ds.test.y[idx], dev=dev)


def faulty_ints(image: dict, fault: str, rate: float, gen: torch.Generator, *, mode: str,
                layers: list[str] | None = None, bit: int | None = None) -> dict[str, torch.Tensor]:
    """Integer weights of every layer after one draw of faults (only ``layers`` if given).

    The arguments are validated once per point by ``check_point``, not here in the trial loop.
    """
    out = {}
    for name, entry in image.items():
        q = entry["q"]
        if layers is not None and name not in layers:
            out[name] = q
        else:
            elems, masks = faults.fault_map(q.numel(), entry["bits"], rate, mode=mode, generator=gen, bit=bit)
            out[name] = faults.apply_map(q, fault, entry["bits"], elems, masks)
    return out


def check_point(image: dict, point: dict, mode: str) -> None:
    """The checks of faults.inject, once per point: the trial loop then skips them."""
    for name, entry in image.items():
        faults.validate(entry["q"], point["fault"], point["rate"], entry["bits"], mode, torch.Generator(),
                        point.get("bit"))
    if "layer" in point and point["layer"] not in image:
        raise ValueError(f"layer: {point['layer']!r} is not a quantized layer of the model")


def run(model: nn.Module, image: dict, batched, points: list[dict], *, trials: int, mode: str,
        base_seed: int, arch: str, progress: bool | None = None) -> list[dict]:
    """Accuracy of ``model`` for each point x trial.

    A point is a dict with ``fault`` and ``rate`` and optionally ``layer`` (faults in that
    layer only) or ``bit`` (faults in that bit position only); its keys name the seed.
    """
    n_images = sum(len(y) for _, y in batched)
    rows = []
    t0 = time.perf_counter()
    total = sum(trials if p["rate"] > 0 else 1 for p in points)
    bar = tqdm(total=total, desc="trials", disable=None if progress is None else not progress)
    try:
        for point in points:
            check_point(image, point, mode)
            key = [arch] + [f"{k}={point[k]}" for k in sorted(point)]
            layers = [point["layer"]] if "layer" in point else None
            for t in range(trials if point["rate"] > 0 else 1):  # rate 0 is deterministic
                gen = torch.Generator().manual_seed(trial_seed(base_seed, *key, t))
                ints = faulty_ints(image, point["fault"], point["rate"], gen, mode=mode,
                                   layers=layers, bit=point.get("bit"))
                load_memory_image(model, image, ints)
                rows.append({**point, "trial": t, "accuracy": evaluation.correct(model, batched) / n_images})
                bar.update()
    finally:
        bar.close()
        clear_deployed(model)
    elapsed = time.perf_counter() - t0
    log.info("%d trials in %.1f s: %.1f trials/s on %d images", len(rows), elapsed,
             len(rows) / max(elapsed, 1e-9), n_images)
    return rows

"""Fault-injection campaigns on a model's weight memory image.

Trial t at (fault, rate) of the networks trained with seed s draws its fault map from a
generator seeded by (architecture, s, cells, rate, t), so every variant and training of one
architecture *within* a seed meets the same faulty cells (pairing, common random numbers),
while maps are independent *across* seeds, as are the evaluation images: the trained network
is the unit of replication, with maps and images nested in it. ``cells`` (``maps: shared``) are
the bit positions the fault model can hit, so two fault models with the same eligible cells fault
the same cells at the same rate and trial; ``maps: per_model`` keys the maps on the fault model's
name instead (the stored studies' maps). Faults are drawn over the
concatenated weight memory, so each layer gets its hypergeometric share. Only the stored
weights of the quantized layers are hit; biases and BN parameters stay fault-free. Trials run
on the deployed network (``flatenn.deployed``), several maps per pass.
"""
from __future__ import annotations

import logging
import time
import zlib

import torch
from torch import nn
from tqdm import tqdm

from flatenn import faults, registry
from flatenn.deployed import DeployedNet

log = logging.getLogger("flatenn.campaign")


def trial_seed(base: int, *parts) -> int:
    """A seed that depends on the named point and trial only (stable across runs)."""
    return (base * 1_000_003 + zlib.crc32("|".join(map(str, parts)).encode())) % (2 ** 63)


MAPS = ("shared", "per_model")


def map_key(point: dict, maps: str, bits: int) -> list[str]:
    """The names a point's fault maps are seeded by: its keys, where ``maps`` is "per_model"; with
    the fault model's name replaced by the bit positions it can hit, where "shared"."""
    if maps not in MAPS:
        raise ValueError(f"maps: must be one of {', '.join(MAPS)}, got {maps!r}")
    if maps == "per_model":
        return [f"{k}={point[k]}" for k in sorted(point)]
    cells = ",".join(map(str, faults.get(point["fault"]).eligible(bits)))
    return [f"cells={cells}" if k == "fault" else f"{k}={point[k]}" for k in sorted(point)]


def evaluation_set(ds, size: int | None, seed: int, dev=None) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded subset (uint8 images, labels) of the test set (the whole set when ``size`` is
    None). Campaigns pass a seed derived from the network's seed."""
    n = len(ds.test) if size is None else min(size, len(ds.test))
    idx = torch.randperm(len(ds.test), generator=torch.Generator().manual_seed(seed))[:n]
    return ds.test.x[idx].to(dev), ds.test.y[idx].to(dev)


def evaluation_set_of(ds, size: int | None, base_seed: int, seed: int, dev=None):
    """The images of the networks trained with ``seed``: shared by their variants and
    trainings (pairing), drawn anew for every seed (images nested in networks)."""
    return evaluation_set(ds, size, trial_seed(base_seed, "images", f"seed={seed}"), dev)


def vulnerability_points(image: dict, fault: str, layer_rate: float, bit_rate: float) -> list[dict]:
    """One point per layer (faults there only) and one per bit position (faults there only)."""
    bits = next(iter(image.values()))["bits"]
    return ([{"fault": fault, "rate": layer_rate, "layer": name} for name in image]
            + [{"fault": fault, "rate": bit_rate, "bit": b} for b in faults.get(fault).eligible(bits)])


def memory_image(model: nn.Module) -> dict:
    """The network's weight memory image (``quant.export_memory_image``) on the CPU, where every
    fault map is drawn, whatever device the network runs on."""
    from flatenn.quant import export_memory_image

    return {name: {k: v.cpu() if torch.is_tensor(v) else v for k, v in e.items()}
            for name, e in export_memory_image(model).items()}


def weight_memory(image: dict, layers: list[str] | None = None) -> tuple[list[str], torch.Tensor]:
    """(layer names, their integers concatenated in that order): the memory faults are drawn over."""
    names = list(image) if layers is None else [n for n in image if n in layers]
    flat = torch.cat([image[n]["q"].reshape(-1) for n in names]) if names else torch.empty(0, dtype=torch.int8)
    return names, flat


def faulty_ints(image: dict, fault: str, rate: float, gen: torch.Generator, *, mode: str,
                layers: list[str] | None = None, bit: int | None = None,
                memory: tuple[list[str], torch.Tensor] | None = None,
                eligible: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Integer weights of every layer after one draw of faults over the memory of ``layers``
    (all layers if None) taken as one concatenated memory (``weight_memory``; the trial loop
    passes it in, built once per point).

    With ``eligible`` (sorted indices into that memory), the same number of faulty cells as
    the rate gives over the whole memory is drawn among the eligible weights' cells only.
    The arguments are validated once per point by ``check_point``, not here in the trial loop.
    """
    names, flat = weight_memory(image, layers) if memory is None else memory
    out = {n: e["q"] for n, e in image.items()}
    if not names:
        return out
    bits = image[names[0]]["bits"]
    positions = faults.get(fault).eligible(bits)
    if eligible is None:
        elems, masks = faults.fault_map(flat.numel(), bits, rate, mode=mode, generator=gen, bit=bit,
                                        positions=positions)
    else:
        count = faults.fault_count(flat.numel() * len(positions), rate, mode, gen)
        elems, masks = faults.fault_map_among(eligible, bits, count, gen, positions)
    faulty = faults.apply_map(flat, fault, bits, elems, masks)
    for name, part in zip(names, faulty.split([image[n]["q"].numel() for n in names])):
        out[name] = part.view_as(image[name]["q"])
    return out


def check_point(image: dict, point: dict, mode: str) -> None:
    """The checks of faults.inject, once per point: the trial loop then skips them."""
    for name, entry in image.items():
        faults.validate(entry["q"], point["fault"], point["rate"], entry["bits"], mode, torch.Generator(),
                        point.get("bit"))
    if len({e["bits"] for e in image.values()}) > 1:
        raise ValueError("image: layers of one weight memory must share a bit width")
    if "layer" in point and point["layer"] not in image:
        raise ValueError(f"layer: {point['layer']!r} is not a quantized layer of the model")


def run(model: nn.Module, image: dict, images: tuple[torch.Tensor, torch.Tensor], points: list[dict], *,
        trials: int, mode: str, maps: str, base_seed: int, arch: str, seed: int, maps_per_pass: int | None = None,
        progress: bool | None = None, live: dict[str, torch.Tensor] | None = None) -> list[dict]:
    """Accuracy of the deployed ``model`` (trained with ``seed``) on ``images`` (uint8 x, labels)
    for each point x trial, ``maps_per_pass`` fault maps per pass (default: the deployed network's
    measured choice; the results do not depend on it).

    A point is a dict with ``fault`` and ``rate`` and optionally ``layer`` (faults in that
    layer only) or ``bit`` (faults in that bit position only) or ``inputs="live"`` (as many
    faulty cells as at ``rate``, all in weights whose input is active: ``live``, a bool mask per
    layer from ``mechanism.measure.live_weights``); its keys name the map seed (``map_key``).
    """
    net = DeployedNet(model, image)
    bits = next(iter(image.values()))["bits"]  # check_point: one width for the whole memory
    maps_per_pass = maps_per_pass or net.maps_per_pass(registry.architecture(arch).maps_per_pass_cpu)
    x, y = images
    rows = []
    t0 = time.perf_counter()
    total = sum(trials if p["rate"] > 0 else 1 for p in points)
    bar = tqdm(total=total, desc="trials", disable=None if progress is None else not progress)
    try:
        for point in points:
            check_point(image, point, mode)
            key = [arch, f"seed={seed}", *map_key(point, maps, bits)]
            layers = [point["layer"]] if "layer" in point else None
            memory = weight_memory(image, layers)
            eligible = None
            if point.get("inputs") == "live":
                if live is None or layers is not None:
                    raise ValueError("inputs: faults on live weights need the live masks and the whole memory")
                eligible = torch.cat([live[n].reshape(-1) for n in memory[0]]).nonzero().squeeze(1)
            n_trials = trials if point["rate"] > 0 else 1  # rate 0 is deterministic
            for start in range(0, n_trials, maps_per_pass):
                ts = range(start, min(n_trials, start + maps_per_pass))
                ints = [faulty_ints(image, point["fault"], point["rate"],
                                    torch.Generator().manual_seed(trial_seed(base_seed, *key, t)), mode=mode,
                                    bit=point.get("bit"), memory=memory, eligible=eligible) for t in ts]
                for t, hits in zip(ts, net.correct(x, y, ints)):
                    rows.append({**point, "trial": t, "accuracy": hits / len(y)})
                bar.update(len(ts))
    finally:
        bar.close()
    elapsed = time.perf_counter() - t0
    log.info("%d trials in %.1f s: %.1f trials/s on %d images", len(rows), elapsed,
             len(rows) / max(elapsed, 1e-9), len(y))
    return rows

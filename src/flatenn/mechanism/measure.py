"""Why weight faults hurt one network more than another, measured on a trained network (torch).

Per quantized layer, on the network's own evaluation images: how often each weight's input is
active (a fault on a weight whose input is zero changes nothing), the share of weights whose
input is never active ("dead"), and how far one faulty cell moves a weight relative to its
channel's weights (codes are per-output-channel max-abs scaled, so a channel's RMS code says
how large a fault's move is against what the channel normally sums). Network summaries weight
every layer by its number of stored weights, as a uniform fault draw does.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from flatenn import faults
from flatenn.mechanism import BASE_COLUMNS, SUMMARY_BASE
from flatenn.quant import quant_layers


@torch.no_grad()
def input_activity(model, x: torch.Tensor, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """Per quantized layer, the fraction of its inputs that are nonzero, per input unit (a
    convolution's input channel over images and positions, a linear layer's input feature over
    images), on images ``x``."""
    layers = quant_layers(model)
    names = {m: n for n, m in layers.items()}
    nonzero, count = {}, {}

    def hook(module, inputs):
        a = inputs[0]
        dims = (0, 2, 3) if a.dim() == 4 else (0,)
        n = names[module]
        nonzero[n] = nonzero.get(n, 0) + (a != 0).sum(dims).double()
        count[n] = count.get(n, 0) + a.numel() // a.shape[1]

    handles = [m.register_forward_pre_hook(hook) for m in layers.values()]
    try:
        model.eval()
        for i in range(0, len(x), batch_size):
            model(x[i:i + batch_size])
    finally:
        for h in handles:
            h.remove()
    return {n: nonzero[n] / count[n] for n in layers}


def live_weights(image: dict, activity: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per layer, a bool mask of the stored weights whose input unit was active at least once. A
    convolution of g groups (input units g x its weights' input channels) reads, for output channel
    o, input channels (o // (outputs / g)) x (inputs / g) + i."""
    out = {}
    for name, entry in image.items():
        q, on = entry["q"], activity[name] > 0
        groups, per_group = len(on) // q.shape[1], q.shape[1]
        rows = on.view(groups, 1, per_group).expand(groups, q.shape[0] // groups, per_group).reshape(q.shape[:2])
        out[name] = rows.view(*q.shape[:2], *[1] * (q.dim() - 2)).expand_as(q).contiguous()
    return out


def layer_table(image: dict, activity: dict[str, torch.Tensor], fault_types) -> pd.DataFrame:
    """One row per quantized layer: BASE_COLUMNS and, per fault type, fault_move_rel_<type>."""
    rows = []
    for i, (name, entry) in enumerate(image.items()):
        q, bits, d = entry["q"], entry["bits"], activity[name]
        codes = q.to(torch.float64).flatten(1)  # (output channel, weights)
        rms = codes.pow(2).mean(1).sqrt().clamp_min(1e-12)
        row = {"layer": name, "index": i, "weights": q.numel(), "input_units": len(d),
               "input_density": float(d.mean()), "dead_input_share": float((d == 0).double().mean()),
               "negative_code_share": float((q < 0).double().mean()), "zero_code_share": float((q == 0).double().mean()),
               "max_over_rms": float((codes.abs().amax(1) / rms).mean())}
        for f in fault_types:
            _, square = faults.displacement_moments(q, f, bits=bits)  # summed over the cells f can hit
            cells = len(faults.get(f).eligible(bits))
            move = (square.flatten(1) / cells).mean(1).sqrt()  # RMS move of one faulty cell, per channel
            row[f"fault_move_rel_{f}"] = float((move / rms).mean())
        rows.append(row)
    return pd.DataFrame(rows, columns=BASE_COLUMNS + [f"fault_move_rel_{f}" for f in fault_types])


def network_summary(layers: pd.DataFrame) -> dict:
    """The network's values: each layer column averaged with the layer's weights as weights."""
    w = layers.weights.to_numpy(dtype=float)
    cols = SUMMARY_BASE + [c for c in layers.columns if c.startswith("fault_move_rel_")]
    return {c: float(np.average(layers[c].to_numpy(dtype=float), weights=w)) for c in cols}


def network(model, image: dict, x: torch.Tensor, y: torch.Tensor, settings: dict, arch: str,
            identity: dict) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """One network's mechanism job on its campaign images ``x, y``: its layer table and summary,
    and the trials of two interventions at the campaign's maps (``settings``: rates, trials, mode,
    seed, switch_thresholds): faults moved onto weights whose input is active (only where some
    input is dead: elsewhere that is every weight), and the sparsity switch, the network evaluated
    with each inference threshold of ``switch_thresholds``, weights unchanged, its activation
    sparsity measured (the summary's ``switch``). The trained thresholds are restored however it
    ends. ``identity`` (the model's key columns) leads every trial row."""
    from flatenn import campaign, evaluation, sparsity

    activity = input_activity(model, x)
    layers = layer_table(image, activity, list(settings["rates"]))
    totals = network_summary(layers)
    run = dict(image=image, images=(x, y), trials=settings["trials"], mode=settings["mode"],
               maps=settings["maps"], base_seed=settings["seed"], arch=arch, seed=identity["seed"])
    frames = []
    if totals["dead_input_share"] > 0:  # elsewhere faults on live weights are faults anywhere
        points = [{"fault": f, "rate": r, "inputs": "live"} for f, r in settings["rates"].items()]
        frames.append(pd.DataFrame(campaign.run(model, points=points, live=live_weights(image, activity), **run)))
    trained = [a.threshold for a in sparsity.act_layers(model)]
    switch = [{"threshold": max(trained, default=0.0), "own": True}] + [
        {"threshold": t, "own": False} for t in settings["switch_thresholds"]]
    # the campaign's maps: the same seeds at the clean and the intervention's rate
    points = [{"fault": f, "rate": r} for f, rate in settings["rates"].items() for r in (0.0, rate)]
    try:
        for entry in switch:
            sparsity.set_threshold(model, entry["threshold"])
            entry["activation_sparsity"] = sparsity.measure(model, evaluation.batches(x, y, 256))["overall"]
            if not entry["own"]:
                frames.append(pd.DataFrame(campaign.run(model, points=points, **run)).assign(
                    inputs="all", threshold=entry["threshold"]))
    finally:
        for a, t in zip(sparsity.act_layers(model), trained):
            a.threshold = t
    trials = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["fault", "rate", "inputs", "trial", "accuracy", "threshold"])
    for i, (k, v) in enumerate(identity.items()):
        trials.insert(i, k, v)
    return layers, {**totals, "switch": switch}, trials

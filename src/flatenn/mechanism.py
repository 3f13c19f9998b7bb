"""Why weight faults hurt one network more than another, measured on a trained network.

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
from flatenn.quant import quant_layers

LAYER_COLUMNS = ["layer", "index", "weights", "input_units", "input_density", "dead_input_share",
                 "negative_code_share", "zero_code_share", "max_over_rms"] + [f"fault_move_rel_{f}" for f in faults.FAULTS]
SUMMARY = LAYER_COLUMNS[4:]  # the columns a network summary averages, weighted by weights


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
    """Per layer, a bool mask of the stored weights whose input unit was active at least once."""
    out = {}
    for name, entry in image.items():
        q, on = entry["q"], activity[name] > 0
        shape = [1, len(on)] + [1] * (q.dim() - 2)
        out[name] = on.view(shape).expand_as(q).contiguous()
    return out


def layer_table(image: dict, activity: dict[str, torch.Tensor]) -> pd.DataFrame:
    """One row per quantized layer (LAYER_COLUMNS)."""
    rows = []
    for i, (name, entry) in enumerate(image.items()):
        q, bits, d = entry["q"], entry["bits"], activity[name]
        codes = q.to(torch.float64).flatten(1)  # (output channel, weights)
        rms = codes.pow(2).mean(1).sqrt().clamp_min(1e-12)
        row = {"layer": name, "index": i, "weights": q.numel(), "input_units": len(d),
               "input_density": float(d.mean()), "dead_input_share": float((d == 0).double().mean()),
               "negative_code_share": float((q < 0).double().mean()), "zero_code_share": float((q == 0).double().mean()),
               "max_over_rms": float((codes.abs().amax(1) / rms).mean())}
        for f in faults.FAULTS:
            _, square = faults.displacement_moments(q, f, bits=bits)  # summed over the bits cells
            move = (square.flatten(1) / bits).mean(1).sqrt()  # RMS move of one faulty cell, per channel
            row[f"fault_move_rel_{f}"] = float((move / rms).mean())
        rows.append(row)
    return pd.DataFrame(rows, columns=LAYER_COLUMNS)


def summary(layers: pd.DataFrame) -> dict:
    """The network's values: each layer column averaged with the layer's weights as weights."""
    w = layers.weights.to_numpy(dtype=float)
    return {c: float(np.average(layers[c].to_numpy(dtype=float), weights=w)) for c in SUMMARY}

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


# ---------------------------------------------------------------- analysis over networks

MODEL = ["dataset", "arch", "variant", "training", "seed"]
# Candidate explanations of C1's quantity, each as the AS network's value against the standard
# network's of the same seed: "diff" for shares, "log_ratio" for curvatures (scale-free).
CANDIDATES = {"sparsity_gained": ("activation_sparsity", "diff"), "input_density": ("input_density", "diff"),
              "dead_input_share": ("dead_input_share", "diff"), "negative_code_share": ("negative_code_share", "diff"),
              "max_over_rms": ("max_over_rms", "diff"), "fault_move_rel": ("fault_move_rel", "diff"),
              "fault_curvature": ("fault_curvature", "log_ratio"), "fault_sharpness": ("fault_sharpness", "log_ratio"),
              "hessian_trace_normalized": ("hessian_trace_normalized", "log_ratio")}
NETWORK_COLUMNS = MODEL + ["fault", "accuracy", "activation_sparsity", *SUMMARY[:4], "max_over_rms", "fault_move_rel",
                           "fault_curvature", "fault_sharpness", "hessian_trace_normalized", "kept", "rate",
                           "kept_at_rate", "kept_live"]
INTERVENTION_COLUMNS = ["dataset", "arch", "a_variant", "fault", "rate", "effect", "effect_ci_low", "effect_ci_high",
                        "effect_live", "live_ci_low", "live_ci_high", "change", "change_ci_low", "change_ci_high",
                        "change_p", "change_p_adjusted", "reading", "n_seeds"]
EXPLAIN_COLUMNS = ["dataset", "fault", "candidate", "rho", "rho_ci_low", "rho_ci_high", "r2", "r2_ci_low",
                   "r2_ci_high", "r2_pooled", "n_seeds", "contrasts_per_seed", "reading"]


def networks(summaries: pd.DataFrame, clean: pd.DataFrame, sharp: pd.DataFrame, seed_means: pd.DataFrame,
             live_trials: pd.DataFrame, chance: dict, window: tuple) -> pd.DataFrame:
    """One row per network and fault type: its mechanism summaries, clean accuracy and sparsity,
    sharpness along that fault type, the share it keeps over the informative window (``kept``),
    at the intervention's rate (``kept_at_rate``) and with the same faults on live weights only
    (``kept_live``)."""
    from flatenn.claims import _retained, kept_over_window

    rows = []
    for fault in sorted(live_trials.fault.unique()):
        s = sharp[MODEL].assign(fault=fault, fault_curvature=sharp[f"fault_curvature_{fault}"],
                                fault_sharpness=sharp.fault_sharpness,
                                hessian_trace_normalized=sharp.hessian_trace_normalized)
        rows.append(summaries.assign(fault=fault, fault_move_rel=summaries[f"fault_move_rel_{fault}"]).merge(
            s, on=MODEL + ["fault"]))
    d = pd.concat(rows, ignore_index=True).merge(clean[MODEL + ["accuracy", "activation_sparsity"]], on=MODEL)
    d = d.merge(kept_over_window(seed_means, chance, window).rename(columns={"retained": "kept"}),
                on=MODEL + ["fault"], how="left")
    live = live_trials.groupby(MODEL + ["fault", "rate"], as_index=False)["accuracy"].mean()
    normal = seed_means.merge(live[MODEL + ["fault", "rate"]], on=MODEL + ["fault", "rate"])
    ch = live.dataset.map(chance).astype(float)
    live = live.merge(normal[MODEL + ["fault", "rate", "accuracy", "clean"]], on=MODEL + ["fault", "rate"],
                      suffixes=("_live", ""))
    live = live.assign(kept_at_rate=_retained(live.accuracy, live.clean, ch),
                       kept_live=_retained(live.accuracy_live, live.clean, ch))
    d = d.merge(live[MODEL + ["fault", "rate", "kept_at_rate", "kept_live"]], on=MODEL + ["fault"], how="left")
    return d.reindex(columns=NETWORK_COLUMNS).sort_values(MODEL + ["fault"], ignore_index=True)


def contrasts(net: pd.DataFrame, training: str = "conventional") -> pd.DataFrame:
    """Per AS network and fault type, against the standard network of its seed: C1's quantity
    (share kept, standard minus AS, points: over the window, at the intervention's rate, and with
    the faults on live weights) and every candidate's value (CANDIDATES)."""
    n = net[net.training == training]
    base = n[n.variant == "standard"].drop(columns=["variant", "training"])
    keys = ["dataset", "arch", "seed", "fault"]
    j = n[n.variant != "standard"].merge(base, on=keys, suffixes=("", "_std"))
    out = j[keys].assign(a_variant=j.variant, rate=j.rate, effect=100 * (j.kept_std - j.kept),
                         effect_at_rate=100 * (j.kept_at_rate_std - j.kept_at_rate),
                         effect_live=100 * (j.kept_live_std - j.kept_live))
    for name, (col, how) in CANDIDATES.items():
        a, b = j[col].astype(float), j[f"{col}_std"].astype(float)
        out[name] = a - b if how == "diff" else np.log(a.where(a > 0) / b.where(b > 0))
    return out


def intervention(con: pd.DataFrame, level: float) -> pd.DataFrame:
    """Does moving the faults onto live weights change C1's quantity? Per architecture, AS level
    and fault type, seed-level intervals of the effect at the rate, with live-only faults, and
    of the change; Holm over the table. Reading: the AS network's difference shrinks (toward
    zero) or grows, where the change is significant."""
    from flatenn.stats import holm, seed_intervals

    keys = ["dataset", "arch", "a_variant", "fault"]
    d = con.assign(change=con.effect_live - con.effect_at_rate)
    a, b, c = (seed_intervals(d, keys, v, level) for v in ("effect_at_rate", "effect_live", "change"))
    out = a[keys].assign(rate=d.groupby(keys, sort=True)["rate"].first().to_numpy(), effect=a["mean"],
                         effect_ci_low=a.ci_low, effect_ci_high=a.ci_high, effect_live=b["mean"],
                         live_ci_low=b.ci_low, live_ci_high=b.ci_high, change=c["mean"], change_ci_low=c.ci_low,
                         change_ci_high=c.ci_high, change_p=c.p_value, n_seeds=c.n)
    out["change_p_adjusted"] = holm(out.change_p)
    toward = np.sign(out.change) == -np.sign(out.effect)
    sig = out.change_p_adjusted < 1 - level
    out["reading"] = np.where(~sig, "no change shown", np.where(toward, "difference shrinks", "difference grows"))
    return out.reindex(columns=INTERVENTION_COLUMNS)


def explained(con: pd.DataFrame, level: float) -> pd.DataFrame:
    """How much of C1's quantity each candidate explains across variants and architectures:
    per seed and fault type, over that seed's contrasts (architectures x AS levels), the
    Spearman correlation and the squared Pearson correlation (share of variance explained by a
    line) between the candidate and the quantity; t intervals over seeds; and, descriptive, the
    squared correlation over every contrast of every seed (``r2_pooled``)."""
    from flatenn.stats import seed_intervals

    rows = []
    for (ds, fault, seed), g in con.groupby(["dataset", "fault", "seed"], sort=True):
        for cand in CANDIDATES:
            x, y = g[cand], g["effect"]
            ok = x.notna() & y.notna()
            if ok.sum() < 3 or x[ok].nunique() < 2 or y[ok].nunique() < 2:
                continue
            rows.append({"dataset": ds, "fault": fault, "seed": seed, "candidate": cand, "n": int(ok.sum()),
                         "rho": x[ok].rank().corr(y[ok].rank()), "r2": x[ok].corr(y[ok]) ** 2})
    per = pd.DataFrame(rows, columns=["dataset", "fault", "seed", "candidate", "n", "rho", "r2"])
    if per.empty:
        return pd.DataFrame(columns=EXPLAIN_COLUMNS)
    keys = ["dataset", "fault", "candidate"]
    rho, r2 = seed_intervals(per, keys, "rho", level), seed_intervals(per, keys, "r2", level)
    out = rho[keys].assign(rho=rho["mean"], rho_ci_low=rho.ci_low, rho_ci_high=rho.ci_high, r2=r2["mean"],
                           r2_ci_low=r2.ci_low, r2_ci_high=r2.ci_high, n_seeds=rho.n,
                           contrasts_per_seed=per.groupby(keys, sort=True)["n"].min().to_numpy())
    out["reading"] = np.where(out.rho_ci_low > 0, "larger value, AS keeps less",
                              np.where(out.rho_ci_high < 0, "larger value, AS keeps more", "no relation shown"))
    # descriptive: the share of variance a line explains over every contrast of every seed at once
    pooled = {(ds, f, c): g[c].corr(g["effect"]) ** 2 for (ds, f), g in con.groupby(["dataset", "fault"])
              for c in CANDIDATES}
    out["r2_pooled"] = [pooled.get(k, np.nan) for k in zip(out.dataset, out.fault, out.candidate)]
    order = {c: i for i, c in enumerate(CANDIDATES)}
    out = out.assign(_o=out.candidate.map(order)).sort_values(["dataset", "fault", "_o"]).drop(columns="_o")
    return out.reindex(columns=EXPLAIN_COLUMNS).reset_index(drop=True)


def layer_rows(layers: pd.DataFrame, vulnerability: pd.DataFrame | None) -> pd.DataFrame:
    """Per network and layer, with that layer's own fault sensitivity where the per-layer sweep
    ran (the first seed): mean accuracy with faults in that layer only."""
    if vulnerability is None or vulnerability.empty:
        return layers.assign(layer_fault_accuracy=np.nan)
    v = vulnerability[vulnerability.sweep == "layer"]
    v = v.assign(layer=v.target.str.removeprefix("layer "))[MODEL + ["layer", "mean"]]
    return layers.merge(v.rename(columns={"mean": "layer_fault_accuracy"}), on=MODEL + ["layer"], how="left")

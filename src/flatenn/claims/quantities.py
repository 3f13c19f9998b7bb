"""The per-seed quantities the claims are decided on, each oriented so that a positive value is
the claim's direction (the trained network, its seed, is the unit): the fault claims' shares
kept and accuracy gaps over the informative window, and the sharpness claims' per-seed
differences (curvatures on the log of their ratio)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from flatenn import aggregate

PAPER = {  # (v1, latest version), in the paper's "%", read as accuracy points
    "C1": ("17.32", "11.13"),
    "C3-AS": ("36.71", "19.50"),
    "C3-standard": ("24.76", "15.82"),
}
# Per-seed fault quantities, each oriented so that a positive value is the claim's direction,
# in points; "w" = mean over the informative window, "all" = over every faulty rate.
QUANTITIES = {
    "retained_gap": "share of above-chance accuracy kept under faults, reference minus compared network (w)",
    "lost_gap": "accuracy lost (own clean minus faulty), compared minus reference network (w)",
    "accuracy_gap": "accuracy under faults, reference minus compared network (w)",
    "lost_gap_all_rates": "accuracy lost, compared minus reference, over every faulty rate (the former C1)",
    "accuracy_gain": "accuracy under faults, compared minus reference network (w)",
    "retained_gain": "share of above-chance accuracy kept, compared minus reference network (w)",
}
# Which comparisons each fault claim reads (aggregate.comparisons kinds) and its statement.
FAULT_CLAIMS = {
    "C1": ("as_vs_standard", "AS QDNNs ({a}) lose more under {fault} faults than standard QDNNs"),
    "C3": ("saq_vs_conventional", "SAQ raises the accuracy of {a} QDNNs under {fault} faults"),
    "C4": ("as_saq_vs_standard_conventional",
           "SAQ-trained {a} QDNNs beat conventionally trained standard QDNNs under {fault} faults"),
}
SHARPNESS_CLAIMS = {  # kind, direction (+1: a sharper than b), statement
    "C2": ("as_vs_standard", 1, "AS QDNNs ({a}) sit in sharper minima than standard QDNNs ({metric})"),
    "C5": ("saq_vs_conventional", -1, "SAQ reaches flatter minima than conventional training ({a}, {metric})"),
}
PAIR = ["kind", "comparison", "a_variant", "a_training", "b_variant", "b_training"]


def retained(acc, clean, chance):
    """Share of above-chance accuracy kept; undefined for a network at or below chance clean."""
    above = clean - chance
    return ((acc - chance) / above).where(above > 0)


def fault_effects(seed_means: pd.DataFrame, comps: pd.DataFrame, chance: dict, window: tuple) -> pd.DataFrame:
    """Per (point, comparison, seed): both networks' accuracy, clean accuracy and retained
    share, and whether the rate is informative (the reference network b keeps, on average over
    seeds, a share of its above-chance accuracy inside ``window``)."""
    p = aggregate.paired_by_seed(seed_means, comps)
    p = p[p.rate > 0].copy()
    ch = p.dataset.map(chance).astype(float)
    p["retained_a"] = retained(p.accuracy_a, p.clean_a, ch)
    p["retained_b"] = retained(p.accuracy_b, p.clean_b, ch)
    ref = p.groupby(aggregate.POINT_COLS + ["comparison"])["retained_b"].transform("mean")
    p["in_window"] = ref.between(*window)
    # Each per-rate quantity, oriented so that a positive value is the claim's direction.
    return p.assign(retained_gap=p.retained_b - p.retained_a, lost_gap=p.lost_diff, accuracy_gap=-p["diff"],
                    accuracy_gain=p["diff"], retained_gain=p.retained_a - p.retained_b)


def per_seed(effects: pd.DataFrame) -> pd.DataFrame:
    """Every quantity of QUANTITIES per (dataset, arch, fault, comparison, seed), in points."""
    keys = ["dataset", "arch", "fault", *PAIR, "seed"]
    w = effects[effects.in_window]
    cols = ["retained_gap", "lost_gap", "accuracy_gap", "accuracy_gain", "retained_gain"]
    out = effects.groupby(keys, sort=True).agg(lost_gap_all_rates=("lost_diff", "mean"), trials=("trials", "min"))
    out = out.join(w.groupby(keys, sort=True)[cols].mean()).reset_index()
    for c in QUANTITIES:
        out[c] = 100 * out[c]
    rates = w.groupby(["dataset", "arch", "fault", "comparison"])["rate"].unique()
    out["window_rates"] = [", ".join(f"{r:g}" for r in sorted(rates.get((d, a, f, c), [])))
                           for d, a, f, c in zip(out.dataset, out.arch, out.fault, out.comparison)]
    return out




def on_log_scale(metric: str) -> bool:
    """Curvatures (positive by construction) are compared as ratios, on their log; the loss
    differences (eps_sharpness, fault_sharpness, ...) can be zero or negative: relative differences."""
    return metric.startswith(("fault_curvature_", "hessian_"))


def per_seed_difference(paired: pd.DataFrame) -> pd.Series:
    """The per-seed value a sharpness row is decided on (``aggregate.paired_sharpness`` rows): 100 x
    log(a / b) for a curvature (``on_log_scale``; back-transformed by ``to_percent``), else the
    relative difference in %."""
    log = np.log(paired.a.where(paired.a > 0) / paired.b.where(paired.b > 0))
    return 100 * pd.Series(np.where([on_log_scale(m) for m in paired.metric], log, paired.rel_diff), index=paired.index)


def to_percent(table: pd.DataFrame) -> pd.DataFrame:
    """C2 and C5 curvature rows decided on 100 x log ratio, back-transformed to % change:
    100 (e^(x/100) - 1), so that no value or interval leaves (-100 %, +inf) (the verdict, a sign,
    is unchanged)."""
    rows = table.claim.isin(list(SHARPNESS_CLAIMS)) & table.quantity.astype(str).map(on_log_scale)
    cols = ["measured_value", "ci_low", "ci_high", "adj_ci_low", "adj_ci_high", "mde"]
    table = table.copy()
    table.loc[rows, cols] = 100 * np.expm1(table.loc[rows, cols].astype(float) / 100)
    return table


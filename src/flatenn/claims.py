"""The paper's claims as pure functions: tables in, claims table out.

One estimator for every claim: a Student t interval over trained networks (seeds) of a
per-seed value (see ``flatenn.stats``). A fault claim is decided on its declared aggregate,
the mean paired difference over the faulty rates (per AS level); the per-rate verdicts go
to ``claims_by_rate``; the paper's "up to" number is matched by the largest per-rate mean,
given with a Bonferroni interval over the rates searched, and decides nothing.
"""
from __future__ import annotations

import math

import pandas as pd

from flatenn.stats import equivalence_verdict, seed_level_ci, verdict

PAPER = {  # (v1, latest version), in the paper's "%", read as accuracy points
    "C1": ("17.32", "11.13"),
    "C3-AS": ("36.71", "19.50"),
    "C3-standard": ("24.76", "15.82"),
}
STATEMENTS = {
    "C1": "AS QDNNs ({a}) lose more accuracy under {fault} faults than standard QDNNs (conventional "
          "training); value: accuracy lost (own clean minus faulty), AS minus standard, points",
    "C2": "AS QDNNs ({a}) sit in sharper minima than standard QDNNs (conventional training); "
          "value: relative difference of {metric}, AS vs standard, %",
    "C3": "SAQ raises the accuracy of {a} QDNNs under {fault} faults over conventional training; "
          "value: SAQ minus conventional, points",
    "C4": "SAQ-trained {a} QDNNs beat conventionally trained standard QDNNs under {fault} faults; "
          "value: accuracy difference, points",
    "C5": "SAQ reaches flatter minima than conventional training ({a}); value: relative difference of "
          "{metric}, SAQ vs conventional, %",
    "C5-clean": "SAQ keeps the clean accuracy of {a} QDNNs (within {margin:g} points); value: SAQ minus "
                "conventional test accuracy, points",
}
# Which comparison each fault claim reads, the column it decides on, and the expected sign.
FAULT_CLAIMS = {"C1": ("as_vs_standard", "lost_diff", "conventional"),
                "C3": ("saq_vs_conventional", "diff", None),
                "C4": ("as_saq_vs_standard_conventional", "diff", None)}
# Sharpness metrics that decide C2 and C5: Hessian metrics that a rescaling of BN-followed filters
# leaves alone (fault-shaped sharpness is invariant too, but near zero its relative difference is noise).
DECIDING_METRICS = ["hessian_top_eig_normalized", "hessian_trace_normalized"]
COLUMNS = ["claim", "arch", "statement", "paper_v1", "paper_latest", "measured_value", "ci_low", "ci_high",
           "verdict", "fault", "aggregate", "n_seeds", "trials_per_seed", "method", "mde", "dataset",
           "comparison", "absolute_value", "absolute_ci_low", "absolute_ci_high", "up_to_value",
           "up_to_ci_low", "up_to_ci_high", "up_to_rate"]
BY_RATE_COLUMNS = ["claim", "dataset", "arch", "fault", "rate", "comparison", "measured_value", "ci_low",
                   "ci_high", "verdict", "n_seeds", "trials_per_seed", "mde"]
METHOD = "t interval over seeds of per-seed means (maps and images nested in seeds)"


def _pts(ci: dict, scale: float = 100.0) -> dict:
    return {"measured_value": scale * ci["mean"], "ci_low": scale * ci["ci_low"],
            "ci_high": scale * ci["ci_high"], "mde": scale * ci["mde"], "n_seeds": ci["n"]}


def _paper(claim: str, variant: str) -> tuple[str, str]:
    if claim == "C3":
        return PAPER["C3-standard" if variant == "standard" else "C3-AS"]
    return PAPER.get(claim, ("-", "-"))


def fault_claims(by_seed: pd.DataFrame, level: float) -> tuple[list[dict], list[dict]]:
    """C1, C3, C4 from the per-seed paired table (``aggregate.paired_by_seed``)."""
    rows, by_rate = [], []
    faulty = by_seed[by_seed.rate > 0]
    for claim, (kind, column, training) in FAULT_CLAIMS.items():
        d = faulty[faulty.kind == kind]
        if training is not None:
            d = d[d.comparison.str.endswith(f"({training})")]
        for (ds, arch, fault, comp), g in d.groupby(["dataset", "arch", "fault", "comparison"], sort=True):
            a = g["a_variant"].iloc[0]
            sign = -1.0 if claim == "C1" else 1.0  # C1's absolute gap: standard minus AS
            per_seed = g.groupby("seed")[[column, "diff"]].mean()  # mean over the faulty rates
            ci = seed_level_ci(per_seed[column], level)
            absolute = seed_level_ci(sign * per_seed["diff"], level)
            rates = sorted(g.rate.unique())
            per_rate = {r: seed_level_ci(h[column], level) for r, h in g.groupby("rate")}
            best = max(rates, key=lambda r: per_rate[r]["mean"])
            up = seed_level_ci(g.loc[g.rate == best, column], 1 - (1 - level) / len(rates))
            trials = int(g["trials"].min())
            paper = _paper(claim, a)
            rows.append({"claim": claim, "arch": arch, "dataset": ds, "fault": fault, "comparison": comp,
                         "statement": STATEMENTS[claim].format(a=a, fault=fault), "paper_v1": paper[0],
                         "paper_latest": paper[1], **_pts(ci),
                         "verdict": verdict(ci["ci_low"], ci["ci_high"]),
                         "aggregate": f"mean over faulty rates {', '.join(f'{r:g}' for r in rates)}",
                         "trials_per_seed": trials, "method": METHOD,
                         "absolute_value": 100 * absolute["mean"], "absolute_ci_low": 100 * absolute["ci_low"],
                         "absolute_ci_high": 100 * absolute["ci_high"], "up_to_value": 100 * up["mean"],
                         "up_to_ci_low": 100 * up["ci_low"], "up_to_ci_high": 100 * up["ci_high"],
                         "up_to_rate": best})
            for r in rates:
                ci_r = per_rate[r]
                by_rate.append({"claim": claim, "dataset": ds, "arch": arch, "fault": fault, "rate": r,
                                "comparison": comp, **_pts(ci_r),
                                "verdict": verdict(ci_r["ci_low"], ci_r["ci_high"]), "trials_per_seed": trials})
    return rows, by_rate


def sharpness_claims(paired_sharp: pd.DataFrame, level: float) -> list[dict]:
    """C2 (AS vs standard, conventional; expect sharper) and C5 (SAQ vs conventional; expect
    flatter), per AS level or variant, paired by seed, on the scale-invariant metrics."""
    rows = []
    spec = {"C2": ("as_vs_standard", True), "C5": ("saq_vs_conventional", False)}
    for claim, (kind, positive) in spec.items():
        d = paired_sharp[(paired_sharp.kind == kind) & paired_sharp.metric.isin(DECIDING_METRICS)]
        if claim == "C2":
            d = d[d.comparison.str.endswith("(conventional)")]
        for (ds, arch, comp, metric), g in d.groupby(["dataset", "arch", "comparison", "metric"], sort=True):
            ci = seed_level_ci(g["rel_diff"], level)
            rows.append({"claim": claim, "arch": arch, "dataset": ds, "fault": "", "comparison": comp,
                         "statement": STATEMENTS[claim].format(a=g["a_variant"].iloc[0], metric=metric),
                         "paper_v1": "-", "paper_latest": "-", **_pts(ci),
                         "verdict": verdict(ci["ci_low"], ci["ci_high"], expect_positive=positive),
                         "aggregate": f"{metric}, relative difference per seed", "trials_per_seed": math.nan,
                         "method": "t interval over seeds of per-seed relative differences"})
    return rows


def clean_claims(clean: pd.DataFrame, level: float, margin: float = 1.5) -> list[dict]:
    """C5-clean: SAQ minus conventional test accuracy per variant, an equivalence check."""
    rows = []
    for (ds, arch, v), g in clean.groupby(["dataset", "arch", "variant"], sort=True):
        e = g.pivot(index="seed", columns="training", values="accuracy")
        if not {"saq", "conventional"} <= set(e.columns):
            continue
        ci = seed_level_ci((e["saq"] - e["conventional"]).dropna(), level)
        pts = _pts(ci)
        rows.append({"claim": "C5-clean", "arch": arch, "dataset": ds, "fault": "",
                     "comparison": f"saq-conventional ({v})",
                     "statement": STATEMENTS["C5-clean"].format(a=v, margin=margin), "paper_v1": "-",
                     "paper_latest": "-", **pts,
                     "verdict": equivalence_verdict(pts["ci_low"], pts["ci_high"], margin),
                     "aggregate": "test accuracy", "trials_per_seed": math.nan,
                     "method": f"t interval over seeds; PASS when inside +-{margin:g} points"})
    return rows


def evaluate(by_seed: pd.DataFrame, paired_sharp: pd.DataFrame, clean: pd.DataFrame, level: float,
             margin: float = 1.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(claims, claims by rate) from the per-seed paired fault table, the per-seed paired
    sharpness table and the clean-accuracy table."""
    rows, by_rate = fault_claims(by_seed, level)
    rows += sharpness_claims(paired_sharp, level) + clean_claims(clean, level, margin)
    order = {c: i for i, c in enumerate(["C1", "C2", "C3", "C4", "C5", "C5-clean"])}
    claims = pd.DataFrame(rows).reindex(columns=COLUMNS)
    claims = claims.sort_values(["claim", "dataset", "arch", "fault", "comparison", "aggregate"],
                                key=lambda c: c.map(order) if c.name == "claim" else c, kind="stable")
    return claims.reset_index(drop=True), pd.DataFrame(by_rate).reindex(columns=BY_RATE_COLUMNS)

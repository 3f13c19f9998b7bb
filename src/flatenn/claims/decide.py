"""Decisions: one family per claim and architecture, Bonferroni over it for the verdict and its
interval alike (PASS / FAIL / INCONCLUSIVE), and the rows each claim decides: the fault claims
(C1, C3, C4), the sharpness claims (C2, C5), C5-clean's equivalence test, and the exploratory
per-rate rows and "up to" maxima."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as st

from flatenn.aggregate import comparisons
from flatenn.claims.quantities import (FAULT_CLAIMS, PAIR, PAPER, QUANTITIES, SHARPNESS_CLAIMS, on_log_scale,
                                       per_seed_difference)
from flatenn.stats import seed_intervals, tost

BY_RATE_COLUMNS = ["claim", "dataset", "arch", "fault", "rate", "comparison", "measured_value", "ci_low",
                   "ci_high", "verdict", "n_seeds", "trials_per_seed", "mde", "quantity", "in_window", "role"]


def compared(df: pd.DataFrame, kind: str, spec: dict) -> pd.DataFrame:
    """The rows of one kind of comparison, restricted to the plan's training where it names one."""
    d = df[df.kind == kind]
    return d[d.a_training == spec["training"]] if "training" in spec else d


def bonferroni(p) -> np.ndarray:
    """Bonferroni-adjusted p-values over the defined ones (NaN is not a hypothesis)."""
    p = np.asarray(p, dtype=float)
    return np.minimum(1.0, p * max(int(np.sum(~np.isnan(p))), 1))


def verdict_of(p_adjusted, signed, alpha: float):
    """PASS where the adjusted test rejects in the claim's direction, FAIL in the other, else
    INCONCLUSIVE (arrays or scalars)."""
    sig = np.asarray(p_adjusted, dtype=float) < alpha
    out = np.where(sig & (np.asarray(signed) > 0), "PASS", np.where(sig & (np.asarray(signed) < 0), "FAIL",
                                                                     "INCONCLUSIVE"))
    return out if out.ndim else str(out)


def decide_families(rows: pd.DataFrame, alpha: float, correction: str) -> pd.DataFrame:
    """p_adjusted within each family and role (Bonferroni: ``correction`` is validated by the plan's
    schema); the family-wise interval of the same correction (level 1 - alpha/m, so it excludes
    zero exactly when the verdict decides); the verdict: PASS when the adjusted test rejects in the
    claim's direction, FAIL in the other, else INCONCLUSIVE."""
    assert correction == "bonferroni", correction
    rows = rows.copy()
    rows["p_adjusted"], rows["family_size"] = np.nan, 0
    rows["adj_ci_low"], rows["adj_ci_high"] = np.nan, np.nan
    for _, idx in rows.groupby(["family", "role"], sort=False).groups.items():
        p = rows.loc[idx, "p_value"].to_numpy(dtype=float)
        m = max(int(np.sum(~np.isnan(p))), 1)
        rows.loc[idx, "p_adjusted"], rows.loc[idx, "family_size"] = bonferroni(p), m
        n = rows.loc[idx, "n_seeds"].to_numpy(dtype=float)
        crit = st.t.ppf(1 - alpha / (2 * m), np.maximum(n - 1, 1))
        half = np.where(n > 1, crit * rows.loc[idx, "std"].to_numpy() / np.sqrt(np.maximum(n, 1)), np.inf)
        rows.loc[idx, "adj_ci_low"] = rows.loc[idx, "measured_value"].to_numpy() - half
        rows.loc[idx, "adj_ci_high"] = rows.loc[idx, "measured_value"].to_numpy() + half
    rows["verdict"] = verdict_of(rows["p_adjusted"], rows["measured_value"] * rows["direction"], alpha)
    return rows


def intervals(values: pd.DataFrame, keys: list, value: str, level: float) -> pd.DataFrame:
    ci = seed_intervals(values, keys, value, level)
    return ci.rename(columns={"mean": "measured_value", "n": "n_seeds"})


def paper_figures(claim: str, variant: str) -> tuple[str, str]:
    if claim == "C3":
        return PAPER["C3-standard" if variant == "standard" else "C3-AS"]
    return PAPER.get(claim, ("-", "-"))


def in_plan(rows: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """The rows of the fault types a fault claim's plan names ("configured": every one of the run)."""
    return rows[rows.fault.isin(spec["faults"])] if isinstance(spec.get("faults"), list) else rows


def fault_claims(seeds: pd.DataFrame, plan: dict) -> pd.DataFrame:
    """C1, C3, C4: the primary quantity and the secondary ones, per comparison and fault type."""
    frames = []
    for claim, (kind, statement) in FAULT_CLAIMS.items():
        spec = plan["claims"][claim]
        d = in_plan(compared(seeds, kind, spec), spec)
        if d.empty:
            continue
        for role, names in (("primary", [spec["primary"]]), ("secondary", spec.get("secondary", []))):
            for q in names:
                keys = ["dataset", "arch", "fault", *PAIR]
                ci = intervals(d, keys, q, plan["level"])
                extra = d.groupby(keys, sort=True).agg(trials_per_seed=("trials", "min"),
                                                       window_rates=("window_rates", "first")).reset_index()
                ci = ci.merge(extra, on=keys, how="right")
                ci["n_seeds"] = ci["n_seeds"].fillna(0).astype(int)
                no_window = ci.window_rates == ""
                where = np.where(q == "lost_gap_all_rates", "every faulty rate",
                                 "informative rates " + ci.window_rates)
                ci = ci.assign(claim=claim, role=role, quantity=q, direction=1,
                               aggregate=np.where(no_window & (q != "lost_gap_all_rates"),
                                                  "no informative rate: not decided", q + " over " + where),
                               statement=[statement.format(a=a, fault=f) + f"; value: {QUANTITIES[q]}, points"
                                          for a, f in zip(ci.a_variant, ci.fault)])
                paper = [paper_figures(claim, a) for a in ci.a_variant]
                ci["paper_v1"], ci["paper_latest"] = [p[0] for p in paper], [p[1] for p in paper]
                frames.append(ci)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def sharpness_claims(paired_sharp: pd.DataFrame, plan: dict) -> pd.DataFrame:
    """C2 and C5 on per-seed relative differences (%), primary metrics then secondary ones;
    ``secondary_disagree`` names, on a primary row, the secondary metrics whose own interval
    lies on the other side of zero."""
    frames = []
    metrics = set(paired_sharp.metric) if len(paired_sharp) else set()
    for claim, (kind, direction, statement) in SHARPNESS_CLAIMS.items():
        spec = plan["claims"][claim]
        d = compared(paired_sharp, kind, spec)
        for role, names in (("primary", spec["primary"]), ("secondary", spec.get("secondary", []))):
            names = [m for m in names if m in metrics]
            g = d[d.metric.isin(names)]
            g = g.assign(rel=per_seed_difference(g))
            if g.empty:
                continue
            keys = ["dataset", "arch", *PAIR, "metric"]
            ci = intervals(g, keys, "rel", plan["level"])
            ci = ci.assign(claim=claim, role=role, quantity=ci.metric, direction=direction, fault="",
                           aggregate=[m + (", ratio per seed, decided on its log, printed as % change (geometric "
                                           "mean)" if on_log_scale(m) else ", relative difference per seed, %")
                                      for m in ci.metric], trials_per_seed=math.nan,
                           paper_v1="-", paper_latest="-",
                           statement=[statement.format(a=a, metric=m) for a, m in zip(ci.a_variant, ci.metric)])
            frames.append(ci)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if out.empty:
        return out
    sec = out[out.role == "secondary"]
    disagree = []
    for r in out.itertuples():
        if r.role != "primary":
            disagree.append("")
            continue
        s = sec[(sec.claim == r.claim) & (sec.dataset == r.dataset) & (sec.arch == r.arch)
                & (sec.comparison == r.comparison)]
        other = s[(s.ci_low > 0) & (r.measured_value < 0) | (s.ci_high < 0) & (r.measured_value > 0)]
        disagree.append(", ".join(other.metric))
    return out.assign(secondary_disagree=disagree).drop(columns="metric")


def clean_claims(clean: pd.DataFrame, plan: dict) -> pd.DataFrame:
    """C5-clean: SAQ minus conventional test accuracy per variant (the clean cost of SAQ), a
    TOST of equivalence within the plan's margin (its 1 - 2 alpha interval)."""
    margin, alpha = plan["claims"]["C5-clean"]["margin"], 1 - plan["level"]
    named = {c["a_variant"]: c for c in comparisons(sorted(set(clean.variant)), ["saq", "conventional"])
             .query("kind == 'saq_vs_conventional'").to_dict("records")}
    rows = []
    for (ds, arch, v), g in clean.groupby(["dataset", "arch", "variant"], sort=True):
        e = g.pivot(index="seed", columns="training", values="accuracy")
        if not {"saq", "conventional"} <= set(e.columns):
            continue
        res = tost(100 * (e["saq"] - e["conventional"]).dropna(), margin, alpha)
        rows.append({"claim": "C5-clean", "dataset": ds, "arch": arch, "fault": "", **named[v],
                     "quantity": "clean_accuracy_difference",
                     "statement": f"SAQ keeps the clean accuracy of {v} QDNNs (within {margin:g} points); value: "
                                  "SAQ minus conventional test accuracy, points",
                     "measured_value": res["mean"], "ci_low": res["ci_low"], "ci_high": res["ci_high"],
                     "std": res["std"], "n_seeds": res["n"], "p_value": res["p_value"], "tost": res["verdict"],
                     "mde": math.nan, "role": "primary", "direction": 1, "paper_v1": "-", "paper_latest": "-",
                     "aggregate": f"test accuracy; {100 - 200 * alpha:g} % interval inside +-{margin:g} points (TOST)",
                     "trials_per_seed": math.nan})
    return pd.DataFrame(rows)


def up_to(effects: pd.DataFrame, plan: dict) -> pd.DataFrame:
    """The paper's "up to" numbers: per fault claim and architecture, the largest per-rate accuracy
    effect over every cell searched (fault types x faulty rates x comparisons), with a Bonferroni
    interval over those cells. Exploratory: the maximum is picked on the same data."""
    rows = []
    value = {"C1": -1.0, "C3": 1.0, "C4": 1.0}  # accuracy_gap for C1, accuracy_gain otherwise
    for claim, (kind, _) in FAULT_CLAIMS.items():
        spec = plan["claims"][claim]
        d = compared(effects, kind, spec)
        d = d.assign(v=100 * value[claim] * d["diff"])
        for (ds, arch), g in d.groupby(["dataset", "arch"], sort=True):
            cells = intervals(g, ["fault", "rate", *PAIR], "v", plan["level"])
            m = len(cells)
            best = cells.loc[cells.measured_value.idxmax()]
            cell = g[(g.fault == best.fault) & (g.rate == best.rate) & (g.comparison == best.comparison)]
            ci = intervals(cell, [], "v", 1 - (1 - plan["level"]) / m).iloc[0]
            rows.append({"claim": claim, "dataset": ds, "arch": arch, "fault": best.fault, **best[PAIR].to_dict(),
                         "quantity": "accuracy_gap" if claim == "C1" else "accuracy_gain", "role": "exploratory",
                         "measured_value": ci.measured_value, "ci_low": ci.ci_low, "ci_high": ci.ci_high,
                         "n_seeds": ci.n_seeds, "std": ci["std"], "p_value": ci.p_value, "mde": ci.mde,
                         "trials_per_seed": int(cell.trials.min()), "direction": 1, "rate": best.rate,
                         "aggregate": f"up to: the largest per-rate effect of {m} cells searched, at rate "
                                      f"{best.rate:g} (Bonferroni interval over the {m})",
                         "statement": FAULT_CLAIMS[claim][1].format(a=best.a_variant, fault=best.fault)
                         + "; value: accuracy points at one rate",
                         **dict(zip(("paper_v1", "paper_latest"), paper_figures(claim, best.a_variant)))})
    return pd.DataFrame(rows)


def by_rate(effects: pd.DataFrame, plan: dict) -> pd.DataFrame:
    """Exploratory: each fault claim's primary quantity at each faulty rate."""
    frames = []
    for claim, (kind, _) in FAULT_CLAIMS.items():
        spec = plan["claims"][claim]
        d = compared(effects, kind, spec)
        q = spec["primary"]
        d = d.assign(v=100 * d[q])  # fault_effects' per-rate column of the primary quantity
        keys = ["dataset", "arch", "fault", "rate", "comparison"]
        ci = intervals(d, keys, "v", plan["level"])
        extra = d.groupby(keys, sort=True).agg(trials_per_seed=("trials", "min"), in_window=("in_window", "first"))
        ci = ci.merge(extra.reset_index(), on=keys)
        verdict = np.where(ci.ci_low > 0, "PASS", np.where(ci.ci_high < 0, "FAIL", "INCONCLUSIVE"))
        frames.append(ci.assign(claim=claim, quantity=q, verdict=verdict, role="exploratory"))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=BY_RATE_COLUMNS)
    return out.reindex(columns=BY_RATE_COLUMNS)


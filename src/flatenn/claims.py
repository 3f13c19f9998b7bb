"""The paper's claims under a declared analysis plan: per-seed tables and the plan in, claims
tables out (pure: no files).

The trained network (seed) is the unit: every decision is a t test over per-seed values
(``stats.seed_intervals``), with Bonferroni's correction over the plan's family (every primary
row of one claim and architecture: fault types x AS levels, or metrics x AS levels) for the
verdict and its interval alike; beside every primary verdict its robustness (``robustness``):
the plan's alternative windows, the worst leave-one-out and an exact permutation p. Fault claims
are decided on informative rates only: where the comparison's reference network keeps
``window`` of its above-chance accuracy (a floor rate, where both sit at chance, would turn a
clean-accuracy gap into a robustness difference). C1 compares the *share* of above-chance
accuracy each network keeps, (faulty - chance) / (clean - chance), which a clean gap cannot
move. Per-rate rows and the paper's "up to" maxima are exploratory.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats as st

from flatenn import aggregate
from flatenn.verdicts import UNDETERMINED, contrast_words, is_equivalence
from flatenn.stats import (one_sided_p, relabel_p, seed_intervals, sign_flip_p, t_p, tost, welch,
                           within_seed_rank_correlation)

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
COLUMNS = ["claim", "arch", "statement", "paper_v1", "paper_latest", "measured_value", "ci_low", "ci_high",
           "verdict", "fault", "aggregate", "n_seeds", "trials_per_seed", "method", "mde", "p_value", "p_adjusted",
           "family", "role", "dataset", "comparison", "a_variant", "a_training", "b_variant", "b_training",
           "quantity", "adj_ci_low", "adj_ci_high", "window_rates", "rate", "secondary_disagree", "family_size",
           "window_verdicts", "loo_verdict", "loo_left_out", "perm_p", "perm_p_adjusted", "robustness", "fragile_by",
           "seeds_for", "seeds_against"]
ROBUST_COLUMNS = ["family_size", "window_verdicts", "loo_verdict", "loo_left_out", "perm_p", "perm_p_adjusted",
                  "robustness", "fragile_by"]
BY_RATE_COLUMNS = ["claim", "dataset", "arch", "fault", "rate", "comparison", "measured_value", "ci_low",
                   "ci_high", "verdict", "n_seeds", "trials_per_seed", "mde", "quantity", "in_window", "role"]
INTERACTION_COLUMNS = ["claim", "dataset", "fault", "comparison", "quantity", "arch_a", "arch_b", "effect_a",
                       "effect_b", "diff", "ci_low", "ci_high", "adj_ci_low", "adj_ci_high", "p_value", "p_adjusted",
                       "family", "margin", "eq_ci_low", "eq_ci_high", "verdict", "changes_sign_p",
                       "changes_sign_p_adjusted", "changes_sign", "n_a", "n_b",
                       *ROBUST_COLUMNS]
EXPLAINS_COLUMNS = ["dataset", "arch", "fault", "metric", "rho", "ci_low", "ci_high", "p_value", "p_adjusted",
                    "n_seeds", "networks_per_seed", "reading", "p_t", "p_permutation"]
METHOD = "t test over seeds of per-seed values (maps and images nested in seeds), Bonferroni over the family"
PAIR = ["kind", "comparison", "a_variant", "a_training", "b_variant", "b_training"]


# ---------------------------------------------------------------- per-seed quantities

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


# ---------------------------------------------------------------- decisions

def _compared(df: pd.DataFrame, kind: str, spec: dict) -> pd.DataFrame:
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


def _decide(rows: pd.DataFrame, alpha: float, correction: str) -> pd.DataFrame:
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


def _intervals(values: pd.DataFrame, keys: list, value: str, level: float) -> pd.DataFrame:
    ci = seed_intervals(values, keys, value, level)
    return ci.rename(columns={"mean": "measured_value", "n": "n_seeds"})


def _paper(claim: str, variant: str) -> tuple[str, str]:
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
        d = in_plan(_compared(seeds, kind, spec), spec)
        if d.empty:
            continue
        for role, names in (("primary", [spec["primary"]]), ("secondary", spec.get("secondary", []))):
            for q in names:
                keys = ["dataset", "arch", "fault", *PAIR]
                ci = _intervals(d, keys, q, plan["level"])
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
                paper = [_paper(claim, a) for a in ci.a_variant]
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
        d = _compared(paired_sharp, kind, spec)
        for role, names in (("primary", spec["primary"]), ("secondary", spec.get("secondary", []))):
            names = [m for m in names if m in metrics]
            g = d[d.metric.isin(names)]
            g = g.assign(rel=per_seed_difference(g))
            if g.empty:
                continue
            keys = ["dataset", "arch", *PAIR, "metric"]
            ci = _intervals(g, keys, "rel", plan["level"])
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
    rows = []
    for (ds, arch, v), g in clean.groupby(["dataset", "arch", "variant"], sort=True):
        e = g.pivot(index="seed", columns="training", values="accuracy")
        if not {"saq", "conventional"} <= set(e.columns):
            continue
        res = tost(100 * (e["saq"] - e["conventional"]).dropna(), margin, alpha)
        rows.append({"claim": "C5-clean", "dataset": ds, "arch": arch, "fault": "", "kind": "saq_vs_conventional",
                     "comparison": f"saq-conventional ({v})", "a_variant": v, "a_training": "saq", "b_variant": v,
                     "b_training": "conventional", "quantity": "clean_accuracy_difference",
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
        d = _compared(effects, kind, spec)
        d = d.assign(v=100 * value[claim] * d["diff"])
        for (ds, arch), g in d.groupby(["dataset", "arch"], sort=True):
            cells = _intervals(g, ["fault", "rate", *PAIR], "v", plan["level"])
            m = len(cells)
            best = cells.loc[cells.measured_value.idxmax()]
            cell = g[(g.fault == best.fault) & (g.rate == best.rate) & (g.comparison == best.comparison)]
            ci = _intervals(cell, [], "v", 1 - (1 - plan["level"]) / m).iloc[0]
            rows.append({"claim": claim, "dataset": ds, "arch": arch, "fault": best.fault, **best[PAIR].to_dict(),
                         "quantity": "accuracy_gap" if claim == "C1" else "accuracy_gain", "role": "exploratory",
                         "measured_value": ci.measured_value, "ci_low": ci.ci_low, "ci_high": ci.ci_high,
                         "n_seeds": ci.n_seeds, "std": ci["std"], "p_value": ci.p_value, "mde": ci.mde,
                         "trials_per_seed": int(cell.trials.min()), "direction": 1, "rate": best.rate,
                         "aggregate": f"up to: the largest per-rate effect of {m} cells searched, at rate "
                                      f"{best.rate:g} (Bonferroni interval over the {m})",
                         "statement": FAULT_CLAIMS[claim][1].format(a=best.a_variant, fault=best.fault)
                         + "; value: accuracy points at one rate",
                         "paper_v1": _paper(claim, best.a_variant)[0], "paper_latest": _paper(claim, best.a_variant)[1]})
    return pd.DataFrame(rows)


def by_rate(effects: pd.DataFrame, plan: dict) -> pd.DataFrame:
    """Exploratory: each fault claim's primary quantity at each faulty rate."""
    frames = []
    for claim, (kind, _) in FAULT_CLAIMS.items():
        spec = plan["claims"][claim]
        d = _compared(effects, kind, spec)
        q = spec["primary"]
        d = d.assign(v=100 * d[q])  # fault_effects' per-rate column of the primary quantity
        keys = ["dataset", "arch", "fault", "rate", "comparison"]
        ci = _intervals(d, keys, "v", plan["level"])
        extra = d.groupby(keys, sort=True).agg(trials_per_seed=("trials", "min"), in_window=("in_window", "first"))
        ci = ci.merge(extra.reset_index(), on=keys)
        verdict = np.where(ci.ci_low > 0, "PASS", np.where(ci.ci_high < 0, "FAIL", "INCONCLUSIVE"))
        frames.append(ci.assign(claim=claim, quantity=q, verdict=verdict, role="exploratory"))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=BY_RATE_COLUMNS)
    return out.reindex(columns=BY_RATE_COLUMNS)


def _interaction_rows(seeds: pd.DataFrame, clean: pd.DataFrame, plan: dict, depth: dict) -> list[dict]:
    """Every between-architecture contrast of a study, unadjusted, with each side's per-network
    values (``values_a``, ``values_b``: Series by seed): C1's primary quantity per fault type and
    AS level, deeper minus shallower; and, where both architectures have two or more AS levels,
    the difference of their slopes (``slopes``)."""
    claim = plan["interaction"]["claim"]
    q = plan["claims"][claim]["primary"]
    d = _compared(seeds, FAULT_CLAIMS[claim][0], plan["claims"][claim])
    parts = [(comp, q, g) for (comp,), g in d.groupby(["comparison"], sort=True)]
    if "slope" in plan and plan["slope"]["claim"] == claim and len(d):
        per = per_seed_slopes(effect_vs_gain(seeds, clean, plan), q, plan["slope"]["per"])
        per = per[per.levels >= 2]
        if len(per):
            parts.append((f"slope per {plan['slope']['per']:g} sparsity gained", "slope",
                          per.rename(columns={"slope": "slope_value"})))
    rows = []
    for comp, quantity, g in parts:
        col = "slope_value" if quantity == "slope" else q
        for (ds, fault), h in g.groupby(["dataset", "fault"], sort=True):
            archs = sorted(h.arch.unique(), key=lambda a: (depth[a], a))
            for a, b in itertools.combinations(archs, 2):
                va, vb = (h[h.arch == x].set_index("seed")[col].dropna() for x in (a, b))
                rows.append({"claim": claim, "dataset": ds, "fault": fault, "comparison": comp, "quantity": quantity,
                             "arch_a": a, "arch_b": b, "values_a": va, "values_b": vb})
    return rows


def _margin(plan: dict, quantity: str) -> float:
    spec = plan["interaction"]
    return spec["slope_margin"] if quantity == "slope" else spec["margin"]


def _between(va: pd.Series, vb: pd.Series, m: int, alpha: float, margin: float) -> dict:
    """One between-architecture contrast decided at family size m: Welch's difference test
    (Bonferroni) and its TOST against +-margin (the 1 - 2 alpha / m interval), in words."""
    t, eq = welch(vb, va, 1 - alpha / m), welch(vb, va, 1 - 2 * alpha / m)
    p_adj = min(1.0, t["p_value"] * m) if not math.isnan(t["p_value"]) else math.nan
    words = contrast_words(p_adj, t["diff"], eq["ci_low"], eq["ci_high"], margin, alpha, DEEPER)
    return {"p_adjusted": p_adj, "adj_ci_low": t["ci_low"], "adj_ci_high": t["ci_high"], "eq_ci_low": eq["ci_low"],
            "eq_ci_high": eq["ci_high"], "verdict": words}


def interaction(seeds: pd.DataFrame, plan: dict, depth: dict, clean: pd.DataFrame | None = None,
                alt_seeds: dict | None = None, loo_seeds: dict | None = None) -> pd.DataFrame:
    """Between architectures, one family per dataset (``_interaction_rows``: every pair x fault
    type x AS level, and slope differences): deeper minus shallower (Welch), Bonferroni over the
    family for the verdict and its interval; where no difference is shown, a TOST against the plan's
    margin under the same correction says "equivalent within +-margin" or "undetermined". "Changes
    sign" is an intersection-union test (one
    architecture's effect below zero and the other's above, one-sided t tests, the larger p; x2
    for the two orientations) under the same correction. Robustness (``robustness``): the
    plan's alternative windows (``alt_seeds``: window label -> per-seed table), each network
    left out in turn (``loo_seeds``: seed -> the per-seed table without that seed, its window
    recomputed), and an exact relabelling permutation p."""
    alpha = 1 - plan["level"]
    clean = clean if clean is not None else pd.DataFrame(columns=["dataset", "arch", "variant", "training", "seed",
                                                                   "activation_sparsity"])
    seeds = in_plan(seeds, plan["claims"][plan["interaction"]["claim"]])
    rows = _interaction_rows(seeds, clean, plan, depth)
    if not rows:
        return pd.DataFrame(columns=INTERACTION_COLUMNS)
    out = pd.DataFrame(rows)
    tests = [welch(r.values_b, r.values_a, plan["level"]) for r in out.itertuples()]
    out["diff"], out["ci_low"], out["ci_high"], out["p_value"] = ([t[k] for t in tests] for k in
                                                                  ("diff", "ci_low", "ci_high", "p_value"))
    out["effect_a"] = [v.mean() if len(v) else math.nan for v in out.values_a]
    out["effect_b"] = [v.mean() if len(v) else math.nan for v in out.values_b]
    out["n_a"], out["n_b"] = [len(v) for v in out.values_a], [len(v) for v in out.values_b]
    out["changes_sign_p"] = [_iut(va, vb) for va, vb in zip(out.values_a, out.values_b)]
    out["family"] = plan["interaction"]["claim"] + " between architectures " + out.dataset
    out["margin"] = [_margin(plan, q) for q in out.quantity]
    out = out.assign(adj_ci_low=np.nan, adj_ci_high=np.nan, eq_ci_low=np.nan, eq_ci_high=np.nan, p_adjusted=np.nan,
                     verdict="")
    for _, idx in out.groupby("family").groups.items():
        m = max(int(out.loc[idx, "p_value"].notna().sum()), 1)
        out.loc[idx, "family_size"] = m
        out.loc[idx, "changes_sign_p_adjusted"] = bonferroni(out.loc[idx, "changes_sign_p"])
        for i in idx:
            for c, x in _between(out.at[i, "values_a"], out.at[i, "values_b"], m, alpha, out.at[i, "margin"]).items():
                out.at[i, c] = x
    out["changes_sign"] = out.changes_sign_p_adjusted < alpha
    if not plan.get("robustness"):  # a plan without robustness (the alternative windows' own runs)
        return out.reindex(columns=INTERACTION_COLUMNS)
    windows = {}
    for label, alt in (alt_seeds or {}).items():
        w = interaction(alt, {**plan, "robustness": None}, depth, clean) if len(alt) else pd.DataFrame()
        windows[label] = {} if w.empty else dict(zip(zip(w.dataset, w.fault, w.comparison, w.arch_a, w.arch_b),
                                                       w.verdict))
    perm = perm_settings(plan)
    loo_rows = {}
    for s_, sd in (loo_seeds or {}).items():
        loo_rows[s_] = {(x["dataset"], x["fault"], x["comparison"], x["arch_a"], x["arch_b"]): x for x in
                        _interaction_rows(in_plan(sd, plan["claims"][plan["interaction"]["claim"]]), clean, plan,
                                          depth)}
    rob = []
    for r in out.itertuples():
        m, key = int(r.family_size), (r.dataset, r.fault, r.comparison, r.arch_a, r.arch_b)

        def decide(va, vb, m=m, margin=r.margin):
            return _between(va, vb, m, alpha, margin)["verdict"]
        if not plan["robustness"].get("leave_one_out", True):
            loo = (r.verdict, "")
        elif loo_rows:
            loo = _loo_networks(r, key, loo_rows, decide)
        else:
            loo = _loo_two(r.values_a, r.values_b, decide, r.verdict, r.arch_a, r.arch_b)
        pp, minp = relabel_p(r.values_b, r.values_a, **perm)
        # a difference test: where it rejects, its words; where it does not, it cannot overturn an
        # equivalence or undetermined verdict, only a "differs"
        pv = _perm_verdict(pp, minp, m, r.diff, alpha,
                           lambda v, full=r.verdict: DEEPER[0] if v == "PASS" else DEEPER[1] if v == "FAIL"
                           else full if is_equivalence(full) else "no difference by permutation")
        key = (r.dataset, r.fault, r.comparison, r.arch_a, r.arch_b)
        wv = {label: w.get(key, "not decided") for label, w in windows.items()}
        rob.append({**status(r.verdict, wv, loo, pv), "perm_p": pp, "perm_p_adjusted": min(1.0, pp * m)})
    out = pd.concat([out.reset_index(drop=True), pd.DataFrame(rob)], axis=1)
    return out.reindex(columns=INTERACTION_COLUMNS)


DEEPER = ("deeper loses more", "deeper loses less")


def _iut(va: pd.Series, vb: pd.Series) -> float:
    one = {(x, s): one_sided_p(float(v.mean()) if len(v) else math.nan, float(v.std(ddof=1)) if len(v) > 1
                               else math.nan, len(v), greater=s) for x, v in (("a", va), ("b", vb))
           for s in (True, False)}
    return min(1.0, 2 * min(max(one[("a", False)], one[("b", True)]), max(one[("a", True)], one[("b", False)])))


# ---------------------------------------------------------------- robustness

def perm_settings(plan: dict) -> dict:
    perm = (plan.get("robustness") or {}).get("permutation") or {"exact_up_to": 4096, "resamples": 20000, "seed": 0}
    return {"exact_up_to": perm["exact_up_to"], "resamples": perm["resamples"], "seed": perm["seed"]}


def _perm_verdict(p: float, min_p: float, m: int, signed: float, alpha: float, name=str):
    """The verdict of the permutation test adjusted like the row's (``name`` words it), or None
    where even its most extreme arrangement cannot reach the level (``min_p`` x m >= alpha)."""
    return name(verdict_of(min(1.0, p * m), signed, alpha)) if min_p * m < alpha else None


def loo_one(values: pd.Series, decide, full: str) -> tuple[str, str]:
    """A verdict with one network (seed) left out that differs from ``full``, and which; else
    ``full`` and ""."""
    for label in values.index:
        v = decide(values.drop(label))
        if v != full:
            return v, f"seed {label}"
    return full, ""


def _loo_two(va: pd.Series, vb: pd.Series, decide, full: str, arch_a: str, arch_b: str) -> tuple[str, str]:
    for label in va.index:
        v = decide(va.drop(label), vb)
        if v != full:
            return v, f"{arch_a} seed {label}"
    for label in vb.index:
        v = decide(va, vb.drop(label))
        if v != full:
            return v, f"{arch_b} seed {label}"
    return full, ""


def _loo_networks(r, key: tuple, loo_rows: dict, decide) -> tuple[str, str]:
    """Each network of a between-architecture contrast left out in turn, its architecture's side
    taken from the per-seed table recomputed without it (its window included): the first verdict
    that differs from ``r.verdict``, and which network; else the verdict and ""."""
    for arch, side in ((r.arch_a, "values_a"), (r.arch_b, "values_b")):
        for s, rows in loo_rows.items():
            if s not in getattr(r, side).index or key not in rows:
                continue
            sides = {x: rows[key][x] if x == side else getattr(r, x) for x in ("values_a", "values_b")}
            if (v := decide(sides["values_a"], sides["values_b"])) != r.verdict:
                return v, f"{arch} seed {s}"
    return r.verdict, ""


def status(full: str, windows: dict, loo: tuple, perm_verdict) -> dict:
    """The robustness columns of one verdict: "fragile" where an alternative window, leaving one
    network out or the permutation test (where it can reach the level) gives another verdict;
    "t test only" where it holds but the permutation cannot reach the level at this n; else
    "solid"."""
    by = [f"at window {label}" for label, v in windows.items() if v != full]
    if loo[0] != full:
        by.append(f"without {loo[1]}")
    if perm_verdict is not None and perm_verdict != full:
        by.append("under the permutation test")
    decided = full not in UNDECIDED and not str(full).startswith(UNDETERMINED)
    status = "fragile" if by else "t test only" if perm_verdict is None and decided else "solid"
    return {"window_verdicts": "; ".join(f"{label}: {v}" for label, v in windows.items()),
            "loo_verdict": loo[0], "loo_left_out": loo[1], "robustness": status, "fragile_by": ", ".join(by)}


UNDECIDED = ("INCONCLUSIVE", "no slope shown", "no change shown", UNDETERMINED)


def _window_label(w: dict) -> str:
    return f"{w['low']:g}-{w['high']:g}"


def robustness(table: pd.DataFrame, seeds: pd.DataFrame, paired_sharp: pd.DataFrame, clean: pd.DataFrame,
               alt_tables: dict, plan: dict, loo_tables: dict | None = None) -> pd.DataFrame:
    """The robustness columns (ROBUST_COLUMNS) of every primary row of the claims table: its
    verdict under each alternative window (``alt_tables``: label -> the claims table decided at
    that window; fault claims only), with one seed left out, and by an exact sign-flip
    permutation test over seeds adjusted as the verdict (C5-clean, an equivalence test: no
    permutation). ``loo_tables`` (seed -> the claims table decided without that seed, its
    informative window recomputed from the remaining seeds) gives the leave-one-out verdicts;
    without it, the per-seed values at the full data's window are decided without each seed."""
    alpha, perm = 1 - plan["level"], perm_settings(plan)
    keys = ["claim", "dataset", "arch", "fault", "comparison", "quantity", "role"]
    alt = {label: dict(zip(map(tuple, t[keys].fillna("").to_numpy()), t.verdict)) for label, t in alt_tables.items()}
    loo_verdicts = {s: dict(zip(map(tuple, t[keys].fillna("").to_numpy()), t.verdict))
                    for s, t in (loo_tables or {}).items()}
    margin = plan["claims"]["C5-clean"]["margin"]
    out = []
    for r in table.itertuples():
        if r.role != "primary":
            out.append({})
            continue
        m = int(r.family_size)
        if r.claim in FAULT_CLAIMS:
            g = seeds[(seeds.dataset == r.dataset) & (seeds.arch == r.arch) & (seeds.fault == r.fault)
                      & (seeds.comparison == r.comparison)]
            values, direction = g.set_index("seed")[r.quantity].dropna(), 1
        elif r.claim in SHARPNESS_CLAIMS:
            g = paired_sharp[(paired_sharp.dataset == r.dataset) & (paired_sharp.arch == r.arch)
                             & (paired_sharp.comparison == r.comparison) & (paired_sharp.metric == r.quantity)]
            values, direction = per_seed_difference(g).set_axis(g.seed).dropna(), SHARPNESS_CLAIMS[r.claim][1]
        else:
            c = clean[(clean.dataset == r.dataset) & (clean.arch == r.arch) & (clean.variant == r.a_variant)]
            e = c.pivot(index="seed", columns="training", values="accuracy")
            values, direction = (100 * (e["saq"] - e["conventional"])).dropna(), 1

        if r.claim == "C5-clean":
            def decide(v, m=m):
                res = tost(v, margin, alpha) if len(v) > 1 else {"p_value": math.nan, "verdict": "INCONCLUSIVE"}
                return "PASS" if min(1.0, res["p_value"] * m) < alpha else \
                    "FAIL" if res["verdict"] == "FAIL" else "INCONCLUSIVE"
            pp, pv = math.nan, None
        else:
            def decide(v, m=m, direction=direction):
                return verdict_of(min(1.0, t_p(v) * m), v.mean() * direction if len(v) else 0.0, alpha)
            pp, minp = sign_flip_p(values, **perm)
            pv = _perm_verdict(pp, minp, m, values.mean() * direction, alpha)
        key = tuple("" if isinstance(x, float) and math.isnan(x) else x for x in (getattr(r, k) for k in keys))
        windows = {label: a.get(key, "not decided") for label, a in alt.items()} if r.claim in FAULT_CLAIMS else {}
        if not (plan.get("robustness") or {}).get("leave_one_out", True):
            loo = (r.verdict, "")
        elif loo_tables is not None:
            loo = next(((t.get(key, "not decided"), f"seed {s}") for s, t in loo_verdicts.items()
                        if t.get(key, "not decided") != r.verdict), (r.verdict, ""))
        else:
            loo = loo_one(values, decide, r.verdict)
        signed = values * direction if r.claim != "C5-clean" else values.iloc[:0]
        out.append({**status(r.verdict, windows, loo, pv), "perm_p": pp, "seeds_for": int((signed > 0).sum()),
                    "seeds_against": int((signed < 0).sum()),
                    "perm_p_adjusted": min(1.0, pp * m) if not math.isnan(pp) else math.nan})
    rob = pd.DataFrame(out, index=table.index).reindex(columns=[c for c in ROBUST_COLUMNS if c != "family_size"]
                                                       + ["seeds_for", "seeds_against"])
    return table.assign(**{c: rob[c] for c in rob.columns})


SLOPE_COLUMNS = ["row", "claim", "dataset", "fault", "quantity", "per_gain", "arch", "slope", "ci_low", "ci_high",
                 "adj_ci_low", "adj_ci_high", "p_value", "p_adjusted", "family", "verdict", "n_seeds", "levels",
                 *ROBUST_COLUMNS]
BY_GAIN_COLUMNS = ["claim", "dataset", "arch", "fault", "a_variant", "quantity", "gain", "gain_ci_low",
                   "gain_ci_high", "effect", "effect_ci_low", "effect_ci_high", "n_seeds"]
ONE_LEVEL = "not estimated: one AS level (a ratio to a noisy gain, no dose-response; see C1's gap)"


def sparsity_gained(clean: pd.DataFrame, training: str) -> pd.DataFrame:
    """Per AS network: its activation sparsity minus that of the standard network of the same
    seed, architecture and training (columns dataset, arch, a_variant, seed, gain)."""
    c = clean[clean.training == training]
    base = c[c.variant == "standard"].set_index(["dataset", "arch", "seed"]).activation_sparsity
    g = c[c.variant != "standard"]
    gain = g.activation_sparsity.to_numpy() - base.reindex(pd.MultiIndex.from_frame(g[["dataset", "arch", "seed"]])
                                                            ).to_numpy()
    return g[["dataset", "arch", "seed"]].assign(a_variant=g.variant.to_numpy(), gain=gain)


def effect_vs_gain(seeds: pd.DataFrame, clean: pd.DataFrame, plan: dict) -> pd.DataFrame:
    """The slope claim's per-seed rows against the standard network, each with its AS network's
    sparsity gained (``gain``): the points the slopes are fitted to."""
    claim = plan["slope"]["claim"]
    spec = plan["claims"][claim]
    seeds = in_plan(seeds, spec)
    d = _compared(seeds, FAULT_CLAIMS[claim][0], spec)
    return d[d.b_variant == "standard"].merge(sparsity_gained(clean, d.a_training.iloc[0] if len(d) else ""),
                                              on=["dataset", "arch", "a_variant", "seed"])


def per_seed_slopes(points: pd.DataFrame, q: str, per: float) -> pd.DataFrame:
    """Per (dataset, arch, fault, seed): the least-squares slope through the origin of quantity
    ``q`` against the sparsity gained, over that seed's AS levels (the standard network is the
    origin: no gain, no effect), per ``per`` gained."""
    d = points[points[q].notna() & points.gain.notna()]
    keys = ["dataset", "arch", "fault", "seed"]
    sums = d.assign(gq=d.gain * d[q], gg=d.gain ** 2).groupby(keys, sort=True).agg(
        gq=("gq", "sum"), gg=("gg", "sum"), levels=("a_variant", "nunique")).reset_index()
    return sums.assign(slope=per * sums.gq / sums.gg.where(sums.gg > 0)).drop(columns=["gq", "gg"])


def slopes(seeds: pd.DataFrame, clean: pd.DataFrame, plan: dict, depth: dict,
           alt_seeds: dict | None = None, loo_seeds: dict | None = None) -> dict[str, pd.DataFrame]:
    """The dose-response endpoint: per architecture with two or more AS levels and fault type,
    the seed-level interval of the per-seed slope (``per_seed_slopes``), Bonferroni over the
    architecture's fault types for the verdict and its interval, with its robustness. An
    architecture with one AS level gets a row per fault type that says the slope is not
    estimated. (Slope differences between architectures are in the between-architecture family:
    ``interaction``.) Also the points the slopes would be fitted to, per AS level (``by_gain``)."""
    claim = plan["slope"]["claim"]
    spec = plan["claims"][claim]
    seeds = in_plan(seeds, spec)
    q, alpha = spec["primary"], 1 - plan["level"]
    d = effect_vs_gain(seeds, clean, plan)
    per = per_seed_slopes(d, q, plan["slope"]["per"])
    rows, values = [], []
    if len(per):
        ci = seed_intervals(per, ["dataset", "arch", "fault"], "slope", plan["level"])
        lv = per.groupby(["dataset", "arch", "fault"], sort=True)["levels"].min().to_numpy()
        for r, levels in zip(ci.itertuples(), lv):
            base = {"row": "slope", "dataset": r.dataset, "fault": r.fault, "arch": r.arch, "n_seeds": r.n,
                    "levels": levels, "family": f"{claim} slope {r.dataset} {r.arch}"}
            if levels < 2:
                rows.append({**base, "verdict": ONE_LEVEL})
                values.append(None)
                continue
            rows.append({**base, "slope": r.mean, "ci_low": r.ci_low, "ci_high": r.ci_high, "p_value": r.p_value,
                         "std": r.std})
            values.append(per[(per.dataset == r.dataset) & (per.arch == r.arch) & (per.fault == r.fault)]
                          .set_index("seed").slope.dropna())
    out = pd.DataFrame(rows, columns=[*SLOPE_COLUMNS, "std"]).assign(claim=claim, quantity=q,
                                                                      per_gain=plan["slope"]["per"])
    out = out.astype({c: object for c in ("verdict", "window_verdicts", "loo_verdict", "loo_left_out", "robustness",
                                          "fragile_by")})
    est = out.levels >= 2
    if est.any():
        e = out[est].assign(measured_value=out.slope, direction=1, role="primary")
        e = _decide(e.drop(columns=["p_adjusted", "adj_ci_low", "adj_ci_high", "family_size"]), alpha,
                    plan["correction"])
        for c in ("p_adjusted", "adj_ci_low", "adj_ci_high", "family_size"):
            out.loc[est, c] = e[c]
        words = {"PASS": "more sparsity, less kept", "FAIL": "more sparsity, more kept"}
        out.loc[est, "verdict"] = [words.get(v, "no slope shown") for v in e.verdict]
        alt = {}
        for label, a in (alt_seeds or {}).items():
            s = slopes(a, clean, {**plan, "robustness": None}, depth)["slope"]
            alt[label] = dict(zip(zip(s.dataset, s.arch, s.fault), s.verdict))
        perm = perm_settings(plan)
        loo_per = {s_: per_seed_slopes(effect_vs_gain(sd, clean, plan), q, plan["slope"]["per"])
                   for s_, sd in (loo_seeds or {}).items()}
        for i in (out.index[est] if plan.get("robustness") else []):
            v, m = values[i], int(out.at[i, "family_size"])

            def decide(x, m=m):
                return words.get(verdict_of(min(1.0, t_p(x) * m), x.mean() if len(x) else 0.0, alpha),
                                 "no slope shown")
            pp, minp = sign_flip_p(v, **perm)
            pv = _perm_verdict(pp, minp, m, v.mean(), alpha, lambda x: words.get(x, "no slope shown"))
            key = (out.at[i, "dataset"], out.at[i, "arch"], out.at[i, "fault"])
            full = out.at[i, "verdict"]
            if loo_per:  # each seed left out, the window recomputed without it
                loo = next(((x, f"seed {s_}") for s_, p in loo_per.items() if (x := decide(
                    p[(p.dataset == key[0]) & (p.arch == key[1]) & (p.fault == key[2])].set_index("seed").slope.dropna()
                )) != full), (full, ""))
            else:
                loo = loo_one(v, decide, full)
            st_ = status(full, {lab: a.get(key, "not decided") for lab, a in alt.items()}, loo, pv)
            for c, x in {**st_, "perm_p": pp, "perm_p_adjusted": min(1.0, pp * m)}.items():
                out.at[i, c] = x
    keys = ["dataset", "arch", "fault", "a_variant"]
    if len(d):
        gain = seed_intervals(d, keys, "gain", plan["level"])
        eff = seed_intervals(d, keys, q, plan["level"])
        by_gain = gain[keys].assign(
            claim=claim, quantity=q, gain=gain["mean"], gain_ci_low=gain.ci_low, gain_ci_high=gain.ci_high,
            effect=eff["mean"], effect_ci_low=eff.ci_low, effect_ci_high=eff.ci_high, n_seeds=eff.n)
    else:
        by_gain = pd.DataFrame(columns=BY_GAIN_COLUMNS)
    return {"slope": out.reindex(columns=SLOPE_COLUMNS), "by_gain": by_gain.reindex(columns=BY_GAIN_COLUMNS)}


def kept_over_window(seed_means: pd.DataFrame, chance: dict, window: tuple) -> pd.DataFrame:
    """Per network and fault type, the share of above-chance accuracy it keeps (``retained``),
    averaged over the informative rates of its architecture (where the standard conventional
    networks keep, on average over seeds, a share inside ``window``)."""
    m = seed_means[seed_means.rate > 0].copy()
    m["retained"] = retained(m.accuracy, m.clean, m.dataset.map(chance).astype(float))
    ref = m[(m.variant == "standard") & (m.training == "conventional")]
    inside = ref.groupby(["dataset", "arch", "fault", "rate"])["retained"].mean().between(*window)
    m = m.join(inside.rename("in_window"), on=["dataset", "arch", "fault", "rate"])
    return m[m.in_window.fillna(False).astype(bool)].groupby(
        ["dataset", "arch", "variant", "training", "seed", "fault"])["retained"].mean().reset_index()


def explains(seed_means: pd.DataFrame, sharp: pd.DataFrame, chance: dict, window: tuple, level: float,
             metrics) -> pd.DataFrame:
    """How well each sharpness metric predicts a network's fault robustness, within an
    architecture: per seed, the Spearman correlation across that seed's networks (variants x
    trainings, at least 3) between the metric and the share of above-chance accuracy kept over
    the informative rates (set by the standard conventional networks), averaged over seeds
    (stats.within_seed_rank_correlation: read where the t test over seeds and the exact
    permutation test within seeds both reject). Bonferroni over the metrics x fault types of one
    architecture, and the interval at the same family-wise level, so that it excludes zero
    exactly where the reading finds a relation."""
    kept = kept_over_window(seed_means, chance, window)
    cols = [c for c in metrics if c in sharp.columns]
    long = sharp.melt(id_vars=["dataset", "arch", "variant", "training", "seed"], value_vars=cols,
                      var_name="metric", value_name="value")
    j = kept.merge(long, on=["dataset", "arch", "variant", "training", "seed"])
    keys = ["dataset", "arch", "fault", "metric", "seed"]
    j = j[j.groupby(keys)["value"].transform("size") >= 3]
    if j.empty:
        return pd.DataFrame(columns=EXPLAINS_COLUMNS)
    j = j.assign(rv=j.groupby(keys)["value"].rank(), rr=j.groupby(keys)["retained"].rank())
    group = ["dataset", "arch", "fault", "metric"]
    seeds = {k: [(s.rv.to_numpy(), s.rr.to_numpy()) for _, s in g.groupby("seed", sort=True)]
             for k, g in j.groupby(group, sort=True)}
    # a seed whose metric or share kept is the same for every network carries no ranking
    informative = {k: sum(np.ptp(x) > 0 and np.ptp(y) > 0 for x, y in v) for k, v in seeds.items()}
    family = pd.Series({k: n >= 2 for k, n in informative.items()}).groupby(level=[0, 1]).sum()
    rows = []
    for k, v in seeds.items():
        m = max(int(family[k[:2]]), 1)
        r = within_seed_rank_correlation(v, 1 - (1 - level) / m)
        rows.append({**dict(zip(group, k)), **r, "n_seeds": r["n"], "networks_per_seed": min(len(x) for x, _ in v),
                     "p_adjusted": min(1.0, r["p_value"] * m) if r["n"] >= 2 else math.nan})
    ci = pd.DataFrame(rows)
    sig = ci.p_adjusted < 1 - level
    ci["reading"] = np.where(sig & (ci.rho < 0), "sharper networks keep less", np.where(
        sig & (ci.rho > 0), "sharper networks keep more", "no relation shown"))
    return ci.reindex(columns=EXPLAINS_COLUMNS)


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


def _decided_claims(seed_means, sharp, clean, comps, plan, chance, window) -> tuple:
    """The primary and secondary rows of every claim decided at one informative window, with the
    per-seed tables they came from: (table, effects, seeds, paired_sharp)."""
    alpha = 1 - plan["level"]
    effects = fault_effects(seed_means, comps, chance, window)
    seeds = per_seed(effects)
    paired_sharp = aggregate.paired_sharpness(sharp, comps)
    parts = [fault_claims(seeds, plan), sharpness_claims(paired_sharp, plan), clean_claims(clean, plan)]
    decided = pd.concat([p for p in parts if len(p)], ignore_index=True)
    decided["family"] = decided.claim + " " + decided.dataset + " " + decided.arch
    decided = _decide(decided, alpha, plan["correction"])
    tost_rows = decided.claim == "C5-clean"  # equivalence: PASS when the adjusted TOST rejects
    if tost_rows.any():
        decided.loc[tost_rows, "verdict"] = np.where(decided.loc[tost_rows, "p_adjusted"] < alpha, "PASS",
                                                     np.where(decided.loc[tost_rows, "tost"] == "FAIL", "FAIL",
                                                              "INCONCLUSIVE"))
    return decided, effects, seeds, paired_sharp


def fault_claim(seed_means: pd.DataFrame, clean: pd.DataFrame, plan: dict, chance: dict, claim: str = "C1") -> pd.DataFrame:
    """One fault claim's rows decided as ``evaluate`` decides them (its families hold that claim's
    rows only), from the fault and clean tables alone: the budget check needs no sharpness."""
    variants = sorted(set(clean.variant), key=lambda v: (v != "standard", v))
    trainings = [t for t in ("conventional", "saq") if t in set(clean.training)]
    effects = fault_effects(seed_means, aggregate.comparisons(variants, trainings), chance,
                            (plan["window"]["low"], plan["window"]["high"]))
    rows = fault_claims(per_seed(effects), plan)
    rows = rows[rows.claim == claim].assign(family=lambda d: d.claim + " " + d.dataset + " " + d.arch)
    return _decide(rows, 1 - plan["level"], plan["correction"]).reset_index(drop=True)


def evaluate(seed_means: pd.DataFrame, sharp: pd.DataFrame, clean: pd.DataFrame, plan: dict, chance: dict,
             depth: dict | None = None) -> dict[str, pd.DataFrame]:
    """Every claims table from the per-seed tables (fault_accuracy_by_seed, sharpness,
    clean_accuracy) under ``plan``: {"claims", "by_rate", "interaction", "slope", "by_gain",
    "explains"}, each primary verdict with its robustness under the plan's alternative windows."""
    variants = sorted(set(clean.variant), key=lambda v: (v != "standard", v))
    trainings = [t for t in ("conventional", "saq") if t in set(clean.training)]
    comps = aggregate.comparisons(variants, trainings)
    window = (plan["window"]["low"], plan["window"]["high"])
    decided, effects, seeds, paired_sharp = _decided_claims(seed_means, sharp, clean, comps, plan, chance, window)
    alt_tables, alt_seeds = {}, {}
    for w in (plan.get("robustness") or {}).get("windows", []):
        t, _, sd, _ = _decided_claims(seed_means, sharp, clean, comps, plan, chance, (w["low"], w["high"]))
        alt_tables[_window_label(w)], alt_seeds[_window_label(w)] = t, sd
    loo_tables, loo_seeds = {}, {}
    if (plan.get("robustness") or {}).get("leave_one_out", False) and clean.seed.nunique() > 2:
        for s in sorted(set(clean.seed)):  # everything the data decide, the window included, without seed s
            t, _, sd, _ = _decided_claims(*(d[d.seed != s] for d in (seed_means, sharp, clean)), comps, plan, chance,
                                          window)
            loo_tables[s], loo_seeds[s] = t, sd
    # without recomputed tables (two seeds or fewer) each seed is left out of the per-seed values
    decided = to_percent(robustness(decided, seeds, paired_sharp, clean, alt_tables, plan, loo_tables or None))
    explore = up_to(effects, plan)
    if len(explore):
        explore = explore.assign(family=explore.claim + " " + explore.dataset + " " + explore.arch + " up to",
                                 p_adjusted=np.nan, adj_ci_low=explore.ci_low, adj_ci_high=explore.ci_high,
                                 verdict=np.where(explore.ci_low > 0, "PASS", np.where(explore.ci_high < 0, "FAIL",
                                                                                      "INCONCLUSIVE")))
    table = pd.concat([decided, explore], ignore_index=True)
    table["method"] = np.where(table.claim == "C5-clean", "TOST over seeds, Bonferroni over the family", METHOD)
    table["method"] = np.where(table.role == "exploratory", "t interval over seeds, Bonferroni over cells searched",
                               table.method)
    order = {c: i for i, c in enumerate(["C1", "C2", "C3", "C4", "C5", "C5-clean"])}
    roles = {"primary": 0, "secondary": 1, "exploratory": 2}
    table = table.assign(_c=table.claim.map(order), _r=table.role.map(roles)).sort_values(
        ["_c", "dataset", "arch", "_r", "quantity", "fault", "comparison"], kind="stable").drop(columns=["_c", "_r"])
    table = table.reindex(columns=COLUMNS).reset_index(drop=True)
    for c in ("secondary_disagree", "window_verdicts", "loo_verdict", "loo_left_out", "robustness", "fragile_by"):
        table[c] = table[c].fillna("")
    metrics = plan["claims"]["C2"]["primary"] + plan["claims"]["C2"].get("secondary", [])
    if depth is None:  # the registry's depths of the architectures in the tables (unknown: an error)
        from flatenn.catalog import depth as depth_of

        depth = {a: depth_of(a) for a in sorted(set(clean.arch))}
    slope = slopes(seeds, clean, plan, depth, alt_seeds, loo_seeds) if "slope" in plan else {
        "slope": pd.DataFrame(columns=SLOPE_COLUMNS), "by_gain": pd.DataFrame(columns=BY_GAIN_COLUMNS)}
    return {"claims": table, "by_rate": by_rate(effects, plan),
            "interaction": interaction(seeds, plan, depth, clean, alt_seeds, loo_seeds), **slope,
            "explains": explains(seed_means, sharp, chance, window, plan["level"], metrics)}

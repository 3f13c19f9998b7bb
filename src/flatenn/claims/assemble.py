"""Every claims table of a study from its per-seed tables under a plan: the decided rows, their
robustness, the exploratory rows, the slopes, the between-architecture family and what
curvature explains."""
from __future__ import annotations

import numpy as np
import pandas as pd

from flatenn import aggregate
from flatenn.claims.between import interaction
from flatenn.claims.decide import by_rate, clean_claims, decide_families, fault_claims, sharpness_claims, up_to
from flatenn.claims.explains import sharpness_explains
from flatenn.claims.quantities import fault_effects, per_seed, to_percent
from flatenn.claims.robustness import robustness, window_label
from flatenn.claims.slopes import BY_GAIN_COLUMNS, SLOPE_COLUMNS, slopes
from flatenn.config import window_of

COLUMNS = ["claim", "arch", "statement", "paper_v1", "paper_latest", "measured_value", "ci_low", "ci_high",
           "verdict", "fault", "aggregate", "n_seeds", "trials_per_seed", "method", "mde", "p_value", "p_adjusted",
           "family", "role", "dataset", "comparison", "a_variant", "a_training", "b_variant", "b_training",
           "quantity", "adj_ci_low", "adj_ci_high", "window_rates", "rate", "secondary_disagree", "family_size",
           "window_verdicts", "loo_verdict", "loo_left_out", "perm_p", "perm_p_adjusted", "robustness", "fragile_by",
           "seeds_for", "seeds_against"]
METHOD = "t test over seeds of per-seed values (maps and images nested in seeds), Bonferroni over the family"


def decided_claims(seed_means, sharp, clean, comps, plan, chance, window) -> tuple:
    """The primary and secondary rows of every claim decided at one informative window, with the
    per-seed tables they came from: (table, effects, seeds, paired_sharp)."""
    alpha = 1 - plan["level"]
    effects = fault_effects(seed_means, comps, chance, window)
    seeds = per_seed(effects)
    paired_sharp = aggregate.paired_sharpness(sharp, comps)
    parts = [fault_claims(seeds, plan), sharpness_claims(paired_sharp, plan), clean_claims(clean, plan)]
    decided = pd.concat([p for p in parts if len(p)], ignore_index=True)
    decided["family"] = decided.claim + " " + decided.dataset + " " + decided.arch
    decided = decide_families(decided, alpha, plan["correction"])
    tost_rows = decided.claim == "C5-clean"  # equivalence: PASS when the adjusted TOST rejects
    if tost_rows.any():
        decided.loc[tost_rows, "verdict"] = np.where(decided.loc[tost_rows, "p_adjusted"] < alpha, "PASS",
                                                     np.where(decided.loc[tost_rows, "tost"] == "FAIL", "FAIL",
                                                              "INCONCLUSIVE"))
    return decided, effects, seeds, paired_sharp


def fault_claim_alone(seed_means: pd.DataFrame, clean: pd.DataFrame, plan: dict, chance: dict,
                      claim: str = "C1") -> pd.DataFrame:
    """One fault claim's rows decided as ``evaluate`` decides them (its families hold that claim's
    rows only), from the fault and clean tables alone: the budget check needs no sharpness."""
    variants = sorted(set(clean.variant), key=lambda v: (v != "standard", v))
    trainings = [t for t in ("conventional", "saq") if t in set(clean.training)]
    effects = fault_effects(seed_means, aggregate.comparisons(variants, trainings), chance,
                            window_of(plan))
    rows = fault_claims(per_seed(effects), plan)
    rows = rows[rows.claim == claim].assign(family=lambda d: d.claim + " " + d.dataset + " " + d.arch)
    return decide_families(rows, 1 - plan["level"], plan["correction"]).reset_index(drop=True)


def evaluate(seed_means: pd.DataFrame, sharp: pd.DataFrame, clean: pd.DataFrame, plan: dict, chance: dict,
             depth: dict | None = None) -> dict[str, pd.DataFrame]:
    """Every claims table from the per-seed tables (fault_accuracy_by_seed, sharpness,
    clean_accuracy) under ``plan``: {"claims", "by_rate", "interaction", "slope", "by_gain",
    "explains"}, each primary verdict with its robustness under the plan's alternative windows."""
    variants = sorted(set(clean.variant), key=lambda v: (v != "standard", v))
    trainings = [t for t in ("conventional", "saq") if t in set(clean.training)]
    comps = aggregate.comparisons(variants, trainings)
    window = window_of(plan)
    decided, effects, seeds, paired_sharp = decided_claims(seed_means, sharp, clean, comps, plan, chance, window)
    alt_tables, alt_seeds = {}, {}
    for w in (plan.get("robustness") or {}).get("windows", []):
        t, _, sd, _ = decided_claims(seed_means, sharp, clean, comps, plan, chance, (w["low"], w["high"]))
        alt_tables[window_label(w)], alt_seeds[window_label(w)] = t, sd
    loo_tables, loo_seeds = {}, {}
    if (plan.get("robustness") or {}).get("leave_one_out", False) and clean.seed.nunique() > 2:
        for s in sorted(set(clean.seed)):  # everything the data decide, the window included, without seed s
            t, _, sd, _ = decided_claims(*(d[d.seed != s] for d in (seed_means, sharp, clean)), comps, plan, chance,
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
            "explains": sharpness_explains(seed_means, sharp, chance, window, plan["level"], metrics)}

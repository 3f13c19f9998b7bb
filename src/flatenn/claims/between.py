"""The between-architecture family: does depth change a claim? Every pair of architectures x
fault type x AS level (and slope differences), deeper minus shallower, with an equivalence test
against the plan's margin where no difference is shown."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from flatenn.aggregate import COMPARED
from flatenn.claims.decide import bonferroni, compared, in_plan, verdict_of
from flatenn.claims.quantities import FAULT_CLAIMS
from flatenn.claims.robustness import ROBUST_COLUMNS, judged, loo_networks, loo_two, perm_settings
from flatenn.claims.slopes import effect_vs_gain, per_seed_slopes
from flatenn.stats import one_sided_p, relabel_p, welch
from flatenn.verdicts import contrast_words, is_equivalence

INTERACTION_COLUMNS = ["claim", "dataset", "fault", "comparison", *COMPARED, "quantity", "arch_a", "arch_b",
                       "effect_a", "effect_b", "diff", "ci_low", "ci_high", "adj_ci_low", "adj_ci_high", "p_value",
                       "p_adjusted", "family", "margin", "eq_ci_low", "eq_ci_high", "verdict", "changes_sign_p",
                       "changes_sign_p_adjusted", "changes_sign", "n_a", "n_b", *ROBUST_COLUMNS]


def stored(path) -> pd.DataFrame:
    """A stored claims_interaction.csv, read and checked for the compared networks' columns (a table
    written before they were added is a one-line ValueError asking for a recompute)."""
    table = pd.read_csv(path)
    missing = [c for c in COMPARED if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: lacks the column(s) {', '.join(missing)}; rerun `flatenn recompute` on its study")
    return table


def _interaction_rows(seeds: pd.DataFrame, clean: pd.DataFrame, plan: dict, depth: dict) -> list[dict]:
    """Every between-architecture contrast of a study, unadjusted, with each side's per-network
    values (``values_a``, ``values_b``: Series by seed): C1's primary quantity per fault type and
    AS level, deeper minus shallower, with the compared networks' variants and trainings; and,
    where both architectures have two or more AS levels, the difference of their slopes
    (``slopes``, no variants)."""
    claim = plan["interaction"]["claim"]
    q = plan["claims"][claim]["primary"]
    d = compared(seeds, FAULT_CLAIMS[claim][0], plan["claims"][claim])
    parts = [(comp, q, g) for (comp,), g in d.groupby(["comparison"], sort=True)]
    named = {comp: dict(zip(COMPARED, g[COMPARED].iloc[0])) for comp, _, g in parts}
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
                rows.append({"claim": claim, "dataset": ds, "fault": fault, "comparison": comp,
                             **named.get(comp, dict.fromkeys(COMPARED)), "quantity": quantity,
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
            loo = loo_networks(r, key, loo_rows, decide)
        else:
            loo = loo_two(r.values_a, r.values_b, decide, r.verdict, r.arch_a, r.arch_b)
        # a difference test: where it rejects, its words; where it does not, it cannot overturn an
        # equivalence or undetermined verdict, only a "differs"
        wv = {label: w.get(key, "not decided") for label, w in windows.items()}
        rob.append(judged(r.verdict, wv, loo, relabel_p(r.values_b, r.values_a, **perm), m, alpha,
                          lambda p, d=r.diff, full=r.verdict: DEEPER_WORDS.get(verdict_of(p, d, alpha), full if
                          is_equivalence(full) else "no difference by permutation")))
    out = pd.concat([out.reset_index(drop=True), pd.DataFrame(rob)], axis=1)
    return out.reindex(columns=INTERACTION_COLUMNS)


DEEPER = ("deeper loses more", "deeper loses less")
DEEPER_WORDS = {"PASS": DEEPER[0], "FAIL": DEEPER[1]}


def _iut(va: pd.Series, vb: pd.Series) -> float:
    one = {(x, s): one_sided_p(float(v.mean()) if len(v) else math.nan, float(v.std(ddof=1)) if len(v) > 1
                               else math.nan, len(v), greater=s) for x, v in (("a", va), ("b", vb))
           for s in (True, False)}
    return min(1.0, 2 * min(max(one[("a", False)], one[("b", True)]), max(one[("a", True)], one[("b", False)])))



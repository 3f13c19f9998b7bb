"""The dose-response endpoint: per architecture with two or more AS levels and fault type, the
per-seed slope of the slope claim's primary quantity against the sparsity gained."""
from __future__ import annotations

import pandas as pd

from flatenn.claims.decide import compared, decide_families, in_plan, verdict_of
from flatenn.claims.quantities import FAULT_CLAIMS
from flatenn.claims.robustness import ROBUST_COLUMNS, judged, left_out, perm_settings
from flatenn.stats import seed_intervals, sign_flip_p, t_p

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
    d = compared(seeds, FAULT_CLAIMS[claim][0], spec)
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
        e = decide_families(e.drop(columns=["p_adjusted", "adj_ci_low", "adj_ci_high", "family_size"]), alpha,
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
            key = (out.at[i, "dataset"], out.at[i, "arch"], out.at[i, "fault"])
            full = out.at[i, "verdict"]
            recomputed = {s_: decide(p[(p.dataset == key[0]) & (p.arch == key[1]) & (p.fault == key[2])]
                                     .set_index("seed").slope.dropna()) for s_, p in loo_per.items()}
            loo = left_out(full, plan["robustness"], recomputed or None, v, decide)
            cols = judged(full, {lab: a.get(key, "not decided") for lab, a in alt.items()}, loo,
                          sign_flip_p(v, **perm), m, alpha,
                          lambda p, d=v.mean(): words.get(verdict_of(p, d, alpha), "no slope shown"))
            for c, x in cols.items():
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

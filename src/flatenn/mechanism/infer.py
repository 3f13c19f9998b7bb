"""Why weight faults hurt one network more than another, inferred over networks (tables only, no
torch): per network and fault type its measured structure beside the share it keeps
(``networks``), the sparsity switch and the live-weights intervention read as changes of C1's
quantity with their robustness (``intervention``), and which candidate explains C1 within an
architecture (``explained``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from flatenn import verdicts
from flatenn.aggregate import MODEL_COLS
from flatenn.mechanism import SUMMARY_BASE

# Candidate explanations of C1's quantity, each as the AS network's value against the standard
# network's of the same seed: "diff" for shares, "log_ratio" for curvatures (scale-free).
CANDIDATES = {"sparsity_gained": ("activation_sparsity", "diff"), "input_density": ("input_density", "diff"),
              "dead_input_share": ("dead_input_share", "diff"), "negative_code_share": ("negative_code_share", "diff"),
              "max_over_rms": ("max_over_rms", "diff"), "fault_move_rel": ("fault_move_rel", "diff"),
              "fault_curvature": ("fault_curvature", "log_ratio"), "fault_sharpness": ("fault_sharpness", "log_ratio"),
              "hessian_trace_normalized": ("hessian_trace_normalized", "log_ratio")}
NETWORK_COLUMNS = MODEL_COLS + ["fault", "accuracy", "activation_sparsity", *SUMMARY_BASE[:4], "max_over_rms", "fault_move_rel",
                           "fault_curvature", "fault_sharpness", "hessian_trace_normalized", "kept", "rate",
                           "kept_at_rate", "kept_live"]
# The interventions, each changing one thing with the weights and fault maps unchanged: C1's
# quantity at the intervention's rate as measured, and with the change (``effect_changed``).
CONDITIONS = {"faults_on_live_weights": "effect_live",  # the same count of faults, on live weights only
              "as_threshold_removed": "effect_as_off",  # the AS network evaluated without its threshold
              "standard_threshold_applied": "effect_std_on"}  # the standard network with the AS threshold
INTERVENTION_COLUMNS = ["dataset", "arch", "a_variant", "fault", "condition", "rate", "effect", "effect_ci_low",
                        "effect_ci_high", "effect_changed", "changed_ci_low", "changed_ci_high", "sparsity_gained",
                        "sparsity_gained_changed", "change", "change_ci_low", "change_ci_high", "change_p",
                        "change_p_adjusted", "margin", "eq_ci_low", "eq_ci_high", "reading", "gain_removed_share",
                        "full_mediation_change", "full_p_adjusted", "mediation_share", "mediation_ci_low",
                        "mediation_ci_high", "mediation", "family_size", "n_seeds", "loo_reading", "loo_left_out", "perm_p",
                        "perm_p_adjusted", "robustness", "fragile_by"]
SWITCH_COLUMNS = MODEL_COLS + ["fault", "threshold", "own", "rate", "activation_sparsity", "clean", "accuracy", "kept"]
MECHANISM_EXPLAINED_COLUMNS = ["dataset", "fault", "candidate", "r_within", "p_perm", "p_adjusted", "contrasts",
                               "architectures", "min_levels", "n_seeds", "identifiable", "reading"]
NOT_IDENTIFIABLE = ("not identifiable: one AS level per architecture, so within an architecture only seed-to-seed "
                    "noise varies")


def intervention_rates(trials: pd.DataFrame) -> pd.DataFrame:
    """Per network and fault type, the faulty rate its mechanism trials ran at."""
    return trials[trials.rate > 0].groupby(MODEL_COLS + ["fault"], as_index=False)["rate"].max()


def networks(summaries: pd.DataFrame, clean: pd.DataFrame, sharp: pd.DataFrame, seed_means: pd.DataFrame,
             trials: pd.DataFrame, chance: dict, window: tuple) -> pd.DataFrame:
    """One row per network and fault type: its mechanism summaries, clean accuracy and sparsity,
    sharpness along that fault type, the share it keeps over the informative window (``kept``),
    at the intervention's rate (the faulty rate of its mechanism ``trials``; ``kept_at_rate``) and
    with the same faults on live weights only (``kept_live``; none where no input is dead)."""
    from flatenn.claims import retained, kept_over_window

    rows = []
    for fault in sorted(trials.fault.unique()):
        s = sharp[MODEL_COLS].assign(fault=fault, fault_curvature=sharp[f"fault_curvature_{fault}"],
                                fault_sharpness=sharp.fault_sharpness,
                                hessian_trace_normalized=sharp.hessian_trace_normalized)
        rows.append(summaries.assign(fault=fault, fault_move_rel=summaries[f"fault_move_rel_{fault}"]).merge(
            s, on=MODEL_COLS + ["fault"]))
    d = pd.concat(rows, ignore_index=True).merge(clean[MODEL_COLS + ["accuracy", "activation_sparsity"]], on=MODEL_COLS)
    d = d.merge(kept_over_window(seed_means, chance, window).rename(columns={"retained": "kept"}),
                on=MODEL_COLS + ["fault"], how="left")
    at = intervention_rates(trials).merge(seed_means[MODEL_COLS + ["fault", "rate", "accuracy", "clean"]],
                                          on=MODEL_COLS + ["fault", "rate"])
    ch = at.dataset.map(chance).astype(float)
    at = at.assign(kept_at_rate=retained(at.accuracy, at.clean, ch))
    live = trials[trials.inputs == "live"] if "inputs" in trials else trials
    live = live.groupby(MODEL_COLS + ["fault"], as_index=False)["accuracy"].mean().rename(columns={"accuracy": "live"})
    at = at.merge(live, on=MODEL_COLS + ["fault"], how="left")
    at["kept_live"] = retained(at.live, at.clean, ch)
    d = d.merge(at[MODEL_COLS + ["fault", "rate", "kept_at_rate", "kept_live"]], on=MODEL_COLS + ["fault"], how="left")
    return d.reindex(columns=NETWORK_COLUMNS).sort_values(MODEL_COLS + ["fault"], ignore_index=True)


def switch_table(summaries: pd.DataFrame, trials: pd.DataFrame, seed_means: pd.DataFrame,
                 chance: dict) -> pd.DataFrame:
    """The sparsity switch, per network, fault type and inference threshold (SWITCH_COLUMNS): its
    activation sparsity on the campaign images and the share it keeps at the intervention's rate,
    with the weights and fault maps unchanged. ``own`` marks the threshold it was trained with
    (its campaign's numbers); the others are the switch (``inputs == "all"`` rows of ``trials``;
    ``summaries`` has one ``switch`` list of {threshold, activation_sparsity, own} per network)."""
    from flatenn.claims import retained

    sw = trials[trials.inputs == "all"] if "inputs" in trials else trials.iloc[:0]
    sparsity = pd.DataFrame([{**{k: s[k] for k in MODEL_COLS}, **x} for s in summaries.to_dict("records")
                             for x in (s.get("switch") if isinstance(s.get("switch"), list) else [])])
    if sw.empty or sparsity.empty:
        return pd.DataFrame(columns=SWITCH_COLUMNS)
    keys = MODEL_COLS + ["fault", "threshold"]
    mean = sw.groupby(keys + ["rate"], as_index=False)["accuracy"].mean()
    switched = mean[mean.rate > 0].merge(mean[mean.rate == 0].drop(columns="rate").rename(
        columns={"accuracy": "clean"}), on=keys)
    own = intervention_rates(trials).merge(seed_means[MODEL_COLS + ["fault", "rate", "accuracy", "clean"]],
                                           on=MODEL_COLS + ["fault", "rate"])
    own = own.merge(sparsity[sparsity.own.astype(bool)][MODEL_COLS + ["threshold"]], on=MODEL_COLS)
    out = pd.concat([own.assign(own=True), switched.assign(own=False)], ignore_index=True)
    out = out.merge(sparsity[MODEL_COLS + ["threshold", "activation_sparsity"]], on=MODEL_COLS + ["threshold"], how="left")
    out["kept"] = retained(out.accuracy, out.clean, out.dataset.map(chance).astype(float))
    return out.reindex(columns=SWITCH_COLUMNS).sort_values(MODEL_COLS + ["fault", "own", "threshold"], ignore_index=True)


def contrasts(net: pd.DataFrame, switch: pd.DataFrame | None = None, training: str = "conventional") -> pd.DataFrame:
    """Per AS network and fault type, against the standard network of its seed: C1's quantity
    (share kept, standard minus AS, points: over the window, at the intervention's rate, and under
    each intervention of CONDITIONS that ran) and every candidate's value (CANDIDATES). With the
    sparsity ``switch`` (``switch_table``): the AS network without its threshold against the
    standard one as trained, and the standard network with the AS network's threshold against the
    AS one as trained, with the sparsity gained in each pairing."""
    n = net[net.training == training]
    base = n[n.variant == "standard"].drop(columns=["variant", "training"])
    keys = ["dataset", "arch", "seed", "fault"]
    j = n[n.variant != "standard"].merge(base, on=keys, suffixes=("", "_std"))
    out = j[keys].assign(a_variant=j.variant, rate=j.rate, effect=100 * (j.kept_std - j.kept),
                         effect_at_rate=100 * (j.kept_at_rate_std - j.kept_at_rate),
                         effect_live=100 * (j.kept_live_std - j.kept_live),
                         dead_inputs=(j.dead_input_share > 0) | (j.dead_input_share_std > 0))
    for name, (col, how) in CANDIDATES.items():
        a, b = j[col].astype(float), j[f"{col}_std"].astype(float)
        out[name] = a - b if how == "diff" else np.log(a.where(a > 0) / b.where(b > 0))
    if switch is None or switch.empty:
        return out
    sw = switch[switch.training == training]
    own = sw[sw.own.astype(bool)].drop(columns=["training", "own", "rate"])
    other = sw[~sw.own.astype(bool)].drop(columns=["training", "own", "rate"])
    as_own = own[own.variant != "standard"].rename(columns={"variant": "a_variant"})
    # the AS network as trained, against itself without its threshold and against the standard
    # network as trained and with the AS threshold
    as_off = other[other.variant != "standard"].rename(columns={"variant": "a_variant"}).drop(columns="threshold")
    std_own = own[own.variant == "standard"].drop(columns=["variant", "threshold"])
    std_on = other[other.variant == "standard"].drop(columns="variant")
    m = as_own.merge(as_off, on=keys + ["a_variant"], suffixes=("", "_off")).merge(
        std_own.add_suffix("_std").rename(columns={f"{k}_std": k for k in keys}), on=keys).merge(
        std_on.add_suffix("_on").rename(columns={f"{k}_on": k for k in keys}).rename(columns={"threshold_on": "threshold"}),
        on=keys + ["threshold"], how="left")
    m = m.assign(effect_as_off=100 * (m.kept_std - m.kept_off), effect_std_on=100 * (m.kept_on - m.kept),
                 gained=m.activation_sparsity - m.activation_sparsity_std,
                 gained_as_off=m.activation_sparsity_off - m.activation_sparsity_std,
                 gained_std_on=m.activation_sparsity - m.activation_sparsity_on)
    cols = ["effect_as_off", "effect_std_on", "gained", "gained_as_off", "gained_std_on"]
    return out.merge(m[keys + ["a_variant"] + cols], on=keys + ["a_variant"], how="left")


def _reading(change: float, p_adjusted: float, effect: float, alpha: float, eq: tuple | None = None,
             margin: float | None = None) -> str:
    """An intervention's reading: where the change is significant, whether it moves C1's quantity
    toward zero (the AS network's difference shrinks) or away from it; where it is not and the plan
    declares a margin, "equivalent within +-margin" where the equivalence interval ``eq`` lies
    inside it, else "undetermined"."""
    if p_adjusted < alpha:
        return "difference shrinks" if np.sign(change) == -np.sign(effect) else "difference grows"
    if margin is None:
        return "no change shown"
    return verdicts.contrast_words(1.0, 0.0, eq[0], eq[1], margin, alpha, ("", ""))


def _distinct(d_parts: list, keys: list) -> int:
    """The family's size: each distinct reading once. The standard network with the AS threshold
    reads the same per-seed change whatever the AS level it is paired with (change = kept with the
    threshold minus kept without, both the standard network's): counted once."""
    seen = set()
    for condition, d in d_parts:
        for k, g in d.groupby(keys, sort=False):
            v = tuple(np.round(g.sort_values("seed").change.to_numpy(dtype=float), 9))
            seen.add((condition, k[:2] + k[3:], v) if condition == "standard_threshold_applied" else (condition, k))
    return max(len(seen), 1)


def _mediation(d: pd.DataFrame, gained: str, m: int, alpha: float) -> dict:
    """The switch read as mediation (per seed: the share of the sparsity gained that the switch
    removes, r = 1 - gained changed / gained, and the change that full proportional mediation
    predicts, -effect x r): the share of the effect moved per share of the gain removed (Fieller's
    interval at the family's level) and the Bonferroni p of "change = full mediation's prediction"."""
    from flatenn.stats import t_p

    r = 1 - d[gained] / d["gained"].where(d["gained"] != 0)
    full = -d.effect_at_rate * r
    share, low, high = verdicts.mediation_share(d.change.to_numpy(), full.to_numpy(), alpha / m)
    dev = (d.change - full).dropna()
    return {"gain_removed_share": r.mean(), "full_mediation_change": full.mean(), "mediation_share": share,
            "mediation_ci_low": low, "mediation_ci_high": high,
            "full_p_adjusted": min(1.0, t_p(dev) * m) if len(dev) > 1 else np.nan}


def _robustness(out: pd.DataFrame, d_parts: list, keys: list, alpha: float, robust: dict | None,
                m: int) -> pd.DataFrame:
    """The claims' robustness columns for each reading: with one seed left out (the same family
    size), and by the exact sign-flip permutation test of the per-seed changes adjusted alike
    ("t test only" where no arrangement of this many seeds can reach the level)."""
    from flatenn.claims import judged, left_out, perm_settings
    from flatenn.stats import mean_ci, sign_flip_p, t_p

    robust = robust or {}
    perm = perm_settings({"robustness": robust})
    changes = pd.concat([d.assign(condition=c) for c, d in d_parts], ignore_index=True)
    by_row = {k: g.set_index("seed").change.dropna() for k, g in changes.groupby(keys + ["condition"], sort=False)}
    rows = []
    for r in out.itertuples():
        v = by_row[tuple(getattr(r, k) for k in keys + ["condition"])]

        def decide(x, effect=r.effect, margin=r.margin):
            eq = mean_ci(x, 1 - 2 * alpha / m) if len(x) > 1 else {"ci_low": np.nan, "ci_high": np.nan}
            return _reading(x.mean() if len(x) else 0.0, min(1.0, t_p(x) * m), effect, alpha,
                            (eq["ci_low"], eq["ci_high"]), None if pd.isna(margin) else margin)

        # a difference test: where it rejects, its reading; where it does not, it overturns a change
        # only (it says nothing of equivalence)
        changed = r.reading.startswith("difference")
        st = judged(r.reading, {}, left_out(r.reading, robust, None, v, decide), sign_flip_p(v, **perm), m, alpha,
                    lambda p, v=v, r=r: _reading(v.mean(), p, r.effect, alpha) if p < alpha
                    else "no change by permutation" if changed else r.reading)
        rows.append({"loo_reading": st["loo_verdict"], **{c: st[c] for c in (
            "loo_left_out", "perm_p", "perm_p_adjusted", "robustness", "fragile_by")}})
    return out.assign(**pd.DataFrame(rows, index=out.index))


def intervention(con: pd.DataFrame, level: float, robust: dict | None = None,
                 margin: float | None = None) -> pd.DataFrame:
    """Does an intervention (CONDITIONS) change C1's quantity at the intervention's rate? Per
    architecture, AS level, fault type and intervention that ran: seed-level 95 % intervals of the
    effect as measured and as changed, and of the change the family-wise interval and Bonferroni p
    over the table (one family: every intervention). Reading: the AS network's difference shrinks
    (toward zero) or grows, where the change is significant; beside it its robustness (the plan's
    ``robust`` settings: one seed left out, the permutation test). The live-weights intervention is
    kept only where some network has dead inputs: elsewhere it moves nothing by construction. With
    the plan's ``margin``, a change not shown is "equivalent within +-margin" (TOST, same family) or
    "undetermined"; the switch is also read as mediation (``_mediation``). The family counts each
    distinct reading once (``_distinct``)."""
    from flatenn.stats import seed_intervals

    keys = ["dataset", "arch", "a_variant", "fault"]
    parts = []
    for condition, col in CONDITIONS.items():
        if col not in con or con[col].isna().all():
            continue
        d = con
        if condition == "faults_on_live_weights" and "dead_inputs" in d:
            d = d[d.groupby(keys)["dead_inputs"].transform("any").astype(bool)]
        if d.empty:
            continue
        d = d.assign(change=d[col] - d.effect_at_rate)
        gained = {"effect_as_off": "gained_as_off", "effect_std_on": "gained_std_on"}.get(col)
        part = d.groupby(keys, sort=True).agg(rate=("rate", "first")).reset_index()
        a, b = (seed_intervals(d, keys, v, level) for v in ("effect_at_rate", col))
        part = part.assign(condition=condition, effect=a["mean"], effect_ci_low=a.ci_low, effect_ci_high=a.ci_high,
                           effect_changed=b["mean"], changed_ci_low=b.ci_low, changed_ci_high=b.ci_high)
        if gained:
            g = d.groupby(keys, sort=True)
            part = part.assign(sparsity_gained=g["gained"].mean().to_numpy(),
                               sparsity_gained_changed=g[gained].mean().to_numpy())
        parts.append((part, d, gained))
    if not parts:
        return pd.DataFrame(columns=INTERVENTION_COLUMNS)
    alpha = 1 - level
    m = _distinct([(p.condition.iloc[0], d) for p, d, _ in parts], keys)
    out = []
    for part, d, gained in parts:
        c = seed_intervals(d, keys, "change", 1 - alpha / m)
        eq = seed_intervals(d, keys, "change", 1 - 2 * alpha / m)
        part = part.assign(change=c["mean"], change_ci_low=c.ci_low, change_ci_high=c.ci_high, change_p=c.p_value,
                           n_seeds=c.n, eq_ci_low=eq.ci_low, eq_ci_high=eq.ci_high, margin=margin, family_size=m)
        if gained and margin is not None:
            med = [_mediation(g, gained, m, alpha) for _, g in d.groupby(keys, sort=True)]
            part = part.assign(**pd.DataFrame(med, index=part.index))
        out.append(part)
    out = pd.concat(out, ignore_index=True)
    out["change_p_adjusted"] = (out.change_p * m).clip(upper=1.0)
    out["reading"] = [_reading(c, p, e, alpha, (lo, hi), margin) for c, p, e, lo, hi in
                      zip(out.change, out.change_p_adjusted, out.effect, out.eq_ci_low, out.eq_ci_high)]
    if "full_p_adjusted" in out:
        out["mediation"] = [verdicts.mediation_reading(pn, pf, alpha) if not np.isnan(pf) else ""
                            for pn, pf in zip(out.change_p_adjusted, out.full_p_adjusted)]
    out = _robustness(out, [(p.condition.iloc[0], d) for p, d, _ in parts], keys, alpha, robust, m)
    order = {c: i for i, c in enumerate(CONDITIONS)}
    out = out.assign(_c=out.condition.map(order)).sort_values(["dataset", "arch", "a_variant", "fault", "_c"])
    return out.drop(columns="_c").reindex(columns=INTERVENTION_COLUMNS).reset_index(drop=True)


def _within(v: pd.Series, groups: pd.Series) -> np.ndarray:
    return (v - v.groupby(groups).transform("mean")).to_numpy(dtype=float)


def mechanism_explained(con: pd.DataFrame, level: float, resamples: int = 4999, seed: int = 0) -> pd.DataFrame:
    """Does a candidate explain C1's quantity *within* an architecture? Per fault type and
    candidate, the correlation over every AS-vs-standard contrast after removing each
    architecture's mean from both (architecture fixed effects: an architecture's identity explains
    nothing here), with a permutation p that shuffles the candidate within each architecture
    (``resamples`` Monte-Carlo shuffles, fixed ``seed``), Bonferroni over candidates x fault types.
    Identifiable only where every architecture has two or more AS levels: with one, the variation
    within an architecture is seed-to-seed noise of one treatment, and the row says so (its
    correlation is descriptive only and no candidate is ranked)."""
    rows = []
    rng = np.random.default_rng(seed)
    for (ds, fault), g in con.groupby(["dataset", "fault"], sort=True):
        min_levels = int(g.groupby("arch")["a_variant"].nunique().min())
        for cand in CANDIDATES:
            d = g[g[cand].notna() & g["effect"].notna()]
            x, y = _within(d[cand], d.arch), _within(d["effect"], d.arch)
            ok = len(d) >= 4 and x.std() > 0 and y.std() > 0
            r = float(np.corrcoef(x, y)[0, 1]) if ok else np.nan
            if ok:
                idx = [np.flatnonzero((d.arch == a).to_numpy()) for a in d.arch.unique()]
                null = np.empty(resamples)
                for k in range(resamples):
                    xp = x.copy()
                    for i in idx:
                        xp[i] = x[rng.permutation(i)]
                    null[k] = np.corrcoef(xp, y)[0, 1]
                p = float((1 + np.sum(np.abs(null) >= abs(r) - 1e-12)) / (resamples + 1))
            else:
                p = np.nan
            rows.append({"dataset": ds, "fault": fault, "candidate": cand, "r_within": r, "p_perm": p,
                         "contrasts": len(d), "architectures": d.arch.nunique(), "min_levels": min_levels,
                         "n_seeds": d.seed.nunique(), "identifiable": min_levels >= 2})
    out = pd.DataFrame(rows, columns=[c for c in MECHANISM_EXPLAINED_COLUMNS if c not in ("p_adjusted", "reading")])
    if out.empty:
        return pd.DataFrame(columns=MECHANISM_EXPLAINED_COLUMNS)
    for _, idx in out.groupby("dataset").groups.items():
        p = out.loc[idx, "p_perm"].to_numpy(dtype=float)
        out.loc[idx, "p_adjusted"] = np.minimum(1.0, p * max(int(np.sum(~np.isnan(p))), 1))
    sig = out.p_adjusted < 1 - level
    out["reading"] = np.where(~out.identifiable.astype(bool), NOT_IDENTIFIABLE, np.where(
        sig & (out.r_within > 0), "within architectures: larger value, AS keeps less", np.where(
            sig & (out.r_within < 0), "within architectures: larger value, AS keeps more", "no relation shown")))
    return out.reindex(columns=MECHANISM_EXPLAINED_COLUMNS).reset_index(drop=True)


def layer_rows(layers: pd.DataFrame, vulnerability: pd.DataFrame | None) -> pd.DataFrame:
    """Per network and layer, with that layer's own fault sensitivity where the per-layer sweep
    ran (the first seed): mean accuracy with faults in that layer only."""
    if vulnerability is None or vulnerability.empty:
        return layers.assign(layer_fault_accuracy=np.nan)
    v = vulnerability[vulnerability.sweep == "layer"]
    v = v.assign(layer=v.target.str.removeprefix("layer "))[MODEL_COLS + ["layer", "mean"]]
    return layers.merge(v.rename(columns={"mean": "layer_fault_accuracy"}), on=MODEL_COLS + ["layer"], how="left")


def tables(layers: pd.DataFrame, summaries: pd.DataFrame, clean: pd.DataFrame, sharp: pd.DataFrame,
           seed_means: pd.DataFrame, trials: pd.DataFrame, vulnerability: pd.DataFrame | None, plan: dict) -> dict:
    """Every mechanism table of a run from its measurements (``layers``: the layer tables with each
    network's key columns; ``summaries``: one row per network) and its result tables, under the
    plan: {"networks", "switch", "layer_table", "intervention", "explained"}."""
    from flatenn.catalog import chance_levels
    from flatenn.config import window_of

    layers = layers[MODEL_COLS + [c for c in layers.columns if c not in MODEL_COLS]]
    chance = chance_levels(clean.dataset)
    net = networks(summaries, clean, sharp, seed_means, trials, chance, window_of(plan))
    switch = switch_table(summaries, trials, seed_means, chance)
    con = contrasts(net, switch)
    return {"networks": net, "switch": switch, "layer_table": layer_rows(layers, vulnerability),
            "intervention": intervention(con, plan["level"], plan.get("robustness"), plan["interaction"]["margin"]),
            "explained": mechanism_explained(con, plan["level"])}

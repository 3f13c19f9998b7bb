"""mechanism_findings.md: what the measured structure and the interventions say about why faults
hurt one network more than another, in words read off the inference tables."""
from __future__ import annotations

import numpy as np
import pandas as pd

from flatenn.aggregate import MODEL_COLS
from flatenn.findings.claims import robust_note


def _mediated(r) -> str:
    """The switch read as mediation, where the table has it."""
    if not isinstance(getattr(r, "mediation", None), str) or not r.mediation:
        return ""
    ci = (f"[{r.mediation_ci_low:+.2f}, {r.mediation_ci_high:+.2f}]" if np.isfinite(r.mediation_ci_low)
          and np.isfinite(r.mediation_ci_high) else "an unbounded family-wise interval")
    return (f"; the switch removes {100 * r.gain_removed_share:.0f} % of the sparsity gained, full proportional "
            f"mediation predicts a change of {r.full_mediation_change:+.1f} (Bonferroni p {r.full_p_adjusted:.3g}); "
            f"share of the effect moved per share of the gain removed {r.mediation_share:+.2f}, {ci}: {r.mediation}")


def mechanism_findings(explained: pd.DataFrame, intervention: pd.DataFrame, networks: pd.DataFrame,
                       awaiting: dict | None = None) -> str:
    """mechanism_findings.md: what explains C1's quantity within architectures (or why nothing can
    be identified), what the intervention did, and which explanations the data leave standing;
    while ``awaiting`` names architectures of the study not completely stored, that both wait for them."""
    lines = ["# Mechanism", "",
             "Written by the workflow from mechanism_explained.csv and intervention.csv; not edited by hand. "
             "C1's quantity is the share of above-chance accuracy kept, standard minus AS network, in points "
             "(> 0: the AS network keeps less). A candidate explains it only from variation within an "
             "architecture: the correlation after removing each architecture's mean (architecture fixed "
             "effects), a permutation p that shuffles the candidate within each architecture, Bonferroni over "
             "candidates x fault types. Across architectures alone, any candidate that differs by architecture "
             "would 'explain' it, and so would the architecture's name. Intervention: effects with 95 % intervals, "
             "the change with its family-wise interval and Bonferroni p over the table (each distinct reading counted once); "
             "where no change is shown, 'equivalent' needs its family-wise equivalence interval inside the plan's "
             "margin, else it is undetermined. The sparsity switch is read as mediation: 'in the weights' only where "
             "full proportional mediation is excluded.", ""]
    if awaiting:
        stored = ", ".join(sorted(set(networks.arch))) if len(networks) else "none"
        return "\n".join(lines + [
            "## Not decided yet", "",
            f"Both families (the candidates, pooled over architectures; every intervention) include "
            f"{', '.join(awaiting)}, not completely stored yet, so nothing is decided here: they are decided once, "
            f"when every architecture's part is stored. Stored so far ({stored}): the per-network measurements "
            "(mechanism.csv, mechanism_switch.csv in each part)."]) + "\n"
    lines += ["## What explains C1's quantity within architectures", ""]
    if len(explained) and not explained.identifiable.astype(bool).all():
        levels = int(explained.min_levels.min())
        lines += [f"Not identifiable in this study: {levels} AS level per architecture, so within an architecture "
                  "only seed-to-seed noise of one treatment varies. It can show whether C1's quantity differs by "
                  "architecture (the between-architecture family of findings.md); it cannot show which property of "
                  "the AS networks causes it, and no candidate is ranked. The within-architecture correlations over "
                  "seeds are in mechanism_explained.csv, descriptive only. Two or more AS levels per architecture "
                  "would identify it.", ""]
    elif len(explained):
        for fault, g in explained.groupby("fault", sort=True):
            g = g.sort_values("p_adjusted")
            parts = [f"{r.candidate} r {r.r_within:+.2f}, Bonferroni p {r.p_adjusted:.3g} ({r.reading})"
                     for r in g.itertuples()]
            lines.append(f"- {fault}: " + "; ".join(parts))
        standing = explained.groupby("candidate")["reading"].agg(lambda r: (r != "no relation shown").all())
        names = [c for c, ok in standing.items() if ok]
        lines += ["", "Candidates related to C1's quantity within architectures under every fault type: "
                  + (", ".join(names) if names else "none") + "."]
    titles = {"faults_on_live_weights": "the same number of faults on weights whose input is active",
              "as_threshold_removed": "the AS network evaluated without its threshold (weights and maps unchanged)",
              "standard_threshold_applied": "the standard network evaluated with the AS threshold (weights and maps "
                                            "unchanged)"}
    for condition, g in intervention.groupby("condition", sort=False):
        lines += ["", f"## Intervention: {titles.get(condition, condition)}", ""]
        for r in g.itertuples():
            sparse = ("" if pd.isna(r.sparsity_gained) else
                      f" (sparsity gained {r.sparsity_gained:+.3f} as trained, {r.sparsity_gained_changed:+.3f} "
                      "changed)")
            lines.append(f"- {r.arch} {r.a_variant}, {r.fault} at rate {r.rate:g}: {r.effect:+.1f} "
                         f"[{r.effect_ci_low:+.1f}, {r.effect_ci_high:+.1f}] points as measured, "
                         f"{r.effect_changed:+.1f} [{r.changed_ci_low:+.1f}, {r.changed_ci_high:+.1f}] changed{sparse}; "
                         f"change {r.change:+.1f} [{r.change_ci_low:+.1f}, {r.change_ci_high:+.1f}] (family-wise), "
                         f"Bonferroni p {r.change_p_adjusted:.3g}: {r.reading}{robust_note(r, windows=False)}"
                         + _mediated(r))
        counts = g.reading.value_counts()
        rest = ", ".join(f"{n} {w}" for w, n in counts.items() if not str(w).startswith("difference"))
        lines += ["", f"The difference shrinks in {int(counts.get('difference shrinks', 0))} of {len(g)} cells, grows "
                  f"in {int(counts.get('difference grows', 0))}; no change is shown in the rest ({rest or 'none'})."
                  + (" As mediation: " + ", ".join(f"{n} {w}" for w, n in g.mediation.value_counts().items()) + "."
                     if "mediation" in g and g.mediation.astype(object).fillna("").astype(bool).any() else "")]
        if condition == "faults_on_live_weights":
            dead = networks.drop_duplicates(MODEL_COLS).groupby(
                ["arch", "variant"])["dead_input_share"].mean()
            lines += ["", "It moves only the faults that fell on weights with dead inputs (never active on the "
                      "campaign images), so it runs only where some network has them; their mean share of the "
                      "weights: " + ", ".join(f"{a} {v} {100 * x:.1f} %" for (a, v), x in dead.items()) + "."]
    if {"as_threshold_removed", "standard_threshold_applied"} & set(intervention.condition):
        lines += ["", "Reading the sparsity switch: where C1's quantity shrinks when the AS network loses its "
                  "threshold, or when the standard network gains it, sparsity at inference carries that part of "
                  "the effect; where it shows no change, the trained weights carry it."]
    return "\n".join(lines) + "\n"

"""findings.md: each claim's families in words, with their robustness, the treatment as trained,
the between-architecture family, the slopes and what curvature explains."""
from __future__ import annotations

import numpy as np
import pandas as pd

from flatenn import verdicts
from flatenn.verdicts import family_verdict


MEANING = {  # (claim, family verdict) -> what it means, in words
    ("C1", "PASS"): "AS networks keep less of their above-chance accuracy under faults: the paper's claim",
    ("C1", "FAIL"): "AS networks keep more of their above-chance accuracy under faults: the opposite of the claim",
    ("C2", "PASS"): "AS networks are more curved along the faults' perturbations: the paper's mechanism",
    ("C2", "FAIL"): "AS networks are less curved along the faults' perturbations: the opposite of the mechanism",
    ("C3", "PASS"): "SAQ-trained networks are more accurate under faults",
    ("C3", "FAIL"): "SAQ-trained networks are less accurate under faults",
    ("C4", "PASS"): "SAQ-trained AS networks beat conventionally trained standard ones under faults",
    ("C4", "FAIL"): "SAQ-trained AS networks fall behind conventionally trained standard ones under faults",
    ("C5", "PASS"): "SAQ reaches flatter minima along the faults' perturbations",
    ("C5", "FAIL"): "SAQ reaches sharper minima along the faults' perturbations",
    ("C5-clean", "PASS"): "SAQ costs no clean accuracy beyond the margin",
    ("C5-clean", "FAIL"): "SAQ changes clean accuracy by more than the margin",
}


ROBUST_MARK = {"fragile": " (fragile)", "t test only": " (t test only)"}


def kappa(observed: float, expected: float, n: float) -> float:
    """Agreement beyond chance: (observed - expected) / (n - expected)."""
    return (observed - expected) / (n - expected) if n > expected else float("nan")


def robust_note(r, windows: bool = True) -> str:
    """A verdict's robustness in words: what overturns it, or what it rests on (``windows``: whether
    the plan's alternative windows were among the checks; not for a reading at one rate)."""
    if r.robustness == "fragile":
        return f"; fragile: the verdict changes {r.fragile_by}"
    if r.robustness == "t test only":
        return "; rests on the t test (an exact permutation test cannot reach the level at this many seeds)"
    checks = "the plan's windows, leaving one network out" if windows else "leaving one network out"
    return f"; solid under {checks} and the permutation test" if r.robustness == "solid" else ""


def _effect(r) -> str:
    unit = "%" if r.claim in ("C2", "C5") else " points"
    what = f"{r.fault} faults, " if isinstance(r.fault, str) and r.fault else ""
    return (f"{r.comparison} ({what}{r.quantity}): {r.measured_value:+.1f}{unit} "
            f"[{r.adj_ci_low:+.1f}, {r.adj_ci_high:+.1f}], Bonferroni p {r.p_adjusted:.3g}, {r.verdict}{robust_note(r)}")


def families(claims: pd.DataFrame, plan: dict) -> list[str]:
    """What each claim's family holds under ``plan``: its fault types (those the run configured,
    where the plan says so) or the metrics it names, and which of those the run lacks."""
    from flatenn.registry import FAULTS

    out = []
    for claim in ("C1", "C3", "C4"):
        spec = plan["claims"].get(claim, {})
        got = [f for f in FAULTS if f in set(claims[claims.claim == claim].fault.dropna())]
        if got:
            how = ("every fault type the run configures" if spec.get("faults", "configured") == "configured"
                   else "the plan's list")
            out.append(f"{claim}: fault types {', '.join(got)} ({how})")
    for claim in ("C2", "C5"):
        named = plan["claims"].get(claim, {}).get("primary", [])
        rows = claims[(claims.claim == claim) & (claims.role == "primary")]
        missing = [m for m in named if m not in set(rows.quantity)]
        if len(rows):
            out.append(f"{claim}: metrics {', '.join(named)} (named by the plan"
                       + (f"; not measured in this run: {', '.join(missing)}" if missing else "") + ")")
    return out


def treatment(clean: pd.DataFrame) -> list[str]:
    """What the AS networks were, as trained (descriptive, no decision): per architecture and
    training, the standard network's clean accuracy and sparsity, and per AS level its sparsity
    gained over the standard network of the same seed and its clean cost (standard minus AS
    accuracy, points), each a mean with its range over seeds."""
    from flatenn.claims import sparsity_gained

    lines = []
    for (ds, arch, training), c in clean.groupby(["dataset", "arch", "training"], sort=False):
        base = c[c.variant == "standard"].set_index("seed")
        if base.empty or (c.variant == "standard").all():
            continue
        gained = sparsity_gained(c, training).set_index(["a_variant", "seed"]).gain
        levels = []
        for v in gained.groupby(level="a_variant").mean().sort_values().index:  # weakest level first
            g, gain = c[c.variant == v], gained.loc[v]
            cost = 100 * (base.accuracy.reindex(g.seed).to_numpy() - g.accuracy.to_numpy())
            levels.append(f"{v} gained {gain.mean():+.2f} ({gain.min():+.2f} to {gain.max():+.2f}) at a clean cost of "
                          f"{np.nanmean(cost):+.1f} points ({np.nanmin(cost):+.1f} to {np.nanmax(cost):+.1f})")
        lines.append(f"- {arch} ({ds}, {training}, {base.index.nunique()} seeds): the standard network "
                     f"{100 * base.accuracy.mean():.1f} % clean accuracy at activation sparsity "
                     f"{base.activation_sparsity.mean():.2f}; " + "; ".join(levels) + ".")
    return lines


def findings(claims: pd.DataFrame, interaction: pd.DataFrame, explains: pd.DataFrame,
             slope: pd.DataFrame | None = None, stability: pd.DataFrame | None = None, plan: dict | None = None,
             awaiting: dict | None = None, clean: pd.DataFrame | None = None) -> str:
    """findings.md: one line per claim and architecture (the family's verdict, its strongest
    primary row, what it means), the comparison between architectures (or, while ``awaiting``
    maps architectures of the study not completely stored to the networks they lack, that it
    waits for them), the treatment as trained (from ``clean``), and the mechanism."""
    lines = ["# Findings", "",
             "Written by the workflow from claims.csv, claims_interaction.csv, claims_slope.csv and sharpness_explains.csv "
             "(analysis plan: claims.plan); not edited by hand. Effects are means over trained networks with "
             "family-wise (Bonferroni) intervals, the same correction as the verdict beside them: each claim and "
             "architecture's primary rows are one family, every between-architecture contrast of the study another. "
             "Robustness: the plan's alternative windows, one network left out, an exact permutation test.", ""]
    if plan is not None:
        lines += ["Families (primary rows x AS levels): " + "; ".join(families(claims, plan)) + ".", ""]
    lines += ["## Claims", ""]
    primary = claims[claims.role == "primary"]
    for (claim, ds, arch), g in primary.groupby(["claim", "dataset", "arch"], sort=False):
        verdict = family_verdict(g.verdict)
        counts = ", ".join(f"{int((g.verdict == v).sum())} {v}" for v in ("PASS", "FAIL", "INCONCLUSIVE")
                           if (g.verdict == v).any())
        decided = g[g.p_adjusted.notna()]
        best = decided.loc[decided.p_adjusted.idxmin()] if len(decided) else g.iloc[0]
        meaning = MEANING.get((claim, verdict), "no primary row decides" if verdict == "INCONCLUSIVE"
                              else "rows decide both ways")
        disagree = set(", ".join(g.secondary_disagree.fillna("")).replace(" ", "").split(",")) - {""}
        note = f" Secondary metrics that disagree in sign: {', '.join(sorted(disagree))}." if disagree else ""
        share = (plan or {}).get("verdict_words", {}).get("fragile_share", 1.0)
        rows = list(g.itertuples())
        robust_word = verdicts.family_robustness(rows, share)[0]
        said = (f" {meaning[0].upper() + meaning[1:]}." if robust_word != "fragile" and verdict in ("PASS", "FAIL")
                else "")
        way = verdicts.direction(verdict, rows, int(g.seeds_for.fillna(0).sum()), int(g.seeds_against.fillna(0).sum()),
                                 share) if "seeds_for" in g and claim != "C5-clean" else ""
        lines.append(f"- **{claim}, {arch} ({ds}): {verdicts.family_words(verdict, rows, share)}** ({counts} of "
                     f"{len(g)} primary rows)." + (f" The claim's direction: {way}." if way else "")
                     + f" Strongest: {_effect(best)}.{said}{note}")
    if awaiting:
        lines += ["", "## Not decided yet", ""]
        lines += [f"- {a}: no claim decided; its parts lack {why}." for a, why in awaiting.items()]
        lines += ["", "## Between architectures: not decided yet", "",
                  f"- The study's between-architecture family includes {', '.join(awaiting)}, not completely stored "
                  "yet; it is decided once, when every architecture's part is stored, not on a subset and then again."]
    if len(interaction):
        lines += ["", f"## Between architectures (one family of {len(interaction)} contrasts)", "",
                  "Each contrast is deeper minus shallower as the study trained them: besides depth, the "
                  "architectures differ in training budget (each at its own converged budget where the study says "
                  "so), penalty strength (calibrated per architecture to the same sparsity gained) and rate grid "
                  "(calibrated to the same severity); see the study's README. Where no difference is shown, "
                  "'equivalent' needs the family-wise equivalence interval inside the plan's margin; otherwise "
                  "the contrast is undetermined, not absent.", ""]
        for r in interaction.itertuples():
            sign = "changes sign" if r.changes_sign else "no change of sign shown"
            eq = (f", equivalence interval [{r.eq_ci_low:+.1f}, {r.eq_ci_high:+.1f}] against +-{r.margin:g}"
                  if "margin" in interaction else "")
            lines.append(f"- {r.claim} {r.comparison}, {r.fault}: {r.arch_b} minus {r.arch_a} {r.diff:+.1f} "
                         f"[{r.adj_ci_low:+.1f}, {r.adj_ci_high:+.1f}] ({r.quantity}), Bonferroni p {r.p_adjusted:.3g}"
                         f"{eq}: {r.verdict}{robust_note(r)}; {sign} (intersection-union, Bonferroni p "
                         f"{r.changes_sign_p_adjusted:.3g})")
    if clean is not None and (rows := treatment(clean)):
        lines += ["", "## The treatment as trained (clean_accuracy.csv; descriptive, per seed against the standard "
                  "network of the same seed, mean and range over seeds)", ""] + rows
    if slope is not None and len(slope):
        lines += ["", f"## Dose-response: C1's quantity per {slope.per_gain.iloc[0]:g} of activation sparsity "
                  "gained (claims_slope.csv)", ""]
        one = slope[slope.levels < 2]
        if len(one):
            lines.append(f"- {', '.join(sorted(set(one.arch)))}: one AS level each, so no slope is estimated (a ratio "
                         "to one noisy sparsity gain is not a dose-response); C1's gap above is the contrast.")
        for r in slope[slope.levels >= 2].itertuples():
            lines.append(f"- {r.arch}, {r.fault}: {r.slope:+.2f} [{r.adj_ci_low:+.2f}, {r.adj_ci_high:+.2f}] points, "
                         f"Bonferroni p {r.p_adjusted:.3g}: {r.verdict}{robust_note(r)}")
    if stability is not None and len(stability):
        lines += ["", "## Budget stability: C1 at the converged budget and at half of it (budget_stability.csv)", ""]
        for (ds, arch), g in stability.groupby(["dataset", "arch"], sort=False):
            moved = g[g.depends_on_budget.astype(bool)]
            which = "; ".join(f"{r.a_variant} {r.fault}: {r.converged_verdict} at the converged budget, "
                              f"{r.half_verdict} at half" for r in moved.itertuples())
            lines.append(f"- {arch} ({ds}): family verdict {family_verdict(g.converged_verdict)} at the converged "
                         f"budget, {family_verdict(g.half_verdict)} at half; "
                         + (f"{len(moved)} of {len(g)} primary verdicts depend{'s' * (len(moved) == 1)} on the budget ({which})"
                            if len(moved)
                            else f"no primary verdict of {len(g)} depends on the budget")
                         + f"; the per-network C1 quantity keeps its sign on {int(g.seeds_same_sign.sum())} of "
                         f"{int(g.seeds.sum())} networks x fault types"
                         + (f", where independent signs at the two budgets would keep it on "
                            f"{g.same_sign_expected.sum():.1f} (agreement beyond chance, kappa "
                            f"{kappa(g.seeds_same_sign.sum(), g.same_sign_expected.sum(), g.seeds.sum()):+.2f}); the "
                            "dose is not matched: from half to full budget the sparsity gained moved "
                            + ", ".join(f"{v} {m:+.3f}" for v, m in g.groupby("a_variant").gain_moved.first().items())
                            + " at the same penalty strength, so a verdict that moves may have moved with the dose"
                            if "same_sign_expected" in g else "") + ".")
    lines += ["", "## Mechanism: does curvature along the faults predict what a network keeps?", ""]
    curv = explains[explains.metric == explains.fault.radd("fault_curvature_")] if len(explains) else explains
    if len(curv):
        for r in curv.itertuples():
            lines.append(f"- {r.arch}, {r.fault}: Spearman rho {r.rho:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}] "
                         f"(family-wise) over {r.n_seeds} seeds of {r.networks_per_seed} networks, Bonferroni p "
                         f"{r.p_adjusted:.3g} (t test over seeds and permutation within seeds, the larger) over the "
                         f"architecture's metrics and fault types: {r.reading}")
    else:
        lines.append("- Not computed (sharpness_explains.csv is empty): a seed needs at least 3 networks of one "
                     "architecture (variants x trainings) for a rank correlation, and this run has fewer.")
    return "\n".join(lines) + "\n"

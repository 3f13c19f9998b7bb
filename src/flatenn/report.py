"""Output formats and the run's own record: tables as CSV/Markdown/LaTeX, stage runtimes,
executed notebooks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from flatenn import io, verdicts


def write_table(df: pd.DataFrame, outputs, floatfmt: str = ".4f") -> None:
    """One table as CSV (full precision), Markdown and LaTeX, by the outputs' suffixes."""
    for out in outputs:
        suffix = Path(out).suffix
        if suffix == ".csv":
            io.write_csv(out, df)
        elif suffix == ".md":
            io.atomic_write_text(out, df.to_markdown(index=False, floatfmt=floatfmt) + "\n")
        elif suffix == ".tex":
            io.atomic_write_text(out, df.to_latex(index=False, float_format=lambda v: format(v, floatfmt)))
        else:
            raise ValueError(f"outputs: no table format for {out}")


def runtime(benchmark_files) -> pd.DataFrame:
    """Wall time per rule from the benchmark files of this run's jobs (each file's s column).

    The rule is the first folder under ``results/benchmarks/`` (per-model rules keep one)."""
    rows = []
    for f in map(Path, benchmark_files):
        parts = f.parts[f.parts.index("benchmarks") + 1:]
        b = pd.read_csv(f, sep="\t")
        rows.append({"rule": parts[0].removesuffix(".tsv"), "seconds": float(b["s"].iloc[-1]),
                     "max_rss_mb": pd.to_numeric(b["max_rss"], errors="coerce").iloc[-1]})
    df = pd.DataFrame(rows, columns=["rule", "seconds", "max_rss_mb"])
    out = df.groupby("rule", as_index=False).agg(jobs=("seconds", "size"), total_s=("seconds", "sum"),
                                                 max_job_s=("seconds", "max"), max_rss_mb=("max_rss_mb", "max"))
    return out.round(2)


def notebook(source, output) -> None:
    """Execute a jupytext percent-format notebook into an .ipynb (cwd = the workflow's workdir)."""
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(Path.cwd())}}).execute()
    io.atomic_write_text(output, jupytext.writes(nb, fmt="ipynb"))


# ---------------------------------------------------------------- findings

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


def family_verdict(verdicts) -> str:
    """One verdict for a family of primary rows: PASS or FAIL where rows decide one way only,
    MIXED where they decide both ways, INCONCLUSIVE where none decides."""
    v = set(verdicts)
    if {"PASS", "FAIL"} <= v:
        return "MIXED"
    return "PASS" if "PASS" in v else "FAIL" if "FAIL" in v else "INCONCLUSIVE"


ROBUST_MARK = {"fragile": " (fragile)", "t test only": " (t test only)"}


def _robust(r, windows: bool = True) -> str:
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
            f"[{r.adj_ci_low:+.1f}, {r.adj_ci_high:+.1f}], Bonferroni p {r.p_adjusted:.3g}, {r.verdict}{_robust(r)}")


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
                         f"{eq}: {r.verdict}{_robust(r)}; {sign} (intersection-union, Bonferroni p "
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
                         f"Bonferroni p {r.p_adjusted:.3g}: {r.verdict}{_robust(r)}")
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
                            f"{_kappa(g.seeds_same_sign.sum(), g.same_sign_expected.sum(), g.seeds.sum()):+.2f}); the "
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


def _mediated(r) -> str:
    """The switch read as mediation, where the table has it."""
    if not isinstance(getattr(r, "mediation", None), str) or not r.mediation:
        return ""
    ci = (f"[{r.mediation_ci_low:+.2f}, {r.mediation_ci_high:+.2f}]" if np.isfinite(r.mediation_ci_low)
          and np.isfinite(r.mediation_ci_high) else "an unbounded family-wise interval")
    return (f"; the switch removes {100 * r.gain_removed_share:.0f} % of the sparsity gained, full proportional "
            f"mediation predicts a change of {r.full_mediation_change:+.1f} (Bonferroni p {r.full_p_adjusted:.3g}); "
            f"share of the effect moved per share of the gain removed {r.mediation_share:+.2f}, {ci}: {r.mediation}")


def _kappa(observed: float, expected: float, n: float) -> float:
    """Agreement beyond chance: (observed - expected) / (n - expected)."""
    return (observed - expected) / (n - expected) if n > expected else float("nan")


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
                         f"Bonferroni p {r.change_p_adjusted:.3g}: {r.reading}{_robust(r, windows=False)}"
                         + _mediated(r))
        counts = g.reading.value_counts()
        rest = ", ".join(f"{n} {w}" for w, n in counts.items() if not str(w).startswith("difference"))
        lines += ["", f"The difference shrinks in {int(counts.get('difference shrinks', 0))} of {len(g)} cells, grows "
                  f"in {int(counts.get('difference grows', 0))}; no change is shown in the rest ({rest or 'none'})."
                  + (" As mediation: " + ", ".join(f"{n} {w}" for w, n in g.mediation.value_counts().items()) + "."
                     if "mediation" in g and g.mediation.astype(object).fillna("").astype(bool).any() else "")]
        if condition == "faults_on_live_weights":
            dead = networks.drop_duplicates(["dataset", "arch", "variant", "training", "seed"]).groupby(
                ["arch", "variant"])["dead_input_share"].mean()
            lines += ["", "It moves only the faults that fell on weights with dead inputs (never active on the "
                      "campaign images), so it runs only where some network has them; their mean share of the "
                      "weights: " + ", ".join(f"{a} {v} {100 * x:.1f} %" for (a, v), x in dead.items()) + "."]
    if {"as_threshold_removed", "standard_threshold_applied"} & set(intervention.condition):
        lines += ["", "Reading the sparsity switch: where C1's quantity shrinks when the AS network loses its "
                  "threshold, or when the standard network gains it, sparsity at inference carries that part of "
                  "the effect; where it shows no change, the trained weights carry it."]
    return "\n".join(lines) + "\n"


def _series(values: pd.Series, fmt: str) -> str:
    """One quantity over the ladder's budgets, smallest first: "0.85 / 0.87 / 0.88"."""
    return " / ".join(format(v, fmt) for v in values.sort_index())


def ladder_findings(ladder: pd.DataFrame, convergence: pd.DataFrame, clean_points: float, gain: float,
                    two_sided: bool = True) -> str:
    """budget_findings.md: per architecture and seed of a budget ladder (budget.ladder and
    budget.convergence), the budget the plan's rule chooses and why each smaller one fails, and
    each quantity over the budgets. Descriptive: a pilot seed chooses budgets, it decides no claim."""
    lines = ["# The budget ladder", "",
             "Written by `flatenn ladder` from budget_ladder.csv and budget_convergence.csv; not edited by hand. "
             f"The plan's convergence rule: doubling the budget {'changes' if two_sided else 'adds'} less than "
             f"{clean_points:g} points of clean accuracy {'(either way) ' if two_sided else ''}to the standard and "
             "to the AS network and moves the AS network's sparsity gained over the "
             f"standard network of its seed by less than {gain:g}; an architecture's study budget is the smallest "
             "budget that meets it. Budgets are multiples of the study's budget B. C1's quantity: the share of "
             "above-chance accuracy kept under faults over the rung's informative window, standard minus AS "
             "network, points (> 0: the AS network keeps less).", "", "## The budget each architecture converges at", ""]
    for (ds, arch, seed), g in convergence.groupby(["dataset", "arch", "seed"], sort=True):
        steps = []
        for r in g.sort_values("budget").itertuples():
            size = abs if two_sided else (lambda x: x)
            over = [what for what, out in (("standard", not size(r.clean_change_standard) < clean_points),
                                           ("AS", pd.notna(r.clean_change_as)
                                            and not size(r.clean_change_as) < clean_points),
                                           ("gain", pd.notna(r.gain_change) and not abs(r.gain_change) < gain)) if out]
            steps.append(f"{r.budget:g}B -> {r.next_budget:g}B: standard {r.clean_change_standard:+.2f}, AS "
                         f"{r.clean_change_as:+.2f} points, gain moves {r.gain_change:+.3f} ("
                         + ("within the rule" if r.converged else "over the rule: " + ", ".join(over)) + ")")
        chosen = g[g.chosen.astype(bool)]
        head = (f"converges at {chosen.budget.iloc[0]:g}B" if len(chosen)
                else f"not converged on the ladder (largest budget doubled: {g.budget.max():g}B)")
        lines.append(f"- {arch} ({ds}, seed {seed}): **{head}**. " + "; ".join(steps) + ".")
    lines += ["", "## Where an AS network loses clean accuracy as the budget grows", ""]
    losing = convergence[convergence.clean_change_as <= -clean_points]
    for r in losing.itertuples():
        lines.append(f"- {r.arch} ({r.dataset}, seed {r.seed}): {r.budget:g}B -> {r.next_budget:g}B costs the AS network "
                     f"{-r.clean_change_as:.2f} points at a fixed penalty strength while its sparsity gained moves "
                     f"{r.gain_change:+.3f}: the penalty taking over, not convergence. The studies calibrate the "
                     "penalty strength at each architecture's own budget (matched sparsity gained), which is what "
                     "handles it; the standard network's change is the budget's own.")
    if losing.empty:
        lines.append("- None: no doubling costs an AS network more than the rule's bound.")
    lines += ["", "## Each quantity over the budgets", ""]
    for (ds, arch, seed), g in ladder.groupby(["dataset", "arch", "seed"], sort=True):
        budgets = sorted(set(g.budget))
        q = lambda name, v: g[(g.quantity == name) & (g.variant == v)]  # noqa: E731
        parts = [f"budgets {' / '.join(f'{b:g}B' for b in budgets)}"]
        for v in sorted(set(g.variant), key=lambda v: (v != "standard", v)):
            parts.append(f"{v} clean accuracy " + _series(100 * q("accuracy", v).set_index("budget").value, ".1f")
                         + " %, sparsity " + _series(q("activation_sparsity", v).set_index("budget").value, ".2f"))
            if v != "standard":
                parts.append(f"{v} sparsity gained " + _series(q("sparsity_gained", v).set_index("budget").value, "+.3f"))
                c1 = q("c1_retained_gap", v)
                parts += [f"{v} C1 {f} " + _series(c.set_index("budget").value, "+.1f") + " points"
                          for f, c in c1.groupby("fault", sort=True)]
        lines.append(f"- {arch} ({ds}, seed {seed}): " + "; ".join(parts) + ".")
    return "\n".join(lines) + "\n"


def read_tables(paths) -> pd.DataFrame:
    """One table from one CSV or the concatenation of several (a study run in parts); a table
    already read is itself."""
    if isinstance(paths, pd.DataFrame):
        return paths
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def claims_tables(seed_means_csv, sharpness_csv, clean_csv, plan: dict, outputs: dict, findings_md,
                  half: dict | None = None, awaiting: dict | None = None) -> None:
    """The claims job (and `flatenn recompute`): per-seed tables in (a path each, or a list of
    paths of a study's parts), every claims table and findings.md out. ``outputs`` maps claims,
    by_rate, interaction and explains (and ``stability``, with ``half``: the fault and clean tables'
    paths of the same networks trained at half the budget) to their paths. ``awaiting``: the
    study's architectures not completely stored yet, each with the networks it lacks; their rows
    are not decided, and the
    between-architecture family, which includes them, is left undecided (decided once, when every
    part is stored)."""
    from flatenn import budget, claims
    from flatenn.catalog import NUM_CLASSES

    seed_means, sharp, clean = (read_tables(p) for p in (seed_means_csv, sharpness_csv, clean_csv))
    twice = clean.duplicated(["dataset", "arch", "variant", "training", "seed"])
    if twice.any():
        r = clean[twice].iloc[0]
        raise ValueError(f"clean: network {r.arch} {r.variant} {r.training} seed {r.seed} appears in two parts")
    unknown = sorted(set(clean.dataset) - set(NUM_CLASSES))
    if unknown:
        raise ValueError(f"clean: no class count known for dataset {unknown[0]!r} (flatenn.catalog)")
    chance = {ds: 1 / NUM_CLASSES[ds] for ds in set(clean.dataset)}
    decided = lambda t: t[~t.arch.isin(list(awaiting or {}))]  # noqa: E731 - an architecture waits for all its networks
    seed_means, sharp, clean = decided(seed_means), decided(sharp), decided(clean)
    tables = claims.evaluate(seed_means, sharp, clean, plan, chance)
    if awaiting:
        tables["interaction"] = tables["interaction"].iloc[0:0]
    if half is not None:
        tables["stability"] = budget.budget_stability(
            {"seed_means": seed_means, "clean": clean},
            {k: decided(read_tables(half[k])) for k in ("seed_means", "clean")}, plan, chance)
    for name, paths in outputs.items():
        write_table(tables[name], paths, floatfmt=".3g" if name in ("explains", "interaction") else ".2f")
    io.atomic_write_text(findings_md, findings(tables["claims"], tables["interaction"], tables["explains"],
                                               tables["slope"], tables.get("stability"), plan, awaiting, clean))


def findings_table(studies: dict, fmt: str = "pipe") -> str:
    """The README's findings: per study, claim and architecture, the family's verdict and its
    strongest primary row, from each study's claims.csv (``studies``: name -> folder); ``fmt``
    "grid" gives a reStructuredText grid table (the report's landing page)."""
    return findings_rows(studies).to_markdown(index=False, tablefmt=fmt) + "\n"


def findings_rows(studies: dict, beyond_claims: bool = True) -> pd.DataFrame:
    """The README's findings rows per study folder: every claims-job table's (claims, between
    architectures, slope) and, with ``beyond_claims``, the budget stability and the intervention
    where the study stores them (a run's report leaves them out: its landing job does not wait for
    the mechanism tables)."""
    rows = []
    for name, folder in studies.items():
        c = pd.read_csv(Path(folder) / "claims.csv")
        for (claim, arch), g in c[c.role == "primary"].groupby(["claim", "arch"], sort=False):
            decided = g[g.p_adjusted.notna()]
            best = decided.loc[decided.p_adjusted.idxmin()] if len(decided) else g.iloc[0]
            unit = "%" if claim in ("C2", "C5") else ""
            what = best.fault if isinstance(best.fault, str) and best.fault else best.quantity.replace(
                "fault_curvature_", "curvature ")
            fragile = int((g.robustness == "fragile").sum())
            rows.append({"study": name, "claim": claim, "arch": arch, "verdict": family_verdict(g.verdict),
                         "strongest primary row": f"{best.a_variant} ({best.a_training}), {what}",
                         "effect [family-wise CI]": f"{best.measured_value:+.1f}{unit} [{best.adj_ci_low:+.1f}, "
                                                    f"{best.adj_ci_high:+.1f}]",
                         "Bonferroni p": f"{best.p_adjusted:.2g}",
                         "robustness": f"{best.robustness}" + (f"; {fragile} of {len(g)} rows fragile" if fragile
                                                                 else "")})
        inter_csv = Path(folder) / "claims_interaction.csv"
        if inter_csv.is_file() and len(it := pd.read_csv(inter_csv)):
            rows += _interaction_rows(name, it)
        slope_csv = Path(folder) / "claims_slope.csv"
        if slope_csv.is_file() and len(sl := pd.read_csv(slope_csv)) and (sl.levels >= 2).any():
            rows += _slope_rows(name, sl[sl.levels >= 2])
        budget_csv = Path(folder) / "budget_stability.csv"
        if beyond_claims and budget_csv.is_file() and len(bs := pd.read_csv(budget_csv)):
            rows += _budget_rows(name, bs)
        switch_csv = Path(folder) / "intervention.csv"
        if beyond_claims and switch_csv.is_file() and len(iv := pd.read_csv(switch_csv)):
            rows += _intervention_rows(name, iv)
    return pd.DataFrame(rows)


def _budget_rows(study: str, stability: pd.DataFrame) -> list[dict]:
    """The budget-stability rows of the README's findings: per architecture C1's family verdict at
    the converged budget and at half of it, and how many primary verdicts move."""
    rows = []
    for arch, g in stability.groupby("arch", sort=False):
        moved = int(g.depends_on_budget.astype(bool).sum())
        rows.append({"study": study, "claim": "C1, converged / half budget", "arch": arch,
                     "verdict": f"{family_verdict(g.converged_verdict)} / {family_verdict(g.half_verdict)}",
                     "strongest primary row": f"{moved} of {len(g)} primary verdicts move{'s' * (moved == 1)}",
                     "effect [family-wise CI]": "", "Bonferroni p": "",
                     "robustness": f"sign kept on {int(g.seeds_same_sign.sum())} of {int(g.seeds.sum())} networks x faults"})
    return rows


SWITCH = {"as_threshold_removed": "AS threshold removed", "standard_threshold_applied": "AS threshold on standard",
          "faults_on_live_weights": "faults on live weights"}


def _intervention_rows(study: str, intervention: pd.DataFrame) -> list[dict]:
    """The intervention rows of the README's findings: per architecture and condition, whether C1's
    quantity changes (SHRINKS: the condition carries part of the effect) and the cell whose change
    is most certain (its change with the family-wise interval over the table)."""
    rows = []
    for (arch, condition), g in intervention.groupby(["arch", "condition"], sort=False):
        n = {k: int((g.reading == f"difference {k}").sum()) for k in ("shrinks", "grows")}
        verdict = ("MIXED" if n["shrinks"] and n["grows"] else "SHRINKS" if n["shrinks"] else "GROWS" if n["grows"]
                   else "NO CHANGE SHOWN")
        best = g.loc[g.change_p_adjusted.idxmin()]
        rows.append({"study": study, "claim": f"C1, {SWITCH.get(condition, condition)}", "arch": arch, "verdict": verdict,
                     "strongest primary row": f"{best.a_variant}, {best.fault} at rate {best.rate:g}",
                     "effect [family-wise CI]": f"{best.change:+.1f} [{best.change_ci_low:+.1f}, {best.change_ci_high:+.1f}]",
                     "Bonferroni p": f"{best.change_p_adjusted:.2g}",
                     "robustness": f"{best.robustness}; {n['shrinks']} shrink, {n['grows']} grow of {len(g)} cells"})
    return rows


def _interaction_rows(study: str, inter: pd.DataFrame) -> list[dict]:
    """The between-architecture family's rows of the README's findings: per pair of
    architectures, the family's verdict over its fault types (and levels) and the strongest row."""
    rows = []
    for (a, b), g in inter.groupby(["arch_a", "arch_b"], sort=False):
        best = g.loc[g.p_adjusted.idxmin()] if g.p_adjusted.notna().any() else g.iloc[0]
        decided = g[g.verdict != "no difference shown"]
        verdict = "DIFFERS" if len(decided) else "NO DIFFERENCE SHOWN"
        fragile = int((g.robustness == "fragile").sum())
        rows.append({"study": study, "claim": "C1, deeper minus shallower", "arch": f"{b} - {a}", "verdict": verdict,
                     "strongest primary row": f"{best.fault}, {best.comparison}",
                     "effect [family-wise CI]": f"{best['diff']:+.1f} [{best.adj_ci_low:+.1f}, {best.adj_ci_high:+.1f}]",
                     "Bonferroni p": f"{best.p_adjusted:.2g}",
                     "robustness": f"{best.robustness}" + (f"; {fragile} of {len(g)} rows fragile" if fragile else "")})
    return rows


def _slope_rows(study: str, slope: pd.DataFrame) -> list[dict]:
    """The dose-response rows of the README's findings (architectures with two or more AS levels):
    per architecture the slope family (PASS: more sparsity, less kept, the paper's direction)."""
    rows = []
    for arch, g in slope.groupby("arch", sort=False):
        best = g.loc[g.p_adjusted.idxmin()] if g.p_adjusted.notna().any() else g.iloc[0]
        signs = set(np.sign(g.slope[g.verdict != "no slope shown"]))
        verdict = "MIXED" if len(signs) > 1 else "PASS" if signs == {1} else "FAIL" if signs == {-1} else "INCONCLUSIVE"
        rows.append({"study": study, "claim": "C1 slope", "arch": arch, "verdict": verdict,
                     "strongest primary row": f"{best.fault}, per {best.per_gain:g} sparsity gained",
                     "effect [family-wise CI]": f"{best.slope:+.1f} [{best.adj_ci_low:+.1f}, {best.adj_ci_high:+.1f}]",
                     "Bonferroni p": f"{best.p_adjusted:.2g}", "robustness": best.robustness})
    return rows


FINDINGS_START, FINDINGS_END = "<!-- findings: written by `make findings`, not by hand -->", "<!-- end of findings -->"


def readme_with_findings(readme: str, table: str) -> str:
    """The README with the block between the findings markers replaced by ``table``."""
    if FINDINGS_START not in readme or FINDINGS_END not in readme:
        raise ValueError("README: the findings markers are missing")
    head, rest = readme.split(FINDINGS_START, 1)
    return head + FINDINGS_START + "\n" + table + rest[rest.index(FINDINGS_END):]


# ---------------------------------------------------------------- the report's landing page

def provenance_line(prov: dict, configfiles: list) -> str:
    """One sentence naming what made a run (``flatenn provenance``'s record and its config files)."""
    return (f"Made by commit {prov['commit']}, config {prov['config_digest']} ({', '.join(configfiles)}), "
            f"numerics {prov['numerics']}, CPU {prov['cpu']}, on {prov['date']}.")


def rebuild_prefix(configfiles: list) -> str:
    """The command that rebuilds one target of a run made with ``configfiles``."""
    return " ".join(["snakemake", *(f"--configfile {f}" for f in configfiles if f != "config/default.yaml")])


def report_landing(tables_dir, verdicts_png) -> str:
    """The report's first screen (reStructuredText), short enough for one screen (the report
    centres it beside the rule graph): per claim and architecture the family's verdict and its
    robustness, the verdicts figure as a thumbnail that opens it, and a line per category
    (workflow/report/workflow.rst adds the provenance)."""
    import base64

    rows = findings_rows({"this run": tables_dir}, beyond_claims=False)
    rows = rows.assign(robustness=rows.robustness.str.replace(r"; (\d+) of (\d+) rows fragile", r" (\1 of \2 fragile)",
                                                              regex=True))
    table = rows[["claim", "arch", "verdict", "robustness"]].to_markdown(index=False, tablefmt="grid")
    image = base64.b64encode(Path(verdicts_png).read_bytes()).decode()
    return "\n".join([
        "Findings of this run", "--------------------", "",
        "The verdict of each claim's primary rows under the declared analysis plan, and its robustness "
        "(paper_tables/findings.md says what each means; Claims has every table).", "", table, "",
        # inline, as raw HTML: docutils refuses a line as long as the image; a URL parser drops newlines
        ".. raw:: html", "",
        "   <a href=\"javascript:app.showResultInfo('figures%2Fverdicts.png')\" title=\"open the verdicts figure\">"
        '<img alt="every primary endpoint and its verdict" style="max-height:240px;max-width:100%" '
        'src="data:image/png;base64,',
        *(f"   {image[i:i + 76]}" for i in range(0, len(image), 76)), '   "></a>', "",
        "**Claims**: verdicts, their tables and figure. **Dose-response**: robustness against sparsity gained. "
        "**Faults**: accuracy against fault rate, by layer and bit. **Sharpness**: landscapes, sharpness against "
        "robustness. **Tables**: the paper's tables and the per-network tables. Every caption names its rule, "
        "the command that rebuilds its file and this run's provenance:", ""])


def commit() -> str:
    """The commit of the code that runs (this package's checkout), marked where tracked files differ."""
    import subprocess

    repo = Path(__file__).resolve().parents[2]
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], capture_output=True, text=True)  # noqa: E731
    head = git("rev-parse", "--short=12", "HEAD")
    if head.returncode:
        return "unknown (not a git checkout)"
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return head.stdout.strip() + (" with local changes" if dirty else "")


def provenance(settings: dict) -> dict:
    """The run's record: what the workflow passed (config digest, numerics mode) and what the job
    sees (the commit of the code it runs, CPU signature, date, PyTorch)."""
    import datetime

    import torch

    from flatenn import numerics

    return {**settings, "commit": commit(), "cpu": numerics.cpu_signature(), "numerics_detail": numerics.describe(),
            "torch": torch.__version__, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}

"""A confirmatory study against its pilot: per primary endpoint, the pilot's verdict beside the
confirmatory study's, in words (confirmed, overturned, ...), with the power that endpoint had at
the confirmatory study's seeds in the power table committed with its plan (pure: tables in,
tables out). The pilot is declared in the study's study.yaml (``pilot:``), as its power table
was computed: which stored study is each claim's pilot, and which AS level of each pilot stands
for the confirmatory study's one. The between-architecture family (claims_interaction.csv) is set
against its pilot's the same way, one endpoint per contrast (``between_endpoints``)."""
from __future__ import annotations

import pandas as pd

from flatenn.aggregate import COMPARED, comparisons
from flatenn.verdicts import UNDETERMINED, family_verdict

VARIES = "varies by contrast"  # a pair of architectures whose contrasts' outcomes differ
MATCH = ["claim", "dataset", "arch", "fault", "quantity", *COMPARED]  # one endpoint: a claim on two networks
KEYS = ["claim", "dataset", "arch", "fault", "quantity", "comparison"]
COLUMNS = KEYS + ["pilot_study", "pilot_comparison", "pilot_verdict", "pilot_value", "pilot_ci_low", "pilot_ci_high",
                  "verdict", "measured_value", "adj_ci_low", "adj_ci_high", "n_seeds", "power_t", "power_permutation",
                  "outcome", "between"]
FAMILY_COLUMNS = ["claim", "dataset", "arch", "between", "pilot_study", "pilot_verdict", "verdict", "outcome", "rows",
                  "endpoints", "power_t_min", "power_t_max", "power_permutation_min", "power_permutation_max"]


def decided(verdict: str) -> bool:
    """PASS or FAIL; for a contrast between architectures, a difference shown or equivalence
    within the margin (only "undetermined" decides nothing)."""
    return verdict not in ("INCONCLUSIVE", "MIXED", UNDETERMINED)


def outcome(pilot: str | None, confirm: str | None) -> str:
    """What the confirmatory verdict does to the pilot's, in words (family verdicts or rows)."""
    if confirm is None:  # none of the architecture's networks, or not all of them, stored yet
        return "not decided yet"
    if pilot is None:
        return "first test (no pilot row)"
    if "MIXED" in (pilot, confirm):
        return "mixed"
    if decided(pilot):
        return ("confirmed" if confirm == pilot else "overturned" if decided(confirm)
                else "not confirmed (undetermined)")
    return "newly decided" if decided(confirm) else "undetermined in both"


def pair(shallower: str, deeper: str) -> str:
    """A between-architecture contrast's name: deeper minus shallower (as the power table names it)."""
    return f"{deeper} - {shallower}"


def between_endpoints(interaction: pd.DataFrame) -> pd.DataFrame:
    """A claims_interaction.csv's contrasts of the primary quantity as primary endpoints of the
    claim "<claim> between architectures", the architecture column naming the pair; slope
    differences are left out (a study with one AS level has none)."""
    it = interaction[interaction.quantity != "slope"]
    return pd.DataFrame({"claim": it.claim + " between architectures", "dataset": it.dataset,
                         "arch": [pair(a, b) for a, b in zip(it.arch_a, it.arch_b)], "fault": it.fault,
                         "quantity": it.quantity, "role": "primary", **{c: it[c] for c in COMPARED},
                         "comparison": it.comparison, "verdict": it.verdict, "measured_value": it["diff"],
                         "adj_ci_low": it.adj_ci_low, "adj_ci_high": it.adj_ci_high})


def check_pilot(doc, where: str) -> dict:
    """study.yaml's ``pilot:`` ({studies: claim -> study folder beside this one, as_level: study ->
    its AS level, level: this study's, power: optional, its power table's path in this study's
    folder}); a one-line ValueError naming what is wrong."""
    if not (isinstance(doc, dict) and {"studies", "as_level", "level"} <= set(doc) <= {"studies", "as_level", "level",
                                                                                      "power"}
            and isinstance(doc["studies"], dict) and isinstance(doc["as_level"], dict)
            and isinstance(doc["level"], str) and isinstance(doc.get("power", ""), str)
            and set(doc["studies"].values()) <= set(doc["as_level"])):
        raise ValueError(f"{where}: pilot: studies (claim -> study), as_level (study -> AS level, for each of those "
                         "studies), level (this study's AS level) and optionally power (a path) are required")
    return doc


def against_pilot(confirm: pd.DataFrame, pilots: dict[str, pd.DataFrame], pilot: dict,
                  power: pd.DataFrame | None, seeds: dict[str, int], archs: list[str]) -> pd.DataFrame:
    """One row per primary endpoint of the declared archs in the pilot or the confirmatory claims
    table ``confirm``: both verdicts, values and family-wise intervals, the power at the study's
    ``seeds`` (arch -> n; a pair of architectures at the fewer of its two) and the outcome.
    ``pilots``: study name -> its claims table. Both may hold ``between_endpoints`` rows. Endpoints
    are matched by the compared networks (variants and trainings), the pilot's AS level mapped to
    this study's; the comparison's name is the workflow's for the mapped networks."""
    cols = ["verdict", "measured_value", "adj_ci_low", "adj_ci_high"]
    pairs = {pair(a, b): min(seeds.get(a, 0), seeds.get(b, 0)) or None for a in archs for b in archs if a != b}
    mine = confirm[(confirm.role == "primary") & (confirm.arch.isin(archs) | confirm.arch.isin(pairs))]
    # the pilot's rows of the networks this study trained: its mapped AS level and the variants beside it
    ours = (set(confirm.a_variant.dropna()) | set(confirm.b_variant.dropna())) or {pilot["level"], "standard"}
    names = comparisons(sorted(ours), sorted(set(confirm.a_training.dropna()) | {"conventional", "saq"}))
    frames = []
    for claim, study in pilot["studies"].items():
        p = pilots[study]
        level = pilot["as_level"][study]
        p = p.assign(a_variant=p.a_variant.replace(level, pilot["level"]),
                     b_variant=p.b_variant.replace(level, pilot["level"]))
        p = p[(p.role == "primary") & (p.claim == claim) & (p.arch.isin(archs) | p.arch.isin(pairs))
              & p.a_variant.isin(ours) & p.b_variant.isin(ours)]
        p = p.assign(pilot_study=study, pilot_comparison=p.comparison).drop(columns="comparison").merge(
            names[["comparison", *COMPARED]], on=COMPARED, how="left")
        frames.append(p[MATCH + ["comparison", "pilot_study", "pilot_comparison"] + cols].rename(
            columns={"verdict": "pilot_verdict", "measured_value": "pilot_value", "adj_ci_low": "pilot_ci_low",
                     "adj_ci_high": "pilot_ci_high"}))
    pilot_rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=MATCH + ["comparison"])
    key = {"fault": ""}
    rows = pilot_rows.fillna(key).merge(mine[MATCH + ["comparison"] + cols].fillna(key), on=MATCH, how="outer",
                                        suffixes=("_pilot", ""))
    rows["comparison"] = rows.comparison.fillna(rows.comparison_pilot)
    rows["pilot_study"] = rows.pilot_study.fillna(rows.claim.map(pilot["studies"]))
    rows["n_seeds"] = rows.arch.map({**seeds, **pairs})
    rows["power_t"] = rows["power_permutation"] = float("nan")
    if power is not None and len(rows):
        pw = power.fillna(key).rename(columns={"comparison": "pilot_comparison", "study": "pilot_study",
                                               "n": "n_seeds"})
        on = ["claim", "dataset", "arch", "fault", "quantity", "pilot_comparison", "pilot_study", "n_seeds"]
        rows = rows.drop(columns=["power_t", "power_permutation"]).merge(
            pw[on + ["power_t", "power_permutation"]], on=on, how="left")
    rows["outcome"] = [outcome(p if isinstance(p, str) else None, v if isinstance(v, str) else None)
                       for p, v in zip(rows.pilot_verdict, rows.verdict)]
    rows["between"] = rows.arch.isin(pairs)
    order = {c: i for i, c in enumerate(pilot["studies"])}
    rows = rows.assign(_c=rows.claim.map(order), _a=rows.arch.map({a: i for i, a in enumerate([*archs, *pairs])}))
    return rows.sort_values(["_c", "_a", "fault", "quantity", "comparison"]).drop(columns=["_c", "_a"])[COLUMNS]


def by_family(rows: pd.DataFrame) -> pd.DataFrame:
    """Per claim and architecture: the pilot's and the confirmatory study's family verdicts, the
    outcome in words and the range of the endpoints' power. A pair of architectures (its contrasts
    in the between-architecture family, which has no family verdict) gets its rows' verdicts
    counted, and their outcome where they share one."""
    out = []
    for (claim, dataset, arch), g in rows.groupby(["claim", "dataset", "arch"], sort=False):
        was, now = g.pilot_verdict.dropna(), g.verdict.dropna()
        counts = g.outcome.value_counts()
        between = bool(g.between.iloc[0])
        if between:
            before, after = (_counted(v) if len(v) else None for v in (was, now))
            how = counts.index[0] if len(counts) == 1 else VARIES
        else:
            before = family_verdict(was) if len(was) else None
            after = family_verdict(now) if len(now) else None
            how = outcome(before, after)
        out.append({"claim": claim, "dataset": dataset, "arch": arch, "between": between,
                    "pilot_study": g.pilot_study.iloc[0],
                    "pilot_verdict": before or "", "verdict": after or "", "outcome": how,
                    "rows": _counted(g.outcome),
                    "endpoints": len(g), "power_t_min": g.power_t.min(), "power_t_max": g.power_t.max(),
                    "power_permutation_min": g.power_permutation.min(),
                    "power_permutation_max": g.power_permutation.max()})
    return pd.DataFrame(out, columns=FAMILY_COLUMNS)


def _counted(verdicts: pd.Series) -> str:
    return "; ".join(f"{n} {w}" for w, n in verdicts.value_counts().items())


def in_words(family: pd.DataFrame, claim: str) -> str:
    """The README's cell for one claim: per architecture, pilot verdict -> confirmatory verdict,
    the outcome and the power its endpoints had (t test; exact permutation test)."""
    parts = []
    for r in family[family.claim == claim].itertuples():
        was, now = (v if isinstance(v, str) and v else None for v in (r.pilot_verdict, r.verdict))
        what = f"{r.arch}: {was or 'no pilot'} in {r.pilot_study} -> {now or 'not decided yet'}"
        if now:
            # a pair's contrasts have no family verdict: their outcomes, counted where they differ
            what += (f", {r.outcome}" + (f" (rows: {r.rows})" if r.outcome == VARIES else "") if r.between
                     else f", {r.outcome} as a family (rows: {r.rows})")
        if pd.notna(r.power_t_min):
            test = "equivalence power" if r.between else "power"
            what += f" ({test} {_span(r.power_t_min, r.power_t_max)}"
            if pd.notna(r.power_permutation_min):
                what += f", permutation {_span(r.power_permutation_min, r.power_permutation_max)}"
            what += ")"
        parts.append(what)
    return "; ".join(parts)


def _span(lo: float, hi: float) -> str:
    return f"{lo:.2f}" if round(lo, 2) == round(hi, 2) else f"{lo:.2f}-{hi:.2f}"

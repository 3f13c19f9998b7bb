"""A confirmatory study against its pilot: per primary endpoint, the pilot's verdict beside the
confirmatory study's, in words (confirmed, overturned, ...), with the power that endpoint had at
the confirmatory study's seeds in the power table committed with its plan (pure: tables in,
tables out). The pilot is declared in the study's study.yaml (``pilot:``), as its power table
was computed: which stored study is each claim's pilot, and which AS level of each pilot stands
for the confirmatory study's one."""
from __future__ import annotations

import re

import pandas as pd

from flatenn.verdicts import family_verdict

DECIDED = ("PASS", "FAIL")
KEYS = ["claim", "dataset", "arch", "fault", "quantity", "comparison"]
COLUMNS = KEYS + ["pilot_study", "pilot_comparison", "pilot_verdict", "pilot_value", "pilot_ci_low", "pilot_ci_high",
                  "verdict", "measured_value", "adj_ci_low", "adj_ci_high", "n_seeds", "power_t", "power_permutation",
                  "outcome"]
FAMILY_COLUMNS = ["claim", "dataset", "arch", "pilot_study", "pilot_verdict", "verdict", "outcome", "rows", "endpoints",
                  "power_t_min", "power_t_max", "power_permutation_min", "power_permutation_max"]


def outcome(pilot: str | None, confirm: str | None) -> str:
    """What the confirmatory verdict does to the pilot's, in words (family verdicts or rows)."""
    if confirm is None:  # none of the architecture's networks, or not all of them, stored yet
        return "not decided yet"
    if pilot is None:
        return "first test (no pilot row)"
    if "MIXED" in (pilot, confirm):
        return "mixed"
    if pilot in DECIDED:
        return ("confirmed" if confirm == pilot else "overturned" if confirm in DECIDED
                else "not confirmed (undetermined)")
    return "newly decided" if confirm in DECIDED else "undetermined in both"


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


def _rename_level(comparison: str, level: str, to: str) -> str:
    return re.sub(rf"\b{re.escape(level)}\b", to, comparison)


def against_pilot(confirm: pd.DataFrame, pilots: dict[str, pd.DataFrame], pilot: dict,
                  power: pd.DataFrame | None, seeds: dict[str, int], archs: list[str]) -> pd.DataFrame:
    """One row per primary endpoint of the declared archs in the pilot or the confirmatory claims
    table ``confirm``: both verdicts, values and family-wise intervals, the power at the study's
    ``seeds`` (arch -> n) and the outcome. ``pilots``: study name -> its claims table."""
    cols = ["verdict", "measured_value", "adj_ci_low", "adj_ci_high"]
    mine = confirm[(confirm.role == "primary") & confirm.arch.isin(archs)]
    # the pilot's rows of the networks this study trained: its mapped AS level and the variants beside it
    ours = (set(confirm.a_variant) | set(confirm.b_variant)) or {pilot["level"], "standard"}
    frames = []
    for claim, study in pilot["studies"].items():
        p = pilots[study]
        level = pilot["as_level"][study]
        named = p.a_variant.replace(level, pilot["level"]), p.b_variant.replace(level, pilot["level"])
        p = p[(p.role == "primary") & (p.claim == claim) & p.arch.isin(archs) & named[0].isin(ours)
              & named[1].isin(ours)]
        p = p.assign(pilot_study=study, pilot_comparison=p.comparison,
                     comparison=[_rename_level(c, level, pilot["level"]) for c in p.comparison])
        frames.append(p[KEYS + ["pilot_study", "pilot_comparison"] + cols].rename(
            columns={"verdict": "pilot_verdict", "measured_value": "pilot_value", "adj_ci_low": "pilot_ci_low",
                     "adj_ci_high": "pilot_ci_high"}))
    pilot_rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=KEYS)
    key = {"fault": ""}
    rows = pilot_rows.fillna(key).merge(mine[KEYS + cols].fillna(key), on=KEYS, how="outer")
    rows["pilot_study"] = rows.pilot_study.fillna(rows.claim.map(pilot["studies"]))
    rows["n_seeds"] = rows.arch.map(seeds)
    rows["power_t"] = rows["power_permutation"] = float("nan")
    if power is not None and len(rows):
        pw = power.fillna(key).rename(columns={"comparison": "pilot_comparison", "study": "pilot_study",
                                               "n": "n_seeds"})
        on = ["claim", "dataset", "arch", "fault", "quantity", "pilot_comparison", "pilot_study", "n_seeds"]
        rows = rows.drop(columns=["power_t", "power_permutation"]).merge(
            pw[on + ["power_t", "power_permutation"]], on=on, how="left")
    rows["outcome"] = [outcome(p if isinstance(p, str) else None, v if isinstance(v, str) else None)
                       for p, v in zip(rows.pilot_verdict, rows.verdict)]
    order = {c: i for i, c in enumerate(pilot["studies"])}
    rows = rows.assign(_c=rows.claim.map(order), _a=rows.arch.map({a: i for i, a in enumerate(archs)}))
    return rows.sort_values(["_c", "_a", "fault", "quantity", "comparison"]).drop(columns=["_c", "_a"])[COLUMNS]


def by_family(rows: pd.DataFrame) -> pd.DataFrame:
    """Per claim and architecture: the pilot's and the confirmatory study's family verdicts, the
    outcome in words and the range of the endpoints' power."""
    out = []
    for (claim, dataset, arch), g in rows.groupby(["claim", "dataset", "arch"], sort=False):
        was, now = g.pilot_verdict.dropna(), g.verdict.dropna()
        before = family_verdict(was) if len(was) else None
        after = family_verdict(now) if len(now) else None
        counts = g.outcome.value_counts()
        out.append({"claim": claim, "dataset": dataset, "arch": arch, "pilot_study": g.pilot_study.iloc[0],
                    "pilot_verdict": before or "", "verdict": after or "", "outcome": outcome(before, after),
                    "rows": "; ".join(f"{n} {w}" for w, n in counts.items()),
                    "endpoints": len(g), "power_t_min": g.power_t.min(), "power_t_max": g.power_t.max(),
                    "power_permutation_min": g.power_permutation.min(),
                    "power_permutation_max": g.power_permutation.max()})
    return pd.DataFrame(out, columns=FAMILY_COLUMNS)


def in_words(family: pd.DataFrame, claim: str) -> str:
    """The README's cell for one claim: per architecture, pilot verdict -> confirmatory verdict,
    the outcome and the power its endpoints had (t test; exact permutation test)."""
    parts = []
    for r in family[family.claim == claim].itertuples():
        was, now = (v if isinstance(v, str) and v else None for v in (r.pilot_verdict, r.verdict))
        what = f"{r.arch}: {was or 'no pilot'} in {r.pilot_study} -> {now or 'not decided yet'}"
        if now:
            what += f", {r.outcome} as a family (rows: {r.rows})"
        if pd.notna(r.power_t_min):
            what += (f" (power {_span(r.power_t_min, r.power_t_max)}, permutation "
                     f"{_span(r.power_permutation_min, r.power_permutation_max)})")
        parts.append(what)
    return "; ".join(parts)


def _span(lo: float, hi: float) -> str:
    return f"{lo:.2f}" if round(lo, 2) == round(hi, 2) else f"{lo:.2f}-{hi:.2f}"

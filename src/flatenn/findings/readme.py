"""The README's findings: per study, claim and architecture, one row with the family's verdict and
its robustness, and the README with that table in place."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from flatenn.findings.claims import family_verdict

FINDINGS_START, FINDINGS_END = "<!-- findings: written by `make findings`, not by hand -->", "<!-- end of findings -->"


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


def readme_with_findings(readme: str, table: str) -> str:
    """The README with the block between the findings markers replaced by ``table``."""
    if FINDINGS_START not in readme or FINDINGS_END not in readme:
        raise ValueError("README: the findings markers are missing")
    head, rest = readme.split(FINDINGS_START, 1)
    return head + FINDINGS_START + "\n" + table + rest[rest.index(FINDINGS_END):]

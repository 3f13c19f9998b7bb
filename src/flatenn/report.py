"""Output formats and the run's own record: tables as CSV/Markdown/LaTeX, stage runtimes,
executed notebooks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from flatenn import io


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


def _effect(r) -> str:
    unit = "%" if r.claim in ("C2", "C5") else " points"
    what = f"{r.fault} faults, " if isinstance(r.fault, str) and r.fault else ""
    return (f"{r.comparison} ({what}{r.quantity}): {r.measured_value:+.1f}{unit} "
            f"[{r.ci_low:+.1f}, {r.ci_high:+.1f}], Holm p {r.p_adjusted:.3g}")


def findings(claims: pd.DataFrame, interaction: pd.DataFrame, explains: pd.DataFrame,
             slope: pd.DataFrame | None = None) -> str:
    """findings.md: one line per claim and architecture (the family's verdict, its strongest
    primary row, what it means), the comparison between architectures, and the mechanism."""
    lines = ["# Findings", "",
             "Written by the workflow from claims.csv, claims_interaction.csv, claims_slope.csv and sharpness_explains.csv "
             "(analysis plan: claims.plan); not edited by hand. Effects are means over trained networks "
             "with 95 % t intervals; Holm p is adjusted over each claim's primary rows.", "",
             "## Claims", ""]
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
        lines.append(f"- **{claim}, {arch} ({ds}): {verdict}** ({counts} of {len(g)} primary rows). "
                     f"Strongest: {_effect(best)}. {meaning[0].upper() + meaning[1:]}.{note}")
    if len(interaction):
        lines += ["", "## Between architectures", ""]
        for r in interaction.itertuples():
            sign = "changes sign" if r.changes_sign else "no change of sign shown"
            lines.append(f"- {r.claim} {r.comparison}, {r.fault}: {r.arch_b} minus {r.arch_a} {r.diff:+.1f} "
                         f"[{r.ci_low:+.1f}, {r.ci_high:+.1f}] points, Holm p {r.p_adjusted:.3g}: {r.verdict}; "
                         f"{sign} (intersection-union Holm p {r.changes_sign_p_adjusted:.3g})")
    if slope is not None and len(slope):
        lines += ["", f"## Sparsity and depth: C1's quantity per {slope.per_gain.iloc[0]:g} of activation sparsity "
                  "gained (claims_slope.csv)", ""]
        for r in slope.itertuples():
            who = r.arch if r.row == "slope" else f"{r.arch_b} minus {r.arch}"
            lines.append(f"- {who}, {r.fault}: {r.slope:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}] points, "
                         f"Holm p {r.p_adjusted:.3g}: {r.verdict}")
    curv = explains[explains.metric == explains.fault.radd("fault_curvature_")] if len(explains) else explains
    if len(curv):
        lines += ["", "## Mechanism: does curvature along the faults predict what a network keeps?", ""]
        for r in curv.itertuples():
            lines.append(f"- {r.arch}, {r.fault}: Spearman rho {r.rho:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}] "
                         f"over {r.n_seeds} seeds of {r.networks_per_seed} networks: {r.reading}")
    return "\n".join(lines) + "\n"


def mechanism_findings(explained: pd.DataFrame, intervention: pd.DataFrame, networks: pd.DataFrame) -> str:
    """mechanism_findings.md: what explains C1's quantity across architectures and AS levels,
    what the intervention did, and which explanations the data leave standing."""
    lines = ["# Mechanism", "",
             "Written by the workflow from mechanism_explained.csv and intervention.csv; not edited by hand. "
             "C1's quantity is the share of above-chance accuracy kept, standard minus AS network, in points "
             "(> 0: the AS network keeps less). Intervals are 95 % t intervals over seeds. Candidates are "
             "ranked by r2 pooled over every contrast; a seed's own r2 over its few contrasts is inflated.", "",
             "## What explains C1's quantity (per seed across architectures x AS levels)", ""]
    for fault, g in explained.groupby("fault", sort=True):
        g = g.sort_values("r2_pooled", ascending=False)  # a seed's few contrasts inflate its own r2
        parts = [f"{r.candidate} r2 pooled {r.r2_pooled:.2f} (per seed {r.r2:.2f}), "
                 f"rho {r.rho:+.2f} [{r.rho_ci_low:+.2f}, {r.rho_ci_high:+.2f}]"
                 f" ({r.reading})" for r in g.itertuples()]
        lines.append(f"- {fault}: " + "; ".join(parts))
    standing = explained.groupby("candidate")["reading"].agg(lambda r: (r != "no relation shown").all())
    if len(standing):
        names = [c for c, ok in standing.items() if ok]
        lines += ["", "Candidates related to C1's quantity under every fault type: "
                  + (", ".join(names) if names else "none") + "."]
    if len(intervention):
        lines += ["", "## Intervention: the same number of faults on weights whose input is active", ""]
        for r in intervention.itertuples():
            lines.append(f"- {r.arch} {r.a_variant}, {r.fault} at rate {r.rate:g}: {r.effect:+.1f} "
                         f"[{r.effect_ci_low:+.1f}, {r.effect_ci_high:+.1f}] points with faults anywhere, "
                         f"{r.effect_live:+.1f} [{r.live_ci_low:+.1f}, {r.live_ci_high:+.1f}] on live weights only: "
                         f"{r.reading} (Holm p {r.change_p_adjusted:.3g})")
        dead = networks.drop_duplicates(["dataset", "arch", "variant", "training", "seed"]).groupby(
            ["arch", "variant"])["dead_input_share"].mean()
        lines += ["", "The intervention moves only the faults that fell on weights with dead inputs (never active on "
                  "the campaign images); their mean share of the weights: "
                  + ", ".join(f"{a} {v} {100 * x:.1f} %" for (a, v), x in dead.items()) + "."]
        shrinks = int((intervention.reading == "difference shrinks").sum())
        lines += ["", f"Dead inputs as the explanation: the difference shrinks in {shrinks} of {len(intervention)} "
                  "cells, grows in " + str(int((intervention.reading == "difference grows").sum()))
                  + ", and shows no change in " + str(int((intervention.reading == "no change shown").sum())) + "."]
    return "\n".join(lines) + "\n"


def claims_tables(seed_means_csv, sharpness_csv, clean_csv, plan: dict, outputs: dict, findings_md) -> None:
    """The claims job (and `flatenn recompute`): per-seed tables in, every claims table and
    findings.md out. ``outputs`` maps claims, by_rate, interaction and explains to their paths."""
    from flatenn import claims
    from flatenn.catalog import DEPTH, NUM_CLASSES

    seed_means, sharp, clean = (pd.read_csv(p) for p in (seed_means_csv, sharpness_csv, clean_csv))
    unknown = sorted(set(clean.dataset) - set(NUM_CLASSES))
    if unknown:
        raise ValueError(f"clean: no class count known for dataset {unknown[0]!r} (flatenn.catalog)")
    chance = {ds: 1 / NUM_CLASSES[ds] for ds in set(clean.dataset)}
    tables = claims.evaluate(seed_means, sharp, clean, plan, chance, DEPTH)
    for name, paths in outputs.items():
        write_table(tables[name], paths, floatfmt=".3g" if name == "explains" else ".2f")
    io.atomic_write_text(findings_md, findings(tables["claims"], tables["interaction"], tables["explains"],
                                               tables["slope"]))


def findings_table(studies: dict) -> str:
    """The README's findings: per study, claim and architecture, the family's verdict and its
    strongest primary row, from each study's claims.csv (``studies``: name -> folder)."""
    rows = []
    for name, folder in studies.items():
        c = pd.read_csv(Path(folder) / "claims.csv")
        for (claim, arch), g in c[c.role == "primary"].groupby(["claim", "arch"], sort=False):
            decided = g[g.p_adjusted.notna()]
            best = decided.loc[decided.p_adjusted.idxmin()] if len(decided) else g.iloc[0]
            unit = "%" if claim in ("C2", "C5") else ""
            what = best.fault if isinstance(best.fault, str) and best.fault else best.quantity.replace(
                "fault_curvature_", "curvature ")
            rows.append({"study": name, "claim": claim, "arch": arch, "verdict": family_verdict(g.verdict),
                         "strongest primary row": f"{best.a_variant} ({best.a_training}), {what}",
                         "effect [95 % CI]": f"{best.measured_value:+.1f}{unit} [{best.ci_low:+.1f}, {best.ci_high:+.1f}]",
                         "Holm p": f"{best.p_adjusted:.2g}"})
        slope_csv = Path(folder) / "claims_slope.csv"
        if slope_csv.is_file() and len(sl := pd.read_csv(slope_csv)) > 1:
            rows += _slope_rows(name, sl)
    return pd.DataFrame(rows).to_markdown(index=False) + "\n"


def _slope_rows(study: str, slope: pd.DataFrame) -> list[dict]:
    """The depth endpoint's rows of the README's findings: per architecture the slope family
    (PASS: more sparsity, less kept, the paper's direction), per pair the difference family."""
    rows = []
    for (row, arch, other), g in slope.fillna({"arch_b": ""}).groupby(["row", "arch", "arch_b"], sort=False):
        best = g.loc[g.p_adjusted.idxmin()] if g.p_adjusted.notna().any() else g.iloc[0]
        sig = ~g.verdict.isin(["no slope shown", "no difference shown"])  # decided at the plan's level
        signs = set(np.sign(g.slope[sig]))
        if row == "slope":
            claim, who = "C1 slope", arch
            verdict = "MIXED" if len(signs) > 1 else "PASS" if signs == {1} else "FAIL" if signs == {-1} else "INCONCLUSIVE"
        else:
            claim, who = "C1 slope, deeper minus shallower", f"{other} - {arch}"
            verdict = "DIFFERS" if signs else "NO DIFFERENCE SHOWN"
        rows.append({"study": study, "claim": claim, "arch": who, "verdict": verdict,
                     "strongest primary row": f"{best.fault}, per {best.per_gain:g} sparsity gained",
                     "effect [95 % CI]": f"{best.slope:+.1f} [{best.ci_low:+.1f}, {best.ci_high:+.1f}]",
                     "Holm p": f"{best.p_adjusted:.2g}"})
    return rows


FINDINGS_START, FINDINGS_END = "<!-- findings: written by `make findings`, not by hand -->", "<!-- end of findings -->"


def readme_with_findings(readme: str, table: str) -> str:
    """The README with the block between the findings markers replaced by ``table``."""
    if FINDINGS_START not in readme or FINDINGS_END not in readme:
        raise ValueError("README: the findings markers are missing")
    head, rest = readme.split(FINDINGS_START, 1)
    return head + FINDINGS_START + "\n" + table + rest[rest.index(FINDINGS_END):]

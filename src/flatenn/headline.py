"""The README's first screen: one line per claim of the paper, from the stored studies' tables
(pure: folders and the declaration in, a table out). Which study decides which claim is declared
in expected/headline.yaml, not chosen by its result."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from flatenn import verdicts

STATEMENTS = {
    "C1": "AS QDNNs lose more under weight faults",
    "C2": "AS QDNNs sit in sharper minima",
    "C3": "SAQ raises accuracy under faults",
    "C4": "SAQ-trained AS beats conventional standard under faults",
    "C5": "SAQ reaches flatter minima",
    "C5-clean": "SAQ keeps clean accuracy",
    "C1 between architectures": "C1 depends on depth",
    "switch": "the AS effect sits in the trained weights, not in sparsity at inference",
}
COLUMNS = ["claim", "the paper says", "decided by", "verdict per architecture (robustness)", "direction",
           "strongest primary row [family-wise CI]", "confirmatory study against its pilot"]
AGAINST_PILOT = "against pilot"  # headline.yaml's key naming the confirmatory study (not a claim)


def _family(name: str, g: pd.DataFrame, share: float) -> str:
    from flatenn.findings import family_verdict

    return f"{name}: " + verdicts.family_words(family_verdict(g.verdict), list(g.itertuples()), share)


def _strongest(g: pd.DataFrame) -> str:
    decided = g[g.p_adjusted.notna()]
    r = decided.loc[decided.p_adjusted.idxmin()] if len(decided) else g.iloc[0]
    unit = "%" if r.claim in ("C2", "C5") else " points"
    what = r.fault if isinstance(r.fault, str) and r.fault else str(r.quantity).replace("fault_curvature_", "curvature ")
    return (f"{r.arch} {r.a_variant} ({r.a_training}), {what}: {r.measured_value:+.1f}{unit} "
            f"[{r.adj_ci_low:+.1f}, {r.adj_ci_high:+.1f}], {r.verdict}")


def up_to(claim: str, p: pd.DataFrame, folder: Path) -> str:
    """C3 and C4 beside the paper's "up to" figures: the largest mean gain at any one rate
    (claims_by_rate.csv), per compared network, and the paper's (v1 / latest) where it gives one."""
    by_rate = folder / "claims_by_rate.csv"
    if claim not in ("C3", "C4") or not by_rate.is_file():
        return ""
    r = pd.read_csv(by_rate)
    r = r[r.claim == claim].merge(p[["arch", "comparison", "a_variant", "paper_v1", "paper_latest"]].drop_duplicates(
        ["arch", "comparison"]), on=["arch", "comparison"])
    if r.empty:
        return ""
    ours, theirs = [], []
    for variant, g in r.groupby("a_variant", sort=False):
        top = g.loc[g.measured_value.idxmax()]
        ours.append(f"{top.measured_value:+.1f} ({variant}: {top.arch}, {top.fault} at {top.rate:g})")
        if str(top.paper_v1) not in ("-", "nan"):
            theirs.append(f"{top.paper_v1} / {top.paper_latest} ({'standard' if variant == 'standard' else 'AS'})")
    return (f"; up to {', '.join(ours)} points at one rate; the paper (v1 / latest): "
            + (f"up to {', '.join(theirs)}" if theirs else "no figure"))


def _claim_row(claim: str, study: str, folder: Path, c: pd.DataFrame, share: float, archs: list[str]) -> dict:
    from flatenn.findings import family_verdict

    p = c[(c.role == "primary") & (c.claim == claim)]
    order = {arch: i for i, arch in enumerate(archs)}  # the study's declared order (by depth), not the alphabet
    fams = [_family(arch, g, share) for arch, g in sorted(p.groupby("arch", sort=False),
                                                          key=lambda kv: order.get(kv[0], len(order)))]
    fams += [f"{arch}: not decided yet (not all its networks stored)" for arch in archs if arch not in set(p.arch)]
    overall = family_verdict(p.verdict)
    way = ""
    if claim != "C5-clean" and "seeds_for" in p:
        way = verdicts.direction(overall, list(p.itertuples()), int(p.seeds_for.sum()), int(p.seeds_against.sum()),
                                 share)
    return {"decided by": study, "verdict per architecture (robustness)": "; ".join(fams), "direction": way,
            "strongest primary row [family-wise CI]": (_strongest(p) + up_to(claim, p, folder)) if len(p) else ""}


def _between_row(study: str, folder: Path, c: pd.DataFrame, archs: list[str]) -> dict:
    it = pd.read_csv(folder / "claims_interaction.csv")
    if it.empty:
        waiting = ", ".join(a for a in archs if a not in set(c.arch[c.role == "primary"]))
        return {"decided by": study, "verdict per architecture (robustness)": "not decided yet (decided once every "
                f"architecture's networks are stored{': ' + waiting if waiting else ''})", "direction": "",
                "strongest primary row [family-wise CI]": ""}
    counts = it.verdict.value_counts()
    words = "; ".join(f"{n} of {len(it)} {w}" for w, n in counts.items())
    widest = (it.adj_ci_high - it.adj_ci_low).max() / 2
    decided = it[it.verdict.isin(("deeper loses more", "deeper loses less"))]
    r = it.loc[it.p_adjusted.idxmin()]
    return {"decided by": study, "verdict per architecture (robustness)": words,
            "direction": (f"{len(decided)} contrasts differ; family-wise intervals up to +-{widest:.1f} points against "
                          f"an equivalence margin of +-{it.margin.iloc[0]:g}"),
            "strongest primary row [family-wise CI]": f"{r.arch_b} - {r.arch_a}, {r.comparison}, {r.fault}: "
                                                      f"{r['diff']:+.1f} [{r.adj_ci_low:+.1f}, {r.adj_ci_high:+.1f}], "
                                                      f"{r.verdict}"}


def _switch_row(study: str, folder: Path) -> dict:
    iv = pd.read_csv(folder / "intervention.csv")
    sw = iv[iv.condition == "as_threshold_removed"]
    med = sw.mediation.fillna("").value_counts()
    excluded = sw[sw.full_p_adjusted < 0.05]
    r = sw.loc[sw.full_p_adjusted.idxmin()]
    return {"decided by": study,
            "verdict per architecture (robustness)": "; ".join(f"{n} of {len(sw)} cells {w}" for w, n in med.items()),
            "direction": f"full proportional mediation excluded in {len(excluded)} of {len(sw)} AS cells; the switch "
                         f"removes {100 * sw.gain_removed_share.min():.0f}-{100 * sw.gain_removed_share.max():.0f} % of "
                         "the sparsity gained",
            "strongest primary row [family-wise CI]": f"{r.arch} {r.a_variant}, {r.fault}: change {r.change:+.1f} "
                                                      f"[{r.change_ci_low:+.1f}, {r.change_ci_high:+.1f}] vs "
                                                      f"{r.full_mediation_change:+.1f} under full mediation, "
                                                      f"{r.mediation}"}


def headline(declared: dict, root: Path, share: float = 1.0, archs: dict | None = None) -> pd.DataFrame:
    """One row per claim of ``declared`` (claim -> study folder name under ``root``); where it names
    a confirmatory study (``against pilot``), each claim's verdicts there against its pilot's, with
    the power each endpoint had (its against_pilot_by_claim.csv, flatenn.confirmation). ``archs``:
    study -> the architectures it declares (a study run in parts), each one it has not decided yet
    named "not decided yet"."""
    from flatenn import confirmation

    declared = dict(declared)
    confirm = declared.pop(AGAINST_PILOT, None)
    family = None
    if confirm is not None:
        path = Path(root) / confirm / "against_pilot_by_claim.csv"
        if not path.is_file():
            raise FileNotFoundError(f"headline: {path} is missing ({AGAINST_PILOT}: {confirm})")
        family = pd.read_csv(path, keep_default_na=False, na_values=[""])
    rows, claims_of = [], {}  # each study's claims.csv, read once
    for claim, study in declared.items():
        folder = Path(root) / study
        if claim not in STATEMENTS:
            raise ValueError(f"headline: unknown claim {claim!r} (known: {', '.join(STATEMENTS)})")
        if not (folder / "claims.csv").is_file():
            raise FileNotFoundError(f"headline: {folder / 'claims.csv'} is missing (claim {claim})")
        named = (archs or {}).get(study, [])
        if study not in claims_of:
            claims_of[study] = pd.read_csv(folder / "claims.csv")
        c = claims_of[study]
        row = (_between_row(study, folder, c, named) if claim == "C1 between architectures" else
               _switch_row(study, folder) if claim == "switch" else _claim_row(claim, study, folder, c, share, named))
        row["confirmatory study against its pilot"] = confirmation.in_words(family, claim) if family is not None else ""
        rows.append({"claim": claim, "the paper says": STATEMENTS[claim], **row})
    out = pd.DataFrame(rows, columns=COLUMNS)
    out["decided by"] = [f"[{s}](expected/{s}/findings.md)" for s in out["decided by"]]
    return out

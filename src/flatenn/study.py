"""Stored studies in parts: the architectures and seeds a study declares, the networks a part
still lacks, and the study's claims recomputed from its per-seed tables without training."""
from __future__ import annotations

from pathlib import Path


def study_parts(folder: Path) -> list[Path]:
    """A stored study's folders of per-seed tables: itself, or its parts/* (a study run in parts)."""
    parts = sorted(p for p in (folder / "parts").glob("*") if p.is_dir())
    return parts if parts and not (folder / "clean_accuracy.csv").is_file() else [folder]


def declared_study(folders: list[Path]) -> tuple[list[str], list[int] | dict | None]:
    """The architectures (``archs:``) and seeds a study run in parts declares in its study.yaml
    before its parts are stored: ``seeds:`` (optional), a list for every architecture, with
    ``seeds_per_arch:`` (optional) naming other lists for some (then a dict arch -> seeds); none
    where no folder has one."""
    import yaml

    from flatenn import registry

    archs, seeds = [], None
    for f in folders:
        if (f / "study.yaml").is_file():
            doc = yaml.safe_load((f / "study.yaml").read_text()) or {}
            names = doc.get("archs") if isinstance(doc, dict) else None
            if not isinstance(names, list) or not names or not all(isinstance(a, str) for a in names):
                raise ValueError(f"{f / 'study.yaml'}: archs: a list of architecture names is required")
            for a in names:
                registry.architecture(a)  # an unknown name is a one-line error
            archs += [a for a in names if a not in archs]
            if "seeds" in doc:
                got = doc["seeds"]
                if not isinstance(got, list) or not got or not all(type(x) is int for x in got):
                    raise ValueError(f"{f / 'study.yaml'}: seeds: a list of integer seeds is required")
                seeds = sorted(set(seeds or []) | set(got))
            per = doc.get("seeds_per_arch", {})
            if not isinstance(per, dict) or not all(a in names and isinstance(v, list) and v and
                                                    all(type(x) is int for x in v) for a, v in per.items()):
                raise ValueError(f"{f / 'study.yaml'}: seeds_per_arch: a list of integer seeds per declared "
                                 "architecture is required")
            if per:
                if seeds is None:
                    raise ValueError(f"{f / 'study.yaml'}: seeds_per_arch needs seeds: for the other architectures")
                seeds = {a: sorted(per.get(a, seeds)) for a in archs}
    return archs, seeds


def against_pilot(folders: list[Path], out: Path, claims, archs: list[str], seeds) -> str | None:
    """Where a folder's study.yaml declares its ``pilot:``, the confirmatory study's primary
    endpoints against the pilot's (flatenn.confirmation), written to against_pilot.csv and, per
    claim and architecture, against_pilot_by_claim.csv; what it says, or None."""
    import pandas as pd
    import yaml

    from flatenn import confirmation, tables

    docs = {f: yaml.safe_load((f / "study.yaml").read_text()) or {} for f in folders if (f / "study.yaml").is_file()}
    folder = next((f for f, doc in docs.items() if "pilot" in doc), None)
    if folder is None:
        return None
    pilot = confirmation.check_pilot(docs[folder]["pilot"], str(folder / "study.yaml"))
    pilots = {}
    for name in dict.fromkeys(pilot["studies"].values()):
        if not (folder.parent / name / "claims.csv").is_file():
            raise FileNotFoundError(f"{folder / 'study.yaml'}: pilot: {folder.parent / name / 'claims.csv'} is missing")
        pilots[name] = pd.read_csv(folder.parent / name / "claims.csv")
    power = pd.read_csv(folder / pilot["power"]) if "power" in pilot else None
    n = {a: len(s) for a in archs if (s := seeds_of(seeds, a))}
    rows = confirmation.against_pilot(claims, pilots, pilot, power, n, archs)
    tables.write_table(rows, [out / "against_pilot.csv"])
    tables.write_table(confirmation.by_family(rows), [out / "against_pilot_by_claim.csv"])
    return f"against_pilot.csv: {len(rows)} primary endpoints against {', '.join(pilots)}"


def seeds_of(seeds, arch: str) -> list[int] | None:
    """An architecture's declared seeds (``declared_study``'s second value)."""
    return seeds.get(arch) if isinstance(seeds, dict) else seeds


def missing_networks(clean, half_clean, arch: str, seeds: list[int] | None) -> str:
    """What an architecture's stored part lacks before its claims may be decided: a network of its
    grid (its variants x trainings x the declared seeds) at the full budget, or, where the study
    keeps half budgets, at half of it; "" when nothing is missing."""
    import pandas as pd

    from flatenn.aggregate import MODEL_COLS

    nets = clean.loc[clean.arch == arch, MODEL_COLS].drop_duplicates()
    grid = nets.drop(columns="seed").drop_duplicates().merge(
        pd.DataFrame({"seed": seeds if seeds is not None else sorted(set(nets.seed))}), how="cross")
    gaps = []
    for name, have in (("", nets), (" at half the budget", half_clean)):
        if have is None:
            continue
        have = have.loc[have.arch == arch, MODEL_COLS].drop_duplicates()
        lack = grid.merge(have, how="left", indicator=True).query("_merge == 'left_only'")
        if len(lack):
            seeds_lacking = sorted(set(lack.seed))
            gaps.append(f"{len(lack)} of {len(grid)} networks{name} (seed{'s' * (len(seeds_lacking) > 1)} "
                        f"{', '.join(map(str, seeds_lacking))})")
    return " and ".join(gaps)


def recompute(studies: list[Path], out: Path | None, plan: dict, plan_name: str) -> list[str]:
    """A study's claims, findings and mechanism inference from its per-seed tables, without
    training; a study run in parts gives each part's folder (its networks must not overlap) and
    an ``out`` (or a folder whose parts/ holds them). A part with a half/ folder (the same networks at
    half the budget) adds the budget stability endpoint; a part may hold its half/ alone until its
    full budget is stored. A study folder's study.yaml declares its
    architectures and seeds: an architecture whose networks (or their half budgets) are not all
    stored is not decided, and the families that span architectures (between architectures, the
    mechanism) wait for it. Returns what it says, one line each."""
    import pandas as pd

    from flatenn import findings, io, tables
    from flatenn.jobs import tables as table_jobs
    from flatenn.mechanism import infer

    out = out if out is not None else (studies[0] if len(studies) == 1 else None)
    if out is None:
        raise ValueError("--out: a study in parts needs one folder for its claims")
    folders = list(studies)
    declared, seeds = declared_study(studies)
    studies = [p for d in studies for p in study_parts(d)]
    names = ("fault_accuracy_by_seed", "sharpness", "clean_accuracy")
    # a part's half/ folder holds its networks at half the budget; a part stored before its full or
    # its half budget leaves its architecture waiting (below), so either may be stored first
    half_only = [p for p in studies if (p / "half").is_dir() and not any((p / f"{n}.csv").is_file() for n in names)]
    halves = [study / "half" for study in studies if (study / "half").is_dir()]
    studies = [p for p in studies if p not in half_only]
    if not studies:
        raise ValueError("--study: no part holds full-budget tables (clean_accuracy.csv and the rest)")
    for study in studies:
        for n in names:
            if not (study / f"{n}.csv").is_file():
                raise FileNotFoundError(f"--study: {study / f'{n}.csv'} is missing (a study keeps its per-seed tables)")
    inputs = [[study / f"{n}.csv" for study in studies] for n in names]
    half = {"seed_means": [h / "fault_accuracy_by_seed.csv" for h in halves],
            "clean": tables.read_tables([h / "clean_accuracy.csv" for h in halves])} if halves else None
    clean = tables.read_tables(inputs[2])
    half_clean = half["clean"] if half else None
    stored = sorted(set(clean.arch))
    declared = declared or stored
    extra = sorted(set(stored) - set(declared))
    if extra:
        raise ValueError(f"--study: the parts hold {extra[0]}, which the study's study.yaml does not declare")
    held = set(clean.seed) | (set(half_clean.seed) if half_clean is not None else set())
    every = None if seeds is None else sorted(set().union(*seeds.values())) if isinstance(seeds, dict) else seeds
    extra = sorted(held - set(every)) if every is not None else []
    if extra:
        raise ValueError(f"--study: the parts hold seed {extra[0]}, which the study's study.yaml does not declare")
    # an architecture is decided once, on all its networks: one stored in part waits, as one not stored
    lacking = {a: why for a in stored if (why := missing_networks(clean, half_clean, a, seeds_of(seeds, a)))}
    awaiting = {a: lacking.get(a, "every network") for a in declared if a not in stored or a in lacking}
    said = [f"{a} is not decided yet: its parts lack {why}" for a, why in awaiting.items()]
    out.mkdir(parents=True, exist_ok=True)
    names = {"claims": "claims", "by_rate": "claims_by_rate", "interaction": "claims_interaction",
             "explains": "sharpness_explains", "slope": "claims_slope", "by_gain": "c1_vs_sparsity"}
    if half:
        names["stability"] = "budget_stability"
    # a stored study keeps its tables as csv only (the run's paper_tables/ has the md and tex)
    outputs = {k: [str(out / f"{v}.csv")] for k, v in names.items()}
    table_jobs.claims_tables(inputs[0], inputs[1], clean, plan, outputs, out / "findings.md", half=half,
                         awaiting=awaiting)
    nets = [study / "mechanism.csv" for study in studies if (study / "mechanism.csv").is_file()]
    if nets:  # the mechanism's per-network tables: their inference again (once every part is stored)
        net = tables.read_tables(nets)
        if awaiting:
            intervention = pd.DataFrame(columns=infer.INTERVENTION_COLUMNS)
            explained = pd.DataFrame(columns=infer.MECHANISM_EXPLAINED_COLUMNS)
        else:
            switches = [study / "mechanism_switch.csv" for study in studies
                        if (study / "mechanism_switch.csv").is_file()]
            con = infer.contrasts(net, tables.read_tables(switches) if switches else None)
            intervention = infer.intervention(con, plan["level"], plan.get("robustness"), plan["interaction"]["margin"])
            explained = infer.mechanism_explained(con, plan["level"])
        tables.write_table(intervention, [out / "intervention.csv"], floatfmt=".3g")
        tables.write_table(explained, [out / "mechanism_explained.csv"], floatfmt=".3g")
        io.atomic_write_text(out / "mechanism_findings.md",
                             findings.mechanism_findings(explained, intervention, net, awaiting))
    piloted = against_pilot(folders, out, pd.read_csv(out / "claims.csv"), declared, seeds)
    return said + [f"claims and findings.md of {', '.join(map(str, studies))} under {plan_name} written to {out}"] + (
        [piloted] if piloted else [])

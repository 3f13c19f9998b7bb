"""Stored studies in parts: the architectures and seeds a study declares, the networks a part
still lacks, and a confirmatory study against its pilot (``flatenn recompute``, in
jobs.studies, decides a stored study's claims from these)."""
from __future__ import annotations

from pathlib import Path


def study_parts(folder: Path) -> list[Path]:
    """A stored study's folders of per-seed tables: itself, or its parts/* (a study run in parts)."""
    parts = sorted(p for p in (folder / "parts").glob("*") if p.is_dir() and not p.name.startswith("."))
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
    from flatenn.claims.between import stored

    docs = {f: yaml.safe_load((f / "study.yaml").read_text()) or {} for f in folders if (f / "study.yaml").is_file()}
    folder = next((f for f, doc in docs.items() if "pilot" in doc), None)
    if folder is None:
        return None
    pilot = confirmation.check_pilot(docs[folder]["pilot"], str(folder / "study.yaml"))
    def endpoints(where: Path, claims_table) -> pd.DataFrame:
        """A study's claims and, where it has them, its between-architecture contrasts."""
        inter = where / "claims_interaction.csv"
        between = (confirmation.between_endpoints(stored(inter)) if inter.is_file()
                   else None)
        return pd.concat([claims_table, between], ignore_index=True) if between is not None else claims_table

    pilots = {}
    for name in dict.fromkeys(pilot["studies"].values()):
        if not (folder.parent / name / "claims.csv").is_file():
            raise FileNotFoundError(f"{folder / 'study.yaml'}: pilot: {folder.parent / name / 'claims.csv'} is missing")
        pilots[name] = endpoints(folder.parent / name, pd.read_csv(folder.parent / name / "claims.csv"))
    power = pd.read_csv(folder / pilot["power"]) if "power" in pilot else None
    n = {a: len(s) for a in archs if (s := seeds_of(seeds, a))}
    rows = confirmation.against_pilot(endpoints(out, claims), pilots, pilot, power, n, archs)
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

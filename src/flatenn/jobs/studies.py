"""The jobs over whole studies (never torch): recompute a stored study, compare a run with a
reference, the budget and radius ladders, the power table and the calibration of a pilot."""
from __future__ import annotations

from pathlib import Path

from flatenn.jobs.inputs import concat, read


def recompute(o, s):
    """A study's claims, findings and mechanism inference from its per-seed tables, without
    training (flatenn.study.recompute)."""
    from flatenn import config, study

    plan = config.load_plan(o["plan"])
    for line in study.recompute([Path(d) for d in o["study"]], Path(o["out"]) if o["out"] else None, plan,
                                o["plan"]):
        print(line)


def compare(o, s):
    from flatenn import compare, tables

    for d in (o["ref"], o["run"]):
        if not (Path(d) / "claims.csv").is_file():
            raise FileNotFoundError(f"--ref/--run: no claims.csv in {d}")
    rows = compare.claims(read(Path(o["ref"]) / "claims.csv"), read(Path(o["run"]) / "claims.csv"))
    files = compare.tables(o["ref"], o["run"])
    if o["out"]:
        tables.write_table(rows, [o["out"]], floatfmt=".3g")
    moved = rows[~rows.verdict_agrees]
    print(compare.summary(rows, files))
    if len(moved):
        print("verdicts that differ:\n" + moved.to_markdown(index=False, floatfmt=".2f"))


def budget(o, s):
    from flatenn import budget, config, tables
    from flatenn.catalog import chance_levels
    from flatenn.config import window_of

    runs = {}
    for key in ("base", "double"):
        folder = Path(o[key])
        for name in ("clean_accuracy", "fault_accuracy_by_seed"):
            if not (folder / f"{name}.csv").is_file():
                raise FileNotFoundError(f"--{key}: {folder / name}.csv is missing")
        runs[key] = {"clean": read(folder / "clean_accuracy.csv"),
                     "seed_means": read(folder / "fault_accuracy_by_seed.csv")}
    plan = config.load_plan(o["plan"])
    table = budget.budget(runs["base"], runs["double"], chance_levels(runs["base"]["clean"].dataset), window_of(plan))
    tables.write_table(table, o["out"], floatfmt=".3g")


def ladder(o, s):
    import re

    from flatenn import budget, config, design_figures, findings, io, tables
    from flatenn.catalog import chance_levels
    from flatenn.config import window_of

    runs = {}
    for folder in map(Path, o["rungs"]):
        m = re.fullmatch(r"x(\d+)", folder.name)
        if not m:
            raise ValueError(f"--rungs: {folder} is not a rung folder named x<multiple of the budget>")
        for name in ("clean_accuracy", "fault_accuracy_by_seed"):
            if not (folder / f"{name}.csv").is_file():
                raise FileNotFoundError(f"--rungs: {folder / name}.csv is missing")
        runs[int(m.group(1))] = {"clean": read(folder / "clean_accuracy.csv"),
                                 "seed_means": read(folder / "fault_accuracy_by_seed.csv")}
    plan = config.load_plan(o["plan"])
    if "convergence" not in plan:
        raise ValueError(f"--plan: {o['plan']} declares no convergence rule")
    first = next(iter(runs.values()))["clean"]
    table = budget.ladder(runs, chance_levels(first.dataset), window_of(plan))
    rule = plan["convergence"]
    conv = budget.convergence(table, rule["clean_points"], rule["gain"], rule.get("two_sided", True))
    tables.write_table(table, o["out"], floatfmt=".3g")
    tables.write_table(conv, o["convergence"], floatfmt=".3g")
    design_figures.budget_ladder(table, o["figure"])
    io.atomic_write_text(o["findings"], findings.ladder_findings(table, conv, rule["clean_points"], rule["gain"],
                                                               rule.get("two_sided", True)))


def _networks(folder: Path, training: str) -> list[dict]:
    """Per model file of ``training`` under a run folder: its identity and training history."""
    from flatenn import io
    from flatenn.io import safe_torch_load

    rows = []
    for path in sorted(folder.glob(f"results/models/*/*/*/{training}/s*.pt")):
        hist = safe_torch_load(path, "model file", keys=("history",))["history"]
        moves = [h["saq_move_steps"] for h in hist if "saq_move_steps" in h]
        rows.append({**io.model_id(path), "val_accuracy": hist[-1]["val_accuracy"],
                     "saq_move_steps": sum(moves) / len(moves) if moves else float("nan")})
    if not rows:
        raise FileNotFoundError(f"{folder}: no {training} model under results/models/")
    return rows


def radius(o, s):
    import re

    import pandas as pd

    from flatenn import config, design_figures, io, radius, tables

    rows = []
    for folder in map(Path, o["rungs"]):
        m = re.fullmatch(r"r(\d+(?:\.\d+)?)", folder.name)
        if not m:
            raise ValueError(f"--rungs: {folder} is not a rung folder named r<radius>")
        rows += [{**r, "rho": float(m.group(1))} for r in _networks(folder, "saq")]
    margin = config.load_plan(o["plan"])["claims"]["C5-clean"]["margin"]
    table = radius.ladder(pd.DataFrame(rows), pd.DataFrame(_networks(Path(o["conventional"]), "conventional")), margin)
    tables.write_table(table, o["out"], floatfmt=".4g")
    design_figures.radius_ladder(table, o["figure"])
    io.atomic_write_text(o["findings"], radius.findings(table, margin))


def power(o, s):
    from flatenn import config, design_figures, power, tables

    plan = config.load_plan(o["plan"])
    if "power" not in plan:
        raise ValueError(f"--plan: {o['plan']} declares no power section (target, sesoi)")
    ns = list(range(4, 17))
    parts = []
    for study in map(Path, o["study"]):
        for name in ("claims.csv", "claims_interaction.csv"):
            if not (study / name).is_file():
                raise FileNotFoundError(f"--study: {study / name} is missing")
        claims, inter = read(study / "claims.csv"), read(study / "claims_interaction.csv")
        levels = None
        if o["as_levels"]:  # the design's AS levels: their rows (and the standard network's), families rescaled
            present = set(o["as_levels"]) & set(claims.a_variant)
            levels, keep = max(len(present), 1), {"standard", *present}
            claims = claims[(claims.role == "primary") & claims.family_size.notna()]
            claims = claims.assign(pilot_family_size=claims.family_size,
                                   family_size=power.design_family(claims, levels))
            claims = claims[claims.a_variant.isin(keep)]
            inter = inter[inter.comparison.str.split("-").str[0].isin(keep)]
        t = power.table(claims, plan, ns)
        parts += [t.assign(study=study.name), power.between(inter, t[t.claim == "C1"], plan, ns, levels)
                  .assign(study=study.name)]
    table = concat(parts)
    tables.write_table(table, o["out"], floatfmt=".3g")
    tables.write_table(power.needed(table, plan["power"]["target"]), o["needed"], floatfmt=".3g")
    tables.write_table(power.summary(table, [5, 8, 10]), o["summary"])
    design_figures.power_curves(table, plan["power"]["target"], o["figure"])


def calibrate(o, s):
    import pandas as pd
    import yaml

    from flatenn import aggregate, calibration, io, tables

    clean = aggregate.clean_accuracy(o["evals"])
    clean = clean[clean.training == "conventional"]
    if clean.seed.nunique() != 1:
        raise ValueError(f"--evals: calibration reads one pilot seed, got seeds {sorted(clean.seed.unique())}")
    trials = aggregate.read_trials(o["trials"])
    if set(trials.variant) != {"standard"}:
        raise ValueError("--trials: calibration reads the campaigns of the standard networks only")
    strength = calibration.strengths(clean, s["alphas"], s["gains"], s["max_clean_cost"])
    rate = calibration.rates(trials, s["kept"], s["chance"])
    table = pd.concat([strength, rate], ignore_index=True)
    tables.write_table(table, o["table"])
    settings = calibration.study_settings(strength, rate, s["threshold"], s["penalty"])
    header = ("# Calibrated on pilot seed %d by `snakemake --configfile <calibration config> calibration`\n"
              "# (flatenn calibrate): paste into the depth study's config.\n" % int(clean.seed.iloc[0]))
    io.atomic_write_text(Path(o["settings_out"]), header + yaml.safe_dump(settings, sort_keys=False))

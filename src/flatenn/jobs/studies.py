"""The jobs over whole studies (never torch): recompute a stored study, compare a run with a
reference, the budget and radius ladders, the power table and the calibration of a pilot."""
from __future__ import annotations

from pathlib import Path

from flatenn.jobs.inputs import read, rungs, run_tables


def recompute(o, s):
    """A study's claims, findings and mechanism inference from its per-seed tables, without
    training (flatenn.study.recompute); ``--extensions``: the files of a run that used extensions,
    loaded first, so that its fault models, architectures and the plan's curvatures are known."""
    from flatenn import config, registry, study

    try:
        registry.load_extensions(o["extensions"])
    except FileNotFoundError:
        raise
    except Exception as e:  # a user's file: its own error, in one line
        raise ValueError(f"--extensions: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
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
    print(compare.in_words(rows, files) + ("\nverdicts that differ:\n" + moved.to_markdown(index=False, floatfmt=".2f")
                                          if len(moved) else ""))


def budget(o, s):
    from flatenn import budget, config, tables
    from flatenn.catalog import chance_levels
    from flatenn.config import window_of

    base, double = run_tables(o["base"], "--base"), run_tables(o["double"], "--double")
    plan = config.load_plan(o["plan"])
    table = budget.budget(base, double, chance_levels(base["clean"].dataset), window_of(plan))
    tables.write_table(table, o["out"], floatfmt=".3g")


def ladder(o, s):
    from flatenn import budget, config, design_figures, findings, io, tables

    runs = {k: run_tables(f, "--rungs") for k, f in rungs(o["rungs"], "x", int, "a rung folder named x<multiple "
                                                                                 "of the budget>").items()}
    plan = config.load_plan(o["plan"])
    if "convergence" not in plan:
        raise ValueError(f"--plan: {o['plan']} declares no convergence rule")
    table, conv = budget.ladder_and_rule(runs, plan)
    tables.write_table(table, o["out"], floatfmt=".3g")
    tables.write_table(conv, o["convergence"], floatfmt=".3g")
    design_figures.budget_ladder(table, o["figure"])
    io.atomic_write_text(o["findings"], findings.ladder_findings(table, conv, **plan["convergence"]))


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
    import pandas as pd

    from flatenn import config, design_figures, io, radius, tables

    saq = [{**r, "rho": rho} for rho, folder in rungs(o["rungs"], "r", float, "a rung folder named r<radius>").items()
           for r in _networks(folder, "saq")]
    margin = config.load_plan(o["plan"])["claims"]["C5-clean"]["margin"]
    table = radius.ladder(pd.DataFrame(saq), pd.DataFrame(_networks(Path(o["conventional"]), "conventional")), margin)
    tables.write_table(table, o["out"], floatfmt=".4g")
    design_figures.radius_ladder(table, o["figure"])
    io.atomic_write_text(o["findings"], radius.findings(table, margin))


def power(o, s):
    from flatenn import config, design_figures, power, tables

    plan = config.load_plan(o["plan"])
    if "power" not in plan:
        raise ValueError(f"--plan: {o['plan']} declares no power section (target, sesoi)")
    for study in map(Path, o["study"]):
        for name in ("claims.csv", "claims_interaction.csv"):
            if not (study / name).is_file():
                raise FileNotFoundError(f"--study: {study / name} is missing")
    table = power.design({Path(d).name: (read(Path(d) / "claims.csv"), read(Path(d) / "claims_interaction.csv"))
                          for d in o["study"]}, plan, o["as_levels"])
    tables.write_table(table, o["out"], floatfmt=".3g")
    tables.write_table(power.needed(table, plan["power"]["target"]), o["needed"], floatfmt=".3g")
    tables.write_table(power.by_family(table, [5, 8, 10]), o["summary"])
    design_figures.power_curves(table, plan["power"]["target"], o["figure"])


def calibrate(o, s):
    import yaml

    from flatenn import aggregate, calibration, io, tables

    table, settings, seed = calibration.pilot(aggregate.clean_accuracy(o["evals"]), aggregate.read_trials(o["trials"]), s)
    tables.write_table(table, o["table"])
    header = ("# Calibrated on pilot seed %d by `snakemake --configfile <calibration config> calibration`\n"
              "# (flatenn calibrate): paste into the depth study's config.\n" % seed)
    io.atomic_write_text(Path(o["settings_out"]), header + yaml.safe_dump(settings, sort_keys=False))

"""The jobs over whole studies (never torch): recompute a stored study, compare a run with a
reference, the budget and radius ladders, the power table and the calibration of a pilot."""
from __future__ import annotations

from pathlib import Path

from flatenn.jobs.inputs import read, rungs, run_tables


def recompute(o, s):
    """A study's claims, findings and mechanism inference from its per-seed tables, without
    training (recompute_study); ``--extensions``: the files of a run that used extensions,
    loaded first, so that its fault models, architectures and the plan's curvatures are known."""
    from flatenn import config, registry

    try:
        registry.load_extensions(o["extensions"])
    except FileNotFoundError:
        raise
    except Exception as e:  # a user's file: its own error, in one line
        raise ValueError(f"--extensions: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    plan = config.load_plan(o["plan"])
    for line in recompute_study([Path(d) for d in o["study"]], Path(o["out"]) if o["out"] else None, plan,
                                o["plan"]):
        print(line)


# What a stored part keeps of a finished run: the per-seed tables recompute reads (required, in the
# order recompute_study takes them), the mechanism's per-network tables and the job seconds (where
# the run wrote them), and what made it.
PER_SEED_TABLES = ("fault_accuracy_by_seed", "sharpness", "clean_accuracy")
PART_OPTIONAL = ("mechanism", "mechanism_layers", "mechanism_switch", "runtime")


def store_part(o, s):
    """A finished run's per-seed tables (``--run``: its working folder) stored as one part of a
    study (``--part``: <study>/parts/<name>, new): copied into a hidden folder beside it and renamed
    when complete, so that an interrupted copy never looks like a part; never overwrites one."""
    import shutil

    run, part = Path(o["run"]), Path(o["part"])
    if part.parent.name != "parts":
        raise ValueError(f"--part: {part} is not <study>/parts/<name>")
    if part.exists():
        raise FileExistsError(f"--part: {part} already exists (a stored part is never overwritten)")
    sources = [run / "paper_tables" / f"{n}.csv" for n in PER_SEED_TABLES]
    sources += [p for n in PART_OPTIONAL if (p := run / "paper_tables" / f"{n}.csv").is_file()]
    sources.append(run / "results" / "provenance.json")
    for src in sources:
        if not src.is_file():
            raise FileNotFoundError(f"--run: {src} is missing (is the run finished?)")
    part.parent.mkdir(parents=True, exist_ok=True)
    tmp = part.parent / f".{part.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)  # what an interrupted copy left
    try:
        tmp.mkdir()
        for src in sources:
            shutil.copyfile(src, tmp / src.name)
        tmp.rename(part)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{part}: {len(sources)} files of {run}; recompute the study: flatenn recompute --study {part.parent.parent} "
          "--plan <its plan>")


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
    from flatenn.claims.between import stored

    plan = config.load_plan(o["plan"])
    if "power" not in plan:
        raise ValueError(f"--plan: {o['plan']} declares no power section (target, sesoi)")
    for study in map(Path, o["study"]):
        for name in ("claims.csv", "claims_interaction.csv"):
            if not (study / name).is_file():
                raise FileNotFoundError(f"--study: {study / name} is missing")
    table = power.design({Path(d).name: (read(Path(d) / "claims.csv"),
                                         stored(Path(d) / "claims_interaction.csv"))
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


def recompute_study(studies: list[Path], out: Path | None, plan: dict, plan_name: str) -> list[str]:
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
    from flatenn.study import against_pilot, declared_study, missing_networks, seeds_of, study_parts

    out = out if out is not None else (studies[0] if len(studies) == 1 else None)
    if out is None:
        raise ValueError("--out: a study in parts needs one folder for its claims")
    folders = list(studies)
    declared, seeds = declared_study(studies)
    studies = [p for d in studies for p in study_parts(d)]
    names = PER_SEED_TABLES
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

"""The jobs that turn result files into tables, claims, findings and the report's provenance
(never torch). Each reads its inputs, calls the library and writes its outputs."""
from __future__ import annotations

from pathlib import Path

from flatenn.jobs.inputs import read


def clean_table(o, s):
    from flatenn import aggregate, tables

    tables.write_table(aggregate.clean_accuracy(o["evals"]), o["table"])


def fault_tables(o, s):
    from flatenn import aggregate, tables
    from flatenn.catalog import NUM_CLASSES

    made = aggregate.fault_tables(aggregate.read_trials(o["trials"]), s["variants"], s["trainings"],
                                  1 / NUM_CLASSES[s["dataset"]], s["level"], s["eval_size"])
    for name, df in made.items():
        tables.write_table(df, o[name])


def fault_summary(o, s):
    from flatenn import aggregate, tables

    tables.write_table(aggregate.fault_summary(read(o["fault_accuracy"]), o["fault"]), o["table"])


def sharpness_tables(o, s):
    from flatenn import aggregate, io, tables

    sharp, curves = aggregate.sharpness(o["sharpness"], s["faults"])
    comps = aggregate.comparisons(s["variants"], s["trainings"])
    tables.write_table(sharp, o["table"])
    tables.write_table(aggregate.paired_sharpness(sharp, comps), o["paired"])
    tables.write_table(aggregate.sharpness_correlation(sharp, read(o["seed_means"]), s["fault"], s["rate"]),
                       o["correlation"])
    io.write_csv(o["landscapes"], curves)


def vulnerability_table(o, s):
    from flatenn import aggregate, tables

    tables.write_table(aggregate.vulnerability(aggregate.read_trials(o["trials"]), s["level"]), o["table"])


def claims(o, s):
    from flatenn import config

    outputs = {k: o[k] for k in ("claims", "by_rate", "interaction", "explains", "slope", "by_gain")}
    claims_tables(o["seed_means"], o["sharpness"], o["clean"], config.read_plan(o["plan"]), outputs,
                         o["findings"])


def provenance(o, s):
    from flatenn import io, provenance

    io.write_json(o["out"], provenance.provenance(dict(s)))


def report_landing(o, s):
    from flatenn import io, provenance

    io.atomic_write_text(o["out"], provenance.report_landing(Path(o["claims"]).parent, o["verdicts"]))


def dose_response(o, s):
    from flatenn import aggregate, tables

    tables.write_table(aggregate.dose_response(read(o["clean"]), read(o["paired_by_seed"]), read(o["paired_sharpness"]),
                                               s["level"]), o["table"])


def headline_table(path: Path, share: float = 1.0) -> str:
    """The README's first table from the declaration at ``path`` (headline.yaml; its studies beside
    it), each study's declared architectures (study.yaml) passed on, so that one not all stored
    reads "not decided yet"."""
    import yaml

    from flatenn import headline
    from flatenn.study import declared_study

    declared = yaml.safe_load(Path(path).read_text())
    root = Path(path).parent
    archs = {name: declared_study([root / name])[0] for name in set(declared.values())}
    return headline.headline(declared, root, share, archs).to_markdown(index=False) + "\n"


def findings(o, s):
    from flatenn import config, findings, io

    share = config.load_plan(o["plan"])["verdict_words"]["fragile_share"]
    table = headline_table(o["headline"], share)
    readme = Path(o["readme"])
    io.atomic_write_text(readme, findings.readme_with_findings(readme.read_text(), table))


def mechanism_tables(o, s):
    import pandas as pd

    from flatenn import aggregate, config, findings, io, tables
    from flatenn.mechanism import infer

    measured = [(io.model_id(f), io.read_json(f)) for f in o["layers"]]
    layers = pd.concat([pd.DataFrame(res["layers"]).assign(**mid) for mid, res in measured], ignore_index=True)
    summaries = pd.DataFrame([{**mid, **res["summary"]} for mid, res in measured])
    made = infer.tables(layers, summaries, read(o["clean"]), read(o["sharpness"]), read(o["seed_means"]),
                        aggregate.read_trials(o["trials"]), read(o["vulnerability"]), config.read_plan(o["plan"]))
    for name, floatfmt in (("networks", ".4f"), ("switch", ".4f"), ("layer_table", ".4f"), ("intervention", ".3g"),
                           ("explained", ".3g")):
        tables.write_table(made[name], o[name], floatfmt=floatfmt)
    io.atomic_write_text(o["findings"], findings.mechanism_findings(made["explained"], made["intervention"],
                                                                    made["networks"]))


def runtime(o, s):
    from flatenn import io, tables

    io.write_csv(o["out"], tables.runtime([f for f in o["benchmarks"] if Path(f).exists()]))


def notebook(o, s):
    from flatenn import provenance

    provenance.notebook(o["source"], o["out"])


def claims_tables(seed_means_csv, sharpness_csv, clean_csv, plan: dict, outputs: dict, findings_md,
                  half: dict | None = None, awaiting: dict | None = None) -> None:
    """The claims job (and `flatenn recompute`): per-seed tables in (a path each, or a list of
    paths of a study's parts), every claims table and findings.md out. ``outputs`` maps claims,
    by_rate, interaction and explains (and ``stability``, with ``half``: the fault and clean tables'
    paths of the same networks trained at half the budget) to their paths. ``awaiting``: the
    study's architectures not completely stored yet, each with the networks it lacks; their rows
    are not decided, and the
    between-architecture family, which includes them, is left undecided (decided once, when every
    part is stored)."""
    from flatenn import budget, claims, io
    from flatenn.aggregate import MODEL_COLS
    from flatenn.catalog import chance_levels
    from flatenn.findings import findings
    from flatenn.tables import read_tables, write_table

    seed_means, sharp, clean = (read_tables(p) for p in (seed_means_csv, sharpness_csv, clean_csv))
    twice = clean.duplicated(MODEL_COLS)
    if twice.any():
        r = clean[twice].iloc[0]
        raise ValueError(f"clean: network {r.arch} {r.variant} {r.training} seed {r.seed} appears in two parts")
    chance = chance_levels(clean.dataset)
    decided = lambda t: t[~t.arch.isin(list(awaiting or {}))]  # noqa: E731 - an architecture waits for all its networks
    seed_means, sharp, clean = decided(seed_means), decided(sharp), decided(clean)
    tables = claims.evaluate(seed_means, sharp, clean, plan, chance)
    if awaiting:
        tables["interaction"] = tables["interaction"].iloc[0:0]
    if half is not None:
        tables["stability"] = budget.budget_stability(
            {"seed_means": seed_means, "clean": clean},
            {k: decided(read_tables(half[k])) for k in ("seed_means", "clean")}, plan, chance)
    for name, paths in outputs.items():
        write_table(tables[name], paths, floatfmt=".3g" if name in ("explains", "interaction") else ".2f")
    io.atomic_write_text(findings_md, findings(tables["claims"], tables["interaction"], tables["explains"],
                                               tables["slope"], tables.get("stability"), plan, awaiting, clean))

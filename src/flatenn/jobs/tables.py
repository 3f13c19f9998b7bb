"""The jobs that turn result files into tables, claims, findings and the report's provenance
(never torch). Each reads its inputs, calls the library and writes its outputs."""
from __future__ import annotations

from pathlib import Path

from flatenn.jobs.inputs import read


def clean_table(o, s):
    from flatenn import aggregate, report

    report.write_table(aggregate.clean_accuracy(o["evals"]), o["table"])


def fault_tables(o, s):
    from flatenn import aggregate, report
    from flatenn.catalog import NUM_CLASSES

    tables = aggregate.fault_tables(aggregate.read_trials(o["trials"]), s["variants"], s["trainings"],
                                    1 / NUM_CLASSES[s["dataset"]], s["level"], s["eval_size"])
    for name, df in tables.items():
        report.write_table(df, o[name])


def fault_summary(o, s):
    from flatenn import aggregate, report

    report.write_table(aggregate.summary(read(o["fault_accuracy"]), o["fault"]), o["table"])


def sharpness_tables(o, s):
    from flatenn import aggregate, io, report

    sharp, curves = aggregate.sharpness(o["sharpness"], s["faults"])
    comps = aggregate.comparisons(s["variants"], s["trainings"])
    report.write_table(sharp, o["table"])
    report.write_table(aggregate.paired_sharpness(sharp, comps), o["paired"])
    report.write_table(aggregate.sharpness_correlation(sharp, read(o["seed_means"]), s["fault"], s["rate"]),
                       o["correlation"])
    io.write_csv(o["landscapes"], curves)


def vulnerability_table(o, s):
    from flatenn import aggregate, report

    report.write_table(aggregate.vulnerability(aggregate.read_trials(o["trials"]), s["level"]), o["table"])


def claims(o, s):
    from flatenn import config, report

    outputs = {k: o[k] for k in ("claims", "by_rate", "interaction", "explains", "slope", "by_gain")}
    report.claims_tables(o["seed_means"], o["sharpness"], o["clean"], config.read_plan(o["plan"]), outputs,
                         o["findings"])


def provenance(o, s):
    from flatenn import io, report

    io.write_json(o["out"], report.provenance(dict(s)))


def report_landing(o, s):
    from flatenn import io, report

    io.atomic_write_text(o["out"], report.report_landing(Path(o["claims"]).parent, o["verdicts"]))


def dose_response(o, s):
    from flatenn import aggregate, report

    report.write_table(aggregate.dose_response(read(o["clean"]), read(o["paired_by_seed"]), read(o["paired_sharpness"]),
                                               s["level"]), o["table"])


def findings(o, s):
    from flatenn import io, report

    from flatenn import config, headline

    import yaml

    declared = yaml.safe_load(Path(o["headline"]).read_text())
    share = config.load_plan(o["plan"])["verdict_words"]["fragile_share"]
    table = headline.headline(declared, Path(o["headline"]).parent, share).to_markdown(index=False) + "\n"
    readme = Path(o["readme"])
    io.atomic_write_text(readme, report.readme_with_findings(readme.read_text(), table))


def mechanism_tables(o, s):
    import pandas as pd

    from flatenn import aggregate, config, io, report
    from flatenn.mechanism import infer
    from flatenn.catalog import NUM_CLASSES

    layers, summaries = [], []
    for f in o["layers"]:
        mid, res = io.model_id(f), io.read_json(f)
        layers.append(pd.DataFrame(res["layers"]).assign(**mid))
        summaries.append({**mid, **res["summary"]})
    layers = pd.concat(layers, ignore_index=True)
    layers = layers[aggregate.MODEL_COLS + [c for c in layers.columns if c not in aggregate.MODEL_COLS]]
    clean = read(o["clean"])
    plan = config.read_plan(o["plan"])
    chance = {ds: 1 / NUM_CLASSES[ds] for ds in set(clean.dataset)}
    trials = aggregate.read_trials(o["trials"])
    seed_means = read(o["seed_means"])
    net = infer.networks(pd.DataFrame(summaries), clean, read(o["sharpness"]), seed_means, trials, chance,
                             (plan["window"]["low"], plan["window"]["high"]))
    switch = infer.switch_table(pd.DataFrame(summaries), trials, seed_means, chance)
    con = infer.contrasts(net, switch)
    report.write_table(net, o["networks"])
    report.write_table(switch, o["switch"])
    report.write_table(infer.layer_rows(layers, read(o["vulnerability"])), o["layer_table"])
    intervention = infer.intervention(con, plan["level"], plan.get("robustness"), plan["interaction"]["margin"])
    explained = infer.explained(con, plan["level"])
    report.write_table(intervention, o["intervention"], floatfmt=".3g")
    report.write_table(explained, o["explained"], floatfmt=".3g")
    io.atomic_write_text(o["findings"], report.mechanism_findings(explained, intervention, net))


def runtime(o, s):
    from flatenn import io, report

    io.write_csv(o["out"], report.runtime([f for f in o["benchmarks"] if Path(f).exists()]))


def notebook(o, s):
    from flatenn import report

    report.notebook(o["source"], o["out"])

"""``flatenn <subcommand>``: maps arguments to package functions, one subcommand per rule.

Each command gets its declared options as a dict and its settings; the work is done in the
package (data, train, campaign, sharpness, aggregate, claims, figures, report).

Per-model jobs read their config slice from ``--settings`` (JSON, as the workflow passes
it: ``config.job_settings``) and the model's identity from its path
(``.../<dataset>/<arch>/<variant>/<training>/s<seed>.<ext>``). Every error a user can cause
ends in one line on stderr and exit status 2; outputs are written atomically.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from flatenn import numerics

try:  # first, before torch or numpy start (flatenn.numerics)
    numerics.apply()
except ValueError as e:
    sys.exit(f"flatenn: error: {e}")

from flatenn.config import ConfigError  # noqa: E402
from flatenn.io import DataError  # noqa: E402

log = logging.getLogger("flatenn")


def _dataset(path):
    from flatenn import data

    return data.read(path)


def _device(settings):
    from flatenn.evaluation import device

    return device(settings.get("device", "cpu"))


def cmd_check_config(o, s):
    """The config against its schema, then every configured architecture built for the dataset's
    images and deployed (flatenn.deployed.check_architecture): an architecture the integer network
    cannot compute fails here, in seconds, naming the layer, not in its campaign after training."""
    from flatenn import config, deployed

    cfg = config.load(o["config"])
    exact = deployed.check_deployable(cfg["archs"], cfg["dataset"]["name"], cfg["quant"])
    sums = ", ".join(f"{a} {'exact' if e else 'not provably exact (a wide layer or a global mean)'}" for a, e in exact.items())
    print(f"{o['config']}: valid; {', '.join(cfg['archs'])} deploy as trained; integer sums in float32: {sums}")


def cmd_prepare_data(o, s):
    from flatenn import data

    d = s["dataset"]
    ds = data.load(d["name"], d["root"], val_size=d["val_size"], seed=d["split_seed"],
                   train_subset=d["train_subset"], test_subset=d["test_subset"])
    data.save(ds, o["out"])
    log.info("%s: train %d, val %d, test %d images of shape %s", ds.name, len(ds.train), len(ds.val),
             len(ds.test), ds.shape)


def cmd_train(o, s):
    from flatenn import io, models, train

    mid = io.model_id(o["out"])
    ds = _dataset(o["data"])
    model, result = train.fit(s, ds, arch=mid["arch"], seed=mid["seed"],
                              checkpoint=Path(o["checkpoint"]) if o["checkpoint"] else None, dev=_device(s))
    models.save(model, o["out"], arch=mid["arch"], in_shape=ds.shape, num_classes=ds.num_classes,
                qcfg=s["quant"], variant=s["variant"], extra={"history": result["history"]})


def cmd_evaluate(o, s):
    from flatenn import evaluation, io, models, sparsity

    ds, dev = _dataset(o["data"]), _device(s)
    model, meta = models.load(o["model"], dev)
    test = evaluation.batches(ds.test.x, ds.test.y, s["evaluate"]["batch_size"], dev)
    acc, sp = evaluation.accuracy(model, test), sparsity.measure(model, test)
    hist = meta.get("history", [])
    io.write_json(o["out"], {"accuracy": acc, "activation_sparsity": sp["overall"], "sparsity_per_layer": sp["per_layer"],
                          "train_images_per_s": sum(h["images_per_s"] for h in hist) / max(1, len(hist))})
    log.info("test accuracy %.4f, activation sparsity %.4f", acc, sp["overall"])


def _campaign(o, s, points, trials):
    import pandas as pd
    import torch

    from flatenn import campaign, io, models
    from flatenn.quant import export_memory_image

    mid = io.model_id(o["model"])
    ds, dev = _dataset(o["data"]), _device(s)
    model, meta = models.load(o["model"], dev)
    image = {name: {k: v.cpu() if torch.is_tensor(v) else v for k, v in e.items()}  # faults draw on the CPU
             for name, e in export_memory_image(model).items()}
    evset = campaign.evaluation_set_of(ds, s["eval_size"], s["seed"], mid["seed"], dev)
    rows = campaign.run(model, image, evset, points(image), trials=trials, mode=s["mode"], base_seed=s["seed"],
                        arch=meta["arch"], seed=mid["seed"])
    df = pd.DataFrame(rows)
    for i, (k, v) in enumerate(mid.items()):
        df.insert(i, k, v)
    return df


def cmd_campaign(o, s):
    """Every fault type of one model in one job (one process start, one model load, one run);
    one CSV per fault type."""
    from flatenn import io

    if len(o["fault"]) != len(o["out"]):
        raise ValueError(f"--out: {len(o['out'])} files for {len(o['fault'])} fault types")
    for f in o["fault"]:
        if f not in s["rates"]:
            raise ValueError(f"--settings: no rates for fault type {f!r}")
    df = _campaign(o, s, lambda image: [{"fault": f, "rate": r} for f in o["fault"] for r in s["rates"][f]],
                   s["trials"])
    for f, out in zip(o["fault"], o["out"]):
        io.write_csv(out, df[df.fault == f])


def cmd_vulnerability(o, s):
    from flatenn import campaign, io

    df = _campaign(o, s, lambda image: campaign.vulnerability_points(image, s["fault"], s["layer_rate"],
                                                                     s["bit_rate"]), s["trials"])
    df["sweep"] = ["layer" if isinstance(layer, str) else "bit" for layer in df.get("layer", [None] * len(df))]
    io.write_csv(o["out"], df)


def cmd_mechanism(o, s):
    """The network's fault-relevant structure on its campaign images (flatenn.mechanism), and two
    interventions at the campaign's maps: faults moved onto weights whose input is active (where
    some input is dead), and the sparsity switch: the network evaluated with the inference
    thresholds of ``switch_thresholds`` (weights unchanged), its activation sparsity measured."""
    import pandas as pd
    import torch

    from flatenn import campaign, evaluation, io, mechanism, models, sparsity
    from flatenn.quant import export_memory_image

    mid = io.model_id(o["model"])
    ds = _dataset(o["data"])
    model, meta = models.load(o["model"])
    image = {name: {k: v.cpu() if torch.is_tensor(v) else v for k, v in e.items()}
             for name, e in export_memory_image(model).items()}
    x, y = campaign.evaluation_set_of(ds, s["eval_size"], s["seed"], mid["seed"])
    activity = mechanism.input_activity(model, x)
    layers = mechanism.layer_table(image, activity, list(s["rates"]))
    summary = mechanism.summary(layers)
    run = dict(image=image, images=(x, y), trials=s["trials"], mode=s["mode"], base_seed=s["seed"],
               arch=meta["arch"], seed=mid["seed"])
    frames = []
    if summary["dead_input_share"] > 0:  # elsewhere faults on live weights are faults anywhere
        points = [{"fault": f, "rate": r, "inputs": "live"} for f, r in s["rates"].items()]
        frames.append(pd.DataFrame(campaign.run(model, points=points, live=mechanism.live_weights(image, activity),
                                                **run)))
    trained = [a.threshold for a in sparsity.act_layers(model)]
    own = max(trained, default=0.0)
    switch = [{"threshold": own, "own": True}] + [{"threshold": t, "own": False} for t in s["switch_thresholds"]]
    points = [{"fault": f, "rate": r} for f, rate in s["rates"].items() for r in (0.0, rate)]  # the campaign's maps
    try:
        for entry in switch:
            sparsity.set_threshold(model, entry["threshold"])
            entry["activation_sparsity"] = sparsity.measure(model, evaluation.batches(x, y, 256))["overall"]
            if not entry["own"]:
                frames.append(pd.DataFrame(campaign.run(model, points=points, **run)).assign(
                    inputs="all", threshold=entry["threshold"]))
    finally:
        for a, t in zip(sparsity.act_layers(model), trained):
            a.threshold = t
    io.write_json(o["out"], {"layers": layers.to_dict(orient="records"), "summary": {**summary, "switch": switch}})
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["fault", "rate", "inputs", "trial", "accuracy", "threshold"])
    for i, (k, v) in enumerate(mid.items()):
        df.insert(i, k, v)
    io.write_csv(o["trials"], df)
    log.info("input density %.3f, dead inputs %.3f of weights; activation sparsity %s", summary["input_density"],
             summary["dead_input_share"], ", ".join(f"{e['activation_sparsity']:.3f} at threshold {e['threshold']:g}"
                                                    for e in switch))


def cmd_sharpness(o, s):
    from flatenn import io, models, sharpness

    model, _ = models.load(o["model"])
    x, y = sharpness.training_subset(_dataset(o["data"]), s["subset"], s["seed"])
    result = sharpness.measure(model, x, y, s, seed=s["seed"])
    io.write_json(o["out"], result)
    log.info("top eig %.4g (normalized %.4g), trace %.4g (normalized %.4g), eps %.4g, fault %.4g",
             result["hessian_top_eig"], result["hessian_top_eig_normalized"], result["hessian_trace"],
             result["hessian_trace_normalized"], result["eps_sharpness"], result["fault_sharpness"])


def _read(path):
    import pandas as pd

    return pd.read_csv(path)


def cmd_clean_table(o, s):
    from flatenn import aggregate, report

    report.write_table(aggregate.clean_accuracy(o["evals"]), o["table"])


def cmd_fault_tables(o, s):
    from flatenn import aggregate, report
    from flatenn.catalog import NUM_CLASSES

    tables = aggregate.fault_tables(aggregate.read_trials(o["trials"]), s["variants"], s["trainings"],
                                    1 / NUM_CLASSES[s["dataset"]], s["level"], s["eval_size"])
    for name, df in tables.items():
        report.write_table(df, o[name])


def cmd_fault_summary(o, s):
    from flatenn import aggregate, report

    report.write_table(aggregate.summary(_read(o["fault_accuracy"]), o["fault"]), o["table"])


def cmd_sharpness_tables(o, s):
    from flatenn import aggregate, io, report

    sharp, curves = aggregate.sharpness(o["sharpness"], s["faults"])
    comps = aggregate.comparisons(s["variants"], s["trainings"])
    report.write_table(sharp, o["table"])
    report.write_table(aggregate.paired_sharpness(sharp, comps), o["paired"])
    report.write_table(aggregate.sharpness_correlation(sharp, _read(o["seed_means"]), s["fault"], s["rate"]),
                       o["correlation"])
    io.write_csv(o["landscapes"], curves)


def cmd_vulnerability_table(o, s):
    from flatenn import aggregate, report

    report.write_table(aggregate.vulnerability(aggregate.read_trials(o["trials"]), s["level"]), o["table"])


def cmd_claims(o, s):
    from flatenn import config, report

    outputs = {k: o[k] for k in ("claims", "by_rate", "interaction", "explains", "slope", "by_gain")}
    report.claims_tables(o["seed_means"], o["sharpness"], o["clean"], config.read_plan(o["plan"]), outputs,
                         o["findings"])


def cmd_recompute(o, s):
    """A study's claims, findings and mechanism inference from its per-seed tables, without
    training (flatenn.study.recompute)."""
    from flatenn import config, study

    plan = config.load_plan(o["plan"])
    for line in study.recompute([Path(d) for d in o["study"]], Path(o["out"]) if o["out"] else None, plan,
                                o["plan"]):
        print(line)


def cmd_compare(o, s):
    from flatenn import compare, report

    for d in (o["ref"], o["run"]):
        if not (Path(d) / "claims.csv").is_file():
            raise FileNotFoundError(f"--ref/--run: no claims.csv in {d}")
    rows = compare.claims(_read(Path(o["ref"]) / "claims.csv"), _read(Path(o["run"]) / "claims.csv"))
    tables = compare.tables(o["ref"], o["run"])
    if o["out"]:
        report.write_table(rows, [o["out"]], floatfmt=".3g")
    moved = rows[~rows.verdict_agrees]
    print(compare.summary(rows, tables))
    if len(moved):
        print("verdicts that differ:\n" + moved.to_markdown(index=False, floatfmt=".2f"))


def cmd_budget(o, s):
    from flatenn import compare, config, report
    from flatenn.catalog import NUM_CLASSES

    runs = {}
    for key in ("base", "double"):
        folder = Path(o[key])
        for name in ("clean_accuracy", "fault_accuracy_by_seed"):
            if not (folder / f"{name}.csv").is_file():
                raise FileNotFoundError(f"--{key}: {folder / name}.csv is missing")
        runs[key] = {"clean": _read(folder / "clean_accuracy.csv"),
                     "seed_means": _read(folder / "fault_accuracy_by_seed.csv")}
    plan = config.load_plan(o["plan"])
    chance = {ds: 1 / NUM_CLASSES[ds] for ds in set(runs["base"]["clean"].dataset)}
    table = compare.budget(runs["base"], runs["double"], chance, (plan["window"]["low"], plan["window"]["high"]))
    report.write_table(table, o["out"], floatfmt=".3g")


def cmd_ladder(o, s):
    import re

    from flatenn import compare, config, figures, io, report
    from flatenn.catalog import NUM_CLASSES

    runs = {}
    for folder in map(Path, o["rungs"]):
        m = re.fullmatch(r"x(\d+)", folder.name)
        if not m:
            raise ValueError(f"--rungs: {folder} is not a rung folder named x<multiple of the budget>")
        for name in ("clean_accuracy", "fault_accuracy_by_seed"):
            if not (folder / f"{name}.csv").is_file():
                raise FileNotFoundError(f"--rungs: {folder / name}.csv is missing")
        runs[int(m.group(1))] = {"clean": _read(folder / "clean_accuracy.csv"),
                                 "seed_means": _read(folder / "fault_accuracy_by_seed.csv")}
    plan = config.load_plan(o["plan"])
    if "convergence" not in plan:
        raise ValueError(f"--plan: {o['plan']} declares no convergence rule")
    first = next(iter(runs.values()))["clean"]
    chance = {ds: 1 / NUM_CLASSES[ds] for ds in set(first.dataset)}
    table = compare.ladder(runs, chance, (plan["window"]["low"], plan["window"]["high"]))
    rule = plan["convergence"]
    conv = compare.convergence(table, rule["clean_points"], rule["gain"], rule.get("two_sided", True))
    report.write_table(table, o["out"], floatfmt=".3g")
    report.write_table(conv, o["convergence"], floatfmt=".3g")
    figures.budget_ladder(table, o["figure"])
    io.atomic_write_text(o["findings"], report.ladder_findings(table, conv, rule["clean_points"], rule["gain"],
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


def cmd_radius(o, s):
    import re

    import pandas as pd

    from flatenn import config, figures, io, radius, report

    rows = []
    for folder in map(Path, o["rungs"]):
        m = re.fullmatch(r"r(\d+(?:\.\d+)?)", folder.name)
        if not m:
            raise ValueError(f"--rungs: {folder} is not a rung folder named r<radius>")
        rows += [{**r, "rho": float(m.group(1))} for r in _networks(folder, "saq")]
    margin = config.load_plan(o["plan"])["claims"]["C5-clean"]["margin"]
    table = radius.ladder(pd.DataFrame(rows), pd.DataFrame(_networks(Path(o["conventional"]), "conventional")), margin)
    report.write_table(table, o["out"], floatfmt=".4g")
    figures.radius_ladder(table, o["figure"])
    io.atomic_write_text(o["findings"], radius.findings(table, margin))


def cmd_power(o, s):
    from flatenn import config, figures, power, report

    plan = config.load_plan(o["plan"])
    if "power" not in plan:
        raise ValueError(f"--plan: {o['plan']} declares no power section (target, sesoi)")
    ns = list(range(4, 17))
    parts = []
    for study in map(Path, o["study"]):
        for name in ("claims.csv", "claims_interaction.csv"):
            if not (study / name).is_file():
                raise FileNotFoundError(f"--study: {study / name} is missing")
        claims, inter = _read(study / "claims.csv"), _read(study / "claims_interaction.csv")
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
    table = pd_concat(parts)
    report.write_table(table, o["out"], floatfmt=".3g")
    report.write_table(power.needed(table, plan["power"]["target"]), o["needed"], floatfmt=".3g")
    report.write_table(power.summary(table, [5, 8, 10]), o["summary"])
    figures.power_curves(table, plan["power"]["target"], o["figure"])


def pd_concat(frames):
    import pandas as pd

    return pd.concat([f for f in frames if len(f)], ignore_index=True)


def cmd_provenance(o, s):
    from flatenn import io, report

    io.write_json(o["out"], report.provenance(dict(s)))


def cmd_report_landing(o, s):
    from flatenn import io, report

    io.atomic_write_text(o["out"], report.report_landing(Path(o["claims"]).parent, o["verdicts"]))


def cmd_dose_response(o, s):
    from flatenn import aggregate, report

    report.write_table(aggregate.dose_response(_read(o["clean"]), _read(o["paired_by_seed"]), _read(o["paired_sharpness"]),
                                               s["level"]), o["table"])


def cmd_figure_dose_response(o, s):
    from flatenn import figures

    figures.dose_response(_read(o["dose_response"]), o["out"])


def cmd_findings(o, s):
    from flatenn import io, report

    from flatenn import config, headline

    import yaml

    declared = yaml.safe_load(Path(o["headline"]).read_text())
    share = config.load_plan(o["plan"])["verdict_words"]["fragile_share"]
    table = headline.headline(declared, Path(o["headline"]).parent, share).to_markdown(index=False) + "\n"
    readme = Path(o["readme"])
    io.atomic_write_text(readme, report.readme_with_findings(readme.read_text(), table))


def cmd_figure_c1_vs_sparsity(o, s):
    from flatenn import figures

    figures.c1_vs_sparsity(_read(o["by_gain"]), _read(o["slope"]), o["out"])


def cmd_figure_mechanism(o, s):
    from flatenn import figures

    figures.mechanism(_read(o["explained"]), _read(o["intervention"]), o["out"])


def cmd_figure_verdicts(o, s):
    from flatenn import figures

    figures.verdicts(_read(o["claims"]), o["out"])


def cmd_figure_claims_by_depth(o, s):
    from flatenn import figures

    figures.claims_by_depth(_read(o["claims"]), o["out"])


def cmd_figure_faults(o, s):
    from flatenn import figures

    figures.fault_accuracy(_read(o["fault_accuracy"]), s["level"], o["out"])


def cmd_figure_vulnerability(o, s):
    from flatenn import figures

    figures.vulnerability(_read(o["vulnerability"]), o["out"])


def cmd_figure_landscapes(o, s):
    from flatenn import figures
    from flatenn.catalog import landscape_2d_figure

    curves, folder = _read(o["landscapes"]), Path(o["figures"])
    figures.landscape_1d(curves, [folder / f"landscape_1d.{ext}" for ext in ("pdf", "png")])
    for (arch, v, t), _ in curves.groupby(["arch", "variant", "training"], sort=False):
        stem = landscape_2d_figure(arch, v, t)
        figures.landscape_2d(curves, arch, v, t, [folder / f"{stem}.{ext}" for ext in ("pdf", "png")])


def cmd_figure_sharpness(o, s):
    from flatenn import figures

    figures.sharpness_vs_fault_accuracy(_read(o["sharpness"]), _read(o["seed_means"]), _read(o["correlation"]),
                                        o["out"])


def cmd_mechanism_tables(o, s):
    import pandas as pd

    from flatenn import aggregate, config, io, mechanism, report
    from flatenn.catalog import NUM_CLASSES

    layers, summaries = [], []
    for f in o["layers"]:
        mid, res = io.model_id(f), io.read_json(f)
        layers.append(pd.DataFrame(res["layers"]).assign(**mid))
        summaries.append({**mid, **res["summary"]})
    layers = pd.concat(layers, ignore_index=True)
    layers = layers[mechanism.MODEL + [c for c in layers.columns if c not in mechanism.MODEL]]
    clean = _read(o["clean"])
    plan = config.read_plan(o["plan"])
    chance = {ds: 1 / NUM_CLASSES[ds] for ds in set(clean.dataset)}
    trials = aggregate.read_trials(o["trials"])
    seed_means = _read(o["seed_means"])
    net = mechanism.networks(pd.DataFrame(summaries), clean, _read(o["sharpness"]), seed_means, trials, chance,
                             (plan["window"]["low"], plan["window"]["high"]))
    switch = mechanism.switch_table(pd.DataFrame(summaries), trials, seed_means, chance)
    con = mechanism.contrasts(net, switch)
    report.write_table(net, o["networks"])
    report.write_table(switch, o["switch"])
    report.write_table(mechanism.layer_rows(layers, _read(o["vulnerability"])), o["layer_table"])
    intervention = mechanism.intervention(con, plan["level"], plan.get("robustness"), plan["interaction"]["margin"])
    explained = mechanism.explained(con, plan["level"])
    report.write_table(intervention, o["intervention"], floatfmt=".3g")
    report.write_table(explained, o["explained"], floatfmt=".3g")
    io.atomic_write_text(o["findings"], report.mechanism_findings(explained, intervention, net))


def cmd_calibrate(o, s):
    import pandas as pd
    import yaml

    from flatenn import aggregate, calibration, io, report

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
    report.write_table(table, o["table"])
    settings = calibration.study_settings(strength, rate, s["threshold"], s["penalty"])
    header = ("# Calibrated on pilot seed %d by `snakemake --configfile <calibration config> calibration`\n"
              "# (flatenn calibrate): paste into the depth study's config.\n" % int(clean.seed.iloc[0]))
    io.atomic_write_text(Path(o["settings_out"]), header + yaml.safe_dump(settings, sort_keys=False))


def cmd_runtime(o, s):
    from flatenn import io, report

    io.write_csv(o["out"], report.runtime([f for f in o["benchmarks"] if Path(f).exists()]))


def cmd_notebook(o, s):
    from flatenn import report

    report.notebook(o["source"], o["out"])


COMMANDS = {
    # name: (function, takes --settings, {option: nargs})
    "check-config": (cmd_check_config, False, {"config": None}),
    "prepare-data": (cmd_prepare_data, True, {"out": None}),
    "train": (cmd_train, True, {"data": None, "out": None, "checkpoint": "?"}),
    "evaluate": (cmd_evaluate, True, {"data": None, "model": None, "out": None}),
    "campaign": (cmd_campaign, True, {"data": None, "model": None, "fault": "+", "out": "+"}),
    "vulnerability": (cmd_vulnerability, True, {"data": None, "model": None, "out": None}),
    "sharpness": (cmd_sharpness, True, {"data": None, "model": None, "out": None}),
    "mechanism": (cmd_mechanism, True, {"data": None, "model": None, "out": None, "trials": None}),
    "clean-table": (cmd_clean_table, False, {"evals": "+", "table": "+"}),
    "fault-tables": (cmd_fault_tables, True, {
        "trials": "+", "seed-means": "+", "fault-accuracy": "+", "paired-by-seed": "+", "paired-ci": "+",
        "variance": "+", "saq-gain": "+", "as-saq-vs-standard": "+"}),
    "fault-summary": (cmd_fault_summary, False, {"fault": None, "fault-accuracy": None, "table": "+"}),
    "sharpness-tables": (cmd_sharpness_tables, True, {
        "sharpness": "+", "seed-means": None, "table": "+", "paired": "+", "correlation": "+", "landscapes": None}),
    "vulnerability-table": (cmd_vulnerability_table, True, {"trials": "+", "table": "+"}),
    "claims": (cmd_claims, False, {"seed-means": None, "sharpness": None, "clean": None, "plan": None,
                                   "claims": "+", "by-rate": "+", "interaction": "+", "explains": "+", "slope": "+",
                                   "by-gain": "+", "findings": None}),
    "dose-response": (cmd_dose_response, True, {"clean": None, "paired-by-seed": None, "paired-sharpness": None,
                                                "table": "+"}),
    "figure-dose-response": (cmd_figure_dose_response, False, {"dose-response": None, "out": "+"}),
    "figure-claims-by-depth": (cmd_figure_claims_by_depth, False, {"claims": None, "out": "+"}),
    "figure-c1-vs-sparsity": (cmd_figure_c1_vs_sparsity, False, {"by-gain": None, "slope": None, "out": "+"}),
    "figure-mechanism": (cmd_figure_mechanism, False, {"explained": None, "intervention": None, "out": "+"}),
    "figure-verdicts": (cmd_figure_verdicts, False, {"claims": None, "out": "+"}),
    "findings": (cmd_findings, False, {"headline": None, "plan": None, "readme": None}),
    "figure-faults": (cmd_figure_faults, True, {"fault-accuracy": None, "out": "+"}),
    "figure-vulnerability": (cmd_figure_vulnerability, False, {"vulnerability": None, "out": "+"}),
    "figure-landscapes": (cmd_figure_landscapes, False, {"landscapes": None, "figures": None}),
    "figure-sharpness": (cmd_figure_sharpness, False, {"sharpness": None, "seed-means": None, "correlation": None,
                                                       "out": "+"}),
    "mechanism-tables": (cmd_mechanism_tables, False, {
        "layers": "+", "trials": "+", "clean": None, "sharpness": None, "seed-means": None, "vulnerability": None,
        "plan": None, "networks": "+", "switch": "+", "layer-table": "+", "intervention": "+", "explained": "+",
        "findings": None}),
    "calibrate": (cmd_calibrate, True, {"evals": "+", "trials": "+", "table": "+", "settings-out": None}),
    "runtime": (cmd_runtime, False, {"benchmarks": "*", "out": None}),
    "budget": (cmd_budget, False, {"base": None, "double": None, "plan": None, "out": "+"}),
    "provenance": (cmd_provenance, True, {"out": None}),
    "report-landing": (cmd_report_landing, False, {"claims": None, "verdicts": None, "out": None}),
    "ladder": (cmd_ladder, False, {"rungs": "+", "plan": None, "out": "+", "convergence": "+", "figure": "+",
                                    "findings": None}),
    "power": (cmd_power, False, {"study": "+", "plan": None, "as-levels": "*", "out": "+", "needed": "+",
                                  "summary": "+", "figure": "+"}),
    "radius": (cmd_radius, False, {"rungs": "+", "conventional": None, "plan": None, "out": "+", "figure": "+",
                                    "findings": None}),
    "compare": (cmd_compare, False, {"ref": None, "run": None, "out": "?"}),
    "recompute": (cmd_recompute, False, {"study": "+", "plan": None, "out": "?"}),
    "notebook": (cmd_notebook, False, {"source": None, "out": None}),
}


# The commands that load data or models (the others read tables and never import torch).
MODEL_COMMANDS = {"prepare-data", "train", "evaluate", "campaign", "vulnerability", "sharpness", "mechanism"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="flatenn", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, (func, takes_settings, opts) in COMMANDS.items():
        s = sub.add_parser(name)
        if takes_settings:
            s.add_argument("--settings", required=True, help="the job's config slice, as JSON")
        s.add_argument("--log", default=None, help="log file (default: stderr)")
        s.add_argument("--threads", type=int, default=1)
        for opt, nargs in opts.items():
            s.add_argument(f"--{opt}", nargs=nargs, required=nargs != "?" and nargs != "*",
                           default=[] if nargs == "*" else None)
    return p


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    try:
        from flatenn.config import parse_settings

        if a.cmd in MODEL_COMMANDS:  # tables and figures skip torch's import (2 s a job)
            import torch

            torch.set_num_threads(a.threads)
        handlers = [logging.FileHandler(a.log)] if a.log else [logging.StreamHandler()]
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", handlers=handlers,
                            force=True)
        if a.cmd in MODEL_COMMANDS and a.log:  # stderr stays for the one-line errors
            log.info("%s; torch CPU capability %s", numerics.describe(), torch.backends.cpu.get_cpu_capability())
        from flatenn.registry import load_extensions

        load_extensions()  # the workflow's extension files ($FLATENN_EXTENSIONS): their records
        func, takes_settings, opts = COMMANDS[a.cmd]
        settings = parse_settings(a.settings) if takes_settings else {}
        func({o.replace("-", "_"): getattr(a, o.replace("-", "_")) for o in opts}, settings)
    except (ConfigError, DataError, ValueError, FileNotFoundError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"flatenn {a.cmd}: error: {msg}", file=sys.stderr)
        if a.log:
            log.exception("%s", msg)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

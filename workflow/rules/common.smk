import shlex
import sys
from pathlib import Path

from snakemake.io import get_wildcard_names, strip_wildcard_constraints

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from flatenn.catalog import landscape_2d_figure  # noqa: E402
from flatenn.config import (
    ConfigError,
    job_settings,
    resolve,
    settings_arg,
    validate,
)  # noqa: E402

# A config file named with --configfile is a whole experiment: it replaces the default
# instead of being merged into it (a smaller config must not inherit variants or rates it
# did not name); --config key=value overrides one key of whichever is in force. The config
# is validated once, with the schema's defaults filled in; a bad one stops the run at once
# with one line that names the key.
try:
    _resolved = resolve(
        Path(workflow.basedir) / "config" / "default.yaml",
        workflow.config_settings.configfiles,
        workflow.config_settings.config,
    )
    config.clear()
    config.update(validate(_resolved, base=workflow.basedir))
except ConfigError as e:
    sys.exit(f"config error: {e}")

# Jobs call the package's own `flatenn` command: the one beside the Python that runs Snakemake.
# Every job takes the config's CPU numerics (flatenn.numerics; the job's settings carry it too).
shell.prefix(
    f'set -euo pipefail; export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"; '
    f"export FLATENN_NUMERICS={config['numerics']}; "
)
REPO = Path(workflow.basedir)  # repository files (notebooks) when run with -d elsewhere
PLAN = str(REPO / config["claims"]["plan"])  # the analysis plan: an input of the claims

DATASET = config["dataset"]["name"]
ARCHS = config["archs"]
VARIANTS = list(config["variants"])
TRAININGS = config["trainings"]
SEEDS = config["seeds"]
FAULTS = config["faults"]["types"]
MODEL = "{dataset}/{arch}/{variant}/{training}/s{seed}"


wildcard_constraints:
    dataset="[a-z0-9_]+",
    arch="[a-z0-9_]+",
    variant="[A-Za-z0-9_]+",
    training="conventional|saq",
    seed=r"\d+",


def settings(rule):
    """The config slice one job of ``rule`` reads, as a param: it is the job's rerun trigger."""
    return lambda wc: settings_arg(job_settings(config, rule, **dict(wc.items())))


def table_settings(*keys):
    """The config keys an aggregation job reads, as a param."""
    return settings_arg({k: TABLE_SETTINGS[k] for k in keys})


TABLE_SETTINGS = {
    "level": config["claims"]["level"],
    "variants": VARIANTS,
    "trainings": TRAININGS,
    "faults": FAULTS,
    "dataset": DATASET,
    "eval_size": config["faults"]["eval_size"],
    "fault": config["sharpness"]["correlation_fault"],
    "rate": config["sharpness"]["correlation_rate"],
}


def models(pattern, seeds=None, **extra):
    """Expand a per-model path pattern over every model of the config."""
    return expand(
        pattern,
        dataset=DATASET,
        arch=ARCHS,
        variant=VARIANTS,
        training=TRAININGS,
        seed=SEEDS if seeds is None else seeds,
        **extra,
    )


def fig(name, caption=None, category="Figures", **labels):
    """A figure as vector PDF and PNG; with a caption, the PNG goes into the report."""
    png = f"figures/{name}.png"
    if caption:
        png = report(
            png,
            caption=str(REPO / "workflow/report" / caption),
            category=category,
            labels={"figure": name, **labels},
        )
    return [f"figures/{name}.pdf", png]


def table(name, caption=None, category="Tables"):
    """A table as CSV, Markdown and LaTeX; with a caption, the CSV goes into the report."""
    csv = f"paper_tables/{name}.csv"
    if caption:
        csv = report(
            csv,
            caption=str(REPO / "workflow/report" / caption),
            category=category,
            labels={"table": name},
        )
    return [csv, f"paper_tables/{name}.md", f"paper_tables/{name}.tex"]


def benchmark_files(wildcards=None):
    """The benchmark file of every job this config can run: each rule's own benchmark pattern,
    read from the workflow, over this config's wildcard values (the runtime job keeps those that
    exist; a stale file of another config's models is never named)."""
    values = {
        "dataset": [DATASET],
        "arch": ARCHS,
        "variant": VARIANTS,
        "training": TRAININGS,
        "seed": SEEDS,
        "fault": FAULTS,
        "nb": NOTEBOOKS,
    }
    files = []
    for r in workflow.rules:
        if r.benchmark is not None and r.name != "runtime":
            pattern = strip_wildcard_constraints(str(r.benchmark))
            files += expand(pattern, **{k: values[k] for k in get_wildcard_names(pattern)})
    return sorted(set(files))


def calibration_settings():
    """The calibration job's settings (workflow/rules/calibration.smk): targets, the grid's
    alpha per architecture and level, its threshold and penalty, the chance level."""
    from flatenn.catalog import NUM_CLASSES
    from flatenn.config import variant_for

    grid = [v for v in VARIANTS if v != "standard"]
    levels = {a: {v: variant_for(config, v, a) for v in grid} for a in ARCHS}
    thresholds = {x["threshold"] for per in levels.values() for x in per.values()}
    penalties = {x.get("penalty", "l1") for per in levels.values() for x in per.values()}
    if len(thresholds) != 1 or len(penalties) != 1:
        sys.exit("config error: variants: a calibration grid varies alpha only (one threshold, one penalty)")
    return settings_arg(
        {
            **config["calibration"],
            "alphas": {a: {v: x["alpha"] for v, x in per.items()} for a, per in levels.items()},
            "threshold": thresholds.pop(),
            "penalty": penalties.pop(),
            "chance": 1 / NUM_CLASSES[DATASET],
        }
    )

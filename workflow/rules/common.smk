import os
import shlex
import sys
from pathlib import Path

from snakemake.io import get_wildcard_names, strip_wildcard_constraints

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from flatenn.catalog import landscape_2d_figure  # noqa: E402
from flatenn.registry import BUILT_IN  # noqa: E402
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

# An architecture from an extension is built and deployed before any job runs (flatenn check-config
# does it for all): a layer the integer network cannot compute fails here, not after training.
_NEW_ARCHS = sorted(set(config["archs"]) - BUILT_IN)
if _NEW_ARCHS:
    from flatenn.deployed import check_deployable

    try:
        check_deployable(_NEW_ARCHS, config["dataset"]["name"], config["quant"])
    except ValueError as e:
        sys.exit(f"config error: {e}")

# Jobs call the package's own `flatenn` command: the one beside the Python that runs Snakemake.
# Every job takes the config's CPU numerics (flatenn.numerics; the job's settings carry it too).
# Every job loads the config's extension files (flatenn.registry), whose digests join the settings of
# each per-model job: editing a fault model or an architecture reruns what it made.
EXTENSIONS = [str((Path(workflow.basedir) / e).resolve()) for e in config["extensions"]]
EXTENSION_DIGESTS = (
    {
        "extensions": {
            Path(e).name: __import__("hashlib").sha256(Path(e).read_bytes()).hexdigest()[:16] for e in EXTENSIONS
        }
    }
    if EXTENSIONS
    else {}
)
shell.prefix(
    f'set -euo pipefail; export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"; '
    f"export FLATENN_NUMERICS={config['numerics']}; "
    f"export FLATENN_EXTENSIONS={shlex.quote(os.pathsep.join(EXTENSIONS))}; "
)
REPO = Path(workflow.basedir)  # repository files (notebooks) when run with -d elsewhere
PLAN = str(REPO / config["claims"]["plan"])  # the analysis plan: an input of the claims


# What made this run, written once per config by the provenance job (results/provenance.json, the
# config's digest and numerics; the job adds the commit of the code it runs and the CPU) and read by
# the report: its landing page and every caption name them, with the config files of the report's
# own invocation (the run's, when the report is made as documented).
PROVENANCE_SETTINGS = {
    "config_digest": __import__("hashlib").sha256(settings_arg(config).encode()).hexdigest()[:12],
    "numerics": config["numerics"],
}
CONFIG_FILES = [
    str(Path(f).resolve().relative_to(REPO)) if Path(f).resolve().is_relative_to(REPO) else str(f)
    for f in (workflow.config_settings.configfiles or [REPO / "config" / "default.yaml"])
]

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
    fault="|".join(FAULTS),


def settings(rule):
    """The config slice one job of ``rule`` reads, as a param: it is the job's rerun trigger."""
    return lambda wc: settings_arg({**job_settings(config, rule, **dict(wc.items())), **EXTENSION_DIGESTS})


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


def caption_footers():
    """Give every report caption a footer naming the rule that makes its file, the command that
    rebuilds it and the run's provenance: composed captions under .snakemake/report_captions/,
    once every rule is defined. (A caption's own ``snakemake.rule`` and ``snakemake.output`` are
    those of one job for all captions in Snakemake 9.27, so they cannot say it.)"""
    from snakemake.io import is_flagged

    from flatenn.io import atomic_write_text

    folder = Path(".snakemake/report_captions").resolve()
    for r in workflow.rules:
        for i, item in enumerate(r.output):
            obj = item.flags.get("report") if is_flagged(item, "report") else None
            if obj is None or obj.caption is None:
                continue
            text = workflow.sourcecache.open(obj.caption).read().rstrip("\n")
            pdf = f"{str(item).removesuffix('.png')}.pdf"  # a figure's PDF comes with its PNG
            target = pdf if pdf in map(str, r.output) else str(item)
            each = " (one file per wildcard value)" if "{" in target else ""
            footer = (
                f"Rule ``{r.name}``; rebuild: ``{{{{ snakemake.config._report.rebuild }}}} {target}``{each}. "
                "{{ snakemake.config._report.made_by }}"
            )
            path = folder / f"{r.name}-{i}.rst"
            atomic_write_text(path, f"{text}\n\n{footer}\n")
            item.flags["report"] = obj._replace(caption=workflow.current_basedir.join(str(path)))


def _report_record():
    """What the report shows that only a finished run knows: the provenance rule's record and the
    landing page (read when `snakemake --report` parses the workflow; placeholders before)."""
    import json

    prov = Path("results/provenance.json")
    record = json.loads(prov.read_text()) if prov.is_file() else None
    landing = Path("results/report_landing.rst")
    from flatenn.provenance import provenance_line, rebuild_prefix

    return {
        "made_by": (
            provenance_line(record, CONFIG_FILES)
            if record
            else "Provenance not recorded: run `snakemake results/provenance.json`."
        ),
        "rebuild": rebuild_prefix(CONFIG_FILES),
        "landing": (
            landing.read_text()
            if landing.is_file()
            else "The findings appear here once the run has finished (`snakemake results/report_landing.rst`)."
        ),
    }


config["_report"] = _report_record()  # read by workflow/report/*.rst (never by a job: not in any settings)


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

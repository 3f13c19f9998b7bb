import hashlib
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from flatenn.config import ConfigError, validate  # noqa: E402

# Validated here (same schema file as snakemake.utils.validate would use) so that a bad
# config stops the run at once with one line that names the key.
try:
    validate(config)
except ConfigError as e:
    sys.exit(f"config error: {e}")

# Shell commands run this interpreter: the one that runs Snakemake (the venv's).
FLATENN = f"{sys.executable} -m flatenn"
REPO = Path(workflow.basedir)  # repository files (notebooks) when run with -d elsewhere

# The rules read the resolved config from a file named by its content, passed in the
# environment rather than as a param: a param would make every config change (a fault rate,
# say) rerun every job, while each rule's `settings` param names what it really depends on.
_cfg_text = yaml.safe_dump(config, sort_keys=False)  # keep the order of variants
CONFIG_FILE = f"results/configs/{hashlib.sha1(_cfg_text.encode()).hexdigest()[:12]}.yaml"
if not Path(CONFIG_FILE).exists():
    Path(CONFIG_FILE).parent.mkdir(parents=True, exist_ok=True)
    Path(CONFIG_FILE).write_text(_cfg_text)
shell.prefix(f"set -euo pipefail; export FLATENN_CONFIG={CONFIG_FILE}; ")

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
    fault="bitflip|sa0|sa1",


def models(pattern, seeds=None, **extra):
    """Expand a per-model path pattern over every model of the config."""
    return expand(pattern, dataset=DATASET, arch=ARCHS, variant=VARIANTS, training=TRAININGS,
                  seed=SEEDS if seeds is None else seeds, **extra)


def fig(name, caption=None, category="Figures", **labels):
    """A figure as vector PDF and PNG; with a caption, the PNG goes into the report."""
    png = f"figures/{name}.png"
    if caption:
        png = report(png, caption=str(REPO / "workflow/report" / caption), category=category,
                     labels={"figure": name, **labels})
    return [f"figures/{name}.pdf", png]


def table(name, caption=None, category="Tables"):
    """A table as CSV, Markdown and LaTeX; with a caption, the CSV goes into the report."""
    csv = f"paper_tables/{name}.csv"
    if caption:
        csv = report(csv, caption=str(REPO / "workflow/report" / caption), category=category,
                     labels={"table": name})
    return [csv, f"paper_tables/{name}.md", f"paper_tables/{name}.tex"]

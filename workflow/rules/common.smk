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

# The rules read the resolved config from a file named by its content.
_cfg_text = yaml.safe_dump(config, sort_keys=True)
CONFIG_FILE = f"results/configs/{hashlib.sha1(_cfg_text.encode()).hexdigest()[:12]}.yaml"
if not Path(CONFIG_FILE).exists():
    Path(CONFIG_FILE).parent.mkdir(parents=True, exist_ok=True)
    Path(CONFIG_FILE).write_text(_cfg_text)

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


def fig(name):
    return [f"figures/{name}.pdf", f"figures/{name}.png"]


def table(name):
    return [f"paper_tables/{name}.csv", f"paper_tables/{name}.md", f"paper_tables/{name}.tex"]

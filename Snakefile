# FlatENN artifact: every table and figure of arXiv 2301.00675 from this repository.
#   snakemake --cores N                       everything, on config/default.yaml
#   snakemake figures/fault_accuracy.pdf      one target (and what it needs)
#   snakemake --configfile config/ci.yaml     another experiment (replaces the default as a whole)
#   snakemake --config seeds=[0]              the default with one key overridden
import os

from snakemake.utils import min_version

min_version("9.0")


# The default experiment; workflow/rules/common.smk resolves --configfile / --config on top.
configfile: os.path.join(workflow.basedir, "config", "default.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/faults.smk"
include: "workflow/rules/sharpness.smk"
include: "workflow/rules/paper.smk"
include: "workflow/rules/mechanism.smk"
include: "workflow/rules/calibration.smk"


# Everything a run makes, listed here only: the paper's tables, figures and findings, the
# notebooks, the run's record, and the mechanism's tables and figure where the config names its
# intervention rates.
rule all:
    default_target: True
    input:
        TABLES + FIGURES + NOTEBOOK_TARGETS,
        "paper_tables/findings.md",
        "paper_tables/runtime.csv",
        "results/provenance.json",
        "results/report_landing.rst",
        mechanism=([t for name in MECHANISM_TABLES for t in table(name)] + fig("mechanism") if MECHANISM else []),


caption_footers()  # every rule is defined: each caption names its rule and rebuild command

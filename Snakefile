# FlatENN artifact: every table and figure of arXiv 2301.00675 from this repository.
#   snakemake --cores N                       everything, on config/default.yaml
#   snakemake figures/fault_accuracy.pdf      one target (and what it needs)
#   snakemake --configfile config/ci.yaml     another config (replaces the default as a whole)
import os

from snakemake.utils import min_version

min_version("9.0")

# A config given on the command line replaces the default instead of being merged into it,
# so a smaller config cannot inherit variants or rates it did not name.
if not config:

    configfile: os.path.join(workflow.basedir, "config", "default.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/faults.smk"
include: "workflow/rules/sharpness.smk"
include: "workflow/rules/paper.smk"


rule all:
    input:
        ALL_TARGETS,
    default_target: True

NOTEBOOKS = ["walkthrough"]

CLAIM_TARGETS = (
    table("claims")
    + [t for f in FAULTS for t in table(f"summary_{f}")]
    + table("saq_gain")
    + table("as_saq_vs_standard")
)
FIGURES = (
    fig("fault_accuracy")
    + fig("vulnerability")
    + fig("landscape_1d")
    + expand("figures/landscape_2d_{variant}_{training}.{ext}", variant=VARIANTS, training=TRAININGS,
             ext=["pdf", "png"])
    + fig("sharpness_vs_fault_accuracy")
)
TABLES = (
    table("clean_accuracy") + table("fault_accuracy") + table("fault_paired_ci") + table("vulnerability")
    + table("sharpness") + table("sharpness_correlation") + CLAIM_TARGETS
)
ALL_TARGETS = TABLES + FIGURES + expand("results/notebooks/{nb}.ipynb", nb=NOTEBOOKS) + ["paper_tables/runtime.csv"]


rule claims:
    input:
        models(f"results/eval/{MODEL}.json"),
        models(f"results/campaign/{MODEL}/{{fault}}.csv", fault=FAULTS),
        models(f"results/sharpness/{MODEL}.json"),
    output:
        CLAIM_TARGETS,
    log:
        "results/logs/paper/claims.log",
    benchmark:
        "results/benchmarks/paper/claims.tsv"
    shell:
        "{FLATENN} paper --what claims --config {CONFIG_FILE} --inputs {input} --outputs {output} --log {log}"


rule notebook:
    input:
        notebook="notebooks/{nb}.py",
        tables=TABLES,
        figures=FIGURES,
    output:
        "results/notebooks/{nb}.ipynb",
    log:
        "results/logs/notebooks/{nb}.log",
    benchmark:
        "results/benchmarks/notebooks/{nb}.tsv"
    shell:
        "{FLATENN} paper --what notebook --config {CONFIG_FILE} --inputs {input.notebook}"
        " --outputs {output} --log {log}"


rule runtime:
    # Reads the benchmark files of every other job, so it comes last.
    input:
        [t for t in TABLES + FIGURES if not t.startswith("paper_tables/runtime")],
        expand("results/notebooks/{nb}.ipynb", nb=NOTEBOOKS),
    output:
        "paper_tables/runtime.csv",
    log:
        "results/logs/paper/runtime.log",
    benchmark:
        "results/benchmarks/paper/runtime.tsv"
    shell:
        "{FLATENN} paper --what runtime --config {CONFIG_FILE} --inputs results/benchmarks"
        " --outputs {output} --log {log}"

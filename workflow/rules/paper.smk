NOTEBOOKS = ["walkthrough"]

CLAIM_TARGETS = (
    table("claims", "claims.rst", "Claims")
    + [t for f in FAULTS for t in table(f"summary_{f}", "summary.rst")]
    + table("saq_gain", "saq_gain.rst")
    + table("as_saq_vs_standard", "as_saq_vs_standard.rst")
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
    params:
        cli=FLATENN,
        settings=lambda wc: config["claims"],
    conda:
        "../../envs/flatenn.yaml"
    log:
        "results/logs/paper/claims.log",
    benchmark:
        "results/benchmarks/claims.tsv"
    shell:
        "{params.cli} paper --what claims --config $FLATENN_CONFIG --inputs {input} --outputs {output} --log {log}"


rule notebook:
    input:
        notebook=str(REPO / "notebooks/{nb}.py"),
        tables=TABLES,
        figures=FIGURES,
    output:
        "results/notebooks/{nb}.ipynb",
    params:
        cli=FLATENN,
    conda:
        "../../envs/flatenn.yaml"
    log:
        "results/logs/notebooks/{nb}.log",
    benchmark:
        "results/benchmarks/notebook_{nb}.tsv"
    shell:
        "{params.cli} paper --what notebook --config $FLATENN_CONFIG --inputs {input.notebook}"
        " --outputs {output} --log {log}"


rule runtime:
    # Reads the benchmark files of every other job, so it comes last.
    input:
        [t for t in TABLES + FIGURES if not t.startswith("paper_tables/runtime")],
        expand("results/notebooks/{nb}.ipynb", nb=NOTEBOOKS),
    output:
        "paper_tables/runtime.csv",
    params:
        cli=FLATENN,
    conda:
        "../../envs/flatenn.yaml"
    log:
        "results/logs/paper/runtime.log",
    benchmark:
        "results/benchmarks/runtime.tsv"
    shell:
        "{params.cli} paper --what runtime --config $FLATENN_CONFIG --inputs results/benchmarks"
        " --outputs {output} --log {log}"

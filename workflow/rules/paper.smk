NOTEBOOKS = ["walkthrough"]

FIGURES = (
    fig("fault_accuracy") + fig("vulnerability") + LANDSCAPE_FIGURES + fig("sharpness_vs_fault_accuracy")
)
TABLES = [
    t
    for name in ["clean_accuracy", "fault_accuracy", "fault_accuracy_by_seed", "fault_paired_by_seed",
                 "fault_paired_ci", "variance_components", "saq_gain", "as_saq_vs_standard", "vulnerability",
                 "sharpness", "sharpness_paired", "sharpness_correlation", "claims", "claims_by_rate"]
    + [f"summary_{f}" for f in FAULTS]
    for t in table(name)
]
NOTEBOOK_TARGETS = expand("results/notebooks/{nb}.ipynb", nb=NOTEBOOKS)
ALL_TARGETS = TABLES + FIGURES + NOTEBOOK_TARGETS + ["paper_tables/runtime.csv"]


rule claims:
    input:
        paired_by_seed="paper_tables/fault_paired_by_seed.csv",
        paired_sharpness="paper_tables/sharpness_paired.csv",
        clean="paper_tables/clean_accuracy.csv",
    output:
        claims=table("claims", "claims.rst", "Claims"),
        by_rate=table("claims_by_rate", "claims_by_rate.rst", "Claims"),
    params:
        settings=table_settings("level", "clean_margin"),
    conda:
        "../../envs/flatenn.yaml"
    log:
        "results/logs/paper/claims.log",
    benchmark:
        "results/benchmarks/claims.tsv"
    shell:
        "flatenn claims --settings {params.settings:q} --paired-by-seed {input.paired_by_seed}"
        " --paired-sharpness {input.paired_sharpness} --clean {input.clean} --claims {output.claims}"
        " --by-rate {output.by_rate} --log {log}"


rule notebook:
    input:
        source=str(REPO / "notebooks/{nb}.py"),
        tables=TABLES,
        figures=FIGURES,
    output:
        "results/notebooks/{nb}.ipynb",
    conda:
        "../../envs/flatenn.yaml"
    log:
        "results/logs/notebooks/{nb}.log",
    benchmark:
        "results/benchmarks/notebook_{nb}.tsv"
    shell:
        "flatenn notebook --source {input.source} --out {output} --log {log}"


def benchmark_files():
    """The benchmark file of every job of this DAG (and no stale one of another config)."""
    per_model = ["train", "evaluate", "sharpness"]
    files = [f"results/benchmarks/prepare_data/{DATASET}.tsv"]
    files += [f for r in per_model for f in models(f"results/benchmarks/{r}/{MODEL}.tsv")]
    files += models(f"results/benchmarks/campaign/{MODEL}/{{fault}}.tsv", fault=FAULTS)
    files += models(f"results/benchmarks/vulnerability/{MODEL}.tsv", seeds=SEEDS[:1])
    files += [f"results/benchmarks/{r}.tsv" for r in [
        "clean_accuracy_table", "fault_tables", "fault_accuracy_figure", "vulnerability_table",
        "vulnerability_figure", "sharpness_tables", "landscape_figures", "sharpness_figure", "claims"]]
    return files + expand("results/benchmarks/notebook_{nb}.tsv", nb=NOTEBOOKS)


rule runtime:
    # Runs last: it reads the benchmark file of every other job of this DAG.
    input:
        TABLES,
        FIGURES,
        NOTEBOOK_TARGETS,
    output:
        "paper_tables/runtime.csv",
    params:
        benchmarks=benchmark_files(),
    conda:
        "../../envs/flatenn.yaml"
    log:
        "results/logs/paper/runtime.log",
    benchmark:
        "results/benchmarks/runtime.tsv"
    shell:
        "flatenn runtime --benchmarks {params.benchmarks} --out {output} --log {log}"

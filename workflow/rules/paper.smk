NOTEBOOKS = ["walkthrough"]

FIGURES = (
    fig("fault_accuracy")
    + fig("vulnerability")
    + [str(f) for f in LANDSCAPE_FIGURES]  # plain paths: the report flags belong to the rule that makes them
    + fig("sharpness_vs_fault_accuracy")
    + fig("dose_response")
    + fig("verdicts")
    + fig("c1_vs_sparsity")
    # Effects against depth only where there is more than one depth to show.
    + (fig("claims_by_depth") if len(ARCHS) > 1 else [])
)
TABLES = [
    t
    for name in [
        "clean_accuracy",
        "fault_accuracy",
        "fault_accuracy_by_seed",
        "fault_paired_by_seed",
        "fault_paired_ci",
        "variance_components",
        "saq_gain",
        "as_saq_vs_standard",
        "vulnerability",
        "sharpness",
        "sharpness_paired",
        "sharpness_correlation",
        "claims",
        "claims_by_rate",
        "claims_interaction",
        "sharpness_explains",
        "claims_slope",
        "c1_vs_sparsity",
        "dose_response",
    ]
    + [f"summary_{f}" for f in FAULTS]
    for t in table(name)
]
NOTEBOOK_TARGETS = expand("results/notebooks/{nb}.ipynb", nb=NOTEBOOKS)


rule provenance:
    # Once per config: its digest and numerics, and the commit and CPU the job sees (flatenn.provenance.provenance).
    output:
        "results/provenance.json",
    log:
        "results/logs/paper/provenance.log",
    benchmark:
        "results/benchmarks/provenance.tsv"
    conda:
        "../../envs/flatenn.yaml"
    params:
        settings=settings_arg(PROVENANCE_SETTINGS),
    shell:
        "flatenn provenance --settings {params.settings:q} --out {output} --log {log}"


rule report_landing:
    # The report's first screen: the run's findings and the verdicts figure (workflow/report/workflow.rst).
    input:
        claims="paper_tables/claims.csv",
        interaction="paper_tables/claims_interaction.csv",
        verdicts="figures/verdicts.png",
    output:
        "results/report_landing.rst",
    log:
        "results/logs/paper/report_landing.log",
    benchmark:
        "results/benchmarks/report_landing.tsv"
    conda:
        "../../envs/flatenn.yaml"
    shell:
        "flatenn report-landing --claims {input.claims} --verdicts {input.verdicts} --out {output} --log {log}"


rule claims:
    # Every verdict from the per-seed tables under the declared analysis plan (flatenn.claims);
    # `flatenn recompute` runs the same on a stored study.
    input:
        seed_means="paper_tables/fault_accuracy_by_seed.csv",
        sharpness="paper_tables/sharpness.csv",
        clean="paper_tables/clean_accuracy.csv",
        plan=PLAN,
    output:
        claims=table("claims", "claims.rst", "Claims"),
        by_rate=table("claims_by_rate", "claims_by_rate.rst", "Claims"),
        interaction=table("claims_interaction", "claims_interaction.rst", "Claims"),
        explains=table("sharpness_explains", "sharpness_explains.rst", "Claims"),
        slope=table("claims_slope"),
        by_gain=table("c1_vs_sparsity"),
        findings=report(
            "paper_tables/findings.md",
            caption=str(REPO / "workflow/report/findings.rst"),
            category="Claims",
        ),
    log:
        "results/logs/paper/claims.log",
    benchmark:
        "results/benchmarks/claims.tsv"
    conda:
        "../../envs/flatenn.yaml"
    shell:
        "flatenn claims --seed-means {input.seed_means} --sharpness {input.sharpness} --clean {input.clean}"
        " --plan {input.plan} --claims {output.claims} --by-rate {output.by_rate}"
        " --interaction {output.interaction} --explains {output.explains} --slope {output.slope}"
        " --by-gain {output.by_gain} --findings {output.findings}"
        " --log {log}"


rule dose_response:
    input:
        clean="paper_tables/clean_accuracy.csv",
        paired_by_seed="paper_tables/fault_paired_by_seed.csv",
        paired_sharpness="paper_tables/sharpness_paired.csv",
    output:
        table("dose_response", "dose_response_table.rst", "Dose-response"),
    log:
        "results/logs/paper/dose_response.log",
    benchmark:
        "results/benchmarks/dose_response.tsv"
    conda:
        "../../envs/flatenn.yaml"
    params:
        settings=table_settings("level"),
    shell:
        "flatenn dose-response --settings {params.settings:q} --clean {input.clean}"
        " --paired-by-seed {input.paired_by_seed} --paired-sharpness {input.paired_sharpness} --table {output}"
        " --log {log}"


rule claims_figure:
    input:
        claims="paper_tables/claims.csv",
    output:
        fig("claims_by_depth", "claims_by_depth.rst", "Claims"),
    log:
        "results/logs/paper/claims_figure.log",
    benchmark:
        "results/benchmarks/claims_figure.tsv"
    conda:
        "../../envs/flatenn.yaml"
    shell:
        "flatenn figure-claims-by-depth --claims {input.claims} --out {output} --log {log}"


rule verdicts_figure:
    input:
        claims="paper_tables/claims.csv",
    output:
        fig("verdicts", "verdicts.rst", "Claims"),
    log:
        "results/logs/paper/verdicts_figure.log",
    benchmark:
        "results/benchmarks/verdicts_figure.tsv"
    conda:
        "../../envs/flatenn.yaml"
    shell:
        "flatenn figure-verdicts --claims {input.claims} --out {output} --log {log}"


rule c1_vs_sparsity_figure:
    input:
        by_gain="paper_tables/c1_vs_sparsity.csv",
        slope="paper_tables/claims_slope.csv",
    output:
        fig("c1_vs_sparsity"),
    log:
        "results/logs/paper/c1_vs_sparsity_figure.log",
    benchmark:
        "results/benchmarks/c1_vs_sparsity_figure.tsv"
    conda:
        "../../envs/flatenn.yaml"
    shell:
        "flatenn figure-c1-vs-sparsity --by-gain {input.by_gain} --slope {input.slope} --out {output} --log {log}"


rule dose_response_figure:
    input:
        dose_response="paper_tables/dose_response.csv",
    output:
        fig("dose_response", "dose_response.rst", "Dose-response"),
    log:
        "results/logs/paper/dose_response_figure.log",
    benchmark:
        "results/benchmarks/dose_response_figure.tsv"
    conda:
        "../../envs/flatenn.yaml"
    shell:
        "flatenn figure-dose-response --dose-response {input.dose_response} --out {output} --log {log}"


rule notebook:
    input:
        source=str(REPO / "notebooks/{nb}.py"),
        tables=TABLES,
        figures=FIGURES,
    output:
        "results/notebooks/{nb}.ipynb",
    log:
        "results/logs/notebooks/{nb}.log",
    benchmark:
        "results/benchmarks/notebook_{nb}.tsv"
    conda:
        "../../envs/flatenn.yaml"
    shell:
        "flatenn notebook --source {input.source} --out {output} --log {log}"


rule runtime:
    # Runs last: it reads the benchmark file of every other job of this DAG.
    input:
        TABLES,
        FIGURES,
        NOTEBOOK_TARGETS,
    output:
        "paper_tables/runtime.csv",
    log:
        "results/logs/paper/runtime.log",
    benchmark:
        "results/benchmarks/runtime.tsv"
    conda:
        "../../envs/flatenn.yaml"
    params:
        benchmarks=benchmark_files,  # a function: every rule of the workflow is known when it runs
    shell:
        "flatenn runtime --benchmarks {params.benchmarks} --out {output} --log {log}"

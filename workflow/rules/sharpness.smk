LANDSCAPE_FIGURES = fig("landscape_1d", "landscape_1d.rst", "Sharpness") + [
    f
    for a in ARCHS
    for v in VARIANTS
    for t in TRAININGS
    for f in fig(
        landscape_2d_figure(a, v, t),
        "landscape_2d.rst",
        "Sharpness",
        arch=a,
        variant=v,
        training=t,
    )
]


rule sharpness:
    input:
        data="results/data/{dataset}.pt",
        model=f"results/models/{MODEL}.pt",
    output:
        f"results/sharpness/{MODEL}.json",
    log:
        f"results/logs/sharpness/{MODEL}.log",
    benchmark:
        f"results/benchmarks/sharpness/{MODEL}.tsv"
    priority: 5  # longest first among what follows training (LPT): short campaigns fill the tail
    conda:
        "../../envs/flatenn.yaml"
    threads: 1
    resources:
        mem_mb=3000,
    params:
        settings=settings("sharpness"),
    shell:
        "flatenn sharpness --settings {params.settings:q} --data {input.data} --model {input.model}"
        " --out {output} --threads {threads} --log {log}"


rule sharpness_tables:
    input:
        sharpness=models(f"results/sharpness/{MODEL}.json"),
        seed_means="paper_tables/fault_accuracy_by_seed.csv",
    output:
        table=table("sharpness", "sharpness_table.rst"),
        paired=table("sharpness_paired"),
        correlation=table("sharpness_correlation", "sharpness_correlation.rst"),
        landscapes="results/tables/landscapes.csv",
    log:
        "results/logs/paper/sharpness_tables.log",
    benchmark:
        "results/benchmarks/sharpness_tables.tsv"
    conda:
        "../../envs/flatenn.yaml"
    params:
        settings=table_settings("variants", "trainings", "faults", "fault", "rate"),
    shell:
        "flatenn sharpness-tables --settings {params.settings:q} --sharpness {input.sharpness}"
        " --seed-means {input.seed_means} --table {output.table} --paired {output.paired}"
        " --correlation {output.correlation} --landscapes {output.landscapes} --log {log}"


rule landscape_figures:
    input:
        landscapes="results/tables/landscapes.csv",
    output:
        LANDSCAPE_FIGURES,
    log:
        "results/logs/paper/landscape_figures.log",
    benchmark:
        "results/benchmarks/landscape_figures.tsv"
    conda:
        "../../envs/flatenn.yaml"
    shell:
        "flatenn figure-landscapes --landscapes {input.landscapes} --figures figures --log {log}"


rule sharpness_figure:
    input:
        sharpness="paper_tables/sharpness.csv",
        seed_means="paper_tables/fault_accuracy_by_seed.csv",
        correlation="paper_tables/sharpness_correlation.csv",
    output:
        fig(
            "sharpness_vs_fault_accuracy",
            "sharpness_vs_fault_accuracy.rst",
            "Sharpness",
        ),
    log:
        "results/logs/paper/sharpness_figure.log",
    benchmark:
        "results/benchmarks/sharpness_figure.tsv"
    conda:
        "../../envs/flatenn.yaml"
    shell:
        "flatenn figure-sharpness --sharpness {input.sharpness} --seed-means {input.seed_means}"
        " --correlation {input.correlation} --out {output} --log {log}"

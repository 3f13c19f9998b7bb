rule sharpness:
    input:
        data="results/data/{dataset}.pt",
        model=f"results/models/{MODEL}.pt",
    output:
        f"results/sharpness/{MODEL}.json",
    params:
        cli=FLATENN,
        settings=lambda wc: [config["sharpness"], config["faults"]["seed"]],
    conda:
        "../../envs/flatenn.yaml"
    log:
        f"results/logs/sharpness/{MODEL}.log",
    benchmark:
        f"results/benchmarks/sharpness/{MODEL}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
    shell:
        "{params.cli} sharpness --config $FLATENN_CONFIG --data {input.data} --model {input.model}"
        " --out {output} --threads {threads} --log {log}"


rule sharpness_table:
    input:
        sharpness=models(f"results/sharpness/{MODEL}.json"),
        campaigns=models(f"results/campaign/{MODEL}/{{fault}}.csv", fault=config["sharpness"]["correlation_fault"]),
    output:
        table("sharpness", "sharpness_table.rst"),
        table("sharpness_correlation", "sharpness_correlation.rst"),
        fig("landscape_1d", "landscape_1d.rst", "Sharpness"),
        [f for v in VARIANTS for t in TRAININGS
         for f in fig(f"landscape_2d_{v}_{t}", "landscape_2d.rst", "Sharpness", variant=v, training=t)],
        fig("sharpness_vs_fault_accuracy", "sharpness_vs_fault_accuracy.rst", "Sharpness"),
    params:
        cli=FLATENN,
        settings=lambda wc: [config["claims"], config["sharpness"]],
    conda:
        "../../envs/flatenn.yaml"
    log:
        "results/logs/paper/sharpness.log",
    benchmark:
        "results/benchmarks/sharpness_table.tsv"
    shell:
        "{params.cli} paper --what sharpness --config $FLATENN_CONFIG --inputs {input}"
        " --outputs {output} --log {log}"

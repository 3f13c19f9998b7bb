rule sharpness:
    input:
        data="results/data/{dataset}.pt",
        model=f"results/models/{MODEL}.pt",
    output:
        f"results/sharpness/{MODEL}.json",
    params:
        settings=lambda wc: [config["sharpness"], config["faults"]["seed"]],
    log:
        f"results/logs/sharpness/{MODEL}.log",
    benchmark:
        f"results/benchmarks/sharpness/{MODEL}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
    shell:
        "{FLATENN} sharpness --config {CONFIG_FILE} --data {input.data} --model {input.model}"
        " --out {output} --threads {threads} --log {log}"


rule sharpness_table:
    input:
        sharpness=models(f"results/sharpness/{MODEL}.json"),
        campaigns=models(f"results/campaign/{MODEL}/{{fault}}.csv", fault=config["sharpness"]["correlation_fault"]),
    output:
        table("sharpness"),
        table("sharpness_correlation"),
        fig("landscape_1d"),
        expand("figures/landscape_2d_{variant}_{training}.{ext}", variant=VARIANTS, training=TRAININGS,
               ext=["pdf", "png"]),
        fig("sharpness_vs_fault_accuracy"),
    log:
        "results/logs/paper/sharpness.log",
    benchmark:
        "results/benchmarks/paper/sharpness.tsv"
    shell:
        "{FLATENN} paper --what sharpness --config {CONFIG_FILE} --inputs {input}"
        " --outputs {output} --log {log}"

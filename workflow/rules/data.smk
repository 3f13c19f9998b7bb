rule prepare_data:
    output:
        "results/data/{dataset}.pt",
    params:
        dataset=lambda wc: config["dataset"],
    log:
        "results/logs/prepare_data/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_data/{dataset}.tsv"
    threads: 1
    shell:
        "{FLATENN} prepare-data --config {CONFIG_FILE} --out {output} --log {log}"

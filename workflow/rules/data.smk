rule prepare_data:
    output:
        "results/data/{dataset}.pt",
    log:
        "results/logs/prepare_data/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_data/{dataset}.tsv"
    conda:
        "../../envs/flatenn.yaml"
    threads: 1
    params:
        settings=settings("prepare_data"),
    shell:
        "flatenn prepare-data --settings {params.settings:q} --out {output} --log {log}"

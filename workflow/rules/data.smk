rule prepare_data:
    output:
        "results/data/{dataset}.pt",
    params:
        settings=settings("prepare_data"),
    conda:
        "../../envs/flatenn.yaml"
    log:
        "results/logs/prepare_data/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_data/{dataset}.tsv"
    threads: 1
    shell:
        "flatenn prepare-data --settings {params.settings:q} --out {output} --log {log}"

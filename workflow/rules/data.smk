rule prepare_data:
    output:
        "results/data/{dataset}.pt",
    params:
        cli=FLATENN,
        dataset=lambda wc: config["dataset"],
    conda:
        "../../envs/flatenn.yaml"
    log:
        "results/logs/prepare_data/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_data/{dataset}.tsv"
    threads: 1
    shell:
        "{params.cli} prepare-data --config $FLATENN_CONFIG --out {output} --log {log}"

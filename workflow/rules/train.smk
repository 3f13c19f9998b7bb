rule train:
    input:
        data="results/data/{dataset}.pt",
    output:
        f"results/models/{MODEL}.pt",
    params:
        settings=settings("train"),
        # Outside the outputs, so that an interrupted job resumes from its last epoch.
        checkpoint=f"results/checkpoints/{MODEL}.pt",
    conda:
        "../../envs/flatenn.yaml"
    log:
        f"results/logs/train/{MODEL}.log",
    benchmark:
        f"results/benchmarks/train/{MODEL}.tsv"
    threads: 1
    priority: 10  # train first: every later stage waits on all models
    resources:
        mem_mb=2000,
    shell:
        "flatenn train --settings {params.settings:q} --data {input.data} --checkpoint {params.checkpoint}"
        " --out {output} --threads {threads} --log {log}"


rule evaluate:
    input:
        data="results/data/{dataset}.pt",
        model=f"results/models/{MODEL}.pt",
    output:
        f"results/eval/{MODEL}.json",
    params:
        settings=settings("evaluate"),
    conda:
        "../../envs/flatenn.yaml"
    log:
        f"results/logs/evaluate/{MODEL}.log",
    benchmark:
        f"results/benchmarks/evaluate/{MODEL}.tsv"
    threads: 1
    shell:
        "flatenn evaluate --settings {params.settings:q} --data {input.data} --model {input.model}"
        " --out {output} --threads {threads} --log {log}"


rule clean_accuracy_table:
    input:
        evals=models(f"results/eval/{MODEL}.json"),
    output:
        table("clean_accuracy", "clean_accuracy.rst"),
    conda:
        "../../envs/flatenn.yaml"
    log:
        "results/logs/paper/clean_accuracy.log",
    benchmark:
        "results/benchmarks/clean_accuracy_table.tsv"
    shell:
        "flatenn clean-table --evals {input.evals} --table {output} --log {log}"

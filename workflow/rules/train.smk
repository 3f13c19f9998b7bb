rule train:
    input:
        data="results/data/{dataset}.pt",
    output:
        f"results/models/{MODEL}.pt",
    log:
        f"results/logs/train/{MODEL}.log",
    benchmark:
        f"results/benchmarks/train/{MODEL}.tsv"
    priority: 10  # train first: every later stage waits on all models
    conda:
        "../../envs/flatenn.yaml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        settings=settings("train"),
        # Outside the outputs, so that an interrupted job resumes from its last epoch.
        checkpoint=f"results/checkpoints/{MODEL}.pt",
    shell:
        "flatenn train --settings {params.settings:q} --data {input.data} --checkpoint {params.checkpoint}"
        " --out {output} --threads {threads} --log {log}"


rule evaluate:
    input:
        data="results/data/{dataset}.pt",
        model=f"results/models/{MODEL}.pt",
    output:
        f"results/eval/{MODEL}.json",
    log:
        f"results/logs/evaluate/{MODEL}.log",
    benchmark:
        f"results/benchmarks/evaluate/{MODEL}.tsv"
    conda:
        "../../envs/flatenn.yaml"
    threads: 1
    params:
        settings=settings("evaluate"),
    shell:
        "flatenn evaluate --settings {params.settings:q} --data {input.data} --model {input.model}"
        " --out {output} --threads {threads} --log {log}"


rule clean_accuracy_table:
    input:
        evals=models(f"results/eval/{MODEL}.json"),
    output:
        table("clean_accuracy", "clean_accuracy.rst"),
    log:
        "results/logs/paper/clean_accuracy.log",
    benchmark:
        "results/benchmarks/clean_accuracy_table.tsv"
    conda:
        "../../envs/flatenn.yaml"
    shell:
        "flatenn clean-table --evals {input.evals} --table {output} --log {log}"

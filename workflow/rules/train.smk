rule train:
    input:
        data="results/data/{dataset}.pt",
    output:
        f"results/models/{MODEL}.pt",
    params:
        cli=FLATENN,
        # Rerun when what shapes the model changes; the checkpoint lies outside the outputs
        # so that an interrupted job resumes from its last epoch.
        settings=lambda wc: [config["quant"], config["variants"][wc.variant], config["training"]],
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
        "{params.cli} train --config $FLATENN_CONFIG --data {input.data} --arch {wildcards.arch}"
        " --variant {wildcards.variant} --training {wildcards.training} --seed {wildcards.seed}"
        " --checkpoint {params.checkpoint} --out {output} --threads {threads} --log {log}"


rule evaluate:
    input:
        data="results/data/{dataset}.pt",
        model=f"results/models/{MODEL}.pt",
    output:
        f"results/eval/{MODEL}.json",
    params:
        cli=FLATENN,
        settings=lambda wc: config["evaluate"],
    conda:
        "../../envs/flatenn.yaml"
    log:
        f"results/logs/evaluate/{MODEL}.log",
    benchmark:
        f"results/benchmarks/evaluate/{MODEL}.tsv"
    threads: 1
    shell:
        "{params.cli} evaluate --config $FLATENN_CONFIG --data {input.data} --model {input.model}"
        " --out {output} --threads {threads} --log {log}"


rule clean_accuracy_table:
    input:
        models(f"results/eval/{MODEL}.json"),
    output:
        table("clean_accuracy", "clean_accuracy.rst"),
    params:
        cli=FLATENN,
    conda:
        "../../envs/flatenn.yaml"
    log:
        "results/logs/paper/clean_accuracy.log",
    benchmark:
        "results/benchmarks/clean_accuracy_table.tsv"
    shell:
        "{params.cli} paper --what clean-table --config $FLATENN_CONFIG --inputs {input}"
        " --outputs {output} --log {log}"

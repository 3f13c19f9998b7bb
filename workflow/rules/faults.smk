rule campaign:
    input:
        data="results/data/{dataset}.pt",
        model=f"results/models/{MODEL}.pt",
    output:
        f"results/campaign/{MODEL}/{{fault}}.csv",
    params:
        cli=FLATENN,
        settings=lambda wc: [config["faults"]["rates"][wc.fault],
                             {k: v for k, v in config["faults"].items() if k not in ("rates", "types")}],
    conda:
        "../../envs/flatenn.yaml"
    log:
        f"results/logs/campaign/{MODEL}/{{fault}}.log",
    benchmark:
        f"results/benchmarks/campaign/{MODEL}/{{fault}}.tsv"
    threads: 1
    shell:
        "{params.cli} campaign --config $FLATENN_CONFIG --data {input.data} --model {input.model}"
        " --fault {wildcards.fault} --out {output} --dataset {wildcards.dataset} --arch {wildcards.arch}"
        " --variant {wildcards.variant} --training {wildcards.training} --seed {wildcards.seed}"
        " --threads {threads} --log {log}"


rule vulnerability:
    input:
        data="results/data/{dataset}.pt",
        model=f"results/models/{MODEL}.pt",
    output:
        f"results/vulnerability/{MODEL}.csv",
    params:
        cli=FLATENN,
        settings=lambda wc: [config["vulnerability"], config["faults"]["mode"], config["faults"]["seed"],
                             config["faults"]["eval_size"]],
    conda:
        "../../envs/flatenn.yaml"
    log:
        f"results/logs/vulnerability/{MODEL}.log",
    benchmark:
        f"results/benchmarks/vulnerability/{MODEL}.tsv"
    threads: 1
    shell:
        "{params.cli} vulnerability --config $FLATENN_CONFIG --data {input.data} --model {input.model}"
        " --out {output} --dataset {wildcards.dataset} --arch {wildcards.arch}"
        " --variant {wildcards.variant} --training {wildcards.training} --seed {wildcards.seed}"
        " --threads {threads} --log {log}"


rule fault_accuracy:
    input:
        models(f"results/campaign/{MODEL}/{{fault}}.csv", fault=FAULTS),
    output:
        table("fault_accuracy", "fault_accuracy_table.rst"),
        table("fault_paired_ci", "fault_paired_ci.rst"),
        fig("fault_accuracy", "fault_accuracy.rst", "Faults"),
    params:
        cli=FLATENN,
        settings=lambda wc: config["claims"],
    conda:
        "../../envs/flatenn.yaml"
    log:
        "results/logs/paper/fault_accuracy.log",
    benchmark:
        "results/benchmarks/fault_accuracy.tsv"
    shell:
        "{params.cli} paper --what fault-accuracy --config $FLATENN_CONFIG --inputs {input}"
        " --outputs {output} --log {log}"


rule vulnerability_sweeps:
    input:
        # The per-layer and per-bit sweeps run on the first seed of every variant x training.
        models(f"results/vulnerability/{MODEL}.csv", seeds=SEEDS[:1]),
    output:
        table("vulnerability", "vulnerability_table.rst"),
        fig("vulnerability", "vulnerability.rst", "Faults"),
    params:
        cli=FLATENN,
        settings=lambda wc: config["claims"],
    conda:
        "../../envs/flatenn.yaml"
    log:
        "results/logs/paper/vulnerability.log",
    benchmark:
        "results/benchmarks/vulnerability_sweeps.tsv"
    shell:
        "{params.cli} paper --what vulnerability --config $FLATENN_CONFIG --inputs {input}"
        " --outputs {output} --log {log}"

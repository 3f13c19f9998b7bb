rule campaign:
    input:
        data="results/data/{dataset}.pt",
        model=f"results/models/{MODEL}.pt",
    output:
        f"results/campaign/{MODEL}/{{fault}}.csv",
    params:
        settings=lambda wc: [config["faults"]["rates"][wc.fault],
                             {k: v for k, v in config["faults"].items() if k not in ("rates", "types")}],
    log:
        f"results/logs/campaign/{MODEL}/{{fault}}.log",
    benchmark:
        f"results/benchmarks/campaign/{MODEL}/{{fault}}.tsv"
    threads: 1
    shell:
        "{FLATENN} campaign --config {CONFIG_FILE} --data {input.data} --model {input.model}"
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
        settings=lambda wc: [config["vulnerability"], config["faults"]["mode"], config["faults"]["seed"],
                             config["faults"]["eval_size"]],
    log:
        f"results/logs/vulnerability/{MODEL}.log",
    benchmark:
        f"results/benchmarks/vulnerability/{MODEL}.tsv"
    threads: 1
    shell:
        "{FLATENN} vulnerability --config {CONFIG_FILE} --data {input.data} --model {input.model}"
        " --out {output} --dataset {wildcards.dataset} --arch {wildcards.arch}"
        " --variant {wildcards.variant} --training {wildcards.training} --seed {wildcards.seed}"
        " --threads {threads} --log {log}"


rule fault_accuracy:
    input:
        models(f"results/campaign/{MODEL}/{{fault}}.csv", fault=FAULTS),
    output:
        table("fault_accuracy"),
        table("fault_paired_ci"),
        fig("fault_accuracy"),
    log:
        "results/logs/paper/fault_accuracy.log",
    benchmark:
        "results/benchmarks/paper/fault_accuracy.tsv"
    shell:
        "{FLATENN} paper --what fault-accuracy --config {CONFIG_FILE} --inputs {input}"
        " --outputs {output} --log {log}"


rule vulnerability_sweeps:
    input:
        # The per-layer and per-bit sweeps run on the first seed of every variant x training.
        models(f"results/vulnerability/{MODEL}.csv", seeds=SEEDS[:1]),
    output:
        table("vulnerability"),
        fig("vulnerability"),
    log:
        "results/logs/paper/vulnerability.log",
    benchmark:
        "results/benchmarks/paper/vulnerability.tsv"
    shell:
        "{FLATENN} paper --what vulnerability --config {CONFIG_FILE} --inputs {input}"
        " --outputs {output} --log {log}"

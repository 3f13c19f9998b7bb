# Why faults hurt (flatenn.mechanism): runs when the config names the intervention's rates
# (mechanism.rates, written by the calibration).
MECHANISM = bool(config["mechanism"]["rates"])


rule mechanism:
    input:
        data="results/data/{dataset}.pt",
        model=f"results/models/{MODEL}.pt",
    output:
        layers=f"results/mechanism/{MODEL}.json",
        trials=f"results/mechanism/{MODEL}.csv",
    log:
        f"results/logs/mechanism/{MODEL}.log",
    benchmark:
        f"results/benchmarks/mechanism/{MODEL}.tsv"
    conda:
        "../../envs/flatenn.yaml"
    threads: 1
    params:
        settings=settings("mechanism"),
    shell:
        "flatenn mechanism --settings {params.settings:q} --data {input.data} --model {input.model}"
        " --out {output.layers} --trials {output.trials} --threads {threads} --log {log}"


MECHANISM_TARGETS = (
    models(f"results/mechanism/{MODEL}.json") + models(f"results/mechanism/{MODEL}.csv")
    if MECHANISM
    else []
)

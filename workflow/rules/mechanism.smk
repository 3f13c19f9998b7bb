# Why faults hurt (flatenn.mechanism): runs when the config names the intervention's rates
# (mechanism.rates, written by the calibration).
MECHANISM = bool(config["mechanism"]["rates"])
MECHANISM_TABLES = ("mechanism", "mechanism_switch", "mechanism_layers", "intervention", "mechanism_explained")


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


rule mechanism_tables:
    input:
        layers=models(f"results/mechanism/{MODEL}.json"),
        trials=models(f"results/mechanism/{MODEL}.csv"),
        clean="paper_tables/clean_accuracy.csv",
        sharpness="paper_tables/sharpness.csv",
        seed_means="paper_tables/fault_accuracy_by_seed.csv",
        vulnerability="paper_tables/vulnerability.csv",
        plan=PLAN,
    output:
        networks=table("mechanism"),
        switch=table("mechanism_switch"),
        layers=table("mechanism_layers"),
        intervention=table("intervention"),
        explained=table("mechanism_explained"),
        findings="paper_tables/mechanism_findings.md",
    log:
        "results/logs/paper/mechanism_tables.log",
    benchmark:
        "results/benchmarks/mechanism_tables.tsv"
    conda:
        "../../envs/flatenn.yaml"
    shell:
        "flatenn mechanism-tables --layers {input.layers} --trials {input.trials} --clean {input.clean}"
        " --sharpness {input.sharpness} --seed-means {input.seed_means} --vulnerability {input.vulnerability}"
        " --plan {input.plan} --networks {output.networks} --switch {output.switch} --layer-table {output.layers}"
        " --intervention {output.intervention} --explained {output.explained} --findings {output.findings}"
        " --log {log}"


rule mechanism_figure:
    input:
        explained="paper_tables/mechanism_explained.csv",
        intervention="paper_tables/intervention.csv",
    output:
        fig("mechanism"),
    log:
        "results/logs/paper/mechanism_figure.log",
    benchmark:
        "results/benchmarks/mechanism_figure.tsv"
    conda:
        "../../envs/flatenn.yaml"
    shell:
        "flatenn figure-mechanism --explained {input.explained} --intervention {input.intervention}"
        " --out {output} --log {log}"

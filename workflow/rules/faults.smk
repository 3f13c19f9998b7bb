rule campaign:
    # One job per network and fault type: adding a fault type runs only its own campaigns, and a
    # job's settings name only its type's rates.
    input:
        data="results/data/{dataset}.pt",
        model=f"results/models/{MODEL}.pt",
    output:
        f"results/campaign/{MODEL}/{{fault}}.csv",
    log:
        f"results/logs/campaign/{MODEL}/{{fault}}.log",
    benchmark:
        f"results/benchmarks/campaign/{MODEL}/{{fault}}.tsv"
    conda:
        "../../envs/flatenn.yaml"
    threads: 1
    params:
        settings=settings("campaign"),
    shell:
        "flatenn campaign --settings {params.settings:q} --data {input.data} --model {input.model}"
        " --fault {wildcards.fault} --out {output} --threads {threads} --log {log}"


rule vulnerability:
    input:
        data="results/data/{dataset}.pt",
        model=f"results/models/{MODEL}.pt",
    output:
        f"results/vulnerability/{MODEL}.csv",
    log:
        f"results/logs/vulnerability/{MODEL}.log",
    benchmark:
        f"results/benchmarks/vulnerability/{MODEL}.tsv"
    priority: 5  # a long job (one per architecture and variant): before the short campaigns
    conda:
        "../../envs/flatenn.yaml"
    threads: 1
    params:
        settings=settings("vulnerability"),
    shell:
        "flatenn vulnerability --settings {params.settings:q} --data {input.data} --model {input.model}"
        " --out {output} --threads {threads} --log {log}"


rule fault_tables:
    input:
        trials=models(f"results/campaign/{MODEL}/{{fault}}.csv", fault=FAULTS),
    output:
        seed_means=table("fault_accuracy_by_seed"),
        fault_accuracy=table("fault_accuracy", "fault_accuracy_table.rst"),
        paired_by_seed=table("fault_paired_by_seed"),
        paired_ci=table("fault_paired_ci", "fault_paired_ci.rst"),
        variance=table("variance_components", "variance_components.rst"),
        saq_gain=table("saq_gain", "saq_gain.rst"),
        as_saq_vs_standard=table("as_saq_vs_standard", "as_saq_vs_standard.rst"),
    log:
        "results/logs/paper/fault_tables.log",
    benchmark:
        "results/benchmarks/fault_tables.tsv"
    conda:
        "../../envs/flatenn.yaml"
    params:
        settings=table_settings("level", "variants", "trainings", "faults", "dataset", "eval_size"),
    shell:
        "flatenn fault-tables --settings {params.settings:q} --trials {input.trials}"
        " --seed-means {output.seed_means} --fault-accuracy {output.fault_accuracy}"
        " --paired-by-seed {output.paired_by_seed} --paired-ci {output.paired_ci} --variance {output.variance}"
        " --saq-gain {output.saq_gain}"
        " --as-saq-vs-standard {output.as_saq_vs_standard} --log {log}"


rule fault_summary:
    # The paper's table layout for one fault type.
    input:
        fault_accuracy="paper_tables/fault_accuracy.csv",
    output:
        table("summary_{fault}", "summary.rst"),
    log:
        "results/logs/paper/fault_summary_{fault}.log",
    benchmark:
        "results/benchmarks/fault_summary/{fault}.tsv"
    conda:
        "../../envs/flatenn.yaml"
    shell:
        "flatenn fault-summary --fault {wildcards.fault} --fault-accuracy {input.fault_accuracy} --table {output}"
        " --log {log}"


rule fault_accuracy_figure:
    input:
        fault_accuracy="paper_tables/fault_accuracy.csv",
    output:
        fig("fault_accuracy", "fault_accuracy.rst", "Faults"),
    log:
        "results/logs/paper/fault_accuracy_figure.log",
    benchmark:
        "results/benchmarks/fault_accuracy_figure.tsv"
    conda:
        "../../envs/flatenn.yaml"
    params:
        settings=table_settings("level"),
    shell:
        "flatenn figure-faults --settings {params.settings:q} --fault-accuracy {input.fault_accuracy}"
        " --out {output} --log {log}"


rule vulnerability_table:
    input:
        # The per-layer and per-bit sweeps run on the first seed of every variant x training.
        trials=models(f"results/vulnerability/{MODEL}.csv", seeds=SEEDS[:1]),
    output:
        table("vulnerability", "vulnerability_table.rst"),
    log:
        "results/logs/paper/vulnerability_table.log",
    benchmark:
        "results/benchmarks/vulnerability_table.tsv"
    conda:
        "../../envs/flatenn.yaml"
    params:
        settings=table_settings("level"),
    shell:
        "flatenn vulnerability-table --settings {params.settings:q} --trials {input.trials} --table {output}"
        " --log {log}"


rule vulnerability_figure:
    input:
        vulnerability="paper_tables/vulnerability.csv",
    output:
        fig("vulnerability", "vulnerability.rst", "Faults"),
    log:
        "results/logs/paper/vulnerability_figure.log",
    benchmark:
        "results/benchmarks/vulnerability_figure.tsv"
    conda:
        "../../envs/flatenn.yaml"
    shell:
        "flatenn figure-vulnerability --vulnerability {input.vulnerability} --out {output} --log {log}"

# Calibration of a depth study (flatenn.calibration), run on its own config before the study:
#   snakemake --configfile config/depth_calibration.yaml --cores 2 calibration
# From one pilot seed's networks (the standard one and an AS grid of alphas at one threshold):
# the alpha per architecture that reaches each target sparsity gain, and the faulty rates at
# which each architecture's standard network keeps each target share of its accuracy.


rule calibration:
    input:
        evals=models(f"results/eval/{MODEL}.json"),
        trials=expand(
            f"results/campaign/{MODEL}/{{fault}}.csv",
            dataset=DATASET,
            arch=ARCHS,
            variant="standard",
            training="conventional",
            seed=SEEDS,
            fault=FAULTS,
        ),
    output:
        table=table("calibration"),
        settings="paper_tables/calibration.yaml",
    log:
        "results/logs/paper/calibration.log",
    benchmark:
        "results/benchmarks/calibration.tsv"
    conda:
        "../../envs/flatenn.yaml"
    params:
        settings=lambda wc: calibration_settings(),
    shell:
        "flatenn calibrate --settings {params.settings:q} --evals {input.evals} --trials {input.trials}"
        " --table {output.table} --settings-out {output.settings} --log {log}"

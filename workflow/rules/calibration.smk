# Calibration of a depth study (flatenn.calibration), run on its own config before the study:
#   snakemake --configfile config/depth_calibration.yaml --cores 2 calibration
# From one pilot seed's networks (the standard one and an AS grid of alphas at one threshold):
# the alpha per architecture that reaches each target sparsity gain, and the faulty rates at
# which each architecture's standard network keeps each target share of its accuracy.


def calibration_settings():
    from flatenn.catalog import NUM_CLASSES
    from flatenn.config import variant_for

    grid = [v for v in VARIANTS if v != "standard"]
    levels = {a: {v: variant_for(config, v, a) for v in grid} for a in ARCHS}
    thresholds = {x["threshold"] for per in levels.values() for x in per.values()}
    penalties = {
        x.get("penalty", "l1") for per in levels.values() for x in per.values()
    }
    if len(thresholds) != 1 or len(penalties) != 1:
        sys.exit(
            "config error: variants: a calibration grid varies alpha only (one threshold, one penalty)"
        )
    return settings_arg(
        {
            **config["calibration"],
            "alphas": {
                a: {v: x["alpha"] for v, x in per.items()} for a, per in levels.items()
            },
            "threshold": thresholds.pop(),
            "penalty": penalties.pop(),
            "chance": 1 / NUM_CLASSES[DATASET],
        }
    )


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

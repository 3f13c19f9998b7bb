"""The studies' own configs (config/depth.yaml, config/dose.yaml) run end to end on tiny subsets."""
import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import MODEL_WC, PY, ROOT, SNAKEMAKE, run, settings_for
from flatenn import config

pytestmark = pytest.mark.slow


def tiny(config: str, path, *, variants=None, seeds=(0, 1), archs=None):
    """A study's own config file on tiny subsets (a few hundred images, one epoch, CPU), so that its
    code paths run here; everything that names the study (per-arch settings) is kept, and archs
    only narrows which of its architectures run."""
    cfg = yaml.safe_load((ROOT / "config" / config).read_text())
    if archs:
        assert set(archs) <= set(cfg["archs"]), archs
        cfg["archs"] = list(archs)
    cfg["device"] = "cpu"
    cfg["dataset"].update(train_subset=600, test_subset=200, val_size=100)
    if variants:
        cfg["variants"] = {k: cfg["variants"][k] for k in variants}
    cfg["trainings"] = ["conventional"]
    cfg["seeds"] = list(seeds)
    cfg["training"].update(epochs=1)
    cfg["faults"].update(types=["bitflip"], rates={"bitflip": [0.0, 0.01]}, trials=2, eval_size=100)
    cfg["vulnerability"].update(trials=1)
    cfg["sharpness"].update(subset=32, power_iters=3, hutchinson_samples=2, eps_steps=1, fault_samples=1,
                            landscape_1d_points=3, landscape_2d_points=3, correlation_rate=0.01)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path, cfg


def run_tiny(config, tmp_path, targets=(), **kw):
    """The tiny study run to its targets (default: everything the workflow writes)."""
    path, cfg = tiny(config, tmp_path / config, **kw)
    run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "--configfile", str(path), "--cores", "2",
         "--", *targets], timeout=1200)
    return tmp_path / "paper_tables", cfg


def test_tiny_depth_study_keeps_architectures_apart_with_claims_per_architecture(tmp_path):
    """config/depth.yaml (per-architecture AS settings and rates, the mechanism jobs), tiny, on its
    shallowest and deepest architecture (ResNet-8 trains in the calibration test; a third
    architecture runs the same code): every table keeps the architectures apart, and the depth
    endpoint, the mechanism tables and their figures are written."""
    tables, cfg = run_tiny("depth.yaml", tmp_path, variants=("standard", "as_g15"), archs=("lenet5", "resnet20"))
    archs = set(cfg["archs"])
    assert archs == {"lenet5", "resnet20"}
    for name in ("clean_accuracy", "fault_accuracy", "fault_accuracy_by_seed", "fault_paired_by_seed",
                 "fault_paired_ci", "variance_components", "sharpness", "sharpness_paired",
                 "claims", "claims_by_rate", "vulnerability", "summary_bitflip", "dose_response", "mechanism",
                 "mechanism_layers", "mechanism_switch", "intervention"):
        df = pd.read_csv(tables / f"{name}.csv")
        assert set(df.arch) == archs, name
    per_arch = pd.read_csv(tables / "claims.csv").groupby("arch").size()
    assert len(set(per_arch)) == 1 and per_arch.iloc[0] > 0  # the same claims for every architecture
    fa = pd.read_csv(tables / "fault_accuracy.csv")
    assert (fa.groupby(["arch", "variant", "training", "rate"]).size() == 1).all()  # never pooled across archs
    # each architecture at its own calibrated rates
    assert sorted(fa[fa.arch == "resnet20"].rate.unique()) == cfg["faults"]["per_arch"]["resnet20"]["rates"]["bitflip"]
    layers = pd.read_csv(tables / "mechanism_layers.csv")
    assert layers.input_density.between(0, 1).all() and layers.layer_fault_accuracy.notna().any()
    iv = pd.read_csv(tables / "intervention.csv")
    assert set(iv.rate) == {cfg["mechanism"]["rates"][a]["bitflip"] for a in archs}
    switched = iv[iv.condition != "faults_on_live_weights"]
    assert set(switched.arch) == archs and set(switched.condition) == {"as_threshold_removed",
                                                                       "standard_threshold_applied"}
    # the live-weights intervention only where some network has dead inputs
    nets = pd.read_csv(tables / "mechanism.csv")
    dead = set(nets[nets.dead_input_share > 0].arch)
    assert set(iv[iv.condition == "faults_on_live_weights"].arch) == dead
    switch = pd.read_csv(tables / "mechanism_switch.csv").set_index(["arch", "variant", "seed", "own"])
    assert set(switch.threshold) == {0.0, 0.1} and switch.activation_sparsity.between(0, 1).all()
    for arch in archs:  # the threshold makes zeros: removed, sparsity falls; applied, it rises
        for seed in cfg["seeds"]:
            as_net, std = switch.loc[(arch, "as_g15", seed)], switch.loc[(arch, "standard", seed)]
            assert (as_net.loc[False].activation_sparsity < as_net.loc[True].activation_sparsity).all()
            assert (std.loc[False].activation_sparsity > std.loc[True].activation_sparsity).all()
    assert (tables / "mechanism_findings.md").read_text().startswith("# Mechanism")
    slope = pd.read_csv(tables / "claims_slope.csv")
    assert list(slope.columns[:5]) == ["row", "claim", "dataset", "fault", "quantity"]
    for figure in ("landscape_2d_resnet20_as_g15_conventional", "claims_by_depth", "c1_vs_sparsity", "mechanism"):
        assert (tmp_path / f"figures/{figure}.png").stat().st_size > 1000, figure
    # Each architecture trained with its own penalty weight (variants.<level>.per_arch).
    alphas = {a: json.loads(settings_for(tmp_path / "depth.yaml", "train", **{**MODEL_WC, "arch": a,
                                                                           "variant": "as_g15"}))["variant"]["alpha"]
              for a in archs}
    assert alphas == {"lenet5": 0.105, "resnet20": 0.0476}


def test_tiny_calibration_writes_strengths_rates_and_a_config_part_it_reproduces(tmp_path):
    """config/depth_calibration.yaml, tiny (two architectures, three strengths of its grid, one
    fault type on a grid of rates): every target gets a value or a status, the config part
    validates in a study config, and the command gives the same bytes again."""
    path, cfg = tiny("depth_calibration.yaml", tmp_path / "calibration.yaml", seeds=(100,),
                     variants=("standard", "a003", "a03", "a3"))
    cfg["archs"] = ["lenet5", "resnet8"]
    cfg["faults"]["rates"] = {"bitflip": [0.0, 0.003, 0.01, 0.03, 0.1, 0.3]}
    cfg["sharpness"]["correlation_rate"] = 0.01
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "--configfile", str(path), "--cores", "2"]
    run(cmd + ["calibration"], timeout=1200)
    table = pd.read_csv(tmp_path / "paper_tables/calibration.csv")
    strength, rate = table[table.kind == "strength"], table[table.kind == "rate"]
    assert len(strength) == 2 * 3 and len(rate) == 2 * 4  # archs x gains, archs x kept (one fault type)
    assert set(table.status) <= {"reached", "too_costly", "outside_grid"}
    reached = rate[rate.status == "reached"]
    assert (reached.x_below <= reached.value).all() and (reached.value <= reached.x_above * 1.05).all()
    part = yaml.safe_load((tmp_path / "paper_tables/calibration.yaml").read_text())
    assert "standard" in part["variants"] and set(part["mechanism"]["rates"]) <= {"lenet5", "resnet8"}
    study = {**cfg, **part, "faults": {**cfg["faults"], **part["faults"]}, "mechanism": {
        "rates": {a: part["mechanism"]["rates"].get(a, {"bitflip": 0.01}) for a in cfg["archs"]}}}
    study["variants"] = part["variants"]
    config.validate(study, base=ROOT)
    before = (tmp_path / "paper_tables/calibration.yaml").read_bytes()
    run(cmd + ["calibration", "--forcerun", "calibration"], timeout=600)
    assert (tmp_path / "paper_tables/calibration.yaml").read_bytes() == before


def test_tiny_dose_study_has_a_row_per_strength(tmp_path):
    """config/dose.yaml, tiny: the dose-response table and figure from the standard variant and
    its weakest, a middle and its strongest AS strength (every strength runs the same code;
    test_config plans all six)."""
    tables, cfg = run_tiny("dose.yaml", tmp_path, ["paper_tables/dose_response.csv", "figures/dose_response.png"],
                           seeds=(0,), variants=("standard", "as_t05", "as_a1", "as_a10"))
    dose = pd.read_csv(tables / "dose_response.csv")
    assert set(dose.variant) == set(cfg["variants"]) - {"standard"}
    assert (tmp_path / "figures/dose_response.png").stat().st_size > 1000


def test_tiny_budget_ladder_runs_its_rungs_and_reads_them_back(tmp_path):
    """config/depth_ladder.yaml, tiny (LeNet-5 only: the other architectures' settings stay unused),
    two rungs (1 and 2 epochs) run as the ladder's README runs them, then `flatenn ladder`: every
    rung's clean accuracy comes back exactly, and the convergence rule reads the change between
    them (known answer: 100 x the difference of the two rungs' accuracies)."""
    path, cfg = tiny("depth_ladder.yaml", tmp_path / "ladder.yaml", seeds=(100,))
    cfg["archs"] = ["lenet5"]
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    targets = ["paper_tables/clean_accuracy.csv", "paper_tables/fault_accuracy_by_seed.csv"]
    rungs = []
    for k in (1, 2):
        work = tmp_path / "work" / f"x{k}"
        run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(work), "--configfile", str(path), "--cores", "2",
             "--config", f"training={{epochs: {k}, ramp_epochs: {k}}}", "--", *targets], timeout=900)
        rung = tmp_path / "rungs" / f"x{k}"
        rung.mkdir(parents=True)
        for t in targets:
            (rung / t.split("/")[1]).write_bytes((work / t).read_bytes())
        rungs.append(rung)
    out = tmp_path / "out"
    run([PY, "-m", "flatenn", "ladder", "--rungs", *map(str, rungs), "--plan", str(ROOT / "config/analysis.yaml"),
         "--out", str(out / "ladder.csv"), "--convergence", str(out / "conv.csv"), "--figure", str(out / "ladder.png"),
         "--findings", str(out / "ladder.md")])
    ladder = pd.read_csv(out / "ladder.csv")
    acc = ladder[ladder.quantity == "accuracy"].set_index(["variant", "budget"]).value
    for k, rung in zip((1, 2), rungs):
        clean = pd.read_csv(rung / "clean_accuracy.csv").set_index("variant").accuracy
        assert all(acc[(v, k)] == clean[v] for v in clean.index)
    conv = pd.read_csv(out / "conv.csv")
    assert len(conv) == 1 and (conv.budget.iloc[0], conv.next_budget.iloc[0]) == (1, 2)
    assert conv.clean_change_standard.iloc[0] == pytest.approx(100 * (acc[("standard", 2)] - acc[("standard", 1)]))
    assert set(ladder[ladder.quantity == "c1_retained_gap"].fault) == {"bitflip"}
    assert (out / "ladder.png").stat().st_size > 1000
    assert f"standard clean accuracy {100 * acc[('standard', 1)]:.1f} / {100 * acc[('standard', 2)]:.1f} %" in (
        out / "ladder.md").read_text()


def test_the_gpu_script_runs_on_a_cpu_with_tiny_settings(tmp_path):
    """benchmarks/gpu/run.sh as its header says to try it first (TINY=1 DEVICE=cpu), on the
    converged depth study: the smoke test passes and the study starts on the device (its first jobs
    finish before the short budget cuts it off)."""
    env = {"OUT": str(tmp_path / "out"), "WORK": str(tmp_path / "work"), "DEVICE": "cpu", "TINY": "1",
           "ARCHS": "[lenet5]", "SEEDS": "[0]", "BUDGET_S": "60", "CORES": "2",
           "PATH": f"{Path(PY).parent}:{os.environ['PATH']}"}
    run(["bash", str(ROOT / "benchmarks/gpu/run.sh")], env=env, timeout=600)
    summary = (tmp_path / "out/summary.txt").read_text()
    assert re.search(r"smoke test .*: rc 0 ", summary), summary
    assert "depth study (config/depth_converged.yaml, archs [lenet5], seeds [0], device cpu)" in summary
    finished = int(re.search(r"(\d+) jobs finished", summary).group(1))
    assert finished >= 1 and (tmp_path / "out/gpu_run.tar.gz").stat().st_size > 0  # how many fit in 60 s is the load's

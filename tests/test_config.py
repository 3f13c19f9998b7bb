"""A bad config stops the run at once with one line that names the key, and writes nothing."""
import pytest
import yaml

from conftest import CI_CONFIG, PY, ROOT, SNAKEMAKE, run
from flatenn import cli, config


def mutate(path, change):
    cfg = yaml.safe_load(CI_CONFIG.read_text())
    change(cfg)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


CASES = [
    (lambda c: c.update(archs=["vgg"]), "archs[0]: 'vgg' is not one of"),
    (lambda c: c["quant"].update(weight_bits=9), "quant.weight_bits: 9 is greater than the maximum of 8"),
    (lambda c: c["quant"].update(weight_bits=1), "quant.weight_bits: 1 is less than the minimum of 2"),
    (lambda c: c["training"].update(rho=-0.1), "training.rho: -0.1 is less than the minimum of 0"),
    (lambda c: c["dataset"].update(root="/no/such/dir"), "dataset.root: path /no/such/dir does not exist"),
    (lambda c: c["faults"].update(colour="red"), "unknown key faults.colour"),
    (lambda c: c.update(colour="red"), "unknown key colour"),
    (lambda c: c["faults"]["rates"].update(bitflip=[0.0, 1.5]), "faults.rates.bitflip[1]: 1.5 is greater than"),
    (lambda c: c["faults"]["rates"].update(bitflip=[0.01]), "faults.rates.bitflip: must include 0"),
]


@pytest.mark.parametrize("change,message", CASES)
def test_cli_rejects_bad_config_with_one_line(tmp_path, capsys, change, message):
    bad = mutate(tmp_path / "bad.yaml", change)
    assert cli.main(["check-config", "--config", str(bad)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


@pytest.mark.slow
# One range and one unknown key: the validator is the one the CLI cases above test in full.
@pytest.mark.parametrize("change,message", CASES[1:2] + CASES[5:6])
def test_snakemake_rejects_bad_config_at_start(tmp_path, change, message):
    bad = mutate(tmp_path / "bad.yaml", change)
    res = run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "--configfile", str(bad),
               "--cores", "1"], check=False)
    assert res.returncode != 0
    errors = [line for line in (res.stdout + res.stderr).splitlines() if line.startswith("config error:")]
    assert len(errors) == 1 and message in errors[0]
    assert not (tmp_path / "results" / "data").exists()


def test_missing_config_file_is_one_line(tmp_path):
    res = run([PY, "-m", "flatenn", "check-config", "--config", str(tmp_path / "none.yaml")], check=False)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "none.yaml" in res.stderr


def planned(tmp_path, *args):
    res = run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "-n", *args])
    return dict(line.split()[:2] for line in res.stdout.splitlines()
                if line.split()[:1] in (["train"], ["campaign"], ["sharpness"]))


@pytest.mark.slow
def test_config_on_the_command_line_overrides_one_key(tmp_path):
    assert planned(tmp_path, "--config", "seeds=[0]") == {"train": "6", "campaign": "18", "sharpness": "6"}


@pytest.mark.slow
def test_a_config_file_replaces_the_default_as_a_whole(tmp_path):
    small = mutate(tmp_path / "small.yaml", lambda c: c.update(variants={"standard": c["variants"]["standard"]},
                                                               trainings=["conventional"]))
    assert planned(tmp_path, "--configfile", str(small)) == {"train": "2", "campaign": "6", "sharpness": "2"}
    assert planned(tmp_path, "--configfile", str(small), "--config", "seeds=[3]") == {
        "train": "1", "campaign": "3", "sharpness": "1"}  # one campaign job per network and fault type


def test_defaults_come_from_the_schema():
    cfg = yaml.safe_load(CI_CONFIG.read_text())
    del cfg["dataset"]["split_seed"], cfg["variants"]["as_mid"]["penalty"]
    cfg = config.validate(cfg, base=ROOT)
    assert cfg["dataset"]["split_seed"] == 0 and cfg["variants"]["as_mid"]["penalty"] == "l1"
    assert cfg["device"] == "cpu" and cfg["claims"]["plan"] == "config/analysis.yaml"


def test_every_schema_key_is_described():
    schema = yaml.safe_load(config.SCHEMA_PATH.read_text())

    def undescribed(node, path):
        for key, sub in node.get("properties", {}).items():
            if "description" not in sub:
                yield f"{path}{key}"
            yield from undescribed(sub, f"{path}{key}.")
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            yield from undescribed(extra, f"{path}*.")

    assert list(undescribed(schema, "")) == []


def test_a_job_sees_only_the_config_it_reads():
    """Changing a fault rate changes the campaigns' settings and nothing upstream."""
    base = config.validate(yaml.safe_load(CI_CONFIG.read_text()), base=ROOT)
    changed = config.validate(yaml.safe_load(CI_CONFIG.read_text()), base=ROOT)
    changed["faults"]["rates"]["bitflip"] = [0.0, 0.5]
    wc = {"dataset": "fashion_mnist", "arch": "lenet5", "variant": "as_mid", "training": "saq", "seed": "0"}
    for rule in ("prepare_data", "train", "evaluate", "sharpness", "vulnerability"):
        assert config.job_settings(base, rule, **wc) == config.job_settings(changed, rule, **wc), rule
    # One campaign job runs every fault type of its model.
    assert config.job_settings(base, "campaign", **wc) != config.job_settings(changed, "campaign", **wc)
    assert config.job_settings(changed, "campaign", **wc)["rates"]["bitflip"] == [0.0, 0.5]
    conventional = config.job_settings(base, "train", **{**wc, "training": "conventional"})
    assert conventional["training"]["rho"] == 0.0 and config.job_settings(base, "train", **wc)["training"]["rho"] > 0


@pytest.mark.slow
def test_dose_config_plans_every_strength(tmp_path):
    counts = planned(tmp_path, "--configfile", str(ROOT / "config/dose.yaml"))
    assert counts == {"train": "35", "campaign": "105", "sharpness": "35"}


@pytest.mark.slow
def test_depth_config_plans_three_architectures(tmp_path):
    counts = planned(tmp_path, "--configfile", str(ROOT / "config/depth.yaml"))
    assert counts == {"train": "36", "campaign": "108", "sharpness": "36"}


def test_per_architecture_variant_settings():
    cfg = config.load(ROOT / "config/depth.yaml", base=ROOT)
    wc = {"dataset": "fashion_mnist", "variant": "as_g15", "training": "conventional", "seed": "0"}
    assert config.job_settings(cfg, "train", arch="lenet5", **wc)["variant"] == {
        "threshold": 0.1, "alpha": 0.105, "penalty": "l1"}
    assert config.job_settings(cfg, "train", arch="resnet20", **wc)["variant"] == {
        "threshold": 0.1, "alpha": 0.0476, "penalty": "l1"}
    # each architecture is faulted at its own rates, and the intervention at its own rate
    assert config.job_settings(cfg, "campaign", arch="resnet8", **wc)["rates"]["sa0"] == [0.0, 0.01, 0.019, 0.042, 0.075]
    assert config.job_settings(cfg, "mechanism", arch="resnet20", **wc)["rates"] == {
        "bitflip": 0.018, "sa0": 0.053, "sa1": 0.051}


def test_the_depth_study_takes_the_stored_calibrations_values():
    """config/depth.yaml's AS levels, rates and intervention rates are the ones the calibration
    wrote (expected/depth/calibration.yaml), and the budget check differs only in its budget."""
    study = config.load(ROOT / "config/depth.yaml", base=ROOT)
    calibrated = yaml.safe_load((ROOT / "expected/depth/calibration.yaml").read_text())
    for name, level in calibrated["variants"].items():
        assert {**level, "per_arch": level.get("per_arch", {})} == {**study["variants"][name]}, name
    assert set(study["variants"]) == set(calibrated["variants"])
    assert study["faults"]["per_arch"] == calibrated["faults"]["per_arch"]
    assert study["mechanism"]["rates"] == calibrated["mechanism"]["rates"]
    budget = config.load(ROOT / "config/depth_budget.yaml", base=ROOT)
    assert budget["training"]["epochs"] == 2 * study["training"]["epochs"]
    assert budget["training"]["ramp_epochs"] == 2 * study["training"]["ramp_epochs"]
    for key in ("dataset", "archs", "quant", "faults", "sharpness", "evaluate"):
        assert budget[key] == study[key], key
    assert set(budget["seeds"]) <= set(study["seeds"])
    assert all(budget["variants"][v] == study["variants"][v] for v in budget["variants"])
    ladder = config.load(ROOT / "config/depth_ladder.yaml", base=ROOT)  # the study at budget B, pilot seed
    assert ladder["training"] == study["training"] and not set(ladder["seeds"]) & set(study["seeds"])
    for key in ("dataset", "archs", "quant", "faults", "sharpness", "evaluate", "variants"):
        assert ladder[key] == study[key], key


def test_the_converged_depth_study_takes_each_architectures_stored_calibration():
    """config/depth_converged.yaml trains, faults and switches every architecture with the values
    its calibration at the converged budget wrote (expected/depth_converged/calibration*.yaml, one
    per calibration run), and at the budget that calibration trained at; its AS levels are the
    ones every architecture reached."""
    study = config.load(ROOT / "config/depth_converged.yaml", base=ROOT)
    calib = config.load(ROOT / "config/depth_calibration_converged.yaml", base=ROOT)
    wc = {"dataset": "fashion_mnist", "training": "conventional", "seed": "0"}
    checked = set()
    for path in sorted((ROOT / "expected/depth_converged").glob("calibration*.yaml")):
        calibrated = yaml.safe_load(path.read_text())
        for arch, rates in calibrated["faults"]["per_arch"].items():
            assert study["faults"]["per_arch"][arch] == rates, (path.name, arch)
            assert study["mechanism"]["rates"][arch] == calibrated["mechanism"]["rates"][arch], (path.name, arch)
            for name in study["variants"]:  # the levels every architecture reached (one may reach more)
                level = calibrated["variants"][name]
                alpha = level.get("per_arch", {}).get(arch, {}).get("alpha", level["alpha"])
                trained = config.job_settings(study, "train", arch=arch, variant=name, **wc)
                assert trained["variant"] == {"threshold": level["threshold"], "alpha": alpha,
                                              "penalty": level["penalty"]}, (path.name, arch, name)
                pilot = config.job_settings(calib, "train", arch=arch, variant="standard", **{**wc, "seed": "100"})
                assert trained["training"] == pilot["training"], (path.name, arch)
            checked.add(arch)
    assert checked == set(study["archs"])


def test_per_architecture_rates_are_validated_with_a_one_line_error():
    cfg = config.load(ROOT / "config/depth.yaml", base=ROOT)
    cfg = {k: v for k, v in cfg.items()}
    cfg["faults"] = {**cfg["faults"], "per_arch": {"resnet8": {"rates": {"bitflip": [0.01]}}}}
    with pytest.raises(config.ConfigError, match=r"faults.per_arch.resnet8.rates.bitflip: must include 0"):
        config.validate(cfg, base=ROOT)
    cfg["faults"]["per_arch"] = {"vgg": {"rates": {"bitflip": [0.0]}}}
    with pytest.raises(config.ConfigError, match="faults.per_arch.vgg"):
        config.validate(cfg, base=ROOT)


def test_each_architecture_trains_on_its_own_budget_and_a_study_runs_one_architecture_at_a_time():
    """training.per_arch sets an architecture's budget over training; settings of a known
    architecture that a run does not select are kept and unused (a study in parts), while an
    unknown name in any per-architecture table is a one-line error."""
    cfg = config.load(ROOT / "config/depth.yaml", base=ROOT)
    cfg["training"]["per_arch"] = {"resnet20": {"epochs": 24, "ramp_epochs": 8}}
    config.validate(cfg, base=ROOT)
    wc = {"dataset": "fashion_mnist", "variant": "as_g15", "training": "conventional", "seed": "0"}
    r20, l5 = (config.job_settings(cfg, "train", arch=a, **wc)["training"] for a in ("resnet20", "lenet5"))
    assert (r20["epochs"], r20["ramp_epochs"], l5["epochs"], l5["ramp_epochs"]) == (24, 8, 3, 1)
    assert "per_arch" not in r20 and {k: v for k, v in r20.items() if "epochs" not in k} == {
        k: v for k, v in l5.items() if "epochs" not in k}
    one = {**cfg, "archs": ["lenet5"]}  # resnet8's and resnet20's rates, alphas and budgets stay unused
    config.validate(one, base=ROOT)
    for where in ("training", "variants.as_g15", "faults"):
        bad = yaml.safe_load(yaml.safe_dump(cfg))
        target = bad
        for k in where.split("."):
            target = target[k]
        target["per_arch"] = {**target["per_arch"], "vgg": {"rates": {"bitflip": [0.0]}} if where == "faults" else {}}
        with pytest.raises(config.ConfigError, match=rf"^{where}.per_arch.vgg: unknown architecture"):
            config.validate(bad, base=ROOT)
    # the sparsity switch: an AS network without its threshold, a standard one with the AS threshold
    assert config.job_settings(cfg, "mechanism", arch="resnet8", **wc)["switch_thresholds"] == [0.0]
    std = {**wc, "variant": "standard"}
    assert config.job_settings(cfg, "mechanism", arch="resnet8", **std)["switch_thresholds"] == [0.1]


def test_a_fault_model_whose_effects_leave_the_word_stops_the_config_in_one_line(monkeypatch):
    """A burst that sets bit 8 of an 8-bit word fails validation before any job, naming the model;
    the same burst masked to the word passes."""
    from flatenn import registry

    cfg = config.load(ROOT / "config/ci.yaml", base=ROOT)
    for masked, name in ((False, "burst_out"), (True, "burst_in")):
        monkeypatch.setitem(registry.FAULTS, name, registry.FaultModel(name, "burst", lambda u, m, w, k=masked: u ^ (
            (m | (m << 1)) & ((1 << w) - 1) if k else m | (m << 1))))
        trial = {**cfg, "faults": {**cfg["faults"], "types": ["bitflip", name],
                                   "rates": {**cfg["faults"]["rates"], name: [0.0, 0.01]}, "per_arch": {}}}
        if masked:
            config.validate(trial, base=ROOT)
        else:
            with pytest.raises(config.ConfigError, match=r"^faults.types: fault model burst_out: apply returned "
                                                          r"a pattern outside the 8-bit word"):
                config.validate(trial, base=ROOT)

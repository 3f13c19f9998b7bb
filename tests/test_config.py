"""A bad config stops the run at once with one line that names the key, and writes nothing."""
import pytest
import yaml

from conftest import CI_CONFIG, PY, ROOT, SNAKEMAKE, run


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
def test_cli_rejects_bad_config_with_one_line(tmp_path, change, message):
    bad = mutate(tmp_path / "bad.yaml", change)
    out = tmp_path / "data.pt"
    res = run([PY, "-m", "flatenn", "prepare-data", "--config", str(bad), "--out", str(out)], check=False)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert not out.exists()


@pytest.mark.parametrize("change,message", CASES[:3] + CASES[5:6])
def test_snakemake_rejects_bad_config_at_start(tmp_path, change, message):
    bad = mutate(tmp_path / "bad.yaml", change)
    res = run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "--configfile", str(bad),
               "--cores", "1"], check=False)
    assert res.returncode != 0
    errors = [line for line in (res.stdout + res.stderr).splitlines() if line.startswith("config error:")]
    assert len(errors) == 1 and message in errors[0]
    assert not (tmp_path / "results" / "data").exists()


def test_missing_config_file_is_one_line(tmp_path):
    res = run([PY, "-m", "flatenn", "prepare-data", "--config", str(tmp_path / "none.yaml"), "--out", "x"], check=False)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "none.yaml" in res.stderr

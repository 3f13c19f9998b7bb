"""docs/extending.md's worked examples, copied from the page and run as a user would: two fault
models, an architecture, a penalty and a dataset registered through `extensions:` and run through
a tiny workflow; an undeployable architecture stopped before any job; stored studies unchanged."""
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import CI_CONFIG, PY, ROOT, SNAKEMAKE, run
from flatenn import compare

DOC = ROOT / "docs/extending.md"


def examples(folder):
    """Each ```python block of docs/extending.md that starts with `# file: <path>`, written there."""
    paths = {}
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S):
        first = block.splitlines()[0]
        if first.startswith("# file: "):
            path = folder / first.removeprefix("# file: ").strip()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block)
            paths[path.stem] = path
    return paths


def test_the_page_has_the_five_worked_examples(tmp_path):
    assert set(examples(tmp_path)) == {"sign_flips", "bursts", "ds_cnn", "l2_penalty", "stripes"}


def tiny_config(path, extensions, types):
    """config/ci.yaml on the example dataset, architecture, penalty and fault model, made small."""
    cfg = yaml.safe_load(CI_CONFIG.read_text())
    cfg["extensions"] = [str(p) for p in extensions]
    cfg["dataset"] = {"name": "stripes", "val_size": 200}
    cfg["archs"] = ["dscnn"]
    cfg["variants"] = {"standard": {"threshold": 0.0, "alpha": 0.0, "penalty": "l1"},
                       "as_l2": {"threshold": 0.1, "alpha": 0.1, "penalty": "l2"}}
    cfg["trainings"] = ["conventional"]
    cfg["training"].update(epochs=4)  # the depthwise-separable example needs 4 on 1,300 images
    cfg["faults"].update(types=types, rates={"bitflip": [0.0, 0.003, 0.03], "msb_flip": [0.0, 0.01, 0.05],
                                             "burst2": [0.0, 0.003, 0.03]},
                         trials=2, eval_size=200)
    cfg["faults"].pop("maps")  # a new study's default: shared maps
    cfg["faults"]["rates"] = {t: cfg["faults"]["rates"][t] for t in types}
    cfg["vulnerability"].update(trials=1)
    cfg["sharpness"].update(subset=32, power_iters=3, hutchinson_samples=2, eps_steps=1, fault_samples=1,
                            landscape_1d_points=3, landscape_2d_points=3)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.mark.slow
def test_the_examples_run_through_the_workflow_and_a_new_fault_type_runs_only_its_campaigns(tmp_path):
    files = examples(tmp_path / "ext")
    smk = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path / "run"), "--cores", "2"]
    targets = ["paper_tables/claims.csv", "paper_tables/fault_accuracy.csv", "figures/fault_accuracy.pdf"]
    first = tiny_config(tmp_path / "first.yaml", files.values(), ["bitflip"])
    run(smk + ["--configfile", str(first), "--", *targets], timeout=1200)
    second = tiny_config(tmp_path / "second.yaml", files.values(), ["bitflip", "msb_flip", "burst2"])
    smk += ["--configfile", str(second)]
    dry = run(smk + ["-n", "--", *targets], timeout=300).stdout
    planned = re.findall(r"rule (\w+):\n(?:    .*\n)*?    wildcards: ([^\n]*)", dry)
    campaigns = [w for rule, w in planned if rule == "campaign"]
    # the new types' campaigns only: 2 seeds x 2 variants x 2 types, no training
    assert campaigns and all("fault=msb_flip" in w or "fault=burst2" in w for w in campaigns)
    assert len(campaigns) == 8 and not [r for r, _ in planned if r == "train"]
    run(smk + ["--", *targets], timeout=1200)
    tables = tmp_path / "run/paper_tables"
    fa = pd.read_csv(tables / "fault_accuracy.csv")
    assert set(fa.fault) == {"bitflip", "msb_flip", "burst2"} and set(fa.arch) == {"dscnn"}
    assert set(fa.variant) == {"standard", "as_l2"}
    sharp = pd.read_csv(tables / "sharpness.csv")
    assert (sharp.fault_curvature_msb_flip > 0).all() and "fault_curvature_sa0" not in sharp
    clean = pd.read_csv(tables / "clean_accuracy.csv")
    assert clean.accuracy.min() > 0.5  # four bands are easy: the dataset and the network train
    claims = pd.read_csv(tables / "claims.csv")
    assert {"bitflip", "msb_flip"} <= set(claims[claims.claim == "C1"].fault)
    assert "msb_flip" in (tables / "findings.md").read_text()
    # the stored run recomputes to the same claims once its extension files are named, and a plan
    # may then name an extension's curvature; without them, one line names what is unknown
    again = [PY, "-m", "flatenn", "recompute", "--study", str(tables), "--plan"]
    used = str(ROOT / yaml.safe_load(second.read_text())["claims"].get("plan", "config/analysis.yaml"))
    bare = subprocess.run(again + [used, "--out", str(tmp_path / "bare")], capture_output=True, text=True)
    assert bare.returncode == 2 and "stripes" in bare.stderr and len(bare.stderr.strip().splitlines()) == 1
    extensions = ["--extensions", *map(str, files.values())]
    run(again + [used, "--out", str(tmp_path / "re"), *extensions], timeout=600)
    assert (tmp_path / "re/claims.csv").read_bytes() == (tables / "claims.csv").read_bytes()
    spec = yaml.safe_load(Path(used).read_text())
    spec["claims"]["C2"]["secondary"] = [*spec["claims"]["C2"].get("secondary", []), "fault_curvature_burst2"]
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(spec))
    run(again + [str(tmp_path / "plan.yaml"), "--out", str(tmp_path / "named"), *extensions], timeout=600)
    assert "fault_curvature_burst2" in set(pd.read_csv(tmp_path / "named/claims.csv").quantity)


def test_an_undeployable_architecture_stops_before_any_job_naming_the_layer(tmp_path):
    ext = tmp_path / "dropout_net.py"
    ext.write_text(DOC.read_text().split("# file: extensions/ds_cnn.py\n")[1].split("```")[0]
                   .replace("nn.Flatten(),", "nn.Flatten(), nn.Dropout(0.1),").replace('"dscnn"', '"dropnet"'))
    cfg = yaml.safe_load(CI_CONFIG.read_text())
    cfg.update(extensions=[str(ext)], archs=["dropnet"])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = subprocess.run([PY, "-m", "flatenn", "check-config", "--config", str(path)], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert out.stderr.startswith("flatenn check-config: error: archs: dropnet: deployed: cannot deploy layer body.11 "
                                 "(a Dropout)")
    dry = subprocess.run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path / "w"), "--configfile",
                          str(path), "-n"], capture_output=True, text=True)
    assert dry.returncode != 0 and "config error: archs: dropnet: deployed: cannot deploy layer body.11" in dry.stderr
    assert not (tmp_path / "w/results").exists()


def test_unknown_names_and_bad_extension_files_are_one_line_errors(tmp_path):
    cfg = yaml.safe_load(CI_CONFIG.read_text())
    for change, message in [
        (lambda c: c["faults"].update(types=["bitflip", "msb_flip"]), "faults.types[1]: 'msb_flip' is not one of"),
        (lambda c: c.update(extensions=[str(tmp_path / "none.py")]), "extensions: no extension file at"),
        (lambda c: c["variants"]["as_mid"].update(penalty="l2"), "variants.as_mid.penalty: 'l2' is not one of"),
    ]:
        bad = yaml.safe_load(yaml.safe_dump(cfg))
        change(bad)
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(bad, sort_keys=False))
        out = subprocess.run([PY, "-m", "flatenn", "check-config", "--config", str(path)], capture_output=True,
                             text=True)
        assert out.returncode == 2 and message in out.stderr and out.stderr.count("\n") == 1, out.stderr


@pytest.mark.parametrize("study", sorted(p.parent.name for p in (ROOT / "expected").glob("*/findings.md")))
def test_stored_studies_recompute_to_the_same_tables_with_a_new_fault_model_registered(study, tmp_path):
    files = examples(tmp_path / "ext")
    out = tmp_path / "out"
    env = {**os.environ, "FLATENN_EXTENSIONS": os.pathsep.join(str(p) for p in files.values())}
    subprocess.run([PY, "-m", "flatenn", "recompute", "--study", str(ROOT / "expected" / study), "--plan",
                    str(ROOT / "config/analysis.yaml"), "--out", str(out)], check=True, capture_output=True, env=env)
    stored = ROOT / "expected" / study
    for name in ("claims.csv", "claims_interaction.csv", "sharpness_explains.csv"):
        assert compare.table_differences(stored / name, out / name) == [], name
    assert compare.text_differences((stored / "findings.md").read_text(), (out / "findings.md").read_text()) == []

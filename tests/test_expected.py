"""The stored studies (expected/*/ with a findings.md) agree with their own per-seed tables under
the analysis plan, and the README's findings are the ones `make findings` writes from them."""
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import PY, ROOT
from flatenn import compare, report

STUDIES = sorted(p.parent for p in (ROOT / "expected").glob("*/findings.md"))


RECOMPUTED = ("claims.csv", "claims_by_rate.csv", "claims_interaction.csv", "sharpness_explains.csv",
              "claims_slope.csv", "c1_vs_sparsity.csv")
PER_SEED = ("fault_accuracy_by_seed.csv", "sharpness.csv", "clean_accuracy.csv")
KEYS = {"rate"}  # a float that identifies a row: the same in every table, never perturbed


def recompute_and_compare(study, per_seed_dir, out):
    """`flatenn recompute` on ``per_seed_dir``'s per-seed tables; the differences from ``study``'s
    stored claims tables beyond summation order (compare.table_differences), findings.md exact."""
    subprocess.run([PY, "-m", "flatenn", "recompute", "--study", str(per_seed_dir), "--plan",
                    str(ROOT / "config/analysis.yaml"), "--out", str(out)], check=True, capture_output=True)
    diffs = {name: compare.table_differences(study / name, out / name) for name in RECOMPUTED}
    diffs["findings.md"] = [] if (out / "findings.md").read_text() == (study / "findings.md").read_text() else ["text"]
    return {k: v for k, v in diffs.items() if v}


@pytest.mark.parametrize("study", STUDIES, ids=lambda p: p.name)
def test_a_study_recomputes_to_its_stored_claims_without_training(study, tmp_path):
    """`flatenn recompute` on the study's per-seed tables with the repository's plan gives its
    claims tables (every verdict, text and integer cell exact, floats within compare.RTOL: another
    CPU sums in another order) and its findings.md exactly, so the stored verdicts are the plan's."""
    assert recompute_and_compare(study, study, tmp_path) == {}


def test_last_digit_noise_in_the_per_seed_tables_changes_no_stored_claim(tmp_path):
    """What another CPU does to the inputs: every measured float of a study's per-seed tables moved
    in its last digits (a few ulps, both signs); the recomputed claims still match the stored
    ones, and a change of a verdict-sized amount is caught."""
    study = ROOT / "expected" / "default"
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    rng = np.random.default_rng(0)
    for name in PER_SEED:
        t = pd.read_csv(study / name)
        for c in t.columns:
            if pd.api.types.is_float_dtype(t[c]) and c not in KEYS:
                t[c] = t[c] * (1 + rng.choice([-4, -1, 1, 4], len(t)) * np.finfo(float).eps)
        t.to_csv(noisy / name, index=False)
        assert not (noisy / name).read_bytes() == (study / name).read_bytes()
    assert recompute_and_compare(study, noisy, tmp_path / "out") == {}
    faulty = pd.read_csv(noisy / "fault_accuracy_by_seed.csv")  # one point off every faulty standard network
    faulty["accuracy"] = faulty.accuracy - 0.01 * ((faulty.variant == "standard") & (faulty.rate > 0))
    faulty.to_csv(noisy / "fault_accuracy_by_seed.csv", index=False)
    assert "claims.csv" in recompute_and_compare(study, noisy, tmp_path / "moved")


def test_readme_findings_are_the_generated_ones():
    readme = (ROOT / "README.md").read_text()
    table = report.findings_table({s.name: s for s in STUDIES})
    assert report.readme_with_findings(readme, table) == readme, "run `make findings`"
    assert len(STUDIES) >= 1 and all(f"| {s.name} " in readme for s in STUDIES)


def test_each_study_keeps_its_per_seed_tables():
    for s in STUDIES:
        for name, key in (("clean_accuracy", "seed"), ("fault_accuracy_by_seed", "seed"), ("sharpness", "seed")):
            assert key in pd.read_csv(s / f"{name}.csv").columns, (s.name, name)

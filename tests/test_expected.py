"""The stored studies (expected/*/ with a findings.md) agree with their own per-seed tables under
the analysis plan, and the README's findings are the ones `make findings` writes from them."""
import subprocess

import pandas as pd
import pytest

from conftest import PY, ROOT
from flatenn import report

STUDIES = sorted(p.parent for p in (ROOT / "expected").glob("*/findings.md"))


@pytest.mark.parametrize("study", STUDIES, ids=lambda p: p.name)
def test_a_study_recomputes_to_its_stored_claims_without_training(study, tmp_path):
    """`flatenn recompute` on the study's per-seed tables with the repository's plan gives its
    claims tables and findings.md to the byte (so the stored verdicts are the plan's)."""
    subprocess.run([PY, "-m", "flatenn", "recompute", "--study", str(study), "--plan", str(ROOT / "config/analysis.yaml"),
                    "--out", str(tmp_path)], check=True, capture_output=True)
    for name in ("claims.csv", "claims_by_rate.csv", "claims_interaction.csv", "sharpness_explains.csv",
                 "claims_slope.csv", "c1_vs_sparsity.csv", "findings.md"):
        assert (tmp_path / name).read_bytes() == (study / name).read_bytes(), name


def test_readme_findings_are_the_generated_ones():
    readme = (ROOT / "README.md").read_text()
    table = report.findings_table({s.name: s for s in STUDIES})
    assert report.readme_with_findings(readme, table) == readme, "run `make findings`"
    assert len(STUDIES) >= 1 and all(f"| {s.name} " in readme for s in STUDIES)


def test_each_study_keeps_its_per_seed_tables():
    for s in STUDIES:
        for name, key in (("clean_accuracy", "seed"), ("fault_accuracy_by_seed", "seed"), ("sharpness", "seed")):
            assert key in pd.read_csv(s / f"{name}.csv").columns, (s.name, name)

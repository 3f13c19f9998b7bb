"""The stored studies (expected/*/ with a findings.md) agree with their own per-seed tables under
the analysis plan, and the README's findings are the ones `make findings` writes from them."""
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import PY, ROOT
from flatenn import compare, findings

STUDIES = sorted(p.parent for p in (ROOT / "expected").glob("*/findings.md"))


RECOMPUTED = ("claims.csv", "claims_by_rate.csv", "claims_interaction.csv", "sharpness_explains.csv",
              "claims_slope.csv", "c1_vs_sparsity.csv")
MECHANISM = ("intervention.csv", "mechanism_explained.csv")  # where a study keeps mechanism.csv
OPTIONAL = MECHANISM + ("budget_stability.csv", "against_pilot.csv", "against_pilot_by_claim.csv")  # where a study has them
PER_SEED = ("fault_accuracy_by_seed.csv", "sharpness.csv", "clean_accuracy.csv")
KEYS = {"rate"}  # a float that identifies a row: the same in every table, never perturbed


def recompute_and_compare(study, per_seed_dir, out):
    """`flatenn recompute` on ``per_seed_dir``'s per-seed tables; the differences from ``study``'s
    stored claims tables beyond summation order (compare.table_differences) and findings.md's
    beyond the rounding of its numbers (compare.text_differences)."""
    subprocess.run([PY, "-m", "flatenn", "recompute", "--study", str(per_seed_dir), "--plan",
                    str(ROOT / "config/analysis.yaml"), "--out", str(out)], check=True, capture_output=True)
    names = RECOMPUTED + tuple(n for n in OPTIONAL if (study / n).is_file())
    diffs = {name: compare.table_differences(study / name, out / name) for name in names}
    diffs["findings.md"] = compare.text_differences((study / "findings.md").read_text(), (out / "findings.md").read_text())
    return {k: v for k, v in diffs.items() if v}


@pytest.mark.parametrize("study", STUDIES, ids=lambda p: p.name)
def test_a_study_recomputes_to_its_stored_claims_without_training(study, tmp_path):
    """`flatenn recompute` on the study's per-seed tables with the repository's plan gives its
    claims tables (every verdict, text and integer cell exact, floats within compare.RTOL: another
    CPU sums in another order) and its findings.md (words exact, numbers to their last printed
    digit), so the stored verdicts are the plan's."""
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
    import yaml

    from flatenn import headline
    from flatenn.jobs import tables as jobs_tables

    readme = (ROOT / "README.md").read_text()
    declared = yaml.safe_load((ROOT / "expected/headline.yaml").read_text())
    table = jobs_tables.headline_table(ROOT / "expected/headline.yaml")
    assert findings.readme_with_findings(readme, table) == readme, "run `make findings`"
    # one line per claim of the paper; the unconverged pilot decides none
    assert set(declared) - {headline.AGAINST_PILOT} == set(headline.STATEMENTS) and "depth" not in set(declared.values())
    first = readme[:readme.index("<!-- end of findings -->")]
    assert "no difference shown" not in first and len(readme.splitlines()) <= 200


@pytest.mark.parametrize("study", STUDIES, ids=lambda p: p.name)
def test_each_correlation_reading_stands_beside_an_interval_of_its_own_correction(study):
    """sharpness_explains.csv: a relation is read exactly where the family-wise (Bonferroni)
    interval excludes zero, the interval never leaves [-1, 1] and holds the estimate."""
    ex = pd.read_csv(study / "sharpness_explains.csv").dropna(subset=["p_adjusted"])
    excludes = (ex.ci_low > 0) | (ex.ci_high < 0)
    assert (excludes == (ex.reading != "no relation shown")).all()
    assert (ex.ci_low >= -1).all() and (ex.ci_high <= 1).all()
    assert ((ex.ci_low <= ex.rho) & (ex.rho <= ex.ci_high) & (ex.ci_low < ex.ci_high)).all()


def test_each_study_keeps_its_per_seed_tables():
    from flatenn.study import study_parts

    for s in STUDIES:
        for part in study_parts(s):  # a study run in parts keeps them per part (or its half budget first)
            names = ("clean_accuracy", "fault_accuracy_by_seed", "sharpness")
            if not (part / "clean_accuracy.csv").is_file():
                part, names = part / "half", names[:2]
            for name in names:
                assert "seed" in pd.read_csv(part / f"{name}.csv").columns, (part, name)


def split_by_arch(study, root):
    """The study's per-seed tables cut into one folder per architecture: a study run in parts."""
    parts = []
    for arch in sorted(pd.read_csv(study / "clean_accuracy.csv").arch.unique()):
        part = root / arch
        part.mkdir(parents=True)
        for name in PER_SEED + ("mechanism.csv",):
            df = pd.read_csv(study / name)
            df[df.arch == arch].to_csv(part / name, index=False)
        parts.append(part)
    return parts


def test_a_study_run_in_parts_recomputes_from_its_parts_to_the_same_claims(tmp_path):
    """expected/depth cut into one part per architecture: `flatenn recompute` over the parts gives
    the stored claims and mechanism inference; parts that share a network are a one-line error."""
    study = ROOT / "expected/depth"
    parts = split_by_arch(study, tmp_path / "parts")
    out = tmp_path / "out"
    subprocess.run([PY, "-m", "flatenn", "recompute", "--study", *map(str, parts), "--plan",
                    str(ROOT / "config/analysis.yaml"), "--out", str(out)], check=True, capture_output=True)
    assert {n: d for n in RECOMPUTED + MECHANISM if (d := compare.table_differences(study / n, out / n))} == {}
    assert compare.text_differences((study / "findings.md").read_text(), (out / "findings.md").read_text()) == []
    bad = subprocess.run([PY, "-m", "flatenn", "recompute", "--study", str(parts[0]), str(parts[0]), "--plan",
                          str(ROOT / "config/analysis.yaml"), "--out", str(tmp_path / "bad")],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1].startswith(
        "flatenn recompute: error: clean: network lenet5 as_g15 conventional seed 0 appears in two parts")


def test_store_part_keeps_a_finished_run_as_a_part_and_never_overwrites_one(tmp_path):
    """expected/depth as three finished runs, one per architecture, each stored by `flatenn
    store-part`: every table byte for byte with the run's provenance, and the study recomputes from
    its parts to the stored claims, a hidden leftover of an interrupted copy ignored; a second store
    into the same part, or a run without its sharpness table, is a one-line error that leaves no part."""
    import shutil

    study, root = ROOT / "expected/depth", tmp_path / "study"
    store = lambda run, part: subprocess.run([PY, "-m", "flatenn", "store-part", "--run", str(run), "--part",  # noqa: E731
                                              str(part)], capture_output=True, text=True)
    runs = []
    for split in split_by_arch(study, tmp_path / "split"):
        run = tmp_path / "runs" / split.name
        (run / "results").mkdir(parents=True)
        shutil.copytree(split, run / "paper_tables")
        (run / "results/provenance.json").write_text(f'{{"commit": "{split.name}"}}\n')
        assert store(run, root / "parts" / split.name).returncode == 0
        runs.append(run)
    for run in runs:
        part = root / "parts" / run.name
        assert sorted(p.name for p in part.iterdir()) == sorted(["provenance.json", "mechanism.csv", *PER_SEED])
        assert all((part / f.name).read_bytes() == f.read_bytes() for f in (run / "paper_tables").iterdir())
    (root / "parts/.resnet8.partial").mkdir()
    shutil.copy(runs[0] / "paper_tables/clean_accuracy.csv", root / "parts/.resnet8.partial")
    assert recompute_and_compare(study, root, tmp_path / "out") == {}
    again = store(runs[0], root / "parts" / runs[0].name)
    assert again.returncode == 2 and again.stderr.strip() == (
        f"flatenn store-part: error: --part: {root / 'parts' / runs[0].name} already exists (a stored part is never "
        "overwritten)")
    (runs[1] / "paper_tables/sharpness.csv").unlink()
    lacking = store(runs[1], root / "parts/other")
    assert lacking.returncode == 2 and lacking.stderr.strip() == (
        f"flatenn store-part: error: --run: {runs[1] / 'paper_tables/sharpness.csv'} is missing (is the run finished?)")
    assert not (root / "parts/other").exists() and not (root / "parts/.other.partial").exists()


def test_families_across_architectures_wait_for_every_declared_architecture(tmp_path):
    """expected/depth stored in parts without ResNet-20, its study.yaml declaring all three: each
    architecture's claims are the stored ones (their families are per architecture), while the
    between-architecture family and the mechanism's families, which include ResNet-20, decide
    nothing and say that they wait for it; a part the study does not declare is an error."""
    study = ROOT / "expected/depth"
    root = tmp_path / "study"
    parts = split_by_arch(study, root / "parts")
    for name in PER_SEED + ("mechanism.csv",):
        (root / "parts/resnet20" / name).unlink()
    (root / "parts/resnet20").rmdir()
    (root / "study.yaml").write_text("archs: [lenet5, resnet8, resnet20]\n")
    subprocess.run([PY, "-m", "flatenn", "recompute", "--study", str(root), "--plan",
                    str(ROOT / "config/analysis.yaml")], check=True, capture_output=True)
    stored = pd.read_csv(study / "claims.csv")
    stored[stored.arch != "resnet20"].to_csv(tmp_path / "claims.csv", index=False)
    assert compare.table_differences(tmp_path / "claims.csv", root / "claims.csv") == []
    assert len(pd.read_csv(study / "claims_interaction.csv")) > 0  # decided when all three are stored
    for name in ("claims_interaction.csv", "intervention.csv", "mechanism_explained.csv"):
        assert pd.read_csv(root / name).empty, name
    assert "## Between architectures: not decided yet" in (root / "findings.md").read_text()
    # a stored study keeps csv tables and its two findings, nothing a reviewer would find untracked
    assert sorted(p.name for p in root.glob("*.*")) == sorted(
        ["study.yaml", "findings.md", "mechanism_findings.md", *RECOMPUTED, *MECHANISM])
    assert "includes resnet20, not completely stored yet" in (root / "findings.md").read_text()
    assert "include resnet20, not completely stored yet" in (root / "mechanism_findings.md").read_text()
    assert "- resnet20: no claim decided; its parts lack every network." in (root / "findings.md").read_text()
    (root / "study.yaml").write_text("archs: [lenet5, resnet20]\n")
    bad = subprocess.run([PY, "-m", "flatenn", "recompute", "--study", str(root), "--plan",
                          str(ROOT / "config/analysis.yaml")], capture_output=True, text=True)
    assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1] == (
        "flatenn recompute: error: --study: the parts hold resnet8, which the study's study.yaml does not declare")
    assert len(parts) == 3


def test_an_architecture_stored_in_part_waits_for_all_its_networks(tmp_path):
    """expected/depth_converged stored a part at a time: while ResNet-8's seeds 3-4 (then their half
    budget) are missing, none of its claims is decided and findings.md names what it lacks, the other
    architectures' rows are the stored ones; with every part in place the stored claims come back exactly."""
    import shutil

    study = ROOT / "expected/depth_converged"
    root = tmp_path / "study"
    (root / "parts").mkdir(parents=True)
    shutil.copy(study / "study.yaml", root / "study.yaml")
    for part in (study / "parts").iterdir():
        if part.name != "resnet8_s34":
            shutil.copytree(part, root / "parts" / part.name)

    def recompute():
        return subprocess.run([PY, "-m", "flatenn", "recompute", "--study", str(root), "--plan",
                               str(ROOT / "config/analysis.yaml")], check=True, capture_output=True, text=True).stdout

    stored = pd.read_csv(study / "claims.csv")
    assert "resnet8 is not decided yet: its parts lack 6 of 15 networks (seeds 3, 4) and 6 of 15 networks at " \
           "half the budget (seeds 3, 4)" in recompute()
    assert set(pd.read_csv(root / "claims.csv").arch) == {"lenet5", "resnet20"}
    assert set(stored.arch) == {"lenet5", "resnet8", "resnet20"}
    stored[stored.arch != "resnet8"].to_csv(tmp_path / "decided.csv", index=False)
    assert compare.table_differences(tmp_path / "decided.csv", root / "claims.csv") == []
    assert "- resnet8: no claim decided; its parts lack 6 of 15 networks (seeds 3, 4)" in (root / "findings.md").read_text()
    # the half budget may be stored first: a part holding only half/ counts its networks there
    shutil.copytree(study / "parts/resnet8_s34/half", root / "parts/resnet8_s34/half")
    assert "resnet8 is not decided yet: its parts lack 6 of 15 networks (seeds 3, 4)\n" in recompute()
    shutil.rmtree(root / "parts/resnet8_s34")
    shutil.copytree(study / "parts/resnet8_s34", root / "parts/resnet8_s34", ignore=shutil.ignore_patterns("half"))
    assert "resnet8 is not decided yet: its parts lack 6 of 15 networks at half the budget (seeds 3, 4)" in recompute()
    assert set(pd.read_csv(root / "claims.csv").arch) == {"lenet5", "resnet20"}
    shutil.copytree(study / "parts/resnet8_s34/half", root / "parts/resnet8_s34/half")
    assert "resnet8 is not decided" not in recompute()
    assert {n: d for n in RECOMPUTED + OPTIONAL
            if (study / n).is_file() and (d := compare.table_differences(study / n, root / n))} == {}
    # words, not bytes: findings.md's numbers come from floats recomputed on this CPU
    assert "resnet8: no claim decided" not in (root / "findings.md").read_text()
    (root / "parts/resnet8_s34").rename(root / "resnet8_s34")  # seed 4 only at half the budget
    shutil.copytree(root / "resnet8_s34/half", root / "parts/resnet8_s34/half")
    (root / "study.yaml").write_text("archs: [lenet5, resnet8, resnet20]\nseeds: [0, 1, 2, 3]\n")
    bad = subprocess.run([PY, "-m", "flatenn", "recompute", "--study", str(root), "--plan",
                          str(ROOT / "config/analysis.yaml")], capture_output=True, text=True)
    assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1] == (
        "flatenn recompute: error: --study: the parts hold seed 4, which the study's study.yaml does not declare")
    (root / "study.yaml").write_text("archs: [lenet5, resnet8, resnet20]\nseeds: [0, one]\n")
    bad = subprocess.run([PY, "-m", "flatenn", "recompute", "--study", str(root), "--plan",
                          str(ROOT / "config/analysis.yaml")], capture_output=True, text=True)
    assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1] == (
        f"flatenn recompute: error: {root / 'study.yaml'}: seeds: a list of integer seeds is required")
    shutil.copytree(root / "resnet8_s34/half", tmp_path / "halves/parts/resnet8_s34/half")
    bad = subprocess.run([PY, "-m", "flatenn", "recompute", "--study", str(tmp_path / "halves"), "--plan",
                          str(ROOT / "config/analysis.yaml")], capture_output=True, text=True)
    assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1] == (
        "flatenn recompute: error: --study: no part holds full-budget tables (clean_accuracy.csv and the rest)")


def test_budget_stability_decides_c1_as_the_claims_do_and_finds_a_verdict_that_moves():
    """Known answers on expected/depth: C1 decided from the fault and clean tables alone is the
    claims table's C1 (verdicts and adjusted p); the same networks as their own half budget move
    no verdict and keep every sign; a half budget whose AS and standard networks trade places
    (C1's quantity negated on every network, up to its window) moves every decided verdict."""
    from flatenn import budget, claims, config

    study = ROOT / "expected/depth"
    plan = config.load_plan(ROOT / "config/analysis.yaml")
    sm, clean = pd.read_csv(study / "fault_accuracy_by_seed.csv"), pd.read_csv(study / "clean_accuracy.csv")
    chance = {"fashion_mnist": 0.1}
    c1 = claims.fault_claim_alone(sm, clean, plan, chance)
    stored = pd.read_csv(study / "claims.csv")
    stored = stored[(stored.claim == "C1") & stored.role.isin(["primary", "secondary"])]
    keys = ["arch", "fault", "comparison", "role", "quantity"]
    j = c1.merge(stored, on=keys, suffixes=("", "_stored"))
    assert len(j) == len(stored) == len(c1)
    assert (j.verdict == j.verdict_stored).all() and np.allclose(j.p_adjusted, j.p_adjusted_stored, rtol=1e-9)
    same = budget.budget_stability({"seed_means": sm, "clean": clean}, {"seed_means": sm, "clean": clean}, plan, chance)
    assert len(same) == len(stored[stored.role == "primary"]) and not same.depends_on_budget.any()
    assert (same.seeds_same_sign == same.seeds).all() and (same.seeds == 6).all()
    swap = {"standard": "as_g15", "as_g15": "standard"}
    flipped = {"seed_means": sm.assign(variant=sm.variant.map(swap)), "clean": clean.assign(variant=clean.variant.map(swap))}
    moved = budget.budget_stability({"seed_means": sm, "clean": clean}, flipped, plan, chance)
    decided = moved.converged_verdict != "INCONCLUSIVE"
    assert decided.any() and moved[decided].depends_on_budget.all()
    assert (moved[decided].half_verdict == moved[decided].converged_verdict.map({"PASS": "FAIL", "FAIL": "PASS"})).all()
    # the swap negates C1's quantity up to each network's own window of rates: few signs survive
    assert moved.seeds_same_sign.sum() <= same.seeds_same_sign.sum() / 10
    text = findings.findings(stored.iloc[:0].assign(role="primary"), pd.DataFrame(), pd.DataFrame(), None, moved)
    for arch, g in moved.groupby("arch"):  # one line per architecture; one verdict "depends", more "depend"
        n = int(g.depends_on_budget.sum())
        assert not n or f"- {arch} (fashion_mnist): family verdict" in text and \
            f"{n} of {len(g)} primary verdicts depend{'s' * (n == 1)} on the budget (" in text


def test_the_stored_ladder_recomputes_from_its_rungs(tmp_path):
    """expected/depth/ladder: `flatenn ladder` over the stored rungs' per-network tables gives the
    stored ladder and convergence tables (the budgets each architecture's study runs at) and the
    words its README points to (budget_findings.md, numbers to their last printed digit)."""
    ladder = ROOT / "expected/depth/ladder"
    out = tmp_path
    subprocess.run([PY, "-m", "flatenn", "ladder", "--rungs", *map(str, sorted(ladder.glob("x*"))), "--plan",
                    str(ROOT / "config/analysis.yaml"), "--out", str(out / "budget_ladder.csv"), "--convergence",
                    str(out / "budget_convergence.csv"), "--figure", str(out / "budget_ladder.png"),
                    "--findings", str(out / "budget_findings.md")], check=True, capture_output=True)
    for name in ("budget_ladder.csv", "budget_convergence.csv"):
        assert compare.table_differences(ladder / name, out / name) == [], name
    stored, new = ((d / "budget_findings.md").read_text() for d in (ladder, out))
    assert compare.text_differences(stored, new) == []

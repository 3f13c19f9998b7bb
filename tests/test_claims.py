"""Known answers for every claim under the analysis plan: a planted effect gives PASS, the
opposite FAIL, none INCONCLUSIVE; clean gaps and floors cannot move C1; the plan's family,
correction, window and TOST are the ones applied."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from conftest import ROOT
from flatenn import aggregate, claims, config, findings, registry, stats

VARIANTS, TRAININGS, SEEDS, TRIALS = ["standard", "as_high"], ["conventional", "saq"], range(6), 8
RATES = [0.0, 0.01, 0.03, 0.1, 0.3]  # the standard network keeps 82, 55, 14 and 0 % above chance
CHANCE = {"d": 0.1}
PLAN = config.load_plan(ROOT / "config/analysis.yaml")
EXPECTED = {1: "PASS", -1: "FAIL", 0: "INCONCLUSIVE"}


def kept(rate):
    """The share of above-chance accuracy a network keeps at a cell fault rate (the same response
    for every network unless a test shifts it)."""
    return np.exp(-rate / 0.05)


def synthetic_trials(rng, clean=None, lost_shift=None, acc_shift=None, arch="lenet5") -> pd.DataFrame:
    """Per-trial accuracies with seed and map noise; ``lost_shift``/``acc_shift`` map
    (variant, training) to extra accuracy lost / gained under faults (not at floor rates)."""
    clean, lost_shift, acc_shift = clean or {}, lost_shift or {}, acc_shift or {}
    rows = []
    for s in SEEDS:
        seed_noise = {m: rng.normal(0, 0.004) for m in [(v, t) for v in VARIANTS for t in TRAININGS]}
        for fault in ("bitflip", "sa1"):
            for rate in RATES:
                for trial in range(TRIALS if rate else 1):
                    map_noise = rng.normal(0, 0.01)  # shared within a seed: common random numbers
                    for v in VARIANTS:
                        for t in TRAININGS:
                            c = clean.get((v, t), 0.9) + seed_noise[(v, t)] / 4
                            shift = (acc_shift.get((v, t), 0.0) - lost_shift.get((v, t), 0.0)) * (kept(rate) > 0.05)
                            acc = c if rate == 0 else (0.1 + (c - 0.1) * kept(rate) + shift + seed_noise[(v, t)]
                                                       + map_noise + rng.normal(0, 0.002))
                            rows.append({"dataset": "d", "arch": arch, "variant": v, "training": t, "seed": s,
                                         "fault": fault, "rate": rate, "trial": trial, "accuracy": acc})
    return pd.DataFrame(rows)


def synthetic_sharpness(rng, as_factor=1.0, saq_factor=1.0, arch="lenet5", other=None) -> pd.DataFrame:
    """Every metric 10 x factor with 3 % noise; ``other`` scales the non-fault metrics instead."""
    rows = []
    for s in SEEDS:
        for v in VARIANTS:
            for t in TRAININGS:
                f = (as_factor if v != "standard" else 1.0) * (saq_factor if t == "saq" else 1.0)
                g = f if other is None else (other if v != "standard" else 1.0)
                rows.append({"dataset": "d", "arch": arch, "variant": v, "training": t, "seed": s,
                             **{m: 10 * (f if m.startswith("fault_curvature") else g) * (1 + rng.normal(0, 0.03))
                                for m in aggregate.metric_names(registry.FAULTS)}, "loss": 0.3})
    return pd.DataFrame(rows)


def synthetic_clean(rng, saq_gap, sd=0.002, arch="lenet5") -> pd.DataFrame:
    return pd.DataFrame([{"dataset": "d", "arch": arch, "variant": v, "training": t, "seed": s,
                          "accuracy": 0.9 + (saq_gap if t == "saq" else 0) + rng.normal(0, sd),
                          "activation_sparsity": 0.5} for s in SEEDS for v in VARIANTS for t in TRAININGS])


def run_claims(trials, sharp=None, clean=None, rng=None, plan=PLAN) -> dict:
    rng = rng or np.random.default_rng(0)
    sharp = synthetic_sharpness(rng) if sharp is None else sharp
    clean = synthetic_clean(rng, 0.0) if clean is None else clean
    return claims.evaluate(aggregate.seed_means(trials), sharp, clean, plan, CHANCE, {"lenet5": 5, "resnet20": 20})


def rows(table, claim, role="primary"):
    return table[(table.claim == claim) & (table.role == role)]


@pytest.mark.parametrize("sign", [1, -1, 0])
def test_c1_is_decided_on_the_share_of_above_chance_accuracy_kept(sign):
    rng = np.random.default_rng(10 + sign)
    out = run_claims(synthetic_trials(rng, lost_shift={("as_high", "conventional"): 0.05 * sign}))
    c1 = rows(out["claims"], "C1")
    assert len(c1) == 2 and set(c1.verdict) == {EXPECTED[sign]}, c1[["fault", "measured_value", "p_adjusted"]]
    assert set(c1.quantity) == {"retained_gap"} and set(c1.window_rates) == {"0.01, 0.03, 0.1"}
    if sign:  # 5 points of 80 above chance: 6.25 points of the share kept
        assert c1.measured_value.mean() == pytest.approx(6.25 * sign, abs=0.7)
    assert set(out["by_rate"].query("claim == 'C1'").rate) == {0.01, 0.03, 0.1, 0.3}


def test_c1_known_answer_same_fault_response_five_points_apart_clean():
    """Two networks with the same response, faulty = chance + (clean - chance) g(rate), the AS one
    5 points worse clean, sweeps that reach chance: no difference in robustness, so C1 is
    INCONCLUSIVE. The former quantity (accuracy lost over every rate) says FAIL."""
    rng = np.random.default_rng(3)
    trials = synthetic_trials(rng, clean={("as_high", "conventional"): 0.85, ("as_high", "saq"): 0.85})
    table = run_claims(trials)["claims"]
    assert set(rows(table, "C1").verdict) == {"INCONCLUSIVE"}
    former = rows(table, "C1", "secondary").query("quantity == 'lost_gap_all_rates'")
    assert set(former.verdict) == {"FAIL"} and (former.ci_high < 0).all()


def test_floor_rates_never_enter_a_decision():
    """A difference planted only where both networks sit at chance changes no primary value."""
    rng = np.random.default_rng(4)
    base = synthetic_trials(rng)
    floored = base.copy()
    at_floor = (floored.rate == 0.3) & (floored.variant == "as_high")
    floored.loc[at_floor, "accuracy"] += 0.05
    a, b = (rows(run_claims(t)["claims"], "C1").measured_value.to_numpy() for t in (base, floored))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("sign", [1, -1, 0])
def test_c3_saq_gain(sign):
    rng = np.random.default_rng(23 + sign)
    table = run_claims(synthetic_trials(rng, acc_shift={(v, "saq"): 0.05 * sign for v in VARIANTS}))["claims"]
    c3 = rows(table, "C3")
    assert len(c3) == 4 and set(c3.verdict) == {EXPECTED[sign]}
    assert set(c3.paper_v1) == {"36.71", "24.76"} and set(c3.paper_latest) == {"19.50", "15.82"}


@pytest.mark.parametrize("sign", [1, -1, 0])
def test_c4_saq_as_beats_conventional_standard(sign):
    rng = np.random.default_rng(30 + sign)
    c4 = rows(run_claims(synthetic_trials(rng, acc_shift={("as_high", "saq"): 0.05 * sign}))["claims"], "C4")
    assert len(c4) == 2 and set(c4.verdict) == {EXPECTED[sign]}


@pytest.mark.parametrize("sign", [1, -1, 0])
def test_c2_as_more_curved_along_the_faults(sign):
    rng = np.random.default_rng(40 + sign)
    table = run_claims(synthetic_trials(rng), sharp=synthetic_sharpness(rng, as_factor=1 + 0.3 * sign))["claims"]
    c2 = rows(table, "C2")
    assert set(c2.quantity) == set(PLAN["claims"]["C2"]["primary"]) and set(c2.verdict) == {EXPECTED[sign]}
    assert set(rows(table, "C2", "secondary").quantity) == set(PLAN["claims"]["C2"]["secondary"])


def test_c2_flags_secondary_metrics_that_disagree_in_sign():
    rng = np.random.default_rng(44)
    table = run_claims(synthetic_trials(rng), sharp=synthetic_sharpness(rng, as_factor=1.3, other=0.7))["claims"]
    c2 = rows(table, "C2")
    assert set(c2.verdict) == {"PASS"}
    assert set(c2.secondary_disagree) == {", ".join(sorted(PLAN["claims"]["C2"]["secondary"]))}


@pytest.mark.parametrize("sign", [1, -1, 0])
def test_c5_saq_flatter(sign):
    rng = np.random.default_rng(50 + sign)
    table = run_claims(synthetic_trials(rng), sharp=synthetic_sharpness(rng, saq_factor=1 - 0.3 * sign))["claims"]
    c5 = rows(table, "C5")
    assert len(c5) == 6 and set(c5.verdict) == {EXPECTED[sign]}


@pytest.mark.parametrize("gap,sd,expected", [(0.0, 0.002, "PASS"), (0.04, 0.002, "FAIL"), (0.01, 0.02, "INCONCLUSIVE")])
def test_c5_clean_is_a_tost_on_the_90_percent_interval(gap, sd, expected):
    rng = np.random.default_rng(60)
    clean = synthetic_clean(rng, gap, sd)
    c = rows(run_claims(synthetic_trials(rng), clean=clean)["claims"], "C5-clean")
    assert set(c.verdict) == {expected}
    e = clean[clean.variant == "standard"].pivot(index="seed", columns="training", values="accuracy")
    ci = stats.mean_ci(100 * (e.saq - e.conventional), 0.90)
    row = c[c.a_variant == "standard"].iloc[0]
    assert (row.ci_low, row.ci_high) == pytest.approx((ci["ci_low"], ci["ci_high"]))


def test_bonferroni_over_the_family_decides_and_its_interval_agrees():
    """The family's correction decides, not the raw p; and every primary verdict stands beside
    the interval of the same correction: PASS/FAIL exactly where the family-wise interval
    (level 1 - alpha/m) excludes zero, on every row of the default study as well."""
    rng = np.random.default_rng(71)
    table = run_claims(synthetic_trials(rng, lost_shift={("as_high", "conventional"): 0.012}))["claims"]
    c1 = rows(table, "C1")
    assert np.allclose(c1.p_adjusted, np.minimum(1, 2 * c1.p_value)) and (c1.family_size == 2).all()
    assert ((c1.verdict == "PASS") == (c1.p_adjusted < 0.05)).all()
    stored = pd.read_csv(ROOT / "expected/default/claims.csv")
    for t in (table, stored):
        p = t[(t.role == "primary") & (t.claim != "C5-clean")]
        excludes = (p.adj_ci_low > 0) | (p.adj_ci_high < 0)
        assert ((p.verdict != "INCONCLUSIVE") == excludes).all()
        row = p.iloc[0]  # the family-wise half-width is the 95 % one at level 1 - 0.05/m
        ratio = st.t.ppf(1 - 0.05 / (2 * row.family_size), row.n_seeds - 1) / st.t.ppf(0.975, row.n_seeds - 1)
        assert row.adj_ci_high - row.adj_ci_low == pytest.approx(ratio * (row.ci_high - row.ci_low))


def test_up_to_is_the_largest_cell_with_a_bonferroni_interval_over_every_cell():
    rng = np.random.default_rng(80)
    trials = synthetic_trials(rng, lost_shift={("as_high", "conventional"): 0.05})
    up = run_claims(trials)["claims"].query("claim == 'C1' and role == 'exploratory'").iloc[0]
    cells = 2 * 4  # two fault types x four faulty rates, one AS level
    assert f"{cells} cells searched" in up["aggregate"]
    by_seed = aggregate.paired_by_seed(aggregate.seed_means(trials), aggregate.comparisons(VARIANTS, TRAININGS))
    cell = by_seed[(by_seed.fault == up.fault) & (by_seed.rate == up.rate)
                   & (by_seed.kind == "as_vs_standard") & (by_seed.a_training == "conventional")]
    ci = stats.mean_ci(-100 * cell["diff"], 1 - 0.05 / cells)
    assert (up.measured_value, up.ci_low, up.ci_high) == pytest.approx((ci["mean"], ci["ci_low"], ci["ci_high"]))


def test_interaction_between_architectures_and_the_change_of_sign():
    rng = np.random.default_rng(90)
    t = pd.concat([synthetic_trials(rng, lost_shift={("as_high", "conventional"): -0.05}),
                   synthetic_trials(rng, lost_shift={("as_high", "conventional"): 0.05}, arch="resnet20")])
    s = pd.concat([synthetic_sharpness(rng), synthetic_sharpness(rng, arch="resnet20")])
    c = pd.concat([synthetic_clean(rng, 0.0), synthetic_clean(rng, 0.0, arch="resnet20")])
    inter = run_claims(t, s, c)["interaction"]
    assert len(inter) == 2 and set(inter.arch_a) == {"lenet5"} and set(inter.arch_b) == {"resnet20"}
    # each contrast names the networks it compares as columns, as the claims table does
    assert set(zip(inter.comparison, inter.a_variant, inter.a_training, inter.b_variant, inter.b_training)) == {
        ("as_high-standard (conventional)", "as_high", "conventional", "standard", "conventional")}
    assert (inter.verdict == "deeper loses more").all() and inter.changes_sign.all()
    assert np.allclose(inter.p_adjusted, np.minimum(1, 2 * inter.p_value))
    same = pd.concat([synthetic_trials(rng, lost_shift={("as_high", "conventional"): 0.05}),
                      synthetic_trials(rng, lost_shift={("as_high", "conventional"): 0.05}, arch="resnet20")])
    inter = run_claims(same, s, c)["interaction"]
    assert not inter.changes_sign.any()
    # the same effect in both architectures: equivalent at a margin wider than the noise, undetermined
    # at one narrower than it (never "no difference")
    assert (inter.eq_ci_low > -5).all() and (inter.eq_ci_high < 5).all()
    assert (inter.verdict == "equivalent within +-5 points").all()
    narrow = {**PLAN, "interaction": {**PLAN["interaction"], "margin": 0.05}}
    inter = run_claims(same, s, c, plan=narrow)["interaction"]
    assert (inter.verdict == "undetermined").all() and (inter.eq_ci_high - inter.eq_ci_low > 0.1).all()


def test_a_family_whose_only_decided_row_turns_without_one_seed_is_called_fragile():
    """Known answer: one decided row (six seeds, five far in the claim's direction, one against)
    that leaving a seed out turns: the family reads fragile, its direction is not 'shown'."""
    from flatenn import findings, verdicts

    rng = np.random.default_rng(7)
    c1 = rows(run_claims(synthetic_trials(rng, lost_shift={("as_high", "conventional"): 0.08}))["claims"], "C1")
    one = c1.iloc[:1]  # a family of one decided row that turns without seed 3
    fragile = one.assign(verdict=["PASS"], robustness=["fragile"], fragile_by=["without seed 3"])
    assert verdicts.family_words("PASS", fragile.itertuples()) == \
        "PASS (fragile: every decided row changes without one seed)"
    assert verdicts.direction("PASS", list(fragile.itertuples()), 5, 1).startswith("not shown robustly")
    assert verdicts.direction("FAIL", list(fragile.assign(verdict=["FAIL"]).itertuples()), 1, 5).startswith(
        "not supported: no row decides for it")
    solid = fragile.assign(robustness=["solid"], fragile_by=[""])
    assert verdicts.family_words("PASS", solid.itertuples()) == "PASS (robust)"
    assert verdicts.direction("FAIL", list(solid.assign(verdict=["FAIL"]).itertuples()), 1, 5).startswith(
        "not supported; the opposite is shown")
    text = findings.findings(fragile.reindex(columns=claims.COLUMNS).assign(seeds_for=5, seeds_against=1),
                           pd.DataFrame(columns=claims.INTERACTION_COLUMNS),
                           pd.DataFrame(columns=claims.SHARPNESS_EXPLAINS_COLUMNS), plan=None)
    assert "PASS (fragile: every decided row changes without one seed)**" in text
    assert "the paper's claim" not in text  # a fragile family does not say what a robust one would


def test_explains_reads_a_metric_that_tracks_what_networks_keep():
    """A metric that rises exactly as the share kept falls gives rho -1 in every seed."""
    rng = np.random.default_rng(95)
    shifts = {("as_high", "conventional"): 0.06, ("as_high", "saq"): 0.03, ("standard", "saq"): -0.03}
    trials = synthetic_trials(rng, lost_shift=shifts)
    sharp = synthetic_sharpness(rng)
    loss_rank = {("standard", "saq"): 1.0, ("standard", "conventional"): 2.0, ("as_high", "saq"): 3.0,
                 ("as_high", "conventional"): 4.0}
    sharp["fault_curvature_bitflip"] = [loss_rank[(v, t)] for v, t in zip(sharp.variant, sharp.training)]
    ex = run_claims(trials, sharp)["explains"].set_index(["fault", "metric"])
    row = ex.loc[("bitflip", "fault_curvature_bitflip")]
    assert row.rho == pytest.approx(-1.0) and row.reading == "sharper networks keep less" and row.n_seeds == 6
    # the family-wise interval holds -1 and has a width: seeds that all agree are no certainty
    assert row.ci_low == -1.0 and -1.0 < row.ci_high < 0 and row.p_permutation == pytest.approx(2 / 24 ** 6)


def test_claims_table_has_the_contract_columns_and_keeps_archs_apart():
    rng = np.random.default_rng(0)
    t1, t2 = synthetic_trials(rng), synthetic_trials(rng, arch="resnet20")
    s1, s2 = synthetic_sharpness(rng), synthetic_sharpness(rng, arch="resnet20")
    c1, c2 = synthetic_clean(rng, 0.0), synthetic_clean(rng, 0.0, arch="resnet20")
    table = run_claims(pd.concat([t1, t2]), pd.concat([s1, s2]), pd.concat([c1, c2]))["claims"]
    assert list(table.columns[:19]) == ["claim", "arch", "statement", "paper_v1", "paper_latest", "measured_value",
                                        "ci_low", "ci_high", "verdict", "fault", "aggregate", "n_seeds",
                                        "trials_per_seed", "method", "mde", "p_value", "p_adjusted", "family", "role"]
    single = run_claims(t1, s1, c1)["claims"]
    assert len(table) == 2 * len(single) and set(table.arch) == {"lenet5", "resnet20"}
    assert (table.n_seeds == len(SEEDS)).all() and set(table.role) == {"primary", "secondary", "exploratory"}
    assert set(table.loc[(table.claim == "C1") & (table.role == "primary"), "trials_per_seed"]) == {TRIALS}


def test_findings_have_one_line_per_claim_and_architecture_from_the_tables():
    rng = np.random.default_rng(10)
    out = run_claims(synthetic_trials(rng, lost_shift={("as_high", "conventional"): 0.05}))
    text = findings.findings(out["claims"], out["interaction"], out["explains"])
    lines = [ln for ln in text.splitlines() if ln.startswith("- **")]
    assert [ln.split(",")[0] for ln in lines] == ["- **C1", "- **C2", "- **C3", "- **C4", "- **C5", "- **C5-clean"]
    c1 = rows(out["claims"], "C1")
    best = c1.loc[c1.p_adjusted.idxmin()]
    assert lines[0].startswith("- **C1, lenet5 (d): PASS (robust)** (2 PASS of 2 primary rows)")
    assert f"{best.measured_value:+.1f} points [{best.adj_ci_low:+.1f}, {best.adj_ci_high:+.1f}]" in lines[0]
    assert "the paper's claim" in lines[0]


def test_findings_describe_the_treatment_as_trained_per_seed_against_its_own_standard_network():
    """Known answers: two seeds, two AS levels listed weakest first; the gain and the clean cost
    are per seed against the standard network of the same seed (a level trained on other seeds
    than its partner's would pair wrongly), each a mean with its range over seeds."""
    net = lambda v, s, acc, sp: {"dataset": "d", "arch": "a", "variant": v, "training": "conventional",  # noqa: E731
                                 "seed": s, "accuracy": acc, "activation_sparsity": sp}
    clean = pd.DataFrame([net("standard", 0, 0.90, 0.40), net("standard", 1, 0.80, 0.50),
                          net("as_x", 0, 0.88, 0.80), net("as_x", 1, 0.81, 0.70),
                          net("as_y", 1, 0.80, 0.60), net("as_y", 0, 0.89, 0.50)])
    assert findings.treatment(clean) == [
        "- a (d, conventional, 2 seeds): the standard network 85.0 % clean accuracy at activation sparsity 0.45; "
        "as_y gained +0.10 (+0.10 to +0.10) at a clean cost of +0.5 points (+0.0 to +1.0); "
        "as_x gained +0.30 (+0.20 to +0.40) at a clean cost of +0.5 points (-1.0 to +2.0)."]
    text = findings.findings(pd.DataFrame(columns=claims.COLUMNS), pd.DataFrame(), pd.DataFrame(), clean=clean)
    assert "## The treatment as trained" in text and findings.treatment(clean)[0] in text
    assert findings.treatment(clean[clean.variant == "standard"]) == []


def test_the_plan_is_validated_with_a_one_line_error(tmp_path):
    bad = tmp_path / "plan.yaml"
    bad.write_text((ROOT / "config/analysis.yaml").read_text().replace("primary: retained_gap",
                                                                              "primary: raw_accuracy", 1))
    with pytest.raises(config.ConfigError, match=r"--plan .*claims.C1.primary"):
        config.load_plan(bad)
    with pytest.raises(config.ConfigError, match="no analysis plan at"):
        config.load_plan(tmp_path / "missing.yaml")


def test_a_run_with_one_training_has_no_saq_claims_and_still_decides_c1():
    """The dose study trains conventionally only: no C3, C4, C5 or C5-clean rows, C1 and C2 decided."""
    rng = np.random.default_rng(12)
    trials = synthetic_trials(rng, lost_shift={("as_high", "conventional"): 0.05}).query("training == 'conventional'")
    sharp = synthetic_sharpness(rng).query("training == 'conventional'")
    clean = synthetic_clean(rng, 0.0).query("training == 'conventional'")
    table = run_claims(trials, sharp, clean)["claims"]
    assert set(table.claim) == {"C1", "C2"} and set(rows(table, "C1").verdict) == {"PASS"}


def test_curvature_differences_are_decided_on_the_log_ratio_and_stay_above_minus_100_percent():
    """Known answer: an AS network 10x flatter than its standard network on every seed but one
    (2x sharper) reads about -100 % on a linear scale, where an interval leaves the range; on the
    log-ratio scale its interval stays inside (-100 %, +inf) and holds the geometric mean."""
    rng = np.random.default_rng(5)
    sharp = synthetic_sharpness(rng)
    ratio = np.where(sharp.seed == sharp.seed.max(), 2.0, 0.1)
    as_rows = sharp.variant == "as_high"
    for col in [c for c in sharp.columns if c.startswith("fault_curvature_")]:
        std = sharp[sharp.variant == "standard"].set_index(["training", "seed"])[col]
        base = std.reindex(pd.MultiIndex.from_frame(sharp[["training", "seed"]])).to_numpy()
        sharp.loc[as_rows, col] = (base * ratio)[as_rows.to_numpy()]
    c2 = rows(run_claims(synthetic_trials(rng), sharp)["claims"], "C2")
    c2 = c2[c2.comparison.str.startswith("as_high")]
    n = int(c2.n_seeds.iloc[0])
    geo = 100 * (np.exp((np.log(2.0) + (n - 1) * np.log(0.1)) / n) - 1)
    assert len(c2) and (c2[["measured_value", "ci_low", "ci_high", "adj_ci_low", "adj_ci_high"]] > -100).all().all()
    assert c2.measured_value.to_numpy() == pytest.approx(geo)


@pytest.mark.parametrize("seeds", [1, 2])
def test_a_study_of_one_or_two_seeds_gets_its_tables(seeds):
    """A pilot of one seed (the radius ladder's) or two: the claims tables are written, nothing is
    decided on one seed, and leaving a seed out (nothing left to decide) does not stop the job."""
    rng = np.random.default_rng(5)
    trials = synthetic_trials(rng)
    keep = sorted(set(trials.seed))[:seeds]
    clean = synthetic_clean(rng, 0.0)
    out = run_claims(trials[trials.seed.isin(keep)], synthetic_sharpness(rng).query("seed in @keep"),
                     clean[clean.seed.isin(keep)])
    primary = rows(out["claims"], "C1")
    assert len(primary) and (primary.n_seeds <= seeds).all()
    if seeds == 1:
        assert (primary.verdict == "INCONCLUSIVE").all()


def test_an_accuracy_interval_stays_inside_zero_and_one():
    """Three seeds near perfect accuracy: the t interval of their mean (0.99 +- 0.0248) would reach
    1.0148; the table cuts it at 1 and leaves an interval inside the range as it is."""
    from flatenn.stats import seed_level_ci

    means = pd.DataFrame({"dataset": "fashion_mnist", "arch": "lenet5", "variant": "standard",
                          "training": "conventional", "fault": "bitflip", "seed": [0, 1, 2, 0, 1, 2],
                          "rate": [0.0, 0.0, 0.0, 0.1, 0.1, 0.1], "trials": 4,
                          "accuracy": [0.98, 0.99, 1.0, 0.5, 0.6, 0.7]})
    table = aggregate.fault_accuracy(means, 0.95).set_index("rate")
    near_one = seed_level_ci(pd.Series([0.98, 0.99, 1.0]), 0.95)
    assert near_one["ci_high"] > 1.01 and table.at[0.0, "ci_high"] == 1.0
    assert table.at[0.0, "ci_low"] == near_one["ci_low"]
    inside = seed_level_ci(pd.Series([0.5, 0.6, 0.7]), 0.95)
    assert (table.at[0.1, "ci_low"], table.at[0.1, "ci_high"]) == (inside["ci_low"], inside["ci_high"])

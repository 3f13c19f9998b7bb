"""The depth study's parts, on known answers: the calibration (strengths and rates), the slope
endpoint and its interaction, the mechanism measures and the intervention's fault draw."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import ROOT
from flatenn import budget, calibration, campaign, claims, config, faults, findings, stats
from flatenn.mechanism import infer, measure

PLAN = config.load_plan(ROOT / "config/analysis.yaml")


# ---------------------------------------------------------------- calibration

def test_crossing_interpolates_on_the_log_of_x_at_the_first_crossing():
    value, i = calibration.crossing([1, 10, 100], [0.0, 1.0, 2.0], 0.5)
    assert i == 0 and value == pytest.approx(math.sqrt(10))
    value, i = calibration.crossing([1, 10, 100, 1000], [1.0, 0.2, 0.6, 0.1], 0.4)  # decreasing: first crossing
    assert i == 0 and value == pytest.approx(10 ** 0.75)
    assert calibration.crossing([1, 10], [0.0, 1.0], 1.5) is None  # never extrapolated


def pilot_clean(gains, costs, alphas, arch="lenet5"):
    rows = [{"arch": arch, "variant": "standard", "accuracy": 0.90, "activation_sparsity": 0.50}]
    rows += [{"arch": arch, "variant": f"a{i}", "accuracy": 0.90 - c, "activation_sparsity": 0.50 + g}
             for i, (g, c) in enumerate(zip(gains, costs))]
    return pd.DataFrame(rows), {arch: {f"a{i}": a for i, a in enumerate(alphas)}}


def test_strengths_known_answer_with_statuses():
    clean, alphas = pilot_clean([0.10, 0.20, 0.40], [0.0, 0.01, 0.05], [0.01, 0.1, 1.0])
    s = calibration.strengths(clean, alphas, [0.15, 0.30, 0.45], max_clean_cost=0.035).set_index("target")
    assert s.loc[0.15, "value"] == pytest.approx(0.0316, rel=1e-3) and s.loc[0.15, "status"] == "reached"
    assert s.loc[0.30, "value"] == pytest.approx(0.316, rel=1e-3)
    assert s.loc[0.30, "clean_cost"] == pytest.approx(0.03) and s.loc[0.30, "status"] == "reached"
    assert s.loc[0.45, "status"] == "outside_grid" and np.isnan(s.loc[0.45, "value"])
    tight = calibration.strengths(clean, alphas, [0.30], max_clean_cost=0.02)
    assert tight.status.tolist() == ["too_costly"]


def test_a_level_one_architecture_cannot_reach_is_dropped_for_all():
    a, aa = pilot_clean([0.10, 0.20, 0.40], [0, 0, 0], [0.01, 0.1, 1.0])
    b, ab = pilot_clean([0.05, 0.10, 0.20], [0, 0, 0], [0.01, 0.1, 1.0], arch="resnet20")
    s = calibration.strengths(pd.concat([a, b]), {**aa, **ab}, [0.15, 0.30], max_clean_cost=0.05)
    assert calibration.levels_for_all(s) == [0.15]
    study = calibration.study_settings(s, calibration.rates(pd.DataFrame(
        columns=["arch", "fault", "rate", "accuracy"]), [0.5], 0.1), threshold=0.1, penalty="l1")
    assert list(study["variants"]) == ["standard", "as_g15"]
    assert study["variants"]["as_g15"]["per_arch"]["resnet20"]["alpha"] == s.loc[
        (s.arch == "resnet20") & (s.target == 0.15), "value"].item()


def test_rates_known_answer_share_kept_above_chance():
    # clean 0.9, chance 0.1: accuracies keeping 95, 80, 40 and 10 % of the 0.8 above chance
    kept = {0.0: 1.0, 0.001: 0.95, 0.01: 0.80, 0.1: 0.40, 1.0: 0.10}
    trials = pd.DataFrame([{"arch": "lenet5", "fault": "bitflip", "rate": r, "trial": t,
                            "accuracy": 0.1 + 0.8 * k + (0.01 if t else -0.01) * (r > 0)}
                           for r, k in kept.items() for t in range(2)])
    r = calibration.rates(trials, [0.9, 0.5, 0.05], chance=0.1).set_index("target")
    assert r.loc[0.5, "value"] == pytest.approx(0.056)  # 10^(-2 + 0.75), two significant digits
    assert r.loc[0.9, "value"] == pytest.approx(0.0022)  # 10^(-3 + 1/3) = 0.002154
    assert r.loc[0.5, "x_below"] == 0.01 and r.loc[0.5, "x_above"] == 0.1
    assert r.loc[0.05, "status"] == "outside_grid"


# ---------------------------------------------------------------- the slope endpoint

def slope_inputs(k_by_arch, gains=(0.15, 0.30, 0.45), seeds=range(5), noise=0.2, seed=0):
    """Per-seed C1 quantities exactly k points per unit of sparsity gained, plus noise."""
    rng = np.random.default_rng(seed)
    seeds_rows, clean_rows = [], []
    for arch, k in k_by_arch.items():
        for s in seeds:
            clean_rows.append({"dataset": "d", "arch": arch, "variant": "standard", "training": "conventional",
                               "seed": s, "accuracy": 0.9, "activation_sparsity": 0.5})
            for i, g in enumerate(gains):
                real = g + rng.normal(0, 0.02)
                clean_rows.append({"dataset": "d", "arch": arch, "variant": f"as{i}", "training": "conventional",
                                   "seed": s, "accuracy": 0.9, "activation_sparsity": 0.5 + real})
                for fault in ("bitflip", "sa0"):
                    seeds_rows.append({"dataset": "d", "arch": arch, "fault": fault, "kind": "as_vs_standard",
                                       "comparison": f"as{i}-standard (conventional)", "a_variant": f"as{i}",
                                       "a_training": "conventional", "b_variant": "standard",
                                       "b_training": "conventional", "seed": s,
                                       "retained_gap": k * real + rng.normal(0, noise)})
    return pd.DataFrame(seeds_rows), pd.DataFrame(clean_rows)


def test_slope_known_answer_and_its_difference_in_the_between_architecture_family():
    seeds, clean = slope_inputs({"lenet5": -20.0, "resnet20": 30.0})
    out = claims.slopes(seeds, clean, PLAN, {"lenet5": 5, "resnet20": 20})
    s = out["slope"].set_index(["arch", "fault"])
    assert set(out["slope"].row) == {"slope"}  # differences are decided once, in the interaction family
    assert s.loc[("lenet5", "bitflip"), "slope"] == pytest.approx(-2.0, abs=0.1)  # per 0.1 gained
    assert s.loc[("resnet20", "sa0"), "slope"] == pytest.approx(3.0, abs=0.1)
    assert s.loc[("lenet5", "bitflip"), "verdict"] == "more sparsity, more kept"
    assert s.loc[("resnet20", "bitflip"), "verdict"] == "more sparsity, less kept"
    assert out["slope"].groupby("family").size().eq(2).all()  # Bonferroni over the two fault types
    assert (out["slope"].family_size == 2).all()
    g = out["by_gain"]
    assert len(g) == 2 * 2 * 3 and g.gain.between(0.1, 0.5).all()
    inter = claims.interaction(seeds, PLAN, {"lenet5": 5, "resnet20": 20}, clean).set_index(["quantity", "fault"])
    d = inter.loc[("slope", "bitflip")]
    assert d.arch_b == "resnet20" and d["diff"] == pytest.approx(5.0, abs=0.2) and d.verdict == "deeper loses more"
    assert (inter.family_size == len(inter)).all() and len(inter) == 2 * 3 + 2  # 3 levels + the slope, 2 faults


def test_one_as_level_estimates_no_slope_and_says_so():
    seeds, clean = slope_inputs({"lenet5": -20.0, "resnet8": 10.0}, gains=(0.15,))
    s = claims.slopes(seeds, clean, PLAN, {"lenet5": 5, "resnet8": 8})["slope"]
    assert s.slope.isna().all() and (s.verdict == claims.ONE_LEVEL).all() and (s.levels == 1).all()
    inter = claims.interaction(seeds, PLAN, {"lenet5": 5, "resnet8": 8}, clean)
    assert "slope" not in set(inter.quantity) and len(inter) == 2


def test_one_contrast_gets_one_verdict_wherever_it_appears(tmp_path):
    """The same between-architecture data: its contrast is in one table, once, with one verdict,
    and the findings and the README's table print that verdict and that table's interval."""
    seeds, clean = slope_inputs({"lenet5": -20.0, "resnet20": 30.0}, gains=(0.3,), seeds=range(6))
    inter = claims.interaction(seeds, PLAN, {"lenet5": 5, "resnet20": 20}, clean)
    slope = claims.slopes(seeds, clean, PLAN, {"lenet5": 5, "resnet20": 20})["slope"]
    assert not inter.duplicated(["dataset", "fault", "comparison", "quantity", "arch_a", "arch_b"]).any()
    assert slope.slope.isna().all()  # not a second test of the same contrast
    text = findings.findings(pd.DataFrame(columns=claims.COLUMNS), inter,
                             pd.DataFrame(columns=claims.SHARPNESS_EXPLAINS_COLUMNS),
                             slope)
    for r in inter.itertuples():
        assert f"[{r.adj_ci_low:+.1f}, {r.adj_ci_high:+.1f}]" in text and f"p {r.p_adjusted:.3g}, equivalence " \
            f"interval [{r.eq_ci_low:+.1f}, {r.eq_ci_high:+.1f}] against +-{r.margin:g}: {r.verdict}" in text


def test_missing_networks_names_the_seeds_a_part_lacks_at_each_budget():
    from flatenn.study import missing_networks

    def nets(seeds):
        return pd.DataFrame([{"dataset": "d", "arch": "resnet20", "variant": v, "training": "conventional", "seed": s}
                             for v in ("standard", "as_g15") for s in seeds])

    full, half = nets([0, 1, 2]), nets([0, 1])
    assert missing_networks(full, half, "resnet20", [0, 1, 2]) == "2 of 6 networks at half the budget (seed 2)"
    assert missing_networks(full, half, "resnet20", [0, 1, 2, 3, 4]) == (
        "4 of 10 networks (seeds 3, 4) and 6 of 10 networks at half the budget (seeds 2, 3, 4)")
    assert missing_networks(full, None, "resnet20", [0, 1, 2]) == ""


def null_between_architectures(rep: int, n: int = 6) -> pd.DataFrame:
    """Three architectures, two AS levels, three fault types: no architecture differs from another."""
    rng = np.random.default_rng(rep)
    rows = []
    for arch in ("lenet5", "resnet8", "resnet20"):
        for s in range(n):
            for lv in ("as1", "as2"):
                for fault in ("bitflip", "sa0", "sa1"):
                    rows.append({"dataset": "d", "arch": arch, "fault": fault, "kind": "as_vs_standard",
                                 "comparison": f"{lv}-standard (conventional)", "a_variant": lv,
                                 "a_training": "conventional", "b_variant": "standard", "b_training": "conventional",
                                 "seed": s, "retained_gap": rng.standard_t(4) * 3})  # heavy tails
    return pd.DataFrame(rows)


def test_a_null_depth_study_holds_the_familywise_rate_over_the_whole_family():
    """200 studies with no true difference between architectures: the one family (3 pairs x 3
    fault types x 2 AS levels = 18 contrasts) rejects anything in at most about 5 % of them; a
    per-pair correction (the former slope table's) would reject far more often."""
    depth = {"lenet5": 5, "resnet8": 8, "resnet20": 20}
    plan = {**PLAN, "robustness": None}
    hits = per_pair = 0
    for rep in range(200):
        inter = claims.interaction(null_between_architectures(rep), plan, depth)
        assert len(inter) == 18 and (inter.family_size == 18).all()
        hits += bool((inter.p_adjusted < 0.05).any())
        per_pair += bool((inter.groupby(["arch_a", "arch_b"]).p_value.transform(lambda p: p * len(p)) < 0.05).any())
    assert hits <= 18, hits  # 5 % of 200 is 10; 18 is 2.6 sd above
    assert per_pair > hits


def test_an_effect_carried_by_one_seed_is_marked_fragile():
    """Six seeds whose t test passes only with seeds 1 and 4 (2.0, 2.5 points) in: the claims table marks the
    verdict fragile, names that seed, and reports the exact permutation p of 64 sign patterns."""
    seeds = slope_inputs({"lenet5": 0.0}, gains=(0.15,), seeds=range(6))[0]
    planted = {0: 0.5, 1: 2.0, 2: 1.5, 3: 0.2, 4: 2.5, 5: 1.0}
    seeds["retained_gap"] = np.where(seeds.fault == "bitflip", seeds.seed.map(planted), seeds.retained_gap)
    seeds = seeds.assign(trials=8, window_rates="0.1", **{q: seeds.retained_gap for q in
                                                          ("accuracy_gap", "lost_gap", "lost_gap_all_rates")})
    table = claims.fault_claims(seeds, PLAN)
    table = table[table.claim == "C1"].assign(family="C1 d lenet5")
    table = claims.decide_families(table, 0.05, "bonferroni")
    table = claims.robustness(table, seeds, pd.DataFrame(), pd.DataFrame(), {}, PLAN)
    row = table[(table.role == "primary") & (table.fault == "bitflip")].iloc[0]
    assert row.verdict == "PASS" and row.p_adjusted == pytest.approx(2 * stats.t_p(list(planted.values())))
    assert row.robustness == "fragile" and row.loo_verdict == "INCONCLUSIVE"
    assert row.loo_left_out in ("seed 1", "seed 4")  # the first seed whose absence overturns it
    flips = np.array([[1 - 2 * ((k >> i) & 1) for i in range(6)] for k in range(64)])
    exact = np.mean(np.abs(flips @ np.array(list(planted.values()))) >= sum(planted.values()) - 1e-9)
    assert row.perm_p == pytest.approx(exact) and row.perm_p_adjusted == pytest.approx(min(1, 2 * exact))


def test_permutation_p_values_known_answers():
    assert stats.sign_flip_p([1.0, 2.0, 3.0]) == (pytest.approx(2 / 8), 2 / 8)  # only all-plus and all-minus
    p, low = stats.relabel_p([5.0, 6.0, 7.0], [1.0, 2.0, 3.0])
    assert (p, low) == (pytest.approx(2 / 20), 2 / 20)
    p_mc, low_mc = stats.sign_flip_p(np.arange(1.0, 16.0), exact_up_to=1000, resamples=999, seed=1)
    assert low_mc == 1 / 1000 and p_mc == pytest.approx(1 / 1000)


# ---------------------------------------------------------------- the budget ladder

def ladder_rung(budget: int, acc: dict, sparsity: dict, kept_as: float) -> dict:
    """One rung of one architecture (lenet5, seed 100): clean accuracy and sparsity per variant;
    at one informative rate the standard network keeps half its above-chance accuracy and the AS
    network ``kept_as``."""
    clean = pd.DataFrame([{"dataset": "fashion_mnist", "arch": "lenet5", "variant": v, "training": "conventional",
                           "seed": 100, "accuracy": acc[v], "activation_sparsity": sparsity[v]} for v in acc])
    sm = []
    for v in acc:
        for rate, k in ((0.0, 1.0), (0.05, 0.5 if v == "standard" else kept_as)):
            sm.append({"dataset": "fashion_mnist", "arch": "lenet5", "variant": v, "training": "conventional",
                       "seed": 100, "fault": "bitflip", "rate": rate, "trials": 8,
                       "accuracy": 0.1 + (acc[v] - 0.1) * k, "clean": acc[v]})
    return {"clean": clean, "seed_means": pd.DataFrame(sm)}


def test_the_ladder_reads_gain_c1_and_the_declared_convergence_rule():
    runs = {1: ladder_rung(1, {"standard": 0.85, "as_g15": 0.84}, {"standard": 0.5, "as_g15": 0.65}, 0.55),
            2: ladder_rung(2, {"standard": 0.88, "as_g15": 0.87}, {"standard": 0.5, "as_g15": 0.75}, 0.45),
            4: ladder_rung(4, {"standard": 0.884, "as_g15": 0.874}, {"standard": 0.5, "as_g15": 0.77}, 0.45),
            8: ladder_rung(8, {"standard": 0.886, "as_g15": 0.876}, {"standard": 0.5, "as_g15": 0.78}, 0.45)}
    t = budget.ladder(runs, {"fashion_mnist": 0.1}, (0.1, 0.9)).set_index(["quantity", "variant", "budget"])
    assert t.loc[("sparsity_gained", "as_g15", 2), "value"] == pytest.approx(0.25)
    assert t.loc[("c1_retained_gap", "as_g15", 1), "value"] == pytest.approx(-5.0)  # 50 % vs 55 % kept
    assert t.loc[("c1_retained_gap", "as_g15", 2), "value"] == pytest.approx(5.0)   # the sign flips with budget
    conv = budget.convergence(budget.ladder(runs, {"fashion_mnist": 0.1}, (0.1, 0.9)), 0.5, 0.03)
    c = conv.set_index("budget")
    assert not c.loc[1, "converged"]  # +3 points of clean accuracy and +0.10 of gain from 1 to 2
    assert c.loc[2, "converged"] and c.loc[2, "chosen"] and not c.loc[4, "chosen"]
    assert c.loc[2, "clean_change_standard"] == pytest.approx(0.4)
    text = findings.ladder_findings(budget.ladder(runs, {"fashion_mnist": 0.1}, (0.1, 0.9)), conv, 0.5, 0.03)
    assert ("- lenet5 (fashion_mnist, seed 100): **converges at 2B**. 1B -> 2B: standard +3.00, AS +3.00 points, "
            "gain moves +0.100 (over the rule: standard, AS, gain); 2B -> 4B: standard +0.40, AS +0.40 points, gain "
            "moves +0.020 (within the rule); 4B -> 8B: standard +0.20, AS +0.20 points, gain moves +0.010 (within "
            "the rule).") in text
    assert ("- lenet5 (fashion_mnist, seed 100): budgets 1B / 2B / 4B / 8B; standard clean accuracy 85.0 / 88.0 / "
            "88.4 / 88.6 %, sparsity 0.50 / 0.50 / 0.50 / 0.50; as_g15 clean accuracy 84.0 / 87.0 / 87.4 / 87.6 %, "
            "sparsity 0.65 / 0.75 / 0.77 / 0.78; as_g15 sparsity gained +0.150 / +0.250 / +0.270 / +0.280; as_g15 C1 "
            "bitflip -5.0 / +5.0 / +5.0 / +5.0 points.") in text
    never = findings.ladder_findings(budget.ladder({1: runs[1], 2: runs[2]}, {"fashion_mnist": 0.1}, (0.1, 0.9)),
                                   conv[conv.budget == 1], 0.5, 0.03)
    assert "**not converged on the ladder (largest budget doubled: 1B)**" in never


# ---------------------------------------------------------------- mechanism

def test_layer_table_known_answers():
    q = torch.tensor([[1, 1, -1, 1], [2, -2, 0, 2]], dtype=torch.int8)  # two output channels, four inputs
    image = {"fc": {"q": q, "scale": torch.ones(2, 1), "bits": 8}}
    activity = {"fc": torch.tensor([0.5, 0.0, 1.0, 0.25], dtype=torch.float64)}
    row = measure.layer_table(image, activity, ["bitflip"]).iloc[0]
    assert row.weights == 8 and row.input_units == 4
    assert row.input_density == pytest.approx(0.4375) and row.dead_input_share == pytest.approx(0.25)
    assert row.negative_code_share == pytest.approx(2 / 8) and row.zero_code_share == pytest.approx(1 / 8)
    # channel 1: every |code| 1, so max/rms 1; a bit flip moves +-1's cells by 2^b: RMS over the 8 cells
    one = math.sqrt(sum(4 ** b for b in range(8)) / 8)
    _, square = faults.displacement_moments(q[1:], "bitflip")
    two = math.sqrt(float(square.mean()) / 8) / math.sqrt(12 / 4)
    assert row.fault_move_rel_bitflip == pytest.approx((one + two) / 2)
    live = measure.live_weights(image, activity)["fc"]
    assert live.tolist() == [[True, False, True, True]] * 2


def test_input_activity_counts_nonzero_inputs_per_unit():
    from flatenn import models

    model = models.build("lenet5", (1, 28, 28), 10, {"weight_bits": 8, "act_bits": 8})
    x = torch.zeros(4, 1, 28, 28, dtype=torch.uint8)
    x[:2, :, :14] = 200
    act = measure.input_activity(model, x)
    assert act["body.0"].tolist() == [pytest.approx(0.25)]  # half the rows of half the images
    assert all(len(v) == m.weight.shape[1] for v, m in zip(act.values(),
                                                            [model.body[0], model.body[4], model.body[9],
                                                             model.body[11], model.body[13]]))


def test_faults_on_live_weights_keep_the_count_and_stay_eligible():
    eligible = torch.tensor([3, 4, 9, 20])
    gen = torch.Generator().manual_seed(1)
    elems, masks = faults.fault_map_among(eligible, 8, 10, gen)
    assert set(elems.tolist()) <= set(eligible.tolist())
    assert sum(bin(int(m)).count("1") for m in masks) == 10
    with pytest.raises(ValueError, match="do not fit"):
        faults.fault_map_among(eligible, 8, 33, gen)
    q = torch.zeros(2, 50, dtype=torch.int8)
    image = {"fc": {"q": q, "bits": 8}}
    live = {"fc": torch.zeros(2, 50, dtype=torch.bool)}
    live["fc"][:, :5] = True
    out = campaign.faulty_ints(image, "bitflip", 0.01, torch.Generator().manual_seed(0), mode="exact",
                               eligible=torch.cat([live["fc"].reshape(-1)]).nonzero().squeeze(1))
    changed = out["fc"] != 0
    assert int(changed.sum()) >= 1 and not (changed & ~live["fc"]).any()
    assert sum(bin(int(v) & 0xFF).count("1") for v in out["fc"].reshape(-1)) == round(0.01 * 100 * 8)


def contrast_rows(seeds=range(4)):
    rng = np.random.default_rng(3)
    rows = []
    for s in seeds:
        for arch in ("lenet5", "resnet8", "resnet20"):
            for level in ("as1", "as2", "as3"):
                dead = rng.uniform(0, 0.5)
                rows.append({"dataset": "d", "arch": arch, "seed": s, "fault": "bitflip", "a_variant": level,
                             "rate": 0.01, "effect": -40 * dead + rng.normal(0, 0.5), "effect_at_rate": -40 * dead,
                             "effect_live": rng.normal(0, 0.5), "dead_input_share": dead,
                             "sparsity_gained": rng.uniform(0.1, 0.5), **{c: rng.normal() for c in
                                                                          infer.CANDIDATES if c not in
                                                                          ("dead_input_share", "sparsity_gained")}})
    return pd.DataFrame(rows)


def test_explained_finds_the_planted_explanation_within_architectures_and_only_it():
    e = infer.mechanism_explained(contrast_rows(), 0.95).set_index("candidate")
    assert e.loc["dead_input_share", "r_within"] < -0.9 and e.loc["dead_input_share", "p_adjusted"] < 0.05
    assert e.loc["dead_input_share", "reading"] == "within architectures: larger value, AS keeps more"
    assert e.loc["sparsity_gained", "reading"] == "no relation shown"
    assert set(e.contrasts) == {36} and e.identifiable.all()
    assert e.r_within.between(-1, 1).all()


def test_a_candidate_that_only_names_the_architecture_is_not_an_explanation():
    """C1's gap differs by architecture and the candidate differs by architecture, but within an
    architecture it varies independently of the gap: with one AS level the table says "not
    identifiable" and the findings rank nothing; with several levels it shows no relation."""
    rows = contrast_rows(range(6))
    shift = rows.arch.map({"lenet5": -10.0, "resnet8": 0.0, "resnet20": 10.0})
    rng = np.random.default_rng(5)
    rows = rows.assign(effect=shift + rng.normal(0, 1, len(rows)), input_density=shift / 10 + rng.normal(0, 1, len(rows)))
    across = rows.groupby("arch")[["effect", "input_density"]].mean().corr().iloc[0, 1]
    assert across > 0.9  # across architectures it "explains" everything
    many = infer.mechanism_explained(rows, 0.95).set_index("candidate")
    assert many.loc["input_density", "reading"] == "no relation shown"
    one = infer.mechanism_explained(rows[rows.a_variant == "as1"], 0.95)
    assert (one.reading == infer.NOT_IDENTIFIABLE).all() and not one.identifiable.any()
    text = findings.mechanism_findings(one, infer.intervention(rows[rows.a_variant == "as1"], 0.95),
                                     pd.DataFrame(columns=["dataset", "arch", "variant", "training", "seed",
                                                           "dead_input_share"]))
    assert "Not identifiable in this study" in text and "input_density r" not in text


def test_intervention_reads_a_difference_that_shrinks():
    iv = infer.intervention(contrast_rows(range(6)).assign(dead_inputs=True), 0.95)
    assert set(iv.condition) == {"faults_on_live_weights"}
    assert (iv.effect < 0).all() and iv.effect_changed.abs().max() < 1.5
    assert set(iv.reading) <= {"difference shrinks", "no change shown"} and (iv.reading == "difference shrinks").any()
    # without dead inputs the live-weights intervention moves nothing by construction: not reported
    assert infer.intervention(contrast_rows(range(6)).assign(dead_inputs=False), 0.95).empty


def test_intervention_readings_carry_their_robustness():
    """One cell, one AS level: a change of -4 points on every seed with little noise is read and
    holds without any one seed; with 12 seeds the permutation test can reach the level and agrees
    ("solid"), with 5 it cannot ("t test only"); a change carried by one seed alone is "fragile"
    (without that seed no change is shown), and an undecided reading is "solid"."""
    def con(changes):
        rng = np.random.default_rng(1)
        return pd.DataFrame([{"dataset": "d", "arch": "a", "seed": s, "fault": "bitflip", "a_variant": "as1",
                              "rate": 0.01, "effect_at_rate": 8.0 + rng.normal(0, 0.3), "dead_inputs": True,
                              "effect_live": 8.0 + c} for s, c in enumerate(changes)])

    rng = np.random.default_rng(0)
    many = infer.intervention(con(-4 + rng.normal(0, 0.2, 12)), 0.95).iloc[0]
    assert (many.reading, many.loo_reading, many.robustness) == ("difference shrinks", "difference shrinks", "solid")
    assert many.perm_p == pytest.approx(2 / 2 ** 12) and many.perm_p_adjusted == many.perm_p
    five = infer.intervention(con(-4 + rng.normal(0, 0.2, 5)), 0.95).iloc[0]
    assert (five.reading, five.robustness) == ("difference shrinks", "t test only")
    lone = infer.intervention(con([0.3, -0.2, 0.1, -0.1, 0.2, -0.3, 0.0, -9.0]), 0.95).iloc[0]
    assert (lone.reading, lone.robustness) == ("no change shown", "solid")
    split = infer.intervention(con([-1.0, -1.1, -0.9, -1.0, -1.05, -0.95, -1.0, 2.0]), 0.95).iloc[0]
    assert split.reading == "no change shown" and split.loo_reading == "difference shrinks"
    assert split.robustness == "fragile" and split.fragile_by == "without seed 7"
    text = findings.mechanism_findings(pd.DataFrame(columns=infer.MECHANISM_EXPLAINED_COLUMNS),
                                     infer.intervention(con(-4 + rng.normal(0, 0.2, 5)), 0.95),
                                     pd.DataFrame({"arch": ["a"], "variant": ["as1"], "dead_input_share": [0.1],
                                                   "dataset": "d", "training": "c", "seed": 0}))
    assert "difference shrinks; rests on the t test" in text


def switch_study(seeds=range(6), as_off=0.80, std_on=0.62):
    """One architecture, a standard and an AS network per seed, kept at the rate 0.80 and 0.60
    (C1's quantity +20 points), and their sparsity switch: the AS network without its threshold
    keeps ``as_off``, the standard one with the AS threshold keeps ``std_on``."""
    rng = np.random.default_rng(11)
    net, sw = [], []
    for s in seeds:
        noise = rng.normal(0, 0.01, 4)
        for variant, kept, sparsity, t in (("standard", 0.80, 0.45, 0.0), ("as1", 0.60, 0.80, 0.1)):
            model = {"dataset": "d", "arch": "lenet5", "variant": variant, "training": "conventional", "seed": s}
            net.append({**model, "fault": "bitflip", "rate": 0.01, "kept": kept, "kept_at_rate": kept,
                        "kept_live": np.nan, "dead_input_share": 0.0, "activation_sparsity": sparsity,
                        **{c: rng.normal() for c in infer.NETWORK_COLUMNS if c not in model and c not in (
                            "fault", "rate", "kept", "kept_at_rate", "kept_live", "dead_input_share",
                            "activation_sparsity")}})
            switched = (as_off + noise[0], 0.47) if variant == "as1" else (std_on + noise[1], 0.78)
            sw += [{**model, "fault": "bitflip", "threshold": t, "own": True, "rate": 0.01,
                    "activation_sparsity": sparsity, "kept": kept},
                   {**model, "fault": "bitflip", "threshold": 0.0 if t else 0.1, "own": False, "rate": 0.01,
                    "activation_sparsity": switched[1], "kept": switched[0]}]
    return pd.DataFrame(net), pd.DataFrame(sw)


def test_the_sparsity_switch_attributes_c1_to_sparsity_at_inference_or_to_the_weights():
    """Known answers: where the AS network without its threshold keeps what the standard one keeps
    (and the standard one with it keeps what the AS one keeps), C1's quantity shrinks to zero under
    both switches: sparsity at inference carries it. Where the switch leaves each network's share
    as it was, nothing changes: the trained weights carry it."""
    net, sw = switch_study()
    con = infer.contrasts(net, sw)
    assert con.effect_at_rate.to_numpy() == pytest.approx(20.0)
    iv = infer.intervention(con, 0.95).set_index("condition")
    assert set(iv.index) == {"as_threshold_removed", "standard_threshold_applied"}  # no dead inputs: no live rows
    assert iv.loc["as_threshold_removed", "effect_changed"] == pytest.approx(0.0, abs=1.0)
    assert iv.loc["standard_threshold_applied", "effect_changed"] == pytest.approx(2.0, abs=1.0)
    assert (iv.reading == "difference shrinks").all() and (iv.change_p_adjusted < 0.05).all()
    assert iv.loc["as_threshold_removed", "sparsity_gained"] == pytest.approx(0.35)
    assert iv.loc["as_threshold_removed", "sparsity_gained_changed"] == pytest.approx(0.02)
    assert iv.loc["standard_threshold_applied", "sparsity_gained_changed"] == pytest.approx(0.02)
    text = findings.mechanism_findings(infer.mechanism_explained(con, 0.95), iv.reset_index(), net)
    assert "evaluated without its threshold" in text and "sparsity at inference carries" in text
    net, sw = switch_study(as_off=0.60, std_on=0.80)  # the switch changes no network's share
    iv = infer.intervention(infer.contrasts(net, sw), 0.95)
    assert (iv.reading == "no change shown").all() and iv.effect_changed.to_numpy() == pytest.approx(20.0, abs=1.0)


def test_the_switch_evaluates_the_campaigns_maps_with_only_the_threshold_changed():
    """The switch runs the campaign's maps with the weights unchanged: at the network's own
    threshold it gives the campaign's numbers bit for bit; with a threshold above every
    activation nothing passes (sparsity 1) and every map gives the same constant prediction."""
    from flatenn import evaluation, models, sparsity
    from flatenn.quant import export_memory_image

    torch.manual_seed(0)
    model = models.build("lenet5", (1, 28, 28), 10, {"weight_bits": 8, "act_bits": 8}).eval()
    image = export_memory_image(model)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=gen)
    y = torch.randint(0, 10, (64,), generator=gen)
    points = [{"fault": "bitflip", "rate": 0.0}, {"fault": "bitflip", "rate": 0.02}]
    kw = dict(trials=3, mode="exact", maps="shared", base_seed=2023, arch="lenet5", seed=0, progress=False)
    before = campaign.run(model, image, (x, y), points, **kw)
    sparsity.set_threshold(model, 0.0)
    assert campaign.run(model, image, (x, y), points, **kw) == before
    sparsity.set_threshold(model, 1e9)
    assert sparsity.measure(model, evaluation.batches(x, y, 32))["overall"] == 1.0
    dead = {r["accuracy"] for r in campaign.run(model, image, (x, y), points, **kw)}
    assert len(dead) == 1 and dead.pop() in {float((y == c).float().mean()) for c in range(10)}


def test_readme_rows_for_budget_stability_and_the_intervention(tmp_path):
    """Known answers: the README's findings carry, per architecture, C1's family verdict at both
    budgets with the verdicts that move, and per intervention condition whether C1's quantity
    shrinks (its most certain cell beside it); a run's report landing page leaves both out."""
    (tmp_path / "claims.csv").write_text(",".join(claims.COLUMNS) + "\n")
    pd.DataFrame({"arch": "a", "converged_verdict": ["FAIL", "INCONCLUSIVE"], "half_verdict": ["FAIL", "FAIL"],
                  "depends_on_budget": [False, True], "seeds": 5, "seeds_same_sign": [5, 3]}).to_csv(
        tmp_path / "budget_stability.csv", index=False)
    pd.DataFrame({"arch": "a", "condition": "as_threshold_removed", "a_variant": "as_x", "fault": ["bitflip", "sa0"],
                  "rate": [0.01, 0.02], "change": [-4.0, 1.0], "change_ci_low": [-6.0, -2.0],
                  "change_ci_high": [-2.0, 4.0], "change_p_adjusted": [0.01, 0.9],
                  "reading": ["difference shrinks", "no change shown"], "robustness": ["t test only", "solid"]}).to_csv(
        tmp_path / "intervention.csv", index=False)
    rows = findings.findings_rows({"s": tmp_path}).set_index("claim")
    budget, switch = rows.loc["C1, converged / half budget"], rows.loc["C1, AS threshold removed"]
    assert (budget.verdict, budget["strongest primary row"], budget.robustness) == (
        "FAIL / FAIL", "1 of 2 primary verdicts moves", "sign kept on 8 of 10 networks x faults")
    assert (switch.verdict, switch["strongest primary row"], switch["effect [family-wise CI]"], switch.robustness) == (
        "SHRINKS", "as_x, bitflip at rate 0.01", "-4.0 [-6.0, -2.0]", "t test only; 1 shrink, 0 grow of 2 cells")
    assert findings.findings_rows({"s": tmp_path}, beyond_claims=False).empty


def test_a_two_sided_convergence_rule_rejects_a_doubling_that_costs_one_point():
    """Known answer: from 2B to 4B the AS network loses 1 point (the penalty taking over); the
    one-sided reading passes it, the two-sided rule does not."""
    runs = {2: ladder_rung(2, {"standard": 0.880, "as_g15": 0.870}, {"standard": 0.5, "as_g15": 0.75}, 0.45),
            4: ladder_rung(4, {"standard": 0.882, "as_g15": 0.860}, {"standard": 0.5, "as_g15": 0.76}, 0.45)}
    table = budget.ladder(runs, {"fashion_mnist": 0.1}, (0.1, 0.9))
    one = budget.convergence(table, 0.5, 0.03, two_sided=False).iloc[0]
    two = budget.convergence(table, 0.5, 0.03).iloc[0]
    assert one.clean_change_as == pytest.approx(-1.0) and one.converged and not two.converged
    text = findings.ladder_findings(table, budget.convergence(table, 0.5, 0.03), 0.5, 0.03)
    assert "2B -> 4B costs the AS network 1.00 points" in text and "(either way)" in text


def switch_cells(share_moved: float, seeds: int = 16):
    """One AS cell of the sparsity switch: C1's quantity -10 points at the rate, the switch removes
    half the sparsity gained (0.30 -> 0.15); the change moves ``share_moved`` of what full
    proportional mediation predicts (+5 points), with small noise."""
    rng = np.random.default_rng(3)
    rows = []
    for s in range(seeds):
        effect = -10 + rng.normal(0, 0.5)
        change = share_moved * 5 + rng.normal(0, 0.3)
        rows.append({"dataset": "d", "arch": "a", "seed": s, "fault": "bitflip", "a_variant": "as1", "rate": 0.01,
                     "effect_at_rate": effect, "effect_as_off": effect + change, "gained": 0.30,
                     "gained_as_off": 0.15, "gained_std_on": np.nan, "effect_std_on": np.nan})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("share, reading", [(1.0, "consistent with full mediation"),
                                            (0.0, "in the weights (full mediation excluded)"),
                                            (0.5, "partial mediation (both none and full excluded)")])
def test_the_switch_is_read_as_mediation(share, reading):
    """Known answers: a switch removing half the gain from a fully mediated effect, from an
    unmediated one, and from a half-mediated one; the share moved per share removed and its
    family-wise interval hold the simulated share."""
    iv = infer.intervention(switch_cells(share), 0.95, {"leave_one_out": True}, margin=5).iloc[0]
    assert iv.condition == "as_threshold_removed" and iv.mediation == reading
    assert iv.gain_removed_share == pytest.approx(0.5) and iv.mediation_ci_low < share < iv.mediation_ci_high
    assert iv.mediation_share == pytest.approx(share, abs=0.1)


def test_an_unchanged_reading_is_equivalent_or_undetermined_by_its_margin():
    con = switch_cells(0.0)
    wide = infer.intervention(con, 0.95, margin=5).iloc[0]
    narrow = infer.intervention(con, 0.95, margin=0.01).iloc[0]
    assert wide.reading == "equivalent within +-5 points" and narrow.reading == "undetermined"
    assert wide.eq_ci_low > -5 and wide.eq_ci_high < 5


def test_the_standard_networks_switch_is_one_reading_whatever_the_as_level():
    """The standard network with the AS threshold reads the same change paired with either AS
    level: the family counts it once."""
    one = switch_cells(0.5).assign(effect_std_on=lambda d: d.effect_at_rate + 1.0, gained_std_on=0.25)
    two = pd.concat([one, one.assign(a_variant="as2", effect_at_rate=one.effect_at_rate - 3,
                                     effect_as_off=one.effect_as_off - 3, effect_std_on=one.effect_std_on - 3)])
    iv = infer.intervention(two, 0.95, margin=5)
    assert len(iv) == 4 and (iv.family_size == 3).all()

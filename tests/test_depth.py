"""The depth study's parts, on known answers: the calibration (strengths and rates), the slope
endpoint and its interaction, the mechanism measures and the intervention's fault draw."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import ROOT
from flatenn import calibration, campaign, claims, config, faults, mechanism

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


def test_slope_known_answer_and_the_interaction_between_architectures():
    seeds, clean = slope_inputs({"lenet5": -20.0, "resnet20": 30.0})
    out = claims.slopes(seeds, clean, PLAN, {"lenet5": 5, "resnet20": 20})
    s = out["slope"].set_index(["row", "arch", "fault"])
    assert s.loc[("slope", "lenet5", "bitflip"), "slope"] == pytest.approx(-2.0, abs=0.1)  # per 0.1 gained
    assert s.loc[("slope", "resnet20", "sa0"), "slope"] == pytest.approx(3.0, abs=0.1)
    assert s.loc[("slope", "lenet5", "bitflip"), "verdict"] == "more sparsity, more kept"
    assert s.loc[("slope", "resnet20", "bitflip"), "verdict"] == "more sparsity, less kept"
    d = s.loc[("difference", "lenet5", "bitflip")]
    assert d.arch_b == "resnet20" and d.slope == pytest.approx(5.0, abs=0.2)
    assert d.verdict == "deeper: steeper loss with sparsity"
    assert out["slope"].groupby("family").size().eq(2).all()  # Holm over the two fault types
    g = out["by_gain"]
    assert len(g) == 2 * 2 * 3 and g.gain.between(0.1, 0.5).all()


def test_without_a_slope_the_families_reject_at_most_at_their_level():
    """Sparsity does not matter: over 200 studies, each family (one architecture's fault types,
    or one pair's) rejects anything in at most about 5 % of them (Holm holds the family-wise rate)."""
    hits = {"slope": 0, "difference": 0}
    for rep in range(200):
        seeds, clean = slope_inputs({"lenet5": 0.0, "resnet8": 0.0}, noise=1.0, seed=rep)
        s = claims.slopes(seeds, clean, PLAN, {"lenet5": 5, "resnet8": 8})["slope"]
        s = s[s.arch == "lenet5"]  # one family of each row type
        for row in hits:
            hits[row] += bool((s[s.row == row].p_adjusted < 0.05).any())
    assert 1 <= hits["slope"] <= 18 and 1 <= hits["difference"] <= 18, hits  # 5 % of 200 is 10; 18 is 2.6 sd above


# ---------------------------------------------------------------- mechanism

def test_layer_table_known_answers():
    q = torch.tensor([[1, 1, -1, 1], [2, -2, 0, 2]], dtype=torch.int8)  # two output channels, four inputs
    image = {"fc": {"q": q, "scale": torch.ones(2, 1), "bits": 8}}
    activity = {"fc": torch.tensor([0.5, 0.0, 1.0, 0.25], dtype=torch.float64)}
    row = mechanism.layer_table(image, activity).iloc[0]
    assert row.weights == 8 and row.input_units == 4
    assert row.input_density == pytest.approx(0.4375) and row.dead_input_share == pytest.approx(0.25)
    assert row.negative_code_share == pytest.approx(2 / 8) and row.zero_code_share == pytest.approx(1 / 8)
    # channel 1: every |code| 1, so max/rms 1; a bit flip moves +-1's cells by 2^b: RMS over the 8 cells
    one = math.sqrt(sum(4 ** b for b in range(8)) / 8)
    _, square = faults.displacement_moments(q[1:], "bitflip")
    two = math.sqrt(float(square.mean()) / 8) / math.sqrt(12 / 4)
    assert row.fault_move_rel_bitflip == pytest.approx((one + two) / 2)
    live = mechanism.live_weights(image, activity)["fc"]
    assert live.tolist() == [[True, False, True, True]] * 2


def test_input_activity_counts_nonzero_inputs_per_unit():
    from flatenn import models

    model = models.build("lenet5", (1, 28, 28), 10, {"weight_bits": 8, "act_bits": 8})
    x = torch.zeros(4, 1, 28, 28, dtype=torch.uint8)
    x[:2, :, :14] = 200
    act = mechanism.input_activity(model, x)
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
                                                                          mechanism.CANDIDATES if c not in
                                                                          ("dead_input_share", "sparsity_gained")}})
    return pd.DataFrame(rows)


def test_explained_finds_the_planted_explanation_and_only_it():
    e = mechanism.explained(contrast_rows(), 0.95).set_index("candidate")
    assert e.loc["dead_input_share", "rho"] < -0.9 and e.loc["dead_input_share", "r2"] > 0.9
    assert e.loc["dead_input_share", "reading"] == "larger value, AS keeps more"
    assert e.loc["sparsity_gained", "reading"] == "no relation shown"
    assert set(e.contrasts_per_seed) == {9}


def test_intervention_reads_a_difference_that_shrinks():
    iv = mechanism.intervention(contrast_rows(range(6)), 0.95)
    assert (iv.effect < 0).all() and iv.effect_live.abs().max() < 1.5
    assert set(iv.reading) <= {"difference shrinks", "no change shown"} and (iv.reading == "difference shrinks").any()

"""flatenn.power: known answers, and simulated studies drawn with a pilot's variance reach the
predicted power through the decision functions the workflow calls."""
import math

import numpy as np
import pandas as pd
import pytest

from flatenn import claims, power
from flatenn.stats import sign_flip_p, t_p


@pytest.mark.parametrize("effect, sd, n, m", [(5.0, 3.5, 8, 3), (5.0, 1.6, 6, 6), (3.0, 2.6, 12, 9)])
def test_simulated_studies_reach_the_predicted_t_power(effect, sd, n, m):
    """2,000 studies of n networks decided as claims decides a family's row (Bonferroni over m,
    claims.verdict_of on t_p): the share that passes matches power.t_power within 4 standard errors."""
    rng = np.random.default_rng(11)
    alpha = 0.05
    passed = 0
    draws = 2000
    for _ in range(draws):
        v = rng.normal(effect, sd, n)
        passed += claims.verdict_of(min(1.0, t_p(v) * m), v.mean(), alpha) == "PASS"
    predicted = power.t_power(effect, sd, n, alpha / m)
    assert abs(passed / draws - predicted) < 4 * math.sqrt(predicted * (1 - predicted) / draws) + 1e-9


def test_permutation_power_is_zero_where_the_level_cannot_be_reached_and_matches_simulation():
    assert power.permutation_power(5.0, 1.0, 5, 0.05 / 6) == 0.0  # 2 / 32 > 0.05 / 6
    rng = np.random.default_rng(3)
    hits = sum(sign_flip_p(rng.normal(5.0, 3.5, 9))[0] < 0.05 / 3 for _ in range(600))
    predicted = power.permutation_power(5.0, 3.5, 9, 0.05 / 3, draws=600, seed=4)
    assert abs(hits / 600 - predicted) < 4 * math.sqrt(predicted * (1 - predicted) / 600) + 0.01


def test_tost_power_of_two_equal_architectures():
    """Known answer: with no noise to speak of the TOST always passes; with noise as wide as the
    margin it rarely does; power grows with n."""
    assert power.tost_power(5.0, 0.01, 0.01, 5, 0.05) == pytest.approx(1.0)
    low, high = power.tost_power(5.0, 5.0, 5.0, 5, 0.05 / 9), power.tost_power(5.0, 5.0, 5.0, 20, 0.05 / 9)
    assert low < 0.05 and high > low


def test_the_pilot_sd_is_read_back_from_its_family_wise_interval():
    """A claims row built from known per-seed values: table() recovers their sd exactly and
    needed() the first n that reaches the target."""
    from flatenn.stats import mean_ci
    from scipy import stats as st

    v = np.array([-3.0, -5.5, -1.0, -4.0, -6.5])
    m, alpha = 6, 0.05
    ci = mean_ci(v, 1 - alpha / m)
    row = pd.DataFrame([{"claim": "C1", "dataset": "d", "arch": "a", "fault": "bitflip", "comparison": "as-standard",
                         "quantity": "retained_gap", "role": "primary", "family_size": m, "n_seeds": 5,
                         "p_adjusted": 0.01, "adj_ci_low": ci["ci_low"], "adj_ci_high": ci["ci_high"],
                         "a_variant": "as"}])
    plan = {"level": 0.95, "power": {"target": 0.8, "sesoi": {"C1": 5, "C3": 3, "C4": 3, "curvature_percent": 25}}}
    t = power.table(row, plan, range(4, 13), draws=50)
    assert t.pilot_sd.iloc[0] == pytest.approx(v.std(ddof=1))
    need = power.needed(t, 0.8).iloc[0]
    first = min(n for n in range(4, 13) if power.t_power(5, v.std(ddof=1), n, alpha / m) >= 0.8)
    assert need.n_t == first and st.t.ppf(0.5, 3) == 0


def test_the_radius_rule_takes_the_largest_radius_within_the_margin_for_every_variant():
    """Known answer: the standard network costs 0.4, 1.0 and 2.0 points at rho 0.1, 0.2 and 0.4 and
    the AS network 0.2, 1.6 and 1.0: 0.1 is the largest radius within 1.5 points for both (0.4 is
    within for the AS network alone; 0.2 fails for it). Faulty accuracy is not an input."""
    from flatenn import radius

    conv = pd.DataFrame([{"dataset": "d", "arch": "a", "variant": v, "seed": 100, "val_accuracy": 0.90}
                         for v in ("standard", "as1")])
    cost = {("standard", 0.1): 0.4, ("standard", 0.2): 1.0, ("standard", 0.4): 2.0,
            ("as1", 0.1): 0.2, ("as1", 0.2): 1.6, ("as1", 0.4): 1.0}
    saq = pd.DataFrame([{"dataset": "d", "arch": "a", "variant": v, "seed": 100, "rho": r,
                         "val_accuracy": 0.90 - c / 100, "saq_move_steps": 0.01 * r} for (v, r), c in cost.items()])
    table = radius.ladder(saq, conv, 1.5)
    assert radius.chosen(table) == {"a": 0.1}
    assert table.cost_points.to_numpy() == pytest.approx([cost[(v, r)] for v, r in zip(table.variant, table.rho)])
    assert "**rho 0.1**" in radius.findings(table, 1.5)
    with pytest.raises(ValueError, match="no conventional network"):
        radius.ladder(saq, conv[conv.variant == "standard"], 1.5)

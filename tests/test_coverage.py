"""Coverage of C1's interval through the workflow's own chain (tests/coverage_sim.py), on 4,000
simulated studies per scenario: the t interval over seeds holds its 95 % where seeds are
Gaussian or heavy-tailed, and a wrong estimator put into the same chain (sample variance with
ddof=0, or a normal quantile instead of t's) falls outside the band. One fragile seed in five
on average makes every seed-level t interval under-cover; the docs say so (docs/coverage.md)."""
import numpy as np
import pytest
from scipy import stats as st

import coverage_sim
from flatenn import claims, stats

pytestmark = pytest.mark.slow
STUDIES = 4000  # a 95 % coverage is estimated to +-0.34 % (one standard error)
BAND = (0.940, 0.960)  # +-2.9 standard errors


def wrong(kind):
    """seed_intervals with a wrong interval: ddof=0 standard deviations, or z instead of t."""
    def intervals(df, keys, value, level=0.95, power=0.8):
        out = stats.seed_intervals(df, keys, value, level, power)
        n = out["n"].to_numpy(dtype=float)
        crit = st.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1))
        half = out["half_width"].to_numpy()
        half = half * np.sqrt((n - 1) / n) if kind == "ddof0" else half * st.norm.ppf(0.5 + level / 2) / crit
        out["ci_low"], out["ci_high"], out["half_width"] = out["mean"] - half, out["mean"] + half, half
        return out
    return intervals


@pytest.fixture(scope="module")
def gaussian():
    return coverage_sim.simulate("gaussian", STUDIES, seed=1)


def coverage_of(trials, truth):
    rows = coverage_sim.c1_rows(trials)
    assert len(rows) == STUDIES and set(rows.window_rates) == {"0.01, 0.03, 0.06"}
    return float(((rows.ci_low <= truth) & (truth <= rows.ci_high)).mean())


def test_t_interval_over_seeds_covers_in_the_band(gaussian):
    assert BAND[0] <= coverage_of(gaussian, coverage_sim.truth("gaussian")) <= BAND[1]


@pytest.mark.parametrize("kind, below", [("ddof0", 0.940), ("z", 0.90)])
def test_a_wrong_estimator_in_the_same_chain_falls_below_the_band(gaussian, monkeypatch, kind, below):
    monkeypatch.setattr(claims.decide, "seed_intervals", wrong(kind))
    assert coverage_of(gaussian, coverage_sim.truth("gaussian")) < below


def test_heavy_tailed_seeds_keep_the_coverage():
    assert BAND[0] <= coverage_of(coverage_sim.simulate("t3", STUDIES, seed=2), coverage_sim.truth("t3")) <= 0.97


def test_one_fragile_seed_in_five_makes_the_t_interval_under_cover():
    """Documented, not hidden: a third of 5-seed studies draw no fragile seed at all."""
    c = coverage_of(coverage_sim.simulate("fragile", STUDIES, seed=3), coverage_sim.truth("fragile"))
    assert 0.6 < c < 0.8

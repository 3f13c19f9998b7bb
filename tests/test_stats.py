import pytest

import numpy as np

from scipy import stats as sst

from flatenn.stats import (equivalence_verdict, mde, mean_ci, pooled_trials_ci, seed_level_ci,
                           variance_components, verdict, within_seed_rank_correlation)


def test_mean_ci_known_answer():
    ci = mean_ci([1.0, 2.0, 3.0, 4.0])
    # mean 2.5, sd sqrt(5/3), t(0.975, 3) = 3.182446
    half = 3.182446305 * (5 / 3) ** 0.5 / 2
    assert ci["mean"] == 2.5
    assert ci["ci_low"] == pytest.approx(2.5 - half, rel=1e-6)
    assert ci["ci_high"] == pytest.approx(2.5 + half, rel=1e-6)


def test_verdicts():
    assert verdict(0.1, 0.2) == "PASS"
    assert verdict(-0.2, -0.1) == "FAIL"
    assert verdict(-0.1, 0.2) == "INCONCLUSIVE"
    assert verdict(-0.2, -0.1, expect_positive=False) == "PASS"


def simulate_studies(rng, studies, seeds, trials, images, delta, sd_seed, sd_map, sd_image):
    """Per-trial paired differences of ``studies`` simulated designs: a network effect per seed,
    an image subset drawn per seed (its mean over ``images`` image effects) and a map effect
    per trial, all around the true difference ``delta``."""
    seed_effect = rng.normal(0, sd_seed, (studies, seeds, 1))
    image_effect = rng.normal(0, sd_image, (studies, seeds, images)).mean(axis=2, keepdims=True)
    map_effect = rng.normal(0, sd_map, (studies, seeds, trials))
    return delta + seed_effect + image_effect + map_effect


def coverage(estimator, data, delta):
    cis = [estimator(d) for d in data]
    return sum(ci["ci_low"] <= delta <= ci["ci_high"] for ci in cis) / len(cis)


def test_seed_level_interval_covers_and_the_pooled_one_does_not():
    rng = np.random.default_rng(2023)
    delta = 0.02
    data = simulate_studies(rng, 1000, seeds=5, trials=40, images=1000, delta=delta,
                            sd_seed=0.01, sd_map=0.05, sd_image=0.3)
    seed_level = coverage(lambda d: seed_level_ci(d.mean(axis=1)), data, delta)
    pooled = coverage(pooled_trials_ci, data, delta)
    assert seed_level >= 0.93, seed_level
    assert pooled < 0.80, pooled  # trials of the same networks are not independent samples


def test_mde_is_the_effect_found_with_80_percent_power():
    rng = np.random.default_rng(1)
    n, sd = 6, 1.0
    effect = mde(sd, n)
    # One-sample t test on n seeds with true mean = MDE: about 80 % of the intervals exclude 0.
    draws = rng.normal(effect, sd, (4000, n))
    power = np.mean([seed_level_ci(d)["ci_low"] > 0 for d in draws])
    assert 0.76 <= power <= 0.84, power
    assert mde(sd, 1) == float("inf")


def test_variance_components_recover_known_values():
    rng = np.random.default_rng(0)
    est = [variance_components(0.1 * rng.normal(size=(30, 1)) + 0.2 * rng.normal(size=(30, 50)))
           for _ in range(200)]
    assert np.mean([e["var_between_seeds"] for e in est]) == pytest.approx(0.01, rel=0.1)
    assert np.mean([e["var_within_seed"] for e in est]) == pytest.approx(0.04, rel=0.02)


def test_equivalence_verdicts():
    assert equivalence_verdict(-1.0, 1.0, 1.5) == "PASS"
    assert equivalence_verdict(-2.0, 1.0, 1.5) == "INCONCLUSIVE"
    assert equivalence_verdict(1.6, 3.0, 1.5) == "FAIL"


ORDER = [1.0, 2.0, 3.0]


@pytest.mark.parametrize("seeds, level, known", [
    # five seeds of 3 networks, all ranked in reverse: 2 of 6^5 orderings are as extreme
    ([(ORDER, ORDER[::-1])] * 5, 0.95, {"rho": -1.0, "p_t": 0.0, "p_permutation": 2 / 6 ** 5, "ci_high": -0.35}),
    # one of them -0.5 instead: 2 x (1 + 5 x 2) / 6^5; rejected at 95 %, not at 1 - 0.05/27
    ([(ORDER, ORDER[::-1])] * 4 + [(ORDER, [2.0, 3.0, 1.0])], 0.95, {"rho": -0.9, "p_permutation": 22 / 6 ** 5}),
    ([(ORDER, ORDER[::-1])] * 4 + [(ORDER, [2.0, 3.0, 1.0])], 1 - 0.05 / 27, {"rho": -0.9, "ci_high": 0.05}),
    # every seed +0.5: the t test sees no variance (p 0), the permutation test a common order
    ([(ORDER, [1.0, 3.0, 2.0])] * 5, 0.95, {"rho": 0.5, "p_t": 0.0, "p_value": pytest.approx(0.158951, abs=1e-6)}),
    # a seed whose metric ties every network carries no ranking: it drops out
    ([(ORDER, ORDER[::-1])] * 2 + [([2.0, 2.0, 2.0], ORDER)], 0.95, {"n": 2, "ci_low": -1.0, "ci_high": 1.0}),
])
def test_within_seed_rank_correlation_known_answers(seeds, level, known):
    r = within_seed_rank_correlation(seeds, level)
    assert {k: r[k] for k in known} == pytest.approx(known)
    assert -1 <= r["ci_low"] <= r["rho"] <= r["ci_high"] <= 1 and r["ci_high"] > r["ci_low"]
    assert r["p_value"] == max(r["p_t"], r["p_permutation"])
    assert ((r["ci_low"] > 0) | (r["ci_high"] < 0)) == (r["p_value"] < 1 - level)


def ranked_seeds(rng, seeds, networks, slope, noise):
    """Per seed, the ranks of a metric and of what each network keeps: the networks keep
    0, 1, 2, ... plus noise, and the metric falls with it by ``slope`` plus its own noise."""
    kept = np.arange(networks) + rng.normal(0, 1, (seeds, networks))
    metric = -slope * kept + rng.normal(0, noise, (seeds, networks))
    return [(sst.rankdata(m), sst.rankdata(k)) for m, k in zip(metric, kept)]


def fisher_z_interval(seeds, level):
    """The former estimator: a t interval of the mean Fisher z of the per-seed correlations,
    +-1 counted as +-0.999, mapped back."""
    z = np.arctanh(np.clip([np.corrcoef(x, y)[0, 1] for x, y in seeds], -0.999, 0.999))
    ci = mean_ci(z, level)
    return {"ci_low": np.tanh(ci["ci_low"]), "ci_high": np.tanh(ci["ci_high"])}


@pytest.mark.parametrize("networks, slope, noise, old_covers", [
    (3, 1.0, 0.3, False),   # a relation in nearly every seed: many studies have rho -1 in all five
    (3, 1.0, 1.5, False),   # a noisy one
    (4, 1.0, 2.0, True),
    (3, 0.0, 1.0, True)])   # none: the interval covers 0 as often as the test keeps its level
def test_within_seed_rank_correlation_covers_the_mean_correlation(networks, slope, noise, old_covers):
    """Coverage over 1,000 studies of 5 seeds at 95 %, the truth being the mean per-seed rank
    correlation over 20,000 seeds; the Fisher-z interval falls short where seeds agree."""
    rng = np.random.default_rng(7)
    truth = np.mean([np.corrcoef(x, y)[0, 1] for x, y in ranked_seeds(rng, 20000, networks, slope, noise)])
    studies = [ranked_seeds(rng, 5, networks, slope, noise) for _ in range(1000)]
    new = coverage(lambda s: within_seed_rank_correlation(s, 0.95), studies, truth)
    old = coverage(lambda s: fisher_z_interval(s, 0.95), studies, truth)
    assert new >= 0.94, new
    assert (old >= 0.94) == old_covers, old
    if slope == 0:
        rejected = np.mean([within_seed_rank_correlation(s, 0.95)["p_value"] < 0.05 for s in studies])
        assert rejected <= 0.05, rejected


def test_the_sign_flip_tost_knows_its_answers_and_keeps_its_level_at_the_boundary():
    """Known answers: ten values inside the margin on both sides give the smallest p, 1 / 2^10
    (only the observed signs reach it), for equivalence and none for non-equivalence; values well
    outside the margin the other way round. At the boundary (true mean = margin, symmetric noise)
    the equivalence test rejects at most alpha of the time (within simulation error)."""
    from flatenn.stats import sign_flip_tost_p

    inside = np.linspace(-0.4, 0.4, 10)
    eq, out, smallest = sign_flip_tost_p(inside, 1.0)
    assert (eq, smallest) == (1 / 1024, 1 / 1024) and out == 1.0
    eq, out, _ = sign_flip_tost_p(inside + 3.0, 1.0)
    assert eq == 1.0 and out == 1 / 1024
    assert sign_flip_tost_p(-inside - 3.0, 1.0)[1] == 1 / 1024  # |mean| > margin on the negative side too
    assert np.isnan(sign_flip_tost_p([0.1], 1.0)[0])
    rng = np.random.default_rng(0)
    rejected = np.mean([sign_flip_tost_p(1.0 + rng.standard_normal(10), 1.0)[0] < 0.05 for _ in range(2000)])
    assert rejected <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 2000)
    # and it has power where the values sit well inside
    assert np.mean([sign_flip_tost_p(0.2 * rng.standard_normal(10), 1.0)[0] < 0.05 for _ in range(200)]) > 0.9

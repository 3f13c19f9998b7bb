import pytest

import numpy as np

from flatenn.stats import (equivalence_verdict, mde, mean_ci, pooled_trials_ci, seed_level_ci,
                           variance_components, verdict)


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

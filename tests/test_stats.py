import pytest

from flatenn.stats import mean_ci, paired_diff_ci, verdict


def test_mean_ci_known_answer():
    ci = mean_ci([1.0, 2.0, 3.0, 4.0])
    # mean 2.5, sd sqrt(5/3), t(0.975, 3) = 3.182446
    half = 3.182446305 * (5 / 3) ** 0.5 / 2
    assert ci["mean"] == 2.5
    assert ci["ci_low"] == pytest.approx(2.5 - half, rel=1e-6)
    assert ci["ci_high"] == pytest.approx(2.5 + half, rel=1e-6)


def test_paired_difference_removes_common_noise():
    a = [0.50, 0.80, 0.30, 0.90]
    b = [0.49, 0.79, 0.28, 0.88]
    ci = paired_diff_ci(a, b)
    assert ci["mean"] == pytest.approx(0.015)
    assert ci["ci_low"] > 0  # the unpaired CIs would overlap completely
    with pytest.raises(ValueError, match="^a, b:"):
        paired_diff_ci([1, 2], [1])


def test_verdicts():
    assert verdict(0.1, 0.2) == "PASS"
    assert verdict(-0.2, -0.1) == "FAIL"
    assert verdict(-0.1, 0.2) == "INCONCLUSIVE"
    assert verdict(-0.2, -0.1, expect_positive=False) == "PASS"

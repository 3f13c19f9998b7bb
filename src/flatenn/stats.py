"""Confidence intervals whose unit is the trained network (seed).

Every claim is about a training procedure, so one independently trained network is one
observation. Fault maps and evaluation images are nested in a seed (each seed draws its own
maps and its own image subset), so a seed's mean over trials already carries the map and
image noise; a Student t interval over those per-seed values accounts for all three levels.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as st


def mean_ci(values, level: float = 0.95) -> dict:
    """Mean, sample std and the two-sided t confidence interval of the mean."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    if n == 0:
        raise ValueError("values: empty")
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if n > 1 else 0.0
    half = float(st.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n)) if n > 1 and std > 0 else (
        0.0 if n > 1 else math.inf)
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half,
            "half_width": half}


def mde(std: float, n: int, level: float = 0.95, power: float = 0.8) -> float:
    """Smallest true mean a two-sided one-sample t test on n seeds detects with ``power``."""
    if n < 2 or not np.isfinite(std):
        return math.inf
    df = n - 1
    return float((st.t.ppf(0.5 + level / 2, df) + st.t.ppf(power, df)) * std / math.sqrt(n))


def seed_level_ci(per_seed, level: float = 0.95, power: float = 0.8) -> dict:
    """The estimator of every claim: t interval over per-seed values, with its MDE."""
    ci = mean_ci(per_seed, level)
    return {**ci, "mde": mde(ci["std"], ci["n"], level, power)}


def pooled_trials_ci(per_trial, level: float = 0.95) -> dict:
    """The former estimator, kept to show its undercoverage: trials pooled over seeds as
    if independent. It describes the particular networks, not the training procedure."""
    return mean_ci(np.ravel(per_trial), level)


def variance_components(per_trial: np.ndarray) -> dict:
    """One-way random-effects ANOVA of a (seeds x trials) array of paired differences.

    Returns the between-seed variance (networks and their image subsets together) and the
    within-seed variance (fault maps), method-of-moments estimates (negative clipped to 0).
    """
    d = np.asarray(per_trial, dtype=float)
    s, t = d.shape
    if s < 2 or t < 2:
        return {"seeds": s, "trials": t, "var_between_seeds": math.nan, "var_within_seed": math.nan}
    within = float(d.var(axis=1, ddof=1).mean())
    between = max(0.0, float(d.mean(axis=1).var(ddof=1)) - within / t)
    return {"seeds": s, "trials": t, "var_between_seeds": between, "var_within_seed": within}


def verdict(ci_low: float, ci_high: float, *, expect_positive: bool = True) -> str:
    """PASS when the CI lies on the claimed side of zero, FAIL on the other, else INCONCLUSIVE."""
    lo, hi = (ci_low, ci_high) if expect_positive else (-ci_high, -ci_low)
    if lo > 0:
        return "PASS"
    if hi < 0:
        return "FAIL"
    return "INCONCLUSIVE"


def equivalence_verdict(ci_low: float, ci_high: float, margin: float) -> str:
    """PASS when the CI lies inside (-margin, margin), FAIL when wholly outside it."""
    if -margin < ci_low and ci_high < margin:
        return "PASS"
    if ci_high < -margin or ci_low > margin:
        return "FAIL"
    return "INCONCLUSIVE"

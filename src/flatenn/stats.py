"""Confidence intervals of means and of paired differences (Student's t)."""
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


def paired_diff_ci(a, b, level: float = 0.95) -> dict:
    """CI of mean(a - b) for observations paired by position (common random numbers)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"a, b: paired samples need equal lengths, got {len(a)} and {len(b)}")
    return mean_ci(a - b, level)


def verdict(ci_low: float, ci_high: float, *, expect_positive: bool = True) -> str:
    """PASS when the CI lies on the claimed side of zero, FAIL on the other, else INCONCLUSIVE."""
    lo, hi = (ci_low, ci_high) if expect_positive else (-ci_high, -ci_low)
    if lo > 0:
        return "PASS"
    if hi < 0:
        return "FAIL"
    return "INCONCLUSIVE"

"""Confidence intervals whose unit is the trained network (seed).

Every claim is about a training procedure, so one independently trained network is one
observation. Fault maps and evaluation images are nested in a seed (each seed draws its own
maps and its own image subset), so a seed's mean over trials already carries the map and
image noise; a Student t interval over those per-seed values accounts for all three levels.
"""
from __future__ import annotations

import functools
import itertools
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


def seed_intervals(df, keys: list, value: str, level: float = 0.95, power: float = 0.8):
    """``seed_level_ci`` for every group of ``df`` by ``keys`` at once (one row per seed within a
    group): n, mean, std, the t interval, its MDE and the two-sided p-value of mean = 0.

    The claims call this on thousands of groups (the coverage tests on thousands of studies)."""
    d = df[[*keys, value]]
    g = d.groupby(keys, sort=True, dropna=False)[value] if keys else d.assign(_all=0).groupby("_all")[value]
    # n counts the defined values: a group whose values are all undefined stays, with n = 0
    out = g.agg(n="count", mean="mean", std=lambda v: v.std(ddof=1)).reset_index()
    if not keys:
        out = out.drop(columns="_all")
    n = out["n"].to_numpy(dtype=float)
    df_ = np.maximum(n - 1, 1)
    out["n"] = out["n"].astype(int)
    se = out["std"].to_numpy() / np.sqrt(n)
    crit = st.t.ppf(0.5 + level / 2, df_)
    half = np.where(n > 1, crit * se, np.inf)
    mean = out["mean"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = np.where(se > 0, mean / se, np.where(mean == 0, 0.0, np.sign(mean) * np.inf))
    out["ci_low"], out["ci_high"], out["half_width"] = mean - half, mean + half, half
    out["mde"] = np.where(n > 1, (crit + st.t.ppf(power, df_)) * out["std"].to_numpy() / np.sqrt(n), np.inf)
    out["p_value"] = np.where(n > 1, 2 * st.t.sf(np.abs(tstat), df_), np.nan)
    return out


def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error rate); NaN stays NaN and does not
    count as a hypothesis."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def welch(a, b, level: float = 0.95) -> dict:
    """Mean of a minus mean of b (independent samples), Welch's t interval and two-sided p."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return {"diff": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p_value": math.nan, "df": math.nan}
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if se > 0 else len(a) + len(b) - 2
    diff = float(a.mean() - b.mean())
    half = float(st.t.ppf(0.5 + level / 2, df) * se)
    p = float(2 * st.t.sf(abs(diff) / se, df)) if se > 0 else float(diff == 0)
    return {"diff": diff, "ci_low": diff - half, "ci_high": diff + half, "p_value": p, "df": df}


def one_sided_p(mean: float, std: float, n: int, *, greater: bool) -> float:
    """p of the one-sample t test of mean > 0 (greater) or mean < 0."""
    if n < 2:
        return math.nan
    se = std / math.sqrt(n)
    if se == 0:
        return 0.0 if (mean > 0) == greater and mean != 0 else 1.0
    t = mean / se
    return float(st.t.sf(t, n - 1) if greater else st.t.cdf(t, n - 1))


def tost(values, margin: float, alpha: float = 0.05) -> dict:
    """Two one-sided tests of |mean| < margin: the (1 - 2 alpha) t interval, and the TOST p-value
    (the larger one-sided p). PASS (equivalent) when the interval lies inside +-margin, FAIL when
    it lies wholly outside, else INCONCLUSIVE."""
    ci = mean_ci(values, 1 - 2 * alpha)
    v = np.asarray(values, dtype=float)
    p = max(one_sided_p(float(v.mean()) + margin, ci["std"], ci["n"], greater=True),
            one_sided_p(float(v.mean()) - margin, ci["std"], ci["n"], greater=False))
    return {**ci, "p_value": p, "verdict": equivalence_verdict(ci["ci_low"], ci["ci_high"], margin)}


def t_p(values) -> float:
    """Two-sided p of the one-sample t test of mean = 0 (NaN below 2 values)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) < 2:
        return math.nan
    return min(one_sided_p(float(v.mean()), float(v.std(ddof=1)), len(v), greater=True),
               one_sided_p(float(v.mean()), float(v.std(ddof=1)), len(v), greater=False)) * 2


def _tail(null: np.ndarray, observed: float) -> np.ndarray:
    return null >= observed - 1e-12 * max(1.0, abs(observed))  # ties by rounding count as as extreme


def _sign_patterns(n: int, exact_up_to: int, resamples: int, seed: int) -> tuple[np.ndarray, bool]:
    """Sign patterns of n values: all 2^n where 2^n <= ``exact_up_to`` (then True), else
    ``resamples`` random ones."""
    if 2 ** n <= exact_up_to:
        return 1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1), True
    return np.random.default_rng(seed).choice([-1.0, 1.0], size=(resamples, n)), False


def sign_flip_p(values, exact_up_to: int = 4096, resamples: int = 20000, seed: int = 0) -> tuple[float, float]:
    """Permutation test of mean = 0 over seeds: the two-sided p of |mean| under random signs of
    the per-seed values (exact over all 2^n sign patterns where 2^n <= ``exact_up_to``, else
    ``resamples`` Monte-Carlo patterns), and the smallest p this n can give (the observed
    pattern and its mirror: 2 / 2^n)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    n = len(v)
    if n < 2:
        return math.nan, math.nan
    observed = abs(float(v.mean()))
    signs, exact = _sign_patterns(n, exact_up_to, resamples, seed)
    if exact:
        return float(_tail(np.abs(signs @ v) / n, observed).mean()), 2 / 2 ** n
    return float((1 + _tail(np.abs(signs @ v) / n, observed).sum()) / (resamples + 1)), 1 / (resamples + 1)


def _flip_greater(u: np.ndarray, exact_up_to: int, resamples: int, seed: int) -> float:
    """One-sided sign-flip p of mean(u) > 0: the share of sign patterns whose mean is at least the
    observed one (exact over all 2^n where 2^n <= ``exact_up_to``, else Monte-Carlo)."""
    n, observed = len(u), float(u.mean())
    signs, exact = _sign_patterns(n, exact_up_to, resamples, seed)
    if exact:
        return float(_tail(signs @ u / n, observed).mean())
    return float((1 + _tail(signs @ u / n, observed).sum()) / (resamples + 1))


def sign_flip_tost_p(values, margin: float, exact_up_to: int = 4096, resamples: int = 20000,
                     seed: int = 0) -> tuple[float, float, float]:
    """Permutation form of ``tost`` over seeds: (the equivalence p, the larger of the one-sided
    sign-flip p's of mean > -margin and of mean < margin, each on the values shifted to its
    boundary; the non-equivalence p, the one-sided sign-flip p of |mean| > margin on the mean's
    side; the smallest p this n can give, 1 / 2^n)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) < 2:
        return math.nan, math.nan, math.nan
    kw = {"exact_up_to": exact_up_to, "resamples": resamples, "seed": seed}
    equivalent = max(_flip_greater(v + margin, **kw), _flip_greater(margin - v, **kw))
    outside = _flip_greater(v - margin if v.mean() >= 0 else -v - margin, **kw)
    smallest = 1 / 2 ** len(v) if 2 ** len(v) <= exact_up_to else 1 / (resamples + 1)
    return equivalent, outside, smallest


def relabel_p(a, b, exact_up_to: int = 4096, resamples: int = 20000, seed: int = 0) -> tuple[float, float]:
    """Permutation test of equal means of two independent samples: the two-sided p of
    |mean(a) - mean(b)| over relabellings of the pooled values (exact where their count is at
    most ``exact_up_to``), and the smallest p attainable."""
    import itertools

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    pooled, na = np.concatenate([a, b]), len(a)
    total = pooled.sum()
    observed = abs(float(a.mean() - b.mean()))
    count = math.comb(len(pooled), na)
    if count <= exact_up_to:
        idx = np.array(list(itertools.combinations(range(len(pooled)), na)))
        sa = pooled[idx].sum(axis=1)
        null = np.abs(sa / na - (total - sa) / len(b))
        return float(_tail(null, observed).mean()), (2 if na == len(b) else 1) / count
    rng = np.random.default_rng(seed)
    sa = np.array([pooled[rng.permutation(len(pooled))[:na]].sum() for _ in range(resamples)])
    null = np.abs(sa / na - (total - sa) / len(b))
    return float((1 + _tail(null, observed).sum()) / (resamples + 1)), 1 / (resamples + 1)


# Per seed, every ordering of its networks is enumerated up to this many (8 networks); beyond,
# RANK_RESAMPLES random orderings (fixed seed) stand in for them.
RANK_EXACT_UP_TO, RANK_RESAMPLES = 40320, 20000


def _decimals(values) -> np.ndarray:
    return np.round(np.asarray(values, dtype=float), 9)  # ties that rounding split count as ties


def _correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``x`` with each row of ``y`` (of ranks: Spearman's rho)."""
    xc, yc = x - x.mean(), y - y.mean(axis=-1, keepdims=True)
    return yc @ xc / np.sqrt((xc @ xc) * (yc ** 2).sum(axis=-1))


@functools.lru_cache(maxsize=4096)
def _rank_correlation_null(x: tuple, y: tuple) -> tuple[np.ndarray, np.ndarray]:
    """The rank correlation of one seed's networks with their ranks of ``y`` shuffled among them
    (no relation within the seed): its values and their probabilities."""
    x, y = np.array(x), np.array(y)
    n = len(x)
    if math.factorial(n) <= RANK_EXACT_UP_TO:
        orders = np.array(list(itertools.permutations(range(n))))
    else:
        rng = np.random.default_rng(0)
        orders = np.array([rng.permutation(n) for _ in range(RANK_RESAMPLES)])
    support, counts = np.unique(_decimals(_correlation(x, y[orders])), return_counts=True)
    return support, counts / counts.sum()


def _sum_null(seeds: list) -> tuple[np.ndarray, np.ndarray]:
    """The distribution of the sum over seeds of independent per-seed nulls (exact convolution)."""
    support, prob = np.zeros(1), np.ones(1)
    for x, y in seeds:
        s, p = _rank_correlation_null(tuple(np.sort(x)), tuple(np.sort(y)))
        support, inverse = np.unique(_decimals(support[:, None] + s[None, :]).ravel(), return_inverse=True)
        prob = np.bincount(inverse, weights=(prob[:, None] * p[None, :]).ravel(), minlength=len(support))
    return support, prob


def within_seed_rank_correlation(seeds, level: float = 0.95) -> dict:
    """Does one variable order a seed's networks as another does? ``seeds``: per seed, the two
    variables' ranks over that seed's networks. The estimate is the mean over seeds of the
    per-seed rank correlation (seeds where either variable is constant carry none and drop out).

    Two tests of "no relation", each exact where its assumptions hold: the t test over seeds (the
    seed is the unit) and the permutation test of the networks' ranks within each seed, whose
    null distribution of the sum over seeds is convolved exactly. With 3 networks a seed's
    correlation takes four values, and seeds that all agree give the t test zero variance and an
    interval of zero width; the permutation test is what such seeds can show. A relation is read
    where both reject (``p_value`` is the larger p); the interval at ``level`` is the estimate
    plus and minus the larger of the t half-width and the permutation test's critical value (the
    edge between the means it does and does not reject), inside [-1, 1]: it excludes zero exactly where both tests
    reject at 1 - ``level``, always holds the estimate, and never leaves the correlation's range."""
    kept = []
    for x, y in seeds:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if len(x) != len(y):
            raise ValueError(f"ranks: {len(x)} and {len(y)} networks in one seed")
        if len(x) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            kept.append((x, y))
    n = len(kept)
    rho = np.array([_correlation(x, y) for x, y in kept])
    out = {"n": n, "rho": float(rho.mean()) if n else math.nan, "ci_low": -1.0, "ci_high": 1.0,
           "p_value": math.nan, "p_t": math.nan, "p_permutation": math.nan}
    if n < 2:
        return out
    mean = float(rho.mean())
    ci = mean_ci(rho, level)
    p_t = t_p(rho)
    support, prob = _sum_null(kept)
    magnitude = np.abs(support)
    observed = abs(float(_decimals(rho.sum())))
    p_perm = float(prob[magnitude >= observed - 1e-9].sum())
    # The permutation test's critical value, halfway between the largest |sum| it does not reject
    # at 1 - level and the next one (the statistic takes no value between): the observed sum is
    # never on the edge. Where it rejects nothing, the whole range.
    values = np.unique(magnitude)
    tail = np.array([prob[magnitude >= m - 1e-9].sum() for m in values])
    accepted = int(np.flatnonzero(tail >= 1 - level).max())
    critical = (values[accepted] + values[accepted + 1]) / 2 / n if accepted + 1 < len(values) else 2.0
    half = max(ci["half_width"], critical)
    return {**out, "rho": mean, "ci_low": max(-1.0, float(mean - half)), "ci_high": min(1.0, float(mean + half)),
            "p_value": max(p_t, p_perm), "p_t": p_t, "p_permutation": p_perm}

"""Verdict words that say no more than the evidence (pure: numbers and the plan in, words out).

- A contrast that no test decides is "equivalent within +-margin" only where its family-wise
  equivalence interval (TOST: level 1 - 2 alpha / m) lies inside the plan's margin, else
  "undetermined": never "no difference".
- A family verdict carries its robustness: "robust" where no decided row is fragile, "fragile"
  where every decided row is, "partly fragile" otherwise; and it separates "the claim's direction
  is not supported" from "the opposite is shown" (a FAIL whose decided rows are not all fragile).
- An intervention on a mediator (the sparsity switch) is read as mediation: the share of the
  effect that moves per share of the mediator moved, tested against both "none" and "full".
"""
from __future__ import annotations

import math

import numpy as np

UNDETERMINED = "undetermined"


def family_verdict(verdicts) -> str:
    """One verdict for a family of primary rows: PASS or FAIL where rows decide one way only,
    MIXED where they decide both ways, INCONCLUSIVE where none decides."""
    v = set(verdicts)
    if {"PASS", "FAIL"} <= v:
        return "MIXED"
    return "PASS" if "PASS" in v else "FAIL" if "FAIL" in v else "INCONCLUSIVE"


def equivalence_word(margin: float, unit: str = "points") -> str:
    return f"equivalent within +-{margin:g} {unit}"


def contrast_words(p_adjusted: float, diff: float, eq_low: float, eq_high: float, margin: float, alpha: float,
                   differs: tuple[str, str], unit: str = "points") -> str:
    """``differs[0]`` where the adjusted test rejects with diff > 0, ``differs[1]`` with diff < 0;
    else equivalent within the margin where the equivalence interval (eq_low, eq_high) lies inside
    it; else undetermined (the interval reaches past the margin)."""
    if p_adjusted < alpha:
        return differs[0] if diff > 0 else differs[1]
    if eq_low > -margin and eq_high < margin:
        return equivalence_word(margin, unit)
    return UNDETERMINED


def is_equivalence(word: str) -> bool:
    return str(word).startswith("equivalent within") or word == UNDETERMINED


def family_robustness(rows, fragile_share: float = 1.0) -> tuple[str, int, int]:
    """(word, fragile, decided) over a family's rows (objects with ``verdict`` and ``robustness``;
    decided rows are PASS or FAIL): "fragile" where at least ``fragile_share`` of the decided rows
    are (the plan's ``verdict_words.fragile_share``), "robust" where none is, else "partly fragile"."""
    decided = [r for r in rows if r.verdict in ("PASS", "FAIL")]
    fragile = sum(r.robustness == "fragile" for r in decided)
    if not decided:
        return "", 0, 0
    word = "fragile" if fragile >= fragile_share * len(decided) else "partly fragile" if fragile else "robust"
    return word, fragile, len(decided)


def _how(rows) -> str:
    """How the fragile rows turn, from their ``fragile_by`` column: without one seed, at another
    window, under the permutation test."""
    by = " ".join(str(r.fragile_by) for r in rows if r.robustness == "fragile")
    ways = [w for key, w in (("without", "without one seed"), ("at window", "at another window"),
                             ("permutation", "under the permutation test")) if key in by]
    return " or ".join(ways)


def family_words(verdict: str, rows, fragile_share: float = 1.0) -> str:
    """The family verdict with its robustness word, e.g. "FAIL (fragile: every decided row changes
    without one seed or at another window)", "FAIL (partly fragile: 1 of 2 decided rows)",
    "FAIL (robust)"; an undecided family's verdict as it is."""
    rows = list(rows)
    word, fragile, decided = family_robustness(rows, fragile_share)
    if not decided:
        return verdict
    if word == "fragile":
        every = "every decided row changes" if fragile == decided else f"{fragile} of {decided} decided rows change"
        return f"{verdict} (fragile: {every} {_how(rows)})"
    if word == "partly fragile":
        return f"{verdict} (partly fragile: {fragile} of {decided} decided rows)"
    return f"{verdict} (robust)"


def direction(verdict: str, rows, seeds_for: int, seeds_against: int, fragile_share: float = 1.0) -> str:
    """What the family shows about the claim's direction: "supported" (PASS, not fragile), "not
    supported; the opposite is shown" (FAIL, not fragile), else "not supported" (or, for a fragile
    PASS, "not shown robustly"), with how many per-seed values point each way."""
    rows = list(rows)
    word, _, decided = family_robustness(rows, fragile_share)
    count = f"{seeds_for} of {seeds_for + seeds_against} per-seed values point the claim's way, {seeds_against} against"
    if verdict == "PASS":
        return f"supported ({count})" if word != "fragile" else f"not shown robustly: every decided row is fragile ({count})"
    if verdict == "FAIL" and word != "fragile":
        return f"not supported; the opposite is shown ({count})"
    if verdict == "FAIL":
        return f"not supported: no row decides for it, and the opposite is not shown robustly ({count})"
    if verdict == "MIXED":
        return f"rows decide both ways ({count})"
    return f"not supported: no row decides ({count})"


# ---------------------------------------------------------------- mediation

def mediation_share(change: np.ndarray, full: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """The share of the effect that the intervention moves per share of the mediator it moves:
    mean(change) / mean(full), ``full`` the per-seed change that full proportional mediation
    predicts; with Fieller's interval at level 1 - alpha (the set of shares s for which the t test
    of change - s x full does not reject; infinite where it is unbounded)."""
    x, y = np.asarray(change, float), np.asarray(full, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    n = len(x)
    if n < 2 or np.mean(y) == 0:
        return math.nan, -math.inf, math.inf
    from scipy import stats as st

    t2 = st.t.ppf(1 - alpha / 2, n - 1) ** 2 / n
    mx, my = x.mean(), y.mean()
    vxx, vyy, vxy = np.var(x, ddof=1), np.var(y, ddof=1), np.cov(x, y, ddof=1)[0, 1]
    # (mx - s my)^2 <= t2 (vxx - 2 s vxy + s^2 vyy): a quadratic a s^2 + b s + c <= 0
    a, b, c = my ** 2 - t2 * vyy, -2 * (mx * my - t2 * vxy), mx ** 2 - t2 * vxx
    share = mx / my
    disc = b * b - 4 * a * c
    if a <= 0 or disc < 0:
        return share, -math.inf, math.inf
    r = math.sqrt(disc)
    return share, (-b - r) / (2 * a), (-b + r) / (2 * a)


def mediation_reading(p_none: float, p_full: float, alpha: float) -> str:
    """Both tests adjusted alike: change 0 ("no mediation") and change = full proportional
    mediation's prediction. "In the weights" only where full mediation is excluded and no change is
    shown."""
    none_out, full_out = p_none < alpha, p_full < alpha
    if full_out and not none_out:
        return "in the weights (full mediation excluded)"
    if full_out and none_out:
        return "partial mediation (both none and full excluded)"
    if none_out:
        return "consistent with full mediation"
    return UNDETERMINED + " (neither none nor full mediation excluded)"

"""Calibration of a depth study on a pilot seed, before the study runs.

Two questions, answered per architecture from networks trained on a seed the study does not
use: which activation-penalty strength (alpha, at the grid's FATReLU threshold) gains a given
activation sparsity over the standard network, and at which faulty rate the standard network
keeps a given share of its above-chance accuracy. Answers interpolate between grid points
(strengths on log alpha, rates on log rate) at the first crossing; a target outside the grid,
or one whose clean accuracy cost exceeds the limit, is reported as such, never extrapolated.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

COLUMNS = ["kind", "arch", "fault", "target", "value", "x_below", "x_above", "y_below", "y_above",
           "clean_cost", "status"]


def crossing(x, y, target: float):
    """(x at which y, linear in log x between neighbouring grid points, first reaches ``target``,
    the bracketing points); None when y never reaches it on the grid. ``x`` must be positive and
    increasing; y may be increasing or decreasing."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    for i in range(len(x) - 1):
        lo, hi = y[i], y[i + 1]
        if min(lo, hi) <= target <= max(lo, hi) and lo != hi:
            f = (target - lo) / (hi - lo)
            return math.exp(math.log(x[i]) + f * (math.log(x[i + 1]) - math.log(x[i]))), i
        if lo == target:
            return float(x[i]), i
    return None


def bracket(x, y, target: float) -> dict | None:
    """``crossing`` with its bracketing grid points: value (unrounded), i and j (their indices),
    x_below, x_above, y_below, y_above; None when y never reaches ``target``."""
    hit = crossing(x, y, target)
    if hit is None:
        return None
    value, i = hit
    j = min(i + 1, len(x) - 1)
    return {"value": value, "i": i, "j": j, "x_below": x[i], "x_above": x[j], "y_below": y[i], "y_above": y[j]}


def significant(value: float, digits: int) -> float:
    """``value`` rounded to ``digits`` significant digits (what goes into a config)."""
    return float(f"{value:.{digits - 1}e}")


def strengths(clean: pd.DataFrame, alphas: dict, gains: list[float], max_clean_cost: float) -> pd.DataFrame:
    """Per architecture and target sparsity gain, the alpha that reaches it.

    ``clean``: one row per network of the pilot seed (arch, variant, accuracy,
    activation_sparsity), conventional training; ``alphas``: {arch: {variant: alpha}} of the AS
    grid (every variant but standard, alpha > 0). A target is ``reached`` when it lies within the
    grid and the interpolated clean cost (standard minus AS accuracy) is at most
    ``max_clean_cost``; ``too_costly`` or ``outside_grid`` otherwise."""
    rows = []
    for arch, g in clean.groupby("arch", sort=True):
        base = g[g.variant == "standard"]
        if len(base) != 1:
            raise ValueError(f"clean: {arch} needs exactly one standard network, found {len(base)}")
        grid = g[g.variant != "standard"].assign(alpha=lambda d: [alphas[arch][v] for v in d.variant])
        if (grid.alpha <= 0).any():
            raise ValueError(f"alphas: {arch}'s AS grid must have alpha > 0 (interpolation is on log alpha)")
        grid = grid.sort_values("alpha")
        gain = grid.activation_sparsity.to_numpy() - float(base.activation_sparsity.iloc[0])
        cost = float(base.accuracy.iloc[0]) - grid.accuracy.to_numpy()
        a = grid.alpha.to_numpy()
        for target in gains:
            b = bracket(a, gain, target)
            row = {"kind": "strength", "arch": arch, "fault": "", "target": target}
            if b is None:
                rows.append({**row, "value": np.nan, "status": "outside_grid",
                             "y_below": gain.min(), "y_above": gain.max()})
                continue
            i, j, value = b.pop("i"), b.pop("j"), b.pop("value")
            f = 0.0 if a[j] == a[i] else (math.log(value) - math.log(a[i])) / (math.log(a[j]) - math.log(a[i]))
            c = cost[i] + f * (cost[j] - cost[i])
            rows.append({**row, **b, "value": significant(value, 3), "clean_cost": c,
                         "status": "reached" if c <= max_clean_cost else "too_costly"})
    return pd.DataFrame(rows, columns=COLUMNS)


def rates(trials: pd.DataFrame, kept: list[float], chance: float) -> pd.DataFrame:
    """Per architecture and fault type, the rate at which the standard network keeps each share
    of its above-chance accuracy (mean over maps at each rate; rate 0 is the clean reference).
    ``trials``: campaign rows (arch, fault, rate, accuracy) of the standard pilot networks."""
    rows = []
    for (arch, fault), g in trials.groupby(["arch", "fault"], sort=True):
        mean = g.groupby("rate")["accuracy"].mean()
        if 0 not in mean.index:
            raise ValueError(f"trials: {arch} {fault} has no rate 0 (the clean reference)")
        share = (mean - chance) / (mean.loc[0] - chance)
        faulty = share[share.index > 0]
        for target in kept:
            b = bracket(faulty.index.to_numpy(), faulty.to_numpy(), target)
            row = {"kind": "rate", "arch": arch, "fault": fault, "target": target}
            if b is None:
                rows.append({**row, "value": np.nan, "status": "outside_grid",
                             "y_below": faulty.max(), "y_above": faulty.min()})
                continue
            value = b.pop("value")
            del b["i"], b["j"]
            rows.append({**row, **b, "value": significant(value, 2), "status": "reached"})
    return pd.DataFrame(rows, columns=COLUMNS)


def levels_for_all(strength: pd.DataFrame) -> list[float]:
    """The target gains every architecture reaches at an acceptable cost: a level one
    architecture cannot reach is dropped for all (the study compares like with like)."""
    ok = strength.groupby("target")["status"].agg(lambda s: (s == "reached").all())
    return [t for t, good in ok.items() if good]


def study_settings(strength: pd.DataFrame, rate: pd.DataFrame, threshold: float, penalty: str) -> dict:
    """The study config's calibrated part: one AS variant per common level (alpha per
    architecture) and each architecture's faulty rates per fault type (0 first)."""
    variants = {"standard": {"threshold": 0.0, "alpha": 0.0, "penalty": "l1"}}
    archs = sorted(strength.arch.unique())
    for t in levels_for_all(strength):
        at = strength[strength.target == t].set_index("arch")["value"]
        variants[f"as_g{round(100 * t):02d}"] = {
            "threshold": threshold, "alpha": float(at[archs[0]]), "penalty": penalty,
            "per_arch": {a: {"alpha": float(at[a])} for a in archs[1:]}}
    per_arch, middle = {}, {}
    for (arch, fault), g in rate[rate.status == "reached"].groupby(["arch", "fault"], sort=True):
        per_arch.setdefault(arch, {"rates": {}})["rates"][fault] = [0.0] + sorted(float(v) for v in g.value.unique())
        # the intervention's rate: where the standard network keeps closest to half its accuracy
        middle.setdefault(arch, {})[fault] = float(g.loc[(g.target - 0.5).abs().idxmin(), "value"])
    return {"variants": variants, "faults": {"per_arch": per_arch}, "mechanism": {"rates": middle}}


def pilot(clean: pd.DataFrame, trials: pd.DataFrame, settings: dict) -> tuple[pd.DataFrame, dict, int]:
    """A calibration from one pilot seed's conventional networks (``clean``) and its standard
    networks' campaigns (``trials``) under the job's ``settings``: (the strengths and rates table,
    the study settings to paste, the pilot seed)."""
    clean = clean[clean.training == "conventional"]
    if clean.seed.nunique() != 1:
        raise ValueError(f"--evals: calibration reads one pilot seed, got seeds {sorted(clean.seed.unique())}")
    if set(trials.variant) != {"standard"}:
        raise ValueError("--trials: calibration reads the campaigns of the standard networks only")
    strength = strengths(clean, settings["alphas"], settings["gains"], settings["max_clean_cost"])
    rate = rates(trials, settings["kept"], settings["chance"])
    table = pd.concat([strength, rate], ignore_index=True)
    return table, study_settings(strength, rate, settings["threshold"], settings["penalty"]), int(clean.seed.iloc[0])

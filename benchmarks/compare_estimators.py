"""The former verdicts beside the seed-level ones, on the same finished run.

Former estimator: trials pooled over seeds as if independent; C1 on the absolute gap
(standard - AS) at the single best point, Bonferroni over AS levels x rates. New: the rows of
paper_tables/claims.csv. Run from the workflow's working directory after a run:

    .venv/bin/python benchmarks/compare_estimators.py
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from flatenn import aggregate
from flatenn.stats import mean_ci, verdict


def former_c1(trials: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    comps = aggregate.comparisons(sorted(trials.variant.unique()), ["conventional"])
    p = aggregate._pairs(trials[trials.rate > 0], comps, aggregate.POINT_COLS + ["seed", "trial"], ["accuracy"])
    rows = []
    for (arch, fault), g in p.groupby(["arch", "fault"]):
        points = {k: h["accuracy_b"] - h["accuracy_a"] for k, h in g.groupby(["comparison", "rate"])}
        best = max(points, key=lambda k: points[k].mean())
        ci = mean_ci(points[best], 1 - (1 - level) / len(points))
        rows.append({"arch": arch, "fault": fault, "former_point": f"{best[0]} at {best[1]:g}",
                     "former_value": 100 * ci["mean"], "former_ci": f"[{100 * ci['ci_low']:.2f}, {100 * ci['ci_high']:.2f}]",
                     "former_n": ci["n"], "former_verdict": verdict(ci["ci_low"], ci["ci_high"])})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    trials = aggregate.read_trials(sorted(Path("results/campaign").rglob("*.csv")))
    new = pd.read_csv("paper_tables/claims.csv")
    c1 = new[new.claim == "C1"][["arch", "fault", "comparison", "measured_value", "ci_low", "ci_high", "verdict",
                                 "absolute_value", "absolute_ci_low", "absolute_ci_high"]]
    pd.set_option("display.width", 200)
    print("former C1 (pooled trials, absolute gap at the best point):")
    print(former_c1(trials).round(2).to_string(index=False))
    print("\nseed-level C1 (accuracy lost, mean over faulty rates; absolute gap beside it):")
    print(c1.round(2).to_string(index=False))

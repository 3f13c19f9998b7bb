"""Coverage of C1's interval through the workflow's own chain, on simulated campaign trials.

Each study is a complete set of campaign trials (5 seeds; per seed a standard and an AS network,
the AS one 5 points worse clean; 10 fault maps per rate, image noise on every trial), with a known
true C1 value; all studies go through aggregate.seed_means -> claims.fault_effects ->
claims.per_seed -> claims.fault_claims at once (the study is the ``arch`` key, which every
grouping carries). Scenarios for the between-seed spread: Gaussian, heavy-tailed (t with 3
degrees of freedom) and one fragile seed in five on average (the AS network of a seed loses
another 15 points of its share with probability 0.2).

    .venv/bin/python tests/coverage_sim.py      # writes docs/coverage.md (make coverage)
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from flatenn import aggregate, claims, config

SCENARIOS = ("gaussian", "t3", "fragile")
RATES = [0.0, 0.01, 0.03, 0.06]  # the standard network keeps 82, 55 and 30 % above chance
SEEDS, MAPS, CHANCE, GAP = 5, 10, 0.1, 0.03  # GAP: the AS network keeps 3 points less
ROOT = Path(__file__).resolve().parents[1]
PLAN = config.read_plan(ROOT / "config/analysis.yaml")


def truth(scenario: str) -> float:
    """The true C1 value (points of the share kept, standard minus AS)."""
    return 100 * (GAP + (0.15 * 0.2 if scenario == "fragile" else 0.0))


def seed_effects(scenario: str, rng, shape) -> np.ndarray:
    if scenario == "gaussian":
        return rng.normal(0, 0.03, shape)
    if scenario == "t3":
        return 0.03 * rng.standard_t(3, shape) / np.sqrt(3)
    fragile = rng.random(shape) < 0.2
    return rng.normal(0, 0.01, shape) - 0.15 * fragile


def simulate(scenario: str, studies: int, seed: int = 0) -> pd.DataFrame:
    """Campaign trials of ``studies`` independent studies (columns as campaign.run writes them)."""
    rng = np.random.default_rng(seed)
    shape = (studies, SEEDS)
    clean = {"standard": 0.90 + rng.normal(0, 0.01, shape), "as_high": 0.85 + rng.normal(0, 0.01, shape)}
    u = {"standard": rng.normal(0, 0.03, shape) if scenario != "fragile" else rng.normal(0, 0.01, shape),
         "as_high": seed_effects(scenario, rng, shape)}
    frames = []
    for v in ("standard", "as_high"):
        for rate in RATES:
            maps = 1 if rate == 0 else MAPS
            kept = np.exp(-rate / 0.05) - (GAP if v == "as_high" else 0.0)
            share = kept + u[v][..., None] + rng.normal(0, 0.02, (*shape, maps))
            acc = CHANCE + (clean[v][..., None] - CHANCE) * share + rng.normal(0, 0.01, (*shape, maps))
            if rate == 0:
                acc = clean[v][..., None]
            study, s, trial = np.meshgrid(np.arange(studies), np.arange(SEEDS), np.arange(maps), indexing="ij")
            frames.append(pd.DataFrame({"dataset": "fashion_mnist", "arch": [f"s{i:05d}" for i in study.ravel()],
                                        "variant": v, "training": "conventional", "seed": s.ravel(),
                                        "fault": "bitflip", "rate": rate, "trial": trial.ravel(),
                                        "accuracy": acc.ravel()}))
    return pd.concat(frames, ignore_index=True)


def c1_rows(trials: pd.DataFrame) -> pd.DataFrame:
    """The C1 primary rows of every study, through the workflow's functions."""
    comps = aggregate.comparisons(["standard", "as_high"], ["conventional"])
    effects = claims.fault_effects(aggregate.seed_means(trials), comps, {"fashion_mnist": CHANCE},
                                   (PLAN["window"]["low"], PLAN["window"]["high"]))
    rows = claims.fault_claims(claims.per_seed(effects), PLAN)
    return rows[(rows.claim == "C1") & (rows.role == "primary")]


def coverage(scenario: str, studies: int, seed: int = 0) -> dict:
    rows = c1_rows(simulate(scenario, studies, seed))
    t = truth(scenario)
    hit = (rows.ci_low <= t) & (t <= rows.ci_high)
    return {"scenario": scenario, "studies": len(rows), "true_value": t, "mean_estimate": rows.measured_value.mean(),
            "coverage": hit.mean(), "windows": ", ".join(sorted(set(rows.window_rates)))}


if __name__ == "__main__":
    out = pd.DataFrame([coverage(s, 4000) for s in SCENARIOS])
    text = ("# Coverage of C1's 95 % interval\n\nWritten by `make coverage` (tests/coverage_sim.py): "
            f"{SEEDS} seeds per study, {MAPS} fault maps per rate, the workflow's own chain; "
            "`make test` asserts the Gaussian band.\n\n" + out.to_markdown(index=False, floatfmt=".4g") + "\n")
    path = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs/coverage.md")
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    print(text)

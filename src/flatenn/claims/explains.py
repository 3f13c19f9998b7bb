"""What curvature explains: within an architecture, whether a sharpness metric ranks its networks
as the share of above-chance accuracy they keep under faults does."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from flatenn.aggregate import MODEL_COLS
from flatenn.claims.quantities import retained
from flatenn.stats import within_seed_rank_correlation

SHARPNESS_EXPLAINS_COLUMNS = ["dataset", "arch", "fault", "metric", "rho", "ci_low", "ci_high", "p_value", "p_adjusted",
                    "n_seeds", "networks_per_seed", "reading", "p_t", "p_permutation"]


def kept_over_window(seed_means: pd.DataFrame, chance: dict, window: tuple) -> pd.DataFrame:
    """Per network and fault type, the share of above-chance accuracy it keeps (``retained``),
    averaged over the informative rates of its architecture (where the standard conventional
    networks keep, on average over seeds, a share inside ``window``)."""
    m = seed_means[seed_means.rate > 0].copy()
    m["retained"] = retained(m.accuracy, m.clean, m.dataset.map(chance).astype(float))
    ref = m[(m.variant == "standard") & (m.training == "conventional")]
    inside = ref.groupby(["dataset", "arch", "fault", "rate"])["retained"].mean().between(*window)
    m = m.join(inside.rename("in_window"), on=["dataset", "arch", "fault", "rate"])
    return m[m.in_window.fillna(False).astype(bool)].groupby(
        ["dataset", "arch", "variant", "training", "seed", "fault"])["retained"].mean().reset_index()


def sharpness_explains(seed_means: pd.DataFrame, sharp: pd.DataFrame, chance: dict, window: tuple, level: float,
             metrics) -> pd.DataFrame:
    """How well each sharpness metric predicts a network's fault robustness, within an
    architecture: per seed, the Spearman correlation across that seed's networks (variants x
    trainings, at least 3) between the metric and the share of above-chance accuracy kept over
    the informative rates (set by the standard conventional networks), averaged over seeds
    (stats.within_seed_rank_correlation: read where the t test over seeds and the exact
    permutation test within seeds both reject). Bonferroni over the metrics x fault types of one
    architecture, and the interval at the same family-wise level, so that it excludes zero
    exactly where the reading finds a relation."""
    kept = kept_over_window(seed_means, chance, window)
    cols = [c for c in metrics if c in sharp.columns]
    long = sharp.melt(id_vars=MODEL_COLS, value_vars=cols,
                      var_name="metric", value_name="value")
    j = kept.merge(long, on=MODEL_COLS)
    keys = ["dataset", "arch", "fault", "metric", "seed"]
    j = j[j.groupby(keys)["value"].transform("size") >= 3]
    if j.empty:
        return pd.DataFrame(columns=SHARPNESS_EXPLAINS_COLUMNS)
    j = j.assign(rv=j.groupby(keys)["value"].rank(), rr=j.groupby(keys)["retained"].rank())
    group = ["dataset", "arch", "fault", "metric"]
    seeds = {k: [(s.rv.to_numpy(), s.rr.to_numpy()) for _, s in g.groupby("seed", sort=True)]
             for k, g in j.groupby(group, sort=True)}
    # a seed whose metric or share kept is the same for every network carries no ranking
    informative = {k: sum(np.ptp(x) > 0 and np.ptp(y) > 0 for x, y in v) for k, v in seeds.items()}
    family = pd.Series({k: n >= 2 for k, n in informative.items()}).groupby(level=[0, 1]).sum()
    rows = []
    for k, v in seeds.items():
        m = max(int(family[k[:2]]), 1)
        r = within_seed_rank_correlation(v, 1 - (1 - level) / m)
        rows.append({**dict(zip(group, k)), **r, "n_seeds": r["n"], "networks_per_seed": min(len(x) for x, _ in v),
                     "p_adjusted": min(1.0, r["p_value"] * m) if r["n"] >= 2 else math.nan})
    ci = pd.DataFrame(rows)
    sig = ci.p_adjusted < 1 - level
    ci["reading"] = np.where(sig & (ci.rho < 0), "sharper networks keep less", np.where(
        sig & (ci.rho > 0), "sharper networks keep more", "no relation shown"))
    return ci.reindex(columns=SHARPNESS_EXPLAINS_COLUMNS)

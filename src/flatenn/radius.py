"""SAQ's radius chosen by a rule declared before its ladder ran (pure: tables in, tables and
words out). Per architecture, on a pilot seed no study uses: SAQ at several radii (the plan's
`radius` rule: in the normalized convention, flatenn.train) against conventional training of the
same networks; the chosen radius is the largest whose *validation* accuracy stays within the
C5-clean margin of conventional training for every variant. Faulty accuracy never enters: a rule
that looked at it would tune the remedy toward the claim it tests."""
from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["dataset", "arch", "variant", "seed", "rho", "val_accuracy", "conventional_val_accuracy", "cost_points",
           "saq_move_steps", "within_margin", "chosen"]


def ladder(saq: pd.DataFrame, conventional: pd.DataFrame, margin: float) -> pd.DataFrame:
    """``saq``: per network and radius (dataset, arch, variant, seed, rho, val_accuracy,
    saq_move_steps); ``conventional``: per network (dataset, arch, variant, seed, val_accuracy).
    The cost is conventional minus SAQ validation accuracy, points; within the margin where it is
    below ``margin``; ``chosen`` marks every row of the radius each architecture gets."""
    key = ["dataset", "arch", "variant", "seed"]
    missing = saq[key].drop_duplicates().merge(conventional[key], how="left", indicator=True)
    if (missing["_merge"] != "both").any():
        first = missing[missing["_merge"] != "both"].iloc[0]
        raise ValueError(f"radius: no conventional network for {'/'.join(str(first[k]) for k in key)}")
    t = saq.merge(conventional[key + ["val_accuracy"]].rename(columns={"val_accuracy": "conventional_val_accuracy"}),
                  on=key)
    t["cost_points"] = 100 * (t.conventional_val_accuracy - t.val_accuracy)
    t["within_margin"] = t.cost_points < margin
    ok = t.groupby(["dataset", "arch", "rho"]).within_margin.all().reset_index()
    best = ok[ok.within_margin].groupby(["dataset", "arch"]).rho.max()
    t["chosen"] = [best.get((d, a), np.nan) == r for d, a, r in zip(t.dataset, t.arch, t.rho)]
    return t.reindex(columns=COLUMNS).sort_values(["dataset", "arch", "variant", "rho"], ignore_index=True)


def chosen(table: pd.DataFrame) -> dict:
    """{arch: the chosen radius} (an architecture with none within the margin is left out)."""
    c = table[table.chosen.astype(bool)]
    return {a: float(r) for a, r in c.groupby("arch").rho.first().items()}


def findings(table: pd.DataFrame, margin: float) -> str:
    lines = ["# SAQ's radius", "",
             "Written by `flatenn radius` from radius_ladder.csv; not edited by hand. Rule (config/analysis.yaml "
             f"`radius`, declared before the ladder ran): per architecture the largest radius whose validation "
             f"accuracy costs every variant less than {margin:g} points (the C5-clean margin) against conventional "
             "training of the same network; faulty accuracy is not looked at. Radii in the normalized convention "
             "(rho on each channel's quantized weights over their max-abs, as the official SAQ code); the mean move "
             "of a weight by the ascent in quantization steps beside each.", ""]
    for (ds, arch), g in table.groupby(["dataset", "arch"], sort=False):
        pick = g[g.chosen.astype(bool)]
        head = f"rho {pick.rho.iloc[0]:g}" if len(pick) else "none within the margin"
        rungs = []
        for rho, h in g.groupby("rho"):
            parts = ", ".join(f"{r.variant} {100 * r.val_accuracy:.1f} % (cost {r.cost_points:+.1f}, move "
                              f"{r.saq_move_steps:.3g} steps)" for r in h.itertuples())
            rungs.append(f"rho {rho:g}: {parts}")
        conv = ", ".join(f"{r.variant} {100 * r.conventional_val_accuracy:.1f} %"
                         for r in g.drop_duplicates("variant").itertuples())
        lines.append(f"- {arch} ({ds}, seed {int(g.seed.iloc[0])}): **{head}**. Conventional: {conv}. "
                     + "; ".join(rungs) + ".")
    return "\n".join(lines) + "\n"

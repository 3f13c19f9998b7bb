"""The budget a network trains for: a budget against its double (the convergence check), a
ladder of budgets and the rule that picks one (``convergence``), and whether a study's claims hold
at half its budget (``budget_stability``). Tables in, tables out."""
from __future__ import annotations

import numpy as np
import pandas as pd

from flatenn.config import window_of

BUDGET_COLUMNS = ["dataset", "arch", "variant", "seed", "quantity", "fault", "base", "double", "change", "same_sign"]
STABILITY_COLUMNS = ["claim", "dataset", "arch", "fault", "a_variant", "role", "converged_value",
                     "converged_ci_low", "converged_ci_high", "converged_verdict", "half_value", "half_ci_low",
                     "half_ci_high", "half_verdict", "depends_on_budget", "gain_converged", "gain_half", "gain_moved",
                     "seeds", "seeds_same_sign", "same_sign_expected"]
LADDER_COLUMNS = ["dataset", "arch", "variant", "seed", "budget", "quantity", "fault", "value"]
CONVERGENCE_COLUMNS = ["dataset", "arch", "seed", "budget", "next_budget", "clean_change_standard",
                       "clean_change_as", "gain_change", "converged", "chosen"]



def c1_gaps(seed_means: pd.DataFrame, chance: dict, window: tuple) -> pd.DataFrame:
    """C1's quantity per AS network and fault type of one run: the share of above-chance accuracy
    kept over the run's informative window, standard minus AS network of the same seed, points
    (columns dataset, arch, variant, seed, fault, gap)."""
    from flatenn.claims import kept_over_window

    kept = kept_over_window(seed_means, chance, window)
    std = kept[kept.variant == "standard"].drop(columns=["variant", "training"])
    j = kept[kept.variant != "standard"].merge(std, on=["dataset", "arch", "seed", "fault"], suffixes=("", "_std"))
    return j.assign(gap=100 * (j.retained_std - j.retained))[["dataset", "arch", "variant", "seed", "fault", "gap"]]


def budget(base: dict, double: dict, chance: dict, window: tuple) -> pd.DataFrame:
    """The budget check: the same networks (seed, architecture, variant) trained with the
    study's budget (``base``) and with twice it (``double``), each a dict of that run's
    clean_accuracy and fault_accuracy_by_seed tables. Per network: clean accuracy and activation
    sparsity; per AS network and fault type: C1's quantity (share kept over its run's window,
    standard minus AS, points), and whether its sign holds."""

    model = ["dataset", "arch", "variant", "seed"]
    conv = {k: {n: t[t.training == "conventional"] for n, t in run.items()} for k, run in (("base", base),
                                                                                            ("double", double))}
    rows = []
    for q in ("accuracy", "activation_sparsity"):
        j = conv["base"]["clean"][model + [q]].merge(conv["double"]["clean"][model + [q]], on=model,
                                                     suffixes=("_b", "_d"))
        rows.append(j[model].assign(quantity=q, fault="", base=j[f"{q}_b"], double=j[f"{q}_d"]))
    gaps = {}
    for k, run in conv.items():
        gaps[k] = c1_gaps(run["seed_means"], chance, window)
    j = gaps["base"].merge(gaps["double"], on=model + ["fault"], suffixes=("_b", "_d"))
    rows.append(j[model + ["fault"]].assign(quantity="c1_retained_gap", base=j.gap_b, double=j.gap_d))
    out = pd.concat(rows, ignore_index=True)
    out["change"] = out.double - out.base
    out["same_sign"] = np.where(out.quantity == "c1_retained_gap", np.sign(out.base) == np.sign(out.double), pd.NA)
    return out.reindex(columns=BUDGET_COLUMNS).sort_values(["quantity", "arch", "variant", "fault"], ignore_index=True)


def budget_stability(converged: dict, half: dict, plan: dict, chance: dict) -> pd.DataFrame:
    """Budget stability as an endpoint: C1 decided as the claims decide it (``claims.fault_claim_alone``:
    its family, correction and family-wise interval) on the same seeds trained at the converged
    budget and at half of it (each a dict of clean_accuracy and fault_accuracy_by_seed tables),
    per architecture, fault type and AS level; ``depends_on_budget`` where the verdicts differ,
    and on how many seeds the per-network C1 quantity keeps its sign beside how many would keep it
    if the signs at the two budgets were independent (``same_sign_expected``: p q + (1 - p)(1 - q)
    per network, p and q the shares of positive values at each budget). The dose is not matched:
    at a fixed penalty the sparsity gained grows with the budget, so each row carries the mean
    gain at both budgets (``gain_moved``); a verdict that moves may have moved with the dose."""
    from flatenn.claims import fault_claim_alone, sparsity_gained

    keys = ["claim", "dataset", "arch", "fault", "a_variant", "role"]
    cols = ["measured_value", "adj_ci_low", "adj_ci_high", "verdict"]
    runs = {}
    for name, run in (("converged", converged), ("half", half)):
        d = fault_claim_alone(run["seed_means"], run["clean"], plan, chance)
        d = d[(d.role == "primary") & (d.a_training == "conventional")]
        runs[name] = d[keys + cols].rename(columns={c: f"{name}_{c.replace('measured_', '').replace('adj_', '')}"
                                                    for c in cols})
    out = runs["converged"].merge(runs["half"], on=keys, how="outer")
    out["depends_on_budget"] = out.converged_verdict != out.half_verdict
    per_net = budget(half, converged, chance, window_of(plan))
    per_net = per_net[per_net.quantity == "c1_retained_gap"].rename(columns={"variant": "a_variant"})
    cell = ["dataset", "arch", "fault", "a_variant"]
    pos = per_net.assign(p=per_net.base > 0, q=per_net.double > 0)
    share = pos.groupby(["dataset", "arch"])[["p", "q"]].transform("mean")
    pos["expected"] = share.p * share.q + (1 - share.p) * (1 - share.q)
    signs = pos.groupby(cell).agg(seeds=("seed", "nunique"), seeds_same_sign=(
        "same_sign", lambda v: int(v.astype(bool).sum())), same_sign_expected=("expected", "sum")).reset_index()
    out = out.merge(signs, on=cell, how="left")
    for name, run in (("converged", converged), ("half", half)):
        g = sparsity_gained(run["clean"], "conventional").groupby(["dataset", "arch", "a_variant"]).gain.mean()
        out[f"gain_{name}"] = g.reindex(pd.MultiIndex.from_frame(out[["dataset", "arch", "a_variant"]])).to_numpy()
    out["gain_moved"] = out.gain_converged - out.gain_half
    return out.reindex(columns=STABILITY_COLUMNS).sort_values(keys, ignore_index=True)


def ladder(runs: dict, chance: dict, window: tuple) -> pd.DataFrame:
    """The budget ladder: ``runs`` maps a budget (a multiple of the study's) to that rung's
    clean_accuracy and fault_accuracy_by_seed tables (conventional training). Long table: per
    network and budget its clean accuracy and activation sparsity; per AS network its sparsity
    gained over the standard network of its seed and C1's quantity per fault type (share kept over
    its rung's informative window, standard minus AS, points)."""
    from flatenn.claims import sparsity_gained

    model = ["dataset", "arch", "variant", "seed"]
    rows = []
    for budget, run in sorted(runs.items()):
        clean = run["clean"][run["clean"].training == "conventional"]
        for q in ("accuracy", "activation_sparsity"):
            rows.append(clean[model].assign(budget=budget, quantity=q, fault="", value=clean[q]))
        g = sparsity_gained(clean, "conventional")
        rows.append(g[["dataset", "arch", "seed"]].assign(variant=g.a_variant, budget=budget, quantity="sparsity_gained",
                                                          fault="", value=g.gain))
        sm = run["seed_means"][run["seed_means"].training == "conventional"]
        g = c1_gaps(sm, chance, window)
        rows.append(g[model + ["fault"]].assign(budget=budget, quantity="c1_retained_gap", value=g.gap))
    out = pd.concat(rows, ignore_index=True).reindex(columns=LADDER_COLUMNS)
    return out.sort_values(["dataset", "arch", "quantity", "variant", "fault", "seed", "budget"], ignore_index=True)


def convergence(table: pd.DataFrame, clean_points: float, gain: float, two_sided: bool = True) -> pd.DataFrame:
    """The plan's convergence rule on a ladder (``ladder``): per architecture and seed, for each
    budget with a rung at twice it, whether doubling changes the clean accuracy of the standard and
    of the AS network by less than ``clean_points`` (points; ``two_sided``: a doubling that costs
    more than that fails too, as one that adds more does) and moves the sparsity gained by less
    than ``gain``; the chosen budget is the smallest converged one (none: not converged on the
    ladder)."""
    rows = []
    for (ds, arch, seed), g in table.groupby(["dataset", "arch", "seed"], sort=True):
        acc = g[g.quantity == "accuracy"]
        std = acc[acc.variant == "standard"].set_index("budget").value
        as_ = acc[acc.variant != "standard"].groupby("budget").value.min()
        gn = g[g.quantity == "sparsity_gained"].groupby("budget").value.mean()
        for b in sorted(std.index):
            if 2 * b not in std.index:
                continue
            cs, ca = 100 * (std[2 * b] - std[b]), 100 * (as_.get(2 * b, np.nan) - as_.get(b, np.nan))
            dg = gn.get(2 * b, np.nan) - gn.get(b, np.nan)
            size = abs if two_sided else (lambda x: x)
            ok = bool(size(cs) < clean_points and (np.isnan(ca) or size(ca) < clean_points)
                      and (np.isnan(dg) or abs(dg) < gain))
            rows.append({"dataset": ds, "arch": arch, "seed": seed, "budget": b, "next_budget": 2 * b,
                         "clean_change_standard": cs, "clean_change_as": ca, "gain_change": dg, "converged": ok})
    out = pd.DataFrame(rows, columns=CONVERGENCE_COLUMNS[:-1])
    first = out[out.converged].groupby(["dataset", "arch", "seed"]).budget.min()
    out["chosen"] = [first.get((d, a, s)) == b for d, a, s, b in zip(out.dataset, out.arch, out.seed, out.budget)]
    return out.reindex(columns=CONVERGENCE_COLUMNS)


def ladder_and_rule(runs: dict, plan: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A budget ladder (``runs``: multiple of the budget -> {"clean", "seed_means"}) and the plan's
    convergence rule applied to it: (ladder table, convergence table)."""
    from flatenn.catalog import chance_levels

    first = next(iter(runs.values()))["clean"]
    table = ladder(runs, chance_levels(first.dataset), window_of(plan))
    rule = plan["convergence"]
    return table, convergence(table, rule["clean_points"], rule["gain"], rule.get("two_sided", True))

"""Robustness of a verdict: the plan's alternative windows, each network (seed) left out in turn,
and an exact permutation test adjusted like the verdict; ``status`` turns them into the words
"solid", "t test only" or "fragile". Used by every decided table (claims, slopes, the
between-architecture family, the sparsity switch)."""
from __future__ import annotations

import math

import pandas as pd

from flatenn.claims.decide import verdict_of
from flatenn.claims.quantities import FAULT_CLAIMS, SHARPNESS_CLAIMS, per_seed_difference
from flatenn.stats import sign_flip_p, sign_flip_tost_p, t_p, tost
from flatenn.verdicts import UNDETERMINED

ROBUST_COLUMNS = ["family_size", "window_verdicts", "loo_verdict", "loo_left_out", "perm_p", "perm_p_adjusted",
                  "robustness", "fragile_by"]


def perm_settings(plan: dict) -> dict:
    perm = (plan.get("robustness") or {}).get("permutation") or {"exact_up_to": 4096, "resamples": 20000, "seed": 0}
    return {"exact_up_to": perm["exact_up_to"], "resamples": perm["resamples"], "seed": perm["seed"]}


def judged(full: str, windows: dict, loo: tuple, perm: tuple | None, m: int, alpha: float, words) -> dict:
    """The robustness columns of one verdict decided in a family of m (every decided table calls
    this): ``status`` of the verdict under the alternative windows, one network left out (``loo``)
    and the permutation test (``perm``: its p and the smallest p it can reach, or None where the
    test is not one of a difference), which counts only where its most extreme arrangement can
    reach the level (min p x m < alpha); ``words(p_adjusted)`` words its verdict."""
    pp, min_p = perm if perm is not None else (math.nan, math.nan)
    pv = words(min(1.0, pp * m)) if perm is not None and min_p * m < alpha else None
    return {**status(full, windows, loo, pv), "perm_p": pp,
            "perm_p_adjusted": min(1.0, pp * m) if not math.isnan(pp) else math.nan}


def left_out(full: str, robust: dict | None, recomputed: dict | None, values: pd.Series, decide) -> tuple[str, str]:
    """The leave-one-out verdict of a one-sample row: none where the plan's ``robust`` settings turn
    it off; else the first verdict of ``recomputed`` (seed -> verdict decided without that seed,
    its window recomputed) that differs from ``full``; else (two seeds or fewer) ``values`` decided
    without each seed."""
    if not (robust or {}).get("leave_one_out", True):
        return full, ""
    if recomputed is not None:
        return next(((v, f"seed {s}") for s, v in recomputed.items() if v != full), (full, ""))
    return loo_one(values, decide, full)


def loo_one(values: pd.Series, decide, full: str) -> tuple[str, str]:
    """A verdict with one network (seed) left out that differs from ``full``, and which; else
    ``full`` and ""."""
    for label in values.index:
        v = decide(values.drop(label))
        if v != full:
            return v, f"seed {label}"
    return full, ""


def loo_two(va: pd.Series, vb: pd.Series, decide, full: str, arch_a: str, arch_b: str) -> tuple[str, str]:
    for label in va.index:
        v = decide(va.drop(label), vb)
        if v != full:
            return v, f"{arch_a} seed {label}"
    for label in vb.index:
        v = decide(va, vb.drop(label))
        if v != full:
            return v, f"{arch_b} seed {label}"
    return full, ""


def loo_networks(r, key: tuple, loo_rows: dict, decide) -> tuple[str, str]:
    """Each network of a between-architecture contrast left out in turn, its architecture's side
    taken from the per-seed table recomputed without it (its window included): the first verdict
    that differs from ``r.verdict``, and which network; else the verdict and ""."""
    for arch, side in ((r.arch_a, "values_a"), (r.arch_b, "values_b")):
        for s, rows in loo_rows.items():
            if s not in getattr(r, side).index or key not in rows:
                continue
            sides = {x: rows[key][x] if x == side else getattr(r, x) for x in ("values_a", "values_b")}
            if (v := decide(sides["values_a"], sides["values_b"])) != r.verdict:
                return v, f"{arch} seed {s}"
    return r.verdict, ""


def status(full: str, windows: dict, loo: tuple, perm_verdict) -> dict:
    """The robustness columns of one verdict: "fragile" where an alternative window, leaving one
    network out or the permutation test (where it can reach the level) gives another verdict;
    "t test only" where it holds but the permutation cannot reach the level at this n; else
    "solid"."""
    by = [f"at window {label}" for label, v in windows.items() if v != full]
    if loo[0] != full:
        by.append(f"without {loo[1]}")
    if perm_verdict is not None and perm_verdict != full:
        by.append("under the permutation test")
    decided = full not in UNDECIDED and not str(full).startswith(UNDETERMINED)
    status = "fragile" if by else "t test only" if perm_verdict is None and decided else "solid"
    return {"window_verdicts": "; ".join(f"{label}: {v}" for label, v in windows.items()),
            "loo_verdict": loo[0], "loo_left_out": loo[1], "robustness": status, "fragile_by": ", ".join(by)}


UNDECIDED = ("INCONCLUSIVE", "no slope shown", "no change shown", UNDETERMINED)


def window_label(w: dict) -> str:
    return f"{w['low']:g}-{w['high']:g}"


def robustness(table: pd.DataFrame, seeds: pd.DataFrame, paired_sharp: pd.DataFrame, clean: pd.DataFrame,
               alt_tables: dict, plan: dict, loo_tables: dict | None = None) -> pd.DataFrame:
    """The robustness columns (ROBUST_COLUMNS) of every primary row of the claims table: its
    verdict under each alternative window (``alt_tables``: label -> the claims table decided at
    that window; fault claims only), with one seed left out, and by an exact sign-flip
    permutation test over seeds adjusted as the verdict (C5-clean, an equivalence test: its TOST
    by sign flips, ``stats.sign_flip_tost_p``). ``loo_tables`` (seed -> the claims table decided
    without that seed, its informative window recomputed from the remaining seeds) gives the
    leave-one-out verdicts; without it, the per-seed values at the full data's window are decided
    without each seed."""
    alpha, perm = 1 - plan["level"], perm_settings(plan)
    keys = ["claim", "dataset", "arch", "fault", "comparison", "quantity", "role"]
    alt = {label: dict(zip(map(tuple, t[keys].fillna("").to_numpy()), t.verdict)) for label, t in alt_tables.items()}
    loo_verdicts = {s: dict(zip(map(tuple, t[keys].fillna("").to_numpy()), t.verdict))
                    for s, t in (loo_tables or {}).items()}
    margin = plan["claims"]["C5-clean"]["margin"]
    out = []
    for r in table.itertuples():
        if r.role != "primary":
            out.append({})
            continue
        m = int(r.family_size)
        if r.claim in FAULT_CLAIMS:
            g = seeds[(seeds.dataset == r.dataset) & (seeds.arch == r.arch) & (seeds.fault == r.fault)
                      & (seeds.comparison == r.comparison)]
            values, direction = g.set_index("seed")[r.quantity].dropna(), 1
        elif r.claim in SHARPNESS_CLAIMS:
            g = paired_sharp[(paired_sharp.dataset == r.dataset) & (paired_sharp.arch == r.arch)
                             & (paired_sharp.comparison == r.comparison) & (paired_sharp.metric == r.quantity)]
            values, direction = per_seed_difference(g).set_axis(g.seed).dropna(), SHARPNESS_CLAIMS[r.claim][1]
        else:
            c = clean[(clean.dataset == r.dataset) & (clean.arch == r.arch) & (clean.variant == r.a_variant)]
            e = c.pivot(index="seed", columns="training", values="accuracy")
            values, direction = (100 * (e["saq"] - e["conventional"])).dropna(), 1

        if r.claim == "C5-clean":
            def decide(v, m=m):
                res = tost(v, margin, alpha) if len(v) > 1 else {"p_value": math.nan, "verdict": "INCONCLUSIVE"}
                return "PASS" if min(1.0, res["p_value"] * m) < alpha else \
                    "FAIL" if res["verdict"] == "FAIL" else "INCONCLUSIVE"
            # the TOST by sign flips: PASS as the t TOST (adjusted), FAIL where |mean| > margin (unadjusted, as its t twin)
            equivalent, outside, smallest = sign_flip_tost_p(values, margin, **perm)
            perm_test = (equivalent, smallest)

            def words(p, outside=outside):
                return "PASS" if p < alpha else "FAIL" if outside < alpha else "INCONCLUSIVE"
        else:
            def decide(v, m=m, direction=direction):
                return verdict_of(min(1.0, t_p(v) * m), v.mean() * direction if len(v) else 0.0, alpha)
            perm_test = sign_flip_p(values, **perm)

            def words(p, d=values.mean() * direction):
                return verdict_of(p, d, alpha)
        key = tuple("" if isinstance(x, float) and math.isnan(x) else x for x in (getattr(r, k) for k in keys))
        windows = {label: a.get(key, "not decided") for label, a in alt.items()} if r.claim in FAULT_CLAIMS else {}
        recomputed = None if loo_tables is None else {s: t.get(key, "not decided") for s, t in loo_verdicts.items()}
        loo = left_out(r.verdict, plan.get("robustness"), recomputed, values, decide)
        signed = values * direction if r.claim != "C5-clean" else values.iloc[:0]
        out.append({**judged(r.verdict, windows, loo, perm_test, m, alpha, words),
                    "seeds_for": int((signed > 0).sum()), "seeds_against": int((signed < 0).sum())})
    rob = pd.DataFrame(out, index=table.index).reindex(columns=[c for c in ROBUST_COLUMNS if c != "family_size"]
                                                       + ["seeds_for", "seeds_against"])
    return table.assign(**{c: rob[c] for c in rob.columns})

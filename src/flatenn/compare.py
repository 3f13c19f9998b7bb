"""A fresh run's tables against a stored reference (``make compare REF=expected/default``), and
stored tables against recomputed ones (the tests of ``expected/``).

Pinned runs give the same tables to the byte only on the CPU models where that was verified
(``tests/ci_tables.cpus``); on another CPU the networks train to other weights and a run is a
replication: its verdicts and intervals are compared with the reference's. So the comparison
says, per claims row, whether the verdict agrees, whether the two intervals overlap, how far the
value moved in units of the reference interval's half-width and whether the informative window
moved; per table, whether it is identical to the byte and whether it is equal within
``RTOL`` (floats) with every text and integer cell exact.

Tables are compared with a tolerance, not as bytes, wherever they were computed on another CPU:
the same pandas/NumPy arithmetic sums in another order on another vector unit, which moves the
last digit of a float (docs/methods.md, reproducibility).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd

# What identifies a claims row in every version of the table (the window's rates are not part of
# it: a window that moved by one rate is the same row, reported as moved). The exploratory "up to"
# rows are one per claim and architecture, wherever the maximum lies.
CLAIM_KEYS = ["claim", "dataset", "arch", "fault", "comparison", "role", "quantity"]
UP_TO_KEYS = ["claim", "dataset", "arch", "role"]
VALUES = ["ref_verdict", "run_verdict", "verdict_agrees", "ref_value", "ref_ci_low", "ref_ci_high",
          "run_value", "run_ci_low", "run_ci_high", "intervals_overlap", "shift_in_half_widths",
          "inside_ref_interval", "ref_window", "run_window", "window_moved"]
# Floats of two tables computed from the same inputs on different CPUs agree to about 1e-15
# relative; 1e-9 is far above that and far below any digit a finding prints.
RTOL, ATOL = 1e-9, 1e-12


def _match_keys(df: pd.DataFrame, keys: list) -> pd.DataFrame:
    """The columns a row is matched on: ``keys``, with those an "up to" row does not have blanked."""
    up = df.role.eq("exploratory") if "role" in df.columns else pd.Series(False, index=df.index)
    return pd.DataFrame({f"_k_{k}": df[k].where(~up | (k in UP_TO_KEYS), "").astype(str) for k in keys})


def claims(ref: pd.DataFrame, run: pd.DataFrame) -> pd.DataFrame:
    """One row per claims row of the reference: its verdict, value and interval beside the run's.

    ``shift_in_half_widths`` = (run value - reference value) / reference half-width;
    ``window_moved``: the informative rates differ (same row, another window); a row the run
    lacks has run verdict "missing" and does not agree."""
    keys = [k for k in CLAIM_KEYS if k in ref.columns and k in run.columns]
    ref = ref.fillna({k: "" for k in keys})
    run = run.fillna({k: "" for k in keys})
    for d in (ref, run):
        if "window_rates" not in d.columns:
            d["window_rates"] = ""
    mk = [f"_k_{k}" for k in keys]
    right = pd.concat([_match_keys(run, keys), run[["verdict", "measured_value", "ci_low", "ci_high",
                                                    "window_rates"]]], axis=1)
    m = pd.concat([ref, _match_keys(ref, keys)], axis=1).merge(right, on=mk, how="left", suffixes=("", "_run"),
                                                               validate="one_to_one")
    half = (m["ci_high"] - m["ci_low"]) / 2
    shift = (m["measured_value_run"] - m["measured_value"]) / half.where(half > 0)
    present = m["verdict_run"].notna()
    ref_window, run_window = m["window_rates"].fillna("").astype(str), m["window_rates_run"].fillna("").astype(str)
    out = m.assign(
        ref_verdict=m["verdict"], run_verdict=m["verdict_run"].fillna("missing"),
        verdict_agrees=m["verdict"] == m["verdict_run"], ref_value=m["measured_value"], ref_ci_low=m["ci_low"],
        ref_ci_high=m["ci_high"], run_value=m["measured_value_run"], run_ci_low=m["ci_low_run"],
        run_ci_high=m["ci_high_run"],
        intervals_overlap=present & (m["ci_low_run"] <= m["ci_high"]) & (m["ci_low"] <= m["ci_high_run"]),
        shift_in_half_widths=shift, inside_ref_interval=m["measured_value_run"].between(m["ci_low"], m["ci_high"]),
        ref_window=ref_window, run_window=run_window.where(present, ""),
        window_moved=present & (ref_window != run_window))
    return out[keys + VALUES]


def tables(ref_dir, run_dir) -> pd.DataFrame:
    """Every CSV table of the reference (runtimes aside): present in the run, identical to the
    byte, equal within ``RTOL`` (``equal``)."""
    rows = []
    for ref in sorted(Path(ref_dir).glob("*.csv")):
        if ref.name == "runtime.csv":
            continue
        run = Path(run_dir) / ref.name
        rows.append({"table": ref.name, "in_run": run.is_file(),
                     "identical": run.is_file() and _sha256(run) == _sha256(ref),
                     "equal": run.is_file() and not table_differences(ref, run)})
    return pd.DataFrame(rows, columns=["table", "in_run", "identical", "equal"])


def table_differences(ref_csv, run_csv, rtol: float = RTOL, atol: float = ATOL) -> list[str]:
    """What differs between two CSV tables beyond summation order, one line each (empty: equal):
    the columns, the number of rows, any text, integer or missing cell, and any float cell by more
    than ``rtol`` relative (or ``atol`` absolute, near zero)."""
    a, b = pd.read_csv(ref_csv), pd.read_csv(run_csv)
    if list(a.columns) != list(b.columns):
        return [f"columns: {list(a.columns)} != {list(b.columns)}"]
    if len(a) != len(b):
        return [f"rows: {len(a)} != {len(b)}"]
    out = []
    for c in a.columns:
        x, y = a[c], b[c]
        if x.isna().to_numpy().tolist() != y.isna().to_numpy().tolist():
            out.append(f"{c}: missing in other rows")
        elif pd.api.types.is_float_dtype(x) and pd.api.types.is_float_dtype(y):
            bad = ~np.isclose(x.to_numpy(), y.to_numpy(), rtol=rtol, atol=atol, equal_nan=True)
            if bad.any():
                i = int(np.argmax(bad))
                out.append(f"{c}: {int(bad.sum())} values differ beyond rtol {rtol:g} (row {i}: {x.iloc[i]!r} != "
                           f"{y.iloc[i]!r})")
        elif x.astype(str).tolist() != y.astype(str).tolist():
            i = int(np.argmax((x.astype(str) != y.astype(str)).to_numpy()))
            out.append(f"{c}: differs (row {i}: {x.iloc[i]!r} != {y.iloc[i]!r})")
    return out


# A number as findings print one: sign, digits, a decimal part, an exponent.
_NUMBER = re.compile(r"[-+]?\d+(?:\.(\d+))?(?:[eE]([-+]?\d+))?")


def _last_digit(token: re.Match) -> float | None:
    """One unit in the last printed digit of a decimal number; None for an integer (a count)."""
    decimals, exponent = token.group(1), token.group(2)
    if decimals is None and exponent is None:
        return None
    return 10.0 ** (int(exponent or 0) - len(decimals or ""))


def text_differences(ref_text: str, run_text: str) -> list[str]:
    """What differs between two generated texts (findings) beyond the rounding of their numbers,
    one line each (empty: equal): every word exact, every integer exact, and a decimal number
    within one unit of its last printed digit (a value recomputed on another CPU can round the
    other way at a boundary; a verdict-sized change cannot hide in that)."""
    ref_nums, run_nums = list(_NUMBER.finditer(ref_text)), list(_NUMBER.finditer(run_text))
    if len(ref_nums) != len(run_nums):
        return [f"numbers: {len(ref_nums)} != {len(run_nums)}"]
    out = []
    words = [_NUMBER.sub("\0", t).split("\0") for t in (ref_text, run_text)]  # the text between numbers
    for i, (a, b) in enumerate(zip(*words)):
        if a != b:
            out.append(f"text {i}: {a[:60]!r} != {b[:60]!r}")
    for a, b in zip(ref_nums, run_nums):
        units = [u for u in (_last_digit(a), _last_digit(b)) if u is not None]
        same = a.group() == b.group() or (
            units and abs(float(a.group()) - float(b.group())) <= max(units) * (1 + 1e-9))
        if not same:
            line = ref_text.count("\n", 0, a.start()) + 1
            out.append(f"line {line}: {a.group()} != {b.group()}")
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def summary(claim_rows: pd.DataFrame, table_rows: pd.DataFrame) -> str:
    """Lines for the terminal: verdicts (and per primary verdict of the reference, how many rows
    agree and overlap), values, moved windows, tables."""
    n = len(claim_rows)
    agree = int(claim_rows["verdict_agrees"].sum())
    shifts = claim_rows["shift_in_half_widths"].abs().dropna()
    inside = int(claim_rows["inside_ref_interval"].sum())
    biggest = f"largest shift {shifts.max():.2f} half-widths" if len(shifts) else "no values to compare"
    missing = int((claim_rows["run_verdict"] == "missing").sum())
    lines = [f"verdicts: {agree} of {n} claims rows agree with the reference"
             + (f" ({missing} missing from the run: another config or plan?)" if missing else "")]
    if "role" in claim_rows.columns:
        prim = claim_rows[claim_rows.role == "primary"]
        for v, g in prim.groupby("ref_verdict", sort=True):
            lines.append(f"  primary {v} in the reference: {int(g.verdict_agrees.sum())} of {len(g)} agree, "
                         f"{int(g.intervals_overlap.sum())} of {len(g)} intervals overlap")
    lines.append(f"values: {inside} of {n} inside the reference interval; {biggest}")
    if "window_moved" in claim_rows.columns:
        lines.append(f"windows: {int(claim_rows.window_moved.sum())} of {n} rows decided over other informative "
                     "rates (the same rows, reported with both windows)")
    same = int(table_rows["identical"].sum())
    equal = int(table_rows["equal"].sum()) if "equal" in table_rows.columns else same
    lines.append(f"tables: {same} of {len(table_rows)} identical to the byte, {equal} equal within rtol {RTOL:g} "
                 "(all on a CPU model listed in tests/ci_tables.cpus with the pinned packages; elsewhere none "
                 "need be: compare verdicts and intervals)")
    return "\n".join(lines)


def c1_gaps(seed_means: pd.DataFrame, chance: dict, window: tuple) -> pd.DataFrame:
    """C1's quantity per AS network and fault type of one run: the share of above-chance accuracy
    kept over the run's informative window, standard minus AS network of the same seed, points
    (columns dataset, arch, variant, seed, fault, gap)."""
    from flatenn.claims import kept_over_window

    kept = kept_over_window(seed_means, chance, window)
    std = kept[kept.variant == "standard"].drop(columns=["variant", "training"])
    j = kept[kept.variant != "standard"].merge(std, on=["dataset", "arch", "seed", "fault"], suffixes=("", "_std"))
    return j.assign(gap=100 * (j.retained_std - j.retained))[["dataset", "arch", "variant", "seed", "fault", "gap"]]


BUDGET_COLUMNS = ["dataset", "arch", "variant", "seed", "quantity", "fault", "base", "double", "change", "same_sign"]


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


STABILITY_COLUMNS = ["claim", "dataset", "arch", "fault", "a_variant", "role", "converged_value",
                     "converged_ci_low", "converged_ci_high", "converged_verdict", "half_value", "half_ci_low",
                     "half_ci_high", "half_verdict", "depends_on_budget", "gain_converged", "gain_half", "gain_moved",
                     "seeds", "seeds_same_sign", "same_sign_expected"]


def budget_stability(converged: dict, half: dict, plan: dict, chance: dict) -> pd.DataFrame:
    """Budget stability as an endpoint: C1 decided as the claims decide it (``claims.fault_claim``:
    its family, correction and family-wise interval) on the same seeds trained at the converged
    budget and at half of it (each a dict of clean_accuracy and fault_accuracy_by_seed tables),
    per architecture, fault type and AS level; ``depends_on_budget`` where the verdicts differ,
    and on how many seeds the per-network C1 quantity keeps its sign beside how many would keep it
    if the signs at the two budgets were independent (``same_sign_expected``: p q + (1 - p)(1 - q)
    per network, p and q the shares of positive values at each budget). The dose is not matched:
    at a fixed penalty the sparsity gained grows with the budget, so each row carries the mean
    gain at both budgets (``gain_moved``); a verdict that moves may have moved with the dose."""
    from flatenn.claims import fault_claim, sparsity_gained

    keys = ["claim", "dataset", "arch", "fault", "a_variant", "role"]
    cols = ["measured_value", "adj_ci_low", "adj_ci_high", "verdict"]
    runs = {}
    for name, run in (("converged", converged), ("half", half)):
        d = fault_claim(run["seed_means"], run["clean"], plan, chance)
        d = d[(d.role == "primary") & (d.a_training == "conventional")]
        runs[name] = d[keys + cols].rename(columns={c: f"{name}_{c.replace('measured_', '').replace('adj_', '')}"
                                                    for c in cols})
    out = runs["converged"].merge(runs["half"], on=keys, how="outer")
    out["depends_on_budget"] = out.converged_verdict != out.half_verdict
    per_net = budget(half, converged, chance, (plan["window"]["low"], plan["window"]["high"]))
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


LADDER_COLUMNS = ["dataset", "arch", "variant", "seed", "budget", "quantity", "fault", "value"]
CONVERGENCE_COLUMNS = ["dataset", "arch", "seed", "budget", "next_budget", "clean_change_standard",
                       "clean_change_as", "gain_change", "converged", "chosen"]


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

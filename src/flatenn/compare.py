"""A fresh run's tables against a stored reference (``make compare REF=expected/default``).

Pinned runs on x86-64 CPUs with AVX2 give the same tables to the byte (``flatenn.numerics``);
on any other CPU, or with another PyTorch, the networks train to other weights and only the
verdicts and intervals can be compared. So the comparison says, per claims row, whether the
verdict agrees and how far the value moved in units of the reference interval's half-width,
and, per table, whether it is identical to the byte.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

# What identifies a claims row in every version of the table.
CLAIM_KEYS = ["claim", "dataset", "arch", "fault", "comparison", "role", "quantity", "aggregate"]
VALUES = ["ref_verdict", "run_verdict", "verdict_agrees", "ref_value", "ref_ci_low", "ref_ci_high",
                        "run_value", "shift_in_half_widths", "inside_ref_interval"]


def claims(ref: pd.DataFrame, run: pd.DataFrame) -> pd.DataFrame:
    """One row per claims row of the reference: its verdict and value beside the run's.

    ``shift_in_half_widths`` = (run value - reference value) / reference half-width; a row
    the run lacks has no run verdict and does not agree."""
    keys = [k for k in CLAIM_KEYS if k in ref.columns and k in run.columns]
    ref = ref.fillna({k: "" for k in keys})
    run = run.fillna({k: "" for k in keys})
    m = ref.merge(run[keys + ["verdict", "measured_value"]], on=keys, how="left", suffixes=("", "_run"))
    half = (m["ci_high"] - m["ci_low"]) / 2
    shift = (m["measured_value_run"] - m["measured_value"]) / half.where(half > 0)
    out = m.assign(
        ref_verdict=m["verdict"], run_verdict=m["verdict_run"].fillna("missing"),
        verdict_agrees=m["verdict"] == m["verdict_run"], ref_value=m["measured_value"], ref_ci_low=m["ci_low"],
        ref_ci_high=m["ci_high"], run_value=m["measured_value_run"], shift_in_half_widths=shift,
        inside_ref_interval=m["measured_value_run"].between(m["ci_low"], m["ci_high"]))
    return out[keys + VALUES]


def tables(ref_dir, run_dir) -> pd.DataFrame:
    """Every CSV table of the reference (runtimes aside): present in the run, identical to the byte."""
    rows = []
    for ref in sorted(Path(ref_dir).glob("*.csv")):
        if ref.name == "runtime.csv":
            continue
        run = Path(run_dir) / ref.name
        rows.append({"table": ref.name, "in_run": run.is_file(),
                     "identical": run.is_file() and _sha256(run) == _sha256(ref)})
    return pd.DataFrame(rows, columns=["table", "in_run", "identical"])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def summary(claim_rows: pd.DataFrame, table_rows: pd.DataFrame) -> str:
    """Three lines for the terminal: verdicts, values, tables."""
    n = len(claim_rows)
    agree = int(claim_rows["verdict_agrees"].sum())
    shifts = claim_rows["shift_in_half_widths"].abs().dropna()
    inside = int(claim_rows["inside_ref_interval"].sum())
    biggest = f"largest shift {shifts.max():.2f} half-widths" if len(shifts) else "no values to compare"
    same = int(table_rows["identical"].sum())
    missing = int((claim_rows["run_verdict"] == "missing").sum())
    return "\n".join([
        f"verdicts: {agree} of {n} claims rows agree with the reference"
        + (f" ({missing} missing from the run: another config or plan?)" if missing else ""),
        f"values: {inside} of {n} inside the reference interval; {biggest}",
        f"tables: {same} of {len(table_rows)} identical to the byte "
        "(all, on a pinned x86-64 machine with the pinned packages; else none need be)"])


BUDGET_COLUMNS = ["dataset", "arch", "variant", "seed", "quantity", "fault", "base", "double", "change", "same_sign"]


def budget(base: dict, double: dict, chance: dict, window: tuple) -> pd.DataFrame:
    """The budget check: the same networks (seed, architecture, variant) trained with the
    study's budget (``base``) and with twice it (``double``), each a dict of that run's
    clean_accuracy and fault_accuracy_by_seed tables. Per network: clean accuracy and activation
    sparsity; per AS network and fault type: C1's quantity (share kept over its run's window,
    standard minus AS, points), and whether its sign holds."""
    from flatenn.claims import kept_over_window

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
        kept = kept_over_window(run["seed_means"], chance, window)
        std = kept[kept.variant == "standard"].drop(columns=["variant", "training"])
        j = kept[kept.variant != "standard"].merge(std, on=["dataset", "arch", "seed", "fault"], suffixes=("", "_std"))
        gaps[k] = j.assign(gap=100 * (j.retained_std - j.retained))[model + ["fault", "gap"]]
    j = gaps["base"].merge(gaps["double"], on=model + ["fault"], suffixes=("_b", "_d"))
    rows.append(j[model + ["fault"]].assign(quantity="c1_retained_gap", base=j.gap_b, double=j.gap_d))
    out = pd.concat(rows, ignore_index=True)
    out["change"] = out.double - out.base
    out["same_sign"] = np.where(out.quantity == "c1_retained_gap", np.sign(out.base) == np.sign(out.double), pd.NA)
    return out.reindex(columns=BUDGET_COLUMNS).sort_values(["quantity", "arch", "variant", "fault"], ignore_index=True)

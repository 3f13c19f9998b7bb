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


def in_words(claim_rows: pd.DataFrame, table_rows: pd.DataFrame) -> str:
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


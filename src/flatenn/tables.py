"""Tables in and out: one table as CSV, Markdown and LaTeX; a study's table read from its parts;
the stages' runtimes."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from flatenn import io


def write_table(df: pd.DataFrame, outputs, floatfmt: str = ".4f") -> None:
    """One table as CSV (full precision), Markdown and LaTeX, by the outputs' suffixes."""
    for out in outputs:
        suffix = Path(out).suffix
        if suffix == ".csv":
            io.write_csv(out, df)
        elif suffix == ".md":
            io.atomic_write_text(out, df.to_markdown(index=False, floatfmt=floatfmt) + "\n")
        elif suffix == ".tex":
            io.atomic_write_text(out, df.to_latex(index=False, float_format=lambda v: format(v, floatfmt)))
        else:
            raise ValueError(f"outputs: no table format for {out}")


def runtime(benchmark_files) -> pd.DataFrame:
    """Wall time per rule from the benchmark files of this run's jobs (each file's s column).

    The rule is the first folder under ``results/benchmarks/`` (per-model rules keep one)."""
    rows = []
    for f in map(Path, benchmark_files):
        parts = f.parts[f.parts.index("benchmarks") + 1:]
        b = pd.read_csv(f, sep="\t")
        rows.append({"rule": parts[0].removesuffix(".tsv"), "seconds": float(b["s"].iloc[-1]),
                     "max_rss_mb": pd.to_numeric(b["max_rss"], errors="coerce").iloc[-1]})
    df = pd.DataFrame(rows, columns=["rule", "seconds", "max_rss_mb"])
    out = df.groupby("rule", as_index=False).agg(jobs=("seconds", "size"), total_s=("seconds", "sum"),
                                                 max_job_s=("seconds", "max"), max_rss_mb=("max_rss_mb", "max"))
    return out.round(2)


def read_tables(paths) -> pd.DataFrame:
    """One table from one CSV or the concatenation of several (a study run in parts); a table
    already read is itself."""
    if isinstance(paths, pd.DataFrame):
        return paths
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)

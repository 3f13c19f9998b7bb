"""Output formats and the run's own record: tables as CSV/Markdown/LaTeX, stage runtimes,
executed notebooks."""
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


def notebook(source, output) -> None:
    """Execute a jupytext percent-format notebook into an .ipynb (cwd = the workflow's workdir)."""
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(Path.cwd())}}).execute()
    io.atomic_write_text(output, jupytext.writes(nb, fmt="ipynb"))

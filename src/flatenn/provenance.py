"""What made a run: its provenance (commit, CPU, numerics, config digest), the report's landing page
and its rebuild line, and executed notebooks."""
from __future__ import annotations

from pathlib import Path

from flatenn import io
from flatenn.findings.readme import findings_rows


def notebook(source, output) -> None:
    """Execute a jupytext percent-format notebook into an .ipynb (cwd = the workflow's workdir)."""
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(Path.cwd())}}).execute()
    io.atomic_write_text(output, jupytext.writes(nb, fmt="ipynb"))


def provenance_line(prov: dict, configfiles: list) -> str:
    """One sentence naming what made a run (``flatenn provenance``'s record and its config files)."""
    return (f"Made by commit {prov['commit']}, config {prov['config_digest']} ({', '.join(configfiles)}), "
            f"numerics {prov['numerics']}, CPU {prov['cpu']}, on {prov['date']}.")


def rebuild_prefix(configfiles: list) -> str:
    """The command that rebuilds one target of a run made with ``configfiles``."""
    return " ".join(["snakemake", *(f"--configfile {f}" for f in configfiles if f != "config/default.yaml")])


def report_landing(tables_dir, verdicts_png) -> str:
    """The report's first screen (reStructuredText), short enough for one screen (the report
    centres it beside the rule graph): per claim and architecture the family's verdict and its
    robustness, the verdicts figure as a thumbnail that opens it, and a line per category
    (workflow/report/workflow.rst adds the provenance)."""
    import base64

    rows = findings_rows({"this run": tables_dir}, beyond_claims=False)
    rows = rows.assign(robustness=rows.robustness.str.replace(r"; (\d+) of (\d+) rows fragile", r" (\1 of \2 fragile)",
                                                              regex=True))
    table = rows[["claim", "arch", "verdict", "robustness"]].to_markdown(index=False, tablefmt="grid")
    image = base64.b64encode(Path(verdicts_png).read_bytes()).decode()
    return "\n".join([
        "Findings of this run", "--------------------", "",
        "The verdict of each claim's primary rows under the declared analysis plan, and its robustness "
        "(paper_tables/findings.md says what each means; Claims has every table).", "", table, "",
        # inline, as raw HTML: docutils refuses a line as long as the image; a URL parser drops newlines
        ".. raw:: html", "",
        "   <a href=\"javascript:app.showResultInfo('figures%2Fverdicts.png')\" title=\"open the verdicts figure\">"
        '<img alt="every primary endpoint and its verdict" style="max-height:240px;max-width:100%" '
        'src="data:image/png;base64,',
        *(f"   {image[i:i + 76]}" for i in range(0, len(image), 76)), '   "></a>', "",
        "**Claims**: verdicts, their tables and figure. **Dose-response**: robustness against sparsity gained. "
        "**Faults**: accuracy against fault rate, by layer and bit. **Sharpness**: landscapes, sharpness against "
        "robustness. **Tables**: the paper's tables and the per-network tables. Every caption names its rule, "
        "the command that rebuilds its file and this run's provenance:", ""])


def commit() -> str:
    """The commit of the code that runs (this package's checkout), marked where tracked files differ."""
    import subprocess

    repo = Path(__file__).resolve().parents[2]
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], capture_output=True, text=True)  # noqa: E731
    head = git("rev-parse", "--short=12", "HEAD")
    if head.returncode:
        return "unknown (not a git checkout)"
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return head.stdout.strip() + (" with local changes" if dirty else "")


def provenance(settings: dict) -> dict:
    """The run's record: what the workflow passed (config digest, numerics mode) and what the job
    sees (the commit of the code it runs, CPU signature, date, PyTorch)."""
    import datetime

    import torch

    from flatenn import numerics

    return {**settings, "commit": commit(), "cpu": numerics.cpu_signature(), "numerics_detail": numerics.describe(),
            "torch": torch.__version__, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}

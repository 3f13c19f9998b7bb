"""The ci DAG through the Slurm profile on a real one-node Slurm cluster (Debian's packages)."""
import os
import shutil

import pytest

from conftest import CI_CONFIG, ROOT, SNAKEMAKE, run
from test_workflow import CHECKSUMS, table_checksums

pytestmark = pytest.mark.slow


def start_cluster():
    if os.geteuid() != 0:
        pytest.skip("a one-node Slurm cluster is started as root; not root here")
    if not shutil.which("apt-get") and not shutil.which("slurmctld"):
        pytest.skip("neither Slurm nor apt-get (to install Debian's Slurm) is on this machine")
    res = run(["bash", str(ROOT / "tests/slurm/start-one-node.sh")], check=False, timeout=600)
    if res.returncode != 0:
        pytest.skip(f"could not start Slurm here: {(res.stderr or res.stdout).strip().splitlines()[-1:]}")


def test_ci_dag_on_slurm_gives_the_local_tables(ci_workdir, tmp_path):
    """One model's whole chain (train, evaluate, campaigns, sharpness, vulnerability) and every
    table and figure rerun through sbatch on a copy of the finished local ci run."""
    start_cluster()
    pytest.importorskip("snakemake_executor_plugin_slurm")
    work = tmp_path / "work"
    shutil.copytree(ci_workdir, work, symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete"))
    model = "fashion_mnist/lenet5/as_high/saq/s1"
    chain = [f"results/models/{model}.pt", f"results/eval/{model}.json", f"results/sharpness/{model}.json"]
    for old in [work / f for f in chain] + list((work / f"results/campaign/{model}").iterdir()) + list(
            (work / "paper_tables").iterdir()) + list((work / "figures").iterdir()):
        old.unlink()
    res = run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(work), "--configfile", str(CI_CONFIG),
         "--profile", str(ROOT / "workflow/profiles/slurm"), "--jobs", "4",
         # this cluster keeps no accounting (no sacct); poll soon, jobs are short
         "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5"], timeout=1800)
    submitted = res.stdout + res.stderr  # every job went through sbatch
    for rule in ("train", "evaluate", "campaign", "sharpness", "fault_tables", "claims", "notebook"):
        assert f"slurm_logs/rule_{rule}/" in submitted, rule
    assert table_checksums(work) == dict(
        line.split()[::-1] for line in CHECKSUMS.read_text().splitlines() if line.strip())

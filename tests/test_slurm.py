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


def test_ci_dag_on_slurm_gives_the_local_tables(tmp_path):
    start_cluster()
    pytest.importorskip("snakemake_executor_plugin_slurm")
    run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "--configfile", str(CI_CONFIG),
         "--profile", str(ROOT / "workflow/profiles/slurm"), "--jobs", "4",
         # this cluster keeps no accounting (no sacct); poll soon, jobs are short
         "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5"], timeout=1800)
    assert (tmp_path / ".snakemake/slurm_logs").is_dir()  # the jobs really went through sbatch
    assert table_checksums(tmp_path) == dict(
        line.split()[::-1] for line in CHECKSUMS.read_text().splitlines() if line.strip())

"""The ci DAG through the Slurm profile on a real one-node Slurm cluster (Debian's packages)."""
import os
import shutil

import pytest

from conftest import CI_CONFIG, ROOT, SNAKEMAKE, run
from test_workflow import CHAIN_TABLES, copy_of_run, model_chain, raw_results, remove_model_chain, table_checksums

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
    """One model's whole chain (train, evaluate, campaign, sharpness) and the tables made from it
    rerun through sbatch on a copy of the finished local ci run: the same raw results and tables. (Three levels
    of jobs: the plugin's status polls back off to 33 s per level for jobs of over 12 s.)"""
    start_cluster()
    pytest.importorskip("snakemake_executor_plugin_slurm")
    work = copy_of_run(ci_workdir, tmp_path / "work")
    remove_model_chain(work)
    res = run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(work), "--configfile", str(CI_CONFIG),
               "--profile", str(ROOT / "workflow/profiles/slurm"), "--jobs", "4", *CHAIN_TABLES, model_chain()[2],
               # this cluster keeps no accounting (no sacct); first poll after 1 s, then 11 s, 21 s, ...
               "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1"],
              timeout=1800)
    submitted = res.stdout + res.stderr  # every job went through sbatch
    for rule in ("train", "evaluate", "campaign", "sharpness", "clean_accuracy_table", "fault_tables"):
        assert f"slurm_logs/rule_{rule}/" in submitted, rule
    assert raw_results(work) == raw_results(ci_workdir)
    expected = table_checksums(ci_workdir)
    rebuilt = table_checksums(work)
    assert {"clean_accuracy.csv", "fault_accuracy.csv", "fault_paired_ci.csv"} <= set(rebuilt)
    assert rebuilt == {name: expected[name] for name in rebuilt}

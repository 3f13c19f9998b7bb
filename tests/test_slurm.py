"""The ci DAG through the Slurm profile on a real one-node Slurm cluster (Debian's packages),
started in a folder of its own (tests/slurm/cluster.py) and stopped at the end."""
import hashlib
import sys
from pathlib import Path

import pytest

from conftest import CI_CONFIG, ROOT, SNAKEMAKE, run
from test_workflow import CHAIN_TABLES, copy_of_run, model_chain, raw_results, remove_model_chain, table_checksums

sys.path.insert(0, str(ROOT / "tests" / "slurm"))
import cluster  # noqa: E402

pytestmark = pytest.mark.slow
SYSTEM_CONFIG = (Path("/etc/slurm"), Path("/etc/munge"))


def snapshot(folders=SYSTEM_CONFIG) -> dict:
    """Every file under ``folders`` with its bytes' digest, owner and mode (absent: not listed)."""
    out = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")) if folder.is_dir() else []:
            st = p.lstat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
            out[str(p)] = (digest, st.st_uid, st.st_gid, st.st_mode)
    return out


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def slurm_env():
    why = cluster.missing()
    if why:
        pytest.skip(why)
    with cluster.one_node_cluster() as c:
        yield c


def test_cluster_leaves_the_machine_as_it_found_it():
    """The cluster runs a job, then leaves no daemon it started running and /etc/slurm and
    /etc/munge byte for byte as they were (and writes nothing of its own there)."""
    why = cluster.missing()
    if why:
        pytest.skip(why)
    before = snapshot()
    with cluster.one_node_cluster() as c:
        root, pids = c["root"], c["pids"]
        assert all(running(p) for p in pids)
        assert Path(c["SLURM_CONF"]).is_relative_to(root)
        out = root / "job.out"
        # a nested srun without SLURM_CONF, as Snakemake's jobstep plugin runs it, still finds this cluster
        run(["sbatch", "--wait", "-o", str(out), "--wrap", "echo $SLURM_JOB_ID; unset SLURM_CONF; srun echo step"],
            env={k: c[k] for k in ("SLURM_CONF", "PATH")}, timeout=120)
        first, step = out.read_text().split()
        assert first.isdigit() and step == "step"
    assert not [p for p in pids if running(p)]
    assert not root.exists()
    assert snapshot() == before


def test_ci_dag_on_slurm_gives_the_local_tables(ci_workdir, tmp_path, slurm_env):
    """One model's whole chain (train, evaluate, campaign, sharpness) and the tables made from it
    rerun through sbatch on a copy of the finished local ci run: the same raw results and tables. (Three levels
    of jobs: the plugin's status polls back off to 33 s per level for jobs of over 12 s.)"""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    work = copy_of_run(ci_workdir, tmp_path / "work")
    remove_model_chain(work)
    res = run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(work), "--configfile", str(CI_CONFIG),
               "--profile", str(ROOT / "workflow/profiles/slurm"), "--jobs", "4", *CHAIN_TABLES, model_chain()[2],
               # this cluster keeps no accounting (no sacct); first poll after 1 s, then 11 s, 21 s, ...
               "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1"],
              timeout=1800, env={k: slurm_env[k] for k in ("SLURM_CONF", "PATH")})
    submitted = res.stdout + res.stderr  # every job went through sbatch
    for rule in ("train", "evaluate", "campaign", "sharpness", "clean_accuracy_table", "fault_tables"):
        assert f"slurm_logs/rule_{rule}/" in submitted, rule
    assert raw_results(work) == raw_results(ci_workdir)
    expected = table_checksums(ci_workdir)
    rebuilt = table_checksums(work)
    assert {"clean_accuracy.csv", "fault_accuracy.csv", "fault_paired_ci.csv"} <= set(rebuilt)
    assert rebuilt == {name: expected[name] for name in rebuilt}

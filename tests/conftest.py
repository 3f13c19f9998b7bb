import os
import subprocess
import sys
from pathlib import Path

import pytest

from flatenn import numerics

numerics.apply()  # as a workflow job does, before torch starts

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
SNAKEMAKE = str(Path(PY).parent / "snakemake")
CI_CONFIG = ROOT / "config" / "ci.yaml"
FASHION = Path("/usr/share/datasets/fashion-mnist")

torch.set_num_threads(1)


def run(cmd, cwd=ROOT, check=True, timeout=900, env=None):
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, **(env or {})})
    if check and res.returncode != 0:
        raise AssertionError(f"{cmd} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res


# The test files that share the ci DAG (the ci_workdir fixture, which the kill tests change).
CI_DAG_FILES = ("tests/test_workflow.py", "tests/test_slurm.py")


def pytest_collection_modifyitems(items):
    """Slow tests first, so that under `make test` (two workers) no long test starts last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_xdist_make_scheduler(config, log):
    """Under `pytest -n 2` (make test): the ci DAG's files go to one worker as a whole, so the
    DAG runs once, and every other test to whichever worker is free. (xdist's own
    --dist loadgroup does not group under pytest 9.)"""
    from xdist.scheduler import LoadScopeScheduling

    class CiDagTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return "ci_dag" if nodeid.startswith(CI_DAG_FILES) else nodeid

    return CiDagTogether(config, log)


@pytest.fixture(scope="session")
def trained():
    """(digits dataset, {"standard", "sparse": LeNet-5 trained 3 epochs}), shared by the test modules."""
    from flatenn import data, models, train

    ds = data.load("digits", val_size=100)
    out = {}
    for name, variant in (("standard", {"threshold": 0.0, "alpha": 0.0, "penalty": "l1"}),
                          ("sparse", {"threshold": 0.1, "alpha": 0.3, "penalty": "l1"})):
        torch.manual_seed(0)
        m = models.build("lenet5", ds.shape, 10, {"weight_bits": 8, "act_bits": 8})
        train.train(m, ds, tcfg={"epochs": 3, "batch_size": 64, "lr": 0.05, "momentum": 0.9,
                                 "weight_decay": 5e-4, "ramp_epochs": 1}, variant=variant, rho=0.0, seed=0,
                    progress=False)
        out[name] = m.eval()
    return ds, out


@pytest.fixture(scope="session")
def ci_workdir(tmp_path_factory):
    """The whole DAG on config/ci.yaml, run once in a scratch working directory."""
    if not FASHION.is_dir():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    work = tmp_path_factory.mktemp("ci_run")
    run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(work), "--configfile", str(CI_CONFIG),
         "--cores", "2"], timeout=1200)
    return work


def settings_for(cfg_path, rule, **wildcards) -> str:
    """The --settings argument the workflow gives a job of ``rule`` under the config file."""
    from flatenn import config

    return config.settings_arg(config.job_settings(config.load(cfg_path, base=ROOT), rule, **wildcards))


MODEL_WC = {"dataset": "fashion_mnist", "arch": "lenet5", "variant": "as_mid", "training": "saq", "seed": "0"}

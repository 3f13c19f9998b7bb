"""Processes that need no torch do not import it: 2-3 s of every process that does. Snakemake
itself (the Snakefile validates the config) and the table and figure jobs run here with torch
made unimportable."""
import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import CI_CONFIG, FASHION, PY, ROOT, SNAKEMAKE
from test_claims import TRAININGS, VARIANTS, run_claims, synthetic_trials


@pytest.fixture
def no_torch(tmp_path):
    """An environment in which `import torch` fails."""
    blocker = tmp_path / "no_torch" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('this process imported torch')\n")
    return {**os.environ, "PYTHONPATH": str(blocker.parent)}


@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST not installed (the config names it)")
def test_snakemake_plans_the_dag_without_torch(tmp_path, no_torch):
    res = subprocess.run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path / "work"), "--configfile",
                          str(CI_CONFIG), "-n"], cwd=ROOT, capture_output=True, text=True, env=no_torch)
    assert res.returncode == 0 and "train" in res.stdout, res.stderr[-2000:]


def test_table_and_figure_jobs_run_without_torch(tmp_path, no_torch):
    """`flatenn fault-tables` and `flatenn figure-claims-by-depth` on synthetic inputs."""
    trials = synthetic_trials(np.random.default_rng(0))
    trials.to_csv(tmp_path / "trials.csv", index=False)
    run_claims(trials)["claims"].to_csv(tmp_path / "claims.csv", index=False)
    t = lambda name: [str(tmp_path / f"{name}.{ext}") for ext in ("csv", "md", "tex")]  # noqa: E731
    settings = {"level": 0.95, "variants": VARIANTS, "trainings": TRAININGS, "faults": ["bitflip", "sa1"],
                "dataset": "fashion_mnist", "eval_size": 300}
    for args in (["fault-tables", "--settings", json.dumps(settings), "--trials", str(tmp_path / "trials.csv"),
                  "--seed-means", *t("by_seed"), "--fault-accuracy", *t("fa"), "--paired-by-seed", *t("pbs"),
                  "--paired-ci", *t("pci"), "--variance", *t("var"),
                  "--saq-gain", *t("gain"), "--as-saq-vs-standard", *t("assaq")],
                 ["fault-summary", "--fault", "sa1", "--fault-accuracy", str(tmp_path / "fa.csv"), "--table", *t("ss")],
                 ["figure-claims-by-depth", "--claims", str(tmp_path / "claims.csv"),
                  "--out", str(tmp_path / "depth.png")]):
        res = subprocess.run([PY, "-m", "flatenn", *args], capture_output=True, text=True, env=no_torch)
        assert res.returncode == 0, res.stderr[-2000:]
    assert len(pd.read_csv(tmp_path / "pci.csv")) > 0 and len(pd.read_csv(tmp_path / "ss.csv")) > 0
    assert (tmp_path / "depth.png").stat().st_size > 1000


PACKAGE = ROOT / "src" / "flatenn"
MODULES = sorted(".".join(p.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
                 for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")


def imported(node, module: str) -> set[str]:
    """The flatenn modules one import statement names (``from flatenn.claims import decide`` names
    the submodule claims.decide where it is one, else the package claims)."""
    import ast

    if isinstance(node, ast.Import):
        return {a.name.removeprefix("flatenn.") for a in node.names if a.name.startswith("flatenn.")}
    if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("flatenn")):
        return set()
    base = node.module.removeprefix("flatenn").removeprefix(".")
    named = {f"{base}.{a.name}".lstrip(".") for a in node.names}
    return {n for n in named if n in MODULES} | ({base} if base and named - set(MODULES) else set())


def import_graph() -> dict[str, set[str]]:
    """Every module of src/flatenn (subpackages included) and the flatenn modules it imports, at
    the top or inside a function (a lazy import is still a dependency). A package's own
    ``__init__`` re-exports its modules: an import of one of them is not an edge to the package."""
    import ast

    graph = {}
    for name in MODULES:
        path = PACKAGE / (name.replace(".", "/") + ("/__init__.py" if (PACKAGE / name.replace(".", "/")).is_dir()
                                                     else ".py"))
        deps = set().union(*(imported(node, name) for node in ast.walk(ast.parse(path.read_text()))))
        graph[name] = deps - {name}
    return graph


def test_the_package_has_no_import_cycle_and_takes_no_private_name_across_modules():
    graph = import_graph()
    assert graph["claims.between"] >= {"claims.decide", "claims.robustness"}, graph["claims.between"]
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            assert state.get(dep) != 1, "import cycle: " + " -> ".join([*stack, node, dep])
            if dep not in state:
                visit(dep, [*stack, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    import ast

    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("flatenn."):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"


def documented_layers() -> dict[str, int]:
    """docs/methods.md's module table: each module (or package) named in a row, outside
    parentheses, to its row's rank (0: the command layer, at the top)."""
    import re

    text = (ROOT / "docs" / "methods.md").read_text().split("## Modules", 1)[1]
    rows = [line.split("|")[1:3] for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    return {name.strip("/").replace("/", "."): rank for rank, (_, mods) in enumerate(rows)
            for name in re.findall(r"`([^`]+)`", re.sub(r"\([^)]*\)", "", mods))}


def test_no_module_imports_a_layer_above_its_own():
    """The layer table in docs/methods.md is the rule: every module is in it, and every import
    goes to its own layer or one below."""
    layers = documented_layers()

    def rank(module):
        owners = [m for m in layers if module == m or module.startswith(m + ".")]
        assert owners, f"{module} is in no layer of docs/methods.md's module table"
        return layers[max(owners, key=len)]

    up = [f"{m} -> {d}" for m, deps in import_graph().items() if m != "__init__" for d in deps
          if d != "__init__" and rank(d) < rank(m)]
    assert not up, "imports of a higher layer: " + ", ".join(sorted(up))
    assert rank("mechanism.infer") < rank("mechanism.measure") < rank("mechanism")


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_alone(module):
    res = subprocess.run([PY, "-c", f"import flatenn.{module}"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-1500:]

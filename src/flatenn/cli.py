"""``flatenn <subcommand>``: the command table, its parser and the one-line errors; nothing else.

Each command is one job of ``flatenn.jobs`` (one per workflow rule), called with its declared
options as a dict and its settings; the work is done in the package.

Per-model jobs read their config slice from ``--settings`` (JSON, as the workflow passes
it: ``config.job_settings``) and the model's identity from its path
(``.../<dataset>/<arch>/<variant>/<training>/s<seed>.<ext>``). Every error a user can cause
ends in one line on stderr and exit status 2; outputs are written atomically.
"""
from __future__ import annotations

import argparse
import logging
import sys

from flatenn import numerics

try:  # first, before torch or numpy start (flatenn.numerics)
    numerics.apply()
except ValueError as e:
    sys.exit(f"flatenn: error: {e}")

from flatenn.config import ConfigError  # noqa: E402
from flatenn.io import DataError  # noqa: E402
from flatenn.jobs import figures, networks, studies, tables  # noqa: E402

log = logging.getLogger("flatenn")

COMMANDS = {
    # name: (function, takes --settings, {option: nargs})
    "check-config": (networks.check_config, False, {"config": None}),
    "prepare-data": (networks.prepare_data, True, {"out": None}),
    "train": (networks.train, True, {"data": None, "out": None, "checkpoint": "?"}),
    "evaluate": (networks.evaluate, True, {"data": None, "model": None, "out": None}),
    "campaign": (networks.campaign, True, {"data": None, "model": None, "fault": "+", "out": "+"}),
    "vulnerability": (networks.vulnerability, True, {"data": None, "model": None, "out": None}),
    "sharpness": (networks.sharpness, True, {"data": None, "model": None, "out": None}),
    "mechanism": (networks.mechanism, True, {"data": None, "model": None, "out": None, "trials": None}),
    "clean-table": (tables.clean_table, False, {"evals": "+", "table": "+"}),
    "fault-tables": (tables.fault_tables, True, {
        "trials": "+", "seed-means": "+", "fault-accuracy": "+", "paired-by-seed": "+", "paired-ci": "+",
        "variance": "+", "saq-gain": "+", "as-saq-vs-standard": "+"}),
    "fault-summary": (tables.fault_summary, False, {"fault": None, "fault-accuracy": None, "table": "+"}),
    "sharpness-tables": (tables.sharpness_tables, True, {
        "sharpness": "+", "seed-means": None, "table": "+", "paired": "+", "correlation": "+", "landscapes": None}),
    "vulnerability-table": (tables.vulnerability_table, True, {"trials": "+", "table": "+"}),
    "claims": (tables.claims, False, {"seed-means": None, "sharpness": None, "clean": None, "plan": None,
                                   "claims": "+", "by-rate": "+", "interaction": "+", "explains": "+", "slope": "+",
                                   "by-gain": "+", "findings": None}),
    "dose-response": (tables.dose_response, True, {"clean": None, "paired-by-seed": None, "paired-sharpness": None,
                                                "table": "+"}),
    "figure-dose-response": (figures.figure_dose_response, False, {"dose-response": None, "out": "+"}),
    "figure-claims-by-depth": (figures.figure_claims_by_depth, False, {"claims": None, "out": "+"}),
    "figure-c1-vs-sparsity": (figures.figure_c1_vs_sparsity, False, {"by-gain": None, "slope": None, "out": "+"}),
    "figure-mechanism": (figures.figure_mechanism, False, {"explained": None, "intervention": None, "out": "+"}),
    "figure-verdicts": (figures.figure_verdicts, False, {"claims": None, "out": "+"}),
    "findings": (tables.findings, False, {"headline": None, "plan": None, "readme": None}),
    "figure-faults": (figures.figure_faults, True, {"fault-accuracy": None, "out": "+"}),
    "figure-vulnerability": (figures.figure_vulnerability, False, {"vulnerability": None, "out": "+"}),
    "figure-landscapes": (figures.figure_landscapes, False, {"landscapes": None, "figures": None}),
    "figure-sharpness": (figures.figure_sharpness, False, {"sharpness": None, "seed-means": None, "correlation": None,
                                                       "out": "+"}),
    "mechanism-tables": (tables.mechanism_tables, False, {
        "layers": "+", "trials": "+", "clean": None, "sharpness": None, "seed-means": None, "vulnerability": None,
        "plan": None, "networks": "+", "switch": "+", "layer-table": "+", "intervention": "+", "explained": "+",
        "findings": None}),
    "calibrate": (studies.calibrate, True, {"evals": "+", "trials": "+", "table": "+", "settings-out": None}),
    "runtime": (tables.runtime, False, {"benchmarks": "*", "out": None}),
    "budget": (studies.budget, False, {"base": None, "double": None, "plan": None, "out": "+"}),
    "provenance": (tables.provenance, True, {"out": None}),
    "report-landing": (tables.report_landing, False, {"claims": None, "verdicts": None, "out": None}),
    "ladder": (studies.ladder, False, {"rungs": "+", "plan": None, "out": "+", "convergence": "+", "figure": "+",
                                    "findings": None}),
    "power": (studies.power, False, {"study": "+", "plan": None, "as-levels": "*", "out": "+", "needed": "+",
                                  "summary": "+", "figure": "+"}),
    "radius": (studies.radius, False, {"rungs": "+", "conventional": None, "plan": None, "out": "+", "figure": "+",
                                    "findings": None}),
    "compare": (studies.compare, False, {"ref": None, "run": None, "out": "?"}),
    "recompute": (studies.recompute, False, {"study": "+", "plan": None, "out": "?", "extensions": "*"}),
    "store-part": (studies.store_part, False, {"run": None, "part": None}),
    "notebook": (tables.notebook, False, {"source": None, "out": None}),
}


# The commands that load data or models (the others read tables and never import torch).
MODEL_COMMANDS = {"prepare-data", "train", "evaluate", "campaign", "vulnerability", "sharpness", "mechanism"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="flatenn", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, (func, takes_settings, opts) in COMMANDS.items():
        s = sub.add_parser(name)
        if takes_settings:
            s.add_argument("--settings", required=True, help="the job's config slice, as JSON")
        s.add_argument("--log", default=None, help="log file (default: stderr)")
        s.add_argument("--threads", type=int, default=1)
        for opt, nargs in opts.items():
            s.add_argument(f"--{opt}", nargs=nargs, required=nargs != "?" and nargs != "*",
                           default=[] if nargs == "*" else None)
    return p


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    try:
        from flatenn.config import parse_settings

        if a.cmd in MODEL_COMMANDS:  # tables and figures skip torch's import (2 s a job)
            import torch

            torch.set_num_threads(a.threads)
        handlers = [logging.FileHandler(a.log)] if a.log else [logging.StreamHandler()]
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", handlers=handlers,
                            force=True)
        if a.cmd in MODEL_COMMANDS and a.log:  # stderr stays for the one-line errors
            log.info("%s; torch CPU capability %s", numerics.describe(), torch.backends.cpu.get_cpu_capability())
        from flatenn.registry import load_extensions

        load_extensions()  # the workflow's extension files ($FLATENN_EXTENSIONS): their records
        func, takes_settings, opts = COMMANDS[a.cmd]
        settings = parse_settings(a.settings) if takes_settings else {}
        func({o.replace("-", "_"): getattr(a, o.replace("-", "_")) for o in opts}, settings)
    except (ConfigError, DataError, ValueError, FileNotFoundError, FileExistsError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"flatenn {a.cmd}: error: {msg}", file=sys.stderr)
        if a.log:
            log.exception("%s", msg)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

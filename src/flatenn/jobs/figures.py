"""The figure jobs: a table in, a figure out (never torch)."""
from __future__ import annotations

from pathlib import Path

from flatenn.jobs.inputs import read


def figure_dose_response(o, s):
    from flatenn import figures

    figures.dose_response(read(o["dose_response"]), o["out"])


def figure_c1_vs_sparsity(o, s):
    from flatenn import figures

    figures.c1_vs_sparsity(read(o["by_gain"]), read(o["slope"]), o["out"])


def figure_mechanism(o, s):
    from flatenn import figures

    figures.mechanism(read(o["explained"]), read(o["intervention"]), o["out"])


def figure_verdicts(o, s):
    from flatenn import figures

    figures.verdicts(read(o["claims"]), o["out"])


def figure_claims_by_depth(o, s):
    from flatenn import figures

    figures.claims_by_depth(read(o["claims"]), o["out"])


def figure_faults(o, s):
    from flatenn import figures

    figures.fault_accuracy(read(o["fault_accuracy"]), s["level"], o["out"])


def figure_vulnerability(o, s):
    from flatenn import figures

    figures.vulnerability(read(o["vulnerability"]), o["out"])


def figure_landscapes(o, s):
    from flatenn import figures
    from flatenn.catalog import landscape_2d_figure

    curves, folder = read(o["landscapes"]), Path(o["figures"])
    figures.landscape_1d(curves, [folder / f"landscape_1d.{ext}" for ext in ("pdf", "png")])
    for (arch, v, t), _ in curves.groupby(["arch", "variant", "training"], sort=False):
        stem = landscape_2d_figure(arch, v, t)
        figures.landscape_2d(curves, arch, v, t, [folder / f"{stem}.{ext}" for ext in ("pdf", "png")])


def figure_sharpness(o, s):
    from flatenn import figures

    figures.sharpness_vs_fault_accuracy(read(o["sharpness"]), read(o["seed_means"]), read(o["correlation"]),
                                        o["out"])

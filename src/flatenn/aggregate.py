"""Tables from raw result files, computed once; claims and figures read these tables.

Grouping keys always carry ``dataset`` and ``arch``. Accuracy statistics are seed-level:
a network's mean over its trials is one observation (see ``flatenn.stats``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from flatenn import io
from flatenn.io import model_id
from flatenn.stats import seed_level_ci, variance_components

MODEL_COLS = list(io.MODEL_COLS)
POINT_COLS = ["dataset", "arch", "fault", "rate"]
# The first three keep the contract column order of sharpness.csv.
BASE_METRICS = ["hessian_top_eig", "hessian_trace", "eps_sharpness", "hessian_top_eig_normalized",
                "hessian_trace_normalized", "fault_sharpness"]


def metric_names(fault_types) -> list[str]:
    """The sharpness metrics of a run with these fault types: the base ones, the curvature along
    each fault type (in the registry's order; bit flips always: fault_sharpness measures them),
    and the quadratic prediction of fault_sharpness."""
    from flatenn.registry import FAULTS

    chosen = set(fault_types) | {"bitflip"}
    return BASE_METRICS + [f"fault_curvature_{f}" for f in FAULTS if f in chosen] + ["fault_sharpness_predicted"]


def metrics_of(sharp: pd.DataFrame) -> list[str]:
    """The metrics a sharpness table holds (its fault curvatures are those its run computed)."""
    from flatenn.registry import FAULTS

    return metric_names([f for f in FAULTS if f"fault_curvature_{f}" in sharp.columns])


# ---------------------------------------------------------------- reading raw results

def clean_accuracy(eval_paths) -> pd.DataFrame:
    rows = [{**model_id(f), **{k: v for k, v in io.read_json(f).items() if k in ("accuracy", "activation_sparsity")}}
            for f in eval_paths]
    df = pd.DataFrame(rows, columns=MODEL_COLS + ["accuracy", "activation_sparsity"])
    return df.sort_values(MODEL_COLS, kind="stable", ignore_index=True)


def read_trials(paths) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def sharpness(paths, fault_types) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row of metrics per model, the loss landscapes in long form); a file without a metric
    of this run (``metric_names(fault_types)``) is a one-line error."""
    rows, curves = [], []
    names = metric_names(fault_types) + ["loss"]
    for p in paths:
        mid, res = model_id(p), io.read_json(p)
        missing = [k for k in names if k not in res]
        if missing:
            raise ValueError(f"sharpness: {p} has no {missing[0]} (written for other fault types or by an older "
                             "version: rerun its sharpness job)")
        rows.append({**mid, **{k: res[k] for k in names}})
        for dim in ("1d", "2d") if "landscape_1d" in res else ():
            alpha, loss = res[f"landscape_{dim}"]["alpha"], np.asarray(res[f"landscape_{dim}"]["loss"])
            if dim == "1d":
                curves += [{**mid, "dim": 1, "a1": a, "a2": 0.0, "loss": v} for a, v in zip(alpha, loss)]
            else:
                curves += [{**mid, "dim": 2, "a1": a, "a2": b, "loss": loss[i, j]}
                           for i, a in enumerate(alpha) for j, b in enumerate(alpha)]
    cols = MODEL_COLS[:3] + ["training", "seed"]
    return (pd.DataFrame(rows).sort_values(cols, kind="stable", ignore_index=True),
            pd.DataFrame(curves))


# ---------------------------------------------------------------- fault campaigns

def seed_means(trials: pd.DataFrame) -> pd.DataFrame:
    """Per network and point: mean accuracy over its trials, its own clean accuracy on the
    same images (rate 0) and the accuracy it lost."""
    keys = MODEL_COLS + ["fault", "rate"]
    g = trials.groupby(keys, as_index=False).agg(trials=("accuracy", "size"), accuracy=("accuracy", "mean"))
    clean = g[g.rate == 0].groupby(MODEL_COLS)["accuracy"].first().rename("clean")
    g = g.join(clean, on=MODEL_COLS)
    g["lost"] = g["clean"] - g["accuracy"]
    return g


def fault_accuracy(means: pd.DataFrame, level: float) -> pd.DataFrame:
    """Accuracy per model configuration and point, seed-level CI (the contract table). An accuracy
    lies in [0, 1], so its t interval is cut to that range: only impossible values go, coverage
    cannot fall."""
    rows = []
    for key, g in means.groupby(["dataset", "arch", "variant", "training", "fault", "rate"], sort=True):
        ci = seed_level_ci(g["accuracy"], level)
        rows.append({**dict(zip(["dataset", "arch", "variant", "training", "fault", "rate"], key)),
                     "trials": int(g["trials"].min()), "mean": ci["mean"], "std": ci["std"],
                     "ci_low": max(ci["ci_low"], 0.0), "ci_high": min(ci["ci_high"], 1.0), "n_seeds": ci["n"]})
    return pd.DataFrame(rows)


COMPARED = ["a_variant", "a_training", "b_variant", "b_training"]  # the two networks of a comparison, a - b


def comparisons(variants, trainings) -> pd.DataFrame:
    """The paired comparisons the paper makes, read as a - b: kind, name, a and b."""
    out = []
    as_levels = [v for v in variants if v != "standard"]
    for t in trainings:
        out += [("as_vs_standard", f"{v}-standard ({t})", v, t, "standard", t) for v in as_levels]
    if {"saq", "conventional"} <= set(trainings):
        out += [("saq_vs_conventional", f"saq-conventional ({v})", v, "saq", v, "conventional") for v in variants]
        out += [("as_saq_vs_standard_conventional", f"{v} saq-standard conventional", v, "saq", "standard",
                 "conventional") for v in as_levels]
    return pd.DataFrame(out, columns=["kind", "comparison", *COMPARED])


def _pairs(df: pd.DataFrame, comps: pd.DataFrame, keys, values) -> pd.DataFrame:
    """Rows of a and b joined on ``keys`` for every comparison, values suffixed _a and _b."""
    out = []
    for c in comps.itertuples(index=False):
        a = df[(df.variant == c.a_variant) & (df.training == c.a_training)]
        b = df[(df.variant == c.b_variant) & (df.training == c.b_training)]
        j = a[keys + values].merge(b[keys + values], on=keys, suffixes=("_a", "_b"))
        out.append(j.assign(kind=c.kind, comparison=c.comparison, a_variant=c.a_variant, a_training=c.a_training,
                            b_variant=c.b_variant, b_training=c.b_training))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def paired_by_seed(means: pd.DataFrame, comps: pd.DataFrame) -> pd.DataFrame:
    """One row per (point, comparison, seed): accuracy difference a - b, and the difference
    in accuracy lost (each network against its own clean accuracy)."""
    p = _pairs(means, comps, POINT_COLS + ["seed"], ["accuracy", "lost", "clean", "trials"])
    p["diff"] = p["accuracy_a"] - p["accuracy_b"]
    p["lost_diff"] = p["lost_a"] - p["lost_b"]
    p["trials"] = p[["trials_a", "trials_b"]].min(axis=1)
    cols = POINT_COLS + ["kind", "comparison", "a_variant", "a_training", "b_variant", "b_training", "seed", "trials",
                         "accuracy_a",
                         "accuracy_b", "clean_a", "clean_b", "diff", "lost_diff"]
    return p[cols].sort_values(POINT_COLS + ["comparison", "seed"], kind="stable", ignore_index=True)


def paired_ci(by_seed: pd.DataFrame, level: float, chance: float) -> pd.DataFrame:
    """Seed-level CIs of each paired difference at each point (the same estimator as the claims)."""
    rows = []
    for key, g in by_seed.groupby(POINT_COLS + ["comparison"], sort=True):
        d, lost = seed_level_ci(g["diff"], level), seed_level_ci(g["lost_diff"], level)
        rows.append({**dict(zip(POINT_COLS + ["comparison"], key)), "n_seeds": d["n"],
                     "trials_per_seed": int(g["trials"].min()), "mean_a": g["accuracy_a"].mean(),
                     "mean_b": g["accuracy_b"].mean(), "mean_diff": d["mean"], "ci_low": d["ci_low"],
                     "ci_high": d["ci_high"], "half_width": d["half_width"], "mde": d["mde"],
                     "lost_diff": lost["mean"], "lost_ci_low": lost["ci_low"], "lost_ci_high": lost["ci_high"],
                     "above_chance_10": bool(min(g["accuracy_a"].mean(), g["accuracy_b"].mean()) > chance + 0.10)})
    return pd.DataFrame(rows)


def variance_table(trials: pd.DataFrame, comps: pd.DataFrame, eval_size: int) -> pd.DataFrame:
    """Variance components of each paired difference at each faulty point (accuracy^2 units):
    between seeds (networks and their image subsets), within a seed (fault maps), and a
    binomial upper bound of the image-sampling part (images nested in seeds)."""
    faulty = trials[trials.rate > 0]
    p = _pairs(faulty, comps, POINT_COLS + ["seed", "trial"], ["accuracy"])
    rows = []
    for key, g in p.groupby(POINT_COLS + ["comparison"], sort=True):
        d = (g["accuracy_a"] - g["accuracy_b"]).to_numpy()
        wide = g.assign(d=d).pivot(index="seed", columns="trial", values="d").dropna(axis=1)
        vc = variance_components(wide.to_numpy())
        pa, pb = g["accuracy_a"].mean(), g["accuracy_b"].mean()
        rows.append({**dict(zip(POINT_COLS + ["comparison"], key)), **vc,
                     "var_images_bound": (pa * (1 - pa) + pb * (1 - pb)) / eval_size})
    return pd.DataFrame(rows)


def fault_tables(trials: pd.DataFrame, variants, trainings, chance: float, level: float,
                 eval_size: int) -> dict[str, pd.DataFrame]:
    """Every table made from a run's campaign trials, by output name (the fault_tables job)."""
    means = seed_means(trials)
    comps = comparisons(variants, trainings)
    by_seed = paired_by_seed(means, comps)
    pci = paired_ci(by_seed, level, chance)
    return {"seed_means": means, "fault_accuracy": fault_accuracy(means, level), "paired_by_seed": by_seed,
            "paired_ci": pci, "variance": variance_table(trials, comps, eval_size),
            "saq_gain": comparison_summary(pci, by_seed, "saq_vs_conventional"),
            "as_saq_vs_standard": comparison_summary(pci, by_seed, "as_saq_vs_standard_conventional")}


def _cell(mean, lo, hi) -> str:
    return f"{100 * mean:.1f} ± {100 * (hi - lo) / 2:.1f}"


def fault_summary(fault_acc: pd.DataFrame, fault: str) -> pd.DataFrame:
    """The paper's table layout: rows arch x variant x training, columns rates, cells mean ± CI (points)."""
    d = fault_acc[fault_acc.fault == fault]
    d = d.assign(cell=[_cell(*r) for r in zip(d["mean"], d.ci_low, d.ci_high)])
    wide = d.pivot(index=["dataset", "arch", "variant", "training"], columns="rate", values="cell")
    wide.columns = [f"rate {r:g}" for r in wide.columns]
    return wide.reset_index()


def comparison_summary(pci: pd.DataFrame, by_seed: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Paired differences of one kind of comparison, wide over rates (points, seed-level CI)."""
    names = set(by_seed.loc[by_seed.kind == kind, "comparison"])
    d = pci[pci.comparison.isin(names)]
    d = d.assign(cell=[_cell(*r) for r in zip(d.mean_diff, d.ci_low, d.ci_high)])
    wide = d.pivot(index=["dataset", "arch", "fault", "comparison"], columns="rate", values="cell")
    wide.columns = [f"rate {r:g}" for r in wide.columns]
    return wide.reset_index()


# ---------------------------------------------------------------- sharpness and vulnerability

def paired_sharpness(sharp: pd.DataFrame, comps: pd.DataFrame) -> pd.DataFrame:
    """Per comparison, metric and seed: the relative difference (a - b) / |b| (the claims decide
    curvatures on log(a / b) from a and b: claims.per_seed_difference)."""
    metrics = metrics_of(sharp)
    p = _pairs(sharp, comps, ["dataset", "arch", "seed"], metrics)
    rows = []
    for m in metrics:
        rows.append(p[["dataset", "arch", "kind", "comparison", "a_variant", "a_training", "b_variant", "b_training",
                       "seed"]].assign(
            metric=m, a=p[f"{m}_a"], b=p[f"{m}_b"], rel_diff=(p[f"{m}_a"] - p[f"{m}_b"]) / p[f"{m}_b"].abs()))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def sharpness_correlation(sharp: pd.DataFrame, means: pd.DataFrame, fault: str, rate: float) -> pd.DataFrame:
    """Spearman correlation of each metric with accuracy under faults, per dataset and arch, with
    Bonferroni p over the metrics of one architecture (exploratory: networks pooled over seeds)."""
    from scipy.stats import spearmanr

    acc = means[(means.fault == fault) & (means.rate == rate)][MODEL_COLS + ["accuracy"]]
    merged = sharp.merge(acc, on=MODEL_COLS)
    rows = []
    for (ds, arch), _ in sharp.groupby(["dataset", "arch"], sort=True):  # an arch without that rate: no rho
        g = merged[(merged.dataset == ds) & (merged.arch == arch)]
        for m in metrics_of(sharp):
            rho, p = spearmanr(g[m], g["accuracy"]) if len(g) > 2 else (float("nan"),) * 2
            rows.append({"dataset": ds, "arch": arch, "metric": m, "fault": fault, "rate": rate,
                         "spearman_rho": rho, "p_value": p, "models": len(g)})
    out = pd.DataFrame(rows, columns=["dataset", "arch", "metric", "fault", "rate", "spearman_rho", "p_value", "models"])
    m = out.groupby(["dataset", "arch"])["p_value"].transform("count").clip(lower=1)
    return out.assign(p_adjusted=(out.p_value * m).clip(upper=1.0))


def vulnerability(trials: pd.DataFrame, level: float) -> pd.DataFrame:
    """Per model and sweep target: mean accuracy over its trials with a t CI over the maps
    (one network per configuration: these intervals describe that network)."""
    from flatenn.stats import mean_ci

    t = trials.copy()
    layer = t["layer"] if "layer" in t else pd.Series("", index=t.index)
    bit = t["bit"] if "bit" in t else pd.Series(0, index=t.index)
    t["target"] = [f"layer {name}" if s == "layer" else f"bit {int(b)}"
                   for s, name, b in zip(t.sweep, layer, bit.fillna(0))]
    rows = []
    keys = MODEL_COLS + ["sweep", "target", "fault", "rate"]
    for key, g in t.groupby(keys, sort=True):
        ci = mean_ci(g["accuracy"], level)
        rows.append({**dict(zip(keys, key)), "trials": ci["n"], "mean": ci["mean"], "std": ci["std"],
                     "ci_low": ci["ci_low"], "ci_high": ci["ci_high"]})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- dose-response

def dose_response(clean: pd.DataFrame, by_seed: pd.DataFrame, paired_sharp: pd.DataFrame,
                  level: float) -> pd.DataFrame:
    """Per AS level against standard (same arch, training and seed): the activation sparsity
    gained, the clean accuracy given up, the extra accuracy lost under each fault type (mean
    over the faulty rates) and the normalized sharpness; seed-level CIs (long form)."""
    rows = []

    def add(keys, quantity, fault, per_seed):
        ci = seed_level_ci(per_seed, level)
        rows.append({**keys, "quantity": quantity, "fault": fault, "mean": ci["mean"], "ci_low": ci["ci_low"],
                     "ci_high": ci["ci_high"], "n_seeds": ci["n"]})

    base = clean[clean.variant == "standard"].set_index(["dataset", "arch", "training", "seed"])
    for (ds, arch, t, v), g in clean[clean.variant != "standard"].groupby(["dataset", "arch", "training", "variant"]):
        keys = {"dataset": ds, "arch": arch, "training": t, "variant": v}
        b = base.loc[[(ds, arch, t, s) for s in g.seed]]
        add(keys, "sparsity_gained", "", g.activation_sparsity.to_numpy() - b.activation_sparsity.to_numpy())
        add(keys, "clean_accuracy_given_up", "", b.accuracy.to_numpy() - g.accuracy.to_numpy())

        def vs_standard(df):  # this AS level against the standard network, both trained with t
            return ((df.kind == "as_vs_standard") & (df.a_variant == v) & (df.a_training == t) & (df.dataset == ds)
                    & (df.arch == arch))
        faulty = by_seed[vs_standard(by_seed) & (by_seed.rate > 0)]
        for fault, f in faulty.groupby("fault"):
            add(keys, "extra_accuracy_lost", fault, f.groupby("seed")["lost_diff"].mean())
        sh = paired_sharp[vs_standard(paired_sharp)]
        for metric, m in sh.groupby("metric"):
            if metric.endswith("_normalized") or metric.startswith("fault_curvature"):
                add(keys, f"{metric}_rel_diff", "", m["rel_diff"])
    return pd.DataFrame(rows)

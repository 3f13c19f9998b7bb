"""The paper's tables, figures and claims check, from result files only."""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from flatenn import io
from flatenn.stats import mean_ci

MODEL_COLS = ["dataset", "arch", "variant", "training", "seed"]


def model_id(path) -> dict:
    """Identity of a per-model result file: results/<kind>/<dataset>/<arch>/<variant>/<training>/s<seed>.*"""
    p = Path(path)
    parts = p.with_suffix("").parts[-5:]
    return dict(zip(MODEL_COLS, [*parts[:4], int(parts[4][1:])]))


def write_table(df: pd.DataFrame, outputs, floatfmt: str = ".4f") -> None:
    """One table as CSV (full precision), Markdown and LaTeX, by the outputs' suffixes."""
    for out in outputs:
        suffix = Path(out).suffix
        if suffix == ".csv":
            io.write_csv(out, df)
        elif suffix == ".md":
            io.atomic_write_text(out, df.to_markdown(index=False, floatfmt=floatfmt) + "\n")
        elif suffix == ".tex":
            io.atomic_write_text(out, df.to_latex(index=False, float_format=lambda v: format(v, floatfmt)))
        else:
            raise ValueError(f"outputs: no table format for {out}")


def clean_table(cfg, args) -> None:
    rows = [{**model_id(f), **{k: v for k, v in io.read_json(f).items() if k in ("accuracy", "activation_sparsity")}}
            for f in args.inputs]
    df = pd.DataFrame(rows, columns=MODEL_COLS + ["accuracy", "activation_sparsity"])
    write_table(df.sort_values(MODEL_COLS, kind="stable"), args.outputs)


# ---------------------------------------------------------------- figures

def _style():
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.1)
    return sns


def save_figure(fig, outputs) -> None:
    """Write one figure to every .pdf/.png output (atomically)."""
    import os

    for out in outputs:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.tmp{os.getpid()}{out.suffix}")
        fig.savefig(tmp, dpi=200 if out.suffix == ".png" else None, bbox_inches="tight")
        os.replace(tmp, out)


TABLE_SUFFIXES, FIGURE_SUFFIXES = (".csv", ".md", ".tex"), (".pdf", ".png")


def tables(outputs, stem) -> list[str]:
    return [o for o in outputs if Path(o).stem == stem and Path(o).suffix in TABLE_SUFFIXES]


def figures(outputs, stem) -> list[str]:
    return [o for o in outputs if Path(o).stem == stem and Path(o).suffix in FIGURE_SUFFIXES]


def _model_label(df: pd.DataFrame) -> pd.Series:
    return df["variant"] + " / " + df["training"]


# ---------------------------------------------------------------- fault campaigns

def read_trials(paths) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def aggregate_trials(trials: pd.DataFrame, keys, level: float) -> pd.DataFrame:
    rows = []
    for key, g in trials.groupby(keys, sort=True):
        ci = mean_ci(g["accuracy"], level)
        if ci["std"] == 0:  # rate 0 (or faults that change nothing): the value is exact
            ci.update(ci_low=ci["mean"], ci_high=ci["mean"])
        rows.append({**dict(zip(keys, key)), "trials": ci["n"], "mean": ci["mean"], "std": ci["std"],
                     "ci_low": ci["ci_low"], "ci_high": ci["ci_high"]})
    return pd.DataFrame(rows)


def paired(trials: pd.DataFrame, a: tuple[str, str], b: tuple[str, str]) -> pd.DataFrame:
    """Accuracy of model a and model b (variant, training) on common faults, one row per
    (dataset, arch, fault, rate, seed, trial)."""
    keys = ["dataset", "arch", "fault", "rate", "seed", "trial"]
    pick = lambda vt: trials[(trials.variant == vt[0]) & (trials.training == vt[1])].set_index(keys)["accuracy"]  # noqa: E731
    return pd.concat({"a": pick(a), "b": pick(b)}, axis=1, join="inner").reset_index()


def comparisons(variants, trainings) -> list[tuple[str, tuple, tuple]]:
    """The paired comparisons the paper makes: (name, a, b), read as a - b."""
    out = []
    as_levels = [v for v in variants if v != "standard"]
    for t in trainings:
        out += [(f"{v}-standard ({t})", (v, t), ("standard", t)) for v in as_levels]
    if {"saq", "conventional"} <= set(trainings):
        out += [(f"saq-conventional ({v})", (v, "saq"), (v, "conventional")) for v in variants]
        out += [(f"{v} saq-standard conventional", (v, "saq"), ("standard", "conventional")) for v in as_levels]
    return out


def paired_table(trials: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    from flatenn.stats import paired_diff_ci

    from flatenn.data import NUM_CLASSES

    level, chance = cfg["claims"]["level"], 1 / NUM_CLASSES[cfg["dataset"]["name"]]
    rows = []
    for name, a, b in comparisons(list(cfg["variants"]), cfg["trainings"]):
        p = paired(trials, a, b)
        for (ds, arch, fault, rate), g in p.groupby(["dataset", "arch", "fault", "rate"]):
            ci = paired_diff_ci(g["a"], g["b"], level)
            rows.append({"dataset": ds, "arch": arch, "fault": fault, "rate": rate, "comparison": name,
                         "pairs": ci["n"], "mean_a": g["a"].mean(), "mean_b": g["b"].mean(),
                         "mean_diff": ci["mean"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
                         "half_width": ci["half_width"],
                         "above_chance_10": bool(min(g["a"].mean(), g["b"].mean()) > chance + 0.10)})
    return pd.DataFrame(rows)


def fault_accuracy(cfg, args) -> None:
    sns = _style()
    import matplotlib.pyplot as plt

    trials = read_trials(args.inputs)
    level = cfg["claims"]["level"]
    keys = ["dataset", "arch", "variant", "training", "fault", "rate"]
    agg = aggregate_trials(trials, keys, level)
    write_table(agg, tables(args.outputs, "fault_accuracy"))
    pt = paired_table(trials, cfg)
    write_table(pt, tables(args.outputs, "fault_paired_ci"))
    hw = pt[pt.above_chance_10 & (pt.rate > 0)]["half_width"]
    logging.getLogger("flatenn.paper").info(
        "largest %.0f%% CI half-width of paired differences above chance + 10 points: %.4f",
        100 * level, hw.max() if len(hw) else 0)

    faults = list(dict.fromkeys(agg["fault"]))
    fig, axes = plt.subplots(1, len(faults), figsize=(4.2 * len(faults), 3.6), squeeze=False, sharey=True)
    palette = dict(zip(cfg["variants"], sns.color_palette("colorblind", len(cfg["variants"]))))
    dashes = {"conventional": "-", "saq": "--"}
    for ax, fault in zip(axes[0], faults):
        d = agg[agg.fault == fault]
        positive = d.rate[d.rate > 0]
        for (v, t), g in d.groupby(["variant", "training"], sort=False):
            g = g.sort_values("rate")
            ax.plot(g.rate, g["mean"], dashes[t], color=palette[v], marker="o", ms=3, label=f"{v} / {t}")
            ax.fill_between(g.rate, g.ci_low, g.ci_high, color=palette[v], alpha=0.2, lw=0)
        ax.set_xscale("symlog", linthresh=positive.min() if len(positive) else 1e-4)
        ax.set_title({"bitflip": "bit-flip", "sa0": "stuck-at-0", "sa1": "stuck-at-1"}[fault])
        ax.set_xlabel("fault rate (fraction of weight bits)")
        ax.set_ylabel("accuracy under faults")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"Accuracy under weight-memory faults (mean and {level:.0%} CI over trials)")
    save_figure(fig, figures(args.outputs, "fault_accuracy"))
    plt.close(fig)


def vulnerability(cfg, args) -> None:
    _style()
    import matplotlib.pyplot as plt
    import seaborn as sns

    trials = read_trials(args.inputs)
    level = cfg["claims"]["level"]
    trials["target"] = [f"layer {l}" if s == "layer" else f"bit {int(b)}"
                        for s, l, b in zip(trials.sweep, trials.get("layer", ""), trials.get("bit", 0).fillna(0))]
    agg = aggregate_trials(trials, ["dataset", "arch", "variant", "training", "seed", "sweep", "target", "fault", "rate"], level)
    write_table(agg, tables(args.outputs, "vulnerability"))
    trials["model"] = _model_label(trials)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1, 1.3]})
    for ax, sweep in zip(axes, ("layer", "bit")):
        d = trials[trials.sweep == sweep]
        sns.pointplot(d, x="target", y="accuracy", hue="model", ax=ax, errorbar=("ci", 95), n_boot=200, seed=0,
                      dodge=0.6, linestyle="none", markersize=4)
        ax.set_xlabel("faulty layer (only)" if sweep == "layer" else "faulty bit position (7 = sign bit for 8 bits)")
        ax.set_ylabel("accuracy under faults")
        ax.tick_params(axis="x", rotation=45 if sweep == "layer" else 0)
        rate = d.rate.iloc[0] if len(d) else 0
        ax.set_title(f"{d.fault.iloc[0] if len(d) else ''} at rate {rate:g}, one {sweep} at a time")
        ax.legend(fontsize=6)
    save_figure(fig, figures(args.outputs, "vulnerability"))
    plt.close(fig)


# ---------------------------------------------------------------- sharpness

METRICS = ["hessian_top_eig", "hessian_trace", "eps_sharpness", "fault_sharpness"]


def read_sharpness(paths) -> tuple[pd.DataFrame, dict]:
    rows, curves = [], {}
    for p in paths:
        mid, res = model_id(p), io.read_json(p)
        rows.append({**mid, **{k: res[k] for k in METRICS + ["loss"]}})
        curves[tuple(mid.values())] = res
    return pd.DataFrame(rows).sort_values(MODEL_COLS, kind="stable"), curves


def per_model_fault_accuracy(trials: pd.DataFrame, fault: str, rate: float) -> pd.DataFrame:
    d = trials[(trials.fault == fault) & (trials.rate == rate)]
    return d.groupby(MODEL_COLS, as_index=False)["accuracy"].mean().rename(columns={"accuracy": "fault_accuracy"})


def sharpness(cfg, args) -> None:
    _style()
    import matplotlib.pyplot as plt
    import numpy as np
    import seaborn as sns
    from scipy.stats import spearmanr

    sc = cfg["sharpness"]
    sharp, curves = read_sharpness([p for p in args.inputs if p.endswith(".json")])
    trials = read_trials([p for p in args.inputs if p.endswith(".csv")])
    acc = per_model_fault_accuracy(trials, sc["correlation_fault"], sc["correlation_rate"])
    merged = sharp.merge(acc, on=MODEL_COLS)
    corr = []
    for m in METRICS:
        rho, p = spearmanr(merged[m], merged["fault_accuracy"]) if len(merged) > 2 else (float("nan"),) * 2
        corr.append({"metric": m, "fault": sc["correlation_fault"], "rate": sc["correlation_rate"],
                     "spearman_rho": rho, "p_value": p, "models": len(merged)})
    corr = pd.DataFrame(corr)
    outs = args.outputs
    write_table(sharp, tables(outs, "sharpness"))
    write_table(corr, tables(outs, "sharpness_correlation"))

    variants, trainings = list(cfg["variants"]), cfg["trainings"]
    palette = dict(zip(variants, sns.color_palette("colorblind", len(variants))))
    # 1D landscapes: a panel per training, the variants overlaid (every seed drawn).
    fig, axes = plt.subplots(1, len(trainings), figsize=(4.5 * len(trainings), 3.6), squeeze=False, sharey=True)
    for ax, t in zip(axes[0], trainings):
        for key, res in curves.items():
            mid = dict(zip(MODEL_COLS, key))
            if mid["training"] != t:
                continue
            first = mid["seed"] == min(cfg["seeds"])
            ax.plot(res["landscape_1d"]["alpha"], res["landscape_1d"]["loss"], color=palette[mid["variant"]],
                    label=mid["variant"] if first else None, alpha=0.9 if first else 0.5)
        ax.set_title(f"{t} training")
        ax.set_xlabel("step along a filter-normalized direction")
        ax.set_ylabel("training loss at Q(w) + step * d")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    save_figure(fig, figures(outs, "landscape_1d"))
    plt.close(fig)
    # 2D contours of the first seed.
    for v in variants:
        for t in trainings:
            key = next(k for k in curves if k[2] == v and k[3] == t and k[4] == min(cfg["seeds"]))
            res = curves[key]["landscape_2d"]
            a, z = np.array(res["alpha"]), np.array(res["loss"])
            fig, ax = plt.subplots(figsize=(4, 3.6))
            cs = ax.contour(a, a, z.T, levels=np.geomspace(max(z.min(), 1e-3), z.max(), 12), cmap="viridis")
            ax.clabel(cs, fontsize=6, fmt="%.2g")
            ax.plot(0, 0, "k+")
            ax.set_xlabel("direction 1")
            ax.set_ylabel("direction 2")
            ax.set_title(f"loss landscape: {v} / {t}")
            save_figure(fig, figures(outs, f"landscape_2d_{v}_{t}"))
            plt.close(fig)
    # Sharpness against accuracy under faults, a panel per metric.
    fig, axes = plt.subplots(1, len(METRICS), figsize=(3.6 * len(METRICS), 3.4), sharey=True)
    for ax, m, row in zip(axes, METRICS, corr.itertuples()):
        sns.scatterplot(merged, x=m, y="fault_accuracy", hue="variant", style="training", ax=ax,
                        palette=palette, legend=ax is axes[-1])
        ax.set_title(f"Spearman rho = {row.spearman_rho:.2f}")
        if (merged[m] > 0).all():
            ax.set_xscale("log")
        ax.set_ylabel(f"accuracy, {sc['correlation_fault']} at {sc['correlation_rate']:g}")
    axes[-1].legend(fontsize=6)
    save_figure(fig, figures(outs, "sharpness_vs_fault_accuracy"))
    plt.close(fig)


# ---------------------------------------------------------------- claims

STATEMENTS = {
    "C1": "AS QDNNs lose more accuracy under {fault} faults than standard QDNNs (conventional training); "
          "value: largest drop, standard - AS, in accuracy points",
    "C2": "AS QDNNs sit in sharper minima than standard QDNNs (conventional training); "
          "value: mean relative difference of {metric}, AS vs standard, in %",
    "C3": "SAQ raises the accuracy of {group} QDNNs under {fault} faults over conventional training; "
          "value: largest gain, in accuracy points",
    "C4": "SAQ-trained {variant} QDNNs beat conventionally trained standard QDNNs under {fault} faults; "
          "value: mean difference over the faulty rates, in accuracy points",
    "C5": "SAQ reaches flatter minima than conventional training; value: mean relative difference of "
          "{metric}, SAQ vs conventional, in %",
    "C5-clean": "SAQ keeps about the same clean accuracy (within {margin} points); "
                "value: SAQ - conventional test accuracy, in points",
}
PAPER_VALUES = {"C1": "17.32", "C3-AS": "36.71", "C3-standard": "24.76"}


def _with_clean(p: pd.DataFrame, clean: pd.DataFrame, a, b) -> pd.DataFrame:
    """Add each model's own clean accuracy on the campaign set (rate-0 trials) per seed."""
    c = clean.set_index(["variant", "training", "seed"])["clean"]
    p = p.copy()
    p["clean_a"] = [c[(a[0], a[1], s)] for s in p.seed]
    p["clean_b"] = [c[(b[0], b[1], s)] for s in p.seed]
    return p


def up_to_claim(trials, clean, pairs, fault, level) -> dict:
    """'Up to X': the largest mean paired difference a - b over the pairs and faulty rates,
    with a Bonferroni-corrected CI so that choosing the largest point does not overstate it."""
    candidates = []
    for a, b in pairs:
        p = paired(trials[trials.fault == fault], a, b)
        p = _with_clean(p[p.rate > 0], clean, a, b)
        for rate, g in p.groupby("rate"):
            candidates.append((g["a"].mean() - g["b"].mean(), a, b, rate, g))
    diff, a, b, rate, g = max(candidates, key=lambda c: c[0])
    corrected = 1 - (1 - level) / len(candidates)
    ci = mean_ci(g["a"] - g["b"], corrected)
    deg = mean_ci((g["a"] - g["clean_a"]) - (g["b"] - g["clean_b"]), corrected)
    return {"detail": f"{a[0]}/{a[1]} vs {b[0]}/{b[1]} at rate {rate:g} (max of {len(candidates)}, "
                      f"Bonferroni {corrected:.4f} CI)", "n": ci["n"], **_points(ci), **_points(deg, "retained_")}


def mean_over_rates_claim(trials, clean, a, b, fault, level) -> dict:
    p = paired(trials[trials.fault == fault], a, b)
    p = _with_clean(p[p.rate > 0], clean, a, b)
    per_trial = p.groupby(["seed", "trial"])
    d = per_trial.apply(lambda g: (g["a"] - g["b"]).mean())
    r = per_trial.apply(lambda g: ((g["a"] - g["clean_a"]) - (g["b"] - g["clean_b"])).mean())
    ci = mean_ci(d, level)
    return {"detail": f"{a[0]}/{a[1]} vs {b[0]}/{b[1]}, mean over rates {', '.join(f'{r:g}' for r in sorted(p.rate.unique()))}",
            "n": ci["n"], **_points(ci), **_points(mean_ci(r, level), "retained_")}


def _points(ci: dict, prefix: str = "") -> dict:
    key = "measured_value" if not prefix else prefix + "value"
    return {key: 100 * ci["mean"], f"{prefix}ci_low": 100 * ci["ci_low"], f"{prefix}ci_high": 100 * ci["ci_high"]}


def relative_claim(sharp: pd.DataFrame, metric: str, a_sel, b_sel, pair_on, level) -> dict:
    """Mean relative difference (a - b) / |b| of a sharpness metric; each a row is paired with
    the b row that shares ``pair_on`` (several a rows may share one b row)."""
    joined = sharp[a_sel(sharp)].merge(sharp[b_sel(sharp)], on=pair_on, suffixes=("_a", "_b"))
    a, b = joined[f"{metric}_a"], joined[f"{metric}_b"]
    ci = mean_ci((a - b) / b.abs(), level)
    return {"detail": f"{len(joined)} pairs on {', '.join(pair_on)}", "n": ci["n"], **_points(ci)}


def claims(cfg, args) -> None:
    from flatenn.stats import verdict

    level = cfg["claims"]["level"]
    inputs = args.inputs
    evals = pd.DataFrame([{**model_id(f), **io.read_json(f)} for f in inputs if "/eval/" in f])
    trials = read_trials([f for f in inputs if f.endswith(".csv")])
    sharp, _ = read_sharpness([f for f in inputs if "/sharpness/" in f])
    variants, as_levels = list(cfg["variants"]), [v for v in cfg["variants"] if v != "standard"]
    highest = as_levels[-1] if as_levels else None
    rows = []

    def add(claim, statement, res, expect="positive", paper="-", fault="", interval=None):
        lo, hi = res["ci_low"], res["ci_high"]
        if interval is not None:  # an equivalence claim: the CI must lie inside the interval
            v = "PASS" if interval[0] < lo and hi < interval[1] else (
                "FAIL" if hi < interval[0] or lo > interval[1] else "INCONCLUSIVE")
        else:
            v = verdict(lo, hi, expect_positive=expect == "positive")
        rows.append({"claim": claim, "statement": statement, "paper_value": paper, **res,
                     "verdict": v, "fault": fault})

    for fault in cfg["faults"]["types"]:
        ft = trials[trials.fault == fault]
        clean = ft[ft.rate == 0].groupby(["variant", "training", "seed"], as_index=False)["accuracy"].mean()
        clean = clean.rename(columns={"accuracy": "clean"})
        if as_levels and "conventional" in cfg["trainings"]:
            res = up_to_claim(ft, clean, [(("standard", "conventional"), (v, "conventional")) for v in as_levels],
                              fault, level)
            add("C1", STATEMENTS["C1"].format(fault=fault), res, paper=PAPER_VALUES["C1"], fault=fault)
        if {"saq", "conventional"} <= set(cfg["trainings"]):
            for group, vs in (("AS", as_levels), ("standard", ["standard"])):
                if vs:
                    res = up_to_claim(ft, clean, [((v, "saq"), (v, "conventional")) for v in vs], fault, level)
                    add("C3", STATEMENTS["C3"].format(group=group, fault=fault), res,
                        paper=PAPER_VALUES[f"C3-{group}"], fault=fault)
            if highest:
                res = mean_over_rates_claim(ft, clean, (highest, "saq"), ("standard", "conventional"), fault, level)
                add("C4", STATEMENTS["C4"].format(variant=highest, fault=fault), res, fault=fault)
    for metric in METRICS:
        if as_levels and "conventional" in cfg["trainings"]:
            res = relative_claim(sharp, metric, lambda d: (d.variant != "standard") & (d.training == "conventional"),
                                 lambda d: (d.variant == "standard") & (d.training == "conventional"),
                                 ["dataset", "arch", "seed"], level)
            add("C2", STATEMENTS["C2"].format(metric=metric), res)
        if {"saq", "conventional"} <= set(cfg["trainings"]):
            res = relative_claim(sharp, metric, lambda d: d.training == "saq", lambda d: d.training == "conventional",
                                 ["dataset", "arch", "variant", "seed"], level)
            add("C5", STATEMENTS["C5"].format(metric=metric), res, expect="negative")
    if {"saq", "conventional"} <= set(cfg["trainings"]):
        margin = 1.5
        e = evals.set_index(["variant", "seed", "training"])["accuracy"].unstack("training")
        ci = mean_ci(e["saq"] - e["conventional"], level)
        add("C5-clean", STATEMENTS["C5-clean"].format(margin=margin), {"detail": f"{ci['n']} pairs", "n": ci["n"],
            **_points(ci)}, interval=(-margin, margin))
    cols = ["claim", "statement", "paper_value", "measured_value", "ci_low", "ci_high", "verdict", "fault",
            "retained_value", "retained_ci_low", "retained_ci_high", "n", "detail"]
    write_table(pd.DataFrame(rows).reindex(columns=cols), tables(args.outputs, "claims"), floatfmt=".2f")
    summary_tables(cfg, trials, args.outputs, level)


def _cell(mean, lo, hi) -> str:
    return f"{100 * mean:.1f} ± {100 * (hi - lo) / 2:.1f}"


def summary_tables(cfg, trials, outputs, level) -> None:
    """The paper's tables: rows variant x training, columns rates, cells mean ± CI (points)."""
    agg = aggregate_trials(trials, ["variant", "training", "fault", "rate"], level)
    for fault in cfg["faults"]["types"]:
        d = agg[agg.fault == fault]
        d = d.assign(cell=[_cell(*r) for r in zip(d["mean"], d.ci_low, d.ci_high)])
        wide = d.pivot(index=["variant", "training"], columns="rate", values="cell")
        wide.columns = [f"rate {r:g}" for r in wide.columns]
        write_table(wide.reset_index(), tables(outputs, f"summary_{fault}"))
    pt = paired_table(trials, cfg)
    for stem, pick in (("saq_gain", lambda c: c.startswith("saq-conventional")),
                       ("as_saq_vs_standard", lambda c: c.endswith("saq-standard conventional"))):
        d = pt[[pick(c) for c in pt.comparison]]
        d = d.assign(cell=[_cell(*r) for r in zip(d.mean_diff, d.ci_low, d.ci_high)])
        wide = d.pivot(index=["fault", "comparison"], columns="rate", values="cell")
        wide.columns = [f"rate {r:g}" for r in wide.columns]
        write_table(wide.reset_index(), tables(outputs, stem))


# ---------------------------------------------------------------- runtime and notebooks

def runtime(cfg, args) -> None:
    """Wall time per rule from Snakemake's benchmark files (each job's s column)."""
    rows = []
    for root in args.inputs:
        for f in sorted(Path(root).rglob("*.tsv")):
            rule = f.relative_to(root).parts[0].removesuffix(".tsv")  # per-model rules keep a folder
            b = pd.read_csv(f, sep="\t")
            rows.append({"rule": rule, "seconds": float(b["s"].iloc[-1]), "max_rss_mb": b["max_rss"].iloc[-1]})
    df = pd.DataFrame(rows, columns=["rule", "seconds", "max_rss_mb"])
    df["max_rss_mb"] = pd.to_numeric(df["max_rss_mb"], errors="coerce")
    out = df.groupby("rule", as_index=False).agg(jobs=("seconds", "size"), total_s=("seconds", "sum"),
                                                 max_job_s=("seconds", "max"), max_rss_mb=("max_rss_mb", "max"))
    io.write_csv(args.outputs[0], out.round(2))


def notebook(cfg, args) -> None:
    """Execute a jupytext percent-format notebook into an .ipynb (cwd = the workflow's workdir)."""
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(args.inputs[0])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(Path.cwd())}}).execute()
    out = Path(args.outputs[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    io.atomic_write_text(out, jupytext.writes(nb, fmt="ipynb"))

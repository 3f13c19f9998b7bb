"""The paper's figures, drawn from tables only (no statistics are computed here)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from flatenn.aggregate import MODEL_COLS


def fault_label(name: str) -> str:
    """A fault type's label in figures (its record's, flatenn.registry)."""
    from flatenn.registry import fault

    return fault(name).label


def fault_rate_unit(name: str) -> str:
    """What a fault type's rate counts (its record's)."""
    from flatenn.registry import fault

    return fault(name).rate_unit


def style():
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.1)
    return sns


def save(fig, outputs) -> None:
    """Write one figure to every .pdf/.png output (atomically), then close it."""
    import matplotlib.pyplot as plt

    for out in outputs:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.tmp{os.getpid()}{out.suffix}")
        fig.savefig(tmp, dpi=200 if out.suffix == ".png" else None, bbox_inches="tight",
                    metadata={"CreationDate": None} if out.suffix == ".pdf" else None)
        os.replace(tmp, out)
    plt.close(fig)


def colours_of(variants):
    import seaborn as sns

    return dict(zip(variants, sns.color_palette("colorblind", len(variants))))


def _models(df: pd.DataFrame) -> list[tuple[str, str]]:
    return list(dict.fromkeys(zip(df["dataset"], df["arch"])))


def fault_accuracy(fa: pd.DataFrame, level: float, outputs) -> None:
    """Accuracy against fault rate: a row per (dataset, arch), a panel per fault type."""
    style()
    import matplotlib.pyplot as plt

    faults, models = list(dict.fromkeys(fa["fault"])), _models(fa)
    palette = colours_of(list(dict.fromkeys(fa["variant"])))
    dashes = {"conventional": "-", "saq": "--"}
    # constrained layout: each row's x labels clear the titles of the row below
    fig, axes = plt.subplots(len(models), len(faults), figsize=(4.2 * len(faults), 3.6 * len(models)),
                             squeeze=False, sharey=True, layout="constrained")
    for row, (ds, arch) in zip(axes, models):
        for ax, fault in zip(row, faults):
            d = fa[(fa.dataset == ds) & (fa.arch == arch) & (fa.fault == fault)]
            positive = d.rate[d.rate > 0]
            for (v, t), g in d.groupby(["variant", "training"], sort=False):
                g = g.sort_values("rate")
                ax.plot(g.rate, g["mean"], dashes[t], color=palette[v], marker="o", ms=3, label=f"{v} / {t}")
                ax.fill_between(g.rate, g.ci_low, g.ci_high, color=palette[v], alpha=0.2, lw=0)
            ax.set_xscale("symlog", linthresh=positive.min() if len(positive) else 1e-4)
            ax.set_title(f"{arch}, {fault_label(fault)}")
            ax.set_xlabel(f"fault rate ({fault_rate_unit(fault)})")
            ax.set_ylabel("accuracy under faults")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    n = int(fa["n_seeds"].min()) if len(fa) else 0
    fig.suptitle(f"Accuracy under weight-memory faults (mean and {level:.0%} CI over {n} trained networks)")
    save(fig, outputs)


def vulnerability(vt: pd.DataFrame, outputs) -> None:
    """Accuracy when only one layer or one bit position is faulty, per model."""
    style()
    import matplotlib.pyplot as plt

    vt = vt.assign(model=vt["arch"] + " " + vt["variant"] + " / " + vt["training"])
    models = list(dict.fromkeys(vt["model"]))
    colours = colours_of(models)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1, 1.3]})
    for ax, sweep in zip(axes, ("layer", "bit")):
        d = vt[vt.sweep == sweep]
        targets = list(dict.fromkeys(d["target"]))
        width = 0.8 / max(1, len(models))
        for i, m in enumerate(models):
            g = d[d.model == m].set_index("target").reindex(targets)
            x = np.arange(len(targets)) - 0.4 + width * (i + 0.5)
            ax.errorbar(x, g["mean"], yerr=[g["mean"] - g.ci_low, g.ci_high - g["mean"]], fmt="o", ms=3,
                        color=colours[m], label=m, lw=1)
        ax.set_xticks(range(len(targets)), targets, rotation=45 if sweep == "layer" else 0)
        ax.set_xlabel("faulty layer (only)" if sweep == "layer" else "faulty bit position (highest = sign bit)")
        ax.set_ylabel("accuracy under faults")
        if len(d):
            ax.set_title(f"{d.fault.iloc[0]} at rate {d.rate.iloc[0]:g}, one {sweep} at a time")
        ax.legend(fontsize=6)
    save(fig, outputs)


def landscape_1d(curves: pd.DataFrame, outputs) -> None:
    """1D loss landscapes: a row per (dataset, arch), a panel per training, every seed drawn."""
    style()
    import matplotlib.pyplot as plt

    c = curves[curves.dim == 1]
    models, trainings = _models(c), list(dict.fromkeys(c["training"]))
    palette = colours_of(list(dict.fromkeys(c["variant"])))
    fig, axes = plt.subplots(len(models), len(trainings), figsize=(4.5 * len(trainings), 3.6 * len(models)),
                             squeeze=False, sharey=True)
    for row, (ds, arch) in zip(axes, models):
        first = c[(c.dataset == ds) & (c.arch == arch)].seed.min()
        for ax, t in zip(row, trainings):
            d = c[(c.dataset == ds) & (c.arch == arch) & (c.training == t)]
            for (v, s), g in d.groupby(["variant", "seed"], sort=False):
                ax.plot(g.a1, g.loss, color=palette[v], label=v if s == first else None,
                        alpha=0.9 if s == first else 0.5)
            ax.set_title(f"{arch}, {t} training")
            ax.set_xlabel("step along a filter-normalized direction")
            ax.set_ylabel("training loss at Q(w) + step * d")
            ax.set_yscale("log")
            ax.legend(fontsize=7)
    save(fig, outputs)


def landscape_2d(curves: pd.DataFrame, arch: str, variant: str, training: str, outputs) -> None:
    """2D contours of the first seed of one model configuration."""
    style()
    import matplotlib.pyplot as plt

    c = curves[(curves.dim == 2) & (curves.arch == arch) & (curves.variant == variant)
               & (curves.training == training)]
    c = c[c.seed == c.seed.min()]
    grid = c.pivot(index="a1", columns="a2", values="loss")
    a, z = grid.index.to_numpy(), grid.to_numpy()
    fig, ax = plt.subplots(figsize=(4, 3.6))
    cs = ax.contour(a, a, z.T, levels=np.geomspace(max(z.min(), 1e-3), max(z.max(), 2e-3), 12), cmap="viridis")
    ax.clabel(cs, fontsize=6, fmt="%.2g")
    ax.plot(0, 0, "k+")
    ax.set_xlabel("direction 1")
    ax.set_ylabel("direction 2")
    ax.set_title(f"loss landscape: {arch} {variant} / {training}")
    save(fig, outputs)


SHARPNESS_SHOWN = ["hessian_top_eig", "hessian_top_eig_normalized", "hessian_trace_normalized", "eps_sharpness",
                   "fault_sharpness", "fault_curvature_bitflip"]


def sharpness_vs_fault_accuracy(sharp: pd.DataFrame, seed_means: pd.DataFrame, corr: pd.DataFrame, outputs,
                                metrics=SHARPNESS_SHOWN) -> None:
    """Each sharpness metric against accuracy under faults at the correlation table's point, one
    point per network."""
    keys = MODEL_COLS
    point = seed_means[(seed_means.fault == corr.fault.iloc[0]) & (seed_means.rate == corr.rate.iloc[0])]
    per_model = sharp.merge(point[keys + ["accuracy"]], on=keys)
    metrics = [m for m in metrics if m in per_model]
    sns = style()
    import matplotlib.pyplot as plt

    palette = colours_of(list(dict.fromkeys(per_model["variant"])))
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.4 * len(metrics), 3.4), sharey=True, squeeze=False)
    for ax, m in zip(axes[0], metrics):
        if per_model.empty:  # no network was faulted at the correlation's rate (per-architecture rates)
            ax.text(0.5, 0.5, "no network at this rate", ha="center", transform=ax.transAxes)
            continue
        sns.scatterplot(per_model, x=m, y="accuracy", hue="variant", style="training", ax=ax, palette=palette,
                        legend=ax is axes[0][-1])
        rho = ", ".join(f"{r.arch} {r.spearman_rho:.2f}" for r in corr[corr.metric == m].itertuples())
        ax.set_title(f"{m}\nSpearman rho: {rho}", fontsize=8)
        if len(per_model) and (per_model[m] > 0).all():
            ax.set_xscale("log")
        if len(corr):
            ax.set_ylabel(f"accuracy, {corr.fault.iloc[0]} at {corr.rate.iloc[0]:g}")
    if len(per_model):
        axes[0][-1].legend(fontsize=6)
    save(fig, outputs)


def dose_response(dr: pd.DataFrame, outputs) -> None:
    """Extra accuracy lost under faults (AS minus standard) and normalized sharpness against the
    sparsity gained (top row) and the clean accuracy given up (bottom row), one point per AS level."""
    style()
    import matplotlib.pyplot as plt

    wide = dr.assign(name=dr.quantity + dr.fault.fillna("").map(lambda f: f" {f}" if f else ""))
    ys = [q for q in dict.fromkeys(wide.name) if q.startswith("extra_accuracy_lost")] + [
        q for q in dict.fromkeys(wide.name) if q.endswith("_rel_diff")]
    xs = ["sparsity_gained", "clean_accuracy_given_up"]
    groups = list(dict.fromkeys(zip(wide.arch, wide.training)))
    colours = colours_of([f"{a} / {t}" for a, t in groups])
    fig, axes = plt.subplots(2, len(ys), figsize=(3.6 * len(ys), 6.6), squeeze=False, sharey="col")
    for row, x in zip(axes, xs):
        for ax, y in zip(row, ys):
            for a, t in groups:
                d = wide[(wide.arch == a) & (wide.training == t)]
                # joined in order of sparsity gained (the table's variant order is alphabetical)
                order = d[d.name == "sparsity_gained"].sort_values("mean").variant
                px, py = (d[d.name == q].set_index("variant").reindex(order) for q in (x, y))
                ax.errorbar(px["mean"], 100 * py["mean"], xerr=[px["mean"] - px.ci_low, px.ci_high - px["mean"]],
                            yerr=[100 * (py["mean"] - py.ci_low), 100 * (py.ci_high - py["mean"])], fmt="o-",
                            ms=3, lw=1, color=colours[f"{a} / {t}"], label=f"{a} / {t}")
            ax.axhline(0, color="grey", lw=0.8)
            ax.set_xlabel(x.replace("_", " ") + (" (fraction of activations)" if x.startswith("sparsity") else " (accuracy)"))
            ax.set_ylabel(f"extra accuracy lost, {y.split()[-1]} (points)" if y.startswith("extra")
                          else f"{y.removesuffix('_rel_diff')} (% vs standard)", fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Dose-response: where the paper's effect lives (mean and CI over trained networks)")
    save(fig, outputs)


def claims_by_depth(claims: pd.DataFrame, outputs) -> None:
    """Each claim's effect (seed-level mean and CI, as in claims.csv) per architecture, ordered by
    depth: one panel per claim, one line per comparison (and fault type or metric)."""
    style()
    import matplotlib.pyplot as plt

    from flatenn.catalog import depth

    if "role" in claims:
        claims = claims[claims.role == "primary"]
    archs = sorted(dict.fromkeys(claims.arch), key=lambda a: (depth(a), a))
    names = list(dict.fromkeys(claims.claim))
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names):
        d = claims[claims.claim == name]
        what = d.fault.fillna(d["aggregate"].str.split(",").str[0].str.replace("hessian_", ""))
        groups = list(d.assign(series=d.comparison + " " + what).groupby("series", sort=False))
        for i, (series, g) in enumerate(groups):
            g = g.set_index("arch").reindex(archs)
            x = np.arange(len(archs)) + 0.5 * (i - (len(groups) - 1) / 2) / max(1, len(groups))  # no overlap
            ax.errorbar(x, g.measured_value, yerr=[g.measured_value - g.ci_low, g.ci_high - g.measured_value],
                        fmt="o-", ms=3, lw=1, capsize=2, label=series)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(range(len(archs)), [f"{a}\n({depth(a)} layers)" for a in archs], fontsize=7)
        unit = "% vs reference" if name in ("C2", "C5") else "points"
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(f"effect ({unit})", fontsize=8)
        ax.legend(fontsize=5)
    fig.suptitle("Each claim's effect against depth (mean and CI over trained networks)")
    save(fig, outputs)


VERDICT_COLOURS = {"PASS": "#1b9e77", "FAIL": "#d95f02", "INCONCLUSIVE": "#7f7f7f"}


def verdicts(claims: pd.DataFrame, outputs) -> None:
    """Every primary endpoint as one row: its effect with the family-wise (Bonferroni) interval,
    a zero line, the verdict by colour. Accuracy claims (points) and curvature claims (% relative
    difference) in two panels; any number of architectures (one row each)."""
    style()
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    p = claims[claims.role == "primary"].copy()
    p["what"] = p.fault.where(p.fault.fillna("") != "", p.quantity.str.replace("fault_curvature_", "curvature "))
    p["label"] = p.claim + "  " + p.arch + "  " + p.a_variant + " (" + p.a_training + ")  " + p.what
    panels = [("points", p[~p.claim.isin(["C2", "C5"])]), ("% relative difference", p[p.claim.isin(["C2", "C5"])])]
    panels = [(u, d) for u, d in panels if len(d)]
    heights = [max(2, len(d)) for _, d in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.5, 0.9 + 0.24 * sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (unit, d) in zip(axes[:, 0], panels):
        y = np.arange(len(d))[::-1]
        for yi, r in zip(y, d.itertuples()):
            c = VERDICT_COLOURS.get(r.verdict, "k")
            ax.plot([r.adj_ci_low, r.adj_ci_high], [yi, yi], color=c, lw=1.6)
            ax.plot([r.measured_value], [yi], "o", color=c, ms=4)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, d.label, fontsize=6)
        ax.set_xlabel(f"effect ({unit}) with its family-wise interval; rows without one: no informative rate",
                      fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
    handles = [Line2D([], [], color=c, marker="o", lw=1.6, label=v) for v, c in VERDICT_COLOURS.items()]
    axes[0, 0].legend(handles=handles, fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.suptitle("Every primary endpoint: effect and its Bonferroni family-wise interval", fontsize=9)
    save(fig, outputs)


def c1_vs_sparsity(by_gain: pd.DataFrame, slope: pd.DataFrame, outputs) -> None:
    """C1's quantity (share kept, standard minus AS) against the activation sparsity gained, one
    panel per fault type, one line per architecture through the origin (the standard network),
    seed-level intervals on both axes; the legend gives each architecture's slope."""
    style()
    import matplotlib.pyplot as plt

    from flatenn.catalog import depth

    faults = list(dict.fromkeys(by_gain.fault))
    archs = sorted(set(by_gain.arch), key=lambda a: (depth(a), a))
    colours = colours_of(archs)
    fig, axes = plt.subplots(1, len(faults), figsize=(3.8 * len(faults), 3.6), squeeze=False, sharey=True)
    for ax, fault in zip(axes[0], faults):
        for a in archs:
            d = by_gain[(by_gain.fault == fault) & (by_gain.arch == a)].sort_values("gain")
            s = slope[(slope.row == "slope") & (slope.fault == fault) & (slope.arch == a) & slope.slope.notna()]
            label = a if s.empty else (f"{a}: {s.slope.iloc[0]:+.1f} [{s.ci_low.iloc[0]:+.1f}, "
                                       f"{s.ci_high.iloc[0]:+.1f}] per {s.per_gain.iloc[0]:g}")
            ax.errorbar(np.r_[0, d.gain], np.r_[0, d.effect], xerr=[np.r_[0, d.gain - d.gain_ci_low],
                                                                    np.r_[0, d.gain_ci_high - d.gain]],
                        yerr=[np.r_[0, d.effect - d.effect_ci_low], np.r_[0, d.effect_ci_high - d.effect]],
                        fmt="o-", ms=3, lw=1, capsize=2, color=colours[a], label=label)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(fault)
        ax.set_xlabel("activation sparsity gained over standard")
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("share kept, standard minus AS (points)\n> 0: the AS network keeps less (paper's C1)")
    fig.suptitle("C1 against sparsity gained, per architecture (mean and 95 % CI over trained networks)")
    save(fig, outputs)


def mechanism(explained: pd.DataFrame, intervention: pd.DataFrame, outputs) -> None:
    """Left: each candidate's correlation with C1's quantity within architectures (architecture
    fixed effects; hollow where not identifiable: one AS level), one marker per fault type. Right: C1's quantity at the
    intervention's rate as measured and under each intervention (faults on live weights, the sparsity switch)."""
    style()
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, max(4.2, 1.5 + 0.16 * len(intervention))),
                                      gridspec_kw={"wspace": 0.6})  # room for labels
    cands = list(dict.fromkeys(explained.candidate))
    faults = list(dict.fromkeys(explained.fault))
    colours = colours_of(faults)
    for i, f in enumerate(faults):
        d = explained[explained.fault == f].set_index("candidate").reindex(cands)
        y = np.arange(len(cands)) + (i - (len(faults) - 1) / 2) * 0.2
        ident = d.identifiable.fillna(False).astype(bool).to_numpy()
        left.scatter(d.r_within, y, s=12, label=f, edgecolors=colours[f],
                     facecolors=[colours[f] if i else "none" for i in ident])
    left.set_yticks(np.arange(len(cands)), [c.replace("_", " ") for c in cands], fontsize=7)
    left.axvline(0, color="grey", lw=0.8)
    left.set_xlim(-1.05, 1.05)
    left.set_xlabel("r with C1's quantity within architectures (hollow: not identifiable)")
    left.legend(fontsize=7)
    iv = intervention.assign(name=intervention.arch + " " + intervention.a_variant + " " + intervention.fault + " "
                             + intervention.condition.str.replace("_", " "))
    y = np.arange(len(iv))
    right.errorbar(iv.effect, y - 0.12, xerr=[iv.effect - iv.effect_ci_low, iv.effect_ci_high - iv.effect], fmt="o",
                   ms=3, capsize=2, color="tab:blue", label="as measured")
    right.errorbar(iv.effect_changed, y + 0.12, xerr=[iv.effect_changed - iv.changed_ci_low,
                                                      iv.changed_ci_high - iv.effect_changed],
                   fmt="s", ms=3, capsize=2, color="tab:red", label="with the intervention")
    right.set_yticks(y, iv.name, fontsize=6)
    right.axvline(0, color="grey", lw=0.8)
    right.set_xlabel("share kept, standard minus AS (points)")
    right.legend(fontsize=7)
    fig.suptitle("Mechanism: what explains C1's quantity, and the intervention")
    save(fig, outputs)


"""The study-design figures: the budget ladder, SAQ's radius ladder and the power curves, drawn
from their tables only."""
from __future__ import annotations

import pandas as pd

from flatenn.figures import colours_of, save, style


def budget_ladder(table: pd.DataFrame, outputs) -> None:
    """The budget ladder: per architecture, against the budget (multiples of the study's), clean
    accuracy of each network, the AS network's sparsity gained, and C1's quantity per fault type."""
    style()
    import matplotlib.pyplot as plt

    from flatenn.catalog import depth

    archs = sorted(set(table.arch), key=lambda a: (depth(a), a))
    colours = colours_of(archs)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    marks = dict(zip(sorted(set(table.fault) - {""}), "os^vD<>p"))
    for a in archs:
        t = table[table.arch == a]
        for v, g in t[t.quantity == "accuracy"].groupby("variant"):
            g = g.groupby("budget").value.mean()
            axes[0].plot(g.index, 100 * g.values, "o-" if v == "standard" else "o--", color=colours[a], ms=3,
                         label=f"{a} {v}")
        g = t[t.quantity == "sparsity_gained"].groupby("budget").value.mean()
        axes[1].plot(g.index, g.values, "o-", color=colours[a], ms=3, label=a)
        for f, h in t[t.quantity == "c1_retained_gap"].groupby("fault"):
            h = h.groupby("budget").value.mean()
            axes[2].plot(h.index, h.values, marker=marks.get(f, "o"), color=colours[a], ms=4, lw=1,
                         label=f"{a} {f}")
    titles = ("clean accuracy (%)", "activation sparsity gained by the AS network",
              "C1: share kept, standard minus AS (points)")
    budgets = sorted(set(table.budget))
    for ax, title in zip(axes, titles):
        ax.set_xscale("log", base=2)
        ax.set_xticks(budgets, [f"{b:g}B" for b in budgets])
        ax.set_xlabel("budget (B = 30,000 image passes)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=6)
    axes[2].axhline(0, color="grey", lw=0.8)
    fig.suptitle("Budget ladder (pilot seed): what moves with the training budget")
    save(fig, outputs)


def radius_ladder(table: pd.DataFrame, outputs) -> None:
    """SAQ's radius ladder: validation accuracy against the radius per architecture and variant,
    conventional training as a dotted line, the chosen radius circled."""
    style()
    import matplotlib.pyplot as plt

    archs = list(dict.fromkeys(table.arch))
    fig, axes = plt.subplots(1, len(archs), figsize=(4.2 * len(archs), 3.4), squeeze=False)
    for ax, a in zip(axes[0], archs):
        t = table[table.arch == a]
        for i, (v, g) in enumerate(t.groupby("variant")):
            g = g.sort_values("rho")
            line, = ax.plot(g.rho, 100 * g.val_accuracy, "o-", ms=3, label=f"{v} SAQ")
            ax.axhline(100 * g.conventional_val_accuracy.iloc[0], ls=":", color=line.get_color(), lw=1,
                       label=f"{v} conventional")
            pick = g[g.chosen.astype(bool)]
            ax.plot(pick.rho, 100 * pick.val_accuracy, "o", ms=9, mfc="none", color="black")
        ax.set_xscale("log")
        ax.set_xlabel("rho (normalized convention)")
        ax.set_ylabel("validation accuracy (%)")
        ax.set_title(a)
        ax.legend(fontsize=7)
    fig.tight_layout()
    for out in outputs:
        fig.savefig(out, dpi=150)
    plt.close(fig)


def power_curves(table: pd.DataFrame, target: float, outputs) -> None:
    """Power against seeds per architecture and claim: the weakest primary endpoint of each family
    (the smallest power at each n), t test solid, permutation test dashed, the target dotted."""
    style()
    import matplotlib.pyplot as plt

    claims = list(dict.fromkeys(table.claim))
    fig, axes = plt.subplots(1, len(claims), figsize=(3.6 * len(claims), 3.2), squeeze=False, sharey=True)
    for ax, c in zip(axes[0], claims):
        t = table[table.claim == c]
        for arch, g in t.groupby("arch", sort=False):
            w = g.groupby("n")[["power_t", "power_permutation"]].min()
            line, = ax.plot(w.index, w.power_t, "-", lw=1.2, label=arch)
            if w.power_permutation.notna().any():
                ax.plot(w.index, w.power_permutation, "--", lw=1, color=line.get_color())
        ax.axhline(target, ls=":", color="grey", lw=1)
        ax.set_title(c, fontsize=9)
        ax.set_xlabel("seeds (networks per arm)")
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("power at the smallest effect of interest\n(weakest endpoint; dashed: permutation)")
    fig.tight_layout()
    for out in outputs:
        fig.savefig(out, dpi=150)
    plt.close(fig)

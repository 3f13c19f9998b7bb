# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # FlatENN results: a walk through the tables and the claims
#
# This notebook reads the files the workflow wrote (`paper_tables/`, `figures/`); it
# recomputes nothing. Run it after `make reproduce`, or let the workflow execute it into
# `results/notebooks/walkthrough.ipynb`.

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Image, Markdown, display

tables = Path("paper_tables")
figures = Path("figures")

# %% [markdown]
# ## Clean accuracy and activation sparsity
# Activation-sparse (AS) variants should trade a little accuracy for many more zero activations.

# %%
clean = pd.read_csv(tables / "clean_accuracy.csv")
display(clean.groupby(["variant", "training"])[["accuracy", "activation_sparsity"]].mean().round(4))

# %% [markdown]
# ## Accuracy under weight-memory faults
# Mean and 95 % CI over trials; all models meet the same faulty cells (common random numbers).

# %%
faults = pd.read_csv(tables / "fault_accuracy.csv")
display(faults.pivot_table(index=["fault", "variant", "training"], columns="rate", values="mean").round(3))
display(Image(filename=str(figures / "fault_accuracy.png")))

# %% [markdown]
# Precision of the paired comparisons: the largest 95 % CI half-width of a paired difference,
# at the rates where both models stay above chance + 10 points.

# %%
paired = pd.read_csv(tables / "fault_paired_ci.csv")
resolved = paired[paired.above_chance_10 & (paired.rate > 0)]
print(f"largest half-width: {100 * resolved.half_width.max():.2f} accuracy points")

# %% [markdown]
# ## Which layers and bits matter

# %%
display(Image(filename=str(figures / "vulnerability.png")))

# %% [markdown]
# ## Sharpness

# %%
sharp = pd.read_csv(tables / "sharpness.csv")
display(sharp.groupby(["variant", "training"])[["hessian_top_eig", "hessian_trace", "eps_sharpness",
                                                "fault_sharpness"]].mean())
display(pd.read_csv(tables / "sharpness_correlation.csv"))
display(Image(filename=str(figures / "landscape_1d.png")))
display(Image(filename=str(figures / "sharpness_vs_fault_accuracy.png")))

# %% [markdown]
# ## The claims, one by one
# A verdict follows the confidence interval, never a point estimate: PASS when the CI lies on
# the claimed side, FAIL when it lies on the other, INCONCLUSIVE otherwise.

# %%
claims = pd.read_csv(tables / "claims.csv")
display(claims[["claim", "fault", "paper_value", "measured_value", "ci_low", "ci_high", "verdict"]])
display(Markdown("\n".join(f"- **{r.claim}** {r.fault}: {r.verdict}" for r in claims.itertuples())))

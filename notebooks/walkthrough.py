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
display(clean.groupby(["arch", "variant", "training"])[["accuracy", "activation_sparsity"]].mean().round(4))

# %% [markdown]
# ## Accuracy under weight-memory faults
# Mean and 95 % CI over trained networks (seeds); within a seed, all models meet the same
# faulty cells and the same images (common random numbers).

# %%
faults = pd.read_csv(tables / "fault_accuracy.csv")
display(faults.pivot_table(index=["arch", "fault", "variant", "training"], columns="rate", values="mean").round(3))
display(Image(filename=str(figures / "fault_accuracy.png")))

# %% [markdown]
# Precision of the paired comparisons: the largest 95 % CI half-width of a paired difference
# (seed-level), at the rates where both models stay above chance + 10 points, and the variance
# components that sized the design (between networks, between fault maps, images).

# %%
paired = pd.read_csv(tables / "fault_paired_ci.csv")
resolved = paired[paired.above_chance_10 & (paired.rate > 0)]
print(f"largest half-width: {100 * resolved.half_width.max():.2f} accuracy points")
vc = pd.read_csv(tables / "variance_components.csv")
display(vc.groupby(["arch", "fault"])[["var_between_seeds", "var_within_seed", "var_images_bound"]].median())

# %% [markdown]
# ## Which layers and bits matter

# %%
display(Image(filename=str(figures / "vulnerability.png")))

# %% [markdown]
# ## Sharpness

# %%
sharp = pd.read_csv(tables / "sharpness.csv")
display(sharp.groupby(["arch", "variant", "training"])[["hessian_top_eig_normalized", "hessian_trace_normalized",
                                                        "hessian_top_eig", "eps_sharpness", "fault_sharpness"]].mean())
display(pd.read_csv(tables / "sharpness_correlation.csv"))
display(Image(filename=str(figures / "landscape_1d.png")))
display(Image(filename=str(figures / "sharpness_vs_fault_accuracy.png")))

# %% [markdown]
# ## The claims, one by one
# Every verdict follows the analysis plan (config/analysis.yaml): a t test over trained networks
# of the plan's primary quantity, Bonferroni over each claim's primary rows for the verdict and its
# family-wise interval (adj_ci_*). PASS: the adjusted test rejects in the claim's direction; FAIL:
# in the other; INCONCLUSIVE otherwise. `robustness` says whether the plan's alternative windows,
# leaving one network out or a permutation test overturn it ("fragile").

# %%
display(Image(filename=str(figures / "verdicts.png")))
claims = pd.read_csv(tables / "claims.csv")
display(claims.loc[claims.role == "primary", ["claim", "arch", "comparison", "fault", "quantity", "measured_value",
                                              "adj_ci_low", "adj_ci_high", "p_adjusted", "verdict", "robustness",
                                              "fragile_by"]])
display(Markdown((tables / "findings.md").read_text()))

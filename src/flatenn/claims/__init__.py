"""The paper's claims under a declared analysis plan: per-seed tables and the plan in, claims
tables out (pure: no files).

The trained network (seed) is the unit: every decision is a t test over per-seed values
(``stats.seed_intervals``), with Bonferroni's correction over the plan's family (every primary
row of one claim and architecture: fault types x AS levels, or metrics x AS levels) for the
verdict and its interval alike; beside every primary verdict its robustness: the plan's
alternative windows, the worst leave-one-out and an exact permutation p. Fault claims are
decided on informative rates only: where the comparison's reference network keeps ``window`` of
its above-chance accuracy (a floor rate, where both sit at chance, would turn a clean-accuracy
gap into a robustness difference). C1 compares the *share* of above-chance accuracy each network
keeps, (faulty - chance) / (clean - chance), which a clean gap cannot move. Per-rate rows and
the paper's "up to" maxima are exploratory.

One module per concern, in the order they depend on each other:

- ``quantities``: the per-seed values, oriented to each claim's direction;
- ``decide``: families, Bonferroni, verdicts, and the rows each claim decides;
- ``robustness``: windows, leave-one-out, permutation, and the status words;
- ``slopes``: the dose-response endpoint; ``between``: the between-architecture family;
- ``explains``: what curvature explains; ``assemble``: every table of a study (``evaluate``).
"""
from flatenn.claims.assemble import COLUMNS, evaluate, fault_claim_alone
from flatenn.claims.between import INTERACTION_COLUMNS, interaction
from flatenn.claims.decide import bonferroni, decide_families, fault_claims, in_plan, verdict_of
from flatenn.claims.explains import SHARPNESS_EXPLAINS_COLUMNS, kept_over_window, sharpness_explains
from flatenn.claims.quantities import (FAULT_CLAIMS, QUANTITIES, SHARPNESS_CLAIMS, fault_effects, per_seed,
                                       per_seed_difference, retained)
from flatenn.claims.robustness import ROBUST_COLUMNS, judged, left_out, loo_one, perm_settings, robustness, status
from flatenn.claims.slopes import BY_GAIN_COLUMNS, ONE_LEVEL, SLOPE_COLUMNS, slopes, sparsity_gained

__all__ = ["BY_GAIN_COLUMNS", "COLUMNS", "FAULT_CLAIMS", "INTERACTION_COLUMNS", "ONE_LEVEL", "QUANTITIES",
           "ROBUST_COLUMNS", "SHARPNESS_CLAIMS", "SHARPNESS_EXPLAINS_COLUMNS", "SLOPE_COLUMNS", "bonferroni",
           "decide_families", "evaluate", "fault_claim_alone", "fault_claims", "fault_effects", "in_plan", "interaction",
           "judged", "kept_over_window", "left_out", "loo_one", "per_seed", "per_seed_difference", "perm_settings",
           "retained", "robustness", "sharpness_explains", "slopes", "sparsity_gained", "status", "verdict_of"]

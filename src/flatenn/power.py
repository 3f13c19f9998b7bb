"""Seeds for a confirmatory study, from a pilot's per-seed values (pure: tables in, tables out).

For each primary endpoint the pilot decided (claims.csv: its per-seed standard deviation, family
size and claim), the power at n seeds to detect the plan's smallest effect of interest
(`power.sesoi`, declared on substantive grounds) under the endpoint's Bonferroni family, for the
t test the verdict uses (exact: the noncentral t) and for the exact sign-flip permutation test
beside it (simulated through ``stats.sign_flip_p``, the function the robustness columns call:
it cannot reach the level at all below 2 / 2^n x m < alpha). A confirmatory study needs both:
seeds never fewer than the permutation test needs. Between architectures (Welch, one family per
study) the endpoint is equivalence: the power of the TOST against the plan's margin where the
true difference is zero. The power at a given n is also what a verdict is printed beside.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as st

from flatenn.confirmation import pair
from flatenn.stats import sign_flip_p

COLUMNS = ["claim", "dataset", "arch", "fault", "comparison", "quantity", "family_size", "pilot_n", "pilot_sd",
           "sesoi", "unit", "n", "power_t", "power_permutation"]
NEEDED_COLUMNS = ["claim", "dataset", "arch", "fault", "comparison", "quantity", "family_size", "pilot_sd", "sesoi",
                  "unit", "n_t", "n_permutation", "n_needed"]


def t_power(effect: float, sd: float, n: int, alpha: float) -> float:
    """Power of the two-sided one-sample t test at level ``alpha`` (already divided by the family)
    with n values, true mean ``effect`` and standard deviation ``sd`` (noncentral t)."""
    if n < 2 or sd <= 0:
        return math.nan
    crit = st.t.ppf(1 - alpha / 2, n - 1)
    ncp = abs(effect) / (sd / math.sqrt(n))
    far = st.nct.cdf(-crit, n - 1, ncp)  # the wrong-sign tail: negligible, and NaN in scipy far out
    return float(st.nct.sf(crit, n - 1, ncp) + (0.0 if math.isnan(far) else far))


def permutation_power(effect: float, sd: float, n: int, alpha: float, draws: int = 400, seed: int = 0,
                      exact_up_to: int = 4096) -> float:
    """Power of the exact sign-flip test (``stats.sign_flip_p``) at level ``alpha``, by ``draws``
    simulated studies of n normal values; 0 where 2 / 2^n cannot reach ``alpha``."""
    if n < 2 or 2 / 2 ** n >= alpha:
        return 0.0
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(draws):
        p, _ = sign_flip_p(rng.normal(effect, sd, n), exact_up_to=exact_up_to, resamples=2000, seed=1)
        hits += p < alpha
    return hits / draws


def tost_power(margin: float, sd_a: float, sd_b: float, n: int, alpha: float) -> float:
    """Power of Welch's TOST (equal n per side, true difference 0): both one-sided tests reject at
    ``alpha`` (normal approximation of the Welch t with its degrees of freedom)."""
    se = math.sqrt(sd_a ** 2 / n + sd_b ** 2 / n)
    df = se ** 4 / ((sd_a ** 2 / n) ** 2 / (n - 1) + (sd_b ** 2 / n) ** 2 / (n - 1))
    crit = st.t.ppf(1 - alpha, df)
    return float(max(0.0, 2 * st.t.cdf(margin / se - crit, df) - 1))


def sesoi_of(claim: str, plan: dict) -> tuple[float, str]:
    spec = plan["power"]["sesoi"]
    if claim in ("C2", "C5"):
        return spec["curvature_percent"], "% curvature"
    return spec[claim], "points"


def design_family(claims: pd.DataFrame, levels: int | None) -> pd.Series:
    """Each primary row's family size in the design: the pilot's, or, with ``levels`` AS levels
    per architecture, the pilot's per AS level times ``levels`` (C1, C2 and C4 families hold one
    row per fault type or metric and AS level; C3 and C5 also the standard network's rows)."""
    m = claims.family_size.astype(int)
    if levels is None:
        return m
    fam = claims.claim + " " + claims.dataset + " " + claims.arch
    pilot = claims.groupby(fam).a_variant.transform(lambda v: len(set(v) - {"standard"}))
    std = claims.groupby(fam).a_variant.transform(lambda v: int("standard" in set(v)))
    per_variant = m / (pilot + std)
    return (per_variant * (levels + std)).round().astype(int)


def table(claims: pd.DataFrame, plan: dict, ns, draws: int = 400) -> pd.DataFrame:
    """Power per primary endpoint of the pilot's claims table at each n of ``ns``, under the
    family sizes in ``family_size`` (the pilot's, or the design's: ``design_family``), the pilot's
    per-seed sd from its own family-wise interval (``pilot_family_size`` where the family was
    rescaled, else ``family_size``): half-width / t critical x sqrt(n), on the scale the claim is
    decided on (C2/C5: 100 x log ratio, the SESOI converted alike)."""
    alpha = 1 - plan["level"]
    p = claims[(claims.role == "primary") & claims.claim.isin(["C1", "C2", "C3", "C4", "C5"])
               & claims.p_adjusted.notna()]
    rows = []
    for r in p.itertuples():
        m, n0 = int(r.family_size), int(r.n_seeds)
        m_pilot = int(getattr(r, "pilot_family_size", m))
        lo, hi = r.adj_ci_low, r.adj_ci_high
        if r.claim in ("C2", "C5"):  # printed as %; decided on 100 x log ratio
            lo, hi = 100 * math.log1p(lo / 100), 100 * math.log1p(hi / 100)
        sd = (hi - lo) / 2 / st.t.ppf(1 - alpha / (2 * m_pilot), n0 - 1) * math.sqrt(n0)
        sesoi, unit = sesoi_of(r.claim, plan)
        effect = 100 * math.log1p(sesoi / 100) if r.claim in ("C2", "C5") else sesoi
        for n in ns:
            rows.append({"claim": r.claim, "dataset": r.dataset, "arch": r.arch, "fault": r.fault,
                         "comparison": r.comparison, "quantity": r.quantity, "family_size": m, "pilot_n": n0,
                         "pilot_sd": sd, "sesoi": sesoi, "unit": unit, "n": n,
                         "power_t": t_power(effect, sd, n, alpha / m),
                         "power_permutation": permutation_power(effect, sd, n, alpha / m, draws)})
    return pd.DataFrame(rows, columns=COLUMNS)


def between(interaction: pd.DataFrame, c1: pd.DataFrame, plan: dict, ns, levels: int | None = None) -> pd.DataFrame:
    """Equivalence power of every between-architecture contrast of C1's gap (true difference 0) at
    n seeds per architecture, each side's per-seed sd from the C1 rows of ``table`` (``c1``), the
    family: the pilot's contrasts of C1's gap per AS level times the design's ``levels`` (slope
    differences need two levels and are left out)."""
    alpha = 1 - plan["level"]
    gaps = interaction[interaction.quantity != "slope"]
    if gaps.empty:
        return pd.DataFrame(columns=COLUMNS)
    sd = c1.drop_duplicates(["arch", "fault", "comparison"]).set_index(["arch", "fault", "comparison"]).pilot_sd
    pilot_levels = gaps.comparison.nunique()
    m = len(gaps) if levels is None else round(len(gaps) / pilot_levels * levels)
    rows = []
    for r in gaps.itertuples():
        sa, sb = sd.get((r.arch_a, r.fault, r.comparison), math.nan), sd.get((r.arch_b, r.fault, r.comparison), math.nan)
        for n in ns:
            rows.append({"claim": "C1 between architectures", "dataset": r.dataset, "arch": pair(r.arch_a, r.arch_b),
                         "fault": r.fault, "comparison": r.comparison, "quantity": r.quantity, "family_size": m,
                         "pilot_n": int(min(r.n_a, r.n_b)), "pilot_sd": math.hypot(sa, sb) / math.sqrt(2),
                         "sesoi": r.margin, "unit": "points (equivalence margin)", "n": n,
                         "power_t": tost_power(r.margin, sa, sb, n, alpha / m), "power_permutation": math.nan})
    return pd.DataFrame(rows, columns=COLUMNS)


def needed(power: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per endpoint the fewest seeds at which each test reaches ``target`` (NaN: not within the
    table's ns) and the seeds the design needs: the larger of the two (the permutation test where
    it applies)."""
    keys = ["claim", "dataset", "arch", "fault", "comparison", "quantity", "family_size", "pilot_sd", "sesoi", "unit"]

    def first(g, col):
        ok = g[g[col] >= target]
        return ok.n.min() if len(ok) else math.nan
    out = []
    for k, g in power.groupby(keys, sort=False, dropna=False):
        n_t, n_p = first(g, "power_t"), first(g, "power_permutation") if g.power_permutation.notna().any() else math.nan
        out.append({**dict(zip(keys, k)), "n_t": n_t, "n_permutation": n_p, "n_needed": np.nanmax([n_t, n_p])
                    if not (math.isnan(n_t) and math.isnan(n_p)) else math.nan})
    return pd.DataFrame(out, columns=NEEDED_COLUMNS)


def by_family(power: pd.DataFrame, ns) -> pd.DataFrame:
    """Per study, claim and architecture (one family): its endpoints, family size, and at each n of
    ``ns`` the weakest and the median endpoint's power (t test; permutation test beside it)."""
    rows = []
    for (study, claim, arch), g in power.groupby(["study", "claim", "arch"], sort=False):
        row = {"study": study, "claim": claim, "arch": arch, "endpoints": g.quantity.size // g.n.nunique(),
               "family_size": int(g.family_size.iloc[0])}
        for n in ns:
            h = g[g.n == n]
            row[f"n={n}: t min / median"] = f"{h.power_t.min():.2f} / {h.power_t.median():.2f}"
            row[f"n={n}: permutation median"] = (f"{h.power_permutation.median():.2f}"
                                                 if h.power_permutation.notna().any() else "-")
        rows.append(row)
    return pd.DataFrame(rows)


def design(studies: dict, plan: dict, as_levels: list, ns=tuple(range(4, 17))) -> pd.DataFrame:
    """The power table of a design from pilot studies (``studies``: name -> (claims table,
    between-architecture table)): ``table`` and ``between`` per study at each n of ``ns``. With
    ``as_levels``, the design's AS levels: only their rows (and the standard network's) count, and
    each family is rescaled to the design's size (``design_family``)."""
    parts = []
    for name, (claims, inter) in studies.items():
        levels = None
        if as_levels:
            present = set(as_levels) & set(claims.a_variant)
            levels, keep = max(len(present), 1), {"standard", *present}
            claims = claims[(claims.role == "primary") & claims.family_size.notna()]
            claims = claims.assign(pilot_family_size=claims.family_size, family_size=design_family(claims, levels))
            claims = claims[claims.a_variant.isin(keep)]
            inter = inter[inter.a_variant.isin(keep)]
        t = table(claims, plan, list(ns))
        parts += [t.assign(study=name), between(inter, t[t.claim == "C1"], plan, list(ns), levels).assign(study=name)]
    return pd.concat([p for p in parts if len(p)], ignore_index=True)

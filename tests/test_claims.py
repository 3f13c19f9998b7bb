"""Known answers for every claim: a planted effect gives PASS, the opposite FAIL, none INCONCLUSIVE."""
import numpy as np
import pandas as pd
import pytest

from flatenn import aggregate, claims

VARIANTS, TRAININGS, SEEDS, RATES, TRIALS = ["standard", "as_high"], ["conventional", "saq"], range(6), [0.0, 0.01, 0.1], 8
EXPECTED = {1: "PASS", -1: "FAIL", 0: "INCONCLUSIVE"}


def synthetic_trials(rng, clean=None, lost_shift=None, acc_shift=None) -> pd.DataFrame:
    """Per-trial accuracies with seed and map noise; ``lost_shift``/``acc_shift`` map
    (variant, training) to extra accuracy lost under faults / extra accuracy under faults."""
    clean, lost_shift, acc_shift = clean or {}, lost_shift or {}, acc_shift or {}
    rows = []
    for s in SEEDS:
        seed_noise = {m: rng.normal(0, 0.004) for m in [(v, t) for v in VARIANTS for t in TRAININGS]}
        for fault in ("bitflip", "sa1"):
            for rate in RATES:
                for trial in range(TRIALS if rate else 1):
                    map_noise = rng.normal(0, 0.01)  # shared within a seed: common random numbers
                    for v in VARIANTS:
                        for t in TRAININGS:
                            c = clean.get((v, t), 0.9) + seed_noise[(v, t)] / 4
                            acc = c if rate == 0 else (c - 3 * rate - lost_shift.get((v, t), 0.0)
                                                       + acc_shift.get((v, t), 0.0) + seed_noise[(v, t)]
                                                       + map_noise + rng.normal(0, 0.002))
                            rows.append({"dataset": "d", "arch": "lenet5", "variant": v, "training": t, "seed": s,
                                         "fault": fault, "rate": rate, "trial": trial, "accuracy": acc})
    return pd.DataFrame(rows)


def synthetic_sharpness(rng, as_factor=1.0, saq_factor=1.0) -> pd.DataFrame:
    rows = []
    for s in SEEDS:
        for v in VARIANTS:
            for t in TRAININGS:
                f = (as_factor if v != "standard" else 1.0) * (saq_factor if t == "saq" else 1.0)
                rows.append({"dataset": "d", "arch": "lenet5", "variant": v, "training": t, "seed": s,
                             **{m: 10 * f * (1 + rng.normal(0, 0.03)) for m in aggregate.METRICS}, "loss": 0.3})
    return pd.DataFrame(rows)


def synthetic_clean(rng, saq_gap, sd=0.002) -> pd.DataFrame:
    return pd.DataFrame([{"dataset": "d", "arch": "lenet5", "variant": v, "training": t, "seed": s,
                          "accuracy": 0.9 + (saq_gap if t == "saq" else 0) + rng.normal(0, sd),
                          "activation_sparsity": 0.5} for s in SEEDS for v in VARIANTS for t in TRAININGS])


def run_claims(trials, sharp=None, clean=None, rng=None):
    rng = rng or np.random.default_rng(0)
    comps = aggregate.comparisons(VARIANTS, TRAININGS)
    by_seed = aggregate.paired_by_seed(aggregate.seed_means(trials), comps)
    sharp = synthetic_sharpness(rng) if sharp is None else sharp
    clean = synthetic_clean(rng, 0.0) if clean is None else clean
    table, by_rate = claims.evaluate(by_seed, aggregate.paired_sharpness(sharp, comps), clean, 0.95)
    return table, by_rate


@pytest.mark.parametrize("sign", [1, -1, 0])
def test_c1_is_decided_on_accuracy_lost(sign):
    rng = np.random.default_rng(10 + sign)
    trials = synthetic_trials(rng, lost_shift={("as_high", "conventional"): 0.05 * sign})
    table, by_rate = run_claims(trials)
    c1 = table[table.claim == "C1"]
    assert len(c1) == 2 and set(c1.verdict) == {EXPECTED[sign]}, c1[["fault", "measured_value", "ci_low", "ci_high"]]
    if sign:
        assert c1.measured_value.mean() == pytest.approx(5 * sign, abs=0.5)
    assert set(by_rate[by_rate.claim == "C1"].rate) == {0.01, 0.1}


def test_c1_ignores_a_gap_in_clean_accuracy():
    """AS is 5 points worse clean and loses exactly as much: not 'more vulnerable'."""
    rng = np.random.default_rng(3)
    trials = synthetic_trials(rng, clean={("as_high", "conventional"): 0.85, ("as_high", "saq"): 0.85})
    c1 = run_claims(trials)[0].query("claim == 'C1'")
    assert set(c1.verdict) == {"INCONCLUSIVE"}
    assert (c1.absolute_ci_low > 3).all()  # the absolute gap is reported beside it, and is large


@pytest.mark.parametrize("sign", [1, -1, 0])
def test_c3_saq_gain(sign):
    rng = np.random.default_rng(23 + sign)
    trials = synthetic_trials(rng, acc_shift={(v, "saq"): 0.05 * sign for v in VARIANTS})
    c3 = run_claims(trials)[0].query("claim == 'C3'")
    assert len(c3) == 4 and set(c3.verdict) == {EXPECTED[sign]}
    assert set(c3.paper_v1) == {"36.71", "24.76"} and set(c3.paper_latest) == {"19.50", "15.82"}
    if sign == 1:
        assert (c3.up_to_value > 4).all() and (c3.up_to_ci_low <= c3.up_to_value).all()


@pytest.mark.parametrize("sign", [1, -1, 0])
def test_c4_saq_as_beats_conventional_standard(sign):
    rng = np.random.default_rng(30 + sign)
    trials = synthetic_trials(rng, acc_shift={("as_high", "saq"): 0.05 * sign})
    c4 = run_claims(trials)[0].query("claim == 'C4'")
    assert len(c4) == 2 and set(c4.verdict) == {EXPECTED[sign]}


@pytest.mark.parametrize("sign", [1, -1, 0])
def test_c2_as_sharper(sign):
    rng = np.random.default_rng(40 + sign)
    table = run_claims(synthetic_trials(rng), sharp=synthetic_sharpness(rng, as_factor=1 + 0.3 * sign))[0]
    c2 = table[table.claim == "C2"]
    assert len(c2) == 2 and set(c2.verdict) == {EXPECTED[sign]}
    assert set(c2["aggregate"].str.split(",").str[0]) == set(claims.DECIDING_METRICS)


@pytest.mark.parametrize("sign", [1, -1, 0])
def test_c5_saq_flatter(sign):
    rng = np.random.default_rng(50 + sign)
    table = run_claims(synthetic_trials(rng), sharp=synthetic_sharpness(rng, saq_factor=1 - 0.3 * sign))[0]
    c5 = table[table.claim == "C5"]
    assert len(c5) == 4 and set(c5.verdict) == {EXPECTED[sign]}


@pytest.mark.parametrize("gap,sd,expected", [(0.0, 0.002, "PASS"), (0.04, 0.002, "FAIL"), (0.01, 0.02, "INCONCLUSIVE")])
def test_c5_clean_equivalence(gap, sd, expected):
    rng = np.random.default_rng(60)
    table = run_claims(synthetic_trials(rng), clean=synthetic_clean(rng, gap, sd))[0]
    assert set(table.query("claim == 'C5-clean'").verdict) == {expected}


def test_claims_table_has_the_contract_columns_and_keeps_archs_apart():
    rng = np.random.default_rng(0)
    t1, t2 = synthetic_trials(rng), synthetic_trials(rng).assign(arch="resnet20")
    s1, s2 = synthetic_sharpness(rng), synthetic_sharpness(rng).assign(arch="resnet20")
    c1, c2 = synthetic_clean(rng, 0.0), synthetic_clean(rng, 0.0).assign(arch="resnet20")
    table, by_rate = run_claims(pd.concat([t1, t2]), pd.concat([s1, s2]), pd.concat([c1, c2]))
    assert list(table.columns[:15]) == ["claim", "arch", "statement", "paper_v1", "paper_latest", "measured_value",
                                        "ci_low", "ci_high", "verdict", "fault", "aggregate", "n_seeds",
                                        "trials_per_seed", "method", "mde"]
    single = run_claims(t1, s1, c1)[0]
    assert len(table) == 2 * len(single) and set(table.arch) == {"lenet5", "resnet20"}
    assert (table.n_seeds == len(SEEDS)).all()
    assert set(table.loc[table.claim == "C1", "trials_per_seed"]) == {TRIALS}

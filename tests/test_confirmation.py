"""A confirmatory study against its pilot (flatenn.confirmation): outcomes in words, the pilot's AS
level mapped to the study's, the pilot's other levels left out, the power of each endpoint."""
import pandas as pd
import pytest

from flatenn import confirmation

PILOT = {"studies": {"C1": "pilot", "C3": "saq_pilot"}, "as_level": {"pilot": "as_g15", "saq_pilot": "as_mid"},
         "level": "as_g15"}


def trainings(comparison: str) -> dict:
    """The trainings the workflow's comparison names compare (aggregate.comparisons)."""
    return ({"a_training": "saq", "b_training": "conventional"} if "saq" in comparison else
            {"a_training": "conventional", "b_training": "conventional"})


def claim_rows(rows):
    """Claims-table rows from (claim, arch, fault, a_variant, b_variant, comparison, verdict)."""
    return pd.DataFrame([{"claim": c, "dataset": "d", "arch": a, "fault": f, "quantity": "q", "role": "primary",
                          "a_variant": av, "b_variant": bv, **trainings(cmp), "comparison": cmp, "verdict": v,
                          "measured_value": 1.0, "adj_ci_low": 0.5, "adj_ci_high": 1.5}
                         for c, a, f, av, bv, cmp, v in rows])


def test_outcomes_in_words():
    assert confirmation.outcome("FAIL", "FAIL") == "confirmed"
    assert confirmation.outcome("PASS", "FAIL") == "overturned"
    assert confirmation.outcome("PASS", "INCONCLUSIVE") == "not confirmed (undetermined)"
    assert confirmation.outcome("INCONCLUSIVE", "PASS") == "newly decided"
    assert confirmation.outcome("INCONCLUSIVE", "INCONCLUSIVE") == "undetermined in both"
    assert confirmation.outcome("MIXED", "PASS") == "mixed"
    assert confirmation.outcome("PASS", None) == "not decided yet"
    assert confirmation.outcome(None, "PASS") == "first test (no pilot row)"


def test_the_pilot_level_is_mapped_and_its_other_levels_left_out():
    pilot = claim_rows([("C1", "net", "bitflip", "as_g15", "standard", "as_g15-standard (conventional)", "FAIL"),
                        ("C1", "net", "bitflip", "as_g30", "standard", "as_g30-standard (conventional)", "FAIL"),
                        ("C1", "deep", "bitflip", "as_g15", "standard", "as_g15-standard (conventional)", "INCONCLUSIVE")])
    saq = claim_rows([("C3", "net", "sa0", "as_mid", "as_mid", "saq-conventional (as_mid)", "PASS"),
                      ("C3", "net", "sa0", "as_high", "as_high", "saq-conventional (as_high)", "PASS"),
                      ("C3", "net", "sa0", "standard", "standard", "saq-conventional (standard)", "INCONCLUSIVE"),
                      ("C3", "deep", "sa1", "as_mid", "as_mid", "saq-conventional (as_mid)", "PASS")])
    confirm = claim_rows([("C1", "net", "bitflip", "as_g15", "standard", "as_g15-standard (conventional)", "INCONCLUSIVE"),
                          ("C3", "net", "sa0", "as_g15", "as_g15", "saq-conventional (as_g15)", "FAIL"),
                          ("C3", "net", "sa0", "standard", "standard", "saq-conventional (standard)", "PASS"),
                          ("C3", "deep", "sa0", "as_g15", "as_g15", "saq-conventional (as_g15)", "PASS")])
    power = pd.DataFrame([{"claim": "C1", "dataset": "d", "arch": "net", "fault": "bitflip", "quantity": "q",
                           "comparison": "as_g15-standard (conventional)", "study": "pilot", "n": n, "power_t": n / 10,
                           "power_permutation": n / 20} for n in (5, 10)])
    rows = confirmation.against_pilot(confirm, {"pilot": pilot, "saq_pilot": saq}, PILOT, power,
                                      {"net": 10, "deep": 8}, ["net", "deep"])
    # matched by the compared networks, not by name: a pilot row the study has not decided yet is
    # named as the workflow names the mapped networks
    pending = rows[rows.fault == "sa1"]
    assert list(zip(pending.comparison, pending.pilot_comparison, pending.outcome)) == [
        ("saq-conventional (as_g15)", "saq-conventional (as_mid)", "not decided yet")]
    rows = rows[rows.fault != "sa1"]
    got = {(r.claim, r.arch, r.comparison): (r.pilot_comparison if isinstance(r.pilot_comparison, str) else None,
                                             r.outcome) for r in rows.itertuples()}
    assert got == {
        ("C1", "net", "as_g15-standard (conventional)"): ("as_g15-standard (conventional)", "not confirmed (undetermined)"),
        ("C1", "deep", "as_g15-standard (conventional)"): ("as_g15-standard (conventional)", "not decided yet"),
        ("C3", "net", "saq-conventional (as_g15)"): ("saq-conventional (as_mid)", "overturned"),
        ("C3", "net", "saq-conventional (standard)"): ("saq-conventional (standard)", "newly decided"),
        ("C3", "deep", "saq-conventional (as_g15)"): (None, "first test (no pilot row)"),
    }
    first = rows[(rows.claim == "C1") & (rows.arch == "net")].iloc[0]
    assert (first.power_t, first.power_permutation, first.n_seeds) == (1.0, 0.5, 10)
    family = confirmation.by_family(rows)
    net = family[(family.claim == "C3") & (family.arch == "net")].iloc[0]
    assert (net.pilot_verdict, net.verdict, net.outcome) == ("PASS", "MIXED", "mixed")
    words = confirmation.in_words(family, "C1")
    assert words.startswith("net: FAIL in pilot -> INCONCLUSIVE, not confirmed (undetermined) as a family")
    assert "deep: INCONCLUSIVE in pilot -> not decided yet" in words


def test_a_between_table_without_the_networks_columns_is_one_line(tmp_path):
    """A claims_interaction.csv stored before its contrasts named their networks is refused with the
    file's name and what to do, not matched by its comparison's name."""
    from flatenn.claims.between import stored

    old = interaction_rows([("net", "deep", "bitflip", "as_g15-standard (conventional)", "retained_gap",
                             "undetermined", 1.0)]).drop(columns=["a_variant", "a_training", "b_variant", "b_training"])
    old.to_csv(tmp_path / "claims_interaction.csv", index=False)
    with pytest.raises(ValueError, match=r"claims_interaction.csv: lacks the column\(s\) a_variant, "
                                         r"a_training, b_variant, b_training; rerun `flatenn recompute` on its study$"):
        stored(tmp_path / "claims_interaction.csv")


def test_a_malformed_pilot_declaration_is_one_line():
    with pytest.raises(ValueError, match="^study.yaml: pilot: studies"):
        confirmation.check_pilot({"studies": {"C1": "pilot"}, "as_level": {}, "level": "as_g15"}, "study.yaml")
    assert confirmation.check_pilot(PILOT, "study.yaml") is PILOT


def test_the_headline_sets_c3_beside_the_papers_up_to_figures(tmp_path):
    """C3's line: the largest mean gain at one rate per compared network, beside the paper's."""
    from flatenn import headline

    p = pd.DataFrame([{"arch": "net", "comparison": f"saq-conventional ({v})", "a_variant": v, "paper_v1": pv,
                       "paper_latest": pl} for v, pv, pl in (("as_g15", "36.71", "19.50"), ("standard", "24.76", "15.82"))])
    pd.DataFrame([{"claim": "C3", "arch": "net", "comparison": f"saq-conventional ({v})", "fault": f, "rate": r,
                   "measured_value": x} for v, f, r, x in (("as_g15", "sa0", 0.1, 15.9), ("as_g15", "sa1", 0.2, 21.0),
                                                          ("standard", "bitflip", 0.05, 18.6))]
                 ).to_csv(tmp_path / "claims_by_rate.csv", index=False)
    assert headline.up_to("C3", p, tmp_path) == (
        "; up to +21.0 (as_g15: net, sa1 at 0.2), +18.6 (standard: net, bitflip at 0.05) points at one rate; "
        "the paper (v1 / latest): up to 36.71 / 19.50 (AS), 24.76 / 15.82 (standard)")
    assert headline.up_to("C1", p, tmp_path) == ""


def interaction_rows(rows):
    """claims_interaction.csv rows from (arch_a, arch_b, fault, comparison, quantity, verdict, diff);
    an AS level against the standard network, conventionally trained, or a slope (no networks)."""
    def networks(cmp):
        level = cmp.split("-")[0] if cmp.endswith("(conventional)") else None
        return {"a_variant": level, "a_training": level and "conventional", "b_variant": level and "standard",
                "b_training": level and "conventional"}
    return pd.DataFrame([{"claim": "C1", "dataset": "d", "fault": f, "comparison": cmp, **networks(cmp), "quantity": q,
                          "arch_a": a, "arch_b": b, "diff": x, "adj_ci_low": x - 3, "adj_ci_high": x + 3, "verdict": v}
                         for a, b, f, cmp, q, v, x in rows])


def test_the_between_architecture_family_is_set_against_its_pilot_contrast_by_contrast():
    """Contrasts are matched by pair, fault and comparison (the pilot's AS level mapped, its other
    levels and slope differences left out); equivalence and a shown difference both count as
    decided; a pair's power is read at the fewer seeds of its two architectures."""
    pilot = {"studies": {"C1": "pilot", "C1 between architectures": "pilot"}, "as_level": {"pilot": "as_g30"},
             "level": "as_g15"}
    claims = claim_rows([("C1", a, "bitflip", "as_g15", "standard", "as_g15-standard (conventional)", "FAIL")
                         for a in ("net", "deep")])
    pilot_claims = claim_rows([("C1", a, "bitflip", "as_g30", "standard", "as_g30-standard (conventional)", "FAIL")
                               for a in ("net", "deep")])
    pilot_between = confirmation.between_endpoints(interaction_rows([
        ("net", "deep", "bitflip", "as_g30-standard (conventional)", "retained_gap", "undetermined", 4.0),
        ("net", "deep", "sa0", "as_g30-standard (conventional)", "retained_gap", "deeper loses more", 9.0),
        ("net", "deep", "bitflip", "as_g60-standard (conventional)", "retained_gap", "undetermined", 1.0),
        ("net", "deep", "bitflip", "slope per 0.1 sparsity gained", "slope", "undetermined", 0.5)]))
    between = confirmation.between_endpoints(interaction_rows([
        ("net", "deep", "bitflip", "as_g15-standard (conventional)", "retained_gap", "equivalent within +-5 points", 0.2),
        ("net", "deep", "sa0", "as_g15-standard (conventional)", "retained_gap", "equivalent within +-5 points", 0.1)]))
    power = pd.DataFrame([{"claim": "C1 between architectures", "dataset": "d", "arch": "deep - net", "fault": f,
                           "quantity": "retained_gap", "comparison": "as_g30-standard (conventional)", "study": "pilot", "n": n,
                           "power_t": n / 10, "power_permutation": float("nan")}
                          for f in ("bitflip", "sa0") for n in (8, 10)])
    rows = confirmation.against_pilot(pd.concat([claims, between], ignore_index=True),
                                      {"pilot": pd.concat([pilot_claims, pilot_between], ignore_index=True)}, pilot,
                                      power, {"net": 10, "deep": 8}, ["net", "deep"])
    contrasts = rows[rows.between]
    assert list(zip(contrasts.arch, contrasts.fault, contrasts.comparison, contrasts.pilot_comparison,
                    contrasts.outcome, contrasts.n_seeds, contrasts.power_t)) == [
        ("deep - net", "bitflip", "as_g15-standard (conventional)", "as_g30-standard (conventional)", "newly decided", 8, 0.8),
        ("deep - net", "sa0", "as_g15-standard (conventional)", "as_g30-standard (conventional)", "overturned", 8, 0.8)]
    assert list(rows[~rows.between].arch) == ["net", "deep"]
    family = confirmation.by_family(rows)
    pair = family[family.between].iloc[0]
    assert (pair.pilot_verdict, pair.verdict, pair.outcome) == ("1 undetermined; 1 deeper loses more",
                                                                "2 equivalent within +-5 points", "varies by contrast")
    assert confirmation.in_words(family, "C1 between architectures") == (
        "deep - net: 1 undetermined; 1 deeper loses more in pilot -> 2 equivalent within +-5 points, varies by "
        "contrast (rows: 1 newly decided; 1 overturned) (equivalence power 0.80)")
    # before every architecture is stored the confirmatory family is empty: not decided yet
    rows = confirmation.against_pilot(claims, {"pilot": pd.concat([pilot_claims, pilot_between], ignore_index=True)},
                                      pilot, power, {"net": 10, "deep": 8}, ["net", "deep"])
    assert set(rows[rows.between].outcome) == {"not decided yet"}
    assert confirmation.outcome("deeper loses more", "equivalent within +-5 points") == "overturned"
    assert confirmation.outcome("undetermined", "undetermined") == "undetermined in both"


def test_the_headline_names_what_a_study_in_parts_has_not_decided_yet(tmp_path):
    """A study's declared architectures that its claims table lacks are "not decided yet" in the
    claim's cell, and its between-architecture family waits for all of them."""
    from flatenn import headline

    study = tmp_path / "confirm"
    study.mkdir()
    pd.DataFrame([{"claim": "C1", "dataset": "d", "arch": a, "fault": "bitflip", "quantity": "retained_gap",
                   "role": "primary", "a_variant": "as_g15", "a_training": "conventional", "verdict": "FAIL",
                   "robustness": "solid", "fragile_by": "", "p_adjusted": 0.01, "measured_value": -4.0,
                   "adj_ci_low": -6.0, "adj_ci_high": -2.0, "seeds_for": 0, "seeds_against": 10}
                  for a in ("lenet5", "resnet8")]).to_csv(study / "claims.csv", index=False)
    pd.DataFrame(columns=["claim", "verdict", "p_adjusted"]).to_csv(study / "claims_interaction.csv", index=False)
    table = headline.headline({"C1": "confirm", "C1 between architectures": "confirm"}, tmp_path,
                              archs={"confirm": ["lenet5", "resnet8", "resnet20"]}).set_index("claim")
    assert table.at["C1", "verdict per architecture (robustness)"] == (
        "lenet5: FAIL (robust); resnet8: FAIL (robust); resnet20: not decided yet (not all its networks stored)")
    assert table.at["C1 between architectures", "verdict per architecture (robustness)"] == (
        "not decided yet (decided once every architecture's networks are stored: resnet20)")
    # all stored, the claims table sorted by name: the families read in the declared order
    rows = pd.read_csv(study / "claims.csv")
    pd.concat([rows.iloc[:1], rows.iloc[:1].assign(arch="resnet20"), rows.iloc[1:]]).to_csv(study / "claims.csv",
                                                                                           index=False)
    table = headline.headline({"C1": "confirm"}, tmp_path,
                              archs={"confirm": ["lenet5", "resnet8", "resnet20"]}).set_index("claim")
    assert table.at["C1", "verdict per architecture (robustness)"] == (
        "lenet5: FAIL (robust); resnet8: FAIL (robust); resnet20: FAIL (robust)")

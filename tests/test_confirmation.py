"""A confirmatory study against its pilot (flatenn.confirmation): outcomes in words, the pilot's AS
level mapped to the study's, the pilot's other levels left out, the power of each endpoint."""
import pandas as pd
import pytest

from flatenn import confirmation

PILOT = {"studies": {"C1": "pilot", "C3": "saq_pilot"}, "as_level": {"pilot": "as_g15", "saq_pilot": "as_mid"},
         "level": "as_g15"}


def claim_rows(rows):
    """Claims-table rows from (claim, arch, fault, a_variant, b_variant, comparison, verdict)."""
    return pd.DataFrame([{"claim": c, "dataset": "d", "arch": a, "fault": f, "quantity": "q", "role": "primary",
                          "a_variant": av, "b_variant": bv, "comparison": cmp, "verdict": v, "measured_value": 1.0,
                          "adj_ci_low": 0.5, "adj_ci_high": 1.5} for c, a, f, av, bv, cmp, v in rows])


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
    pilot = claim_rows([("C1", "net", "bitflip", "as_g15", "standard", "as_g15-standard", "FAIL"),
                        ("C1", "net", "bitflip", "as_g30", "standard", "as_g30-standard", "FAIL"),
                        ("C1", "deep", "bitflip", "as_g15", "standard", "as_g15-standard", "INCONCLUSIVE")])
    saq = claim_rows([("C3", "net", "sa0", "as_mid", "as_mid", "saq-conventional (as_mid)", "PASS"),
                      ("C3", "net", "sa0", "as_high", "as_high", "saq-conventional (as_high)", "PASS"),
                      ("C3", "net", "sa0", "standard", "standard", "saq-conventional (standard)", "INCONCLUSIVE")])
    confirm = claim_rows([("C1", "net", "bitflip", "as_g15", "standard", "as_g15-standard", "INCONCLUSIVE"),
                          ("C3", "net", "sa0", "as_g15", "as_g15", "saq-conventional (as_g15)", "FAIL"),
                          ("C3", "net", "sa0", "standard", "standard", "saq-conventional (standard)", "PASS"),
                          ("C3", "deep", "sa0", "as_g15", "as_g15", "saq-conventional (as_g15)", "PASS")])
    power = pd.DataFrame([{"claim": "C1", "dataset": "d", "arch": "net", "fault": "bitflip", "quantity": "q",
                           "comparison": "as_g15-standard", "study": "pilot", "n": n, "power_t": n / 10,
                           "power_permutation": n / 20} for n in (5, 10)])
    rows = confirmation.against_pilot(confirm, {"pilot": pilot, "saq_pilot": saq}, PILOT, power,
                                      {"net": 10, "deep": 8}, ["net", "deep"])
    got = {(r.claim, r.arch, r.comparison): (r.pilot_comparison if isinstance(r.pilot_comparison, str) else None,
                                             r.outcome) for r in rows.itertuples()}
    assert got == {
        ("C1", "net", "as_g15-standard"): ("as_g15-standard", "not confirmed (undetermined)"),
        ("C1", "deep", "as_g15-standard"): ("as_g15-standard", "not decided yet"),
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

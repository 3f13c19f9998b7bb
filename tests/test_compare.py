"""flatenn.compare: a run's claims and tables against a stored reference."""
import pandas as pd
import pytest

from conftest import PY, run
from flatenn import compare


def claims_table(rows):
    keys = {"dataset": "fashion_mnist", "arch": "lenet5", "comparison": "as_high-standard (conventional)",
            "aggregate": "window"}
    return pd.DataFrame([{**keys, "claim": c, "fault": f, "measured_value": v, "ci_low": lo, "ci_high": hi,
                          "verdict": verdict} for c, f, v, lo, hi, verdict in rows])


REF = claims_table([("C1", "bitflip", 2.0, 1.0, 3.0, "PASS"), ("C1", "sa0", 0.0, -2.0, 2.0, "INCONCLUSIVE"),
                    ("C1", "sa1", -1.0, -3.0, 1.0, "INCONCLUSIVE")])
RUN = claims_table([("C1", "bitflip", 2.5, 1.5, 3.5, "PASS"), ("C1", "sa0", 3.0, 1.0, 5.0, "PASS")])


def test_verdicts_and_shifts_in_half_widths_of_the_reference():
    rows = compare.claims(REF, RUN).set_index("fault")
    assert rows.verdict_agrees.to_dict() == {"bitflip": True, "sa0": False, "sa1": False}
    assert rows.loc["bitflip", "shift_in_half_widths"] == pytest.approx(0.5)  # 0.5 points / half-width 1
    assert rows.loc["sa0", "shift_in_half_widths"] == pytest.approx(1.5)
    assert rows.loc["sa1", "run_verdict"] == "missing"
    assert rows.inside_ref_interval.to_dict() == {"bitflip": True, "sa0": False, "sa1": False}
    text = compare.in_words(compare.claims(REF, RUN), pd.DataFrame({"identical": [True, False]}))
    assert text.splitlines()[0] == ("verdicts: 1 of 3 claims rows agree with the reference "
                                    "(1 missing from the run: another config or plan?)")
    assert "largest shift 1.50 half-widths" in text and "tables: 1 of 2 identical to the byte" in text


def test_tables_identical_to_the_byte_or_not(tmp_path):
    ref, new = tmp_path / "ref", tmp_path / "run"
    ref.mkdir(), new.mkdir()
    for d, text in ((ref, "a\n1.0\n"), (new, "a\n1.0\n")):
        (d / "same.csv").write_text(text)
    (ref / "moved.csv").write_text("a\n1.0\n")
    (new / "moved.csv").write_text("a\n1.0000001\n")
    (ref / "last_digit.csv").write_text("v,x,n\nPASS,-0.06285714285714288,3\n")
    (new / "last_digit.csv").write_text("v,x,n\nPASS,-0.06285714285714286,3\n")
    (ref / "only_ref.csv").write_text("a\n")
    (ref / "runtime.csv").write_text("rule,seconds\n")
    rows = compare.tables(ref, new).set_index("table")
    assert rows.to_dict("index") == {"last_digit.csv": {"in_run": True, "identical": False, "equal": True},
                                     "moved.csv": {"in_run": True, "identical": False, "equal": False},
                                     "only_ref.csv": {"in_run": False, "identical": False, "equal": False},
                                     "same.csv": {"in_run": True, "identical": True, "equal": True}}


@pytest.mark.parametrize("run_text, problem", [
    ("v,x,n\nPASS,0.5000000001,3\n", None),                      # 2e-10 relative: summation order
    ("v,x,n\nPASS,0.5000001,3\n", "x: 1 values differ beyond rtol 1e-09"),
    ("v,x,n\nFAIL,0.5,3\n", "v: differs"),                       # a verdict is text: exact
    ("v,x,n\nPASS,0.5,4\n", "n: differs"),                       # an integer: exact
    ("v,x,n\nPASS,,3\n", "x: missing in other rows"),
    ("v,x\nPASS,0.5\n", "columns"),
    ("v,x,n\nPASS,0.5,3\nPASS,0.5,3\n", "rows: 1 != 2")])
def test_table_differences_tolerate_the_last_digits_only(tmp_path, run_text, problem):
    (tmp_path / "a.csv").write_text("v,x,n\nPASS,0.5,3\n")
    (tmp_path / "b.csv").write_text(run_text)
    got = compare.table_differences(tmp_path / "a.csv", tmp_path / "b.csv")
    assert (got == []) if problem is None else (len(got) == 1 and got[0].startswith(problem)), got


REF_FINDINGS = "- **C1, resnet8: FAIL** (1 FAIL of 6). -11.7 points [-23.2, -0.3], Bonferroni p 0.0463; 6 of 15 networks\n"


@pytest.mark.parametrize("run_text, problem", [
    (REF_FINDINGS, None),
    (REF_FINDINGS.replace("-0.3]", "-0.4]").replace("0.0463", "0.0464"), None),  # rounded the other way
    (REF_FINDINGS.replace("-0.3]", "-0.5]"), "line 1: -0.3 != -0.5"),            # two units: a change
    (REF_FINDINGS.replace("0.0463", "0.0465"), "line 1: 0.0463 != 0.0465"),
    (REF_FINDINGS.replace("6 of 15", "6 of 14"), "line 1: 15 != 14"),            # a count: exact
    (REF_FINDINGS.replace("-0.3]", "+0.3]"), "line 1: -0.3 != +0.3"),            # a sign: more than a unit
    (REF_FINDINGS.replace("FAIL**", "PASS**"), "text 2"),                        # a verdict: exact
    (REF_FINDINGS.replace("networks", "networks 3"), "numbers: 10 != 11")])
def test_text_differences_tolerate_the_last_printed_digit_only(run_text, problem):
    """Findings recomputed on another CPU may round a printed number the other way; every word,
    count and verdict is exact and a number may move by one unit of its last printed digit."""
    got = compare.text_differences(REF_FINDINGS, run_text)
    assert (got == []) if problem is None else (len(got) == 1 and got[0].startswith(problem)), got


def test_a_moved_window_is_the_same_row_and_an_up_to_row_follows_its_maximum():
    ref = REF.assign(role="primary", quantity="retained_gap", window_rates="0.03, 0.1")
    ref = pd.concat([ref, ref.iloc[:1].assign(role="exploratory", quantity="accuracy_gap", fault="sa0")])
    run = ref.copy()
    run.loc[run.fault == "sa1", "window_rates"] = "0.03, 0.1, 0.2"   # one rate more: not "missing"
    run.loc[run.role == "exploratory", "fault"] = "bitflip"          # the maximum moved to another cell
    run.loc[run.fault == "sa0", ["measured_value", "ci_low", "ci_high", "verdict"]] = [3.0, 2.5, 3.5, "PASS"]
    rows = compare.claims(ref, run)
    assert (rows.run_verdict != "missing").all()
    assert rows.window_moved.tolist() == [False, False, True, False]
    assert rows.intervals_overlap.tolist() == [True, False, True, True]
    text = compare.in_words(rows, pd.DataFrame({"identical": [False], "equal": [True]}))
    assert "primary INCONCLUSIVE in the reference: 1 of 2 agree, 1 of 2 intervals overlap" in text
    assert "windows: 1 of 4 rows decided over other informative rates" in text


def test_the_command_reports_and_writes_its_table(tmp_path):
    ref, new = tmp_path / "ref", tmp_path / "run"
    ref.mkdir(), new.mkdir()
    REF.to_csv(ref / "claims.csv", index=False)
    RUN.to_csv(new / "claims.csv", index=False)
    res = run([PY, "-m", "flatenn", "compare", "--ref", str(ref), "--run", str(new), "--out", str(tmp_path / "c.csv")])
    assert "verdicts: 1 of 3" in res.stdout and "verdicts that differ" in res.stdout
    assert len(pd.read_csv(tmp_path / "c.csv")) == 3
    bad = run([PY, "-m", "flatenn", "compare", "--ref", str(tmp_path), "--run", str(new)], check=False)
    assert bad.returncode == 2 and bad.stderr.strip() == f"flatenn compare: error: --ref/--run: no claims.csv in {tmp_path}"

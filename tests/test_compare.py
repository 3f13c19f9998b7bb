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
    text = compare.summary(compare.claims(REF, RUN), pd.DataFrame({"identical": [True, False]}))
    assert text.splitlines()[0] == ("verdicts: 1 of 3 claims rows agree with the reference "
                                    "(1 missing from the run: another config or plan?)")
    assert "largest shift 1.50 half-widths" in text and "tables: 1 of 2 identical" in text


def test_tables_identical_to_the_byte_or_not(tmp_path):
    ref, new = tmp_path / "ref", tmp_path / "run"
    ref.mkdir(), new.mkdir()
    for d, text in ((ref, "a\n1.0\n"), (new, "a\n1.0\n")):
        (d / "same.csv").write_text(text)
    (ref / "moved.csv").write_text("a\n1.0\n")
    (new / "moved.csv").write_text("a\n1.0000001\n")
    (ref / "only_ref.csv").write_text("a\n")
    (ref / "runtime.csv").write_text("rule,seconds\n")
    rows = compare.tables(ref, new).set_index("table")
    assert rows.to_dict("index") == {"moved.csv": {"in_run": True, "identical": False},
                                     "only_ref.csv": {"in_run": False, "identical": False},
                                     "same.csv": {"in_run": True, "identical": True}}


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

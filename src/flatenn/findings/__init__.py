"""Findings in words, each read off generated tables, never typed: ``claims`` (a study's
findings.md), ``mechanism`` (mechanism_findings.md), ``budget`` (budget_findings.md) and
``readme`` (the README's one row per claim)."""
from flatenn.findings.budget import ladder_findings
from flatenn.findings.claims import family_verdict, findings, treatment
from flatenn.findings.mechanism import mechanism_findings
from flatenn.findings.readme import findings_rows, findings_table, readme_with_findings

__all__ = ["family_verdict", "findings", "findings_rows", "findings_table", "ladder_findings", "mechanism_findings",
           "readme_with_findings", "treatment"]

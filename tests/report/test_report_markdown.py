"""summary.md: the verdict, the cascade and the misses, short enough for a pull-request comment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chaos.report.markdown import CASCADE_ROWS, MISSED_ROWS, cell

PR_COMMENT_BUDGET = 4000  # characters: readable without scrolling past a screen or two


def test_summary_of_a_failing_run(failing_doc: dict[str, Any], failing_reports: dict[str, Path]) -> None:
    text = failing_reports["markdown"].read_text()
    lines = text.splitlines()
    assert lines[0] == f"### ❌ chaoslab: `{failing_doc['experiment']}`: checks FAILED"
    verdict = [line for line in lines if line.startswith("- ")][:4]
    assert verdict[0].startswith("- ❌ SLOs missed:")
    assert verdict[1].startswith("- ✅ Deadlines met: 1 of 1")
    assert verdict[2].startswith("- ✅ Time to detect: 12 s")
    assert verdict[3].startswith("- ❌ Blast radius:")
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| #")]
    assert [row.split(" | ")[1] for row in rows] == [c["service"] for c in failing_doc["blast_radius"]["cascade"]]
    missed = [s for s in failing_doc["slos"] if not s["met"]]
    assert f"**Missed** ({len(missed)}):" in text
    for slo in missed:
        assert f"error ratio of {slo['scope']} was {slo['observed'] * 100:.1f}%" in text


def test_summary_of_a_healthy_run(healthy_reports: dict[str, Path]) -> None:
    text = healthy_reports["markdown"].read_text()
    assert text.startswith("### ✅ chaoslab:")
    assert "all checks held" in text
    assert "Missed" not in text
    assert "No service breached its SLO." in text


def test_summary_stays_short_at_60_services(big_doc: dict[str, Any], big_reports: dict[str, Path]) -> None:
    text = big_reports["markdown"].read_text()
    cascade = big_doc["blast_radius"]["cascade"]
    missed = [s for s in big_doc["slos"] if not s["met"]]
    assert len(cascade) > CASCADE_ROWS and len(missed) > MISSED_ROWS  # both lists must need capping
    assert len(text) < PR_COMMENT_BUDGET
    assert len(text.splitlines()) <= 45
    assert f"_and {len(cascade) - CASCADE_ROWS} more services in report.html_" in text
    assert f"- _and {len(missed) - MISSED_ROWS} more in junit.xml_" in text
    assert f"**Missed** ({len(missed)}):" in text


def test_table_cells_cannot_break_the_table() -> None:
    assert cell("a|b\nc") == "a\\|b c"
    assert cell("back\\slash") == "back\\\\slash"

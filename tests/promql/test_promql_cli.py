"""``chaoslab rules check`` as a user types it, from the corpus directory with relative paths."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from chaos.cli import main

CORPUS = Path(__file__).parent / "corpus"
ROOT = Path(__file__).parents[2]


def test_the_command_in_docs_alerts_md_runs_as_printed(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    lines = [line for line in (ROOT / "docs" / "alerts.md").read_text().splitlines()
             if line.startswith("chaoslab rules check ")]
    assert lines
    monkeypatch.chdir(ROOT)
    for line in lines:
        assert main(shlex.split(line)[1:]) == 0
        assert "SLO cart/requests-availability: 99% over 30d" in capsys.readouterr().out


def test_rules_check_prints_the_alerts_files_define(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(CORPUS)
    assert main(["rules", "check", "sloth/cart-slo.yaml", "openslo/operator.yaml"]) == 0
    out = capsys.readouterr().out
    assert "sloth/cart-slo.yaml: 3 groups, 2 alerts, 14 recording rules, from 1 SLO" in out
    assert "CartHighErrorRate (page): 5m and 1h above 14.4x the budget, or 30m and 6h above 6x" in out
    assert "alert  CheckoutErrors  (for 2m)  {severity=\"page\"}" in out


def test_rules_check_reports_a_mistake_at_its_line_and_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bad.yaml").write_text("groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: rate(x[5m]\n")
    assert main(["rules", "check", "bad.yaml"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == ("bad.yaml:5:15: groups[0].rules[0].expr: "
                                    "PromQL syntax error: unclosed left parenthesis")


def test_rules_check_shows_control_characters_of_a_rule_file_never_obeys_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # A label value may hold any text; what rules check prints passes the same output boundary as every
    # command's (chaos.terminal): an escape sequence in a colleague's rule file cannot rewrite the screen.
    monkeypatch.chdir(tmp_path)
    Path("r.yaml").write_text('groups:\n  - name: "g\\e[2J"\n    rules:\n      - alert: A\n        expr: up == 0\n'
                              '        labels: {severity: "page\\e]0;title\\a"}\n')
    assert main(["rules", "check", "r.yaml"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "group g\\x1b[2J " in out and 'severity="page\\x1b]0;title\\x07"' in out

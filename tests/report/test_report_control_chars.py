"""A result.json whose strings hold control characters (from a hostile experiment, or edited by hand).

``chaoslab report`` reads result.json from anywhere, whatever the parser allows in names: every
report and every line on the terminal shows those characters as escapes, and junit.xml stays
XML that a strict parser reads.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from reportkit import make_doc, with_playbook

from chaos.cli import main
from chaos.document import read
from chaos.errors import InputError
from chaos.incident_states import StepStatus

ESC, BEL, CSI, RLO = "\x1b", "\x07", "\x9b", "\u202e"
HIDDEN = (ESC, BEL, CSI, RLO, "\r")


def hostile(doc: dict[str, Any]) -> dict[str, Any]:
    doc["experiment"] = f"{ESC}[31mred{BEL}{RLO}"
    doc["topology"] = f"top{ESC}[2J"
    doc["faults"][0]["label"] = f"slow{CSI}1m"
    doc["alerts"][0]["name"] = doc["detections"][0]["alert"] = doc["alert_expectations"][0]["alert"] = f"a{BEL}\rok"
    doc["audit"]["inputs"] = {f"experiments/x{ESC}]0;t{BEL}.yaml": {"sha256": "ab" * 32}}
    return doc


def test_every_report_and_the_terminal_show_the_escapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "result.json").write_text(json.dumps(hostile(make_doc())))  # JSON escapes them: \u001b
    assert main(["report", str(run)]) == 1
    out, err = capsys.readouterr()
    assert not any(c in out + err for c in HIDDEN)
    texts = {name: (run / name).read_text(encoding="utf-8") for name in ("summary.md", "report.html", "junit.xml")}
    for name, text in texts.items():
        assert not any(c in text for c in HIDDEN), name
        assert "\\x1b[31mred\\x07\\u202e" in text, name
    assert "a\\x07\\x0dok" in texts["summary.md"] and "slow\\x9b1m" in texts["report.html"]
    junit = ET.fromstring(texts["junit.xml"])  # expat: XML 1.0's rules, which forbid raw C0 characters
    names = {p.get("name") for p in junit.iter("property")}
    assert "input:experiments/x\\x1b]0;t\\x07.yaml" in names


def test_strings_are_shown_after_the_types_are_checked() -> None:
    # The checks read the document as written, so a bad value is quoted as it is (repr escapes it once),
    # not as its escaped form would be quoted (a doubled backslash).
    doc = with_playbook(make_doc())
    doc["playbook"]["steps"][0]["status"] = f"done{ESC}"
    with pytest.raises(InputError) as caught:
        read(doc, "run/result.json")
    message = str(caught.value)
    assert "playbook.steps[0].status: 'done\\x1b' is not one of" in message
    assert "\\\\x1b" not in message


def test_the_checked_report_shows_every_string_and_keeps_states_and_numbers() -> None:
    doc = with_playbook(make_doc())
    service = next(iter(doc["services"]))
    doc["services"][f"{service}{ESC}[2J"] = doc["services"].pop(service)
    scope = next(iter(doc["series"]["scopes"]))
    doc["series"]["scopes"][f"{scope}{RLO}"] = doc["series"]["scopes"].pop(scope)
    doc["playbook"]["steps"][0]["note"] = f"done{BEL}"
    report = read(doc)
    assert f"{service}\\x1b[2J" in report.services and f"{scope}\\u202e" in report.series.scopes
    assert report.playbook is not None and report.playbook.steps[0].note == "done\\x07"
    assert isinstance(report.playbook.steps[0].status, StepStatus)  # a state is an enum, never a string
    assert report.series.t_s == tuple(float(t) for t in doc["series"]["t_s"])


def test_a_deeply_nested_free_form_value_is_shown_without_recursion() -> None:
    # The audit is any JSON: as deep as json.loads reads, walked without recursion (a fault's parameters
    # were too, before they were typed by the fault's kind).
    doc = make_doc()
    depth = sys.getrecursionlimit() + 100
    deep: Any = f"x{ESC}"
    for _ in range(depth):
        deep = [deep]
    doc["audit"]["deep"] = deep
    report = read(doc)
    inner = report.audit["deep"]
    for _ in range(depth):
        inner = inner[0]
    assert inner == "x\\x1b"

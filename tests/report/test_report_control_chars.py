"""A result.json whose strings hold control characters (from a hostile experiment, or edited by hand).

``chaoslab report`` reads result.json from anywhere, whatever the parser allows in names: every
report and every line on the terminal shows those characters as escapes, and junit.xml stays
XML that a strict parser reads.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from reportkit import make_doc

from chaos.cli import main

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

"""docs/traces.md as a user reads it: its command runs as printed, and its example output is what chaoslab prints."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from tracekit import FIXTURES

from chaos.cli import main

ROOT = Path(__file__).parents[2]
DOC = (ROOT / "docs" / "traces.md").read_text()


def blocks() -> list[list[str]]:
    parts = DOC.split("```")
    return [p.strip("\n").splitlines() for p in parts[1::2]]


def test_the_command_runs_as_printed_and_prints_what_the_page_shows(monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    command, shown, _ = blocks()[:3]
    assert command[0].startswith("chaoslab traces inspect ")
    monkeypatch.chdir(ROOT)
    assert main(shlex.split(command[0])[1:]) == 0
    out = capsys.readouterr().out.splitlines()
    for line in shown:
        if line == "...":
            continue
        if line.endswith("..."):
            assert any(o.startswith(line[:-3]) for o in out), line
        else:
            assert line in out, line


def test_the_error_examples_are_what_chaoslab_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    errors = blocks()[2]
    lines = (FIXTURES / "small-otlp.jsonl").read_text().splitlines()
    broken_comma = lines[:2] + [lines[2].replace('"kind": 2,', '"kind": 2 ', 1)] + lines[3:]
    request = json.loads(lines[1])
    del request["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["spanId"]
    missing_id = [lines[0], json.dumps(request)]
    monkeypatch.chdir(tmp_path)
    for text, expected in zip((broken_comma, missing_id), errors, strict=True):
        Path("traces.jsonl").write_text("\n".join(text) + "\n")
        assert main(["traces", "inspect", "traces.jsonl"]) == 2
        assert capsys.readouterr().err.strip() == expected

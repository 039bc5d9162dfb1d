"""docs/traces.md as a user reads it: its commands run as printed, and its example output is what chaoslab prints."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from tracekit import FIXTURES, Derived

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


def block_after(first: str) -> tuple[list[str], list[str]]:
    """The code block whose first line starts with ``first``, and the block after it (empty when last)."""
    all_blocks = blocks() + [[]]
    i = next(i for i, b in enumerate(all_blocks) if b and b[0].startswith(first))
    return all_blocks[i], all_blocks[i + 1]


def shown_in(shown: list[str], out: list[str]) -> None:
    for line in shown:
        if line.strip() == "...":
            continue
        if line.endswith("..."):
            assert any(o.startswith(line[:-3].rstrip()) for o in out), line
        else:
            assert line in out, line


def run_as_printed(line: str) -> int:
    return main(shlex.split(line, comments=True)[1:])


def test_from_traces_runs_as_printed_and_writes_what_the_page_shows(
        plain_traces: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    command, shown = block_after("chaoslab topology from-traces")
    monkeypatch.chdir(tmp_path)
    Path("traces.jsonl").write_bytes(plain_traces.read_bytes())
    assert run_as_printed(command[0]) == 0
    shown_in(shown, capsys.readouterr().out.splitlines())
    excerpt = next(b[1:] for b in blocks() if b and b[0] == "yaml")
    shown_in(excerpt, Path("topology.yaml").read_text().splitlines())
    assert main(["validate", "topology.yaml"]) == 0


def test_fidelity_and_calibrate_run_as_printed(derived: Derived, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    commands, _ = block_after("chaoslab traces fidelity")
    monkeypatch.chdir(tmp_path)
    Path("traces.jsonl").write_bytes(derived.traces.read_bytes())
    mine = re.sub(r"(  recommend:\n(?:    .*\n)*?    service_time: )\{[^}]*\}",
                  r"\1{dist: lognormal, median: 12ms, p99: 40ms}", derived.text)
    Path("mine.yaml").write_text(mine)
    codes = [run_as_printed(line) for line in commands]
    said = [int(m[1]) if (m := re.search(r"# exit (\d)", line)) else 0 for line in commands]
    assert codes == said == [1, 0, 0]
    assert "service:recommend on p50_ms" in capsys.readouterr().out

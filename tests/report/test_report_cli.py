"""``chaoslab report RUN_DIR`` and the reports ``chaoslab simulate`` writes, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from reportkit import healthy

from chaos.cli import main
from chaos.report import REPORT_FILES

REPO = Path(__file__).resolve().parents[2]
TINY = """
name: tiny
topology: {topology}
duration: 20s
warmup: 2s
seed: 3
load: {{profile: constant, rate: 60}}
faults:
  - {{name: db-slow, kind: slowdown, target: db, factor: 20, at: 6s, duration: 8s}}
slos:
  - {{entrypoint: browse, error_ratio: 0.01}}
"""


def run_dir(tmp_path: Path, doc: dict[str, Any]) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    (out / "result.json").write_text(json.dumps(doc))
    return out


def test_report_recreates_the_files_and_exits_with_the_verdict(failing_doc: dict[str, Any], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = run_dir(tmp_path, failing_doc)
    assert main(["report", str(out)]) == 1
    for name in REPORT_FILES.values():
        assert (out / name).stat().st_size > 0
    assert f"Report: {out / 'report.html'}" in capsys.readouterr().out
    assert json.loads((out / "result.json").read_text()) == failing_doc  # result.json is left as it was


def test_report_of_a_healthy_run_exits_0(failing_doc: dict[str, Any], tmp_path: Path) -> None:
    out = run_dir(tmp_path, healthy(failing_doc))
    assert main(["report", str(out), "--quiet", "--out", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / "junit.xml").exists()
    assert not (out / "junit.xml").exists()


def test_report_of_a_missing_directory_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'nope' / 'result.json'}: no such file" in err
    assert "hint:" in err


def test_report_of_broken_json_names_the_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "result.json").write_text('{"engine": "sim",\n  "services": oops}')
    assert main(["report", str(tmp_path)]) == 2
    assert f"{tmp_path / 'result.json'}:2:15: not valid JSON" in capsys.readouterr().err


def test_report_of_a_document_missing_a_section(failing_doc: dict[str, Any], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    doc = {k: v for k, v in failing_doc.items() if k != "blast_radius"}
    assert main(["report", str(run_dir(tmp_path, doc))]) == 2
    assert "not a chaoslab result: missing 'blast_radius'" in capsys.readouterr().err


def test_simulate_writes_the_reports_unless_told_not_to(tmp_path: Path) -> None:
    experiment = tmp_path / "tiny.yaml"
    experiment.write_text(TINY.format(topology=REPO / "topologies" / "shop.yaml"))
    cmd = [sys.executable, "-m", "chaos", "simulate", str(experiment), "--no-progress"]
    done = subprocess.run([*cmd, "--out", str(tmp_path / "a")], capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    assert f"Report: {tmp_path / 'a' / 'report.html'}" in done.stdout
    for name in REPORT_FILES.values():
        assert (tmp_path / "a" / name).exists()
    done = subprocess.run([*cmd, "--out", str(tmp_path / "b"), "--no-report"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode in (0, 1), done.stderr
    assert "Report:" not in done.stdout
    assert (tmp_path / "b" / "result.json").exists()
    assert not any((tmp_path / "b" / name).exists() for name in REPORT_FILES.values())
    # The reports re-created later from result.json alone are the same bytes.
    assert main(["report", str(tmp_path / "b"), "--quiet"]) == done.returncode
    junit_a = (tmp_path / "a" / "junit.xml").read_text()
    junit_b = (tmp_path / "b" / "junit.xml").read_text()
    strip = [line for line in junit_a.splitlines() if "timestamp" not in line and "input:" not in line]
    assert strip == [line for line in junit_b.splitlines() if "timestamp" not in line and "input:" not in line]


def test_help_does_not_import_matplotlib() -> None:
    code = ("import sys; from chaos.cli import build_parser; build_parser(); import chaos.report; "
            "print('matplotlib' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"

"""``simulate --openmetrics FILE --annotations FILE --origin TIME``: checked before the run, written whole.

Every bad argument is the bad-input contract: exit code 2, one line naming the option (and a
hint), no traceback, and nothing written, neither the results nor an export; it is refused
before the simulation, so it costs no run (a deadline well under the run's time checks that).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hang_guard import deadline
from metrickit import write

from chaos.cli import main

ORIGIN = "2026-12-01T10:00:00Z"




@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "", duration="30s", fault_at="10s")
    return tmp_path


def refused(capsys: pytest.CaptureFixture[str], workdir: Path, args: list[str]) -> str:
    before = sorted(p.name for p in workdir.iterdir())
    with deadline(60):  # a hang guard; "nothing written" below shows the check came before the simulation
        code = main(["simulate", "experiment.yaml", "--out", "out", "--no-progress", *args])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in err and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("  hint: ")), err
    assert sorted(p.name for p in workdir.iterdir()) == before  # nothing written
    return err


@pytest.mark.parametrize(("origin", "message"), [
    ("yesterday", "--origin: 'yesterday' is not a time"),
    ("2026-12-01T10:00:00", "--origin: '2026-12-01T10:00:00' has no time zone"),
    ("1960-01-01T00:00:00Z", "--origin: '1960-01-01T00:00:00Z' is before 1970"),
    ("-5", "--origin: -5 is out of range: must be at least 0"),
    (".nan", "--origin: .nan is not a finite number"),
    ("1e20", "--origin: 1e20 is out of range: must be at most 253,402,300,799"),
    ("[1", "--origin: '[1' is not a value chaoslab can read: YAML syntax error"),
])
def test_a_bad_origin_is_refused_by_the_argument_rules(origin: str, message: str, workdir: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, workdir, ["--openmetrics", "x.om", "--origin", origin])
    assert err.startswith(message), err


def test_an_origin_needs_an_export(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, workdir, ["--origin", ORIGIN])
    assert err == "--origin: --origin places --openmetrics and --annotations; give one of them\n"


def test_bad_export_files_are_refused_before_the_run(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(workdir / "fifo.om")
    (workdir / "dir.om").mkdir()
    (workdir / "plain").write_text("", encoding="utf-8")
    (workdir / "out").mkdir()  # a results directory a run wrote earlier (empty: nothing chaoslab did not write)
    cases = [
        (["--openmetrics", "fifo.om"], "--openmetrics fifo.om: a FIFO (named pipe), not a file"),
        (["--annotations", "dir.om"], "--annotations dir.om: a directory, not a file"),
        (["--openmetrics", "plain/x.om"], "--openmetrics plain/x.om: cannot be created: plain is a file"),
        (["--openmetrics", "/dev/null"], "--openmetrics /dev/null: a character device, not a file"),
        (["--openmetrics", "out/metrics.om"],
         "--openmetrics out/metrics.om: lies inside the results directory out, which a run replaces as a whole"),
        (["--openmetrics", "same.json", "--annotations", "./same.json"],
         "--annotations same.json: is also the file of --openmetrics"),
    ]
    for args, message in cases:
        err = refused(capsys, workdir, [*args, "--origin", ORIGIN])
        assert err.splitlines()[0] == message, err
    err = refused(capsys, workdir, ["--openmetrics", "out/m.om"])
    assert "hint: write it beside the results, e.g. --openmetrics out-export/m.om" in err


def test_exports_replace_earlier_files_whole(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "export").mkdir()
    (workdir / "export" / "run.om").write_text("an earlier export\n", encoding="utf-8")
    args = ["simulate", "experiment.yaml", "--out", "out", "--no-progress", "--no-report",
            "--openmetrics", "export/run.om", "--annotations", "export/notes.json", "--origin", "1796119200"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Exported: export/run.om (" in printed and "second 0 at 2026-12-01T10:00:00Z" in printed
    assert "Exported: export/notes.json (1 Grafana annotations)" in printed
    text = (workdir / "export" / "run.om").read_text(encoding="utf-8")
    assert text.startswith("# TYPE ") and text.endswith("# EOF\n")
    assert json.loads((workdir / "export" / "notes.json").read_text(encoding="utf-8"))[0]["time"] == 1796119210000
    assert sorted(p.name for p in (workdir / "export").iterdir()) == ["notes.json", "run.om"]  # no temporary left
    assert main([*args, "--quiet"]) == 0  # again: the run's directory and the exports are replaced
    assert capsys.readouterr().out == ""

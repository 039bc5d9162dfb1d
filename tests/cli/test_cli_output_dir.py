"""Where the commands write, as a user types them: from a working directory, relative paths, default options.

An experiment file from a colleague's branch must never write outside ``./runs/`` by its name,
``--out`` is checked before anything runs, a run that fails while writing leaves its complete
earlier directory or none, and control characters never reach the terminal.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chaos import outdir
from chaos.cli import main

TOPOLOGY = """\
name: pair
services:
  api:
    workers: 4
    service_time: 5ms
    calls:
      - {to: db, timeout: 200ms}
  db:
    service_time: {dist: exponential, mean: 2ms}
entrypoints:
  web: {to: api, timeout: 3s}
"""

EXPERIMENT = """\
name: {name}
description: {description}
topology: topo.yaml
duration: {duration}
warmup: 2s
seed: 3
load: {{profile: constant, rate: 20}}
faults:
  - {{kind: latency, target: db, at: 5s, duration: 5s, delay: 100ms}}
slos:
  - {{entrypoint: web, error_ratio: 0.01}}
"""

RESULTS = ["junit.xml", "report.html", "result.json", "series.csv", "summary.md"]
HIDDEN = ("\x1b", "\x07", "\x9b", "\u202e")


def quoted(text: str) -> str:
    """A YAML double-quoted scalar, control characters as YAML escapes (as a user would write them)."""
    return json.dumps(text)


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory (with a sibling the relative escapes would reach) holding topo.yaml."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "topo.yaml").write_text(TOPOLOGY)
    monkeypatch.chdir(cwd)
    return cwd


def experiment(name: str, description: str = "plain", duration: str = "20s", file: str = "exp.yaml") -> str:
    Path(file).write_text(EXPERIMENT.format(name=quoted(name), description=quoted(description), duration=duration))
    return file


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def refused_name(code: int, err: str) -> bool:
    """The parser refused the name (or description) itself, as a rule at parse time may: then nothing is written."""
    return code == 2 and (": name:" in err or ": description:" in err)


# --------------------------------------------------------------------------- the default directory


@pytest.mark.parametrize("name", ["../escaped-by-name", "ABSOLUTE", "a" * 300, "\x1b[31mred\x07bell", "..", "",
                                  "../../../../../../../../../../UNIQUE"],
                         ids=["parent", "absolute", "300-characters", "ansi", "dot-dot", "empty", "many-parents"])
def test_a_hostile_experiment_name_writes_only_under_runs(work: Path, name: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    outside = work.parent / "abs-name"
    at_root = Path("/tmp", f"chaoslab-dots-{uuid.uuid4().hex}")  # ten levels up from the cwd is /
    name = name.replace("ABSOLUTE", str(outside)).replace("UNIQUE", str(at_root).lstrip("/"))
    file = experiment(name)
    before = files_under(work.parent)
    code = main(["simulate", file, "--no-progress", "--no-report"])
    out, err = capsys.readouterr()
    new = files_under(work.parent) - before
    if refused_name(code, err):
        assert new == set()
        return
    assert code == 0, err
    assert new, "the run wrote nothing"
    runs = work / "runs"
    assert all(p == runs or runs in p.parents for p in new), sorted(new - files_under(runs))
    (run_dir,) = runs.iterdir()
    assert sorted(os.listdir(run_dir)) == ["result.json", "series.csv"]
    assert f"Results: runs/{run_dir.name}/result.json, runs/{run_dir.name}/series.csv" in out
    assert not outside.exists() and not at_root.exists()
    assert not any(c in out + err for c in HIDDEN)


def test_every_command_that_writes_a_directory_derives_it_from_the_safe_name(
        work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    experiment("../up/and away")
    safe = outdir.safe_name("../up/and away")
    assert safe.startswith("up_and_away-")
    code = main(["drill", "exp.yaml", "--playbook", _playbook(), "--runs", "2", "--workers", "1",
                 "--no-progress", "--quiet", "--no-report"])
    if refused_name(code, capsys.readouterr().err):
        pytest.skip("names are restricted at parse time: test_outdir_rules.py checks the rule on its own")
    assert code in (0, 1)
    assert main(["sweep", "exp.yaml", "--set", "load.rate=10,20", "--seeds", "1", "--executor", "inline",
                 "--no-progress"]) == 0
    assert sorted(os.listdir("runs")) == [f"{safe}-drill", f"{safe}-sweep"]
    assert not (work.parent / "up").exists()


def _playbook() -> str:
    Path("pb.yaml").write_text("name: respond\ntrigger: {at: 6s}\nroles: {oncall: {respond: 1s}}\n"
                               "steps:\n  - {name: fix it, role: oncall, action: {kind: remove_fault, fault: f1},"
                               " mitigates: true}\n")
    text = Path("exp.yaml").read_text().replace("- {kind: latency", "- {name: f1, kind: latency")
    Path("exp.yaml").write_text(text)
    return "pb.yaml"


# --------------------------------------------------------------------------- --out checked before the run


@pytest.fixture
def no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any simulation, drill or sweep starting fails the test: the check must come first."""
    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("the run started before --out was checked")
    import chaos.drill
    import chaos.live.gameday.run
    import chaos.sim.replications
    import chaos.sweep.runner
    monkeypatch.setattr(chaos.sim.replications, "simulate_replications", started)
    monkeypatch.setattr(chaos.drill, "drill", started)
    monkeypatch.setattr(chaos.sweep.runner, "run_sweep", started)
    monkeypatch.setattr(chaos.live.gameday.run, "run_game_day", started)


@pytest.mark.parametrize("command", [
    ["simulate", "exp.yaml"],
    ["drill", "exp.yaml", "--playbook", "pb.yaml"],
    ["sweep", "exp.yaml", "--each-service", "crash"],
    ["run", "exp.yaml", "--dry-run"],
    ["compare", "runs/a", "runs/b"],
    ["compare", "exp.yaml"],
    ["report", "runs/a"],
    ["diff", "topo.yaml", "topo.yaml", "--experiments", "."],
], ids=lambda c: c[0])
def test_out_naming_an_existing_file_is_refused_before_anything_runs(work: Path, command: list[str], no_run: None,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    experiment("outage", duration="10h")  # would take hours to simulate
    _playbook()
    Path("taken").write_text("precious")
    code = main([*command, "--out", "taken"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("--out taken: a file, not a directory\n"), err
    assert Path("taken").read_text() == "precious"
    assert not Path("runs").exists()


@pytest.mark.parametrize("special", ["fifo", "/dev/null"])
def test_out_naming_a_fifo_or_a_device_is_refused(work: Path, special: str, no_run: None,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    if special == "fifo":
        os.mkfifo(special)
    code = main(["simulate", experiment("outage"), "--out", special])
    assert code == 2
    assert capsys.readouterr().err.startswith(f"--out {special}: a ")


def test_a_directory_with_other_files_is_not_replaced(work: Path, no_run: None,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    Path("mine").mkdir()
    Path("mine/notes.txt").write_text("mine")
    assert main(["simulate", experiment("outage"), "--out", "mine"]) == 2
    assert "holds files chaoslab did not write (notes.txt)" in capsys.readouterr().err
    assert os.listdir("mine") == ["notes.txt"]


# --------------------------------------------------------------------------- whole or nothing


def _fail_last_report(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    """report.html is the last file a run writes: its renderer fails, as a full disk would."""
    import chaos.report.html

    def broken(*args: object, **kwargs: object) -> str:
        raise exc
    monkeypatch.setattr(chaos.report.html, "render_html", broken)


def test_a_run_that_fails_writing_its_last_file_leaves_no_directory(work: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    _fail_last_report(monkeypatch, OSError(errno.ENOSPC, "No space left on device"))
    code = main(["simulate", experiment("outage"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 3
    assert err == ("chaoslab: could not write the results into runs/outage: No space left on device; nothing was "
                   "written\n  hint: free some space or fix the permissions, or choose another --out\n")
    assert os.listdir("runs") == []  # no partial directory, no staging directory


def test_a_failure_of_any_kind_while_writing_leaves_the_earlier_results_whole(work: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["simulate", experiment("outage"), "--no-progress", "--quiet"]) == 0
    earlier = {name: Path("runs/outage", name).read_bytes() for name in RESULTS}
    experiment("outage", duration="30s")
    _fail_last_report(monkeypatch, RuntimeError("a bug in the report"))
    with pytest.raises(RuntimeError):
        main(["simulate", "exp.yaml", "--no-progress", "--quiet"])
    assert {name: Path("runs/outage", name).read_bytes() for name in os.listdir("runs/outage")} == earlier
    assert os.listdir("runs") == ["outage"]


def test_a_result_that_cannot_be_encoded_leaves_no_series_without_it(work: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import chaos.result

    def nan(doc: object) -> str:
        raise ValueError("Out of range float values are not JSON compliant")
    monkeypatch.setattr(chaos.result, "to_json", nan)  # what a NaN in the document did
    with pytest.raises(ValueError):
        main(["simulate", experiment("outage"), "--no-progress", "--quiet"])
    assert os.listdir("runs") == []


def test_a_new_run_replaces_the_earlier_directory_whole(work: Path) -> None:
    assert main(["simulate", experiment("outage"), "--no-progress", "--quiet"]) == 0
    assert sorted(os.listdir("runs/outage")) == RESULTS
    assert main(["simulate", "exp.yaml", "--no-progress", "--quiet", "--no-report"]) == 0
    assert sorted(os.listdir("runs/outage")) == ["result.json", "series.csv"]  # no report of the earlier run
    assert os.listdir("runs") == ["outage"]


def test_report_adds_its_files_to_the_run_and_changes_nothing_else(work: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", experiment("outage"), "--no-progress", "--quiet", "--no-report"]) == 0
    data = {n: Path("runs/outage", n).read_bytes() for n in ("result.json", "series.csv")}
    import chaos.report.html
    real = chaos.report.html.render_html
    _fail_last_report(monkeypatch, OSError(errno.EIO, "Input/output error"))
    assert main(["report", "runs/outage"]) == 3
    assert "its earlier content is unchanged" in capsys.readouterr().err
    assert sorted(os.listdir("runs/outage")) == ["result.json", "series.csv"]
    monkeypatch.setattr(chaos.report.html, "render_html", real)
    assert main(["report", "runs/outage", "--quiet"]) in (0, 1)
    assert sorted(os.listdir("runs/outage")) == RESULTS
    assert {n: Path("runs/outage", n).read_bytes() for n in data} == data


def test_every_file_a_run_writes_is_one_chaoslab_knows_it_wrote(work: Path) -> None:
    experiment("outage")
    assert main(["simulate", "exp.yaml", "--no-progress", "--quiet"]) == 0
    assert main(["report", "runs/outage", "--figures", "--quiet"]) in (0, 1)
    assert main(["sweep", "exp.yaml", "--set", "load.rate=10,20", "--seeds", "1", "--executor", "inline",
                 "--no-progress", "--out", "runs/outage-sweep"]) == 0
    written = set(os.listdir("runs/outage")) | set(os.listdir("runs/outage-sweep"))
    assert written <= outdir.WRITTEN, written - outdir.WRITTEN


def test_a_sweep_that_fails_writing_its_summary_keeps_its_runs_for_resuming(work: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import chaos.sweep.report

    sweep = ["sweep", experiment("outage"), "--set", "load.rate=10,20", "--seeds", "1", "--executor", "inline",
             "--no-progress"]
    real = chaos.sweep.report.markdown

    def full_disk(*args: object, **kwargs: object) -> str:
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(chaos.sweep.report, "markdown", full_disk)
    assert main(sweep) == 3
    assert sorted(os.listdir("runs/outage-sweep")) == ["runs"]  # the per-run files, and nothing half-written
    assert len(list(Path("runs/outage-sweep/runs").glob("*/seed-*.json"))) == 2
    monkeypatch.setattr(chaos.sweep.report, "markdown", real)
    assert main(sweep) == 0
    doc = json.loads(Path("runs/outage-sweep/sweep.json").read_text())
    assert doc["runs"]["reused"] == 2 and doc["runs"]["simulated"] == 0
    assert sorted(os.listdir("runs/outage-sweep")) == ["heatmap.png", "runs", "sweep.json", "sweep.md"]


# --------------------------------------------------------------------------- the terminal


def test_control_characters_in_an_experiment_are_shown_never_obeyed(work: Path) -> None:
    """As a user runs it: the real stdout and stderr, as bytes, from a subprocess."""
    name = "\x1b[31mred\x07bell\u202e"
    experiment(name, description="\x1b[2J\x07 clears the screen")
    os.mkfifo("not-an-out")
    done = subprocess.run([sys.executable, "-m", "chaos", "simulate", "exp.yaml", "--no-progress"],
                          capture_output=True, timeout=300)
    shown = done.stdout + done.stderr
    assert not any(c.encode() in shown for c in HIDDEN), shown[:2000]
    if refused_name(done.returncode, done.stderr.decode()):
        assert b"\\x1b[31m" in done.stderr
        pytest.skip("names are restricted at parse time; the reports are checked with the file name below")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"\\x1b[31mred\\x07bell\\u202e  (sim, seed 3"), done.stdout[:200]
    (run_dir,) = Path("runs").iterdir()
    for name in ("summary.md", "report.html", "junit.xml"):
        text = (run_dir / name).read_text()
        assert not any(c in text for c in HIDDEN), name
        assert "\\x1b[31mred\\x07bell" in text, name
    ET.parse(run_dir / "junit.xml")  # XML 1.0 forbids the raw characters: a strict parser would refuse the file


def test_control_characters_in_paths_and_arguments_are_shown_never_obeyed(work: Path) -> None:
    hostile = "exp\x1b[31m\x07.yaml"
    experiment("outage", file=hostile)
    out_dir = "out\x1b]0;title\x07"
    done = subprocess.run([sys.executable, "-m", "chaos", "simulate", hostile, "--out", out_dir, "--no-progress"],
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert b"Results: out\\x1b]0;title\\x07/result.json" in done.stdout
    for name in ("summary.md", "report.html", "junit.xml"):
        text = (Path(out_dir) / name).read_text()
        assert not any(c in text for c in HIDDEN), name
    junit = ET.parse(Path(out_dir) / "junit.xml")  # the input's path is a property: escaped, so XML stays valid
    assert any("exp\\x1b[31m\\x07.yaml" in (p.get("name") or "") for p in junit.iter("property"))
    bad = subprocess.run([sys.executable, "-m", "chaos", "simulate", hostile, "--seed", "\x1b[31m"],
                         capture_output=True, timeout=60)
    assert bad.returncode == 2 and b"\\x1b[31m" in bad.stderr and b"\x1b" not in bad.stderr

"""One scrape interval per experiment: the simulation's, the generated stack's and the game day's, as typed.

The experiment's ``metrics: scrape_interval`` is what a simulation scrapes at, and so what a stack chaoslab
generates for it scrapes at; ``--scrape-interval`` chooses it only where the experiment writes none, and a
different one is refused at the experiment's line. ``run --dry-run`` and ``stack status`` say which interval is
in force and where it came from; ``compare EXPERIMENT LIVE_RUN_DIR`` simulates at the live run's step. Every
command runs from a copy of the files, with relative paths, as a user types it; none needs Docker (each is
refused, or is a dry run, before anything starts).
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

import pytest

from chaos.cli import main

ROOT = Path(__file__).resolve().parents[2]
GAMEDAY = ROOT / "tests" / "live" / "gameday"
REALSTACK = ROOT / "tests" / "live" / "realstack"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding the game-day tests' trio experiments, the current directory."""
    for name in ("trio.yaml", "compare.yaml", "stack-rules.yaml", "stack-rules-alerts.yaml"):
        shutil.copy(GAMEDAY / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def scrape_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("Scrape:"))


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_dry_run_says_the_interval_in_force_and_where_it_came_from(here: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "compare.yaml", "--dry-run"]) == 0
    assert scrape_line(capsys.readouterr().out) == (
        "Scrape:   Prometheus: scrapes every 1 s (chosen by the stack's size)")
    assert main(["run", "compare.yaml", "--dry-run", "--scrape-interval", "2s"]) == 0
    assert scrape_line(capsys.readouterr().out) == (
        "Scrape:   Prometheus: scrapes every 2 s (set by --scrape-interval); a simulation of compare-trio scrapes "
        "every 1 s (write metrics: scrape_interval: 2s for both to scrape alike)")
    with (here / "compare.yaml").open("a") as f:
        f.write("metrics: {scrape_interval: 2s}\n")
    for extra in ([], ["--scrape-interval", "2"]):  # the same value given twice is no contradiction
        assert main(["run", "compare.yaml", "--dry-run", *extra]) == 0
        assert scrape_line(capsys.readouterr().out) == (
            "Scrape:   Prometheus: scrapes every 2 s (set by the experiment's metrics: scrape_interval)")


@pytest.mark.parametrize("command", [
    ["run", "compare.yaml", "--dry-run", "--scrape-interval", "5"],
    ["run", "compare.yaml", "--scrape-interval", "5"],
    ["stack", "up", "compare.yaml", "--scrape-interval", "5"],
    ["compare", "compare.yaml", "--scrape-interval", "5"],
])
def test_a_scrape_interval_option_that_contradicts_the_experiment_is_refused_at_its_line(
        command: list[str], here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with (here / "compare.yaml").open("a") as f:
        f.write("metrics: {scrape_interval: 2s}\n")
    assert main(command) == 2
    err = capsys.readouterr().err
    line = line_of(here / "compare.yaml", "scrape_interval: 2s")
    assert err.startswith(f"compare.yaml:{line}:")
    assert "metrics.scrape_interval: 2s, but --scrape-interval is 5s" in err and "Traceback" not in err
    assert not (here / "runs").exists() and not (here / ".chaoslab").exists()  # nothing started


@pytest.fixture
def realstack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real-components stack's experiment (a team's own stack, live: prometheus:), the current directory."""
    for name in ("gameday.yaml", "realstack.yaml", "alerts.yaml"):
        shutil.copy(REALSTACK / name, tmp_path / name)
    shutil.copytree(REALSTACK / "stack", tmp_path / "stack")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_teams_prometheus_is_read_at_the_experiments_interval_and_two_written_apart_are_refused(
        realstack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from chaos.live.gameday.run import read_plan
    from chaos.model.files import load_experiment

    assert main(["run", "gameday.yaml", "--dry-run"]) == 0
    assert scrape_line(capsys.readouterr().out) == (
        "Scrape:   Prometheus: read at the scrape interval your Prometheus reports for its targets")
    path = realstack / "gameday.yaml"
    with path.open("a") as f:
        f.write("metrics: {scrape_interval: 2s}\n")
    assert main(["run", "gameday.yaml", "--dry-run"]) == 0
    assert scrape_line(capsys.readouterr().out) == (
        "Scrape:   Prometheus: read every 2 s (the experiment's metrics: scrape_interval)")
    plan = read_plan(load_experiment(Path("gameday.yaml")), None)
    assert plan is not None and plan.scrape_interval == 2  # the step the game day reads at
    path.write_text(path.read_text().replace('    url: "http://127.0.0.1:28490"\n',
                                             '    url: "http://127.0.0.1:28490"\n    scrape_interval: 1s\n'))
    assert main(["validate", "gameday.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gameday.yaml:{line_of(path, 'scrape_interval: 2s')}:")
    assert "metrics.scrape_interval: 2s, but live: prometheus: scrape_interval is 1s" in err
    assert "Traceback" not in err


def live_run(directory: Path, simulated: Path, step: int) -> Path:
    """A run directory as chaoslab run leaves it, of a game day that read its Prometheus at ``step``: the
    figures of a simulation (``simulated``, its result.json), the document of a live run."""
    made = json.loads((simulated / "result.json").read_text())
    made.pop("scrape_interval_s", None)
    made |= {"engine": "live", "live": {"stack": "trio", "stack_kind": "emulator", "run_id": "r1",
                                        "mode": "unattended", "stopped": "completed", "resolution_s": step}}
    directory.mkdir()
    (directory / "result.json").write_text(json.dumps(made))
    return directory


def test_compare_simulates_at_the_live_runs_step_where_the_experiment_writes_none(
        here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """stack-rules.yaml's rule reads rate(...[5s]): on scrapes every second it fires 5 s into api's errors, on
    scrapes every 5 s its range holds one sample, too few for a rate, so it never fires. A game day read at a
    5 s step is therefore compared with a simulation that scrapes every 5 s, not with one that detects."""
    assert main(["simulate", "stack-rules.yaml", "--out", "alone", "--quiet"]) in (0, 1)
    live_run(here / "live", here / "alone", 5)
    alone = json.loads((here / "alone" / "result.json").read_text())
    assert alone["scrape_interval_s"] == 1 and alone["time_to_detect_s"] == 5.0
    main(["compare", "stack-rules.yaml", "live", "--no-calibrate", "--out", "cmp"])
    out = capsys.readouterr().out
    assert "simulating with scrapes every 5 s, the step the live run read its Prometheus at" in out
    sim = json.loads((here / "cmp" / "sim" / "result.json").read_text())
    assert sim["scrape_interval_s"] == 5 and sim["time_to_detect_s"] is None and sim["alerts"] == []
    compared = json.loads((here / "cmp" / "compare.json").read_text())
    assert compared["resolution_s"] == {"predicted": 5, "observed": 5, "same": True}
    assert "Resolution: predicted per second, its rule files evaluated on scrapes every 5 s; observed read from " \
           "Prometheus at a 5 s step; live breach times can be up to 5 s late" in out


def test_compare_keeps_an_interval_the_experiment_writes_and_says_it_differs(
        here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with (here / "stack-rules.yaml").open("a") as f:
        f.write("metrics: {preset: micrometer, scrape_interval: 2s}\n")
    text = (here / "stack-rules.yaml").read_text().replace("metrics: {preset: micrometer}\n", "", 1)
    (here / "stack-rules.yaml").write_text(text)
    assert main(["simulate", "stack-rules.yaml", "--out", "alone", "--quiet"]) in (0, 1)
    live_run(here / "live", here / "alone", 5)  # e.g. a team's Prometheus that scrapes every 5 s
    main(["compare", "stack-rules.yaml", "live", "--no-calibrate", "--out", "cmp"])
    out = capsys.readouterr().out
    assert "simulating with scrapes every" not in out
    compared = json.loads((here / "cmp" / "compare.json").read_text())
    assert compared["resolution_s"] == {"predicted": 2, "observed": 5, "same": False}
    assert "MISMATCH: time to detect can differ by up to 3 s for that alone" in out
    assert "MISMATCH" in (here / "cmp" / "compare.md").read_text()


def test_the_report_shows_the_step_a_live_run_read_at_and_the_notes_it_made(here: Path) -> None:
    from chaos.live.stack.scrape_choice import simulation_mismatch
    from chaos.model.files import load_experiment
    from chaos.report.summary import render

    assert main(["simulate", "stack-rules.yaml", "--out", "alone", "--quiet"]) in (0, 1)
    note = simulation_mismatch(load_experiment(Path("stack-rules.yaml")), 5)  # what the game day notes
    assert note is not None and "a simulation of this experiment scrapes every 1 s" in note
    assert simulation_mismatch(load_experiment(Path("stack-rules.yaml")), 1) is None
    run = live_run(here / "live", here / "alone", 5)
    made = json.loads((run / "result.json").read_text())
    made["live"]["notes"] = made["notes"] = [note]  # a game day's notes are the analysis' too
    (run / "result.json").write_text(json.dumps(made))
    main(["report", "live"])
    step = "Prometheus read at a 5 s step: each step's counts spread over its seconds, so breaches and alerts can " \
           "show up to 5 s late"
    assert f"Resolution: {step}." in (run / "summary.md").read_text()
    assert f"Resolution: {html.escape(step)}." in (run / "report.html").read_text()
    terminal = render(made)  # what chaoslab run prints at its end
    assert f"Resolution:     {step}" in terminal and terminal.count(note) == 1
    main(["report", "alone"])  # a simulation that evaluated rule files says on which scrapes
    assert "Resolution: rule files evaluated on scrapes every 1 s (metrics: scrape_interval)." in \
           (here / "alone" / "summary.md").read_text()


def test_stack_status_says_the_interval_in_force_who_chose_it_and_what_prometheus_reports(here: Path) -> None:
    """The line ``stack status`` prints under the stack's containers (the rest of it needs the stack up)."""
    import dataclasses

    from chaos.commands.live import _scrape_line
    from chaos.live.gameday.stacks import planned_state
    from chaos.live_states import ScrapeSource
    from chaos.model.files import load_experiment

    experiment = load_experiment(Path("compare.yaml"))
    state = dataclasses.replace(planned_state(experiment, here / "stack", 2), prometheus_url="http://127.0.0.1:9")
    assert state.scrape_interval_s == 2 and state.scrape_interval_from is ScrapeSource.OPTION
    line = _scrape_line(state, None)
    assert line.startswith("  prometheus: http://127.0.0.1:9: scrapes every 2 s (set by --scrape-interval); "
                           "not answering: ")

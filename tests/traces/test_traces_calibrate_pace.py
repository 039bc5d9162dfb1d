"""``chaoslab calibrate TRACES --topology T``: where the hops of a request stall together, the calibrated
topology gets the request's pace as ``from-traces`` derives it, and its simulation agrees with the traces.

The traces are test_traces_hop.py's: front calls a, then b, each hop slowed by the request's pace (one
lognormal factor of sigma 1 per request). Without the pace the entrypoint's simulated latency diverges
(test_traces_hop.py shows it for the derived topology, and it is checked here for the calibrated one).
A team's topology names its entrypoint as it likes (``web``): the fidelity report pairs it with the traced
one at the same service, so that the entrypoint is judged too.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml
from test_traces_hop import write_paced_traces

from chaos.cli import main
from chaos.model.files import load_topology

MINE = """\
name: mine
entrypoints:
  web: {to: front%s}
services:
  front:
    workers: 64
    service_time: 2ms
    calls:
      - {to: a}
      - {to: b}
  a: {workers: 64, service_time: 5ms}
  b: {workers: 64, service_time: 5ms}
"""


@pytest.fixture
def traced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write_paced_traces(tmp_path / "traces.jsonl", random.Random(7), shared=True)
    (tmp_path / "mine.yaml").write_text(MINE % "")
    return tmp_path


def test_calibrate_carries_the_pace_that_from_traces_derives(traced: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topology", "from-traces", "traces.jsonl", "--out", "derived.yaml", "--no-fidelity"]) == 0
    assert main(["calibrate", "traces.jsonl", "--topology", "mine.yaml", "--out", "calibrated.yaml"]) == 0
    out = capsys.readouterr().out
    derived, calibrated = load_topology("derived.yaml"), load_topology("calibrated.yaml")
    # one derivation: the same attribute, and every service's times by it, as from-traces writes them
    assert calibrated.attributes == derived.attributes and [a.name for a in calibrated.attributes] == ["pace"]
    for name in ("front", "a", "b"):
        assert calibrated.service(name).service_time == derived.service(name).service_time, name
        by = calibrated.service(name).service_time_by
        assert by is not None and by == derived.service(name).service_time_by, name
    assert "a by pace: p1 " in out
    assert calibrated.service("front").calls == load_topology("mine.yaml").service("front").calls  # kept as written

    # The calibrated topology's simulation agrees with the traces on every figure, the entrypoint ('web',
    # paired with the traced 'GET /work' at front) included; drawn hop by hop it does not.
    assert main(["traces", "fidelity", "calibrated.yaml", "traces.jsonl"]) == 0, capsys.readouterr().out
    said = capsys.readouterr().out
    assert "entrypoint:web              p50_ms" in said and "not judged" not in said
    drawn_apart = yaml.safe_load(Path("calibrated.yaml").read_text())
    del drawn_apart["attributes"]
    for service in drawn_apart["services"].values():
        del service["service_time_by"]
    Path("apart.yaml").write_text(yaml.safe_dump(drawn_apart))
    assert main(["traces", "fidelity", "apart.yaml", "traces.jsonl"]) == 1
    assert "DIVERGE: entrypoint:web on p" in capsys.readouterr().out


def test_calibrating_again_replaces_the_pace_and_drops_it_where_the_traces_show_none(
        traced: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "traces.jsonl", "--topology", "mine.yaml", "--out", "once.yaml"]) == 0
    assert main(["calibrate", "traces.jsonl", "--topology", "once.yaml", "--out", "twice.yaml"]) == 0
    assert "the topology's earlier pace replaced" in capsys.readouterr().out
    once, twice = load_topology("once.yaml"), load_topology("twice.yaml")
    assert twice.attributes == once.attributes
    assert all(twice.service(s.name) == s for s in once.services)  # calibrating twice changes nothing
    # Traces whose hops stall apart show no pace: the calibrated times are drawn hop by hop again.
    write_paced_traces(traced / "apart.jsonl", random.Random(7), shared=False)
    assert main(["calibrate", "apart.jsonl", "--topology", "once.yaml", "--out", "apart.yaml"]) == 0
    assert "a: its times by an earlier pace removed" in capsys.readouterr().out
    apart = load_topology("apart.yaml")
    assert all(s.service_time_by is None for s in apart.services)


def test_a_pace_of_the_teams_own_is_not_overwritten(traced: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("own.yaml").write_text(MINE % "" + "attributes:\n  pace: {probability: 0.5}\n")
    assert main(["calibrate", "traces.jsonl", "--topology", "own.yaml", "--out", "calibrated.yaml"]) == 2
    err = capsys.readouterr().err
    assert "own.yaml: attributes.pace" in err and "rename your attribute" in err
    assert not Path("calibrated.yaml").exists()


def test_an_entry_timeout_below_the_traced_successes_is_said(traced: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The traces show the entry service's side: requests it finished after the client gave up are successes
    there, failures in a simulation with the client's timeout."""
    Path("timed.yaml").write_text(MINE % ", timeout: 30ms")
    assert main(["calibrate", "traces.jsonl", "--topology", "timed.yaml", "--out", "calibrated.yaml"]) == 0
    code = main(["traces", "fidelity", "calibrated.yaml", "traces.jsonl"])
    out = capsys.readouterr().out
    assert "entrypoint:web: its clients' timeout, 30 ms, is below the traced p90 of its successful requests" in out
    report = json.loads(Path("calibrated.fidelity.json").read_text())
    failed = next(c for c in report["checks"] if c["scope"] == "entrypoint:web" and c["figure"] == "error_ratio")
    assert code == 1 and failed["ok"] is False and failed["simulated"] > 0.1 and failed["traced"] == 0
    assert any(c.startswith("entrypoint:web: its clients' timeout") for c in report["caveats"])
    assert "its own hop to the entry service" in Path("calibrated.fidelity.md").read_text()


def test_an_operation_given_its_own_time_gets_its_own_times_by_the_pace(
        traced: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A service's times by pace reach only its operations without a time of their own: an operation that
    calibrate gives its own time gets its own times by the pace too (it was drawn without it before, and the
    command said so), or its hops would no longer stall with the request's others."""
    Path("ops.yaml").write_text((MINE % "").replace("  b: {workers: 64, service_time: 5ms}",
                                                    "  b: {workers: 64, service_time: 5ms, operations: {work: {}}}"))
    assert main(["calibrate", "traces.jsonl", "--topology", "ops.yaml", "--out", "calibrated.yaml"]) == 0
    out = capsys.readouterr().out
    assert "b.work by pace: p1 " in out and "drawn without the pace" not in out, out
    b = load_topology("calibrated.yaml").service("b")
    by = b.operation_of("work").service_time_by
    assert b.service_time_by is not None and by is not None and by.attribute == "pace"
    # the traced service has one operation: its times by pace are the service's
    assert [(v.name, v.service_time) for v in by.values] == [(v.name, v.service_time) for v in b.service_time_by.values]
    assert main(["traces", "fidelity", "calibrated.yaml", "traces.jsonl"]) == 0, capsys.readouterr().out

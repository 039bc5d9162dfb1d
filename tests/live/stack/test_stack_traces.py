"""A generated stack with tracing on: each emulator writes its spans to a directory mounted from the
stack's, and a run merges the replicas' files in time order."""

from __future__ import annotations

import json
from pathlib import Path

from test_stack_plan import make_plan

from chaos.live.gameday.run import collect_traces
from chaos.live.stack import emulator_stack as stack
from chaos.model.topology import Topology


def test_tracing_adds_the_flag_and_the_mount_to_every_emulator_and_clears_old_spans(trio: Topology,
                                                                                   tmp_path: Path) -> None:
    plain, traced = stack.compose_document(make_plan(trio)), stack.compose_document(make_plan(trio, traces=True))
    for name, spec in traced["services"].items():
        if name in (stack.TOXIPROXY_SERVICE, stack.PROMETHEUS_SERVICE):  # no emulator: nothing to trace
            continue
        command = spec["command"]
        assert command[command.index("--traces") + 1] == stack.IN_CONTAINER_TRACES
        assert f"./{stack.TRACES_DIR}:{stack.IN_CONTAINER_TRACES}" in spec["volumes"]
        assert "--traces" not in plain["services"][name]["command"]
    (tmp_path / stack.TRACES_DIR).mkdir()
    (tmp_path / stack.TRACES_DIR / "old-1.jsonl").write_text("{}\n")
    stack.write_files(make_plan(trio, traces=True), tmp_path)
    assert list((tmp_path / stack.TRACES_DIR).iterdir()) == []


def _line(service: str, *starts: int) -> str:
    spans = [{"traceId": "1" * 32, "spanId": f"{s:016x}", "name": "GET /work", "kind": 2,
              "startTimeUnixNano": str(s), "endTimeUnixNano": str(s + 5)} for s in starts]
    return json.dumps({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": service}}]}, "scopeSpans": [{"spans": spans}]}]})


def test_the_replicas_files_are_merged_by_time(tmp_path: Path) -> None:
    spans = tmp_path / "stack" / stack.TRACES_DIR
    spans.mkdir(parents=True)
    (spans / "a-1.jsonl").write_text(_line("a", 30, 10) + "\n" + _line("a", 50) + "\n")
    (spans / "b-1.jsonl").write_text(_line("b", 20) + "\n" + _line("b", 60, 40))  # no newline at the end
    said = collect_traces(tmp_path / "stack", tmp_path / "out")
    merged = (tmp_path / "out" / stack.TRACES_DIR / "spans.jsonl").read_text().splitlines()
    firsts = [min(int(s["startTimeUnixNano"]) for s in json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"])
              for line in merged]
    assert firsts == [10, 20, 40, 50]
    assert "the spans of 2 replica(s)" in said

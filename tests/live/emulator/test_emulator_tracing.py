"""Traces from the emulator: W3C trace context across calls, spans written as OTLP JSON lines that
chaoslab's own trace reader (and any OTLP tool) takes, and a topology recovered from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import WAIT, Stack, _bind, const, make_spec

from chaos.core.choices import CallMode
from chaos.live.in_container import stackspec
from chaos.live.in_container.emulator.threaded import EmulatorThread
from chaos.live.in_container.emulator.tracing import parse_traceparent
from chaos.model.files import load_topology
from chaos.traces.observe import observe_files
from chaos.traces.topology import draft_topology

SERVICES = {
    "front": {"workers": 16, "service_time": const(0.002),
              "calls": [{"to": "back", "timeout_s": 1.0},
                        {"to": "cache", "timeout_s": 1.0, "mode": "parallel"},
                        {"to": "db", "timeout_s": 1.0, "mode": "parallel", "probability": 0.5}]},
    "back": {"workers": 16, "service_time": const(0.006)},
    "cache": {"workers": 16, "service_time": const(0.001)},
    "db": {"workers": 16, "service_time": const(0.004)},
}
REQUESTS = 300


def spans(directory: Path) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            for resource in json.loads(line)["resourceSpans"]:
                attrs = {a["key"]: a["value"]["stringValue"] for a in resource["resource"]["attributes"]}
                for scope in resource["scopeSpans"]:
                    out += [(attrs["service.name"], s) for s in scope["spans"]]
    return out


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The launch fixture's parts, for one stack the whole module reads.
    directory = tmp_path_factory.mktemp("traces")
    with EmulatorThread(timeout=WAIT) as runner:
        socks = {(name, 1): _bind() for name in SERVICES}
        ports = {key: sock.getsockname()[1] for key, sock in socks.items()}
        spec = stackspec.from_dict(make_spec(SERVICES, ports), source="test stack")
        stack = Stack(runner, spec, ports, socks, seed=3, traces=directory)
        replies = stack.poisson("front", REQUESTS, rate=150)
        assert all(r.status == 200 for r in replies)
    return directory  # every replica stopped: its last spans are written


def test_each_replica_writes_otlp_json_lines_linked_by_w3c_trace_context(traced: Path) -> None:
    assert sorted(p.name for p in traced.glob("*.jsonl")) == ["back-1.jsonl", "cache-1.jsonl", "db-1.jsonl",
                                                              "front-1.jsonl"]
    found = spans(traced)
    by_id = {s["spanId"]: (svc, s) for svc, s in found}
    roots = [s for svc, s in found if "parentSpanId" not in s]
    assert len(roots) == REQUESTS and all(s["kind"] == 2 for s in roots)
    assert len({s["traceId"] for s in roots}) == REQUESTS  # a trace per request from the load
    servers = {svc: [s for name, s in found if name == svc and s["kind"] == 2] for svc in SERVICES}
    assert len(servers["back"]) == len(servers["cache"]) == REQUESTS
    assert 0.35 * REQUESTS < len(servers["db"]) < 0.65 * REQUESTS  # probability 0.5
    for callee in ("back", "cache", "db"):
        for span in servers[callee]:
            caller, client = by_id[span["parentSpanId"]]  # the CLIENT span of the attempt that sent it
            assert (caller, client["kind"], client["traceId"]) == ("front", 3, span["traceId"])
            assert {"key": "peer.service", "value": {"stringValue": callee}} in client["attributes"]
            parent = by_id[client["parentSpanId"]][1]
            assert parent["kind"] == 2 and "parentSpanId" not in parent
            # The callee's work lies within its caller's attempt, which lies within the caller's request.
            assert int(client["startTimeUnixNano"]) <= int(span["startTimeUnixNano"])
            assert int(span["endTimeUnixNano"]) <= int(client["endTimeUnixNano"])
            assert int(parent["startTimeUnixNano"]) <= int(client["startTimeUnixNano"])


def test_the_topology_from_the_emulators_traces_is_the_stack_they_ran(traced: Path, tmp_path: Path) -> None:
    model = observe_files(sorted(traced.glob("*.jsonl")))
    assert not model.flaws, model.flaws
    draft = draft_topology(model, "traced")
    path = tmp_path / "traced.yaml"
    path.write_text(draft.text)
    topo = load_topology(path)
    assert sorted(s.name for s in topo.services) == sorted(SERVICES)
    front = topo.service("front")
    calls = {c.to: c for c in front.calls}
    assert sorted(calls) == ["back", "cache", "db"]
    assert calls["back"].mode is CallMode.SEQUENTIAL
    assert calls["cache"].mode is CallMode.PARALLEL and calls["db"].mode is CallMode.PARALLEL
    assert calls["back"].probability == 1.0 and calls["cache"].probability == 1.0
    assert calls["db"].probability == pytest.approx(0.5, abs=0.15)
    for name, svc in SERVICES.items():
        # Own work: a constant of the spec, plus what a loopback HTTP call and a late timer add (well under a
        # millisecond when the machine is quiet; allowed ten on a busy one, where other processes take the cores).
        median = topo.service(name).service_time.quantile(0.5)
        assert median <= svc["service_time"]["value"] + 0.010, (name, median)
        if name != "cache":  # cache's lower bound: the known gap below
            assert svc["service_time"]["value"] * 0.8 <= median, (name, median)


@pytest.mark.xfail(strict=False, reason=(
    "known gap (issue 17), kept non-strict until quiet CI runs show it passing: the emulator's Sleeper once froze "
    "below the timer's lateness (every sleep of a 1 ms constant a bare yield, own time 0.1-0.4 ms; fixed 2026-12-07, "
    "test_emulator_logic's sleep tests), but on a loaded machine (load average 8-18 on 2 cores) the own time read "
    "13.7, 10.2, 2.1 and 17.7 ms in four runs: late timers, not the declared work"))
def test_a_sub_millisecond_service_time_is_recovered_from_the_traces(traced: Path) -> None:
    own = observe_files(sorted(traced.glob("*.jsonl"))).service("cache").work_time.times.observed
    declared = SERVICES["cache"]["service_time"]["value"]
    assert declared * 0.8 <= own.p50 <= declared + 0.010, own  # the module's allowance for a busy machine


def test_a_traceparent_is_read_as_the_w3c_format_says() -> None:
    good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert parse_traceparent(good) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    assert parse_traceparent(good.upper()) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    for bad in ("", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", good.replace("00f067", "zzf067"),
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"):
        assert parse_traceparent(bad) is None, bad

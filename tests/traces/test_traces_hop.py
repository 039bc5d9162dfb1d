"""The per-hop overhead (what a caller waits beyond its callee's server span) as a rebuilt topology holds it.

Two services, front calling back, with an overhead that varies as a proxy's does (each leg exponential),
comparable to back's own work: a topology that added only the overhead's first percentile simulated front
about a quarter faster than the traces at p50. The fidelity report must now agree on every figure."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from chaos.cli import main
from chaos.model.files import load_topology
from chaos.traces.derive import QUEUE_MIN_HANDOFFS, _Concurrency
from chaos.traces.spans import Span, SpanKind

RATE = 100.0           # entry requests per second
REQUESTS = 3000
FRONT_OWN = 0.002      # constant, half before the call and half after
BACK_MEDIAN, BACK_SIGMA = 0.005, 0.45
LEG_MEAN = 0.0015      # each leg of the hop (request, response), exponential


def _span(trace: str, span: str, parent: str | None, kind: int, start: float, end: float,
          route: str = "/work") -> dict[str, object]:
    out: dict[str, object] = {"traceId": trace, "spanId": span, "name": f"GET {route}", "kind": kind,
                              "startTimeUnixNano": str(round(start * 1e9)), "endTimeUnixNano": str(round(end * 1e9)),
                              "attributes": [{"key": "http.route", "value": {"stringValue": route}},
                                             {"key": "http.request.method", "value": {"stringValue": "GET"}}]}
    if parent:
        out["parentSpanId"] = parent
    return out


def _resource(service: str, spans: list[dict[str, object]]) -> dict[str, object]:
    return {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
            "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]}


def write_traces(path: Path, rng: random.Random) -> tuple[list[float], list[float], list[float]]:
    """The traces as OTLP JSON lines; returns front's latencies, back's own-plus-hop times and the hops."""
    t, latencies, seen, hops, lines = 1.7e9, [], [], [], []
    for i in range(REQUESTS):
        t += rng.expovariate(RATE)
        trace = f"{i + 1:032x}"
        ids = [f"{3 * i + k + 1:016x}" for k in range(3)]
        call = t + FRONT_OWN / 2
        back_start = call + rng.expovariate(1 / LEG_MEAN)
        back_end = back_start + rng.lognormvariate(0, BACK_SIGMA) * BACK_MEDIAN
        call_end = back_end + rng.expovariate(1 / LEG_MEAN)
        end = call_end + FRONT_OWN / 2
        latencies.append(end - t)
        seen.append(call_end - call)
        hops.append(call_end - call - (back_end - back_start))
        front = [_span(trace, ids[0], None, 2, t, end), _span(trace, ids[1], ids[0], 3, call, call_end)]
        back = [_span(trace, ids[2], ids[1], 2, back_start, back_end)]
        lines.append(json.dumps({"resourceSpans": [_resource("front", front), _resource("back", back)]}))
    path.write_text("\n".join(lines) + "\n")
    return latencies, seen, hops


def quantile(xs: list[float], q: float) -> float:
    return sorted(xs)[int(q * len(xs))]


def test_a_varying_hop_is_in_the_callees_service_time_and_the_simulation_agrees(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    latencies, seen, hops = write_traces(tmp_path / "traces.jsonl", random.Random(5))
    code = main(["topology", "from-traces", "traces.jsonl", "--out", "topology.yaml"])
    out = capsys.readouterr().out
    assert code == 0, out  # every figure, p50 to p99, within compare's bounds
    report = json.loads(Path("topology.fidelity.json").read_text())
    p50 = next(c for c in report["checks"] if c["scope"] == "entrypoint:get-work" and c["figure"] == "p50_ms")
    assert p50["ok"] is True and p50["traced"] == pytest.approx(quantile(latencies, 0.5) * 1000, rel=0.01)
    # back's service time is what front waited on it: its own work and the hop together, spread and all
    back = load_topology(Path("topology.yaml")).service("back").service_time
    for q in (0.5, 0.9):
        assert back.quantile(q) == pytest.approx(quantile(seen, q), rel=0.05), q
    # the first percentile of the hop alone would have left the median far short
    assert back.quantile(0.5) - BACK_MEDIAN > 5 * quantile(hops, 0.01)


STALL_SIGMA = 1.0      # a request's pace: every hop of it slowed by one lognormal factor (a busy machine)


def write_paced_traces(path: Path, rng: random.Random, shared: bool) -> None:
    """front calls a, then b; each hop's legs are exponential, scaled by the request's pace (``shared``) or by
    a pace drawn for each hop on its own."""
    t, lines = 1.7e9, []
    for i in range(REQUESTS):
        t += rng.expovariate(RATE)
        trace = f"{i + 1:032x}"
        ids = [f"{5 * i + k + 1:016x}" for k in range(5)]
        pace = rng.lognormvariate(0, STALL_SIGMA)
        spans: dict[str, list[dict[str, object]]] = {"front": [], "a": [], "b": []}
        at = t + FRONT_OWN / 2
        for k, callee in ((1, "a"), (3, "b")):
            scale = LEG_MEAN * (pace if shared else rng.lognormvariate(0, STALL_SIGMA))
            start = at + rng.expovariate(1 / scale)
            end = start + rng.lognormvariate(0, BACK_SIGMA) * BACK_MEDIAN
            call_end = end + rng.expovariate(1 / scale)
            spans["front"].append(_span(trace, ids[k], ids[0], 3, at, call_end))
            spans[callee].append(_span(trace, ids[k + 1], ids[k], 2, start, end))
            at = call_end
        spans["front"].append(_span(trace, ids[0], None, 2, t, at + FRONT_OWN / 2))
        lines.append(json.dumps({"resourceSpans": [_resource(s, spans[s]) for s in spans]}))
    path.write_text("\n".join(lines) + "\n")


def without_pace(text: str) -> str:
    """The topology as the derivation wrote it before pace: each service's one time, drawn hop by hop."""
    out, skipping = [], False
    for line in text.splitlines():
        if line.startswith(("attributes:", "    service_time_by:")):
            skipping = True
            continue
        if skipping and line.startswith(("      ", "  pace:")):
            continue
        skipping = False
        out.append(line)
    return "\n".join(out) + "\n"


def test_hops_that_stall_together_are_drawn_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    write_paced_traces(tmp_path / "traces.jsonl", random.Random(7), shared=True)
    code = main(["topology", "from-traces", "traces.jsonl", "--out", "topology.yaml"])
    out = capsys.readouterr().out
    assert code == 0, out  # every figure, the entrypoint's p50 to p99 included, within compare's bounds
    topology = load_topology(Path("topology.yaml"))
    assert [a.name for a in topology.attributes] == ["pace"]
    assert len(topology.attributes[0].values) >= 4
    for name in ("a", "b"):
        by = topology.service(name).service_time_by
        assert by is not None and by.attribute == "pace"
    # Each hop drawn on its own, as the derivation did before: the slow hops of a request no longer come
    # together, and the entrypoint's latency diverges beyond compare's bounds.
    Path("apart.yaml").write_text(without_pace(Path("topology.yaml").read_text()))
    assert main(["traces", "fidelity", "apart.yaml", "traces.jsonl"]) == 1
    said = capsys.readouterr().out
    assert "DIVERGE: entrypoint:get-work on p" in said, said


def test_hops_that_stall_apart_are_drawn_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    write_paced_traces(tmp_path / "traces.jsonl", random.Random(7), shared=False)
    code = main(["topology", "from-traces", "traces.jsonl", "--out", "topology.yaml"])
    assert code in (0, 1), capsys.readouterr().out
    # Grouped by their mean overhead, independent hops would be drawn as if they stalled together: no pace.
    topology = load_topology(Path("topology.yaml"))
    assert topology.attributes == () and topology.service("a").service_time_by is None


BACK_OPS = {"/read": 0.003, "/write": 0.008}  # back's own work per operation, lognormal medians (BACK_SIGMA)

OPERATIONS = """\
name: ops
entrypoints:
  web: {to: front}
services:
  front:
    workers: 32
    service_time: 2ms
    calls:
      - {to: back, operation: read}
      - {to: back, operation: write}
  back:
    workers: 32
    service_time: 5ms
    operations:
      read: {service_time: 1ms}
      write: {service_time: 1ms}
"""


def write_operation_traces(path: Path, rng: random.Random, paced: bool) -> dict[str, list[float]]:
    """front calls back's /read, then its /write, each hop as in :func:`write_traces` (``paced``: its legs
    scaled by the request's pace, as in :func:`write_paced_traces`); returns what front waited on each
    operation (back's own work and the hop)."""
    t, seen, lines = 1.7e9, {route: [] for route in BACK_OPS}, []
    for i in range(REQUESTS):
        t += rng.expovariate(RATE)
        trace = f"{i + 1:032x}"
        ids = [f"{5 * i + k + 1:016x}" for k in range(5)]
        spans: dict[str, list[dict[str, object]]] = {"front": [], "back": []}
        at = t + FRONT_OWN / 2
        leg = LEG_MEAN * (rng.lognormvariate(0, STALL_SIGMA) if paced else 1.0)
        for k, (route, median) in zip((1, 3), BACK_OPS.items(), strict=True):
            start = at + rng.expovariate(1 / leg)
            end = start + rng.lognormvariate(0, BACK_SIGMA) * median
            call_end = end + rng.expovariate(1 / leg)
            spans["front"].append(_span(trace, ids[k], ids[0], 3, at, call_end, route))
            spans["back"].append(_span(trace, ids[k + 1], ids[k], 2, start, end, route))
            seen[route].append(call_end - at)
            at = call_end
        spans["front"].append(_span(trace, ids[0], None, 2, t, at + FRONT_OWN / 2))
        lines.append(json.dumps({"resourceSpans": [_resource(s, spans[s]) for s in spans]}))
    path.write_text("\n".join(lines) + "\n")
    return seen


@pytest.mark.parametrize("paced", [False, True], ids=["steady", "paced"])
def test_each_operation_calibrated_from_traces_carries_the_hop_its_callers_waited(
        paced: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A team's topology that declares back's operations gets each one's time as front waited on it, spread
    and all: with its own time plus the overhead's first percentile (as calibrate wrote it before), the
    read's median came out at 56% of what front waited. Where the hops of a request stall together, each
    operation gets its times by the request's pace, as a service does."""
    monkeypatch.chdir(tmp_path)
    seen = write_operation_traces(tmp_path / "traces.jsonl", random.Random(11), paced)
    Path("ops.yaml").write_text(OPERATIONS)
    assert main(["calibrate", "traces.jsonl", "--topology", "ops.yaml", "--out", "calibrated.yaml"]) == 0
    back = load_topology(Path("calibrated.yaml")).service("back")
    for name, route in (("read", "/read"), ("write", "/write")):
        written = back.operation_of(name).service_time
        for q in (0.5, 0.9, 0.99):
            assert written.quantile(q) == pytest.approx(quantile(seen[route], q), rel=0.05), (name, q)
        by = back.operation_of(name).service_time_by
        assert (by is not None and by.attribute == "pace") is paced, by
    capsys.readouterr()
    code = main(["traces", "fidelity", "calibrated.yaml", "traces.jsonl"])
    out = capsys.readouterr().out
    assert code == 0, out  # every service and the entrypoint, p50 to p99, within compare's bounds
    assert "entrypoint:web " in out, out


def _server(i: int, start: float, end: float) -> Span:
    return Span(f"{i:032x}", f"{i:016x}", None, "db", SpanKind.SERVER, "GET /q", "GET /q", round(start * 1e9),
                round(end * 1e9), False, "db-1")


@pytest.mark.parametrize("queued", [False, True], ids=["network", "queue"])
def test_a_queue_before_the_span_shows_as_hand_offs_and_a_slow_network_does_not(queued: bool) -> None:
    """Two workers at 90% busy: a request that queued begins as another ends (a hand-off), and most of them
    queue; the same arrivals served at once, however late the network brings them, make hand-offs only by
    chance. The derivation takes a wait before the span for queueing only with hand-offs beyond chance."""
    rng, at, free, spans = random.Random(2), 0.0, [0.0, 0.0], []
    for i in range(2000):
        at += rng.expovariate(180.0)
        work = rng.expovariate(100.0)
        arrive = at + rng.lognormvariate(0, 1.0) * 0.002  # the network's delay, as widely spread as a proxy's
        if queued:
            k = min(range(2), key=free.__getitem__)
            start = max(arrive, free[k])
            free[k] = start + work
        else:
            start = arrive
        spans.append(_server(i + 1, start, start + work))
    concurrency = _Concurrency()
    for span in sorted(spans, key=lambda s: s.start_ns):
        concurrency.add(span)
    concurrency.sweep(2**63 - 1)
    share, chance = concurrency.handoff_share("db")
    assert chance < 0.05
    if queued:
        assert share > max(QUEUE_MIN_HANDOFFS, 3 * chance), (share, chance)
    else:
        assert share < max(QUEUE_MIN_HANDOFFS, 3 * chance), (share, chance)

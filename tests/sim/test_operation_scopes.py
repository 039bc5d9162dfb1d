"""Faults, alerts, SLOs and playbook verify steps scoped to one operation of a service.

The topology's operations have constant service times, so latencies are exact: post.read takes
2 + 1 ms, post.write 5 + 4 + 3 ms. A latency fault on post.write adds its delay to every write
response and to nothing else; an errors fault on one operation fails that share of its requests
and none of the others'.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from scipy import stats
from test_operations import TOPOLOGY, write

from chaos.errors import InputError
from chaos.model.files import load_experiment

Z = stats.norm.ppf(0.5 + 0.9999 / 2)

EXPERIMENT = """\
name: x
topology: t.yaml
duration: 20s
load: {rate: 100}
faults:
  - {kind: latency, target: post, operation: write, delay: 50ms, at: 10s}
slos:
  - {service: post, operation: read, latency: {p99: 10ms}, window: 5s}
  - {service: post, operation: write, latency: {p99: 30ms}, window: 5s}
alerts:
  - {name: writes-slow, service: post, operation: write, metric: latency_p99, threshold: 30ms, window: 2s, every: 1s}
  - {name: reads-slow, service: post, operation: read, metric: latency_p99, threshold: 30ms, window: 2s, every: 1s}
"""


def _simulate(tmp_path: Path, experiment: str, *extra: str) -> dict:  # type: ignore[type-arg]
    from chaos.cli import main
    write(tmp_path, TOPOLOGY)
    write(tmp_path, experiment, "x.yaml")
    main(["simulate", "x.yaml", "--out", "out", "--quiet", "--no-progress", "--no-report", *extra])
    return json.loads((tmp_path / "out" / "result.json").read_text())  # type: ignore[no-any-return]


def test_a_latency_fault_on_one_operation_slows_only_it_and_breaches_only_its_slo(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    doc = _simulate(tmp_path, EXPERIMENT)
    ops = doc["operations"]["post"]
    assert ops["read"]["p99_ms"] == pytest.approx(3.0, abs=1e-6)     # untouched: 2 + 1 ms
    assert ops["write"]["p50_ms"] == pytest.approx(12.0, abs=1e-6)   # half the run before the fault
    assert ops["write"]["p99_ms"] == pytest.approx(62.0, abs=1e-6)   # 12 ms + the 50 ms delay
    assert doc["services"]["db"]["p99_ms"] == pytest.approx(4.0, abs=1e-6)  # the callee is not slowed
    verdicts = {s["scope"]: s["met"] for s in doc["slos"]}
    assert verdicts == {"operation:post.read": True, "operation:post.write": False}
    assert 10.0 <= ops["write"]["first_breach_s"] <= 11.0 + 1e-9
    fired = {a["name"]: a for a in doc["alerts"]}
    assert set(fired) == {"writes-slow"} and fired["writes-slow"]["scope"] == "operation:post.write"
    assert 10.0 <= fired["writes-slow"]["fired_at_s"] <= 12.0
    assert doc["faults"][0]["label"] == "latency:post.write", doc["faults"][0]


def test_an_errors_fault_on_one_operation_fails_its_share_of_that_operation_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    doc = _simulate(tmp_path, EXPERIMENT.replace(
        "{kind: latency, target: post, operation: write, delay: 50ms, at: 10s}",
        "{kind: errors, target: db, operation: insert, ratio: 0.3}"))
    db = doc["operations"]["db"]
    n = db["insert"]["requests"]
    assert abs(db["insert"]["errors"] - 0.3 * n) <= Z * math.sqrt(n * 0.3 * 0.7)
    assert db["find"]["errors"] == 0 and doc["operations"]["post"]["read"]["errors"] == 0
    assert doc["operations"]["post"]["write"]["errors"] == db["insert"]["errors"]  # each failed insert fails its write


@pytest.mark.parametrize(("old", "new", "line", "message"), [
    ("{kind: latency, target: post, operation: write,", "{kind: latency, target: post, operation: wrte,", 6,
     "faults[0].operation: 'post' has no operation 'wrte' (did you mean 'write'?) (it has read, write)"),
    ("{kind: latency, target: post, operation: write,", "{kind: latency, target: media, operation: write,", 6,
     "faults[0].operation: 'media' declares no operations"),
    ("{kind: latency, target: post, operation: write,", "{kind: latency, target: post->db, operation: write,", 6,
     "faults[0].operation: a latency fault on an operation targets its service"),
    ("{name: reads-slow, service: post, operation: read,", "{name: reads-slow, service: post, operation: red,", 12,
     "alerts[1].operation: 'post' has no operation 'red'"),
    ("{name: reads-slow, service: post, operation: read,", "{name: reads-slow, entrypoint: web, operation: read,", 12,
     "alerts[1].operation: an alert rule on an operation names its service"),
])
def test_an_unknown_operation_in_a_scope_is_refused_with_file_line_and_field(
        tmp_path: Path, old: str, new: str, line: int, message: str) -> None:
    write(tmp_path, TOPOLOGY.replace("entrypoints:\n", "entrypoints:\n  web: {to: media}\n"))
    write(tmp_path, EXPERIMENT.replace(old, new), "x.yaml")
    with pytest.raises(InputError) as info:
        load_experiment(tmp_path / "x.yaml")
    assert f"x.yaml:{line}:" in str(info.value) and message in str(info.value), str(info.value)


PLAYBOOK = """\
name: pb
trigger: {alerts: [writes-slow]}
roles:
  auto: {respond: 1s}
steps:
  - name: drop the delay
    role: auto
    action: {kind: remove_fault, fault: latency:post.write}
    verify: {service: post, operation: write, metric: latency_p99, below: 20ms, window: 2s, for: 2s, within: 10s}
"""


def test_a_verify_step_may_wait_for_one_operation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, PLAYBOOK, "pb.yaml")
    doc = _simulate(tmp_path, EXPERIMENT.replace("duration: 20s", "duration: 40s"), "--playbook", "pb.yaml")
    step = doc["playbook"]["steps"][0]
    assert step["verify"] == "p99 latency of operation:post.write < 20 ms for 2 s"
    assert step["status"] == "done" and step["verified_at_s"] is not None
    write(tmp_path, PLAYBOOK.replace("operation: write, metric", "operation: wirte, metric"), "pb.yaml")
    from chaos.cli import main
    assert main(["simulate", "x.yaml", "--playbook", "pb.yaml", "--out", "out2", "--quiet", "--no-progress"]) == 2


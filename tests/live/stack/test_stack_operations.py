"""A generated stack runs the plan the simulator runs: operations, routers, attributes and fallback calls
reach stack.json and the load plan; a team's own stack still refuses them, naming the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos.errors import InputError
from chaos.live.in_container import stackspec
from chaos.live.load.plan import plan_experiment
from chaos.live.stack import emulator_stack as stack
from chaos.live.stack.state import StackState
from chaos.model.experiment import Experiment
from chaos.model.files import load_experiment, load_topology
from chaos.model.live_limits import generated_problems
from chaos.model.playbook import Playbook

ROOT = Path(__file__).resolve().parents[3]


def _spec(topology_file: Path) -> stackspec.StackSpec:
    topology = load_topology(topology_file)
    ports = list(range(22001, 22001 + len(stack.published_names(topology))))
    plan = stack.plan_stack(topology, runtime_image="chaoslab/runtime:test", host_ports=ports)
    return stackspec.from_dict(json.loads(stack.stack_spec_json(plan, None)), source="stack.json")


def test_the_timeline_stack_spec_has_its_operations_router_attribute_and_fallback() -> None:
    spec = _spec(ROOT / "topologies" / "timeline.yaml")
    assert spec.attributes == (stackspec.AttributeSpec("cache_hit", share=0.9),)
    nginx = spec.service("nginx")
    assert [(c.to, c.operation, c.mode.value, c.weight) for c in nginx.calls] == [
        ("timeline", "read", "route", 9.0), ("timeline", "write", "route", 1.0)]
    assert [c.path for c in nginx.calls] == ["/op/read", "/op/write"]
    timeline = spec.service("timeline")
    assert timeline.calls == () and set(timeline.ops) == {"read", "write"}
    read = timeline.ops["read"].calls[0]
    assert (read.to, read.operation, read.hit, read.timeout_s) == ("redis", None, "cache_hit", 0.05)
    fb = read.fallback_to
    assert fb is not None and (fb.to, fb.operation, fb.timeout_s, fb.retries.max) == ("mongodb", "find", 0.5, 1)
    assert fb.urls and all("timeline--mongodb" in p for p in fb.proxies)  # the fallback edge's own proxies
    assert timeline.ops["write"].service_time.median == pytest.approx(0.004)
    assert timeline.ops["read"].service_time.median == pytest.approx(0.002)  # the service's, inherited
    mongodb = spec.service("mongodb")
    assert set(mongodb.ops) == {"find", "insert"} and spec.service("redis").ops.keys() == {None}


def test_the_load_decides_attributes_once_per_entry_request_as_kinds_with_their_shares() -> None:
    experiment = load_experiment(ROOT / "experiments" / "cache-stampede.yaml")
    plan = plan_experiment(experiment, {"app": "http://127.0.0.1:1"})
    kinds = {r.name: (r.target, r.headers, r.weight) for r in plan.entry("app").requests}
    assert kinds == {"GET /work +cache_hit": ("/work", (("X-Chaoslab-Attributes", "cache_hit"),), pytest.approx(0.9)),
                     "GET /work -cache_hit": ("/work", (), pytest.approx(0.1))}


def test_an_entrypoint_to_an_operation_sends_its_path(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("name: t\nentrypoints:\n  r: {to: post, operation: read, share: 3}\n  w: {to: post, operation: "
                    "write}\nservices:\n  post:\n    service_time: 1ms\n    operations: {read: {}, write: {}}\n")
    from chaos.live.load.plan import plan_load
    from chaos.model.load import Segment
    plan = plan_load(load_topology(path), (Segment(0, 10, 10, 10),), {"r": "http://h:1", "w": "http://h:1"},
                     duration_s=10)
    assert plan.entry("r").request_urls(plan.entry("r").requests[0]) == ("http://h:1/op/read",)
    assert plan.entry("w").requests[0].target == "/op/write"


def test_a_generated_stacks_entry_urls_hold_the_operations_path_and_the_probe_and_load_use_it(tmp_path: Path) -> None:
    from chaos.live.gameday.run import load_urls
    from chaos.live.load.plan import probe_urls
    path = tmp_path / "t.yaml"
    path.write_text("name: t\nentrypoints:\n  r: {to: post, operation: read}\n  m: {to: media}\nservices:\n"
                    "  post:\n    service_time: 1ms\n    operations: {read: {}, write: {}}\n"
                    "  media: {service_time: 1ms}\n")
    exp = tmp_path / "x.yaml"
    exp.write_text("name: x\ntopology: t.yaml\nduration: 10s\nload: {rate: 10}\n")
    topology = load_topology(path)
    ports = list(range(22001, 22001 + len(stack.published_names(topology))))
    state = stack.stack_state(stack.plan_stack(topology, runtime_image="x", host_ports=ports), tmp_path)
    (read_url,) = state.entrypoints["r"].urls
    assert read_url.endswith("/op/read") and state.entrypoints["m"].urls[0].endswith("/work")
    assert probe_urls(None, {n: e.urls for n, e in state.entrypoints.items()})["r"] == (read_url,)
    experiment = load_experiment(exp)
    bases = load_urls(experiment, state)
    assert bases["r"] == (read_url.removesuffix("/op/read"),)
    assert probe_urls(experiment, bases) == {"r": (read_url,), "m": state.entrypoints["m"].urls}
    plan = plan_experiment(experiment, bases)
    assert plan.entry("r").request_urls(plan.entry("r").requests[0]) == (read_url,)


def test_a_generated_stack_runs_the_timelines_operations_router_attributes_and_fallback() -> None:
    # (a team's own stack: tests/model/test_live_limits.py)
    assert generated_problems(load_topology(ROOT / "topologies" / "timeline.yaml")) == []


def test_more_attributes_than_a_generated_stack_carries_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    attrs = "".join(f"  a{i}: {{probability: 0.5}}\n" for i in range(7))
    path.write_text(f"name: t\nattributes:\n{attrs}entrypoints: {{web: {{to: a}}}}\n"
                    "services:\n  a: {service_time: 1ms}\n")
    with pytest.raises(InputError) as info:
        stack.plan_stack(load_topology(path), runtime_image="x", host_ports=range(20000, 20100))  # type: ignore[arg-type]
    assert "t.yaml:3:" in str(info.value) and "128 combinations" in str(info.value) and "at most 64" in str(info.value)


POSTS = """\
name: posts
entrypoints:
  web: {to: post, operation: read}
services:
  post:
    service_time: {dist: constant, value: 2ms}
    operations:
      read: {calls: [{to: db, operation: find}]}
      write: {calls: [{to: db, operation: insert}]}
  db:
    service_time: {dist: constant, value: 1ms}
    operations: {find: {}, insert: {}}
"""
SCOPED = """\
name: x
topology: t.yaml
duration: 20s
load: {rate: 10}
faults:
  - {kind: latency, target: post, operation: write, delay: 50ms, jitter: 5ms, at: 5s}
  - {kind: errors, target: db, operation: insert, ratio: 0.3, at: 5s}
slos:
  - {service: post, operation: write, latency: {p99: 30ms}, window: 5s}
alerts:
  - {name: writes-slow, service: post, operation: write, metric: latency_p99, threshold: 30ms, window: 2s}
"""
SCOPED_PLAYBOOK = """\
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


def _scoped(tmp_path: Path) -> tuple[Experiment, Playbook, StackState]:
    from chaos.model.files import load_playbook
    (tmp_path / "t.yaml").write_text(POSTS)
    (tmp_path / "x.yaml").write_text(SCOPED)
    (tmp_path / "pb.yaml").write_text(SCOPED_PLAYBOOK)
    experiment = load_experiment(tmp_path / "x.yaml")
    topology = experiment.topology
    ports = list(range(22001, 22001 + len(stack.published_names(topology))))
    state = stack.stack_state(stack.plan_stack(topology, runtime_image="x", host_ports=ports), tmp_path)
    return experiment, load_playbook(tmp_path / "pb.yaml", experiment), state


def test_a_generated_stack_plans_faults_on_one_operation_through_the_emulators_and_journals_them(
        tmp_path: Path) -> None:
    from chaos.live.faults.actions import FaultOperation, OperationFaults, handle_from_json, handle_to_json
    from chaos.live.faults.drivers.routes import plan_all
    from chaos.live.gameday.run import validate

    experiment, playbook, state = _scoped(tmp_path)
    validate(experiment, playbook, state)  # SLOs, alerts and verify steps on an operation: a game day runs them
    slow, failing = plan_all(experiment, state)
    assert isinstance(slow.params, FaultOperation) and slow.params.operation == "write"
    assert slow.params.faults == OperationFaults(delay_s=0.05, jitter_s=0.005)
    assert dict(slow.params.admin) == {r.container: r.admin_url for r in state.replicas if r.service == "post"}
    assert isinstance(failing.params, FaultOperation) and failing.params.operation == "insert"
    assert failing.params.faults == OperationFaults(errors=0.3) and failing.label == "errors:db.insert"
    assert "its other operations untouched" in slow.summary
    again = handle_from_json(json.loads(json.dumps(handle_to_json(slow.handle()))))  # what recover reads back
    assert again.action.params == slow.params and again.action.label == "latency:post.write"


def test_a_toxic_is_not_taken_for_a_fault_on_one_operation(tmp_path: Path) -> None:
    from chaos.live.faults.drivers.routes import Planning, toxiproxy_latency, toxiproxy_reset

    experiment, _, state = _scoped(tmp_path)
    planning = Planning("f1", experiment, state, True)
    for route, fault in ((toxiproxy_latency, experiment.fault_list[0]), (toxiproxy_reset, experiment.fault_list[1])):
        assert route(fault, planning) == "a Toxiproxy toxic acts on every call to the service, not on one operation's"

"""Which driver does each fault live, and what is refused before a run starts (with file:line)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from chaos.errors import InputError
from chaos.live.faults.actions import (
    AddToxic,
    ColdStart,
    DockerOp,
    DriverKind,
    EdgeFaults,
    EmulatorOp,
    FailCalls,
    Kill,
    LoadOp,
    ServiceFaults,
    SetFaults,
    StartCold,
    ToxiproxyOp,
)
from chaos.live.faults.drivers.routes import LIVE_ROUTES, check_live, plan_all
from chaos.live.in_container.toxiproxy.model import Stream, ToxicType
from chaos.live.stack.state import StackState
from chaos.model.experiment import Experiment
from chaos.model.faults import FaultKind

Make = Callable[..., Experiment]


def test_every_fault_kind_has_a_live_route() -> None:
    assert set(LIVE_ROUTES) == set(FaultKind)
    assert all(LIVE_ROUTES[kind] for kind in FaultKind)


def test_each_kind_on_chaoslabs_stack(experiment: Make, trio_state: StackState) -> None:
    exp = experiment("""\
        - {kind: latency, target: api->db, at: 1s, duration: 5s, delay: 400ms, jitter: 50ms}
        - {kind: latency, target: api, at: 1s, delay: 100ms}
        - {kind: crash, target: api, replicas: 1, at: 2s, duration: 3s}
        - {kind: hang, target: db, at: 3s, duration: 2s}
        - {kind: errors, target: db, at: 3s, ratio: 0.2}
        - {kind: errors, target: api->db, at: 3s, ratio: 0.3}
        - {kind: slowdown, target: db, at: 3s, factor: 4}
        - {kind: partition, target: front->api, at: 3s, duration: 2s}
        - {kind: packet_loss, target: db, at: 3s, ratio: 0.25}
        - {kind: cold_start, target: api, at: 3s}
        - {kind: load_spike, target: web, at: 3s, factor: 2}
        """)
    actions = plan_all(exp, trio_state, with_load=True)
    got = [(a.driver, a.op, a.targets) for a in actions]
    api_admin = ("t-trio-api-1", "t-trio-api-2")
    assert got == [
        (DriverKind.TOXIPROXY, ToxiproxyOp.ADD_TOXIC, ("api--db-1",)),
        (DriverKind.TOXIPROXY, ToxiproxyOp.ADD_TOXIC, ("front--api-1", "front--api-2")),
        (DriverKind.DOCKER, DockerOp.KILL, api_admin),
        (DriverKind.EMULATOR, EmulatorOp.SET, ("t-trio-db-1",)),
        (DriverKind.EMULATOR, EmulatorOp.SET, ("t-trio-db-1",)),
        (DriverKind.EMULATOR, EmulatorOp.EDGE_ERRORS, api_admin),
        (DriverKind.EMULATOR, EmulatorOp.SET, ("t-trio-db-1",)),
        (DriverKind.TOXIPROXY, ToxiproxyOp.ADD_TOXIC, ("front--api-1", "front--api-2")),
        (DriverKind.TOXIPROXY, ToxiproxyOp.ADD_TOXIC, ("api--db-1",)),
        (DriverKind.EMULATOR, EmulatorOp.COLD_START, api_admin),
        (DriverKind.LOAD, LoadOp.SPIKE, ("web",)),
    ]
    latency, _, crash, hang, errors, edge_errors, slowdown, partition, loss, cold, _ = actions
    api, container = "http://127.0.0.1:21005", "t-trio-toxiproxy"
    # A partition drops every call, as simulated: held by a timeout toxic, so callers time out.
    assert partition.params == AddToxic(api, ToxicType.TIMEOUT, Stream.UPSTREAM, 1.0, {"timeout": 0}, container)
    assert latency.params == AddToxic(api, ToxicType.LATENCY, Stream.DOWNSTREAM, 1.0, {"latency": 400, "jitter": 50},
                                      container)
    assert isinstance(crash.params, Kill) and crash.params.count == 1
    assert crash.params.health == {"t-trio-api-1": "http://127.0.0.1:21002/health",
                                   "t-trio-api-2": "http://127.0.0.1:21003/health"}
    db_admin = {"t-trio-db-1": "http://127.0.0.1:21004/admin"}
    assert hang.params == SetFaults(db_admin, ServiceFaults(hang=True))
    assert errors.params == SetFaults(db_admin, ServiceFaults(errors=0.2))
    assert slowdown.params == SetFaults(db_admin, ServiceFaults(slowdown=4.0))
    # The simulator drops lost calls before the callee sees them: upstream, per connection.
    assert loss.params == AddToxic(api, ToxicType.TIMEOUT, Stream.UPSTREAM, 0.25, {"timeout": 0}, container)
    # Edge errors are made by the caller, on each of its replicas: attempts fail at once, injected.
    assert edge_errors.params == FailCalls({"t-trio-api-1": "http://127.0.0.1:21002/admin",
                                            "t-trio-api-2": "http://127.0.0.1:21003/admin"}, "db", EdgeFaults(0.3))
    assert isinstance(cold.params, StartCold) and cold.params.cold_start == ColdStart(3.0, 30.0)
    assert [a.id for a in actions] == [f"f{i}" for i in range(1, 12)]


def test_a_service_fault_reaches_the_load_proxies_too(experiment: Make, trio_state: StackState) -> None:
    (action,) = plan_all(experiment("- {kind: partition, target: front, at: 1s}\n"), trio_state)
    assert action.targets == ("client--front-1",)


def test_sub_millisecond_latency_does_not_round_to_nothing(experiment: Make, trio_state: StackState) -> None:
    (action,) = plan_all(experiment("- {kind: latency, target: db, at: 1s, delay: 300us}\n"), trio_state)
    assert isinstance(action.params, AddToxic) and action.params.attributes == {"latency": 1, "jitter": 0}


def test_load_spikes_without_a_load_generator_are_refused_at_their_line(experiment: Make,
                                                                         trio_state: StackState) -> None:
    exp = experiment("- {kind: latency, target: db, at: 1s, delay: 10ms}\n- {kind: load_spike, target: '*', "
                     "at: 2s, factor: 3}\n")
    problems = check_live(exp, trio_state, with_load=False)
    assert len(problems) == 1
    assert str(problems[0]).startswith(f"{exp_file(exp)}:7:")
    assert "this run sends no load" in str(problems[0])


def test_without_toxiproxy_network_faults_are_refused_and_all_problems_are_listed(
        experiment: Make, trio_state: StackState) -> None:
    bare = replace(trio_state, toxiproxy_api=None)
    exp = experiment("- {kind: latency, target: db, at: 1s, delay: 10ms}\n"
                     "- {kind: crash, target: db, at: 1s}\n"
                     "- {kind: packet_loss, target: api->db, at: 2s, ratio: 0.1}\n")
    problems = check_live(exp, bare)
    assert [p.path for p in problems] == ["faults[0].target", "faults[2].target"]
    assert all("this stack has no Toxiproxy" in p.detail for p in problems)
    with pytest.raises(InputError) as raised:
        plan_all(exp, bare)
    assert "2 problems, each at its line above" in str(raised.value)
    assert ":6:" in str(raised.value) and ":8:" in str(raised.value)


def exp_file(exp: Experiment) -> str:
    from chaos.model.parsing import where_of
    return where_of(exp).location.file

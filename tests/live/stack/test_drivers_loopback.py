"""The Toxiproxy and emulator drivers against real servers on 127.0.0.1 (no Docker)."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from chaos.errors import LiveError, ToxiproxyError
from chaos.live.faults.actions import (
    Action,
    AddToxic,
    ColdStart,
    DisableProxies,
    EdgeFaults,
    FailCalls,
    FaultOperation,
    Handle,
    OperationFaults,
    ServiceFaults,
    SetFaults,
    StartCold,
)
from chaos.live.faults.drivers.base import InjectContext, Presence
from chaos.live.faults.drivers.emulator import EmulatorDriver, InEffect, combine
from chaos.live.faults.drivers.toxiproxy import ToxiproxyDriver
from chaos.live.in_container import stackspec
from chaos.live.in_container.emulator.app import Emulator
from chaos.live.in_container.emulator.threaded import EmulatorThread
from chaos.live.in_container.toxiproxy.model import Stream, ToxicType
from chaos.live.in_container.toxiproxy.server import serve_in_thread
from chaos.live.stack.emulator_client import AdminClient
from chaos.live.stack.toxiproxy_client import ToxiproxyClient
from chaos.model.faults import FaultKind

WAIT = 5.0


def record_into(log: list[Handle]) -> InjectContext:
    return InjectContext(log.append)


@pytest.fixture
def toxiproxy() -> Iterator[ToxiproxyClient]:
    with serve_in_thread("127.0.0.1", 0, seed=7) as running:
        client = ToxiproxyClient(running.url, timeout=WAIT)
        for name in ("a--b-1", "a--b-2"):
            client.create_proxy(name, "127.0.0.1:9", "127.0.0.1:0")
        yield client


def toxic_action(api: str, fid: str = "f1", **kwargs: Any) -> Action:
    params = AddToxic(api, ToxicType.LATENCY, attributes={"latency": 250, "jitter": 20}, **kwargs)
    return Action(fid, "latency:a->b", FaultKind.LATENCY, "a->b", ("a--b-1", "a--b-2"), params)


def disable_action(api: str, fid: str) -> Action:
    return Action(fid, f"partition {fid}", FaultKind.PARTITION, "a->b", ("a--b-1",), DisableProxies(api))


def test_a_toxic_on_every_proxy_of_the_edge_recorded_before_it_exists(toxiproxy: ToxiproxyClient) -> None:
    driver = ToxiproxyDriver("run1")
    seen: list[dict[str, list[int]]] = []
    ctx = InjectContext(lambda h: seen.append({"toxics_then": [len(toxiproxy.toxics(p)) for p in h.action.targets]}))
    handle = driver.inject(toxic_action(toxiproxy.base_url), ctx)
    assert seen == [{"toxics_then": [0, 0]}]  # the journal hears of it before Toxiproxy does
    for proxy in ("a--b-1", "a--b-2"):
        (toxic,) = toxiproxy.toxics(proxy)
        assert (toxic.name, toxic.type, toxic.stream) == ("chaoslab-run1-f1", ToxicType.LATENCY, Stream.DOWNSTREAM)
        assert dict(toxic.attributes) == {"latency": 250, "jitter": 20}
    driver.revert(handle)
    assert [toxiproxy.toxics(p) for p in ("a--b-1", "a--b-2")] == [[], []]
    driver.revert(handle)  # twice: nothing left to remove is not an error
    assert driver.undo_hint(handle) == [
        f"curl -sS -X DELETE {toxiproxy.base_url}/proxies/{p}/toxics/chaoslab-run1-f1" for p in ("a--b-1", "a--b-2")]


def test_a_revert_removes_only_its_own_toxic(toxiproxy: ToxiproxyClient) -> None:
    driver = ToxiproxyDriver("run1")
    first = driver.inject(toxic_action(toxiproxy.base_url, "f1"), record_into([]))
    driver.inject(toxic_action(toxiproxy.base_url, "f2", stream=Stream.UPSTREAM, toxicity=0.5), record_into([]))
    driver.revert(first)
    (left,) = toxiproxy.toxics("a--b-1")
    assert (left.name, left.stream, left.toxicity) == ("chaoslab-run1-f2", Stream.UPSTREAM, 0.5)


def test_overlapping_partitions_keep_the_proxy_down_until_the_last_ends(toxiproxy: ToxiproxyClient) -> None:
    driver = ToxiproxyDriver("run1")
    one = driver.inject(disable_action(toxiproxy.base_url, "f1"), record_into([]))
    two = driver.inject(disable_action(toxiproxy.base_url, "f2"), record_into([]))
    listen = toxiproxy.get_proxy("a--b-1").listen
    assert not toxiproxy.get_proxy("a--b-1").enabled
    driver.revert(one)
    assert not toxiproxy.get_proxy("a--b-1").enabled
    with pytest.raises(OSError):  # a disabled proxy refuses connections
        socket.create_connection(_split(listen), timeout=WAIT).close()
    driver.revert(two)
    assert toxiproxy.get_proxy("a--b-1").enabled
    # A fresh driver (as recover makes) enables a proxy it never saw disabled.
    driver.inject(disable_action(toxiproxy.base_url, "f3"), record_into([]))
    ToxiproxyDriver("run1").revert(disable_action(toxiproxy.base_url, "f3").handle())
    assert toxiproxy.get_proxy("a--b-1").enabled


def test_a_gone_server_counts_as_reverted_only_when_its_container_is_gone(toxiproxy: ToxiproxyClient) -> None:
    with serve_in_thread("127.0.0.1", 0) as running:
        api = running.url
        ToxiproxyClient(api).create_proxy("a--b-1", "127.0.0.1:9", "127.0.0.1:0")
        ToxiproxyClient(api).create_proxy("a--b-2", "127.0.0.1:9", "127.0.0.1:0")
        handle = ToxiproxyDriver("r").inject(toxic_action(api, container="stack-toxiproxy"), record_into([]))
    # The server is gone now.
    with pytest.raises(ToxiproxyError, match="could not undo on 2 proxy"):
        ToxiproxyDriver("r").revert(handle)  # no engine to ask: it may still hold the toxic
    ToxiproxyDriver("r", probe=lambda name: Presence.ABSENT).revert(handle)
    with pytest.raises(ToxiproxyError):
        ToxiproxyDriver("r", probe=lambda name: Presence.RUNNING).revert(handle)


def test_preflight_names_missing_proxies(toxiproxy: ToxiproxyClient) -> None:
    action = Action("f1", "p", FaultKind.PARTITION, "x->y", ("x--y-1",), DisableProxies(toxiproxy.base_url))
    with pytest.raises(ToxiproxyError, match="has no proxy x--y-1"):
        ToxiproxyDriver("r").preflight(action)


def _split(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host, int(port)


# --------------------------------------------------------------------------- emulator admin


SPEC = {"version": 1, "latency_bounds_s": [0.01, 0.1, 1.0],
        "services": {"db": {"replicas": 2, "workers": 4, "service_time": {"dist": "constant", "value": 0.001}}}}


@pytest.fixture
def emulators() -> Iterator[dict[str, str]]:
    """Two replicas of db on loopback: container name -> admin URL."""
    spec = stackspec.from_dict(SPEC, "test")
    with EmulatorThread(timeout=WAIT) as runner:
        ports = {f"db-{n}": runner.start(Emulator(spec, "db", n)) for n in (1, 2)}
        yield {name: f"http://127.0.0.1:{port}/admin" for name, port in ports.items()}


def set_action(fid: str, admin: dict[str, str], **settings: Any) -> Action:
    return Action(fid, f"{fid}:db", FaultKind.ERRORS, "db", tuple(admin), SetFaults(admin, ServiceFaults(**settings)))


def faults_of(url: str) -> dict[str, Any]:
    return AdminClient(url).state()["faults"]  # type: ignore[no-any-return]


def test_overlapping_admin_faults_combine_as_in_the_simulator(emulators: dict[str, str]) -> None:
    driver = EmulatorDriver()
    errors = driver.inject(set_action("f1", emulators, errors=0.5), record_into([]))
    more = driver.inject(set_action("f2", emulators, errors=0.5), record_into([]))
    slow = driver.inject(set_action("f3", emulators, slowdown=2.0), record_into([]))
    slower = driver.inject(set_action("f4", emulators, slowdown=3.0), record_into([]))
    for url in emulators.values():
        state = faults_of(url)
        assert state["errors"] == pytest.approx(0.75) and state["slowdown"] == pytest.approx(6.0)
    driver.revert(more)
    driver.revert(slower)
    assert faults_of(emulators["db-1"])["errors"] == pytest.approx(0.5)
    assert faults_of(emulators["db-2"])["slowdown"] == pytest.approx(2.0)
    driver.revert(errors)
    driver.revert(slow)
    for url in emulators.values():
        assert faults_of(url) == {"errors": 0.0, "slowdown": 1.0, "hang": False, "cold_start": None}
    driver.revert(slow)  # twice is harmless
    assert combine([ServiceFaults(hang=True), ServiceFaults(errors=0.2)]) == InEffect(pytest.approx(0.2), 1.0, True)


def test_a_hang_holds_requests_until_it_is_reverted(emulators: dict[str, str]) -> None:
    driver = EmulatorDriver()
    hang = driver.inject(set_action("f1", {"db-1": emulators["db-1"]}, hang=True), record_into([]))
    port = int(emulators["db-1"].split(":")[2].split("/")[0])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
    conn.request("GET", "/work")
    with pytest.raises(TimeoutError):
        conn.getresponse()
    conn.close()
    driver.revert(hang)
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    conn.request("GET", "/work")
    assert conn.getresponse().status == 200 and time.monotonic() - started < 1.0
    conn.close()


def test_cold_start_is_set_and_its_revert_ends_it(emulators: dict[str, str]) -> None:
    driver = EmulatorDriver()
    action = Action("f1", "cold", FaultKind.COLD_START, "db", tuple(emulators),
                    StartCold(emulators, ColdStart(4.0, 30.0)))
    handle = driver.inject(action, record_into([]))
    assert faults_of(emulators["db-2"])["cold_start"]["current_factor"] > 3.9
    driver.revert(handle)
    assert faults_of(emulators["db-2"])["cold_start"] is None


def test_a_replica_that_is_down_is_skipped_only_if_its_container_is_stopped(emulators: dict[str, str]) -> None:
    dead = {"db-9": "http://127.0.0.1:9/admin"}  # nothing listens on the discard port
    handle = EmulatorDriver(probe=lambda name: Presence.STOPPED).inject(set_action("f1", dead, errors=0.1),
                                                                        record_into([]))
    with pytest.raises(LiveError, match="did not answer"):
        EmulatorDriver(probe=lambda name: Presence.RUNNING).revert(handle)
    EmulatorDriver(probe=lambda name: Presence.ABSENT).revert(handle)


def test_reassert_gives_a_restarted_replica_the_faults_in_effect(emulators: dict[str, str]) -> None:
    driver = EmulatorDriver()
    driver.inject(set_action("f1", emulators, slowdown=5.0), record_into([]))
    AdminClient(emulators["db-1"]).clear_faults()  # what a restart does
    driver.reassert({"db-1": emulators["db-1"]})
    assert faults_of(emulators["db-1"])["slowdown"] == pytest.approx(5.0)


# --------------------------------------------------------------------------- edge errors, made by the caller


@pytest.fixture
def callers() -> Iterator[tuple[dict[str, str], int]]:
    """api (2 replicas) calling db, on loopback: api's container name -> admin URL, and api-1's port."""
    with EmulatorThread(timeout=WAIT) as runner:
        db_port = runner.start(Emulator(stackspec.from_dict(SPEC, "test"), "db", 1))
        spec = stackspec.from_dict({**SPEC, "services": {**SPEC["services"], "api": {
            "replicas": 2, "workers": 4, "service_time": {"dist": "constant", "value": 0.001},
            "calls": [{"to": "db", "urls": [f"http://127.0.0.1:{db_port}"], "timeout_s": 1.0}]}}}, "test")
        ports = {f"api-{n}": runner.start(Emulator(spec, "api", n)) for n in (1, 2)}
        yield {name: f"http://127.0.0.1:{port}/admin" for name, port in ports.items()}, ports["api-1"]


def edge_action(fid: str, admin: dict[str, str], ratio: float, callee: str = "db") -> Action:
    return Action(fid, f"errors:api->{callee}", FaultKind.ERRORS, f"api->{callee}", tuple(admin),
                  FailCalls(admin, callee, EdgeFaults(ratio)))


def edge_errors_of(url: str) -> float:
    return float(AdminClient(url).state()["calls"]["db"]["faults"]["errors"])


def work(port: int) -> tuple[int, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        conn.request("GET", "/work")
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("X-Chaoslab-Cause")
    finally:
        conn.close()


def test_edge_errors_are_set_on_every_caller_replica_combined_and_journaled_before(
        callers: tuple[dict[str, str], int]) -> None:
    admin, port = callers
    driver = EmulatorDriver()
    seen: list[dict[str, list[float]]] = []
    ctx = InjectContext(lambda h: seen.append({"errors_then": [edge_errors_of(u) for u in admin.values()]}))
    first = driver.inject(edge_action("f1", admin, 0.5), ctx)
    assert seen == [{"errors_then": [0.0, 0.0]}]  # journaled before any caller heard of it
    second = driver.inject(edge_action("f2", admin, 0.5), record_into([]))
    assert [edge_errors_of(u) for u in admin.values()] == [pytest.approx(0.75)] * 2
    assert AdminClient(admin["api-1"]).state()["faults"]["errors"] == 0.0  # the service's own: untouched
    driver.revert(second)
    assert edge_errors_of(admin["api-2"]) == pytest.approx(0.5)
    driver.revert(first)
    assert [edge_errors_of(u) for u in admin.values()] == [0.0, 0.0]
    driver.revert(first)  # twice is harmless
    assert driver.undo_hint(first) == [f"curl -sS -X DELETE {u}/calls/db/faults" for u in admin.values()]


def test_an_edge_error_fails_the_callers_attempts_as_injected_and_recover_undoes_it(
        callers: tuple[dict[str, str], int]) -> None:
    admin, port = callers
    handle = EmulatorDriver().inject(edge_action("f1", admin, 1.0), record_into([]))
    assert [work(port) for _ in range(3)] == [(503, "dependency")] * 3
    calls = AdminClient(admin["api-1"]).state()["calls"]["db"]
    assert calls["faults"] == {"errors": 1.0}
    metrics = json.loads(urllib.request.urlopen(admin["api-1"].removesuffix("/admin") + "/admin/metrics",
                                                timeout=WAIT).read())
    assert metrics["calls"]["db"]["attempts"] == 3 == metrics["calls"]["db"]["errors"]["injected"]
    EmulatorDriver().revert(handle)  # a fresh driver, as chaoslab recover makes: clears what the journal shows
    assert [edge_errors_of(u) for u in admin.values()] == [0.0, 0.0]
    assert work(port) == (200, None)


def test_edge_errors_are_reasserted_on_a_restarted_caller_and_preflight_checks_the_callee(
        callers: tuple[dict[str, str], int]) -> None:
    admin, _ = callers
    driver = EmulatorDriver()
    driver.inject(edge_action("f1", admin, 0.3), record_into([]))
    AdminClient(admin["api-1"]).clear_call_faults("db")  # what a restart does
    driver.reassert({"api-1": admin["api-1"]})
    assert edge_errors_of(admin["api-1"]) == pytest.approx(0.3)
    driver.preflight(edge_action("f2", admin, 0.1))
    with pytest.raises(LiveError, match="api-1 does not call cache"):
        driver.preflight(edge_action("f3", admin, 0.1, callee="cache"))


# --------------------------------------------------------------------------- faults on one operation


@pytest.fixture
def posts() -> Iterator[tuple[dict[str, str], dict[str, int]]]:
    """post (2 replicas) with operations read and write, 1 ms each: container -> admin URL, and -> port."""
    op = {"service_time": {"dist": "constant", "value": 0.001}}
    spec = stackspec.from_dict({**SPEC, "services": {**SPEC["services"], "post": {
        "replicas": 2, "workers": 8, "service_time": op["service_time"], "operations": {"read": op, "write": op}}}},
        "test")
    with EmulatorThread(timeout=WAIT) as runner:
        ports = {f"post-{n}": runner.start(Emulator(spec, "post", n)) for n in (1, 2)}
        yield {name: f"http://127.0.0.1:{port}/admin" for name, port in ports.items()}, ports


def operation_action(fid: str, admin: dict[str, str], operation: str, **faults: float) -> Action:
    return Action(fid, f"x:post.{operation}", FaultKind.ERRORS, "post", tuple(admin),
                  FaultOperation(admin, operation, OperationFaults(**faults)))


def timed(port: int, path: str) -> tuple[int, str | None, float]:
    began = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("X-Chaoslab-Cause"), time.monotonic() - began
    finally:
        conn.close()


def operation_faults_of(url: str, operation: str) -> dict[str, float]:
    return dict(AdminClient(url).state()["operations"][operation]["faults"])


def test_faults_on_one_operation_fail_or_slow_only_its_path_combined_and_journaled_before(
        posts: tuple[dict[str, str], dict[str, int]]) -> None:
    admin, ports = posts
    driver = EmulatorDriver()
    seen: list[dict[str, str]] = []
    ctx = InjectContext(lambda h: seen.append({u: json.dumps(operation_faults_of(u, "write")) for u in admin.values()}))
    failing = driver.inject(operation_action("f1", admin, "write", errors=1.0), ctx)
    assert all(json.loads(v)["errors"] == 0.0 for v in seen[0].values())  # journaled before any replica heard of it
    slow = driver.inject(operation_action("f2", admin, "read", delay_s=0.2), record_into([]))
    for port in ports.values():
        status, cause, _ = timed(port, "/op/write")
        assert (status, cause) == (503, "injected")
        status, cause, took = timed(port, "/op/read")
        assert (status, cause) == (200, None) and took >= 0.2
    metrics = json.loads(urllib.request.urlopen(admin["post-1"] + "/metrics", timeout=WAIT).read())
    assert metrics["operations"]["write"]["errors"]["injected"] == 1 and metrics["operations"]["read"]["ok"] == 1
    assert AdminClient(admin["post-1"]).state()["faults"]["errors"] == 0.0  # the service's own: untouched
    more = driver.inject(operation_action("f3", admin, "read", delay_s=0.1, jitter_s=0.02), record_into([]))
    assert operation_faults_of(admin["post-2"], "read") == pytest.approx(
        {"errors": 0.0, "delay_s": 0.3, "jitter_s": 0.02})  # delays add up, as the simulator's
    driver.revert(more)
    driver.revert(slow)
    assert timed(ports["post-1"], "/op/read")[2] < 0.2
    EmulatorDriver().revert(failing)  # a fresh driver, as chaoslab recover makes: clears what the journal shows
    assert [operation_faults_of(u, "write") for u in admin.values()] == [
        {"errors": 0.0, "delay_s": 0.0, "jitter_s": 0.0}] * 2
    assert timed(ports["post-2"], "/op/write")[:2] == (200, None)
    assert driver.undo_hint(failing) == [f"curl -sS -X DELETE {u}/operations/write/faults" for u in admin.values()]


def test_operation_faults_are_reasserted_after_a_restart_and_preflight_checks_the_operation(
        posts: tuple[dict[str, str], dict[str, int]]) -> None:
    admin, _ = posts
    driver = EmulatorDriver()
    driver.inject(operation_action("f1", admin, "write", errors=0.3), record_into([]))
    AdminClient(admin["post-1"]).clear_operation_faults("write")  # what a restart does
    driver.reassert({"post-1": admin["post-1"]})
    assert operation_faults_of(admin["post-1"], "write")["errors"] == pytest.approx(0.3)
    driver.preflight(operation_action("f2", admin, "read", errors=0.1))
    with pytest.raises(LiveError, match="post-1 has no operation wirte"):
        driver.preflight(operation_action("f3", admin, "wirte", errors=0.1))
    status, body = request_admin(admin["post-1"], "POST", "/operations/write/faults", {"errors": 2})
    assert status == 400 and b"errors" in body
    status, body = request_admin(admin["post-1"], "DELETE", "/operations/wirte/faults")
    assert status == 404 and b"its operations: read, write" in body


def request_admin(url: str, method: str, path: str, body: object = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as answer:  # noqa: S310 - loopback
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()

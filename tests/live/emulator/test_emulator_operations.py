"""Operations, routers, request attributes and fallback calls in the emulator (docs/operations.md): each
operation at its own path with its own counts, a router's split within sampling error, an attribute
decided at the entry seen by every retry, and a fallback call made when its call fails or misses."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from chaos.live.in_container import stackspec
from chaos.live.in_container.http import Target, fetch

ATTRS = stackspec.ATTRIBUTES_HEADER


def _filled(call: dict[str, Any], services: dict[str, dict[str, Any]], ports: dict[tuple[str, int], int]) -> dict:
    replicas = services[call["to"]].get("replicas", 1)
    out = {"urls": [f"http://127.0.0.1:{ports[(call['to'], n)]}" for n in range(1, replicas + 1)], **call}
    if "fallback_to" in call:
        out["fallback_to"] = _filled(call["fallback_to"], services, ports)
    return out


def launch_ops(launch, services: dict[str, dict[str, Any]], attributes: dict[str, float] | None = None):
    """``launch`` for specs with operations, fallback calls and attributes: urls filled in everywhere."""
    stack = launch({name: {k: v for k, v in svc.items() if k not in ("calls", "operations", "service_time_by")}
                    for name, svc in services.items()})
    spec: dict[str, Any] = {"version": 1, "latency_bounds_s": list(stack.spec.latency_bounds_s), "services": {}}
    for name, svc in services.items():
        out = dict(svc)
        out["calls"] = [_filled(c, services, stack.ports) for c in svc.get("calls", [])]
        if "operations" in svc:
            out["operations"] = {op: {**body, "calls": [_filled(c, services, stack.ports)
                                                         for c in body.get("calls", [])]}
                                 for op, body in svc["operations"].items()}
        spec["services"][name] = out
    if attributes:
        spec["attributes"] = attributes
    parsed = stackspec.from_dict(spec, source="test stack")
    # The same ports, the full spec: restart each replica with it.
    for (service, replica) in list(stack.emulators):
        stack.stop(service, replica)
    stack.spec = parsed
    for (service, replica) in stack.ports:
        stack.restart(service, replica)
    return stack


def send(stack, service: str, path: str, n: int, headers: dict[str, str] | None = None,
         concurrency: int = 20) -> list[int]:
    """``n`` requests to ``path`` of ``service``, at most ``concurrency`` at once: their statuses."""
    async def many() -> list[int]:
        gate = asyncio.Semaphore(concurrency)

        async def one() -> int:
            async with gate, asyncio.timeout(5):
                return (await fetch(Target("127.0.0.1", stack.port(service)), path, headers)).status

        return list(await asyncio.gather(*(one() for _ in range(n))))

    return stack.runner.run(many(), 60)


def test_each_operation_is_served_at_its_path_with_its_own_calls_and_counts(launch, helpers):
    c = helpers.const
    stack = launch_ops(launch, {
        "post": {"service_time": c(0.0), "workers": 8, "operations": {
            "read": {"calls": [{"to": "db", "operation": "find"}]},
            "write": {"service_time": c(0.0), "calls": [{"to": "db", "operation": "insert"}, {"to": "media"}]}}},
        "db": {"service_time": c(0.0), "workers": 8, "operations": {"find": {}, "insert": {}}},
        "media": {"service_time": c(0.0), "workers": 8},
    })
    assert send(stack, "post", "/op/read", 30) == [200] * 30
    assert send(stack, "post", "/op/write", 10) == [200] * 10
    post, db, media = stack.metrics("post"), stack.metrics("db"), stack.metrics("media")
    assert post["operations"]["read"]["requests"] == 30 and post["operations"]["write"]["requests"] == 10
    assert post["server"]["requests"] == 40 and post["server"]["ok"] == 40  # the operations add up
    assert db["operations"]["find"]["ok"] == 30 and db["operations"]["insert"]["ok"] == 10
    # each operation's own work is timed apart too (what calibration fits per operation)
    own = {op: sum(db["operations"][op]["own_time_hist"]) for op in ("find", "insert")}
    assert own == {"find": 30, "insert": 10} and sum(db["server"]["own_time_hist"]) == 40
    assert post["calls"]["db"]["attempts"] == 40  # both operations' calls to db, as one edge
    assert media["server"]["requests"] == 10 and "operations" not in media
    status, _, body, _ = helpers.request(stack.port("post"), "/work")
    assert status == 404 and b"/op/read" in body  # a service with operations serves no /work
    text = helpers.request(stack.port("db"), "/metrics")[2].decode()
    assert 'http_route="/op/find"' in text and 'http_route="/op/insert"' in text


def test_a_router_splits_requests_by_weight_within_sampling_error(launch, helpers):
    c = helpers.const
    stack = launch_ops(launch, {
        "front": {"service_time": c(0.0), "workers": 32, "calls": [
            {"to": "a", "mode": "route", "weight": 1}, {"to": "b", "mode": "route", "weight": 3}]},
        "a": {"service_time": c(0.0), "workers": 32}, "b": {"service_time": c(0.0), "workers": 32},
    })
    n = 1200
    assert send(stack, "front", "/work", n, concurrency=32) == [200] * n
    a, b = stack.metrics("a")["server"]["requests"], stack.metrics("b")["server"]["requests"]
    assert a + b == n  # exactly one call per request
    sd = math.sqrt(n * 0.25 * 0.75)
    assert abs(a - n * 0.25) < 4 * sd  # binomial: 4 standard deviations


def test_an_attribute_decided_at_the_entry_is_seen_by_every_retry(launch, helpers):
    """A miss stays a miss: with the database down, every request without cache_hit fails whatever the
    retries, and every one with it succeeds (a per-attempt probability would let retries skip the database)."""
    c = helpers.const
    stack = launch_ops(launch, {
        "front": {"service_time": c(0.0), "workers": 16,
                  "calls": [{"to": "api", "retries": {"max": 3}}]},
        "api": {"service_time": c(0.0), "workers": 16,
                "calls": [{"to": "db", "unless": "cache_hit", "timeout_s": 1}]},
        "db": {"service_time": c(0.0)},
    }, attributes={"cache_hit": 0.7})
    stack.stop("db")
    hits = send(stack, "front", "/work", 20, {ATTRS: "cache_hit"})
    misses = send(stack, "front", "/work", 20)
    assert hits == [200] * 20 and misses == [503] * 20
    api = stack.metrics("api")
    assert api["server"]["requests"] == 20 + 20 * 4  # each miss tried four times by front, failing each time
    assert api["calls"]["db"]["attempts"] == 80
    wrong = stack.runner.run(fetch(Target("127.0.0.1", stack.port("front")), "/work", {ATTRS: "cache_hti"}), 10)
    assert wrong.status == 400 and b"cache_hti" in wrong.body  # a misspelt attribute is refused, not ignored


def test_a_fallback_call_is_made_on_error_and_on_a_miss_with_its_own_policy(launch, helpers):
    c = helpers.const
    stack = launch_ops(launch, {
        "api": {"service_time": c(0.0), "workers": 16, "calls": [
            {"to": "cache", "timeout_s": 0.5, "hit": "cache_hit",
             "fallback_to": {"to": "db", "operation": "find", "timeout_s": 1, "retries": {"max": 2}}}]},
        "cache": {"service_time": c(0.0), "workers": 16},
        "db": {"service_time": c(0.0), "workers": 16, "operations": {"find": {}}},
    }, attributes={"cache_hit": 0.9})
    assert send(stack, "api", "/work", 30, {ATTRS: "cache_hit"}) == [200] * 30
    assert stack.metrics("db")["server"]["requests"] == 0  # hits never reach the database
    assert send(stack, "api", "/work", 10) == [200] * 10  # misses: answered by the cache, then the database
    assert stack.metrics("db")["operations"]["find"]["requests"] == 10
    stack.stop("cache")  # the cache dies: every read falls back
    assert send(stack, "api", "/work", 30, {ATTRS: "cache_hit"}) == [200] * 30
    assert stack.metrics("db")["server"]["requests"] == 40
    stack.faults("db", errors=1.0)  # and the fallback fails too: after its own 2 retries
    assert send(stack, "api", "/work", 5, {ATTRS: "cache_hit"}) == [503] * 5
    assert stack.metrics("api")["calls"]["db"]["attempts"] == 40 + 5 * 3


def _server_spans(directory) -> dict[str, dict[str, tuple[int, int]]]:
    """trace id -> service -> (start, end) of its server span, in ns, from the replicas' OTLP lines."""
    import json

    out: dict[str, dict[str, tuple[int, int]]] = {}
    for path in directory.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            for resource in json.loads(line)["resourceSpans"]:
                service = next(a["value"]["stringValue"] for a in resource["resource"]["attributes"]
                               if a["key"] == "service.name")
                for scope in resource["scopeSpans"]:
                    for s in scope["spans"]:
                        if s["kind"] == 2:  # SERVER
                            out.setdefault(s["traceId"], {})[service] = (int(s["startTimeUnixNano"]),
                                                                        int(s["endTimeUnixNano"]))
    return out


@pytest.mark.parametrize("new_stage", [True, False])
def test_a_new_stage_starts_after_every_call_of_the_stage_before_it_finished(launch, helpers, tmp_path,
                                                                               new_stage: bool) -> None:
    """Two parallel stages written one after the other: with new_stage, c and d start only once a and b have
    answered (and still together); without it the four calls are one stage and c starts while a works."""
    c = helpers.const
    stage2 = {"mode": "parallel", "new_stage": True} if new_stage else {"mode": "parallel"}
    services = {
        "front": {"service_time": c(0.0), "workers": 16, "calls": [
            {"to": "a", "mode": "parallel"}, {"to": "b", "mode": "parallel"},
            {"to": "c", **stage2}, {"to": "d", "mode": "parallel"}]},
        **{name: {"service_time": c(t), "workers": 16} for name, t in (("a", 0.03), ("b", 0.005),
                                                                       ("c", 0.02), ("d", 0.02))},
    }
    stack = launch(services, traces=tmp_path)
    assert [[e.callee for e in g] for g in stack.emulators[("front", 1)].ops["/work"].stages] == \
        ([["a", "b"], ["c", "d"]] if new_stage else [["a", "b", "c", "d"]])
    assert send(stack, "front", "/work", 20, concurrency=4) == [200] * 20
    for key in list(stack.emulators):
        stack.stop(*key)  # flushes every replica's spans
    traces = [t for t in _server_spans(tmp_path).values() if len(t) == 5]
    assert len(traces) == 20
    for t in traces:
        stage1_end = max(t["a"][1], t["b"][1])
        if new_stage:
            assert t["c"][0] >= stage1_end and t["d"][0] >= stage1_end
            assert t["d"][0] < t["c"][1] and t["c"][0] < t["d"][1]  # c and d still run together
        else:
            assert t["c"][0] < t["a"][1]  # merged: c begins while a is still at work


def test_a_service_time_by_value_is_chosen_by_the_value_the_request_carries(launch, helpers):
    """store's own time is 5 ms for size=small, 50 ms for size=large and its plain 20 ms for size=medium (not
    listed) or a request without the attribute; front passes the header on unchanged."""
    c = helpers.const
    stack = launch_ops(launch, {
        "front": {"service_time": c(0.0), "workers": 8, "calls": [{"to": "store"}]},
        "store": {"service_time": c(0.02), "workers": 8, "service_time_by": {
            "attribute": "size", "values": {"small": c(0.005), "large": c(0.05)}}},
    }, attributes={"size": {"small": 0.5, "medium": 0.3, "large": 0.2}, "cache_hit": 0.5})
    assert send(stack, "front", "/work", 30, concurrency=4) == [200] * 30  # the timer learns its lateness
    own = stack.emulators[("store", 1)].server.own_time
    for header, expected in (("size=small", 0.005), ("cache_hit,size=large", 0.05), ("size=medium", 0.02),
                             ("", 0.02), ("size=large", 0.05)):
        count, total = sum(own.counts), own.sum
        assert send(stack, "front", "/work", 20, {ATTRS: header}, concurrency=4) == [200] * 20
        mean = (own.sum - total) / (sum(own.counts) - count)
        # wide enough for a loaded machine's late timers, narrow enough that no other value's time fits
        assert mean == pytest.approx(expected, abs=0.004 + 0.15 * expected), (header, mean)
    wrong = stack.runner.run(fetch(Target("127.0.0.1", stack.port("front")), "/work", {ATTRS: "size=huge"}), 10)
    assert wrong.status == 400 and b"size=huge" in wrong.body  # a value the stack does not have is refused


@pytest.mark.parametrize("own_pool", [True, False])
def test_a_saturated_operation_with_its_own_pool_does_not_delay_the_services_other_operation(
        launch, helpers, own_pool: bool) -> None:
    """db's scan takes 100 ms and gets 8 requests at once; find (5 ms) arrives while they wait. With its own
    worker, scan queues behind itself and find is served by the service's worker at once; on the shared
    worker, find waits behind the scans (the control: the same load, the same capacity)."""
    c = helpers.const
    scan: dict[str, Any] = {"service_time": c(0.1), **({"workers": 1} if own_pool else {})}
    stack = launch_ops(launch, {"db": {"service_time": c(0.005), "workers": 1, "queue_limit": 100,
                                       "operations": {"scan": scan, "find": {}}}})
    target = Target("127.0.0.1", stack.port("db"))

    async def timed(path: str) -> tuple[int, float]:
        started = asyncio.get_running_loop().time()
        async with asyncio.timeout(5):
            answer = await fetch(target, path)
        return answer.status, asyncio.get_running_loop().time() - started

    async def scans_and_finds() -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        scans = [asyncio.create_task(timed("/op/scan")) for _ in range(8)]
        await asyncio.sleep(0.05)  # every scan has arrived: one at work, seven waiting
        finds = []
        for _ in range(5):
            finds.append(await timed("/op/find"))
        return list(await asyncio.gather(*scans)), finds

    scans, finds = stack.runner.run(scans_and_finds(), 30)
    assert [s for s, _ in scans + finds] == [200] * 13
    assert max(t for _, t in scans) > 0.7  # scan was saturated either way: 8 x 100 ms on one worker
    emulator = stack.emulators[("db", 1)]
    assert len(emulator.pools) == (2 if own_pool else 1)
    if own_pool:
        assert max(t for _, t in finds) < 0.06, finds  # 5 ms of work; nothing ahead of it in its pool
    else:
        assert finds[0][1] > 0.5, finds  # behind the seven waiting scans

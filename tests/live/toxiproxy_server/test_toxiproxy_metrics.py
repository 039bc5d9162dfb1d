"""``GET /metrics`` of the Toxiproxy-compatible server: Prometheus text (read by the real client library's parser)
with the official server's byte counters and chaoslab's connection counters, histogram and gauges."""

from __future__ import annotations

import math
import socket

from prometheus_client.parser import text_string_to_metric_families

from chaos.core.latency import latency_bounds


def samples(api) -> dict[str, list]:
    answer = api.call("GET", "/metrics")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(answer.body.decode()):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def value(found: dict[str, list], name: str, **labels: str) -> float:
    hits = [s.value for s in found.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(hits) == 1, (name, labels, found.get(name))
    return float(hits[0])


def test_bytes_connections_and_gauges_follow_the_traffic(api, echo_server, net):
    proxy = api.create("db", echo_server.address)
    with net.connect(proxy["listen"]) as sock:
        net.round_trip(sock, b"x" * 1000)
        during = samples(api)
        assert value(during, "chaoslab_proxy_active_connections", proxy="db") == 1
    for _ in range(2):
        with net.connect(proxy["listen"]) as sock:
            net.round_trip(sock, b"y" * 10)
    assert net.wait_for(lambda: value(samples(api), "chaoslab_proxy_active_connections", proxy="db") == 0)
    api.add_toxic("db", {"type": "latency", "attributes": {"latency": 1}})
    found = samples(api)

    labels = {"proxy": "db", "listener": proxy["listen"], "upstream": echo_server.address}
    for name in ("toxiproxy_proxy_received_bytes_total", "toxiproxy_proxy_sent_bytes_total"):
        assert value(found, name, direction="upstream", **labels) == 1020  # client to upstream
        assert value(found, name, direction="downstream", **labels) == 1020  # the echo back
    assert value(found, "chaoslab_proxy_connections_total", proxy="db", outcome="closed") == 3
    buckets = [s for s in found["chaoslab_proxy_connection_duration_seconds_bucket"] if s.labels["outcome"] == "closed"]
    assert [float(s.labels["le"]) for s in buckets] == [*latency_bounds(), math.inf]
    assert [s.value for s in buckets] == sorted(s.value for s in buckets) and buckets[-1].value == 3  # cumulative
    assert value(found, "chaoslab_proxy_enabled", proxy="db") == 1
    assert value(found, "chaoslab_proxy_toxics", proxy="db") == 1


def test_an_unreachable_upstream_and_a_disabled_proxy_are_counted_by_outcome(api, echo_server, net):
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # bound, never listening: connecting to it is refused
    try:
        proxy = api.create("gone", f"127.0.0.1:{dead.getsockname()[1]}")
        with net.connect(proxy["listen"]) as sock:
            assert net.read_until_end(sock, 3.0).data == b""  # closed at once, nothing passed
    finally:
        dead.close()
    live = api.create("db", echo_server.address)
    held = net.connect(live["listen"])
    try:
        net.round_trip(held, b"ping")
        assert api.call("POST", "/proxies/db", {"enabled": False}).status == 200  # drops its connections
        assert net.wait_for(lambda: "aborted" in {s.labels.get("outcome") for s in
                                                  samples(api).get("chaoslab_proxy_connections_total", [])})
    finally:
        held.close()
    found = samples(api)
    assert value(found, "chaoslab_proxy_connections_total", proxy="gone", outcome="upstream_unreachable") == 1
    assert value(found, "chaoslab_proxy_connections_total", proxy="db", outcome="aborted") == 1
    assert value(found, "chaoslab_proxy_enabled", proxy="db") == 0
    assert value(found, "chaoslab_proxy_active_connections", proxy="db") == 0

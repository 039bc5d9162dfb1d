"""The load generator's /metrics: Prometheus text that prometheus_client's parser reads, holding exactly what
the load's own records count (requests, outcomes, the latency histogram in the run's bounds)."""

from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path

from loadkit import BOUNDS, constant, entry, make_plan, run, topology
from prometheus_client.parser import text_string_to_metric_families

from chaos.live.load.metrics import LoadMetrics
from chaos.live.load.workserver import Reply, WorkServer


def families(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    """Samples by family name, as prometheus_client parses them."""
    out: dict[str, list[tuple[str, dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        out[family.name] = [(s.name, dict(s.labels), s.value) for s in family.samples]
    return out


def test_the_exposition_parses_and_counts_what_happened() -> None:
    m = LoadMetrics.of((0.01, 0.1, 1.0), [("buy", "checkout", [("GET /work", "GET"), ("GET /b", "GET")])])
    fresh = families(m.render().decode())
    # Success label sets are there before anything happened, at zero.
    (ok,) = [s for s in fresh["chaoslab_load_request_duration_seconds"] if s[0].endswith("_count")]
    assert ok[1] == {"entrypoint": "buy", "outcome": "ok"} and ok[2] == 0
    assert {(s[1]["request"], s[1]["outcome"], s[2]) for s in fresh["chaoslab_load_responses"]} == {
        ("GET /work", "ok", 0), ("GET /b", "ok", 0)}
    for _ in range(3):
        m.request_started(0, 0)
    m.request_started(0, 1)
    m.attempt_sent(0, False)
    m.attempt_ended(0, 0, None, 0.05)
    m.request_ended(0, 0, "ok", 0.05)
    m.attempt_sent(0, False)
    m.attempt_ended(0, 1, "timeout", 2.0)
    m.attempt_sent(0, True)
    m.attempt_ended(0, 1, None, 0.005)
    m.request_ended(0, 1, "ok", 2.1)
    m.request_ended(0, 0, "crashed", 0.002)
    m.request_ended(0, 0, "client_error", 0.003)
    f = families(m.render().decode())
    assert {(s[1]["request"], s[2]) for s in f["chaoslab_load_requests"]} == {("GET /work", 3), ("GET /b", 1)}
    # Each kind's outcomes counted; their latency in one histogram per entrypoint and outcome (no request label:
    # 64 kinds would make it 64 times as long).
    answered = {(s[1]["request"], s[1]["outcome"]): s[2] for s in f["chaoslab_load_responses"]}
    assert answered == {("GET /work", "ok"): 1, ("GET /work", "crashed"): 1, ("GET /work", "client_error"): 1,
                        ("GET /b", "ok"): 1}
    assert all("request" not in s[1] for s in f["chaoslab_load_request_duration_seconds"])
    ended = {(s[0].rsplit("_", 1)[-1], s[1]["outcome"], s[1].get("le")): s[2]
             for s in f["chaoslab_load_request_duration_seconds"]}
    assert ended["count", "ok", None] == 2 and ended["bucket", "ok", "0.1"] == 1
    assert ended["bucket", "ok", "0.01"] == 0  # cumulative: 0.05 s is above 10 ms
    assert ended["bucket", "ok", "1.0"] == 1 and ended["bucket", "ok", "+Inf"] == 2
    assert ended["count", "crashed", None] == ended["count", "client_error", None] == 1
    assert abs(ended["sum", "ok", None] - 2.15) < 1e-9
    # Attempts, as the emulators' client histogram: one label set per target and outcome, both kinds in it.
    client = [s for s in f["http_client_request_duration_seconds"] if s[0].endswith("_count")]
    by_status = {s[1].get("http_response_status_code") or s[1]["error_type"]: s[2] for s in client}
    assert by_status == {"200": 2, "timeout": 1}
    assert {s[1]["server_address"] for s in client} == {"checkout"}
    assert f["chaoslab_load_retries"][0][2] == 1
    assert f["chaoslab_load_in_flight_requests"][0][2] == 0  # four started, four ended
    m.request_started(0, 0)
    again = families(m.render().decode())
    assert again["chaoslab_load_in_flight_requests"][0][2] == 1
    assert {(s[1]["request"], s[2]) for s in again["chaoslab_load_requests"]} == {("GET /work", 4), ("GET /b", 1)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_run_serves_its_counts_and_the_last_scrape_equals_the_records(server: Callable[..., WorkServer],
                                                                       tmp_path: Path) -> None:
    """Scraped every 200 ms while it runs and while it lingers after the end: the last scrape holds every
    request, success and failure the records counted, bucket by bucket."""
    srv = server(lambda n: Reply(status=503, cause="injected") if n % 10 == 0 else Reply(delay_s=0.002 * (n % 7)))
    port = _free_port()
    plan = make_plan(topology(entry("web")), constant(80.0, 3.0), {"web": srv.url}, 3.0,
                     metrics_listen=f"127.0.0.1:{port}", metrics_linger_s=1.5)
    scrapes: list[str] = []
    done = threading.Event()

    def scrape() -> None:
        while not done.wait(0.2):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
                    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                    scrapes.append(answer.read().decode())
            except OSError:
                continue  # not listening yet, or gone

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    try:
        result = run(plan, tmp_path)
    finally:
        done.set()
        scraper.join(timeout=5)
    assert len(scrapes) >= 10
    web = result.summary.totals["web"]
    assert web.requests > 150 and web.failed > 0
    last = families(scrapes[-1])
    (started,) = last["chaoslab_load_requests"]
    assert started[2] == web.requests
    ended = last["chaoslab_load_request_duration_seconds"]
    counts = {s[1]["outcome"]: s[2] for s in ended if s[0].endswith("_count")}
    assert counts["ok"] == web.ok and counts["injected"] == sum(web.errors.values()) == web.failed
    assert {s[1]["outcome"]: s[2] for s in last["chaoslab_load_responses"]} == counts  # one kind: the same
    cumulative = [s[2] for s in ended if s[0].endswith("_bucket") and s[1]["outcome"] == "ok"]
    assert len(cumulative) == len(BOUNDS) + 1
    own = [cumulative[0]] + [b - a for a, b in zip(cumulative, cumulative[1:], strict=False)]
    assert {k: int(n) for k, n in enumerate(own) if n} == dict(web.hist)
    attempts = {s[1].get("http_response_status_code") or s[1]["error_type"]: s[2]
                for s in last["http_client_request_duration_seconds"] if s[0].endswith("_count")}
    assert attempts["200"] == web.attempt_ok and attempts["injected"] == web.attempts_failed
    assert last["chaoslab_load_in_flight_requests"][0][2] == 0


def test_the_per_entrypoint_totals_count_every_kind_and_outcome_from_zero() -> None:
    """What the chaoslab and haproxy presets are renamed from: entry requests and answers per entrypoint (every
    kind together, client errors left out), attempts sent and answered, HAProxy's average of the successes."""
    m = LoadMetrics.of((0.01, 0.1, 1.0), [("buy", "checkout", [("GET /work", "GET"), ("GET /b", "GET")])])
    fresh = families(m.render().decode())
    assert {s[1]["outcome"]: s[2] for s in fresh["chaoslab_load_entry_responses"]} == {
        "ok": 0, "timeout": 0, "rejected": 0, "circuit_open": 0, "crashed": 0, "injected": 0, "dependency": 0}
    m.request_started(0, 0)
    m.request_started(0, 1)
    m.request_started(0, 1)
    m.attempt_sent(0, False)
    m.attempt_ended(0, 0, "crashed", 0.001)
    m.attempt_sent(0, True)
    m.attempt_ended(0, 0, None, 0.02)
    m.request_ended(0, 0, "ok", 0.03)
    m.attempt_sent(0, False)
    m.attempt_ended(0, 1, None, 0.04)
    m.request_ended(0, 1, "ok", 0.04)
    m.request_ended(0, 1, "client_error", 0.001)
    f = families(m.render().decode())
    assert [s[2] for s in f["chaoslab_load_entry_requests"]] == [3]
    assert {s[1]["outcome"]: s[2] for s in f["chaoslab_load_entry_responses"] if s[2]} == {"ok": 2}
    assert [(s[1]["server_address"], s[2]) for s in f["chaoslab_client_requests"]] == [("checkout", 3)]
    assert {s[1]["outcome"]: s[2] for s in f["chaoslab_client_responses"] if s[2]} == {"ok": 2, "crashed": 1}
    # By HAProxy's status class too, every class there: the entry's (client errors left out) and the attempts'.
    zero = dict.fromkeys(("1xx", "3xx", "4xx", "other"), 0)
    assert {s[1]["code"]: s[2] for s in f["chaoslab_load_entry_responses_by_class"]} == {**zero, "2xx": 2, "5xx": 0}
    assert {s[1]["code"]: s[2] for s in f["chaoslab_client_responses_by_class"]} == {**zero, "2xx": 2, "5xx": 1}
    (average,) = f["chaoslab_client_time_average_seconds"]
    assert abs(average[2] - 0.03) < 1e-12  # the two successful attempts' mean
    # Two entrypoints to one service: one caller's series per target (renamed, the entrypoint label goes).
    kinds = [("GET /work", "GET")]
    two = LoadMetrics.of((0.1,), [("buy", "checkout", kinds), ("sell", "checkout", kinds), ("look", "catalog", kinds)])
    two.attempt_sent(0, False)
    two.attempt_ended(0, 0, None, 0.2)
    two.attempt_sent(1, False)
    two.attempt_ended(1, 0, None, 0.4)
    f = families(two.render().decode())
    assert {s[1]["server_address"]: s[2] for s in f["chaoslab_client_requests"]} == {"checkout": 2, "catalog": 0}
    averages = {s[1]["server_address"]: s[2] for s in f["chaoslab_client_time_average_seconds"]}
    assert abs(averages["checkout"] - 0.3) < 1e-12 and averages["catalog"] == 0


def test_the_attempts_histogram_has_one_series_per_target_and_outcome() -> None:
    """Renamed to a target's names, the labels that tell entrypoints and methods apart are dropped, and of two
    series with one label set in a scrape Prometheus keeps one: so the load writes one per target and outcome,
    every entrypoint's and method's attempts to that target in it."""
    m = LoadMetrics.of((0.1, 1.0), [("buy", "checkout", [("POST /buy", "POST")]),
                                    ("sell", "checkout", [("GET /sell", "GET"), ("PUT /sell", "PUT")]),
                                    ("look", "catalog", [("GET /look", "GET")])])
    m.attempt_ended(0, 0, None, 0.05)
    m.attempt_ended(1, 0, None, 0.5)
    m.attempt_ended(1, 1, None, 0.07)
    m.attempt_ended(1, 1, "timeout", 2.0)
    m.attempt_ended(2, 0, "crashed", 0.001)
    f = families(m.render().decode())
    hist = f["http_client_request_duration_seconds"]
    assert all(set(s[1]) <= {"server_address", "http_response_status_code", "error_type", "le"} for s in hist)
    counts = {(s[1]["server_address"], s[1].get("http_response_status_code") or s[1]["error_type"]): s[2]
              for s in hist if s[0].endswith("_count")}
    assert counts == {("checkout", "200"): 3, ("checkout", "timeout"): 1, ("catalog", "200"): 0,
                      ("catalog", "crashed"): 1}
    label_sets = [tuple(sorted(s[1].items())) + (s[0],) for s in hist]
    assert len(label_sets) == len(set(label_sets))  # no two series alike
    buckets = {s[1]["le"]: s[2] for s in hist if s[0].endswith("_bucket")
               and s[1] == {"server_address": "checkout", "http_response_status_code": "200", "le": s[1]["le"]}}
    assert buckets == {"0.1": 2, "1.0": 3, "+Inf": 3}

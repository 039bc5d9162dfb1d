"""The emulator's ``GET /metrics`` in Prometheus text: parsed by the real client library's parser and checked
against the JSON view (``/admin/metrics``) of the same counters."""

from __future__ import annotations

import math
import threading
from collections import defaultdict

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chaos.live.in_container.exposition import Family, Kind, render


def scrape(helpers, port: int) -> tuple[str, dict[str, list]]:
    """The content type and the samples of ``/metrics``, by sample name (``x_bucket``, ``x_count``...)."""
    status, headers, body, _ = helpers.request(port, "/metrics")
    assert status == 200
    samples: dict[str, list] = defaultdict(list)
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[sample.name].append(sample)
    return headers["content-type"], samples


def one(samples: list, **labels: str) -> float:
    found = [s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items())
             and all(k in labels or k in ("le", "http_request_method", "http_route") for k in s.labels)]
    assert len(found) == 1, (labels, samples)
    return float(found[0])


def test_metrics_are_prometheus_text_whose_counts_and_buckets_match_the_json_view(launch, helpers):
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0),
                          "calls": [{"to": "b", "timeout_s": 0.05}]},
                    "b": {"workers": 4, "service_time": helpers.const(0.012)}})
    stack.fire("a", 12, concurrency=3)
    stack.faults("b", errors=1.0)  # every later request fails at b with injected: a 503 at b, dependency at a
    stack.fire("a", 5, concurrency=1)
    assert helpers.wait_for(lambda: stack.metrics("b")["server"]["requests"] == 17)

    content_type, a = scrape(helpers, stack.port("a"))
    assert content_type.startswith("text/plain; version=0.0.4")
    _, b = scrape(helpers, stack.port("b"))
    ja, jb = stack.metrics("a"), stack.metrics("b")

    # Server side, by status and cause: what the JSON view counted, each label set its own count.
    server_b = b["http_server_request_duration_seconds_count"]
    assert one(server_b, http_response_status_code="200") == jb["server"]["ok"] == 12
    injected = one(server_b, http_response_status_code="503", error_type="injected")
    assert injected == jb["server"]["errors"]["injected"] == 5
    assert one(b["chaoslab_server_requests_total"]) == jb["server"]["requests"] == 17
    server_a = a["http_server_request_duration_seconds_count"]
    assert one(server_a, http_response_status_code="503", error_type="dependency") == 5

    # The success histogram: cumulative, one le per bound plus +Inf, the same buckets as the JSON's.
    buckets = [s for s in b["http_server_request_duration_seconds_bucket"]
               if s.labels["http_response_status_code"] == "200"]
    assert [float(s.labels["le"]) for s in buckets] == [*helpers.BOUNDS, math.inf]
    cumulative = [sum(jb["server"]["latency_hist"][: k + 1]) for k in range(len(helpers.BOUNDS) + 1)]
    assert [int(s.value) for s in buckets] == cumulative
    # 12 ms of service time each: the sum lies between 12 x 12 ms and 12 x 50 ms (a loaded machine adds some).
    total = one(b["http_server_request_duration_seconds_sum"], http_response_status_code="200")
    assert 12 * 0.012 <= total <= 12 * 0.05

    # Client side: a's attempts to b, by outcome, with b as server_address.
    client = a["http_client_request_duration_seconds_count"]
    assert one(client, server_address="b", http_response_status_code="200") == ja["calls"]["b"]["ok"] == 12
    assert one(client, server_address="b", error_type="injected") == ja["calls"]["b"]["errors"]["injected"] == 5
    assert one(a["chaoslab_client_retries_total"], server_address="b") == ja["calls"]["b"]["retries"]
    # What the chaoslab and haproxy presets are renamed from: attempts sent, answers by outcome (every outcome,
    # zeros too), the replica's own retries, HAProxy's average of the successes (12 of them: their plain mean).
    assert one(a["chaoslab_client_requests_total"], server_address="b") == ja["calls"]["b"]["attempts"] == 17
    answers = {s.labels["outcome"]: s.value for s in a["chaoslab_client_responses_total"]}
    assert answers == {"ok": 12, "injected": 5, **{c: 0 for c in ("timeout", "rejected", "circuit_open", "crashed",
                                                                   "dependency")}}
    # The same answers by status class, HAProxy's: one series per class, the causes of 5xx added up.
    classes = {s.labels["code"]: s.value for s in a["chaoslab_client_responses_by_class_total"]
               if s.labels["server_address"] == "b"}
    assert classes == {"1xx": 0, "2xx": 12, "3xx": 0, "4xx": 0, "5xx": 5, "other": 0}
    assert one(a["chaoslab_retries_total"]) == ja["calls"]["b"]["retries"]
    assert one(a["chaoslab_degraded_total"]) == 0
    client_sum = one(a["http_client_request_duration_seconds_sum"], server_address="b",
                     http_response_status_code="200")
    average = one(a["chaoslab_client_time_average_seconds"], server_address="b")
    assert average == pytest.approx(client_sum / 12, rel=1e-9)

    # Gauges at rest, and the identity OpenTelemetry's exporter gives a target.
    assert one(b["http_server_active_requests"]) == 0
    assert one(b["chaoslab_busy_workers"]) == one(b["chaoslab_queue_requests"]) == 0
    info = b["target_info"][0]
    assert info.labels == {"service_name": "b", "service_instance_id": "b-1"} and info.value == 1


def test_in_flight_and_queued_requests_show_in_the_gauges_while_they_wait(launch, helpers):
    stack = launch({"a": {"workers": 1, "queue_limit": 10, "service_time": helpers.const(0.5)}})
    threads = [threading.Thread(target=stack.work, args=("a",)) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        def seen() -> bool:
            _, now = scrape(helpers, stack.port("a"))
            return one(now["http_server_active_requests"]) == 3
        assert helpers.wait_for(seen, 2.0)
        _, now = scrape(helpers, stack.port("a"))
        assert one(now["chaoslab_busy_workers"]) == 1 and one(now["chaoslab_queue_requests"]) == 2
    finally:
        for t in threads:
            t.join()
    _, after = scrape(helpers, stack.port("a"))
    assert one(after["http_server_active_requests"]) == 0
    assert one(after["http_server_request_duration_seconds_count"], http_response_status_code="200") == 3


def test_a_request_whose_caller_gave_up_and_cancelled_is_counted_as_a_timeout_with_no_status(launch, helpers):
    stack = launch({"a": {"service_time": helpers.const(0), "calls": [{"to": "b", "timeout_s": 0.05,
                                                                        "cancel_on_timeout": True}]},
                    "b": {"service_time": helpers.const(0.3)}})
    stack.work("a")
    assert helpers.wait_for(lambda: stack.metrics("b")["server"]["errors"]["timeout"] == 1, 2.0)
    _, b = scrape(helpers, stack.port("b"))
    assert one(b["http_server_request_duration_seconds_count"], error_type="timeout") == 1
    _, a = scrape(helpers, stack.port("a"))
    assert one(a["http_client_request_duration_seconds_count"], server_address="b", error_type="timeout") == 1


def test_the_hand_written_exposition_escapes_and_validates_as_the_format_requires():
    text = render([
        Family("odd_total", Kind.COUNTER, "help with \\ and\na newline").sample((("path", 'a"b\\c\nd'),), 3),
        Family("ratio", Kind.GAUGE, "a float").sample((), 0.25).sample((("k", "v"),), math.inf),
        Family("empty", Kind.GAUGE, "no samples: left out"),
        Family("lat_seconds", Kind.HISTOGRAM, "h").histogram((("x", "1"),), (0.1, 1.0), (2, 0, 1), 1.7),
    ]).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert set(families) == {"odd", "ratio", "lat_seconds"}
    assert families["odd"].documentation == "help with \\ and\na newline"
    assert families["odd"].samples[0].labels == {"path": 'a"b\\c\nd'} and families["odd"].samples[0].value == 3
    assert [s.value for s in families["ratio"].samples] == [0.25, math.inf]
    buckets = [(s.labels["le"], s.value) for s in families["lat_seconds"].samples if s.name.endswith("_bucket")]
    assert buckets == [("0.1", 2), ("1.0", 2), ("+Inf", 3)]
    with pytest.raises(ValueError, match="must end in _total"):
        Family("no_suffix", Kind.COUNTER, "")
    with pytest.raises(ValueError, match="1 bucket counts for 1 bounds"):
        Family("h", Kind.HISTOGRAM, "").histogram((), (0.1,), (1,), 0.0)
    with pytest.raises(ValueError, match="not a histogram"):
        Family("g", Kind.GAUGE, "").histogram((), (0.1,), (1, 0), 0.0)

"""The generated stack's renaming (chaos.live.stack.mapped_scrape) applied by a real Prometheus (Debian's) to two
emulators and the load generator on loopback: what it stores under the experiment's metric names are the emulators'
and the load's own counts, exactly, under the preset's labels, with the successes' buckets and their le bounds as
they wrote them; the entrypoint under the preset's client names."""

from __future__ import annotations

import time

import pytest
from test_emulator_prometheus_server import TOPOLOGY, free_port, prometheus_at  # noqa: F401 - the fixture

from chaos.live.load import LoadGenerator, plan_load
from chaos.live.stack.emulator_stack import LOAD_JOB
from chaos.live.stack.mapped_scrape import histogram_mapping, job_relabels, load_relabels
from chaos.model.files import load_topology
from chaos.model.load import Segment
from chaos.model.metrics import MetricsPreset, MetricsSpec
from chaos.run import percentile_from_hist

pytestmark = pytest.mark.live

# preset -> (histogram, the service label, how a failure of b's injected errors and a's dependency ones is labelled,
# a success, the entrypoint's histogram)
PRESETS = {
    MetricsPreset.MICROMETER: ("http_server_requests_seconds", "service",
                               'status="500", outcome="SERVER_ERROR"', 'status="200", outcome="SUCCESS"',
                               "http_client_requests_seconds"),
    MetricsPreset.OPENTELEMETRY: ("http_server_request_duration_seconds", "job",
                                  'http_response_status_code="500", error_type="500"',
                                  'http_response_status_code="200"', "http_client_request_duration_seconds"),
}
RATE = 20.0
DURATION_S = 4.0
FAULT_AT_S = 2.0


@pytest.mark.parametrize("preset", list(PRESETS), ids=lambda p: p.value)
def test_prometheus_stores_the_emulators_series_under_the_mapped_names(
        launch, helpers, prometheus_at, tmp_path, preset):  # noqa: F811 - the imported fixture
    # web -> a -> b: a is measured as its caller, the load generator, saw it (scraped in its own job), b as a saw it.
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0.002), "calls": [{"to": "b", "timeout_s": 1}]},
                    "b": {"workers": 4, "service_time": {"dist": "exponential", "mean": 0.01}}})
    (tmp_path / "pair.yaml").write_text(TOPOLOGY)
    topology = load_topology(tmp_path / "pair.yaml")
    mapping = histogram_mapping(MetricsSpec(preset=preset), topology)
    assert mapping is not None
    relabels = {job: [r.config() for r in rules] for job, rules in job_relabels(mapping, topology).items()}
    relabels[LOAD_JOB] = [r.config() for r in load_relabels(mapping, topology)]
    load_port = free_port()
    prometheus = prometheus_at({"a": f"127.0.0.1:{stack.port('a')}", "b": f"127.0.0.1:{stack.port('b')}",
                                LOAD_JOB: f"127.0.0.1:{load_port}"}, relabels=relabels)
    assert helpers.wait_for(lambda: prometheus.value("count(up == 1)") == 2, 10.0, step=0.25)
    plan = plan_load(topology, (Segment(0.0, DURATION_S, RATE, RATE),), {"web": f"http://127.0.0.1:{stack.port('a')}"},
                     duration_s=DURATION_S, bounds=helpers.BOUNDS, seed=3, metrics_listen=f"127.0.0.1:{load_port}",
                     metrics_linger_s=20.0)
    name, label, failed, ok, entry = PRESETS[preset]

    def count(service: str, matchers: str = "", family: str = name) -> float | None:
        return prometheus.value(f'sum({family}_count{{{label}="{service}"{", " if matchers else ""}{matchers}}})')

    load = LoadGenerator(plan, tmp_path / "load")
    load.start()
    try:
        load.wait_started(timeout_s=60.0)
        time.sleep(FAULT_AT_S)
        stack.faults("b", errors=1.0)
        # The last second's record, then Prometheus's scrapes while the load lingers (serving its last counts).
        assert helpers.wait_for(lambda: load.record("web", int(DURATION_S) - 1) is not None, 30.0, step=0.25)
        time.sleep(1.0)  # the requests still in flight at the end, in the load's last record
        records = load.series("web")
        ok_n = sum(r.ok for r in records)
        failed_n = sum(r.failed for r in records)
        assert ok_n > 10 and failed_n > 10
        # Every entry request ended within its second (a few ms each): Prometheus holds exactly the records' counts.
        assert helpers.wait_for(lambda: count("a") == ok_n + failed_n and count("web", family=entry) == ok_n + failed_n,
                                15.0, step=0.25), (count("a"), count("web", family=entry), ok_n, failed_n)
        ja = stack.metrics("a")
        assert count("b") == ja["calls"]["b"]["attempts"] == ok_n + failed_n
        assert count("b", ok) == ok_n and count("b", failed) == failed_n
        assert count("b", 'chaoslab_cause="injected"') == ja["calls"]["b"]["errors"]["injected"] == failed_n
        assert count("a", ok) == ja["server"]["ok"] == ok_n
        assert count("a", 'chaoslab_cause="dependency"') == count("a", failed) == failed_n
        assert count("web", ok, family=entry) == ok_n and count("web", failed, family=entry) == failed_n
        entry_series = prometheus.get("/api/v1/series", **{"match[]": f'{{__name__=~"{entry}_.*", {label}="web"}}'})
        assert entry_series and all(s["job"] == "web" and "entrypoint" not in s and "request" not in s
                                    for s in entry_series)
        # Every mapped series carries the service's labels under the preset, job the service it measures, and none of
        # the emulator's own labels (server_address) or chaoslab's working label.
        series = prometheus.get("/api/v1/series", **{"match[]": f'{{__name__=~"{name}_.*", {label}="b"}}'})
        assert series and all(s["job"] == "b" and "server_address" not in s and not any(k.startswith("__tmp")
                                                                                        for k in s) for s in series)
        if preset is MetricsPreset.MICROMETER:
            assert all(s["application"] == "b" and s["uri"] == "/" for s in series)
        # Only the successes keep buckets, with the emulator's le bounds; failures have their _count alone.
        buckets = [s for s in series if s["__name__"] == f"{name}_bucket"]
        assert {s.get("chaoslab_cause") for s in buckets} == {None}
        assert sorted(float(s["le"]) for s in buckets) == [*helpers.BOUNDS, float("inf")]
        median = prometheus.value(f'histogram_quantile(0.5, sum by (le) ({name}_bucket{{{label}="b"}}))')
        hist = {k: v for k, v in enumerate(ja["calls"]["b"]["latency_hist"]) if v}
        assert median == pytest.approx(percentile_from_hist(hist, helpers.BOUNDS, 0.5), rel=1e-9)
        # b's own server histogram is not stored under the mapped name: under OpenTelemetry's, which is the emulators'
        # own, it would count b twice (count("b") == 40 above says the same).
        assert prometheus.value(f'count({name}_count{{instance="127.0.0.1:{stack.port("b")}"}})') is None
    finally:
        load.stop()  # it lingers, serving its counts: stopped here, not waited for

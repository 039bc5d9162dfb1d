"""The generated stack's renaming (chaos.live.stack.mapped_scrape) applied by a real Prometheus (Debian's) to two
emulators on loopback: what it stores under the experiment's metric names are the emulators' own counts, exactly,
under the preset's labels, with the successes' buckets and their le bounds as the emulators wrote them."""

from __future__ import annotations

import pytest
from test_emulator_prometheus_server import TOPOLOGY, prometheus_at  # noqa: F401 - the fixture

from chaos.live.stack.mapped_scrape import histogram_mapping, job_relabels
from chaos.model.files import load_topology
from chaos.model.metrics import MetricsPreset, MetricsSpec
from chaos.run import percentile_from_hist

pytestmark = pytest.mark.live

# preset -> (histogram, the service label, how a failure of b's injected errors and a's dependency ones is labelled)
PRESETS = {
    MetricsPreset.MICROMETER: ("http_server_requests_seconds", "service",
                               'status="500", outcome="SERVER_ERROR"', 'status="200", outcome="SUCCESS"'),
    MetricsPreset.OPENTELEMETRY: ("http_server_request_duration_seconds", "job",
                                  'http_response_status_code="500", error_type="500"',
                                  'http_response_status_code="200"'),
}


@pytest.mark.parametrize("preset", list(PRESETS), ids=lambda p: p.value)
def test_prometheus_stores_the_emulators_series_under_the_mapped_names(
        launch, helpers, prometheus_at, tmp_path, preset):  # noqa: F811 - the imported fixture
    # a -> b; a is the entrypoint's target: a is measured by its own server histogram, b as a saw it.
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0.002), "calls": [{"to": "b", "timeout_s": 1}]},
                    "b": {"workers": 4, "service_time": {"dist": "exponential", "mean": 0.01}}})
    (tmp_path / "pair.yaml").write_text(TOPOLOGY)
    topology = load_topology(tmp_path / "pair.yaml")
    mapping = histogram_mapping(MetricsSpec(preset=preset), topology)
    assert mapping is not None
    relabels = {job: [r.config() for r in rules] for job, rules in job_relabels(mapping, topology).items()}
    prometheus = prometheus_at({"a": f"127.0.0.1:{stack.port('a')}", "b": f"127.0.0.1:{stack.port('b')}"},
                               relabels=relabels)
    assert helpers.wait_for(lambda: prometheus.value("count(up == 1)") == 2, 10.0, step=0.25)
    answers = [helpers.request(stack.port("a"))[0] for _ in range(30)]
    stack.faults("b", errors=1.0)
    answers += [helpers.request(stack.port("a"))[0] for _ in range(10)]
    assert answers == [200] * 30 + [503] * 10
    name, label, failed, ok = PRESETS[preset]

    def count(service: str, matchers: str = "") -> float | None:
        return prometheus.value(f'sum({name}_count{{{label}="{service}"{", " if matchers else ""}{matchers}}})')

    assert helpers.wait_for(lambda: count("b") == 40 and count("a") == 40, 10.0, step=0.25)
    ja = stack.metrics("a")
    assert count("b", ok) == 30 and count("b", failed) == 10
    assert count("b", 'chaoslab_cause="injected"') == ja["calls"]["b"]["errors"]["injected"] == 10
    assert count("a", ok) == ja["server"]["ok"] == 30
    assert count("a", 'chaoslab_cause="dependency"') == count("a", failed) == 10
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

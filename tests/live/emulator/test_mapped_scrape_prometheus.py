"""The generated stack's renaming (chaos.live.stack.mapped_scrape) applied by a real Prometheus (Debian's) to two
emulators and the load generator on loopback: what it stores under the experiment's metric names are the emulators'
and the load's own counts, exactly, under the preset's labels, with the successes' buckets and their le bounds as
they wrote them; the entrypoint under the preset's client names. With the counter presets (chaoslab, haproxy), the
series it stores are those the simulator's export of the same scopes writes, name for name and label for label, so
that a team's rule without aggregation fires as often live as in the simulator (and on a real HAProxy)."""

from __future__ import annotations

import time
import urllib.request
from contextlib import contextmanager

import pytest
from test_emulator_prometheus_server import TOPOLOGY, free_port, prometheus_at  # noqa: F401 - the fixture

from chaos.live.load import LoadGenerator, plan_load
from chaos.live.stack.emulator_stack import LOAD_JOB
from chaos.live.stack.mapped_scrape import job_relabels, load_relabels
from chaos.live_states import LoadStop
from chaos.metrics.exposition import sample_names
from chaos.metrics.mapping import MetricMapping, Signal, resolve
from chaos.model.files import load_topology
from chaos.model.load import Segment
from chaos.model.metrics import MetricsPreset, MetricsSpec
from chaos.model.scope import ScopeKind
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


def _pair_renamed(launch, helpers, prometheus_at, tmp_path, preset):  # type: ignore[no-untyped-def]  # noqa: F811
    """Emulators a -> b on loopback, a Prometheus scraping them and the load's port renamed under ``preset``, and
    the load plan of web -> a that serves its metrics on that port."""
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0.002), "calls": [{"to": "b", "timeout_s": 1}]},
                    "b": {"workers": 4, "service_time": {"dist": "exponential", "mean": 0.01}}})
    (tmp_path / "pair.yaml").write_text(TOPOLOGY)
    topology = load_topology(tmp_path / "pair.yaml")
    mapping = resolve(MetricsSpec(preset=preset), topology)
    relabels = {job: [r.config() for r in rules] for job, rules in job_relabels(mapping, topology).items()}
    relabels[LOAD_JOB] = [r.config() for r in load_relabels(mapping, topology)]
    load_port = free_port()
    prometheus = prometheus_at({"a": f"127.0.0.1:{stack.port('a')}", "b": f"127.0.0.1:{stack.port('b')}",
                                LOAD_JOB: f"127.0.0.1:{load_port}"}, relabels=relabels)
    assert helpers.wait_for(lambda: prometheus.value("count(up == 1)") == 2, 10.0, step=0.25)
    # The load serves its final counts for 20 s after its end: longer than a test's reads of Prometheus take at
    # the most (a 15 s bound for the last scrapes, then instant queries); the test stops it once they are done.
    plan = plan_load(topology, (Segment(0.0, DURATION_S, RATE, RATE),), {"web": f"http://127.0.0.1:{stack.port('a')}"},
                     duration_s=DURATION_S, bounds=helpers.BOUNDS, seed=3, metrics_listen=f"127.0.0.1:{load_port}",
                     metrics_linger_s=20.0)
    return stack, mapping, prometheus, plan


@contextmanager
def _load_failing_b(stack, plan, helpers, tmp_path):  # type: ignore[no-untyped-def]
    """Runs ``plan``'s load, b failing every call from FAULT_AT_S on, and yields its records of web once the last
    second's is in; the load then lingers, serving its final counts to Prometheus, until the block ends."""
    load = LoadGenerator(plan, tmp_path / "load")
    load.start()
    try:
        load.wait_started(timeout_s=60.0)
        time.sleep(FAULT_AT_S)
        stack.faults("b", errors=1.0)
        assert helpers.wait_for(lambda: load.record("web", int(DURATION_S) - 1) is not None, 30.0, step=0.25)
        time.sleep(1.0)  # the requests still in flight at the end, in the load's last record
        records = load.series("web")
        assert sum(r.ok for r in records) > 10 and sum(r.failed for r in records) > 10
        yield records
    finally:
        # Everything was read: no grace for the linger (stop's default waits 10 s of it out before its SIGTERM).
        summary = load.stop(timeout_s=0.0)
    # The SIGTERM mid-linger ends the process at once, its natural end kept: not a second end line, not a SIGKILL.
    assert summary.reason is LoadStop.FINISHED and summary.exit_codes == (0,), summary


@pytest.mark.parametrize("preset", list(PRESETS), ids=lambda p: p.value)
def test_prometheus_stores_the_emulators_series_under_the_mapped_names(
        launch, helpers, prometheus_at, tmp_path, preset):  # noqa: F811 - the imported fixture
    # web -> a -> b: a is measured as its caller, the load generator, saw it (scraped in its own job), b as a saw it.
    stack, _, prometheus, plan = _pair_renamed(launch, helpers, prometheus_at, tmp_path, preset)
    name, label, failed, ok, entry = PRESETS[preset]

    def count(service: str, matchers: str = "", family: str = name) -> float | None:
        return prometheus.value(f'sum({family}_count{{{label}="{service}"{", " if matchers else ""}{matchers}}})')

    with _load_failing_b(stack, plan, helpers, tmp_path) as records:
        ok_n = sum(r.ok for r in records)
        failed_n = sum(r.failed for r in records)
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


def _simulated_series(mapping: MetricMapping, bounds: tuple[float, ...]) -> set[tuple[tuple[str, str], ...]]:
    """Every series the simulator's export writes under ``mapping`` (chaos.metrics.exposition), but those the live
    stack has no source for: an entrypoint's work wasted and answers degraded (an entry request has no caller to
    outlive, no fallback)."""
    out = set()
    for item in mapping.exposed:
        if item.scope.kind is ScopeKind.ENTRYPOINT and item.signal in (Signal.WASTED, Signal.DEGRADED):
            continue
        out |= {n.labels for n in sample_names(item, mapping.le_bounds(bounds), mapping.convention.format_le)}
    return out


def duplicates(prometheus) -> float:  # type: ignore[no-untyped-def]
    """Samples Prometheus dropped since it started because another of the same scrape had their labels."""
    with urllib.request.urlopen(f"{prometheus.base}/metrics", timeout=5) as answer:  # noqa: S310 - loopback
        lines = answer.read().decode().splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines
               if line.startswith("prometheus_target_scrapes_sample_duplicate_timestamp_total"))


@pytest.mark.parametrize("preset", [MetricsPreset.CHAOSLAB, MetricsPreset.HAPROXY], ids=lambda p: p.value)
def test_prometheus_stores_the_counter_presets_series_as_the_simulator_exports_them(
        launch, helpers, prometheus_at, tmp_path, preset):  # noqa: F811 - the imported fixture
    # web -> a -> b, b failing from FAULT_AT_S on: as above, under the presets that count sent requests.
    stack, mapping, prometheus, plan = _pair_renamed(launch, helpers, prometheus_at, tmp_path, preset)
    naming, entry = mapping.convention.service, mapping.convention.entrypoint
    assert naming.requests is not None and naming.responses is not None
    assert entry.requests is not None and entry.responses is not None
    scope = "service" if preset is MetricsPreset.CHAOSLAB else "proxy"
    failed = 'outcome="injected"' if preset is MetricsPreset.CHAOSLAB else 'code="5xx"'
    ok = 'outcome="ok"' if preset is MetricsPreset.CHAOSLAB else 'code="2xx"'

    def total(family: str, who: str, matchers: str = "", label: str = "service") -> float | None:
        label = scope if preset is MetricsPreset.HAPROXY else label
        return prometheus.value(f'sum({family}{{{label}="{who}"{", " if matchers else ""}{matchers}}})')

    with _load_failing_b(stack, plan, helpers, tmp_path) as records:
        ok_n, failed_n = sum(r.ok for r in records), sum(r.failed for r in records)
        sent_n = sum(r.requests for r in records)
        ja = stack.metrics("a")

        def settled() -> bool:
            return (total(naming.requests.name, "b") == ja["calls"]["b"]["attempts"] == ok_n + failed_n
                    and total(entry.responses.name, "web", label="entrypoint") == ok_n + failed_n
                    and total(entry.requests.name, "web", label="entrypoint") == sent_n)

        assert helpers.wait_for(settled, 15.0, step=0.25)
        # Sent requests and answers by outcome: the emulators' and the load's own counts, exactly.
        assert total(naming.requests.name, "a") == ok_n + failed_n  # the load generator's attempts at a
        assert total(naming.responses.name, "b", ok) == ja["calls"]["b"]["ok"] == ok_n
        assert total(naming.responses.name, "b", failed) == ja["calls"]["b"]["errors"]["injected"] == failed_n
        assert total(naming.responses.name, "a", failed.replace("injected", "dependency")) == failed_n
        assert total(entry.responses.name, "web", ok, label="entrypoint") == ok_n
        # Name for name and label for label what the simulator's export writes of these scopes, but the
        # scraper's job and instance (HAProxy's classes too: one series per class, no cause).
        prefix = "chaoslab_" if preset is MetricsPreset.CHAOSLAB else "haproxy_"
        stored = prometheus.get("/api/v1/series", **{"match[]": f'{{__name__=~"{prefix}.*"}}'})
        simulated = _simulated_series(mapping, helpers.BOUNDS)
        names = {dict(labels)["__name__"] for labels in simulated}
        live = {tuple(sorted((k, v) for k, v in s.items() if k not in ("job", "instance")))
                for s in stored if s["__name__"] in names}
        assert live == simulated, (sorted(live - simulated)[:5], sorted(simulated - live)[:5])
        # No two series of a scrape renamed to one label set (Prometheus would keep one and count the rest here).
        assert duplicates(prometheus) == 0
        jobs = {(s.get(scope) or s.get("entrypoint"), s["job"]) for s in stored if s["__name__"] in names}
        assert jobs == {("a", "a"), ("b", "b"), ("web", "web")}  # job: the scope measured, as the other presets'
        if preset is MetricsPreset.CHAOSLAB:
            # The successes' latency: the same median as a's own histogram of its calls to b.
            median = prometheus.value('histogram_quantile(0.5, sum by (le) '
                                      '(chaoslab_request_duration_seconds_bucket{service="b"}))')
            hist = {k: v for k, v in enumerate(ja["calls"]["b"]["latency_hist"]) if v}
            assert median == pytest.approx(percentile_from_hist(hist, helpers.BOUNDS, 0.5), rel=1e-9)
        else:
            average = prometheus.value('haproxy_backend_total_time_average_seconds{proxy="b"}')
            client_sum = prometheus.value('sum(http_client_request_duration_seconds_sum'
                                          '{job="a", server_address="b", http_response_status_code="200"})')
            assert average == pytest.approx(client_sum / ok_n, rel=1e-6)  # fewer than 512: their mean
            assert prometheus.value('haproxy_backend_response_time_average_seconds{proxy="b"}') == average


BACKEND_5XX = """\
groups:
  - name: team
    rules:
      - alert: Backend5xx
        expr: rate(haproxy_backend_http_responses_total{code="5xx"}[5s]) > 0
"""


def test_a_rule_without_aggregation_fires_once_per_backend_as_on_haproxy_and_in_the_simulator(
        launch, helpers, prometheus_at, tmp_path):  # noqa: F811 - the imported fixture
    # a -> b under the haproxy preset, b's answers failing for two causes within the rule's window: injected errors,
    # then b stopped (a's calls refused: crashed). HAProxy counts both in b's one 5xx series, and so does the
    # simulator's export: a rule without aggregation, as teams write them, fires once for b, not once per cause.
    # 6 s of requests at 10 a second: 3 s a cause, each long enough for a scrape or two at 1 s.
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0.002), "calls": [{"to": "b", "timeout_s": 1}]},
                    "b": {"workers": 4, "service_time": helpers.const(0.002)}})
    (tmp_path / "pair.yaml").write_text(TOPOLOGY)
    topology = load_topology(tmp_path / "pair.yaml")
    mapping = resolve(MetricsSpec(preset=MetricsPreset.HAPROXY), topology)
    relabels = {job: [r.config() for r in rules] for job, rules in job_relabels(mapping, topology).items()}
    (tmp_path / "rules.yml").write_text(BACKEND_5XX)
    prometheus = prometheus_at({"a": f"127.0.0.1:{stack.port('a')}", "b": f"127.0.0.1:{stack.port('b')}"},
                               rules=(tmp_path / "rules.yml",), relabels=relabels)
    assert helpers.wait_for(lambda: prometheus.value("count(up == 1)") == 2, 10.0, step=0.25)
    stack.faults("b", errors=1.0)
    t0 = time.time()
    while (now := time.time() - t0) < 6.0:  # bounded: 6 s, 10 requests a second
        if now >= 3.0 and ("b", 1) in stack.emulators:
            stack.stop("b")
        helpers.request(stack.port("a"))
        time.sleep(0.1)
    errors = stack.metrics("a")["calls"]["b"]["errors"]  # a's own count of its calls to b: both causes
    assert errors["injected"] > 5 and errors["crashed"] > 5, errors
    time.sleep(3.0)  # the last scrapes, and the evaluations after them, written
    # Every label set the alert ever had, and how many fired at once: one, b's 5xx.
    alerts = prometheus.get("/api/v1/series", **{"match[]": 'ALERTS{alertname="Backend5xx"}'})
    rule_labels = {tuple(sorted((k, v) for k, v in a.items() if k not in ("__name__", "alertname", "alertstate",
                                                                          "job", "instance"))) for a in alerts}
    simulated = {tuple((k, v) for k, v in e.labels) for e in mapping.exposed
                 if e.family.name == "haproxy_backend_http_responses_total" and ("code", "5xx") in e.labels
                 and e.scope.name == "b"}
    assert rule_labels == simulated == {(("code", "5xx"), ("proxy", "b"))}, alerts
    assert duplicates(prometheus) == 0
    at_once = prometheus.get("/api/v1/query_range", query='count(ALERTS{alertname="Backend5xx"})',
                             start=f"{t0:.3f}", end=f"{time.time():.3f}", step="1s")["result"]
    assert at_once and {v for _, v in at_once[0]["values"]} == {"1"}

"""The emulator's ``GET /metrics``: its counters in Prometheus text exposition, named as OpenTelemetry's HTTP metrics.

Names and labels follow the OpenTelemetry HTTP semantic conventions as the OpenTelemetry
Prometheus exporter writes them (dots become underscores, the unit a suffix), so the
``opentelemetry`` metrics preset reads an emulator as it reads a service instrumented with
an OpenTelemetry SDK. ``job`` and ``instance`` are the scraper's (the generated stack's
Prometheus sets ``job`` to the service's name); everything else is written here.

=========================================  =========  ===============================================
family                                     type       labels, meaning
=========================================  =========  ===============================================
``http_server_request_duration_seconds``   histogram  ``/work`` requests this replica received, timed from
                                                      arrival to its answer (queueing, work and calls
                                                      included); ``http_request_method="GET"``,
                                                      ``http_route="/work"`` (``"/op/<name>"``
                                                      per operation of a service that declares
                                                      them), ``http_response_status_code``
                                                      (200, or 503 for an error answer; absent when the
                                                      caller closed the connection and the work was
                                                      cancelled), ``error_type`` on failures: the cause
                                                      (``rejected``, ``injected``, ``dependency``,
                                                      ``circuit_open``, ``timeout`` for a cancelled one)
``http_server_active_requests``            gauge      ``/work`` requests received and not yet ended
``http_client_request_duration_seconds``   histogram  attempts this replica sent to a callee, timed from
                                                      sending to the answer or giving up;
                                                      ``server_address`` (the callee service),
                                                      ``http_request_method="GET"``,
                                                      ``http_response_status_code="200"`` on success,
                                                      ``error_type`` on failure: ``timeout`` (gave up),
                                                      ``crashed`` (refused, reset), ``injected`` (an edge
                                                      fault), or the cause the callee answered
``chaoslab_server_requests_total``         counter    ``/work`` requests received (counted on arrival)
``chaoslab_server_wasted_total``           counter    successes finished after the caller had gone
``chaoslab_queue_requests``                gauge      requests waiting for a worker
``chaoslab_busy_workers``                  gauge      workers busy
``chaoslab_client_requests_total``         counter    attempts sent to ``server_address``, counted when sent
                                                      (a retry is one; an attempt the breaker refused is not)
``chaoslab_client_responses_total``        counter    those attempts ended, by ``outcome``: ``ok`` or the
                                                      cause (as ``error_type`` above); every outcome there
                                                      from the start, at 0
``chaoslab_client_responses_by_class_total``
                                           counter    the same answers by HAProxy's status class, ``code``:
                                                      ``2xx`` (ok), ``5xx`` (every cause together), and
                                                      ``1xx``, ``3xx``, ``4xx``, ``other`` at 0; all from 0
``chaoslab_client_time_average_seconds``   gauge      the successes' latency averaged as HAProxy averages a
                                                      backend's total time (each moves it by
                                                      (latency - average) / n, n up to 512), 0 before any
``chaoslab_client_response_time_average_seconds``
                                           gauge      the same value, renamed to HAProxy's response time
                                                      average (a series is renamed to one name only)
``chaoslab_client_retries_total``          counter    retries among the attempts, per ``server_address``
``chaoslab_client_degraded_total``         counter    calls that failed and were carried on by a fallback
``chaoslab_retries_total``                 counter    retries this replica sent, every callee's together
``chaoslab_degraded_total``                counter    its calls carried on by a fallback, every callee's together
``chaoslab_client_short_circuited_total``  counter    attempts the breaker refused (never sent)
``chaoslab_client_breaker_opens_total``    counter    times the breaker toward ``server_address`` opened
``target_info``                            gauge      1, with ``service_name`` and ``service_instance_id``
                                                      (``<service>-<replica>``), as OpenTelemetry's exporter
=========================================  =========  ===============================================

The histograms' bounds are the run's latency bounds (``chaos.core.latency``: 20 per decade
from 100 us to 100 s, plus every latency threshold the experiment names), the bounds the JSON
view (``/admin/metrics``) and the simulator count in, so a percentile read through Prometheus
has the resolution of the engine's own. A label set appears once it has counted something, as
an SDK's do; the success label sets of both histograms are there from the start.

The counters of sent attempts and of answers by outcome, the average, and the replica's own totals of
retries and fallbacks are what the ``chaoslab`` and ``haproxy`` metric presets count (their requests are
sent ones, their answers a counter by outcome, or by status class for ``haproxy``, not a histogram's
``_count``): the generated stack's
Prometheus renames them to those presets' names (``chaos.live.stack.mapped_scrape``). Only the average
costs anything per request (one update per success); the others are sums taken when scraped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from chaos.core.causes import by_status_class
from chaos.live.in_container.exposition import Family, Kind, Labels, render
from chaos.live.in_container.load_names import CLIENT_CLASSES  # the load generator's attempts have the same
from chaos.live.in_container.stackspec import ServiceSpec

from .calls import Peer
from .metrics import Cause, Histogram, Outcomes, ServerMetrics
from .pool import WorkerPool

OK = "ok"  # the outcome label of a success in chaoslab_client_responses_total
METHOD = ("http_request_method", "GET")
ANSWERED_ERROR = "503"  # every error answer of the emulator (its cause rides in X-Chaoslab-Cause)


class Exposed(Protocol):
    """What the exposition reads of a replica (``app.Emulator``)."""

    service: ServiceSpec
    replica: int
    server: ServerMetrics
    in_flight: int
    edges: dict[str, Peer]

    def operation_metrics(self) -> dict[str, ServerMetrics]: ...

    @property
    def pools(self) -> tuple[WorkerPool, ...]: ...


def _server_status(cause: Cause | None) -> Labels:
    if cause is None:
        return (("http_response_status_code", "200"),)
    if cause is Cause.TIMEOUT:  # the caller left and asked for cancellation: nothing was answered
        return (("error_type", cause.value),)
    return (("error_type", cause.value), ("http_response_status_code", ANSWERED_ERROR))


def _client_status(cause: Cause | None) -> Labels:
    return (("http_response_status_code", "200"),) if cause is None else (("error_type", cause.value),)


def _histograms(family: Family, base: Labels, outcomes: Outcomes,
                status: Callable[[Cause | None], Labels]) -> None:
    failed = sorted(outcomes.failed.items(), key=lambda item: item[0].value)
    sets: list[tuple[Cause | None, Histogram]] = [(None, outcomes.latency), *failed]
    for cause, hist in sets:
        labels = sorted((*base, *status(cause)))
        family.histogram(labels, hist.bounds, hist.counts, hist.sum)


def _outcomes(family: Family, base: Labels, outcomes: Outcomes) -> None:
    """Answers by outcome, every one of them (zeros too): ``ok`` first, then each cause."""
    family.sample((*base, ("outcome", OK)), outcomes.ok)
    for cause, n in outcomes.errors.items():
        family.sample((*base, ("outcome", cause.value)), n)


def exposition(emulator: Exposed) -> bytes:
    """The replica's metrics now, as Prometheus text."""
    service, pools = emulator.service.name, emulator.pools
    server = Family("http_server_request_duration_seconds", Kind.HISTOGRAM, "Duration of HTTP server requests.")
    routes = emulator.operation_metrics() or {"/work": emulator.server}
    for route, counts in routes.items():
        _histograms(server, (METHOD, ("http_route", route)), counts, _server_status)
    client = Family("http_client_request_duration_seconds", Kind.HISTOGRAM, "Duration of HTTP client requests.")
    retries = Family("chaoslab_client_retries_total", Kind.COUNTER, "Retries sent to the callee.")
    degraded = Family("chaoslab_client_degraded_total", Kind.COUNTER, "Failed calls carried on by a fallback.")
    short = Family("chaoslab_client_short_circuited_total", Kind.COUNTER, "Attempts the circuit breaker refused.")
    opens = Family("chaoslab_client_breaker_opens_total", Kind.COUNTER, "Times the circuit breaker opened.")
    sent = Family("chaoslab_client_requests_total", Kind.COUNTER, "Attempts sent to the callee.")
    answers = Family("chaoslab_client_responses_total", Kind.COUNTER, "Attempts ended, by outcome.")
    classes = Family(CLIENT_CLASSES, Kind.COUNTER, "Attempts ended, by status class.")
    average = Family("chaoslab_client_time_average_seconds", Kind.GAUGE,
                     "Sliding average latency of the successful attempts, as HAProxy averages total time.")
    response = Family("chaoslab_client_response_time_average_seconds", Kind.GAUGE,
                      "The same, for HAProxy's average response time (the same figure: no proxy queue here).")
    all_retries = all_degraded = 0
    for callee, edge in sorted(emulator.edges.items()):
        peer = (("server_address", callee),)
        metrics = edge.metrics  # merged anew on each read for a callee of several calls: read once
        _histograms(client, (METHOD, *peer), metrics, _client_status)
        retries.sample(peer, metrics.retries)
        degraded.sample(peer, metrics.degraded)
        short.sample(peer, metrics.short_circuited)
        opens.sample(peer, edge.breaker_opens())
        sent.sample(peer, metrics.attempts)
        _outcomes(answers, peer, metrics)
        for code, n in by_status_class(metrics.ok, metrics.errors).items():
            classes.sample((*peer, ("code", code)), n)
        average.sample(peer, metrics.average)
        response.sample(peer, metrics.average)
        all_retries += metrics.retries
        all_degraded += metrics.degraded
    return render((
        server,
        Family("http_server_active_requests", Kind.GAUGE, "Number of active HTTP server requests.")
        .sample((METHOD,), emulator.in_flight),
        Family("chaoslab_server_requests_total", Kind.COUNTER, "Requests received.")
        .sample((), emulator.server.requests),
        Family("chaoslab_server_wasted_total", Kind.COUNTER, "Successes finished after the caller had gone.")
        .sample((), emulator.server.wasted),
        Family("chaoslab_queue_requests", Kind.GAUGE, "Requests waiting for a worker.")
        .sample((), sum(p.waiting for p in pools)),
        Family("chaoslab_busy_workers", Kind.GAUGE, "Workers busy.").sample((), sum(p.busy for p in pools)),
        client, retries, degraded, short, opens, sent, answers, classes, average, response,
        Family("chaoslab_retries_total", Kind.COUNTER, "Retries sent.").sample((), all_retries),
        Family("chaoslab_degraded_total", Kind.COUNTER, "Calls carried on by a fallback.").sample((), all_degraded),
        Family("target_info", Kind.GAUGE, "Target metadata.")
        .sample((("service_instance_id", f"{service}-{emulator.replica}"), ("service_name", service)), 1),
    ))

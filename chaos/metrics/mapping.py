"""The metric mapping: under which names and labels each scope's requests, errors and latency appear.

A **preset** is a naming convention a team's stack already follows; the experiment's
``metrics:`` section picks one and sets label values per service and entrypoint
(:mod:`chaos.model.metrics`). The simulator exposes its per-second series under the
mapping (:mod:`chaos.metrics.exposition`), and the live side reads a real Prometheus with the
queries of the same mapping (:class:`Queries`), so a rule such as::

    sum(rate(http_server_requests_seconds_count{service="cart",status=~"5.."}[5m]))
      / sum(rate(http_server_requests_seconds_count{service="cart"}[5m])) > 0.05

means the same thing on a simulation and on a live stack.

What each preset exposes per service (entrypoints: the client-side names, HAProxy's frontends):

* ``chaoslab``: ``chaoslab_requests_total`` (sent), ``chaoslab_responses_total{outcome}`` (``ok``
  or the cause of failure), the histogram ``chaoslab_request_duration_seconds`` (the run's own
  bounds), queue, busy workers, retries; identity label ``service`` (``entrypoint``).
* ``opentelemetry``: the histogram ``http_server_request_duration_seconds`` (entrypoints
  ``http_client_...``) with ``http_response_status_code`` and ``error_type``; its ``_count``
  counts answers; the semantic conventions' bounds; identity labels ``job``, ``service_name``.
* ``micrometer``: the histogram ``http_server_requests_seconds`` (entrypoints
  ``http_client_requests_seconds``) with ``status`` and ``outcome``; Micrometer's
  percentile-histogram bounds from 1 ms to 30 s; identity labels ``application``, ``service``.
* ``haproxy``: ``haproxy_backend_http_requests_total`` (sent), ``haproxy_backend_http_responses_total``
  ``{code="2xx"|"5xx"|...}`` (one series per class), ``haproxy_backend_total_time_average_seconds`` and
  ``..._response_time_average_seconds`` (no histogram);
  entrypoints are frontends (``haproxy_frontend_...``); identity label ``proxy``.

chaoslab measures each attempt's outcome as its caller saw it; HTTP presets give each
outcome the status code a proxy in front of the service would record (:data:`STATUS`).
chaoslab times successful requests only, so only the success label set of a histogram has
buckets and a ``_sum``; the label sets of failures have their ``_count`` alone.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from chaos.core.causes import HTTP_STATUS, STATUS_CLASSES, status_class
from chaos.metrics.buckets import PRESET_BUCKETS
from chaos.model.metrics import MetricsPreset, MetricsSpec, ScopeLabels
from chaos.model.scope import Scope, ScopeKind
from chaos.model.topology import Topology
from chaos.run import Cause

Labels = tuple[tuple[str, str], ...]
"""Label pairs sorted by name, without empty values (as :mod:`chaos.promql.series` keeps them)."""


class Kind(enum.Enum):
    """A metric family's type, as OpenMetrics names it."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


class Signal(enum.Enum):
    """What one exposed label set accumulates or samples from a scope's per-second series."""

    SENT = "sent"                # requests sent (attempts, for a service): a counter
    OK = "ok"                    # answered successfully: a counter (or a histogram's _count)
    FAILED = "failed"            # answered with a failure of the label set's causes: a counter
    NEVER = "never"              # a status class chaoslab never produces (HAProxy's 1xx, 3xx, 4xx, other): zero
    LATENCY = "latency"          # the latency histogram of successes: buckets, _count and _sum
    LATENCY_AVERAGE = "latency_average"  # HAProxy's sliding average of the successes (AVERAGE_OVER): a gauge
    QUEUE = "queue"              # requests waiting, sampled at the end of each second: a gauge
    BUSY = "busy"                # busy workers, likewise
    RETRIES = "retries"          # retries sent: a counter
    WASTED = "wasted"            # work finished after the caller gave up: a counter
    DEGRADED = "degraded"        # answered degraded through a fallback: a counter


@dataclass(frozen=True)
class Family:
    """A metric family: ``name`` as exposed (a counter's ends in ``_total``; a histogram's is its base name)."""

    name: str
    kind: Kind
    help: str
    unit: str = ""  # OpenMetrics UNIT: the name (before _total) ends in _<unit>


STATUS: dict[Cause | None, int] = HTTP_STATUS
"""The HTTP status each outcome is exposed with by the HTTP presets (None: a success)."""


class OutcomeStyle(enum.Enum):
    """How a preset labels an answered request's outcome."""

    CAUSE = "cause"              # chaoslab: outcome="ok" or the cause of failure
    OTEL = "otel"                # http_response_status_code="503", error_type="503" on 5xx
    MICROMETER = "micrometer"    # status="503", outcome="SERVER_ERROR"
    STATUS_CLASS = "class"       # HAProxy: code="2xx" / "5xx", every class always present


@dataclass(frozen=True)
class OutcomeLabels:
    """One label set of answered requests: its labels and the causes it counts (none: the successes)."""

    labels: Labels
    causes: tuple[Cause, ...] = ()
    success: bool = False
    never: bool = False  # a class chaoslab never produces, exposed at zero


@dataclass(frozen=True)
class Naming:
    """How one kind of scope (services, or entrypoints) appears under a convention."""

    scope_labels: tuple[str, ...]        # labels whose value is the scope's name; the first identifies it in queries
    constant_labels: Labels = ()
    histogram: Family | None = None      # latency of successes; its _count counts answers by outcome too
    requests: Family | None = None       # requests sent
    responses: Family | None = None      # answers by outcome, when no histogram counts them
    latency_averages: tuple[Family, ...] = ()   # HAProxy's; the first is what the mapping's latency query reads
    gauges: tuple[tuple[Family, Signal], ...] = ()   # anything else the preset exposes (chaoslab's own)


@dataclass(frozen=True)
class Convention:
    """A preset: how services and entrypoints are named, how outcomes are labelled, the default buckets."""

    preset: MetricsPreset
    service: Naming
    entrypoint: Naming
    outcomes: OutcomeStyle
    error_matcher: str                   # selects failed answers in a query, e.g. status=~"5.."
    lazy: bool                           # label sets appear when first used (client libraries), not from the start
    buckets: tuple[float, ...] | None    # default le bounds; None: the run's own latency bounds
    java_floats: bool = False            # le="1.0" (Java's Double.toString) rather than le="1" (Go's)

    def naming(self, kind: ScopeKind) -> Naming:
        return self.service if kind is ScopeKind.SERVICE else self.entrypoint

    def outcome_sets(self) -> tuple[OutcomeLabels, ...]:
        """Every label set of answered requests, in a stable order: success first."""
        causes = tuple(Cause)
        if self.outcomes is OutcomeStyle.CAUSE:
            return (OutcomeLabels((("outcome", "ok"),), success=True),
                    *(OutcomeLabels((("outcome", c.value),), (c,)) for c in causes))
        if self.outcomes is OutcomeStyle.STATUS_CLASS:
            # One label set per class, its causes added up: HAProxy's, and what the emulators export live.
            return tuple(OutcomeLabels((("code", code),), tuple(c for c in causes if status_class(c) == code),
                                       success=code == status_class(None),
                                       never=code != status_class(None) and all(status_class(c) != code
                                                                                for c in causes))
                         for code in STATUS_CLASSES)
        by_status: dict[int, list[Cause]] = {}
        for cause in causes:
            by_status.setdefault(STATUS[cause], []).append(cause)
        out = [OutcomeLabels(self._status_labels(STATUS[None]), success=True)]
        out += [OutcomeLabels(self._status_labels(code), tuple(group)) for code, group in sorted(by_status.items())]
        return tuple(out)

    def _status_labels(self, code: int) -> Labels:
        if self.outcomes is OutcomeStyle.OTEL:
            pairs = [("http_response_status_code", str(code))]
            if code >= 500:  # the semantic conventions set error.type to the status code on server errors
                pairs.append(("error_type", str(code)))
            return tuple(sorted(pairs))
        micrometer = {2: "SUCCESS", 4: "CLIENT_ERROR", 5: "SERVER_ERROR"}
        return (("outcome", micrometer[code // 100]), ("status", str(code)))

    def format_le(self, bound: float) -> str:
        """A bucket bound as the preset's client library writes it."""
        if bound == math.inf:
            return "+Inf"
        text = repr(float(bound))
        if not self.java_floats and text.endswith(".0"):
            text = text[:-2]
        return text


_SECONDS = "seconds"


def _chaoslab(kind: ScopeKind) -> Naming:
    label = "service" if kind is ScopeKind.SERVICE else "entrypoint"
    what = "attempts sent to the service" if kind is ScopeKind.SERVICE else "requests sent by users"
    gauges: tuple[tuple[Family, Signal], ...] = (
        (Family("chaoslab_retries_total", Kind.COUNTER, "Retries sent."), Signal.RETRIES),
        (Family("chaoslab_wasted_total", Kind.COUNTER, "Work finished after the caller gave up."), Signal.WASTED),
        (Family("chaoslab_degraded_total", Kind.COUNTER, "Answers degraded by a fallback."), Signal.DEGRADED),
    )
    if kind is ScopeKind.SERVICE:
        gauges = ((Family("chaoslab_queue_requests", Kind.GAUGE, "Requests waiting for a worker."), Signal.QUEUE),
                  (Family("chaoslab_busy_workers", Kind.GAUGE, "Workers busy."), Signal.BUSY), *gauges)
    return Naming(
        scope_labels=(label,),
        histogram=Family("chaoslab_request_duration_seconds", Kind.HISTOGRAM,
                         "Latency of successful requests, as the caller saw it.", _SECONDS),
        requests=Family("chaoslab_requests_total", Kind.COUNTER, f"Requests: {what}."),
        responses=Family("chaoslab_responses_total", Kind.COUNTER, "Answered requests by outcome (ok or the cause)."),
        gauges=gauges)


def _otel(kind: ScopeKind) -> Naming:
    side = "server" if kind is ScopeKind.SERVICE else "client"
    return Naming(scope_labels=("job", "service_name"), constant_labels=(("http_request_method", "GET"),),
                  histogram=Family(f"http_{side}_request_duration_seconds", Kind.HISTOGRAM,
                                   f"Duration of HTTP {side} requests.", _SECONDS))


def _micrometer(kind: ScopeKind) -> Naming:
    side = "server" if kind is ScopeKind.SERVICE else "client"
    return Naming(scope_labels=("application", "service"),
                  constant_labels=(("exception", "None"), ("method", "GET"), ("uri", "/")),
                  histogram=Family(f"http_{side}_requests_seconds", Kind.HISTOGRAM, "", _SECONDS))


def _haproxy(kind: ScopeKind) -> Naming:
    side = "backend" if kind is ScopeKind.SERVICE else "frontend"
    averages: tuple[Family, ...] = ()
    if kind is ScopeKind.SERVICE:
        # The total time (accept to close) and the response time (connected to the server's headers): HAProxy's two
        # averages of what a caller waits for. With no queue or connect time at a proxy of its own, chaoslab's
        # latency as the caller saw it is both.
        averages = (Family("haproxy_backend_total_time_average_seconds", Kind.GAUGE,
                           "Avg. total time for last 1024 successful connections."),
                    Family("haproxy_backend_response_time_average_seconds", Kind.GAUGE,
                           "Avg. response time for last 1024 successful connections."))
    return Naming(
        scope_labels=("proxy",),
        requests=Family(f"haproxy_{side}_http_requests_total", Kind.COUNTER,
                        "Total number of HTTP requests processed by this object since the worker process started"),
        responses=Family(f"haproxy_{side}_http_responses_total", Kind.COUNTER,
                         "Total number of HTTP responses returned by this object since the worker process started"),
        latency_averages=averages)


CONVENTIONS: dict[MetricsPreset, Convention] = {
    MetricsPreset.CHAOSLAB: Convention(MetricsPreset.CHAOSLAB, _chaoslab(ScopeKind.SERVICE),
                                       _chaoslab(ScopeKind.ENTRYPOINT), OutcomeStyle.CAUSE, 'outcome!="ok"',
                                       lazy=False, buckets=PRESET_BUCKETS[MetricsPreset.CHAOSLAB]),
    MetricsPreset.OPENTELEMETRY: Convention(MetricsPreset.OPENTELEMETRY, _otel(ScopeKind.SERVICE),
                                            _otel(ScopeKind.ENTRYPOINT), OutcomeStyle.OTEL,
                                            'http_response_status_code=~"5.."', lazy=True,
                                            buckets=PRESET_BUCKETS[MetricsPreset.OPENTELEMETRY]),
    MetricsPreset.MICROMETER: Convention(MetricsPreset.MICROMETER, _micrometer(ScopeKind.SERVICE),
                                         _micrometer(ScopeKind.ENTRYPOINT), OutcomeStyle.MICROMETER,
                                         'status=~"5.."', lazy=True, buckets=PRESET_BUCKETS[MetricsPreset.MICROMETER],
                                         java_floats=True),
    MetricsPreset.HAPROXY: Convention(MetricsPreset.HAPROXY, _haproxy(ScopeKind.SERVICE),
                                      _haproxy(ScopeKind.ENTRYPOINT), OutcomeStyle.STATUS_CLASS, 'code="5xx"',
                                      lazy=False, buckets=PRESET_BUCKETS[MetricsPreset.HAPROXY]),
}


# --------------------------------------------------------------------------- an experiment's mapping


def labels_of(pairs: Iterable[tuple[str, str]]) -> Labels:
    """Sorted label pairs, the last value of a name winning and empty values dropped."""
    merged: dict[str, str] = {}
    for name, value in pairs:
        merged[name] = value
    return tuple(sorted((k, v) for k, v in merged.items() if v != ""))


def selector(labels: Labels, *matchers: str) -> str:
    """``{a="x", b="y", status=~"5.."}``: equality matchers for ``labels``, then ``matchers`` as written."""
    parts = [f'{k}="{_escape(v)}"' for k, v in labels] + list(matchers)
    return "{" + ", ".join(parts) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass(frozen=True)
class Exposed:
    """One label set of one family, for one scope, and the signal it carries."""

    family: Family
    scope: Scope
    labels: Labels                  # without __name__ (and without le)
    signal: Signal
    causes: tuple[Cause, ...] = ()  # for FAILED: the causes it counts


@dataclass(frozen=True)
class ScopeMetrics:
    """One service's or entrypoint's series: the labels they all carry, and those that identify it."""

    scope: Scope
    naming: Naming
    labels: Labels     # every label of its series but the outcome ones and le
    identity: Labels   # the first scope label and every label the experiment set: what its queries select


@dataclass(frozen=True)
class MetricMapping:
    """An experiment's metric mapping, resolved for every scope of its topology."""

    convention: Convention
    scopes: tuple[ScopeMetrics, ...]
    buckets: tuple[float, ...] | None   # le bounds; None: the run's own latency bounds
    scrape_interval: int
    by_scope: dict[Scope, ScopeMetrics] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_scope", {s.scope: s for s in self.scopes})

    def le_bounds(self, run_bounds: tuple[float, ...]) -> tuple[float, ...]:
        """The histogram's finite le bounds for a run measured with ``run_bounds``."""
        return run_bounds if self.buckets is None else self.buckets

    @cached_property
    def exposed(self) -> tuple[Exposed, ...]:
        """Every label set the mapping exposes, family by family, in a stable order."""
        out: list[Exposed] = []
        outcomes = self.convention.outcome_sets()
        for sm in self.scopes:
            naming = sm.naming
            if naming.requests is not None:
                out.append(Exposed(naming.requests, sm.scope, sm.labels, Signal.SENT))
            answers = naming.responses or naming.histogram
            if naming.responses is not None and naming.histogram is not None:
                out.append(Exposed(naming.histogram, sm.scope, sm.labels, Signal.LATENCY))
            for outcome in outcomes:
                if answers is None:
                    break
                labels = labels_of((*sm.labels, *outcome.labels))
                if outcome.success:
                    latency = answers.kind is Kind.HISTOGRAM
                    out.append(Exposed(answers, sm.scope, labels, Signal.LATENCY if latency else Signal.OK))
                elif outcome.never:
                    out.append(Exposed(answers, sm.scope, labels, Signal.NEVER))
                else:
                    out.append(Exposed(answers, sm.scope, labels, Signal.FAILED, outcome.causes))
            out.extend(Exposed(fam, sm.scope, sm.labels, Signal.LATENCY_AVERAGE) for fam in naming.latency_averages)
            out.extend(Exposed(fam, sm.scope, sm.labels, signal) for fam, signal in naming.gauges)
        order = {fam: i for i, fam in enumerate(dict.fromkeys(e.family.name for e in out))}
        return tuple(sorted(out, key=lambda e: order[e.family.name]))

    def queries(self, scope: Scope) -> Queries:
        return Queries(self.convention, self.by_scope[scope])

    def scope_of(self, labels: Iterable[tuple[str, str]]) -> Scope | None:
        """The one scope an alert's labels name, or None.

        The scope whose identity labels all appear in ``labels``; failing that, the one whose
        name is the value of one of its preset's scope labels there (``service="cart"`` for
        Micrometer's ``application``/``service``). Ambiguity gives None.
        """
        have = set(labels)
        found = [s.scope for s in self.scopes if set(s.identity) <= have]
        if not found:
            found = [s.scope for s in self.scopes
                     if any((name, s.scope.name) in have and (name, s.scope.name) in s.labels
                            for name in s.naming.scope_labels)]
        return found[0] if len(found) == 1 else None


def resolve(spec: MetricsSpec, topology: Topology) -> MetricMapping:
    """The mapping ``spec`` describes, for every service and entrypoint of ``topology``."""
    convention = CONVENTIONS[spec.preset]
    common = [(label.name, label.value) for label in spec.labels]
    scopes = []
    for kind, names, entries in ((ScopeKind.SERVICE, [s.name for s in topology.services], spec.services),
                                 (ScopeKind.ENTRYPOINT, [e.name for e in topology.entrypoints], spec.entrypoints)):
        naming = convention.naming(kind)
        own = {e.name: e for e in entries}
        for name in names:
            scopes.append(_scope_metrics(Scope(kind, name), naming, common, own.get(name)))
    buckets = spec.buckets if spec.buckets is not None else convention.buckets
    return MetricMapping(convention, tuple(scopes), buckets, spec.scrape_interval_s)


def _scope_metrics(scope: Scope, naming: Naming, common: list[tuple[str, str]],
                   own: ScopeLabels | None) -> ScopeMetrics:
    set_here = common + [(label.name, label.value) for label in (own.labels if own else ())]
    defaults = [(name, scope.name) for name in naming.scope_labels] + list(naming.constant_labels)
    labels = labels_of((*defaults, *set_here))
    chosen = {name for name, _ in set_here}
    first = naming.scope_labels[0]
    identity = tuple((k, v) for k, v in labels if k == first or k in chosen)
    return ScopeMetrics(scope, naming, labels, identity)


# --------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class Queries:
    """PromQL that reads one scope's figures back from a Prometheus holding series under the mapping.

    Windows are Prometheus durations (``5m``). Each query is a single number: the scope's
    series summed over whatever other labels they carry (instances, routes, methods).
    """

    convention: Convention
    scope: ScopeMetrics

    def _sel(self, *matchers: str) -> str:
        return selector(self.scope.identity, *matchers)

    @property
    def _answers(self) -> str | None:
        naming = self.scope.naming
        if naming.responses is not None:
            return naming.responses.name
        return f"{naming.histogram.name}_count" if naming.histogram is not None else None

    def request_rate(self, window: str) -> str:
        """Requests per second: sent, where the preset counts sent requests, else answered."""
        requests = self.scope.naming.requests
        name = requests.name if requests is not None else self._answers
        return f"sum(rate({name}{self._sel()}[{window}]))"

    def error_ratio(self, window: str) -> str | None:
        """Failed answers over all answers (failed: the preset's server errors, every failure chaoslab counts)."""
        name = self._answers
        if name is None:
            return None
        failed = f"sum(rate({name}{self._sel(self.convention.error_matcher)}[{window}]))"
        return f"{failed} / sum(rate({name}{self._sel()}[{window}]))"

    def latency_quantile(self, q: float, window: str) -> str | None:
        """The q-quantile (0-1) of successful requests' latency in seconds, from the histogram; None without one."""
        histogram = self.scope.naming.histogram
        if histogram is None:
            return None
        return f"histogram_quantile({q:g}, sum by (le) (rate({histogram.name}_bucket{self._sel()}[{window}])))"

    def latency_average(self) -> str | None:
        """HAProxy's sliding average of the successful requests' latency, in seconds; None for other presets."""
        averages = self.scope.naming.latency_averages
        return f"max({averages[0].name}{self._sel()})" if averages else None

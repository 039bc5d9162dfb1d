"""Reading a team's services from its Prometheus: per-second counts at the resolution Prometheus has.

The ``live:`` section's ``prometheus:`` names the server and, per service, the labels its series
carry under a preset (:mod:`chaos.metrics.mapping`), or PromQL of its own. Each service is read
with three queries of *cumulative* counters, asked with ``query_range`` at the scrape step:

* requests: answers counted (the preset's histogram ``_count``, or HAProxy's requests counter);
* errors: failed answers (the preset's server errors, ``5..``);
* latency: the success histogram's ``_bucket`` series, by ``le``.

Each returned series is differenced on its own (a counter that went back belongs to a restarted
instance and counts from zero again), then summed: step k's increase is what happened between
two scrapes. With a step of one second that is the run's second; with a longer step the increase
is spread evenly over its seconds, and the resolution is recorded in the result.

A team's Prometheus does not say why a request failed: errors read there are counted under
:attr:`Cause.DEPENDENCY` ("it failed"), the cause a service's 5xx most often has in a cascade.
Where the errors' series carry the cause in a label (``ServiceReads.cause_label``: the generated
stack's ``error_type``), each series is counted under the cause it names.

The same reader serves two Prometheus servers (:class:`ReadPlan`): a team's, named in ``live:
prometheus:`` (:func:`target_plan`), and the one a generated stack runs next to its emulators
(:func:`generated_stack_plan`), which reads each service as its callers saw it, from their
``http_client_request_duration_seconds`` histograms: the view the direct scrape of
``/admin/metrics`` takes (``chaos.live.gameday.measure``), so a crashed service's refused calls
count as its errors rather than vanishing with its own server. Each declared operation of a service
is read there too, from the service's own server histogram
(``http_server_request_duration_seconds{job="<service>", http_route="/op/<name>"}``): the
replicas' own view of that operation's requests, the view the direct scrape takes of operations.

:func:`check` runs before any fault: a Prometheus that does not answer, a query it refuses, or a
service with no series is a :class:`LiveError` naming the service and the query.
"""

from __future__ import annotations

import dataclasses
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chaos.core.causes import Cause
from chaos.errors import LiveError
from chaos.live.gameday.measure import Counts
from chaos.live.in_container.stackspec import operation_path
from chaos.metrics.mapping import MetricMapping, OutcomeStyle, ScopeMetrics, labels_of, resolve, selector
from chaos.model.live_limits import operation_unmeasured
from chaos.model.live_target import LiveTarget, PrometheusTarget
from chaos.model.metrics import MetricsPreset, MetricsSpec
from chaos.model.scope import Scope, ScopeKind
from chaos.model.topology import Topology

TIMEOUT_S = 5.0
SUCCESS = {OutcomeStyle.OTEL: 'http_response_status_code=~"2.."', OutcomeStyle.MICROMETER: 'outcome="SUCCESS"'}
"""The matcher of a histogram's successes, where it has failures' label sets too (any 2xx)."""
ERROR_CAUSE = Cause.DEPENDENCY


@dataclass(frozen=True)
class ServiceReads:
    """The PromQL reading one service: cumulative counters (``latency``: buckets by le, or None)."""

    service: str
    requests: str
    errors: str
    latency: str | None
    cause_label: str | None = None  # the errors' label naming a Cause value (None: every error a dependency one)
    kind: ScopeKind = ScopeKind.SERVICE  # an entrypoint's reads: ``service`` is the entrypoint's name
    ok: str | None = None  # successes, where requests count those started rather than answered (entrypoints)
    # Series only the load generator writes, while a game day runs: none yet before its load starts
    during_load: bool = False
    operation: str | None = None    # one declared operation of the service (None: the service itself)

    @property
    def scope(self) -> Scope:
        """What it reads: a service, one of its operations, or an entrypoint."""
        if self.operation is not None:
            return Scope.operation(self.service, self.operation)
        return Scope(self.kind, self.service)

    @property
    def name(self) -> str:
        """What it reads, as its scope names it: ``db``, or ``db.read`` for an operation."""
        return self.scope.name


@dataclass(frozen=True)
class ReadPlan:
    """Which Prometheus a game day reads, what it reads there, and at which step."""

    url: str
    reads: tuple[ServiceReads, ...]
    scrape_interval: int | None = None  # the step; None: the scrape interval Prometheus reports
    first_scrape_s: float = 0.0          # a stack just brought up: how long its first scrapes may take

    @property
    def measured(self) -> tuple[str, ...]:
        """The services it reads (not their operations)."""
        return tuple(r.service for r in self.reads if r.kind is ScopeKind.SERVICE and r.operation is None)

    @property
    def operations(self) -> tuple[tuple[str, str], ...]:
        """The (service, operation) pairs it reads."""
        return tuple((r.service, r.operation) for r in self.reads if r.operation is not None)

    @property
    def measured_entrypoints(self) -> tuple[str, ...]:
        return tuple(r.service for r in self.reads if r.kind is ScopeKind.ENTRYPOINT)


def target_plan(live: LiveTarget, topology: Topology, step: int | None = None) -> ReadPlan:
    """A team's Prometheus, as its ``live: prometheus:`` section describes it, read every ``step`` seconds
    (``scrape_choice.team_step`` says which; None: the interval it reports for its targets)."""
    target = live.prometheus
    assert target is not None
    return ReadPlan(target.url, service_reads(target, topology, live), step)


CLIENT_HISTOGRAM = "http_client_request_duration_seconds"
SERVER_HISTOGRAM = "http_server_request_duration_seconds"
GENERATED_FIRST_SCRAPE_S = 20.0


def generated_stack_plan(url: str, topology: Topology, scrape_interval: int,
                         mapping: MetricMapping | None = None, load_scraped: bool = False) -> ReadPlan:
    """The generated stack's own Prometheus: every service some service calls, read from its callers'
    client histograms (``server_address`` is the callee), failures under the cause ``error_type`` names.

    With ``load_scraped`` (the stack's Prometheus scrapes the load generator, ``chaos.live.load.metrics``),
    the entrypoints' targets too, the load generator being one more caller, and the entrypoints themselves
    from its entry-request histograms. Without, those are left to the direct measurement: Prometheus would
    miss every attempt the load made (and every refused one when the target is down). A service nobody
    calls is not read here either.

    With ``mapping``, the stack's Prometheus stores those client histograms under the experiment's names
    (``chaos.live.stack.mapped_scrape``): the same series are read under those names, the cause in
    ``chaoslab_cause`` (or the chaoslab preset's ``outcome``); under a histogram preset the emulators' own
    server histograms are renamed or dropped there, so operations are left to the direct measurement."""
    targets = {e.to for e in topology.entrypoints}
    called = {c.to for s in topology.services for c in s.all_calls}  # operations and fallbacks too
    if load_scraped:
        called |= targets
    reads = []
    for service in topology.services:
        if service.name not in called or (service.name in targets and not load_scraped):
            continue
        only_load = service.name in targets and service.name not in {c.to for s in topology.services
                                                                     for c in s.all_calls}
        if mapping is not None:
            reads.append(dataclasses.replace(_mapped_reads(mapping, service.name), during_load=only_load))
            continue
        peer = f'server_address="{service.name}"'
        reads.append(ServiceReads(
            service.name, f"{CLIENT_HISTOGRAM}_count{{{peer}}}", f'{CLIENT_HISTOGRAM}_count{{{peer}, error_type!=""}}',
            f'{CLIENT_HISTOGRAM}_bucket{{{peer}, http_response_status_code="200"}}', cause_label="error_type",
            during_load=only_load))
    # The emulators' server histograms keep their names unless a histogram preset is renamed (OpenTelemetry's
    # drops them, its own name); under the counter presets (chaoslab, haproxy) operations are read from them.
    for service in topology.services if mapping is None or mapping.convention.service.requests is not None else ():
        reads += [operation_reads(service.name, op.name) for op in service.operations]
    if load_scraped:
        reads += [_entry_reads(e.name, mapping) for e in topology.entrypoints]
    return ReadPlan(url, tuple(reads), scrape_interval, GENERATED_FIRST_SCRAPE_S)


def _entry_reads(entrypoint: str, mapping: MetricMapping | None) -> ServiceReads:
    """An entrypoint from the load generator's metrics: requests started, successes, failures by cause (client
    errors are neither), the successes' latency; under the experiment's entrypoint names where it has them."""
    from chaos.live.in_container.load_names import CLIENT_ERROR, DURATION, OK, REQUESTS

    own = f'entrypoint="{entrypoint}"'
    requests = f"{REQUESTS}{{{own}}}"
    if mapping is None:
        return ServiceReads(entrypoint, requests, f'{DURATION}_count{{{own}, outcome!~"{OK}|{CLIENT_ERROR}"}}',
                            f'{DURATION}_bucket{{{own}, outcome="{OK}"}}', cause_label="outcome",
                            kind=ScopeKind.ENTRYPOINT, ok=f'{DURATION}_count{{{own}, outcome="{OK}"}}',
                            during_load=True)
    reads = _renamed_reads(mapping, mapping.by_scope[Scope.entrypoint(entrypoint)], None)
    histogram = mapping.convention.entrypoint.histogram
    if reads.ok is None and histogram is not None:  # a histogram preset counts answers: the load counts requests
        identity = mapping.by_scope[Scope.entrypoint(entrypoint)].identity
        reads = dataclasses.replace(reads, requests=requests,
                                    ok=f"{histogram.name}_count{selector(identity, _NO_CAUSE)}")
    return dataclasses.replace(reads, kind=ScopeKind.ENTRYPOINT, during_load=True)


def _renamed_reads(mapping: MetricMapping, scope: ScopeMetrics, latency: str | None) -> ServiceReads:
    """One scope under the names the generated stack's Prometheus renamed its series to
    (``chaos.live.stack.mapped_scrape``): sent requests where the preset counts them (then the successes apart),
    else answers; failures by cause (in ``chaoslab_cause``, or in the chaoslab preset's own ``outcome``); the
    successes' buckets (``latency`` where the preset has no histogram: the emulators' own, which keep their names)."""
    from chaos.live.stack.mapped_scrape import CAUSE_LABEL

    naming, identity = scope.naming, scope.identity
    cause = "outcome" if mapping.convention.outcomes is OutcomeStyle.CAUSE else CAUSE_LABEL
    failed, succeeded = f'{cause}!~"|{OK_OUTCOME}"', f'{cause}=~"|{OK_OUTCOME}"'
    if naming.histogram is not None:
        latency = f"{naming.histogram.name}_bucket{selector(identity)}"  # successes only keep buckets
    if naming.requests is not None and naming.responses is not None:
        answers, by = naming.responses.name, identity
        if mapping.convention.outcomes is OutcomeStyle.STATUS_CLASS:  # HAProxy's classes add the causes up
            (answers, by), cause = _by_cause(scope.scope), "outcome"
            failed, succeeded = f'{cause}!="{OK_OUTCOME}"', f'{cause}="{OK_OUTCOME}"'
        return ServiceReads(scope.scope.name, f"{naming.requests.name}{selector(identity)}",
                            f"{answers}{selector(by, failed)}", latency, cause_label=cause,
                            ok=f"{answers}{selector(by, succeeded)}")
    assert naming.histogram is not None  # a preset counts its answers in a histogram, or in counters
    count = f"{naming.histogram.name}_count"
    return ServiceReads(scope.scope.name, f"{count}{selector(identity)}", f"{count}{selector(identity, failed)}",
                        latency, cause_label=cause)


def _by_cause(scope: Scope) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Where a scope's answers are counted by cause under the haproxy preset: the counter its status classes were
    added up from, which keeps its own name (the emulators' and the load generator's, ``chaos.live.stack.
    mapped_scrape``): its name and the labels that select the scope; ``outcome`` names the cause there."""
    from chaos.live.in_container.load_names import ENTRY_RESPONSES
    from chaos.live.stack.mapped_scrape import CLIENT_RESPONSES

    if scope.kind is ScopeKind.ENTRYPOINT:
        return ENTRY_RESPONSES, (("entrypoint", scope.name),)
    return CLIENT_RESPONSES, (("server_address", scope.name),)


OK_OUTCOME = "ok"  # the chaoslab preset's outcome of a success
_NO_CAUSE = 'chaoslab_cause=""'  # a renamed histogram's successes (mapped_scrape.CAUSE_LABEL)


def operation_reads(service: str, operation: str) -> ServiceReads:
    """One operation of a generated stack's service, from its replicas' own server histogram (its route)."""
    own = f'job="{service}", http_route="{operation_path(operation)}"'
    return ServiceReads(service, f"{SERVER_HISTOGRAM}_count{{{own}}}",
                        f'{SERVER_HISTOGRAM}_count{{{own}, error_type!=""}}',
                        f'{SERVER_HISTOGRAM}_bucket{{{own}, http_response_status_code="200"}}',
                        cause_label="error_type", operation=operation)


def _mapped_reads(mapping: MetricMapping, service: str) -> ServiceReads:
    peer = f'server_address="{service}"'
    return _renamed_reads(mapping, mapping.by_scope[Scope.service(service)],
                          f'{CLIENT_HISTOGRAM}_bucket{{{peer}, http_response_status_code="200"}}')


def service_reads(target: PrometheusTarget, topology: Topology, live: LiveTarget | None = None
                  ) -> tuple[ServiceReads, ...]:
    """Each measured service's three queries: the preset's under its labels, unless the mapping gives its own;
    with the ``live`` mapping ``target`` is part of, each operation the preset's route label reads there
    (``chaos.model.live_limits.operation_unmeasured``)."""
    spec = MetricsSpec(preset=target.preset, labels=target.labels, services=target.services)
    mapping = resolve(spec, topology)
    own = {q.name: q for q in target.queries}
    out = []
    for name in target.measured:
        preset = preset_reads(mapping, name)
        q = own.get(name)
        out.append(ServiceReads(name, (q and q.requests) or preset.requests, (q and q.errors) or preset.errors,
                                (q and q.latency) or preset.latency))
    if live is not None:
        out += _operation_reads(live, target, mapping, topology)
    return tuple(out)


def _operation_reads(live: LiveTarget, target: PrometheusTarget, mapping: MetricMapping,
                     topology: Topology) -> list[ServiceReads]:
    """Each operation the team's Prometheus holds apart: its service's queries, selecting its route."""
    label = target.preset.route_label
    out: list[ServiceReads] = []
    if label is None:
        return out
    for service in topology.services:
        for op in service.operations:
            if operation_unmeasured(live, service.name, op.name) is None:
                route = live.service_target(service.name).route_map[op.name].route
                out.append(dataclasses.replace(preset_reads(mapping, service.name, (label, route)), operation=op.name))
    return out


def preset_reads(mapping: MetricMapping, service: str, route: tuple[str, str] | None = None) -> ServiceReads:
    """The preset's queries for ``service`` (with ``route``, a label and its value: one operation of it):
    what docs/live.md's preset tables print."""
    convention = mapping.convention
    scope = mapping.by_scope[Scope.service(service)]
    naming = scope.naming
    identity = scope.identity if route is None else labels_of((*scope.identity, route))
    histogram = naming.histogram
    answers = naming.responses.name if naming.responses is not None else f"{histogram.name}_count" if histogram else ""
    requests = naming.requests.name if naming.requests is not None else answers
    latency = None
    if histogram is not None:  # where the histogram also counts failures, its success label sets only
        success = () if naming.responses is not None else (SUCCESS[convention.outcomes],)
        latency = f"{histogram.name}_bucket{selector(identity, *success)}"
    return ServiceReads(service, f"{requests}{selector(identity)}",
                        f"{answers}{selector(identity, convention.error_matcher)}", latency)


# --------------------------------------------------------------------------- the HTTP API


class Prometheus:
    """A Prometheus server's HTTP API: instant and range queries, its targets' scrape interval."""

    def __init__(self, url: str, timeout_s: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def get(self, path: str, **params: str) -> object:
        """The ``data`` of a GET of ``path``; PrometheusUnusable when it does not answer with success."""
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as answer:  # noqa: S310 - the user's URL
                body = json.load(answer)
        except urllib.error.HTTPError as exc:  # a query Prometheus refused: 400 or 422 with its error
            try:
                body = json.load(exc)
            except ValueError:
                raise PrometheusUnusable(f"HTTP {exc.code} from {self.url}{path}") from None
        except (OSError, ValueError) as exc:
            raise PrometheusUnusable(f"no answer from {self.url}{path}: {exc}") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else body
            raise PrometheusUnusable(f"Prometheus refused it: {error}")
        return body.get("data")

    def instant(self, query: str) -> list[dict]:
        data = self.get("/api/v1/query", query=query)
        return _matrix(data, "vector")

    def range(self, query: str, start: float, end: float, step: int) -> list[dict]:
        data = self.get("/api/v1/query_range", query=query, start=f"{start:.3f}", end=f"{end:.3f}",
                         step=f"{step}s")
        return _matrix(data, "matrix")

    def scrape_interval(self) -> int | None:
        """The longest scrape interval among its active targets, in whole seconds (None if it says none)."""
        data = self.get("/api/v1/targets", state="active")
        targets = data.get("activeTargets", []) if isinstance(data, dict) else []
        found = [_seconds(t.get("scrapeInterval", "")) for t in targets if isinstance(t, dict)]
        known = [s for s in found if s is not None]
        return max(known) if known else None


class PrometheusUnusable(Exception):
    """A Prometheus answer chaoslab cannot use (turned into a LiveError naming the service)."""


def _matrix(data: object, kind: str) -> list[dict]:
    if not isinstance(data, dict) or data.get("resultType") != kind:
        got = data.get("resultType") if isinstance(data, dict) else type(data).__name__
        raise PrometheusUnusable(f"the query gives a {got}, not an instant vector of counters")
    return list(data.get("result") or [])


def _seconds(text: str) -> int | None:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return max(1, math.ceil(float(text[: -len(unit)]) * units[unit]))
    return None


# --------------------------------------------------------------------------- before any fault


def check(prometheus: Prometheus, reads: Sequence[ServiceReads]) -> None:
    """Every query answers with series; LiveError naming the service and the query otherwise."""
    for read in reads:
        for what, query in (("requests", read.requests), ("errors", read.errors), ("latency", read.latency)):
            if query is None:
                continue
            try:
                series = prometheus.instant(query)
            except PrometheusUnusable as exc:
                raise LiveError(f"Prometheus at {prometheus.url} gives nothing usable for {_what(read)} "
                                f"({what}: {query}): {exc}",
                                hint=_HINT) from None
            if what == "errors" or read.during_load:
                continue  # a healthy service may not have failed yet; the load's series come with the load
            if not series:
                raise LiveError(f"Prometheus at {prometheus.url} has no series for {_what(read)} "
                                f"({what}: {query})", hint=_HINT)
            if what == "latency" and any("le" not in s.get("metric", {}) for s in series):
                raise LiveError(f"the latency query of {_what(read)} gives series without an le "
                                f"label ({query})", hint="it must select the histogram's _bucket series")


def _what(read: ServiceReads) -> str:
    """``service 'db'``, ``operation 'db.read'`` or ``entrypoint 'browse'``."""
    kind = "operation" if read.operation is not None else read.kind.value
    return f"{kind} '{read.name}'"


_HINT = ("check the live: prometheus: section (url, preset, the service's labels) against what the server "
         "holds: run the query in Prometheus's own /graph page, or give the service's PromQL under queries:")


# --------------------------------------------------------------------------- the run's seconds


def per_step(series: Sequence[Mapping], start: float, step: int, steps: int) -> list[float]:
    """The summed increase of cumulative counters over each step k (from start + k*step to start + (k+1)*step)."""
    out = [0.0] * steps
    for s in series:
        values = {round((float(t) - start) / step): float(v) for t, v in s.get("values", [])}
        for k in range(steps):
            if k + 1 in values:
                before = values.get(k)
                after = values[k + 1]
                out[k] += after if before is None or after < before else after - before
    return out


def spread(counts: Sequence[float], step: int) -> list[int]:
    """Each step's count spread evenly over its seconds, whole numbers adding up to the step's."""
    out = []
    for n in counts:
        total = max(0, round(n))
        base, extra = divmod(total, step)
        out += [base + (1 if i < extra else 0) for i in range(step)]
    return out


def bucket_index(le: float, bounds: tuple[float, ...]) -> int:
    """The run's bucket (upper bound bounds[i]) holding a Prometheus bucket whose upper bound is ``le``."""
    for i, bound in enumerate(bounds):
        if le <= bound * (1 + 1e-9):
            return i
    return len(bounds)


def read(prometheus: Prometheus, reads: Sequence[ServiceReads], start: float, seconds: int, step: int,
         bounds: tuple[float, ...]) -> dict[Scope, list[Counts]]:
    """Per scope read, the Counts of each second from ``start`` (a Unix time) over ``seconds`` seconds."""
    steps = math.ceil(seconds / step)
    end = start + steps * step
    out = {}
    for r in reads:
        try:
            requests = spread(per_step(prometheus.range(r.requests, start, end, step), start, step, steps), step)
            errors = _errors_by_cause(prometheus.range(r.errors, start, end, step), r.cause_label, start, step,
                                      steps)
            ok = None if r.ok is None else spread(per_step(prometheus.range(r.ok, start, end, step), start, step,
                                                           steps), step)
            hists: list[dict[int, int]] = [{} for _ in range(steps * step)]
            if r.latency is not None:
                _read_hist(prometheus.range(r.latency, start, end, step), start, step, steps, bounds, hists)
        except PrometheusUnusable as exc:
            raise LiveError(f"Prometheus at {prometheus.url} gave nothing usable for {_what(r)} "
                            f"after the run: {exc}", hint=_HINT) from None
        seconds_counts = []
        for i in range(seconds):
            if ok is not None:  # requests started, and outcomes counted apart: as the load's own records
                failed = {cause: n[i] for cause, n in errors.items() if n[i]}
                seconds_counts.append(Counts(requests[i], ok[i], failed, hists[i]))
                continue
            failed = _at_most({cause: n[i] for cause, n in errors.items() if n[i]}, requests[i])
            seconds_counts.append(Counts(requests[i], requests[i] - sum(failed.values()), failed, hists[i]))
        out[r.scope] = seconds_counts
    return out


def _errors_by_cause(series: Sequence[Mapping], label: str | None, start: float, step: int,
                     steps: int) -> dict[Cause, list[int]]:
    """Each second's failures, per cause: the one the series' ``label`` names, else ERROR_CAUSE."""
    causes = {c.value: c for c in Cause}
    grouped: dict[Cause, list[Mapping]] = {}
    for s in series:
        value = str(s.get("metric", {}).get(label, "")) if label is not None else ""
        grouped.setdefault(causes.get(value, ERROR_CAUSE), []).append(s)
    return {cause: spread(per_step(group, start, step, steps), step) for cause, group in grouped.items()}


def _at_most(failed: dict[Cause, int], total: int) -> dict[Cause, int]:
    """``failed`` trimmed to ``total`` in all (an even spread of a longer step can round a second's errors over
    its requests), the largest causes first."""
    over = sum(failed.values()) - total
    for cause in sorted(failed, key=lambda c: -failed[c]):
        if over <= 0:
            break
        cut = min(over, failed[cause])
        failed[cause] -= cut
        over -= cut
    return {c: n for c, n in failed.items() if n}


def _read_hist(series: Sequence[Mapping], start: float, step: int, steps: int, bounds: tuple[float, ...],
               into: list[dict[int, int]]) -> None:
    """Cumulative le buckets -> per-second counts in the run's buckets (each Prometheus bucket into the
    run bucket holding its upper bound)."""
    by_le: dict[float, list[float]] = {}
    for s in series:
        le = float(s.get("metric", {}).get("le", "+Inf"))
        got = per_step([s], start, step, steps)
        acc = by_le.setdefault(le, [0.0] * steps)
        for k, n in enumerate(got):
            acc[k] += n
    previous = [0.0] * steps
    for le in sorted(by_le):
        cumulative = by_le[le]
        own = [max(0.0, c - p) for c, p in zip(cumulative, previous, strict=True)]
        previous = cumulative
        idx = bucket_index(le, bounds)
        for i, n in enumerate(spread(own, step)):
            if n:
                into[i][idx] = into[i].get(idx, 0) + n


# --------------------------------------------------------------------------- the docs' preset tables


def preset_table(topology: Topology, service: str) -> str:
    """docs/live.md's table: for each preset, the labels naming ``service`` and the PromQL each read runs."""
    rows = ["| preset | labels naming the service | requests (cumulative) | errors (cumulative) "
            "| latency of successes (cumulative buckets) |", "|---|---|---|---|---|"]
    for preset in MetricsPreset:
        mapping = resolve(MetricsSpec(preset=preset), topology)
        scope = mapping.by_scope[Scope.service(service)]
        reads = preset_reads(mapping, service)
        labels = ", ".join(f"`{name}`" for name in scope.naming.scope_labels)
        latency = "none: HAProxy has no histogram" if reads.latency is None else f"`{reads.latency}`"
        rows.append(f"| `{preset.value}` | {labels} | `{reads.requests}` | `{reads.errors}` | {latency} |")
    return "\n".join(rows)

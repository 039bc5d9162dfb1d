"""The generated stack's Prometheus stores the emulators' series under the experiment's metric names.

The emulators export OpenTelemetry's HTTP names (``chaos.live.in_container.emulator.prometheus``);
a team's rule files read its own (Micrometer's ``http_server_requests_seconds_*{service=...}``, or
OpenTelemetry's with its own labels). So that the stack's Prometheus can evaluate those rules
itself, the scrape of each emulator job renames the series that measure a service, in
``metric_relabel_configs`` derived from the experiment's mapping (:mod:`chaos.metrics.mapping`, the one
the simulator's export uses):

* every service some caller calls (the load generator included, for an entrypoint's target) is measured
  as its callers saw it, from their ``http_client_request_duration_seconds`` with ``server_address`` = the
  service (the simulator's view: a crashed service's refused calls are its errors); the load generator's
  attempts are scraped from it in its own job (``LOAD_JOB``, :mod:`chaos.live.load.metrics`);
* an entrypoint is measured by the load generator's ``chaoslab_load_request_duration_seconds`` (entry
  requests end to end, by outcome), renamed to the preset's entrypoint names (Micrometer's
  ``http_client_requests_seconds``, OpenTelemetry's ``http_client_request_duration_seconds``), client
  errors left out (they are the load's failures, not the system's);

and each such series gets the mapped family's name (``_bucket``, ``_sum``, ``_count`` kept, so
``le`` keeps its meaning and a ``_count`` its exact count), the scope's labels under the mapping
(``job`` too), the status labels the preset gives the failure's cause (``STATUS``), and the cause
itself in ``chaoslab_cause`` (what the game day's reader counts each error under). As the simulator
exports them, only successes keep buckets and a ``_sum``.

The ``chaoslab`` and ``haproxy`` presets count sent requests and answers by outcome in counters (no
histogram ``_count`` is either): they are renamed from the counters the emulators and the load generator
export for them (``chaoslab_client_requests_total``, counted when an attempt is sent, and
``chaoslab_client_responses_total{outcome}``, every outcome from 0; per entrypoint
``chaoslab_load_entry_requests_total`` and ``..._responses_total``), the chaoslab preset's histogram from
the client histogram's successes (its failures dropped: that preset times successes alone, with no outcome),
its queue, busy workers, wasted work, retries and fallbacks from each replica's own series. HAProxy's answers
are one series per backend (frontend) and status class: renaming cannot add the per-cause series up, so they
are renamed from the counters by class the emulators and the load generator keep for it
(``..._responses_by_class_total{code}``, every class from 0), and a rule without aggregation fires once per
backend, as on HAProxy; the per-cause counters keep their names (the game day reads causes there). HAProxy's
``*_total_time_average_seconds`` and ``*_response_time_average_seconds`` come from
``chaoslab_client_time_average_seconds`` and ``chaoslab_client_response_time_average_seconds`` (one value,
exported twice: a series renames to one name), which each caller keeps as HAProxy does (each success moving it
by a 512th). Where these differ from the simulator's export: an entrypoint's wasted and degraded counts are
absent (the simulator writes them at 0), and with several caller replicas each is a series of its own
(``instance``), the average too: each caller replica stands for the HAProxy process in front of its callee
(HAProxy's averages are per process), where the simulator models one in front of each service.

Why relabelling, not an emulator exporting the mapped names: it is one pure function of the
experiment on the host, the emulator (standard library only, one image for every experiment) exports
the same families whatever the experiment, and each replica is still scraped once; Prometheus renames
in place, so the counts are the emulator's own.

With every preset the stack's Prometheus evaluates the experiment's rules itself; chaoslab evaluates them
(:func:`evaluation_gap`) only on a stack whose load is not scraped, for rules reading an entrypoint's series.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaos.core.causes import Cause
from chaos.metrics.mapping import MetricMapping, Naming, OutcomeStyle, Signal, resolve
from chaos.model.metrics import MetricsSpec
from chaos.model.scope import Scope, ScopeKind
from chaos.model.topology import Topology

if TYPE_CHECKING:
    from chaos.model.experiment import Experiment
    from chaos.promql.syntax import VectorSelector

LOAD_JOB = "chaoslab-load"  # the stack's scrape job of the load generator (chaos.live.load.metrics)
CAUSE_LABEL = "chaoslab_cause"
"""On a renamed failure's series: the cause the emulator counted it under (a ``Cause`` value)."""
CLIENT = "http_client_request_duration_seconds"
SERVER = "http_server_request_duration_seconds"
_MARK = "__tmp_chaoslab_scope"  # the service a series measures, while the rules below rename it
_ENTRY_MARK = "__tmp_chaoslab_entry"  # the entrypoint a load series measures, likewise
_PARTS = "(?:bucket|sum|count)"
# Emulator labels a renamed series loses: the mapping sets its own (a route stays: operations differ by it).
_EMULATOR_LABELS = ("server_address", "http_request_method", "error_type", "http_response_status_code")


@dataclass(frozen=True)
class Relabel:
    """One ``metric_relabel_configs`` entry (Prometheus's relabel_config)."""

    action: str
    source_labels: tuple[str, ...] = ()
    regex: str = "(.*)"
    target_label: str = ""
    replacement: str = "$1"

    def config(self) -> dict[str, object]:
        out: dict[str, object] = {"action": self.action}
        if self.source_labels:
            out["source_labels"] = list(self.source_labels)
        out["regex"] = self.regex
        if self.action == "replace":
            out["target_label"] = self.target_label
            out["replacement"] = self.replacement
        return out


def _replace(sources: tuple[str, ...], regex: str, target: str, replacement: str) -> Relabel:
    return Relabel("replace", sources, regex, target, replacement)


# What the emulators (chaos.live.in_container.emulator.prometheus) and the load generator (chaos.live.load.metrics)
# export that a preset is renamed from. Per callee (server_address): the client histogram, attempts sent, answers
# by outcome, HAProxy's average; of the replica itself: its gauges and own counters (the chaoslab preset's).
CLIENT_REQUESTS = "chaoslab_client_requests_total"
CLIENT_RESPONSES = "chaoslab_client_responses_total"
CLIENT_AVERAGES = ("chaoslab_client_time_average_seconds", "chaoslab_client_response_time_average_seconds")


@dataclass(frozen=True)
class _Sources:
    """Which exported families one kind of scope's mapped families are renamed from."""

    histogram: str      # a histogram's base name: its _bucket, _sum and _count
    requests: str
    responses: str      # answers by outcome (ok or the cause)
    classes: str        # the same answers by status class (code): HAProxy's one series per class
    averages: tuple[str, ...]  # HAProxy's averages, one family per mapped one (a series renames to one name)
    own: tuple[tuple[Signal, str], ...]  # the scope's own (not per callee): the chaoslab preset's other families


def _sources(kind: ScopeKind) -> _Sources:
    from chaos.live.in_container.load_names import (
        CLIENT_CLASSES,
        DURATION,
        ENTRY_CLASSES,
        ENTRY_REQUESTS,
        ENTRY_RESPONSES,
    )

    if kind is ScopeKind.ENTRYPOINT:  # the load generator's, by entrypoint
        return _Sources(DURATION, ENTRY_REQUESTS, ENTRY_RESPONSES, ENTRY_CLASSES, (),
                        ((Signal.RETRIES, "chaoslab_load_retries_total"),))
    return _Sources(CLIENT, CLIENT_REQUESTS, CLIENT_RESPONSES, CLIENT_CLASSES, CLIENT_AVERAGES,
                    ((Signal.QUEUE, "chaoslab_queue_requests"), (Signal.BUSY, "chaoslab_busy_workers"),
                     (Signal.WASTED, "chaoslab_server_wasted_total"), (Signal.RETRIES, "chaoslab_retries_total"),
                     (Signal.DEGRADED, "chaoslab_degraded_total")))


def _answers(style: OutcomeStyle, src: _Sources) -> str:
    """The family a preset's counter of answers is renamed from: by status class where the preset labels answers
    by class (HAProxy: one series per class, its causes added up by the emulator, since renaming cannot add series
    up), else by outcome."""
    return src.classes if style is OutcomeStyle.STATUS_CLASS else src.responses


def _peer_renames(naming: Naming, src: _Sources, style: OutcomeStyle) -> list[tuple[str, str]]:
    """(sample names, as a regex; the mapped name) of the families measured per callee (an entrypoint: all)."""
    out = []
    if naming.histogram is not None:
        out.append((f"{src.histogram}_(bucket|sum|count)", f"{naming.histogram.name}_${{1}}"))
    if naming.requests is not None:
        out.append((src.requests, naming.requests.name))
    if naming.responses is not None:
        out.append((_answers(style, src), naming.responses.name))
    out += [(source, family.name) for source, family in zip(src.averages, naming.latency_averages, strict=False)]
    return out


def _own_renames(naming: Naming, src: _Sources) -> list[tuple[str, str]]:
    """Likewise of the scope's own families (the chaoslab preset's queue, busy workers, retries, ...)."""
    own = dict(src.own)
    return [(own[signal], family.name) for family, signal in naming.gauges if signal in own]


def renamed_mapping(spec: MetricsSpec, topology: Topology) -> MetricMapping:
    """The experiment's mapping, under whose names the generated stack's Prometheus stores its series."""
    return resolve(spec, topology)


def sources(topology: Topology) -> dict[str, tuple[tuple[str, str], ...]]:
    """Per scrape job (a service): which emulator family measures which service there, as (family, service).

    Every callee through its callers' client histograms; the entrypoints' targets get the load generator's
    too (its own job, :func:`load_relabels`)."""
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for service in topology.services:
        callees = dict.fromkeys(c.to for c in service.all_calls)  # operations and fallbacks too
        out[service.name] = tuple((CLIENT, callee) for callee in callees)
    return out


def _alternatives(names: list[str]) -> str:
    return "(?:" + "|".join(names) + ")"


def job_relabels(mapping: MetricMapping, topology: Topology) -> dict[str, tuple[Relabel, ...]]:
    """Each emulator job's ``metric_relabel_configs``: rename what it measures of each service (see above)."""
    naming, src, style = mapping.convention.service, _sources(ScopeKind.SERVICE), mapping.convention.outcomes
    peer = _alternatives([pattern for pattern, _ in _peer_renames(naming, src, style)])
    own = [pattern for pattern, _ in _own_renames(naming, src)]
    histogram = naming.histogram
    # The emulator's own series under the mapped name would count a service twice: dropped in every job.
    collide = []
    if histogram is not None and histogram.name in (CLIENT, SERVER):
        collide = [Relabel("drop", (_MARK, "__name__"), f";{re.escape(histogram.name)}_{_PARTS}")]
    out = {}
    for job, measured in sources(topology).items():
        callees = [s for _, s in measured]
        rules = [_replace(("__name__", "server_address"), f"{peer};{re.escape(service)}", _MARK, service)
                 for service in callees]
        if own:  # the replica's own families: the service it is
            rules.append(_replace(("__name__",), _alternatives(own), _MARK, job))
        rules += collide
        if callees or own:
            rules += _renames(mapping, ScopeKind.SERVICE, _MARK, [*callees, *([job] if own else [])])
            rules.append(Relabel("labeldrop", regex=_MARK))
        out[job] = tuple(rules)
    return out


def _renames(mapping: MetricMapping, kind: ScopeKind, mark: str, scopes: list[str]) -> list[Relabel]:
    """Series marked with the scope they measure: under its mapped names and labels, outcomes as the preset labels
    them (the cause in ``chaoslab_cause`` where the preset's outcome labels do not name it)."""
    from chaos.live.in_container.load_names import CLIENT_ERROR

    convention = mapping.convention
    naming, src = convention.naming(kind), _sources(kind)
    renames = _peer_renames(naming, src, convention.outcomes) + _own_renames(naming, src)
    causes = "|".join(c.value for c in Cause)
    histogram = naming.histogram
    hist_parts = f"{src.histogram}_{_PARTS}"
    # what carries the outcome labels (none to set on HAProxy's answers: their code is the emulator's)
    answers = _answers(convention.outcomes, src) if naming.responses is not None else hist_parts
    rules = [Relabel("drop", (mark, "outcome"), f".+;{CLIENT_ERROR}"),  # the load's failures, not the system's
             _replace((mark, "error_type"), ".+;(.+)", CAUSE_LABEL, "$1"),
             _replace((mark, "outcome"), f".+;({causes})", CAUSE_LABEL, "$1")]
    if histogram is not None and naming.responses is not None:  # its histogram times successes, with no outcome
        rules.append(Relabel("drop", (mark, "__name__", CAUSE_LABEL), f".+;{hist_parts};.+"))
    rules += [_replace((mark,), ".+", label, "") for label in (*_EMULATOR_LABELS, "entrypoint", "request", "outcome")]
    if convention.outcomes is not OutcomeStyle.STATUS_CLASS:
        rules += _status(mapping, mark, answers)
    for scope in dict.fromkeys(scopes):
        labels = mapping.by_scope[Scope(kind, scope)].labels
        rules += [_replace((mark,), re.escape(scope), k, v) for k, v in (("job", scope), *labels)]
    rules += [_replace((mark, "__name__"), f".+;{pattern}", "__name__", name) for pattern, name in renames]
    if histogram is not None:
        name = re.escape(histogram.name)
        # The simulator's export times successes only: a failure's label set has its _count alone.
        rules.append(Relabel("drop", (mark, CAUSE_LABEL, "__name__"), f".+;.+;{name}_(?:bucket|sum)"))
        if not convention.java_floats:  # le="1", as Go's client writes it (and the simulator's export), not "1.0"
            rules.append(_replace((mark, "__name__", "le"), f".+;{name}_bucket;([0-9]+)\\.0", "le", "$1"))
    if convention.outcomes is OutcomeStyle.CAUSE:  # the outcome label names the cause already
        rules.append(_replace((mark,), ".+", CAUSE_LABEL, ""))
    return rules


def load_relabels(mapping: MetricMapping, topology: Topology) -> tuple[Relabel, ...]:
    """The load generator's job: its attempts under their target services' names (as any caller's), its entry
    requests under the preset's entrypoint names, client errors dropped from those."""
    naming, src, style = mapping.convention.entrypoint, _sources(ScopeKind.ENTRYPOINT), mapping.convention.outcomes
    targets = list(dict.fromkeys(e.to for e in topology.entrypoints))
    peer = _alternatives([p for p, _ in _peer_renames(mapping.convention.service, _sources(ScopeKind.SERVICE),
                                                      style)])
    rules = [_replace(("__name__", "server_address"), f"{peer};{re.escape(t)}", _MARK, t) for t in targets]
    if targets:
        rules += _renames(mapping, ScopeKind.SERVICE, _MARK, targets)
    entries = _alternatives([p for p, _ in _peer_renames(naming, src, style) + _own_renames(naming, src)])
    names = [e.name for e in topology.entrypoints]
    if entries != "(?:)" and names:
        rules += [_replace(("__name__", "entrypoint"), f"{entries};{re.escape(e)}", _ENTRY_MARK, e) for e in names]
        if naming.responses is not None and naming.histogram is not None:  # successes only, in every kind
            rules.append(Relabel("drop", (_ENTRY_MARK, "__name__", "outcome"),
                                 f".+;{src.histogram}_{_PARTS};(?:{'|'.join(c.value for c in Cause)})"))
        rules += _renames(mapping, ScopeKind.ENTRYPOINT, _ENTRY_MARK, names)
    rules += [Relabel("labeldrop", regex=_MARK), Relabel("labeldrop", regex=_ENTRY_MARK)]
    return tuple(rules)


def _status(mapping: MetricMapping, mark: str, answers: str) -> list[Relabel]:
    """The preset's outcome labels on the family of answers (``answers``: its sample names, a regex), set from the
    cause (none: a success), as the simulator's export sets them."""
    rules = []
    for outcome in mapping.convention.outcome_sets():
        if outcome.never:
            continue
        cause = "" if outcome.success else "(?:" + "|".join(c.value for c in outcome.causes) + ")"
        rules += [_replace((mark, "__name__", CAUSE_LABEL), f".+;{answers};{cause}", k, v) for k, v in outcome.labels]
    return rules


def digest(relabels: dict[str, tuple[Relabel, ...]]) -> str:
    """What a stack's state records of its renaming, so a game day knows which names its Prometheus holds."""
    text = json.dumps({job: [r.config() for r in rules] for job, rules in sorted(relabels.items())}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stack_relabels(experiment: Experiment | None) -> dict[str, tuple[Relabel, ...]]:
    """The renaming a stack brought up from ``experiment`` gets (none for a topology alone, or a preset
    with counters of its own)."""
    if experiment is None:
        return {}
    mapping = renamed_mapping(experiment.metrics, experiment.topology)
    return {**job_relabels(mapping, experiment.topology), LOAD_JOB: load_relabels(mapping, experiment.topology)}


def selector_names(expr: object) -> set[str]:
    """The metric names an expression's selectors read."""
    from chaos.promql.syntax import VectorSelector

    if isinstance(expr, VectorSelector):
        return {expr.name} if expr.name else set()
    if not dataclasses.is_dataclass(expr) or isinstance(expr, type):
        return set()
    found: set[str] = set()
    for f in dataclasses.fields(expr):
        value = getattr(expr, f.name)
        for item in value if isinstance(value, tuple) else (value,):
            found |= selector_names(item)
    return found


def _entrypoint_reads(mapping: MetricMapping, selector: VectorSelector) -> bool:
    """Does ``selector`` read an entrypoint's series, which only the load generator exports? Its name is one of
    the entrypoints' families, and not one services share (the chaoslab preset's), or it selects the entrypoint
    label of such a shared one (``chaoslab_requests_total{entrypoint="buy"}``)."""
    def names(naming: Naming) -> set[str]:
        out = {f"{naming.histogram.name}_{p}" for p in ("bucket", "sum", "count")} if naming.histogram else set()
        out |= {f.name for f in (naming.requests, naming.responses) if f is not None}
        return out | {f.name for f, _ in naming.gauges}

    entry, service = mapping.convention.entrypoint, mapping.convention.service
    if selector.name not in names(entry):
        return False
    return selector.name not in names(service) or any(m.name in entry.scope_labels for m in selector.matchers)


def evaluation_gap(experiment: Experiment, load_scraped: bool = True) -> str | None:
    """Why the generated stack's Prometheus cannot evaluate the experiment's rules on what it stores (None: it can).

    ``load_scraped``: the stack's Prometheus scrapes the load generator (the entrypoints and the attempts the
    entrypoints' targets get from it)."""
    from chaos.promql.syntax import selectors

    if load_scraped:
        return None
    mapping = renamed_mapping(experiment.metrics, experiment.topology)
    for ref in (*experiment.prometheus_rules, *experiment.slo_specs):
        for group in ref.rules.all_groups:
            for rule in group.rules:
                read = sorted({s.name for s in selectors(rule.expr) if s.name and _entrypoint_reads(mapping, s)})
                if read:
                    return (f"rule '{rule.name}' ({ref.file}) reads an entrypoint's {read[0]}, which only "
                            "the load generator exports, and this stack's Prometheus does not scrape it")
    return None

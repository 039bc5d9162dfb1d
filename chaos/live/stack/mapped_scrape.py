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

Why relabelling, not an emulator exporting the mapped names: it is one pure function of the
experiment on the host, the emulator (standard library only, one image for every experiment) stays
as it is, and each replica is still scraped once; Prometheus renames in place, so the counts are the
emulator's own.

Only the histogram presets (``micrometer``, ``opentelemetry``) are renamed this way: their
``_count`` counts answers by outcome, which is what the emulator's histograms hold. The
``chaoslab`` and ``haproxy`` presets count sent requests in counters of their own that no emulator
series can be renamed to; with them (and, on a stack whose load is not scraped, with rules reading
entrypoints' client-side names) chaoslab keeps evaluating the rules itself (:func:`evaluation_gap`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaos.core.causes import Cause
from chaos.metrics.mapping import MetricMapping, resolve
from chaos.model.metrics import MetricsSpec
from chaos.model.scope import Scope, ScopeKind
from chaos.model.topology import Topology

if TYPE_CHECKING:
    from chaos.model.experiment import Experiment

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


def histogram_mapping(spec: MetricsSpec, topology: Topology) -> MetricMapping | None:
    """The experiment's mapping when its services' answers are a histogram the emulators' can be renamed to."""
    mapping = resolve(spec, topology)
    naming = mapping.convention.service
    if naming.histogram is None or naming.responses is not None or naming.requests is not None:
        return None
    return mapping


def sources(topology: Topology) -> dict[str, tuple[tuple[str, str], ...]]:
    """Per scrape job (a service): which emulator family measures which service there, as (family, service).

    Every callee through its callers' client histograms; the entrypoints' targets get the load generator's
    too (its own job, :func:`load_relabels`)."""
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for service in topology.services:
        callees = dict.fromkeys(c.to for c in service.all_calls)  # operations and fallbacks too
        out[service.name] = tuple((CLIENT, callee) for callee in callees)
    return out


def job_relabels(mapping: MetricMapping, topology: Topology) -> dict[str, tuple[Relabel, ...]]:
    """Each emulator job's ``metric_relabel_configs``: rename what it measures of each service (see above)."""
    histogram = mapping.convention.service.histogram
    assert histogram is not None  # histogram_mapping chose this mapping
    name = histogram.name
    # The emulator's own series under the mapped name would count a service twice: dropped in every job.
    collide = [Relabel("drop", (_MARK, "__name__"), f";{re.escape(name)}_{_PARTS}")] if name in (CLIENT, SERVER) else []
    out = {}
    for job, measured in sources(topology).items():
        if not measured:
            out[job] = tuple(collide)
            continue
        rules = [_replace(("__name__", "server_address"), f"{family}_{_PARTS};{re.escape(service)}", _MARK, service)
                 for family, service in measured]
        rules += collide
        rules += _service_renames(mapping, [s for _, s in measured])
        rules.append(Relabel("labeldrop", regex=_MARK))
        out[job] = tuple(rules)
    return out


def _service_renames(mapping: MetricMapping, services: list[str]) -> list[Relabel]:
    """Client-histogram series marked with the service they measure: under its mapped name and labels."""
    name = mapping.convention.service.histogram.name  # type: ignore[union-attr]  # a histogram preset
    rules = [_replace((_MARK, "error_type"), ".+;(.+)", CAUSE_LABEL, "$1")]
    rules += [_replace((_MARK,), ".+", label, "") for label in (*_EMULATOR_LABELS, "entrypoint")]
    rules += _status(mapping, _MARK)
    for service in dict.fromkeys(services):
        labels = mapping.by_scope[Scope(ScopeKind.SERVICE, service)].labels
        rules += [_replace((_MARK,), re.escape(service), k, v) for k, v in (("job", service), *labels)]
    rules.append(_replace((_MARK, "__name__"), f".+;(?:{CLIENT}|{SERVER})_(bucket|sum|count)", "__name__",
                          f"{name}_${{1}}"))
    # The simulator's export times successes only: a failure's label set has its _count alone.
    rules.append(Relabel("drop", (_MARK, CAUSE_LABEL, "__name__"), f".+;.+;{re.escape(name)}_(?:bucket|sum)"))
    return rules


def load_relabels(mapping: MetricMapping, topology: Topology) -> tuple[Relabel, ...]:
    """The load generator's job: its attempts under their target services' names (as any caller's), its entry
    requests under the preset's entrypoint names, client errors dropped from those."""
    from chaos.live.in_container.load_names import CLIENT_ERROR, DURATION

    targets = list(dict.fromkeys(e.to for e in topology.entrypoints))
    rules = [_replace(("__name__", "server_address"), f"{CLIENT}_{_PARTS};{re.escape(t)}", _MARK, t)
             for t in targets]
    rules += _service_renames(mapping, targets)
    entry = mapping.convention.entrypoint.histogram
    if entry is not None:
        names = [e.name for e in topology.entrypoints]
        rules += [_replace(("__name__", "entrypoint"), f"{DURATION}_{_PARTS};{re.escape(e)}", _ENTRY_MARK, e)
                  for e in names]
        rules.append(Relabel("drop", (_ENTRY_MARK, "outcome"), f".+;{CLIENT_ERROR}"))
        causes = "|".join(c.value for c in Cause)
        rules.append(_replace((_ENTRY_MARK, "outcome"), f".+;({causes})", CAUSE_LABEL, "$1"))
        rules += [_replace((_ENTRY_MARK,), ".+", label, "") for label in ("entrypoint", "request", "outcome")]
        rules += _status(mapping, _ENTRY_MARK)
        for e in names:
            labels = mapping.by_scope[Scope(ScopeKind.ENTRYPOINT, e)].labels
            rules += [_replace((_ENTRY_MARK,), re.escape(e), k, v) for k, v in (("job", e), *labels)]
        rules.append(_replace((_ENTRY_MARK, "__name__"), f".+;{DURATION}_(bucket|sum|count)", "__name__",
                              f"{entry.name}_${{1}}"))
        rules.append(Relabel("drop", (_ENTRY_MARK, CAUSE_LABEL, "__name__"),
                             f".+;.+;{re.escape(entry.name)}_(?:bucket|sum)"))
    rules += [Relabel("labeldrop", regex=_MARK), Relabel("labeldrop", regex=_ENTRY_MARK)]
    return tuple(rules)


def _status(mapping: MetricMapping, mark: str) -> list[Relabel]:
    """The preset's outcome labels, set from the cause (none: a success), as the simulator's export sets them."""
    rules = []
    for outcome in mapping.convention.outcome_sets():
        if outcome.never:
            continue
        regex = ".+;" if outcome.success else ".+;(?:" + "|".join(c.value for c in outcome.causes) + ")"
        rules += [_replace((mark, CAUSE_LABEL), regex, k, v) for k, v in outcome.labels]
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
    mapping = histogram_mapping(experiment.metrics, experiment.topology)
    if mapping is None:
        return {}
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


def evaluation_gap(experiment: Experiment, load_scraped: bool = True) -> str | None:
    """Why the generated stack's Prometheus cannot evaluate the experiment's rules on what it stores (None: it can).

    ``load_scraped``: the stack's Prometheus scrapes the load generator (the entrypoints and the attempts the
    entrypoints' targets get from it)."""
    spec = experiment.metrics
    mapping = histogram_mapping(spec, experiment.topology)
    if mapping is None:
        return (f"the {spec.preset.value} preset counts sent requests in counters the emulators' histograms "
                "cannot be renamed to")
    if load_scraped:
        return None
    entry = mapping.convention.entrypoint
    client = {f"{entry.histogram.name}_{p}" for p in ("bucket", "sum", "count")} if entry.histogram else set()
    for ref in (*experiment.prometheus_rules, *experiment.slo_specs):
        for group in ref.rules.all_groups:
            for rule in group.rules:
                read = selector_names(rule.expr) & client
                if read:
                    return (f"rule '{rule.name}' ({ref.file}) reads an entrypoint's {sorted(read)[0]}, which only "
                            "the load generator exports, and this stack's Prometheus does not scrape it")
    return None

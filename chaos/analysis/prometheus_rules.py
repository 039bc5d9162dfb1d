"""A team's own rule files and SLO specs, evaluated on a run: the second source of alert firings.

The experiment's ``prometheus_rules`` and ``slo_specs`` (with the groups Sloth generates for
each SLO) are evaluated with Prometheus's semantics (:mod:`chaos.promql`) on the run's series
as a Prometheus would have scraped them under the experiment's metric mapping
(:mod:`chaos.metrics.exposition`): every group at its ``interval`` (or the experiment's
``evaluation_interval``) from the run's start, each evaluation seeing the scrapes up to its
instant. Each alert instance that fires becomes a :class:`~chaos.analysis.alerts.Firing`
(its name, labels, when it fired and resolved, its value when it fired), in one list with
chaoslab's own, for time to detect, ``expect_within`` and playbook triggers alike.

An SLO spec is also judged as an SLO: its own error-ratio query over the measured part of
the run must stay within its error budget; it is in breach at a second when the same query
over the trailing 30 seconds exceeds the budget (what chaoslab's ``slos:`` do by default).

:class:`RulePlan` is what does not depend on a run (the groups, the mapping, which series the
rules read), made once per experiment: a sweep may make it once for its base experiment and
pass it to :func:`evaluate` for every variant whose services are the same (faults and
settings may differ). :class:`RuleAlerts` evaluates it on one run, as its seconds complete or
all at once; it pickles (``chaos.sweep.wire``), so an evaluation may be carried on from a
shared fault-free start like the simulation itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from chaos.analysis.alerts import Firing
from chaos.analysis.slos import ObjectiveResult
from chaos.errors import InputError, QueryError
from chaos.metrics.exposition import COARSE_POINTS, FINE_HISTORY, HISTORY_STEP, Scraper, sample_names
from chaos.metrics.mapping import Labels, MetricMapping, resolve
from chaos.model.alerts import FiringMetric
from chaos.model.experiment import Experiment
from chaos.model.scope import Scope, ScopeKind
from chaos.model.slos import Objective, ObjectiveKind
from chaos.promql.documents import format_duration
from chaos.promql.engine import Evaluator
from chaos.promql.rules import RecordingRule, RuleGroup, RulesEngine
from chaos.promql.series import NAME, Store, get, to_ms
from chaos.promql.slo import SLO, fill_window
from chaos.promql.syntax import Expr, MatrixSelector, VectorSelector, children, parse, selectors
from chaos.run import Run, Series

METRIC = FiringMetric.PROMQL
"""The ``metric`` of a rule-file alert's firing in result.json: its value is the expression's."""
SLO_BREACH_WINDOW = 30.0
"""Trailing window (seconds) over which an SLO spec's error ratio is judged moment by moment."""
_BUILT_IN = ("ALERTS", "ALERTS_FOR_STATE")
DENSE_MARGIN = 60   # seconds of history scraped as often as the run, beyond those rules are evaluated in
DENSE_LIMIT = 900   # ... and at most this many


@dataclass(frozen=True)
class SpecSlo:
    """An SLO from a spec file, tied to the service or entrypoint its queries measure."""

    slo: SLO
    scope: Scope

    @property
    def objective(self) -> Objective:
        return Objective(self.slo.id, self.scope, ObjectiveKind.ERROR_RATIO, self.slo.error_budget,
                         SLO_BREACH_WINDOW)


@dataclass(frozen=True)
class RulePlan:
    """An experiment's rule files, ready to evaluate on any of its runs."""

    groups: tuple[RuleGroup, ...]
    slos: tuple[SpecSlo, ...]
    mapping: MetricMapping
    interval: float
    reads: tuple[VectorSelector, ...]  # every selector of every rule and SLO query
    reach: tuple[tuple[VectorSelector, float], ...] = ()  # how far back each selector reads, seconds
    history: float | None = None       # the experiment's metrics.history (None: as far back as the rules read)
    warmup: int = 0                    # the seconds a history is made from
    lead: float = 0.0                  # how long before the run rules must run for their state at its start
    notes: tuple[str, ...] = ()
    alert_scopes: Mapping[tuple[str, str], Scope] = field(default_factory=dict)  # (group, alert) -> what it reads

    def wanted(self, labels: Labels) -> bool:
        """Whether any rule reads the series with these labels (only those are scraped)."""
        return any(_matches(sel, labels) for sel in self.reads)

    def history_of(self, labels: Labels) -> float:
        """Seconds of steady-state history the series with these labels gets before the run."""
        if self.history is not None:
            return self.history
        return max((back for sel, back in self.reach if _matches(sel, labels)), default=0.0)

    @property
    def alert_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.name for g in self.groups for r in g.alerting_rules))


def walk(expr: Expr) -> list[Expr]:
    """An expression and every node below it."""
    return [expr, *(n for child in children(expr) for n in walk(child))]


def _matches(sel: VectorSelector, labels: Labels, ignore_le: bool = False) -> bool:
    return all(m.matches(get(labels, m.name)) for m in sel.matchers if not (ignore_le and m.name == "le"))


def groups_of(experiment: Experiment) -> tuple[tuple[RuleGroup, ...], tuple[SLO, ...]]:
    """The rule groups (SLO specs' generated ones last) and the SLOs of an experiment's rule files."""
    refs = (*experiment.prometheus_rules, *experiment.slo_specs)
    groups = tuple(g for ref in refs for g in ref.rules.groups)
    slos = tuple(s for ref in refs for s in ref.rules.slos)
    return groups + tuple(g for s in slos for g in s.groups), slos


def plan(experiment: Experiment) -> RulePlan | None:
    """The experiment's rules and SLOs with the mapping they read through; None when it names no rule file."""
    if not experiment.prometheus_rules and not experiment.slo_specs:
        return None
    groups, slos = groups_of(experiment)
    mapping = resolve(experiment.metrics, experiment.topology)
    reads = tuple(dict.fromkeys(s for g in groups for r in g.rules for s in selectors(r.expr)))
    spec_slos = tuple(SpecSlo(slo, slo_scope(slo, experiment, mapping)) for slo in slos)
    warmup = math.ceil(experiment.warmup - 1e-9)
    reach = reaches(groups)
    notes = unread_notes(groups, mapping)
    if warmup == 0 and any(r > 0 for _, r in reach) and experiment.metrics.history != 0:
        notes += ("the rules read back in time, and without a warm-up there is no steady state to make a history "
                  "from: they see only the run, as on a Prometheus started with it",)
    return RulePlan(groups, spec_slos, mapping, experiment.evaluation_interval, reads, reach,
                    experiment.metrics.history, warmup, lead_time(groups, experiment.evaluation_interval), notes,
                    alert_scopes(groups, mapping))


def lead_time(groups: tuple[RuleGroup, ...], default_interval: float) -> float:
    """How long before the run the rules must run, in a history, for every alert's state at its start.

    An alert's state depends on the last ``for`` (and ``keep_firing_for``) of evaluations, and
    on the recorded series it reads, which exist as far back as the rules ran: so the longest
    ``for`` plus the furthest an alert reads back into recorded series (through the recording
    rules it depends on), plus one evaluation interval. Recordings no alert depends on (Sloth's
    30-day ones) do not count.
    """
    recording = {r.record: r for g in groups for r in g.rules if isinstance(r, RecordingRule)}
    alerts = [r for g in groups for r in g.alerting_rules]
    hold = max((max(r.for_, r.keep_firing_for) for r in alerts), default=0.0)
    furthest: dict[str, float] = {}  # recorded name -> how far back an alert reads it, through recordings
    pending = [(r.expr, 0.0) for r in alerts]
    while pending:
        expr, before = pending.pop()
        for sel, reach in reaches_in(expr):
            name = sel.name or ""
            if name in recording and before + reach > furthest.get(name, -1.0):
                furthest[name] = before + reach
                pending.append((recording[name].expr, before + reach))
    back = max(furthest.values(), default=0.0)
    interval = max((g.interval or default_interval for g in groups), default=default_interval)
    return hold + back + interval if alerts else 0.0


def reaches(groups: tuple[RuleGroup, ...]) -> tuple[tuple[VectorSelector, float], ...]:
    """Each selector with how far back it reads: its range plus offset (an instant selector, its offset)."""
    out: dict[VectorSelector, float] = {}
    for group in groups:
        for rule in group.rules:
            for sel, back in reaches_in(rule.expr):
                out[sel] = max(out.get(sel, 0.0), back)
    return tuple(out.items())


def reaches_in(expr: Expr) -> list[tuple[VectorSelector, float]]:
    """The selectors of one expression, each with how far back it reads, in seconds."""
    if isinstance(expr, MatrixSelector):
        return [(expr.selector, (expr.range + max(expr.selector.offset, 0)) / 1000)]
    if isinstance(expr, VectorSelector):
        return [(expr, max(expr.offset, 0) / 1000)]
    return [found for child in children(expr) for found in reaches_in(child)]


# --------------------------------------------------------------------------- which scope a query measures


def exposed_labels(mapping: MetricMapping) -> list[tuple[Scope, Labels]]:
    """Every series name and label set the mapping exposes (buckets without their le), with its scope."""
    out = []
    for item in mapping.exposed:
        for name in sample_names(item, (), mapping.convention.format_le):
            out.append((item.scope, tuple(p for p in name.labels if p[0] != "le")))
    return out


def selected_scopes(queries: list[str], mapping: MetricMapping) -> list[Scope]:
    """The scopes whose series the queries' selectors select, in the topology's order."""
    return scopes_read([s for q in queries for s in selectors(parse(q))], mapping)


def scopes_read(sels: list[VectorSelector], mapping: MetricMapping) -> list[Scope]:
    return _Exposure(mapping).read(sels)


class _Exposure:
    """The mapping's series by metric name, to find which scopes selectors read without trying every series."""

    def __init__(self, mapping: MetricMapping) -> None:
        self.by_name: dict[str, list[tuple[Scope, Labels]]] = {}
        for scope, labels in exposed_labels(mapping):
            self.by_name.setdefault(get(labels, NAME), []).append((scope, labels))
        self.order = [s.scope for s in mapping.scopes]
        self._scopes: dict[VectorSelector, frozenset[Scope]] = {}

    def scopes(self, sel: VectorSelector) -> frozenset[Scope]:
        found = self._scopes.get(sel)
        if found is None:
            groups = [self.by_name.get(sel.name, [])] if sel.name is not None else list(self.by_name.values())
            found = frozenset(scope for group in groups for scope, labels in group if _matches(sel, labels, True))
            self._scopes[sel] = found
        return found

    def read(self, sels: list[VectorSelector]) -> list[Scope]:
        """The scopes whose series any of ``sels`` selects, in the topology's order."""
        found = frozenset().union(*(self.scopes(s) for s in sels))
        return [s for s in self.order if s in found]


def alert_scopes(groups: tuple[RuleGroup, ...], mapping: MetricMapping) -> dict[tuple[str, str], Scope]:
    """Per (group, alert), the one scope whose series its rules read (through recordings), where there is one.

    An alert whose labels name no service (``sum(...) > x`` keeps none) is still about the one
    service its expression reads.
    """
    recording = {r.record: r for g in groups for r in g.rules if isinstance(r, RecordingRule)}

    def raw(expr: Expr, depth: int = 0) -> list[VectorSelector]:
        out = []
        for sel in selectors(expr):
            rec = recording.get(sel.name or "")
            out += raw(rec.expr, depth + 1) if rec is not None and depth < 16 else [sel]
        return out

    exposure = _Exposure(mapping)
    found: dict[tuple[str, str], set[Scope | None]] = {}
    for group in groups:
        for rule in group.alerting_rules:
            scopes = exposure.read(raw(rule.expr))
            found.setdefault((group.name, rule.name), set()).add(scopes[0] if len(scopes) == 1 else None)
    return {key: next(iter(s)) for key, s in found.items() if len(s) == 1 and None not in s}  # type: ignore[misc]


def slo_scope(slo: SLO, experiment: Experiment, mapping: MetricMapping) -> Scope:
    """The service or entrypoint an SLO measures: the one its spec names, else the one its queries select.

    A spec's ``service`` that is a service (or entrypoint) of the topology decides. Otherwise
    the queries must select the series of exactly one scope, or of several among which one
    entrypoint (an SLO on what users see). Anything else is refused: the simulation would
    judge an SLO it cannot tie to anything it measures.
    """
    topo = experiment.topology
    if slo.service in topo.service_map:
        return Scope.service(slo.service)
    if slo.service in topo.entrypoint_map:
        return Scope.entrypoint(slo.service)
    queries = [fill_window(q, "5m") for q in (slo.error_query, slo.total_query, slo.error_ratio_query)
               if q is not None]
    scopes = selected_scopes(queries, mapping)
    entries = [s for s in scopes if s.kind is ScopeKind.ENTRYPOINT]
    if len(scopes) == 1:
        return scopes[0]
    if len(entries) == 1:
        return entries[0]
    preset = experiment.metrics.preset.value
    what = ("no series of this experiment" if not scopes else
            f"the series of {len(scopes)} scopes ({', '.join(str(s) for s in scopes[:6])})")
    raise InputError(f"SLO '{slo.id}': its service '{slo.service}' is neither a service nor an entrypoint of "
                     f"topology '{topo.name}', and its queries select {what}", slo.location,
                     hint=f"the series are named by the experiment's metrics: (preset {preset}); set the labels its "
                          "queries select on one service or entrypoint there, e.g. metrics: {services: {cart: "
                          "{service: cart}}}")


def unread_notes(groups: tuple[RuleGroup, ...], mapping: MetricMapping) -> tuple[str, ...]:
    """A note per rule whose metric names the mapping does not expose and no rule records: it sees no data."""
    exposed = {get(labels, NAME) for _, labels in exposed_labels(mapping)}
    recorded = {r.record for g in groups for r in g.rules if isinstance(r, RecordingRule)}
    notes = []
    for group in groups:
        for rule in group.rules:
            names = {s.name for s in selectors(rule.expr) if s.name is not None}
            missing = sorted(names - exposed - recorded - set(_BUILT_IN))
            if missing:
                notes.append(f"{rule.location}: rule '{rule.name}' reads {', '.join(missing)}, which the metric "
                             f"mapping (preset {mapping.convention.preset.value}) does not expose: it sees no data "
                             "in this experiment")
    return tuple(notes)


# --------------------------------------------------------------------------- evaluation on a run


@dataclass
class _Schedule:
    group: int
    every: int   # milliseconds
    next: int = 0


class RuleAlerts:
    """One run's evaluation of a plan: call :meth:`advance` as seconds complete, or :func:`evaluate`."""

    def __init__(self, rule_plan: RulePlan, bounds: tuple[float, ...]) -> None:
        self.plan = rule_plan
        self.store = Store()
        # Rules run in the history too, from far enough before the run for their state at its start,
        # and the history is scraped there as often as the run (with a minute more for their windows).
        dense = min(math.ceil(rule_plan.lead) + DENSE_MARGIN, DENSE_LIMIT)
        self.scraper = Scraper(rule_plan.mapping, bounds, rule_plan.wanted, rule_plan.history_of, rule_plan.warmup,
                               dense)
        self.engine = RulesEngine(rule_plan.groups, self.store)
        history = max((st.history for st in self.scraper.states), default=0)
        self.start = -to_ms(min(history, dense))  # ms
        self.schedule = []
        for i, group in enumerate(rule_plan.groups):
            every = to_ms(group.interval or rule_plan.interval)
            first = -((-self.start) // every) * every  # its first instant at or after the start, on its grid from 0
            self.schedule.append(_Schedule(i, every, first))

    def advance(self, series: Mapping[Scope, Series], complete: int) -> list[Firing]:
        """Scrape and evaluate up to ``complete`` seconds; the alert instances that turned firing meanwhile."""
        self.scraper.scrape(series, complete, self.store)
        if not self.scraper.flowing:
            return []  # a history waits for the warm-up: evaluations wait for it (they see the same samples later)
        limit = complete * 1000
        while True:
            due = [s for s in self.schedule if s.next <= limit]
            if not due:
                break
            first = min(due, key=lambda s: (s.next, s.group))  # groups at one instant run in file order
            self.engine.evaluate_at(first.group, first.next)
            first.next += first.every
        return [self._firing(f.group, f.alert, f.labels, f.at, None, f.value) for f in self.engine.take_fired()]

    def firings(self) -> list[Firing]:
        """Every firing so far, with its resolution if it resolved, in order of time."""
        out = []
        for timeline in self.engine.alert_timelines():
            for ep in timeline.firings:
                assert ep.fired_at is not None
                out.append(self._firing(timeline.group, timeline.alert, timeline.labels, ep.fired_at, ep.resolved_at,
                                        ep.value))
        return sorted(out, key=lambda f: (f.fired_at_s, f.name))

    def _firing(self, group: str, alert: str, labels: Labels, at: float, resolved: float | None,
                value: float | None) -> Firing:
        own = tuple(p for p in labels if p[0] != "alertname")
        finite = value if value is not None and math.isfinite(value) else None
        scope = self.plan.mapping.scope_of(own) or self.plan.alert_scopes.get((group, alert))
        return Firing(alert, scope, at, resolved, finite, METRIC, own)

    @property
    def errors(self) -> list[str]:
        return [f"{e.location}: rule '{e.rule}' failed at {e.at:g} s: {e.message}" for e in self.engine.errors]

    # ------------------------------------------------------------------ SLO specs

    def judge_slos(self, run: Run) -> list[ObjectiveResult]:
        """Each SLO spec judged on the run: its error ratio over the measured part, and its breach seconds."""
        evaluator = Evaluator(self.store)
        return [self._judge(spec, run, evaluator) for spec in self.plan.slos]

    def _judge(self, spec: SpecSlo, run: Run, evaluator: Evaluator) -> ObjectiveResult:
        slo, budget = spec.slo, spec.slo.error_budget
        start, end = run.first_measured, run.seconds
        measured = end - start
        observed = _number(evaluator, slo.error_ratio(measured), end) if measured > 0 else None
        bad = total = 0
        if slo.error_query is not None and slo.total_query is not None and measured > 0:
            window = format_duration(measured)
            bad = _count(evaluator, fill_window(slo.error_query, window), end, measured)
            total = _count(evaluator, fill_window(slo.total_query, window), end, measured)
        breach_query = parse(slo.error_ratio(SLO_BREACH_WINDOW))
        breaches = []
        for second in range(start, end):
            ratio = _value(evaluator, breach_query, second + 1)
            if ratio is not None and ratio > budget + 1e-12:
                breaches.append(second)
        met = observed is None or observed <= budget + 1e-12
        return ObjectiveResult(spec.objective, observed, bad, total, met, breaches)


def _value(evaluator: Evaluator, expr: Expr, t: int) -> float | None:
    """A query's single value at ``t`` seconds: None when it returns nothing, NaN, or several series."""
    try:
        value = evaluator.evaluate_ms(expr, t * 1000)
    except QueryError:
        return None
    if isinstance(value, list):
        if len(value) != 1:
            return None
        value = value[0].value
    return value if math.isfinite(value) else None


def _number(evaluator: Evaluator, text: str, t: int) -> float | None:
    return _value(evaluator, parse(text), t)


def _count(evaluator: Evaluator, text: str, t: int, window: int) -> int:
    """Events counted by a per-second rate query over ``window`` seconds ending at ``t``."""
    rate = _number(evaluator, text, t)
    return 0 if rate is None else int(round(rate * window))


@dataclass
class RuleOutcome:
    """What the rule files made of one run."""

    firings: list[Firing] = field(default_factory=list)
    objectives: list[ObjectiveResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def evaluate(run: Run, rule_plan: RulePlan | None = None) -> RuleOutcome:
    """Every firing of the experiment's rule files over a finished run, and its SLO specs judged."""
    rule_plan = rule_plan if rule_plan is not None else plan(run.experiment)
    if rule_plan is None:
        return RuleOutcome()
    alerts = RuleAlerts(rule_plan, run.bounds)
    alerts.advance(run.series, run.seconds)
    return RuleOutcome(alerts.firings(), alerts.judge_slos(run), [*rule_plan.notes, *alerts.errors])


def rule_alerts(experiment: Experiment, bounds: tuple[float, ...]) -> RuleAlerts | None:
    """The experiment's rule files, to evaluate as a run goes (a responder's trigger); None: it names none."""
    rule_plan = plan(experiment)
    return None if rule_plan is None else RuleAlerts(rule_plan, bounds)


def check(experiment: Experiment) -> float:
    """Refuse at load time what the rule files cannot mean in this experiment (an SLO tied to nothing).

    Returns what evaluating them over a run costs (:func:`rule_samples`), for the run's size.
    """
    return rule_samples(experiment, plan(experiment))


# --------------------------------------------------------------------------- how much work a run's rules are

RULE_COST = 100
"""What evaluating one rule costs before it reads anything, in samples read (about 6 us)."""
SERIES_COST = 200
"""What reading one series at one evaluation costs besides its samples, in samples read (3 to 16 us: a
lookup, a slice, a function, a label set built and aggregated)."""
SCAN_COST = 2
"""What looking at one stored series costs a selector that does not select it, in samples read."""
HISTORY_POINTS = FINE_HISTORY // HISTORY_STEP + COARSE_POINTS
"""Samples a history adds to a series before its densely scraped part, at most."""


def rule_samples(experiment: Experiment, rule_plan: RulePlan | None = None) -> float:
    """What evaluating the experiment's rule files over one run costs, in samples read and stored.

    Every evaluation of every rule counts :data:`RULE_COST`; each of its selectors counts
    :data:`SCAN_COST` for every stored series of its metric name (they are all looked at) and,
    for every series it selects, :data:`SERIES_COST` plus the samples its range holds (1 for an
    instant selector). Each SLO spec is judged second by second over the measured part of the
    run the same way, and every sample the scrapes and rules store counts once. Recorded series
    are counted as many as the series their rule reads (an aggregation or a match never makes
    more), alert instances as many as their rule reads. An upper bound: time grows with it, at
    most about 0.07 us a counted sample on this project's machine (``benchmarks/rule_files.py
    --shapes``), and memory with the stored part. 0 for an experiment without rule files.
    """
    rule_plan = plan(experiment) if rule_plan is None else rule_plan
    if rule_plan is None:
        return 0.0
    seconds = float(math.ceil(experiment.duration))
    dense = min(math.ceil(rule_plan.lead) + DENSE_MARGIN, DENSE_LIMIT)  # rules run this long before the run
    scrape = float(rule_plan.mapping.scrape_interval)
    held = (seconds + dense) / scrape + HISTORY_POINTS  # samples one series holds at most
    slo_queries = [parse(spec.slo.error_ratio(SLO_BREACH_WINDOW)) for spec in rule_plan.slos]
    counter = _SeriesCounter(rule_plan, experiment,
                             [r.expr for g in rule_plan.groups for r in g.rules] + slo_queries)
    total = 0.0
    for group in rule_plan.groups:
        evaluations = math.floor((seconds + dense) / (group.interval or rule_plan.interval)) + 1
        total += evaluations * sum(RULE_COST + counter.read(r.expr, held, scrape) for r in group.rules)
    measured = max(0.0, seconds - math.floor(experiment.warmup))
    total += measured * sum(RULE_COST + counter.read(query, held, scrape) for query in slo_queries)
    return total + counter.stored_total * held


class _SeriesCounter:
    """How many series a selector selects, and looks at, among those the mapping exposes and the rules record."""

    def __init__(self, rule_plan: RulePlan, experiment: Experiment, exprs: list[Expr]) -> None:
        from chaos.run import experiment_bounds
        le = rule_plan.mapping.le_bounds(experiment_bounds(experiment))
        # per metric name, the label sets without le, each with its le values ("" where there is none):
        # a histogram's buckets differ by le alone, so the other matchers are tried once for them all
        self.by_name: dict[str, dict[Labels, list[str]]] = {}
        for item in rule_plan.mapping.exposed:
            for sample in sample_names(item, le, rule_plan.mapping.convention.format_le):
                base = tuple(p for p in sample.labels if p[0] != "le")
                self.by_name.setdefault(get(base, NAME), {}).setdefault(base, []).append(get(sample.labels, "le"))
        self.recording: dict[str, list[RecordingRule]] = {}
        for group in rule_plan.groups:
            for rule in group.rules:
                if isinstance(rule, RecordingRule):
                    self.recording.setdefault(rule.record, []).append(rule)
        self.alerting = [r for g in rule_plan.groups for r in g.alerting_rules]
        self._wanted: set[tuple[Labels, str]] = set()
        self._selected: dict[VectorSelector, int] = {}
        self._recorded: dict[str, int] = {}
        self._open: set[str] = set()
        for expr in exprs:  # first every selector once: the store holds what any of them selects
            for sel in selectors(expr):
                self.count(sel)
        self.stored: dict[str | None, int] = {}
        for base, _ in self._wanted:
            self.stored[get(base, NAME)] = self.stored.get(get(base, NAME), 0) + 1
        for record in self.recording:
            self.stored[record] = self.stored.get(record, 0) + self.recorded(record)
        instances = sum(self.inputs(r.expr) for r in self.alerting)
        for built_in in _BUILT_IN:
            self.stored[built_in] = instances
        self.stored_total = sum(self.stored.values())

    def read(self, expr: Expr, held: float, scrape: float) -> float:
        """What one evaluation of ``expr`` reads: the series it looks at, and per selected one the samples in range."""
        total = 0.0
        for sel, span in _reads(expr):
            samples = 1.0 if span is None else min(span / scrape, held) + 1
            looked = self.stored.get(sel.name, 0) if sel.name is not None else self.stored_total
            total += looked * SCAN_COST + self.count(sel) * (SERIES_COST + samples)
        return total

    def count(self, sel: VectorSelector) -> int:
        found = self._selected.get(sel)
        if found is None:
            found = self._count(sel)
            self._selected[sel] = found
        return found

    def _count(self, sel: VectorSelector) -> int:
        name = sel.name
        if name in _BUILT_IN:  # one series per alert instance: at most what the alerting rules read
            return sum(self.inputs(r.expr) for r in self.alerting)
        if name is not None and name in self.recording:
            return self.recorded(name)
        groups = [self.by_name.get(name, {})] if name is not None else list(self.by_name.values())
        on_le = [m for m in sel.matchers if m.name == "le"]
        found = 0
        for group in groups:
            for base, les in group.items():
                if not _matches(sel, base, ignore_le=True):
                    continue
                matched = [v for v in les if all(m.matches(v) for m in on_le)]
                self._wanted.update((base, v) for v in matched)
                found += len(matched)
        return found

    def inputs(self, expr: Expr) -> int:
        """Series an expression's result may hold: no more than its selectors select (1 without any)."""
        return max(1, sum(self.count(sel) for sel in selectors(expr)))

    def recorded(self, record: str) -> int:
        known = self._recorded.get(record)
        if known is not None:
            return known
        if record in self._open:
            return 1  # a rule that reads its own (or a later) recording reads what it wrote at the evaluation before
        self._open.add(record)
        found = sum(self.inputs(r.expr) for r in self.recording[record])
        self._open.discard(record)
        self._recorded[record] = found
        return found


def _reads(expr: Expr) -> list[tuple[VectorSelector, float | None]]:
    """The selectors of an expression, each with its range in seconds (None: an instant selector)."""
    if isinstance(expr, MatrixSelector):
        return [(expr.selector, expr.range / 1000)]
    if isinstance(expr, VectorSelector):
        return [(expr, None)]
    return [found for child in children(expr) for found in _reads(child)]


"""Rule groups evaluated over a time range, as Prometheus's rules manager evaluates them.

Each group is evaluated every ``interval`` from ``start``; its rules run in order at each
evaluation, so a recording rule's output is visible to the rules after it at the same
instant. Groups run in order at equal instants. What was learned from Prometheus 2.42's
``rules/alerting.go`` and ``rules/manager.go``:

* **Alert state machine.** Each sample the expression returns is an alert instance,
  identified by its labels (the sample's, without ``__name__``, plus the rule's labels and
  ``alertname``). A new instance is *pending* from that evaluation (its ``active_at``). At
  an evaluation where it has been active for at least ``for``, it turns *firing*. When the
  expression stops returning it, a pending instance is dropped and a firing one
  *resolves* at that evaluation, unless ``keep_firing_for`` is set: then it stays firing
  until an evaluation at least ``keep_firing_for`` after the first one that missed it (a
  return resets that clock). A resolved instance that comes back starts over as pending.
* **Recording rules** write their samples under the ``record`` name with the rule's labels;
  a series the rule returned at the previous evaluation but not at this one gets a
  staleness marker, so it disappears at once instead of 5 minutes later.
* **ALERTS** and **ALERTS_FOR_STATE** series are written for pending and firing instances.
* A query that fails (many-to-many matching, duplicate label sets) leaves the rule's
  state as it was at that evaluation; the failure is reported in :attr:`RuleResults.errors`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from chaos.errors import UNKNOWN, Location, QueryError
from chaos.promql import templates
from chaos.promql.engine import LOOKBACK_MS, Evaluator, Sample
from chaos.promql.series import NAME, STALE, Labels, Series, Store, to_ms, with_label
from chaos.promql.syntax import Expr

ALERT_NAME = "alertname"
DEFAULT_INTERVAL = 60.0
"""Prometheus's default ``global.evaluation_interval``: a group without ``interval`` uses it."""

_RESOLVED_RETENTION_MS = 15 * 60 * 1000


class AlertState(enum.Enum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


@dataclass(frozen=True)
class AlertingRule:
    """``alert:`` a condition that fires after holding ``for`` a while."""

    name: str
    expr: Expr
    query: str
    for_: float = 0.0
    keep_firing_for: float = 0.0
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    location: Location = UNKNOWN


@dataclass(frozen=True)
class RecordingRule:
    """``record:`` a new series computed from the expression at each evaluation."""

    record: str
    expr: Expr
    query: str
    labels: tuple[tuple[str, str], ...] = ()
    location: Location = UNKNOWN

    @property
    def name(self) -> str:
        return self.record


Rule = AlertingRule | RecordingRule


@dataclass(frozen=True)
class RuleGroup:
    """A named list of rules evaluated together every ``interval`` seconds (None: the default)."""

    name: str
    rules: tuple[Rule, ...]
    interval: float | None = None
    location: Location = UNKNOWN

    @property
    def alerting_rules(self) -> tuple[AlertingRule, ...]:
        return tuple(r for r in self.rules if isinstance(r, AlertingRule))


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class AlertEpisode:
    """One activation of one alert instance, in seconds.

    ``fired_at`` is None if it never fired (it was pending, then dropped at ``resolved_at``);
    ``resolved_at`` is None if it was still pending or firing at the end of the range.
    """

    active_at: float
    fired_at: float | None
    resolved_at: float | None
    value: float | None = field(default=None, compare=False)  # the expression's value when it fired

    def firing_at(self, t: float) -> bool:
        return self.fired_at is not None and self.fired_at <= t and (self.resolved_at is None or t < self.resolved_at)


@dataclass(frozen=True)
class AlertTimeline:
    """Everything one alert instance (one rule, one label set) did over the range."""

    group: str
    alert: str
    labels: Labels
    annotations: tuple[tuple[str, str], ...]
    episodes: tuple[AlertEpisode, ...]

    @property
    def firings(self) -> tuple[AlertEpisode, ...]:
        return tuple(e for e in self.episodes if e.fired_at is not None)

    def firing_at(self, t: float) -> bool:
        return any(e.firing_at(t) for e in self.episodes)


@dataclass(frozen=True)
class FiredAlert:
    """An alert instance turned firing at one evaluation (what an incremental consumer acts on)."""

    group: str
    alert: str
    labels: Labels
    at: float
    value: float


@dataclass(frozen=True)
class RuleError:
    """A rule's query failed at one evaluation (Prometheus logs it and keeps the rule's state)."""

    at: float
    group: str
    rule: str
    message: str
    location: Location = UNKNOWN


@dataclass(frozen=True)
class RuleResults:
    start: float
    end: float
    evaluations: tuple[tuple[str, tuple[float, ...]], ...]  # per group: its evaluation times
    alerts: tuple[AlertTimeline, ...]
    errors: tuple[RuleError, ...]
    recorded: tuple[Series, ...]  # what recording rules (and ALERTS) wrote

    def firing_at(self, t: float, alert: str | None = None) -> list[AlertTimeline]:
        return [a for a in self.alerts if (alert is None or a.alert == alert) and a.firing_at(t)]

    def first_firing(self, alert: str | None = None) -> float | None:
        times = [e.fired_at for a in self.alerts if alert is None or a.alert == alert
                 for e in a.firings if e.fired_at is not None]
        return min(times) if times else None


# --------------------------------------------------------------------------- the state machine


@dataclass
class _Instance:
    labels: Labels
    annotations: tuple[tuple[str, str], ...]
    value: float
    active_at: int
    state: AlertState = AlertState.PENDING
    fired_at: int | None = None
    resolved_at: int | None = None
    keep_firing_since: int | None = None
    episode: int = 0  # index of this activation in the timeline's episodes


@dataclass
class _Timeline:
    group: str
    alert: str
    labels: Labels
    annotations: tuple[tuple[str, str], ...] = ()
    episodes: list[list[int | None]] = field(default_factory=list)  # [active_at, fired_at, resolved_at]
    fired_values: dict[int, float] = field(default_factory=dict)  # episode index -> value when it fired


class _AlertEval:
    """One alerting rule's live state: its active instances, keyed by label set."""

    def __init__(self, group: str, rule: AlertingRule) -> None:
        self.group = group
        self.rule = rule
        self.hold = to_ms(rule.for_)
        self.keep_for = to_ms(rule.keep_firing_for)
        self.active: dict[Labels, _Instance] = {}
        self.timelines: dict[Labels, _Timeline] = {}
        self.fired: list[FiredAlert] = []  # firings since the engine last handed them out

    def instances(self, vector: list[Sample], ts: int) -> dict[Labels, _Instance]:
        found: dict[Labels, _Instance] = {}
        for sample in vector:
            labels = tuple(p for p in sample.labels if p[0] != NAME)
            for name, value in self.rule.labels:
                labels = with_label(labels, name, templates.expand(value, sample.labels, sample.value))
            labels = with_label(labels, ALERT_NAME, self.rule.name)
            if labels in found:
                raise QueryError("vector contains metrics with the same labelset after applying alert labels")
            annotations = tuple((k, templates.expand(v, sample.labels, sample.value)) for k, v in self.rule.annotations)
            found[labels] = _Instance(labels, annotations, sample.value, ts)
        return found

    def step(self, vector: list[Sample], ts: int) -> list[Sample]:
        """One evaluation at ``ts``: update every instance; return the ALERTS samples to write."""
        found = self.instances(vector, ts)
        for labels, new in found.items():
            current = self.active.get(labels)
            if current is not None and current.state is not AlertState.INACTIVE:
                current.value, current.annotations = new.value, new.annotations
                continue
            self.active[labels] = new
            self._begin(new)
        out: list[Sample] = []
        for labels, inst in list(self.active.items()):
            if labels not in found:
                keep = False
                if inst.state is AlertState.FIRING and self.keep_for > 0:
                    if inst.keep_firing_since is None:
                        inst.keep_firing_since = ts
                    keep = ts - inst.keep_firing_since < self.keep_for
                if inst.state is AlertState.PENDING or (
                        inst.resolved_at is not None and ts - inst.resolved_at > _RESOLVED_RETENTION_MS):
                    del self.active[labels]
                if inst.state is not AlertState.INACTIVE and not keep:
                    inst.state = AlertState.INACTIVE
                    inst.resolved_at = ts
                    self._episode(inst)[2] = ts
                if not keep:
                    continue
            else:
                inst.keep_firing_since = None
            if inst.state is AlertState.PENDING and ts - inst.active_at >= self.hold:
                inst.state = AlertState.FIRING
                inst.fired_at = ts
                self._episode(inst)[1] = ts
                self.timelines[labels].fired_values[inst.episode] = inst.value
                self.fired.append(FiredAlert(self.group, self.rule.name, labels, ts / 1000, inst.value))
            out.append(Sample(with_label(with_label(labels, NAME, "ALERTS"), "alertstate", inst.state.value), 1.0))
            out.append(Sample(with_label(labels, NAME, "ALERTS_FOR_STATE"), inst.active_at / 1000))
        return out

    def _begin(self, inst: _Instance) -> None:
        timeline = self.timelines.get(inst.labels)
        if timeline is None:
            timeline = self.timelines[inst.labels] = _Timeline(self.group, self.rule.name, inst.labels)
        timeline.annotations = inst.annotations
        timeline.episodes.append([inst.active_at, None, None])
        inst.episode = len(timeline.episodes) - 1

    def _episode(self, inst: _Instance) -> list[int | None]:
        timeline = self.timelines[inst.labels]
        timeline.annotations = inst.annotations
        return timeline.episodes[inst.episode]

    def results(self) -> list[AlertTimeline]:
        for inst in self.active.values():
            if inst.state is not AlertState.INACTIVE:
                self.timelines[inst.labels].annotations = inst.annotations
        return [AlertTimeline(t.group, t.alert, t.labels, t.annotations,
                              tuple(_episode(e, t.fired_values.get(i)) for i, e in enumerate(t.episodes)))
                for t in self.timelines.values()]


def _episode(times: list[int | None], value: float | None) -> AlertEpisode:
    active_at, fired_at, resolved_at = times
    assert active_at is not None
    return AlertEpisode(active_at / 1000, None if fired_at is None else fired_at / 1000,
                        None if resolved_at is None else resolved_at / 1000, value)


# --------------------------------------------------------------------------- evaluation


def _as_vector(value: float | list[Sample]) -> list[Sample]:
    return [Sample((), value)] if isinstance(value, float) else value


def _recorded(rule: RecordingRule, vector: list[Sample]) -> list[Sample]:
    out = []
    for sample in vector:
        labels = with_label(sample.labels, NAME, rule.record)
        for name, value in rule.labels:
            labels = with_label(labels, name, value)
        out.append(Sample(labels, sample.value))
    if len({s.labels for s in out}) != len(out):
        raise QueryError("vector contains metrics with the same labelset after applying rule labels")
    return out


class RulesEngine:
    """Evaluates rule groups over one store; call :meth:`evaluate_at` in time order, or use :func:`evaluate_rules`."""

    def __init__(self, groups: Sequence[RuleGroup], store: Store, lookback_ms: int = LOOKBACK_MS) -> None:
        self.groups = list(groups)
        self.store = store
        self.evaluator = Evaluator(store, lookback_ms)
        self._alerts: dict[tuple[int, int], _AlertEval] = {}
        self._returned: dict[tuple[int, int], set[Labels]] = {}
        self._recorded_names: set[Labels] = set()
        self.errors: list[RuleError] = []
        for gi, group in enumerate(self.groups):
            for ri, rule in enumerate(group.rules):
                if isinstance(rule, AlertingRule):
                    self._alerts[(gi, ri)] = _AlertEval(group.name, rule)

    def evaluate_at(self, group_index: int, ts: int) -> None:
        """Evaluate every rule of one group at ``ts`` (milliseconds), in order."""
        group = self.groups[group_index]
        for ri, rule in enumerate(group.rules):
            key = (group_index, ri)
            try:
                value = self.evaluator.evaluate_ms(rule.expr, ts)
                vector = _as_vector(value)
                if isinstance(rule, AlertingRule):
                    written = self._alerts[key].step(vector, ts)
                else:
                    written = _recorded(rule, vector)
            except QueryError as exc:
                self.errors.append(RuleError(ts / 1000, group.name, rule.name, exc.message, rule.location))
                continue
            self._write(key, written, ts)

    def _write(self, key: tuple[int, int], samples: list[Sample], ts: int) -> None:
        now = {s.labels for s in samples}
        for s in samples:
            self.store.append(s.labels, ts, s.value)
            self._recorded_names.add(s.labels)
        for gone in self._returned.get(key, set()) - now:
            self.store.append(gone, ts, STALE)
        self._returned[key] = now

    def take_fired(self) -> list[FiredAlert]:
        """Alert instances that turned firing since the last call, in evaluation order."""
        out: list[FiredAlert] = []
        for alert in self._alerts.values():
            out.extend(alert.fired)
            alert.fired.clear()
        return sorted(out, key=lambda f: f.at)

    def alert_timelines(self) -> tuple[AlertTimeline, ...]:
        out: list[AlertTimeline] = []
        for alert in self._alerts.values():
            out.extend(alert.results())
        return tuple(sorted(out, key=lambda a: (a.alert, a.labels)))

    def recorded_series(self) -> tuple[Series, ...]:
        out = []
        for labels in sorted(self._recorded_names):
            stored = self.store.series(labels)
            assert stored is not None
            out.append(Series(labels, tuple(t / 1000 for t in stored.times), tuple(stored.values)))
        return tuple(out)


def evaluation_times(start: float, end: float, interval: float) -> list[int]:
    """Milliseconds ``start, start + interval, ...`` up to and including ``end``."""
    first, last, step = to_ms(start), to_ms(end), to_ms(interval)
    if step <= 0:
        raise ValueError("an evaluation interval must be positive")
    return list(range(first, last + 1, step))


def evaluate_rules(groups: Sequence[RuleGroup], series: Iterable[Series], start: float, end: float,
                   default_interval: float = DEFAULT_INTERVAL, lookback: float = LOOKBACK_MS / 1000) -> RuleResults:
    """Evaluate ``groups`` over ``series`` at each group's interval from ``start`` to ``end`` (seconds).

    Every group's first evaluation is at ``start``. Evaluations of different groups at the
    same instant happen in the order the groups are given.
    """
    store = Store(series)
    engine = RulesEngine(groups, store, to_ms(lookback))
    schedule: list[tuple[int, int]] = []
    per_group: list[tuple[str, tuple[float, ...]]] = []
    for gi, group in enumerate(groups):
        times = evaluation_times(start, end, group.interval or default_interval)
        schedule.extend((t, gi) for t in times)
        per_group.append((group.name, tuple(t / 1000 for t in times)))
    for ts, gi in sorted(schedule):
        engine.evaluate_at(gi, ts)
    return RuleResults(start, end, tuple(per_group), engine.alert_timelines(), tuple(engine.errors),
                       engine.recorded_series())

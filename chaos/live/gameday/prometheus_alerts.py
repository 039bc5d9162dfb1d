"""The experiment's alert rules as the stack's own Prometheus evaluates them: checked loaded, read back.

On a stack measured through a team's Prometheus (``live: prometheus:``), the rule files the
experiment names are the team's own and are loaded in that Prometheus. Evaluating them again here
would answer a question nobody asked: what matters is when *that* Prometheus fired. So:

* before any fault, :func:`check_loaded` asks ``GET /api/v1/rules?type=alert`` and refuses to start
  unless every alerting rule of the experiment's rule files (and the rules its SLO specs generate)
  is loaded there under its name with the same expression and ``for`` (expressions compared parsed,
  so Prometheus's own printing of them does not matter);
* after the run, :func:`read_firing` reads the raw samples of ``ALERTS{alertstate="firing"}`` of
  those alerts over the run, with a range selector (``ALERTS{...}[Ns]`` at the run's end).

Why raw samples. Prometheus writes one ALERTS sample per evaluation while an alert is firing,
timestamped with that evaluation, and a stale marker at the evaluation that resolves it. The raw
samples therefore give the evaluation that fired it exactly (``for`` already served: the series
has ``alertstate="pending"`` until then) and the last one it was firing at. ``query_range`` at
the evaluation interval would sample the same series at the step's own grid, off by up to one
interval; ``/api/v1/alerts`` lists only alerts active *now*, and its ``activeAt`` is when the alert
became pending, not when it fired. What the samples mean (episodes, when each resolved) is
analysis (:mod:`chaos.analysis.prometheus_alerts`); this module only reads.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from chaos.analysis.alerts import Firing
from chaos.errors import InputError, LiveError
from chaos.live.gameday.prometheus import Prometheus, PrometheusUnusable
from chaos.measurement import AlertSource
from chaos.model.alerts import FiringMetric
from chaos.model.experiment import Experiment
from chaos.run import AlertSamples, EvaluatedAlerts

LOOKBACK_S = 5 * 60.0
"""How far before the run's second 0 samples are read: an alert already firing then is seen as such."""


@dataclass(frozen=True)
class WantedAlert:
    """An alerting rule of the experiment's rule files: what must be loaded in the stack's Prometheus."""

    name: str
    query: str
    for_s: float
    file: str
    group: str
    line: int | None


@dataclass(frozen=True)
class LoadedAlert:
    """An alerting rule as ``/api/v1/rules`` lists it."""

    name: str
    query: str
    for_s: float
    file: str
    group: str
    interval_s: float


def wanted_alerts(experiment: Experiment) -> tuple[WantedAlert, ...]:
    """Every alerting rule the experiment's rule files and SLO specs define (Sloth's generated ones included)."""
    out = []
    for ref in (*experiment.prometheus_rules, *experiment.slo_specs):
        for group in ref.rules.all_groups:
            for rule in group.alerting_rules:
                out.append(WantedAlert(rule.name, rule.query, rule.for_, ref.file, group.name, rule.location.line))
    return tuple(out)


def loaded_alerts(server: Prometheus) -> tuple[LoadedAlert, ...]:
    """What ``/api/v1/rules?type=alert`` lists; PrometheusUnusable if it does not answer that."""
    data = server.get("/api/v1/rules", type="alert")
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, list):
        raise PrometheusUnusable("its /api/v1/rules answer holds no groups")
    out = []
    for group in groups:
        if not isinstance(group, dict):
            continue
        interval = float(group.get("interval") or 0.0)
        for rule in group.get("rules") or ():
            if isinstance(rule, dict) and rule.get("type") == "alerting":
                out.append(LoadedAlert(str(rule.get("name", "")), str(rule.get("query", "")),
                                       float(rule.get("duration") or 0.0), str(group.get("file", "")),
                                       str(group.get("name", "")), interval))
    return tuple(out)


def _same_query(ours: str, theirs: str) -> bool:
    """The same expression, whatever the spacing, parentheses and order of matchers each side printed it with
    (Prometheus prints a selector's matchers sorted by label name)."""
    from chaos.promql.syntax import parse

    try:
        return _canonical(parse(ours)) == _canonical(parse(theirs))
    except InputError:  # Prometheus loaded something chaoslab cannot read: it is not the experiment's rule
        return " ".join(ours.split()) == " ".join(theirs.split())


def _canonical(node: object) -> object:
    """A parsed expression with every selector's matchers in one order, so that equal means the same query."""
    from chaos.promql.syntax import Matcher, VectorSelector

    if isinstance(node, VectorSelector):
        return dataclasses.replace(node, matchers=tuple(sorted(node.matchers, key=lambda m: (m.name, m.op.value,
                                                                                             m.value))))
    if isinstance(node, Matcher) or not dataclasses.is_dataclass(node) or isinstance(node, type):
        return node
    changes: dict[str, object] = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if isinstance(value, tuple):
            changes[f.name] = tuple(_canonical(v) for v in value)
        elif dataclasses.is_dataclass(value):
            changes[f.name] = _canonical(value)
    return dataclasses.replace(node, **changes) if changes else node


def check_loaded(server: Prometheus, experiment: Experiment) -> tuple[LoadedAlert, ...]:
    """Each of the experiment's alerting rules as loaded in ``server``; LiveError naming the first that is not.

    Loaded means: an alerting rule of the same name with the same expression and the same ``for``
    (in any group and file: teams arrange their files their own way).
    """
    try:
        loaded = loaded_alerts(server)
    except PrometheusUnusable as exc:
        raise LiveError(f"Prometheus at {server.url} does not list its rules: {exc}", hint=_HINT) from None
    found = []
    for want in wanted_alerts(experiment):
        where = f"{want.file}:{want.line}" if want.line else want.file
        named = [a for a in loaded if a.name == want.name]
        same = [a for a in named if _same_query(want.query, a.query)]
        if not named:
            raise LiveError(f"alert '{want.name}' ({where}, group '{want.group}') is not loaded in the Prometheus "
                            f"at {server.url}: it would never fire there", hint=_HINT)
        if not same:
            raise LiveError(f"alert '{want.name}' ({where}) is loaded in the Prometheus at {server.url} with another "
                            f"expression: {named[0].query} (file {named[0].file}), not {' '.join(want.query.split())}",
                            hint=_HINT)
        timed = [a for a in same if math.isclose(a.for_s, want.for_s)]
        if not timed:
            raise LiveError(f"alert '{want.name}' ({where}) is loaded in the Prometheus at {server.url} with "
                            f"for: {same[0].for_s:g}s, not {want.for_s:g}s: it would fire at other times",
                            hint=_HINT)
        found.append(timed[0])
    return tuple(found)


_HINT = ("the experiment's rule files must be the ones the stack's Prometheus evaluates: list them under rule_files: "
         "in its prometheus.yml and reload it (POST /-/reload, or SIGHUP), or make the experiment name the files "
         "Prometheus loads; see docs/live.md, 'Your own stack'")


def read_firing(server: Prometheus, loaded: Sequence[LoadedAlert], t0_unix: float, seconds: float
                ) -> EvaluatedAlerts:
    """The ALERTS{alertstate="firing"} samples of the ``loaded`` alerts from LOOKBACK_S before ``t0_unix``
    to ``seconds`` after it, in seconds of the run (negative: before second 0)."""
    intervals = {a.name: a.interval_s for a in loaded}
    names = sorted(intervals)
    end = t0_unix + seconds
    window = math.ceil(LOOKBACK_S + seconds)
    samples: list[AlertSamples] = []
    if names:
        matcher = "|".join(_regex_escape(n) for n in names)
        query = f'ALERTS{{alertstate="firing",alertname=~"{matcher}"}}[{window}s]'
        data = server.get("/api/v1/query", query=query, time=f"{end:.3f}")
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            raise PrometheusUnusable(f"the ALERTS query gives no range of samples: {data}")
        for series in data.get("result") or ():
            metric = dict(series.get("metric", {}))
            name = str(metric.get("alertname", ""))
            labels = tuple(sorted((k, str(v)) for k, v in metric.items()
                                  if k not in ("__name__", "alertname", "alertstate")))
            at = tuple(round(float(t) - t0_unix, 3) for t, _ in series.get("values", ()))
            samples.append(AlertSamples(name, labels, at, intervals.get(name, 0.0)))
    return EvaluatedAlerts(url=server.url, alerts=tuple(names), end_s=float(seconds),
                           samples=tuple(sorted(samples, key=lambda s: (s.alert, s.labels))))


def _regex_escape(name: str) -> str:
    """An alert name inside a PromQL regex (RE2) in a double-quoted string."""
    out = []
    for ch in name:
        if ch in ".+*?()|[]{}^$\\":
            out.append("\\\\" + ch)  # the regex's backslash, itself escaped in the PromQL string
        else:
            out.append(ch)
    return "".join(out)


FEED_TIMEOUT_S = 1.0
"""A responder's look at the alerts firing now must not hold the run's loop: a slower answer is skipped."""


class FiringFeed:
    """During the run, the experiment's alerts that the stack's Prometheus has firing now: a playbook's trigger.

    It takes the place of chaoslab's own evaluation of the rule files in the responder (``advance`` is
    the same call): each closed second it asks Prometheus for ``ALERTS{alertstate="firing"}`` of those
    alerts, and returns the instances it had not seen firing before, at that second. A second whose
    question gets no answer is skipped (counted in ``missed``); the firings the result reports are the
    samples read back after the run (:func:`read_firing`), not these.
    """

    def __init__(self, url: str, loaded: Sequence[LoadedAlert]) -> None:
        self.server = Prometheus(url, timeout_s=FEED_TIMEOUT_S)
        names = sorted({a.name for a in loaded})
        self.query = (f'ALERTS{{alertstate="firing",alertname=~"{"|".join(_regex_escape(n) for n in names)}"}}'
                      if names else "")
        self.seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        self.missed = 0

    def advance(self, series: object, complete: int) -> list[Firing]:
        if not self.query:
            return []
        try:
            found = self.server.instant(self.query)
        except PrometheusUnusable:
            self.missed += 1
            return []
        new = []
        for item in found:
            metric = dict(item.get("metric", {}))
            name = str(metric.get("alertname", ""))
            labels = tuple(sorted((k, str(v)) for k, v in metric.items()
                                  if k not in ("__name__", "alertname", "alertstate")))
            if (name, labels) not in self.seen:
                self.seen.add((name, labels))
                new.append(Firing(name, None, float(complete), None, None, FiringMetric.PROMQL, labels,
                                   AlertSource.PROMETHEUS))
        return new

"""SLO specs (Sloth ``prometheus/v1``, OpenSLO v1) into SLOs and the rules Sloth generates.

An :class:`SLO` is the objective, its period and its error-ratio query; :attr:`SLO.groups`
are the Prometheus rule groups Sloth would generate for it, built as the same rule objects
the evaluator runs: SLI recording rules ``slo:sli_error:ratio_rate<window>`` for every
window the alerts need (plus the period, averaged from the 5-minute one), Sloth's metadata
recordings, and two multiwindow, multi-burn-rate alerts from the Google SRE workbook,
exactly as Sloth's default windows define them for a 30-day period:

=========  =====  ===========  ============  ======================  ==================
alert      speed  long window  short window  error budget consumed   burn-rate factor
=========  =====  ===========  ============  ======================  ==================
page       quick  1h           5m            2%                      14.4
page       slow   6h           30m           5%                      6
ticket     quick  1d           2h            10%                     3
ticket     slow   3d           6h            10%                     1
=========  =====  ===========  ============  ======================  ==================

The factor is ``budget% x period / long window`` (Sloth's ``getBurnRateFactor``): for a
28-day period (Sloth's other built-in window set) the same windows give 13.44, 5.6, 2.8
and 0.9333. An alert fires when both windows of either pair exceed ``factor x (1 -
objective)``::

    (max(slo:sli_error:ratio_rate5m{...} > (14.4 * 0.001)) without (sloth_window)
     and max(slo:sli_error:ratio_rate1h{...} > (14.4 * 0.001)) without (sloth_window))
    or
    (max(slo:sli_error:ratio_rate30m{...} > (6 * 0.001)) without (sloth_window)
     and max(slo:sli_error:ratio_rate6h{...} > (6 * 0.001)) without (sloth_window))

Sloth's spec: ``service``, ``labels``, ``slos[]`` with ``name``, ``objective`` (percent),
``labels``, ``sli.events.error_query``/``total_query`` or ``sli.raw.error_ratio_query``
(with ``{{.window}}`` where the window goes) and ``alerting`` (``name``, ``labels``,
``annotations``, ``page_alert``/``ticket_alert`` with ``disable``, ``labels``,
``annotations``). Its Kubernetes form ``PrometheusServiceLevel`` has the same fields in
camelCase under ``spec``.

OpenSLO v1 ``SLO`` documents map as Sloth maps OpenSLO (one SLO per objective, named
``<name>-<index>``, ``target`` or ``targetPercent``, a ``timeWindow`` of 30d or 28d, budgeting
by ``Occurrences``), with a ``ratioMetric`` of ``bad``/``total`` (an events SLI),
``good``/``total`` (error ratio ``1 - good/total``) or ``raw`` (``rawType`` failure or
success), inline or through ``indicatorRef`` to an ``SLI`` document in the same file. A
query holds ``{{.window}}``, or with ``counter: true`` it may be a bare counter selector,
read as ``sum(rate(selector[window]))``. The generated alerts are named ``<name>-burn-rate``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from yaml.nodes import Node

from chaos.errors import UNKNOWN, InputError, Location
from chaos.model.parsing import join
from chaos.promql.documents import Fields, Source, format_duration, items, number, prometheus_duration_ms, string_map
from chaos.promql.functions import format_value
from chaos.promql.rules import AlertingRule, RecordingRule, Rule, RuleGroup
from chaos.promql.syntax import VectorSelector, parse

WINDOW_TEMPLATE = re.compile(r"{{\s*\.window\s*}}")
_OTHER_TEMPLATE = re.compile(r"{{.*?}}")
NAME_RE = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]")
DAY = 86_400.0


class Severity(enum.Enum):
    PAGE = "page"
    TICKET = "ticket"


@dataclass(frozen=True)
class BurnWindow:
    """One window pair of a multiwindow burn-rate alert."""

    severity: Severity
    long: float  # seconds
    short: float
    budget_percent: float  # share of the period's error budget consumed over ``long`` at ``factor``
    factor: float


_SLOTH_WINDOWS = ((Severity.PAGE, 3600.0, 300.0, 2.0), (Severity.PAGE, 6 * 3600.0, 1800.0, 5.0),
                  (Severity.TICKET, DAY, 2 * 3600.0, 10.0), (Severity.TICKET, 3 * DAY, 6 * 3600.0, 10.0))
SUPPORTED_PERIODS = (30 * DAY, 28 * DAY)
"""Sloth's built-in window sets (``google-30d``, ``google-28d``); both use the windows above."""


def burn_windows(period: float) -> tuple[BurnWindow, ...]:
    """Sloth's four window pairs for a period, with factors computed as Sloth computes them."""
    hours = period / 3600
    return tuple(BurnWindow(sev, long, short, pct, pct * hours / 100 / (long / 3600))
                 for sev, long, short, pct in _SLOTH_WINDOWS)


@dataclass(frozen=True)
class AlertMeta:
    name: str
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SLO:
    """An availability objective over a period, with the queries that measure its errors.

    ``error_query``/``total_query`` count bad and all events over a window (an events
    SLI); a raw SLI has ``error_ratio_query`` instead. Each holds ``{{.window}}``.
    """

    service: str
    name: str
    objective_percent: float  # e.g. 99.9 (Sloth computes the budget from the percentage)
    period: float  # seconds
    error_query: str | None = None
    total_query: str | None = None
    error_ratio_query: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    page_alert: AlertMeta | None = None
    ticket_alert: AlertMeta | None = None
    description: str = ""
    location: Location = UNKNOWN
    groups: tuple[RuleGroup, ...] = field(default=(), compare=False)

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"

    @property
    def objective(self) -> float:
        """The objective as a ratio, e.g. 0.999."""
        return self.objective_percent / 100

    @property
    def error_budget(self) -> float:
        """The share of events allowed to fail, as Sloth computes it: ``(100 - objective%) / 100``."""
        return (100 - self.objective_percent) / 100

    def error_ratio(self, window: float) -> str:
        """The PromQL of the error ratio over ``window`` seconds (what Sloth records)."""
        w = format_duration(window)
        if self.error_ratio_query is not None:
            return f"({fill_window(self.error_ratio_query, w)})"
        assert self.error_query is not None and self.total_query is not None
        return f"({fill_window(self.error_query, w)})\n/\n({fill_window(self.total_query, w)})\n"


def fill_window(template: str, window: str) -> str:
    return WINDOW_TEMPLATE.sub(window, template)


# --------------------------------------------------------------------------- rule generation


def _id_labels(slo: SLO) -> dict[str, str]:
    return {"sloth_id": slo.id, "sloth_service": slo.service, "sloth_slo": slo.name}


def _filter(slo: SLO) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(_id_labels(slo).items())) + "}"


def _merge(*maps: dict[str, str] | tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    out: dict[str, str] = {}
    for m in maps:
        out.update(dict(m))
    return tuple(sorted(out.items()))


def generate_groups(slo: SLO) -> tuple[RuleGroup, ...]:
    """Sloth's three groups for ``slo``: SLI recordings, metadata recordings, alerts."""
    windows = burn_windows(slo.period)
    wanted = sorted({w.long for w in windows} | {w.short for w in windows})
    sli_rules: list[Rule] = [_sli_rule(slo, w) for w in wanted]
    sli_rules.append(_period_sli_rule(slo, min(wanted)))
    groups = [RuleGroup(f"sloth-slo-sli-recordings-{slo.id}", tuple(sli_rules), None, slo.location),
              RuleGroup(f"sloth-slo-meta-recordings-{slo.id}", _meta_rules(slo), None, slo.location)]
    alerts = [_alert_rule(slo, meta, sev, windows) for sev, meta in
              ((Severity.PAGE, slo.page_alert), (Severity.TICKET, slo.ticket_alert)) if meta is not None]
    if alerts:
        groups.append(RuleGroup(f"sloth-slo-alerts-{slo.id}", tuple(alerts), None, slo.location))
    return tuple(groups)


def _record(slo: SLO, record: str, text: str, labels: tuple[tuple[str, str], ...]) -> RecordingRule:
    return RecordingRule(record, parse(text, slo.location, f"slo {slo.name}: {record}"), text, labels, slo.location)


def _sli_rule(slo: SLO, window: float) -> RecordingRule:
    w = format_duration(window)
    labels = _merge(_id_labels(slo), {"sloth_window": w}, slo.labels)
    return _record(slo, f"slo:sli_error:ratio_rate{w}", slo.error_ratio(window), labels)


def _period_sli_rule(slo: SLO, shortest: float) -> RecordingRule:
    # Sloth averages the shortest window's records over the period rather than querying 30 days of raw data
    w, metric = format_duration(slo.period), f"slo:sli_error:ratio_rate{format_duration(shortest)}"
    text = (f"sum_over_time({metric}{_filter(slo)}[{w}])\n/ ignoring (sloth_window)\n"
            f"count_over_time({metric}{_filter(slo)}[{w}])\n")
    labels = _merge(_id_labels(slo), {"sloth_window": w}, slo.labels)
    return _record(slo, f"slo:sli_error:ratio_rate{w}", text, labels)


def _meta_rules(slo: SLO) -> tuple[Rule, ...]:
    labels = _merge(_id_labels(slo), slo.labels)
    ratio = format_value(slo.objective)
    sel = _filter(slo)
    period = format_duration(slo.period)
    return (
        _record(slo, "slo:objective:ratio", f"vector({ratio})", labels),
        _record(slo, "slo:error_budget:ratio", f"vector(1-{ratio})", labels),
        _record(slo, "slo:time_period:days", f"vector({format_value(slo.period / DAY)})", labels),
        _record(slo, "slo:current_burn_rate:ratio",
                f"slo:sli_error:ratio_rate5m{sel}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
                f"slo:error_budget:ratio{sel}\n", labels),
        _record(slo, "slo:period_burn_rate:ratio",
                f"slo:sli_error:ratio_rate{period}{sel}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
                f"slo:error_budget:ratio{sel}\n", labels),
        _record(slo, "slo:period_error_budget_remaining:ratio", f"1 - slo:period_burn_rate:ratio{sel}", labels),
    )


def _alert_rule(slo: SLO, meta: AlertMeta, severity: Severity, windows: tuple[BurnWindow, ...]) -> AlertingRule:
    quick, slow = (w for w in windows if w.severity is severity)
    budget = format_value(slo.error_budget)
    sel = _filter(slo)

    def above(window: float, factor: float) -> str:
        return (f"max(slo:sli_error:ratio_rate{format_duration(window)}{sel} > ({format_value(factor)} * {budget})) "
                "without (sloth_window)")

    text = (f"(\n    {above(quick.short, quick.factor)}\n    and\n    {above(quick.long, quick.factor)}\n)\nor\n"
            f"(\n    {above(slow.short, slow.factor)}\n    and\n    {above(slow.long, slow.factor)}\n)\n")
    sev = severity.value
    annotations = _merge({
        "title": f"({sev}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO error budget burn rate "
                 "is too fast.",
        "summary": "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is over expected.",
    }, meta.annotations)
    labels = _merge({"sloth_severity": sev}, meta.labels)
    expr = parse(text, slo.location, f"slo {slo.name}: {meta.name}")
    return AlertingRule(meta.name, expr, text, 0.0, 0.0, labels, annotations, slo.location)


def with_groups(slo: SLO) -> SLO:
    from dataclasses import replace
    return replace(slo, groups=generate_groups(slo))


# --------------------------------------------------------------------------- Sloth


@dataclass(frozen=True)
class SLOSpec:
    """An SLO read from a document whose SLI may still be a reference to another document."""

    slo: SLO
    indicator_ref: str | None = None
    node: Node | None = None
    path: str = ""
    source: Source | None = None


def _sloth_keys(camel: bool) -> dict[str, str]:
    names = {"error_query": "errorQuery", "total_query": "totalQuery", "error_ratio_query": "errorRatioQuery",
             "page_alert": "pageAlert", "ticket_alert": "ticketAlert", "slo_plugins": "sloPlugins"}
    return {k: (v if camel else k) for k, v in names.items()}


def read_sloth(src: Source, node: Node, path: str) -> list[SLOSpec]:
    """A Sloth ``prometheus/v1`` spec, or its Kubernetes ``PrometheusServiceLevel`` form."""
    top = Fields(src, node, path, ("version", "apiVersion", "kind", "metadata", "spec", "service", "labels",
                                   "slos", "slo_plugins"))
    camel = "spec" in top
    if camel:
        node, path = top.at("spec")
        top = Fields(src, node, path, ("service", "labels", "slos", "sloPlugins"), required=("service", "slos"))
    keys = _sloth_keys(camel)
    if keys["slo_plugins"] in top:
        raise src.fail(top.at(keys["slo_plugins"])[0], join(path, keys["slo_plugins"]),
                       "Sloth SLO plugins are not supported; chaoslab generates Sloth's default rules")
    for key in ("service", "slos"):
        if key not in top:
            raise src.fail(node, path, f"missing required key '{key}'")
    service = top.string("service")
    _check_name(src, top.at("service")[0], join(path, "service"), service)
    labels = string_map(src, top.get("labels"), join(path, "labels"))
    specs = [SLOSpec(_read_sloth_slo(src, n, p, service, labels, keys))
             for n, p in items(src, *top.at("slos"))]
    if not specs:
        raise src.fail(top.at("slos")[0], join(path, "slos"), "at least one SLO is required")
    return specs


def _check_name(src: Source, node: Node, path: str, name: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise src.fail(node, path, f"'{name}' is not a valid name: it must start and end with a letter or digit "
                                   "and hold only letters, digits, '.', '_' and '-'")


def _read_sloth_slo(src: Source, node: Node, path: str, service: str, spec_labels: tuple[tuple[str, str], ...],
                    keys: dict[str, str]) -> SLO:
    f = Fields(src, node, path, ("name", "description", "objective", "labels", "sli", "alerting", "plugins"),
               required=("name", "objective", "sli"), what="an SLO")
    if "plugins" in f:
        raise src.fail(f.at("plugins")[0], join(path, "plugins"), "Sloth SLO plugins are not supported")
    name = f.string("name")
    _check_name(src, f.at("name")[0], join(path, "name"), name)
    objective_node, objective_path = f.at("objective")
    objective = number(src, objective_node, objective_path)
    if not 0 < objective <= 100:
        raise src.fail(objective_node, objective_path, f"{format_value(objective)} is out of range: an objective is "
                                                       "a percentage above 0 and at most 100")
    labels = _merge(spec_labels, string_map(src, f.get("labels"), join(path, "labels")))
    sli = _read_sloth_sli(src, *f.at("sli"), keys)
    page, ticket = _read_sloth_alerting(src, f, path, keys)
    slo = SLO(service, name, objective, 30 * DAY, *sli, labels=labels, page_alert=page, ticket_alert=ticket,
              description=f.string("description"), location=src.loc(node))
    return _checked(src, node, path, slo)


def _read_sloth_sli(src: Source, node: Node, path: str, keys: dict[str, str]) -> tuple[str | None, str | None,
                                                                                       str | None]:
    f = Fields(src, node, path, ("events", "raw", "plugin"), what="an SLI")
    if "plugin" in f:
        raise src.fail(f.at("plugin")[0], join(path, "plugin"), "Sloth SLI plugins are not supported",
                       hint="write the SLI as 'events' (error and total queries) or 'raw' (an error ratio query)")
    if ("events" in f) == ("raw" in f):
        raise src.fail(node, path, "give exactly one of 'events' or 'raw'")
    if "events" in f:
        en, ep = f.at("events")
        events = Fields(src, en, ep, (keys["error_query"], keys["total_query"]),
                        required=(keys["error_query"], keys["total_query"]))
        error = _window_query(src, events, keys["error_query"])
        total = _window_query(src, events, keys["total_query"])
        if error == total:
            raise src.fail(en, ep, "the error and total queries can't be the same")
        return error, total, None
    rn, rp = f.at("raw")
    raw = Fields(src, rn, rp, (keys["error_ratio_query"],), required=(keys["error_ratio_query"],))
    return None, None, _window_query(src, raw, keys["error_ratio_query"])


def _window_query(src: Source, fields: Fields, key: str) -> str:
    """A query template: it must hold ``{{.window}}`` and parse once the window is filled in."""
    node, path = fields.at(key)
    text = fields.string(key)
    if not WINDOW_TEMPLATE.search(text):
        raise src.fail(node, path, "the query must contain the {{ .window }} variable")
    other = _OTHER_TEMPLATE.search(WINDOW_TEMPLATE.sub("", text))
    if other:
        raise src.fail(node, path, f"unsupported template {other.group(0)}: only {{{{ .window }}}} is filled in")
    parse(fill_window(text, "5m"), src.text_loc(node), path)
    return text


def _read_sloth_alerting(src: Source, f: Fields, path: str,
                         keys: dict[str, str]) -> tuple[AlertMeta | None, AlertMeta | None]:
    if "alerting" not in f:  # as in Sloth, whose alerts are on unless disabled, and need a name
        raise src.fail(f.node, path, "missing required key 'alerting' (at least the alerts' 'name')",
                       hint="or disable both: alerting: {page_alert: {disable: true}, ticket_alert: {disable: true}}")
    an, ap = f.at("alerting")
    alerting = Fields(src, an, ap, ("name", "labels", "annotations", keys["page_alert"], keys["ticket_alert"]))
    name = alerting.string("name")
    labels = string_map(src, alerting.get("labels"), join(ap, "labels"))
    annotations = string_map(src, alerting.get("annotations"), join(ap, "annotations"))
    out: list[AlertMeta | None] = []
    for key in (keys["page_alert"], keys["ticket_alert"]):
        node = alerting.get(key)
        sub = Fields(src, node, join(ap, key), ("disable", "labels", "annotations")) if node is not None else None
        if sub is not None and sub.string("disable").lower() == "true":
            out.append(None)
            continue
        if not name:
            raise src.fail(an, ap, "missing required key 'name' (the alerts' name)")
        sub_labels = string_map(src, sub.get("labels"), join(join(ap, key), "labels")) if sub else ()
        sub_annotations = string_map(src, sub.get("annotations"), join(join(ap, key), "annotations")) if sub else ()
        out.append(AlertMeta(name, _merge(labels, sub_labels), _merge(annotations, sub_annotations)))
    return out[0], out[1]


def _checked(src: Source, node: Node, path: str, slo: SLO) -> SLO:
    """Build the SLO's rules now, so that a query that does not parse is reported at the spec."""
    try:
        return with_groups(slo)
    except InputError as exc:
        raise src.fail(node, path, f"the rules generated for this SLO do not parse: {exc.detail}") from None


# --------------------------------------------------------------------------- OpenSLO


def read_openslo(src: Source, node: Node, path: str, slis: dict[str, tuple[Source, Node, str]]) -> SLOSpec | None:
    """An OpenSLO v1 document: ``SLO`` gives a spec, ``SLI`` is remembered for ``indicatorRef``, others are skipped."""
    top = Fields(src, node, path, ("apiVersion", "kind", "metadata", "spec"), required=("apiVersion", "kind"))
    api = top.string("apiVersion")
    if api != "openslo/v1":
        raise src.fail(top.at("apiVersion")[0], join(path, "apiVersion"),
                       f"unsupported OpenSLO version '{api}'", hint="chaoslab reads apiVersion: openslo/v1")
    kind = top.string("kind")
    if kind == "SLI":
        slis[_metadata_name(src, top, path)] = (src, top.at("spec")[0], join(path, "spec"))
        return None
    if kind != "SLO":
        return None  # Service, DataSource, AlertPolicy ... describe nothing chaoslab evaluates
    return _read_openslo_slo(src, top, path)


def _metadata_name(src: Source, top: Fields, path: str) -> str:
    if "metadata" not in top:
        raise src.fail(top.node, path, "missing required key 'metadata'")
    meta = Fields(src, *top.at("metadata"), ("name", "displayName", "labels", "annotations", "namespace"),
                  required=("name",))
    return meta.string("name")


def _read_openslo_slo(src: Source, top: Fields, path: str) -> SLOSpec:
    name = _metadata_name(src, top, path)
    if "spec" not in top:
        raise src.fail(top.node, path, "missing required key 'spec'")
    sn, sp = top.at("spec")
    spec = Fields(src, sn, sp, ("description", "service", "indicator", "indicatorRef", "timeWindow",
                                "budgetingMethod", "objectives", "alertPolicies"),
                  required=("service", "budgetingMethod", "objectives"))
    method = spec.string("budgetingMethod")
    if method != "Occurrences":
        raise src.fail(spec.at("budgetingMethod")[0], join(sp, "budgetingMethod"),
                       f"budgeting method '{method}' is not supported", hint="chaoslab evaluates 'Occurrences' SLOs")
    period = _openslo_period(src, spec, sp)
    objectives = list(items(src, *spec.at("objectives")))
    if len(objectives) != 1:
        raise src.fail(spec.at("objectives")[0], join(sp, "objectives"), "give exactly one objective",
                       hint="write one SLO document per objective")
    on, op = objectives[0]
    objective = _openslo_target(src, on, op)
    service = spec.string("service")
    _check_name(src, spec.at("service")[0], join(sp, "service"), service)
    alert = AlertMeta(f"{name}-burn-rate")
    slo = SLO(service, f"{name}-0", objective * 100, period, page_alert=alert, ticket_alert=alert,
              description=spec.string("description"), location=src.loc(top.node))
    if "indicator" in spec:
        inn, inp = spec.at("indicator")
        ind = Fields(src, inn, inp, ("metadata", "spec"), required=("spec",))
        return SLOSpec(_with_sli(src, slo, *ind.at("spec")))
    if "indicatorRef" not in spec:
        raise src.fail(sn, sp, "give 'indicator' or 'indicatorRef'")
    return SLOSpec(slo, spec.string("indicatorRef"), spec.at("indicatorRef")[0], join(sp, "indicatorRef"), src)


def resolve_openslo(spec: SLOSpec, slis: dict[str, tuple[Source, Node, str]]) -> SLO:
    """The SLO of a spec, its ``indicatorRef`` looked up among the file's SLI documents."""
    if spec.indicator_ref is None:
        return spec.slo
    found = slis.get(spec.indicator_ref)
    if found is None:
        assert spec.source is not None and spec.node is not None
        raise spec.source.fail(spec.node, spec.path, f"no SLI named '{spec.indicator_ref}' in this file",
                               hint="define it in a 'kind: SLI' document of the same file")
    return _with_sli(found[0], spec.slo, found[1], found[2])


def _openslo_period(src: Source, spec: Fields, path: str) -> float:
    if "timeWindow" not in spec:
        return 30 * DAY
    windows = list(items(src, *spec.at("timeWindow")))
    if len(windows) != 1:
        raise src.fail(spec.at("timeWindow")[0], join(path, "timeWindow"), "give exactly one time window")
    wn, wp = windows[0]
    w = Fields(src, wn, wp, ("duration", "isRolling", "calendar"), required=("duration",))
    if "calendar" in w or w.string("isRolling", "true").lower() == "false":
        raise src.fail(wn, wp, "calendar-aligned time windows are not supported", hint="use isRolling: true")
    text = w.string("duration")
    ms = prometheus_duration_ms(text)
    if ms is None or ms / 1000 not in SUPPORTED_PERIODS:
        raise src.fail(w.at("duration")[0], join(wp, "duration"), f"time window '{text}' is not supported",
                       hint="Sloth's burn-rate windows are defined for 30d and 28d periods")
    return ms / 1000


def _openslo_target(src: Source, node: Node, path: str) -> float:
    f = Fields(src, node, path, ("displayName", "op", "value", "target", "targetPercent", "timeSliceTarget",
                                 "timeSliceWindow", "indicator", "indicatorRef", "compositeWeight"))
    if ("target" in f) == ("targetPercent" in f):
        raise src.fail(node, path, "give exactly one of 'target' or 'targetPercent'")
    if "target" in f:
        tn, tp = f.at("target")
        value = number(src, tn, tp)
        if not 0 < value < 1:
            raise src.fail(tn, tp, f"{format_value(value)} is out of range: a target is a ratio between 0 and 1")
        return value
    tn, tp = f.at("targetPercent")
    value = number(src, tn, tp)
    if not 0 < value < 100:
        raise src.fail(tn, tp, f"{format_value(value)} is out of range: a percentage between 0 and 100")
    return value / 100


def _with_sli(src: Source, slo: SLO, node: Node, path: str) -> SLO:
    from dataclasses import replace

    f = Fields(src, node, path, ("description", "thresholdMetric", "ratioMetric"))
    if "ratioMetric" not in f:
        raise src.fail(node, path, "only 'ratioMetric' SLIs are supported")
    rn, rp = f.at("ratioMetric")
    ratio = Fields(src, rn, rp, ("counter", "good", "bad", "total", "raw", "rawType"))
    counter = ratio.string("counter").lower() == "true"

    def query(key: str) -> str:
        return _openslo_query(src, *ratio.at(key), counter)

    if "raw" in ratio:
        raw = query("raw")
        kind = ratio.string("rawType")
        if kind not in ("success", "failure"):
            raise src.fail(rn, rp, "'raw' needs 'rawType: success' or 'rawType: failure'")
        sli = replace(slo, error_ratio_query=raw if kind == "failure" else f"1 - ({raw})")
    elif "total" not in ratio or ("good" in ratio) == ("bad" in ratio):
        raise src.fail(rn, rp, "give 'total' with exactly one of 'good' or 'bad' (or 'raw' with 'rawType')")
    elif "bad" in ratio:
        sli = replace(slo, error_query=query("bad"), total_query=query("total"))
    else:
        # as Sloth maps OpenSLO: the error ratio is what the good events leave out
        sli = replace(slo, error_ratio_query=f"\n  1 - (\n    (\n      {query('good')}\n    )\n    /\n"
                                             f"    (\n      {query('total')}\n    )\n  )\n")
    return _checked(src, node, path, sli)


def _openslo_query(src: Source, node: Node, path: str, counter: bool) -> str:
    f = Fields(src, node, path, ("metricSource",), required=("metricSource",))
    mn, mp = f.at("metricSource")
    source = Fields(src, mn, mp, ("metricSourceRef", "type", "spec"), required=("spec",))
    kind = source.string("type", "Prometheus")
    if kind.lower() != "prometheus":
        raise src.fail(source.at("type")[0], join(mp, "type"), f"metric source type '{kind}' is not supported",
                       hint="chaoslab evaluates Prometheus queries")
    spec = Fields(src, *source.at("spec"), ("query", "promql"))
    key = "query" if "query" in spec else "promql"
    if key not in spec:
        raise src.fail(source.at("spec")[0], join(mp, "spec"), "missing required key 'query'")
    qn, qp = spec.at(key)
    text = spec.string(key)
    if WINDOW_TEMPLATE.search(text):
        parse(fill_window(text, "5m"), src.text_loc(qn), qp)
        return text
    expr = parse(text, src.text_loc(qn), qp)
    if counter and isinstance(expr, VectorSelector):
        return f"sum(rate({text.strip()}[{{{{.window}}}}]))"
    raise src.fail(qn, qp, "the query needs a {{ .window }} where the window goes",
                   hint="or give a bare counter selector with 'counter: true', read as sum(rate(selector[window]))")

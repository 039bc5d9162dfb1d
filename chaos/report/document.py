"""The result document (``result.json``), read once into frozen, typed values the reports draw.

Every report reads only the document, never a Run, so a report can be re-created from a
results directory and a live run, a simulated one or a comparison render the same way.
Optional sections (``playbook``, ``drill``, ``graph``, ``replications``) become ``None``
when absent.

The reader is generic: :func:`build` fills a dataclass from a JSON object, checking every
value against the field's declared type (a string where a number belongs, NaN, null for a
required number, a list for an object, a state that is none of its enum's values). A
damaged document is an :class:`InputError` naming the file and the JSON path of the bad
value, e.g. ``runs/x/result.json: playbook.steps[1].start_s: expected a number, found the
string '12'``. Only then is every string of the checked values, mapping keys too, made
:func:`shown` (control characters written as escapes, :mod:`chaos.terminal`), so no report
draws one, while the checks and their messages see the document as it was written.

Schema 2 puts every time of the ``playbook`` section on the incident's clock (seconds from
the incident start, ``Playbook.clock``); a schema-1 document, whose step times were run
times, is read onto that clock (:func:`playbook_from_v1`), its verdicts as recorded.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chaos.errors import InputError, Location
from chaos.incident_states import ClockBase, IncidentOutcome, NotJudged, StepStatus
from chaos.terminal import visible

SUPPORTED_SCHEMA = 2
T = TypeVar("T")
REBUILD = "re-create result.json with this version of chaoslab"


# --------------------------------------------------------------------------- a reader checked by the types


def build(cls: type[T], raw: Any, where: str, source: str) -> T:
    """An instance of the dataclass ``cls`` from the mapping ``raw``, each field's value checked against its
    declared type (:func:`typed`). Keys ``cls`` does not declare are ignored; a field without a default is
    required. ``field(metadata={"key": ...})`` reads a field from a key of another name. A ``__post_init__``
    that finds its fields inconsistent raises ValueError, reported at ``where``.
    """
    if not isinstance(raw, Mapping):
        raise _wrong("an object", raw, where, source)
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = f.metadata.get("key", f.name)
        if key in raw:
            kwargs[f.name] = _bounded(typed(hints[f.name], raw[key], _join(where, key), source), f.metadata,
                                      _join(where, key), source)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise InputError(f"missing '{key}'", Location(source), where, hint=REBUILD)
    try:
        return cls(**kwargs)
    except Inconsistent as exc:
        raise InputError(exc.message, Location(source), _join(where, exc.where), hint=REBUILD) from None


class Inconsistent(ValueError):
    """Raised by a document class's ``__post_init__`` when its fields disagree; ``where`` is relative to it."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def _bounded(value: Any, meta: Mapping[str, Any], where: str, source: str) -> Any:
    """A number checked against the bounds a field declares: ``field(metadata={"gt": 0})``."""
    for name, ok, words in (("ge", lambda b: value >= b, "at least"), ("gt", lambda b: value > b, "greater than")):
        bound = meta.get(name)
        if bound is not None and value is not None and not ok(bound):
            raise InputError(f"{value:g} is out of range: must be {words} {bound:g}", Location(source), where,
                             hint=REBUILD)
    return value


def typed(tp: Any, value: Any, where: str, source: str) -> Any:
    """``value`` as read from JSON, checked to be a ``tp``: int, float (finite; an int is widened), str,
    bool, an Enum (one of its values: a state), ``X | None``, a nested dataclass, ``tuple[X, ...]`` or
    ``tuple[X, Y]`` (a JSON list), ``Mapping[str, X]`` (a JSON object), or Any (any JSON value without
    NaN or infinity)."""
    if tp is Any:
        return _finite_json(value, where, source)
    members = _union(tp)
    if members is not None:
        if value is None and type(None) in members:
            return None
        rest = [m for m in members if m is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"unsupported union {tp!r} at {where}")  # a bug in a document class
        return typed(rest[0], value, where, source)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where, source)  # type: ignore[arg-type]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum(tp, value, where, source)
    origin = typing.get_origin(tp)
    if origin is tuple:
        return _tuple(typing.get_args(tp), value, where, source)
    if origin is Mapping:
        if not isinstance(value, Mapping):
            raise _wrong("an object", value, where, source)
        item = typing.get_args(tp)[1]
        return {key: typed(item, v, _join(where, key), source) for key, v in value.items()}
    if tp in _PLAIN:
        return _plain(tp, value, where, source)
    raise TypeError(f"unsupported field type {tp!r} at {where}")  # a bug in a document class


def _enum(kind: type[enum.Enum], value: Any, where: str, source: str) -> enum.Enum:
    for member in kind:
        if member.value == value and type(member.value) is type(value):
            return member
    known = ", ".join(repr(m.value) for m in kind)
    raise InputError(f"{value!r} is not one of {known}", Location(source), where, hint=REBUILD)


_PLAIN: dict[Any, str] = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _plain(tp: type, value: Any, where: str, source: str) -> Any:
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise _wrong("a finite number", value, where, source)
        return float(value)
    if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise _wrong(_PLAIN[tp], value, where, source)


def _tuple(args: tuple[Any, ...], value: Any, where: str, source: str) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise _wrong("a list", value, where, source)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(typed(args[0], v, f"{where}[{i}]", source) for i, v in enumerate(value))
    if len(value) != len(args):
        raise _wrong(f"a list of {len(args)}", value, where, source)
    return tuple(typed(a, v, f"{where}[{i}]", source) for i, (a, v) in enumerate(zip(args, value, strict=True)))


def _finite_json(value: Any, where: str, source: str) -> Any:
    """Any JSON value, as read, once no number in it is NaN or infinite (walked without recursion)."""
    todo: list[tuple[Any, str]] = [(value, where)]
    while todo:
        item, at = todo.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise _wrong("a finite number", item, at, source)
        if isinstance(item, Mapping):
            todo += [(v, _join(at, k)) for k, v in item.items()]
        elif isinstance(item, list):
            todo += [(v, f"{at}[{i}]") for i, v in enumerate(item)]
    return value


def _wrong(expected: str, value: Any, where: str, source: str) -> InputError:
    return InputError(f"expected {expected}, found {_describe(value)}", Location(source), where, hint=REBUILD)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {value[:40]!r}" + ("..." if len(value) > 40 else "")
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("-Infinity" if value < 0 else "Infinity")
    if isinstance(value, (int, float)):
        return f"the number {value:g}" if isinstance(value, float) else f"the integer {value}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return "an object"


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _union(tp: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(tp)
    return typing.get_args(tp) if origin is typing.Union or origin is types.UnionType else None


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def required_keys(cls: type) -> tuple[str, ...]:
    return tuple(f.metadata.get("key", f.name) for f in dataclasses.fields(cls)  # type: ignore[arg-type]
                 if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


# --------------------------------------------------------------------------- strings as shown


def shown(tp: Any, value: Any) -> Any:
    """``value``, already checked to be a ``tp`` (:func:`typed`), with every string in it, mapping keys too,
    as :func:`chaos.terminal.visible` shows it. The same walk as :func:`typed`, after it: checking sees the
    document as written (its error messages quote values with ``repr``), and a state (an Enum) is never a
    string. Parts whose type holds no string, such as the series' columns of numbers, are returned as they are.
    """
    if value is None or not _has_text(tp):
        return value
    if tp is str:
        return visible(value)
    if tp is Any:
        return _shown_json(value)
    members = _union(tp)
    if members is not None:
        return shown(next(m for m in members if m is not type(None)), value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        return dataclasses.replace(value, **{f.name: shown(hints[f.name], getattr(value, f.name))
                                             for f in dataclasses.fields(tp)})
    args = typing.get_args(tp)
    if typing.get_origin(tp) is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(shown(args[0], v) for v in value)
        return tuple(shown(a, v) for a, v in zip(args, value, strict=True))
    return {visible(key): shown(args[1], v) for key, v in value.items()}  # Mapping[str, X]


@functools.cache
def _has_text(tp: Any) -> bool:
    """Whether a value of type ``tp`` can hold a string that is not an enum's value."""
    if tp is str or tp is Any:
        return True
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return any(_has_text(h) for h in _hints(tp).values())
    return any(_has_text(a) for a in typing.get_args(tp) if a is not Ellipsis)


def _shown_json(value: Any) -> Any:
    """A JSON value (an ``Any`` field: the audit, a fault's parameters) with its strings, keys too, shown;
    walked without recursion, as :func:`_finite_json` walks it, since a document may nest it deeply."""
    holder: list[Any] = [None]
    todo: list[tuple[Any, Any, Any]] = [(holder, 0, value)]
    while todo:
        parent, slot, item = todo.pop()
        if isinstance(item, str):
            parent[slot] = visible(item)
        elif isinstance(item, Mapping):
            copy: dict[str, Any] = {}
            parent[slot] = copy
            for key, v in item.items():
                key = visible(key)
                copy[key] = None  # its place in the document's order of keys, filled when v is walked
                todo.append((copy, key, v))
        elif isinstance(item, list):
            parent[slot] = items = [None] * len(item)
            todo += [(items, i, v) for i, v in enumerate(item)]
        else:
            parent[slot] = item
    return holder[0]


# --------------------------------------------------------------------------- the document


@dataclass(frozen=True)
class Figures:
    """Whole-run figures of a service or an entrypoint: ``requests`` sent, ``answered`` (ok or
    failed), ``errors`` among the answered; ``answered`` is None in results written before it existed."""

    requests: int
    errors: int
    error_ratio: float | None
    p50_ms: float | None
    p99_ms: float | None
    throughput_rps: float | None = None
    first_breach_s: float | None = None
    attempts_per_entry_request: float | None = None
    hops: int | None = None
    retries: int = 0
    wasted: int = 0
    degraded: int = 0
    errors_by_cause: Mapping[str, int] = field(default_factory=dict)
    answered: int | None = None


@dataclass(frozen=True)
class Breach:
    service: str
    first_breach_s: float | None
    hops: int | None
    breach_seconds: int
    cause: str


@dataclass(frozen=True)
class Blast:
    """``entry_requests`` were answered in the measured window; ``entry_failed`` of them failed
    (``entry_errors``) or succeeded slower than their entrypoint's latency objective (``entry_slow``)."""

    services: tuple[str, ...] = ()
    cascade: tuple[Breach, ...] = ()
    entry_requests: int = 0
    entry_failed: int = 0
    entry_failed_ratio: float | None = None
    entry_errors: int | None = None
    entry_slow: int | None = None


@dataclass(frozen=True)
class Objective:
    """One SLO objective's verdict. ``observed`` is a ratio, or milliseconds for latency."""

    name: str
    scope: str
    kind: str
    target: float
    met: bool
    observed: float | None = None
    threshold_ms: float | None = None
    percentile: float | None = None
    bad: int = 0
    total: int = 0
    first_breach_s: float | None = None
    breach_seconds: int = 0


@dataclass(frozen=True)
class Firing:
    """An alert's firing; ``scope`` is None for a rule-file alert whose labels name no service or entrypoint."""

    name: str
    scope: str | None
    fired_at_s: float
    resolved_at_s: float | None = None
    value: float | None = None
    metric: str | None = None  # AlertMetric's value or "burn_rate"; None in results written before it existed
    labels: Mapping[str, str] = field(default_factory=dict)  # a rule-file alert instance's labels


@dataclass(frozen=True)
class Detection:
    fault: str
    start_s: float
    alert: str | None = None
    detected_at_s: float | None = None
    time_to_detect_s: float | None = None


@dataclass(frozen=True)
class AlertExpectation:
    alert: str
    within_s: float
    fired_at_s: float | None
    met: bool


@dataclass(frozen=True)
class Fault:
    """A fault as applied: ``end_s`` is when it really ended (a playbook may end it before ``scheduled_end_s``)."""

    label: str
    kind: str
    target: str
    start_s: float
    end_s: float | None
    params: Mapping[str, Any] = field(default_factory=dict)
    scheduled_end_s: float | None = None

    @property
    def ended_early(self) -> bool:
        return (self.end_s is not None and self.scheduled_end_s is not None
                and self.end_s < self.scheduled_end_s - 1e-6)


@dataclass(frozen=True)
class Marker:
    t_s: float
    kind: str
    subject: str
    detail: str = ""


@dataclass(frozen=True)
class ScopeSeries:
    """Per-second figures of one scope; a column the engine did not record is all None."""

    requests: tuple[float | None, ...] = ()
    errors: tuple[float | None, ...] = ()
    p99_ms: tuple[float | None, ...] = ()
    queue: tuple[float | None, ...] = ()
    ok: tuple[float | None, ...] = ()

    def filled(self, seconds: int) -> ScopeSeries:
        """Every column one value per second: a column not recorded (absent or empty) all None."""
        columns = {}
        for f in dataclasses.fields(self):
            values = getattr(self, f.name)
            if values and len(values) != seconds:
                raise Inconsistent(f.name, f"{len(values)} values for {seconds} seconds (t_s)")
            columns[f.name] = values or (None,) * seconds
        return ScopeSeries(**columns)

    def error_ratio(self) -> tuple[float, ...]:
        """Failed / answered per second, as every error ratio is; NaN where nothing was answered, so plots
        leave a gap. (Results without the ``ok`` column fall back to failed / sent.)"""
        if not self.ok or all(v is None for v in self.ok):
            answered: tuple[float | None, ...] = self.requests
        else:
            answered = tuple(None if o is None or e is None else o + e for o, e in zip(self.ok, self.errors,
                                                                                       strict=True))
        pairs = zip(answered, self.errors, strict=True)
        return tuple(e / a if a and e is not None else math.nan for a, e in pairs)


@dataclass(frozen=True)
class Series:
    scopes: Mapping[str, ScopeSeries]
    t_s: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        filled = {}
        for name, scope in self.scopes.items():
            try:
                filled[name] = scope.filled(len(self.t_s))
            except Inconsistent as exc:
                raise Inconsistent(f"scopes.{name}.{exc.where}", exc.message) from None
        object.__setattr__(self, "scopes", filled)


@dataclass(frozen=True)
class Graph:
    """The call graph: (caller, callee) edges and which service each entrypoint calls."""

    edges: tuple[tuple[str, str], ...] = ()
    entrypoints: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Clock:
    """The incident's clock: every time of the playbook section counts from its second 0, which is
    ``start_run_s`` on the run's clock; the run ends at ``run_end_s`` on the incident's."""

    base: ClockBase
    start_run_s: float
    run_end_s: float

    def run_time(self, t: float) -> float:
        return t + self.start_run_s


@dataclass(frozen=True)
class BudgetBurn:
    """How much of the whole run's error budget one SLO burned during the incident (1.0: all of it)."""

    slo: str = ""
    scope: str = ""
    burned: float | None = None


@dataclass(frozen=True)
class Incident:
    """How the response went; times are seconds since the incident start (``Playbook.clock``)."""

    outcome: IncidentOutcome | None = None
    trigger: str | None = None             # the alert that triggered it, or "at"
    triggered_s: float | None = None       # negative: the trigger fired before the incident start
    trigger_before_start: bool = False
    finished_s: float | None = None
    time_to_detect_s: float | None = None
    time_to_acknowledge_s: float | None = None
    time_to_mitigate_s: float | None = None
    time_to_recover_s: float | None = None
    error_budget_burned: tuple[BudgetBurn, ...] = ()


@dataclass(frozen=True)
class Step:
    """A step as it ran; every time in seconds since the incident start, deadlines too."""

    name: str
    status: StepStatus
    role: str = ""
    action: str = ""
    target: str | None = None
    start_s: float | None = None
    acted_s: float | None = None
    end_s: float | None = None
    deadline_s: float | None = None
    met: bool | None = None
    not_judged: NotJudged | None = None
    verify: str | None = None
    verified_at_s: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Deadline:
    """A phase deadline of one incident: ``actual_s`` and ``deadline_s`` count from the incident's start.
    ``met`` is None when the run ended before the deadline, so it could not be judged."""

    name: str
    phase: str
    deadline_s: float
    actual_s: float | None
    met: bool | None
    required: float | None = None
    not_judged: NotJudged | None = None


@dataclass(frozen=True)
class Finding:
    kind: str
    message: str
    step: str | None = None


@dataclass(frozen=True)
class Trigger:
    """What starts the response: alert names, or a fixed time of the run."""

    alerts: tuple[str, ...] = ()
    at_s: float | None = None


@dataclass(frozen=True)
class Playbook:
    name: str = "playbook"
    trigger: Trigger = Trigger()
    incident: Incident = Incident()
    steps: tuple[Step, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    findings: tuple[Finding, ...] = ()
    clock: Clock | None = None  # None: no fault, and the response was never triggered

    @property
    def not_triggered(self) -> bool:
        return self.incident.outcome is IncidentOutcome.NOT_TRIGGERED

    def run_time(self, t: float | None) -> float | None:
        """A time of this section on the run's clock (None without a clock)."""
        return None if t is None or self.clock is None else self.clock.run_time(t)

    def trigger_names(self) -> str:
        """What triggers the response, in words: "alert 'x'", "alerts 'x' or 'y'", "a fixed time (60 s)"."""
        alerts = self.trigger.alerts
        if alerts:
            return ("alert " if len(alerts) == 1 else "alerts ") + " or ".join(f"'{a}'" for a in alerts)
        at = self.trigger.at_s
        return "a fixed time" if at is None else f"a fixed time ({at:g} s into the run)"


@dataclass(frozen=True)
class PhaseStats:
    """A phase's elapsed times over a drill's runs (None: never reached in that run)."""

    values: tuple[float | None, ...]
    reached: int | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    mean: float | None = None


@dataclass(frozen=True)
class DrillDeadline:
    """The share of runs meeting a phase deadline, against the share required (None: none required)."""

    name: str
    phase: str
    deadline_s: float
    p_met: float
    required: float | None
    met: bool | None
    ci95: float | None = None
    undecided: int = 0
    not_triggered: int = 0


@dataclass(frozen=True)
class DrillStep:
    name: str
    p_met: float | None = None
    p_reached: float | None = None
    p50_end_s: float | None = None
    p90_end_s: float | None = None


@dataclass(frozen=True)
class Drill:
    runs: int = 0
    seeds: tuple[int, ...] = ()
    phases: Mapping[str, PhaseStats] = field(default_factory=dict)
    deadlines: tuple[DrillDeadline, ...] = ()
    steps: tuple[DrillStep, ...] = ()
    findings: tuple[Finding, ...] = ()
    slo_met_share: float | None = None
    not_triggered: int = 0


@dataclass(frozen=True)
class Replications:
    count: int = 0
    seeds: tuple[int, ...] = ()
    slo_met: tuple[bool, ...] = ()
    expectations_met: tuple[bool, ...] = ()  # every alert expectation met, per replication


@dataclass(frozen=True)
class Report:
    """Everything the reports show, typed. ``services`` keeps the topology's order.

    The fields without a default are the keys every result document has; the others are
    optional sections and figures (None, empty or zero when absent).
    """

    experiment: str
    engine: str
    duration_s: float = field(metadata={"gt": 0})
    slo_met: bool
    blast: Blast = field(metadata={"key": "blast_radius"})
    services: Mapping[str, Figures]
    entrypoints: Mapping[str, Figures]
    slos: tuple[Objective, ...]
    series: Series
    topology: str = ""
    seed: int | None = None
    warmup_s: float = field(default=0.0, metadata={"ge": 0})
    time_to_detect_s: float | None = None
    alerts: tuple[Firing, ...] = ()
    detections: tuple[Detection, ...] = ()
    alert_expectations: tuple[AlertExpectation, ...] = ()
    faults: tuple[Fault, ...] = ()
    markers: tuple[Marker, ...] = ()
    audit: Mapping[str, Any] = field(default_factory=dict)
    graph: Graph | None = None
    playbook: Playbook | None = None
    drill: Drill | None = None
    replications: Replications | None = None
    gate_failed: bool = False
    notes: tuple[str, ...] = ()

    @property
    def first_fault_s(self) -> float | None:
        return min((f.start_s for f in self.faults), default=None)


REQUIRED = required_keys(Report)


STEP_TIMES = ("start_s", "acted_s", "end_s", "verified_at_s", "deadline_s")


def playbook_from_v1(raw: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    """A schema-1 playbook section (step times on the run's clock) on the incident's clock, as schema 2 has it.

    Only the clock changes: the verdicts are kept as they were recorded.
    """
    inc = dict(raw.get("incident") or {})
    start = inc.pop("start_s", None)
    if inc.get("triggered_s") is None:
        outcome = IncidentOutcome.NOT_TRIGGERED
    elif inc.get("aborted"):
        outcome = IncidentOutcome.ABORTED
    elif any(st.get("status") == StepStatus.RUNNING.value for st in raw.get("steps") or ()):
        outcome = IncidentOutcome.UNFINISHED
    else:
        outcome = IncidentOutcome.COMPLETED
    out = dict(raw, incident=dict(inc, outcome=outcome.value), clock=None)
    if start is None:
        return out

    def shift(t: Any) -> Any:
        return t - start if isinstance(t, (int, float)) else t

    out["incident"]["triggered_s"] = shift(inc.get("triggered_s"))
    out["incident"]["trigger_before_start"] = bool(out["incident"]["triggered_s"] is not None
                                                   and out["incident"]["triggered_s"] < 0)
    out["steps"] = [dict(st, **{k: shift(st.get(k)) for k in STEP_TIMES}) for st in raw.get("steps") or ()]
    base = ClockBase.FIRST_FAULT if doc.get("faults") else ClockBase.TRIGGER
    out["clock"] = {"base": base.value, "start_run_s": start, "run_end_s": float(doc["duration_s"]) - start}
    return out


def read(doc: Mapping[str, Any], source: str = "result.json") -> Report:
    """The typed report of a result document; ``source`` names it in error messages.

    Every value the reports use is checked against its declared type here, once: a damaged
    document is an InputError naming the file and the JSON path of the bad value. Then every
    string of the checked report, mapping keys too, is made :func:`shown`, so no report, figure
    or terminal line draws a control character from the document.
    """
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise InputError(f"not a chaoslab result: missing {', '.join(repr(k) for k in missing)}", Location(source))
    version = typed(int, doc.get("schema_version", SUPPORTED_SCHEMA), "schema_version", source)
    if version > SUPPORTED_SCHEMA:
        raise InputError(f"schema_version {version!r} is newer than this chaoslab reads ({SUPPORTED_SCHEMA})",
                         Location(source), hint="upgrade chaoslab to render this result")
    playbook = doc.get("playbook")
    if version < 2 and isinstance(playbook, Mapping):
        try:
            doc = dict(doc, playbook=playbook_from_v1(playbook, doc))
        except (TypeError, ValueError, AttributeError):
            pass  # a damaged section: the typed reader below says where
    return shown(Report, build(Report, doc, "", source))

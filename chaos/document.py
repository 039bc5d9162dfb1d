"""The result document (``result.json``): one set of frozen, typed values, written and read by one codec.

Both engines' runs, once analysed, become a :class:`ResultDocument` (``chaos.result`` builds it); the
generic codec (:mod:`chaos.codec`) writes it as JSON, its fields in their declared order, and reads it
back into the same types, checking every value. The reports draw these values; the JSON Schema of
result.json (``chaoslab schema result``) is generated from them. What engines and commands add are typed
optional sections, left out of the JSON when absent: ``replications``, ``live`` (a game day),
``playbook`` (an incident response), ``drill`` and ``gate_failed``.

Fields with a default may be missing from a document written by an older chaoslab; the writer always
writes them (except the optional sections). Schema 2 puts every time of the ``playbook`` section on the
incident's clock (seconds from the incident start); a schema-1 document, whose step times were run
times, is read onto that clock (:func:`playbook_from_v1`), its verdicts as recorded. Before schema 3
every latency figure was interpolated in histogram buckets, in either engine, and a service's
``attempts_per_entry_request`` counted every entrypoint: such a document reads as ``latency_estimated``.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos.codec import OMIT_NONE, Inconsistent, build, required_keys, shown, typed
from chaos.errors import InputError, Location
from chaos.incident_states import ClockBase, FindingKind, IncidentOutcome, MarkerKind, NotJudged, StepStatus
from chaos.live_states import LoadStop, RunMode, StackKind
from chaos.measurement import AlertSource, Source
from chaos.model.alerts import FiringMetric
from chaos.model.faults import AnyFaultParams, FaultKind
from chaos.model.playbook import ActionKind, Phase
from chaos.model.slos import ObjectiveKind
from chaos.recovery import Recovery
from chaos.run import Engine

SCHEMA_VERSION = 6  # 2: the playbook section counts time from the incident start
# 3: a service's attempts_per_entry_request counts only the entrypoints that reach it; simulated latency
#    figures are exact, and latency_estimated says whether they are
# 4: every service and entrypoint says what measured it (measured_by); an unmeasured one has no ratio,
#    latency or rate, an SLO or alert expectation on it is unmeasured (measured false), and the blast
#    radius lists the unmeasured services
# 5: a live run measured through the stack's Prometheus records the step it read at (live.resolution_s)
# 6: a drill deadline's 95% interval is Wilson's (ci95_low, ci95_high) instead of a normal half-width ci95
SUPPORTED_SCHEMA = SCHEMA_VERSION



@dataclass(frozen=True, kw_only=True)
class Figures:
    """Whole-run figures of a service or an entrypoint: ``requests`` sent, ``answered`` (ok or
    failed), ``errors`` among the answered; ``answered`` is None in results written before it existed.
    ``measured_by`` says what counted them: when it is ``unmeasured`` nothing did, the counts are 0 and mean
    nothing, and the ratio, latency and rate are None (``unrecorded``: a result written before schema 4, read
    as measured)."""

    measured_by: Source = Source.UNRECORDED
    requests: int
    answered: int | None = None
    errors: int
    error_ratio: float | None
    errors_by_cause: Mapping[str, int] = field(default_factory=dict)
    p50_ms: float | None
    p95_ms: float | None = None
    p99_ms: float | None
    mean_ms: float | None = None
    throughput_rps: float | None = None
    first_breach_s: float | None = None
    attempts_per_entry_request: float | None = None
    hops: int | None = None
    retries: int = 0
    wasted: int = 0
    degraded: int = 0
    # unmeasured: its requests and errors were measured, its latency was not (a source with no latency
    # histogram, as HAProxy's exporter): p50/p95/p99/mean are unknown, a latency SLO on it unmeasured
    latency_measured_by: Source | None = field(default=None, metadata=OMIT_NONE("latency_measured_by"))


@dataclass(frozen=True, kw_only=True)
class Breach:
    service: str
    first_breach_s: float | None
    hops: int | None
    breach_seconds: int
    cause: ObjectiveKind  # which of its objectives broke first


@dataclass(frozen=True, kw_only=True)
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
    unmeasured: tuple[str, ...] = ()  # services nothing measured: in no cascade, and not counted as unhurt

    def measured_count(self, services: int) -> int:
        """How many of the run's ``services`` were measured."""
        return services - len(self.unmeasured)


@dataclass(frozen=True, kw_only=True)
class Objective:
    """One SLO objective's verdict. ``observed`` is a ratio, or milliseconds for latency. ``measured`` false:
    nothing measured its scope, so it is unmeasured: not met, and nothing observed."""

    name: str
    slo: str = ""
    scope: str
    kind: ObjectiveKind
    target: float
    threshold_ms: float | None = None
    percentile: float | None = None
    observed: float | None = None
    bad: int = 0
    total: int = 0
    met: bool
    measured: bool = True
    first_breach_s: float | None = None
    breach_seconds: int = 0


@dataclass(frozen=True, kw_only=True)
class Firing:
    """An alert's firing; ``scope`` is None for a rule-file alert whose labels name no service or entrypoint."""

    name: str
    scope: str | None
    labels: Mapping[str, str] = field(default_factory=dict)  # a rule-file alert instance's labels
    fired_at_s: float
    resolved_at_s: float | None = None
    value: float | None = None
    metric: FiringMetric | None = None  # None in results written before it existed
    # PROMETHEUS: evaluated by the stack's own Prometheus and read back (a live run measured through one);
    # absent: chaoslab evaluated the rule on the run's series
    evaluated_by: AlertSource | None = field(default=None, metadata=OMIT_NONE("evaluated_by"))


@dataclass(frozen=True, kw_only=True)
class Detection:
    fault: str
    start_s: float
    alert: str | None = None
    detected_at_s: float | None = None
    time_to_detect_s: float | None = None
    other_alerts: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AlertExpectation:
    """``measured`` false: the alert's scope was unmeasured, so it could not fire; never met."""

    alert: str
    within_s: float
    fired_at_s: float | None
    met: bool
    measured: bool = True


@dataclass(frozen=True, kw_only=True)
class Fault:
    """A fault as applied: ``end_s`` is when it really ended (a playbook's restart or remove_fault may end
    it early), ``scheduled_end_s`` when the experiment would have ended it (the run's end, for a fault that
    lasts to it). A fault still in effect when the run ended has ``end_s`` null in the simulator."""

    label: str
    kind: FaultKind
    target: str
    start_s: float
    end_s: float | None
    scheduled_end_s: float | None = None
    # the kind's own settings, shaped by ``kind``; None only in a document that lacks them (engines write them)
    params: AnyFaultParams | None = field(default=None, metadata={"tag": "kind", **OMIT_NONE("params")})

    def __post_init__(self) -> None:
        if self.params is not None and self.params.kind is not self.kind:
            raise Inconsistent("params", f"holds the settings of a {self.params.kind.value} fault, "
                                         f"not of a {self.kind.value} one")

    @property
    def ended_early(self) -> bool:
        return (self.end_s is not None and self.scheduled_end_s is not None
                and self.end_s < self.scheduled_end_s - 1e-6)


@dataclass(frozen=True, kw_only=True)
class Marker:
    """Something that happened at a moment: a breaker opened, a replica crashed, a step ran."""

    t_s: float
    kind: MarkerKind
    subject: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class Graph:
    """The call graph: (caller, callee) edges and which service each entrypoint calls."""

    edges: tuple[tuple[str, str], ...] = ()
    entrypoints: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Stat:
    """One figure over every replication, with its mean and a 95% confidence half-width (none of either
    when no replication has the figure; no half-width from one value)."""

    values: tuple[float | None, ...]
    mean: float | None = field(default=None, metadata=OMIT_NONE("mean"))
    ci95: float | None = field(default=None, metadata={"omit": lambda s: s.mean is None})


@dataclass(frozen=True, kw_only=True)
class ReplicatedFigures:
    error_ratio: Stat
    p99_ms: Stat


@dataclass(frozen=True, kw_only=True)
class Replications:
    """Key figures of every replication (the run itself first)."""

    count: int = 0
    seeds: tuple[int, ...] = ()
    slo_met: tuple[bool, ...] = ()
    expectations_met: tuple[bool, ...] = ()  # every alert expectation met, per replication
    entry_failed_ratio: Stat | None = None
    time_to_detect_s: Stat | None = None
    services: Mapping[str, ReplicatedFigures] = field(default_factory=dict)


# --------------------------------------------------------------------------- a game day's own section


class Stopped(enum.Enum):
    """How a game day ended."""

    COMPLETED = "completed"      # it ran to its end
    INTERRUPTED = "interrupted"  # Ctrl-C
    FAILED = "failed"            # an error stopped it
    ABORTED = "aborted"          # its abort condition held
    CLIENT_ERRORS = "client_errors"  # its requests mostly came back as client errors (4xx)


@dataclass(frozen=True, kw_only=True)
class RequestKindLoad:
    """One kind of entry request of a live run: what it is, its planned and sent share, how its requests ended."""

    name: str
    method: str
    target: str
    success: tuple[int, ...] = ()  # status codes that count as a success (empty: any 2xx)
    weight: float = field(default=1.0, metadata={"gt": 0})
    planned_share: float = field(metadata={"ge": 0})
    requests: int = field(metadata={"ge": 0})
    ok: int = field(metadata={"ge": 0})
    failed: int = field(metadata={"ge": 0})
    client_errors: int = field(metadata={"ge": 0})
    client_statuses: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class EntryLoad:
    """What the load generator sent to one entrypoint of a live run, and the client errors it got back."""

    requests: int = field(metadata={"ge": 0})
    client_errors: int = field(metadata={"ge": 0})
    client_statuses: Mapping[str, int] = field(default_factory=dict)
    kinds: tuple[RequestKindLoad, ...] = ()


@dataclass(frozen=True, kw_only=True)
class LoadNote:
    """How the live load ended, and what it sent to each entrypoint."""

    reason: LoadStop
    behind: bool
    warnings: tuple[str, ...] = ()
    entrypoints: Mapping[str, EntryLoad] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class LiveSection:
    """What only a live run has: the stack it ran on, how it stopped, how the measurement went."""

    stack: str
    stack_kind: StackKind
    run_id: str
    mode: RunMode
    stopped: Stopped
    abort_reason: str | None = None
    seconds_measured: int = 0
    load_workers: int = 0
    load: LoadNote | None = None
    metric_gaps: int = 0
    notes: tuple[str, ...] = ()
    resolution_s: int | None = field(default=None, metadata=OMIT_NONE("resolution_s"))
    # the step, in seconds, at which the services measured through the stack's Prometheus were read


# --------------------------------------------------------------------------- an incident response


@dataclass(frozen=True, kw_only=True)
class Clock:
    """The incident's clock: every time of the playbook section counts from its second 0, which is
    ``start_run_s`` on the run's clock; the run ends at ``run_end_s`` on the incident's."""

    base: ClockBase
    start_run_s: float
    run_end_s: float

    def run_time(self, t: float) -> float:
        return t + self.start_run_s


@dataclass(frozen=True, kw_only=True)
class BudgetBurn:
    """How much of the whole run's error budget one SLO burned during the incident (1.0: all of it)."""

    slo: str = ""
    scope: str = ""
    burned: float | None = None


@dataclass(frozen=True, kw_only=True)
class Incident:
    """How the response went; times are seconds since the incident start (``PlaybookSection.clock``)."""

    outcome: IncidentOutcome | None = None
    trigger: str | None = None             # the alert that triggered it, or "at"
    triggered_s: float | None = None       # negative: the trigger fired before the incident start
    trigger_before_start: bool = False
    finished_s: float | None = None
    time_to_detect_s: float | None = None
    time_to_acknowledge_s: float | None = None
    time_to_mitigate_s: float | None = None
    time_to_recover_s: float | None = None
    recovery: Recovery | None = None       # why time_to_recover_s is null: not recovered, or not measurable
    error_budget_burned: tuple[BudgetBurn, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Step:
    """A step as it ran; every time in seconds since the incident start, deadlines too."""

    name: str
    role: str = ""
    action: ActionKind
    target: str | None = None
    start_s: float | None = None
    acted_s: float | None = None
    end_s: float | None = None
    deadline_s: float | None = None
    met: bool | None = None
    not_judged: NotJudged | None = None
    status: StepStatus
    verify: str | None = None
    verified_at_s: float | None = None
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Deadline:
    """A phase deadline of one incident: ``actual_s`` and ``deadline_s`` count from the incident's start.
    ``met`` is None when the run ended before the deadline, so it could not be judged."""

    name: str
    phase: Phase
    deadline_s: float
    actual_s: float | None
    met: bool | None
    not_judged: NotJudged | None = None
    required: float | None = None


@dataclass(frozen=True, kw_only=True)
class Finding:
    """Something a reviewer of the playbook would want pointed out (``kind``), about a step or the whole."""

    kind: FindingKind
    step: str | None = None
    message: str


@dataclass(frozen=True, kw_only=True)
class Trigger:
    """What starts the response: alert names, or a fixed time of the run."""

    alerts: tuple[str, ...] = ()
    at_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class PlaybookSection:
    """The response to the incident, judged; ``roles``: when each role responded, on the incident's clock."""

    name: str = "playbook"
    trigger: Trigger = Trigger()
    clock: Clock | None = None  # None: no fault, and the response was never triggered
    incident: Incident = Incident()
    steps: tuple[Step, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    findings: tuple[Finding, ...] = ()
    roles: Mapping[str, float | None] = field(default_factory=dict)

    @property
    def not_triggered(self) -> bool:
        return self.incident.outcome is IncidentOutcome.NOT_TRIGGERED

    @property
    def deadlines_met(self) -> bool:
        """No phase or step deadline missed (unjudged ones, e.g. not triggered, do not count)."""
        return all(d.met is not False for d in self.deadlines) and all(s.met is not False for s in self.steps)

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


# --------------------------------------------------------------------------- a drill


@dataclass(frozen=True, kw_only=True)
class PhaseStats:
    """A figure over a drill's runs: a phase's elapsed time (None: not reached in that run, or, for
    ``not_measurable`` of them, the run ended too soon after the mitigation to show a recovery)."""

    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    mean: float | None = None
    reached: int | None = None
    not_measurable: int | None = field(default=None, metadata=OMIT_NONE("not_measurable"))  # the recover phase
    values: tuple[float | None, ...] = ()


@dataclass(frozen=True, kw_only=True)
class DrillDeadline:
    """The share of runs meeting a phase deadline, with its 95% interval (Wilson's score interval, so
    it is neither empty nor outside [0, 1] at 0% and 100%), against the share required (None: none
    required)."""

    name: str
    phase: Phase
    deadline_s: float
    p_met: float
    ci95_low: float
    ci95_high: float
    required: float | None
    undecided: int = 0
    not_triggered: int = 0
    met: bool | None


@dataclass(frozen=True, kw_only=True)
class DrillStep:
    name: str
    p_met: float | None = None
    p_reached: float | None = None
    p50_end_s: float | None = None
    p90_end_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class DrillSection:
    """One playbook against many simulated incidents (seed, seed+1, ...)."""

    runs: int = 0
    seeds: tuple[int, ...] = ()
    not_triggered: int = 0
    phases: Mapping[str, PhaseStats] = field(default_factory=dict)
    deadlines: tuple[DrillDeadline, ...] = ()
    steps: tuple[DrillStep, ...] = ()
    findings: tuple[Finding, ...] = ()
    slo_met_share: float | None = None
    entry_failed_ratio: PhaseStats | None = None

    @property
    def gate_failed(self) -> bool:
        return any(d.met is False for d in self.deadlines)


# --------------------------------------------------------------------------- the series


@dataclass(frozen=True, kw_only=True)
class ScopeSeries:
    """Per-second figures of one scope (index i covers seconds [i, i+1)); a column the engine did not
    record is all None. The error columns are one per cause (``chaos.run.Cause``)."""

    requests: tuple[float | None, ...] = ()
    ok: tuple[float | None, ...] = ()
    errors: tuple[float | None, ...] = ()
    timeout: tuple[float | None, ...] = ()
    rejected: tuple[float | None, ...] = ()
    circuit_open: tuple[float | None, ...] = ()
    crashed: tuple[float | None, ...] = ()
    injected: tuple[float | None, ...] = ()
    dependency: tuple[float | None, ...] = ()
    p50_ms: tuple[float | None, ...] = ()
    p95_ms: tuple[float | None, ...] = ()
    p99_ms: tuple[float | None, ...] = ()
    mean_ms: tuple[float | None, ...] = ()
    queue: tuple[float | None, ...] = ()
    busy: tuple[float | None, ...] = ()
    retries: tuple[float | None, ...] = ()
    wasted: tuple[float | None, ...] = ()
    degraded: tuple[float | None, ...] = ()

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


SERIES_COLUMNS = tuple(f.name for f in dataclasses.fields(ScopeSeries))


@dataclass(frozen=True, kw_only=True)
class Series:
    t_s: tuple[float, ...] = ()
    columns: tuple[str, ...] = ()
    scopes: Mapping[str, ScopeSeries]

    def __post_init__(self) -> None:
        filled = {}
        for name, scope in self.scopes.items():
            try:
                filled[name] = scope.filled(len(self.t_s))
            except Inconsistent as exc:
                raise Inconsistent(f"scopes.{name}.{exc.where}", exc.message) from None
        object.__setattr__(self, "scopes", filled)


# --------------------------------------------------------------------------- the document


@dataclass(frozen=True, kw_only=True)
class ResultDocument:
    """A run and its analysis, as ``result.json`` holds it. ``services`` keeps the topology's order.

    The fields without a default are the keys every result document has; the others are figures a
    document written by an older chaoslab may lack, and the optional sections (None when absent).
    """

    schema_version: int = SCHEMA_VERSION
    engine: Engine
    experiment: str
    topology: str = ""
    seed: int | None = None
    duration_s: float = field(metadata={"gt": 0})
    warmup_s: float = field(default=0.0, metadata={"ge": 0})
    slo_met: bool
    time_to_detect_s: float | None = None
    latency_estimated: bool = False  # latency percentiles interpolated in histogram buckets (live)
    blast: Blast = field(metadata={"key": "blast_radius"})
    services: Mapping[str, Figures]
    entrypoints: Mapping[str, Figures]
    # a level below services: by service, then operation; only services that declare operations
    operations: Mapping[str, Mapping[str, Figures]] = field(default_factory=dict,
                                                            metadata={"omit": lambda d: not d.operations})
    slos: tuple[Objective, ...]
    alerts: tuple[Firing, ...] = ()
    detections: tuple[Detection, ...] = ()
    alert_expectations: tuple[AlertExpectation, ...] = ()
    faults: tuple[Fault, ...] = ()
    markers: tuple[Marker, ...] = ()
    graph: Graph | None = None
    replications: Replications | None = field(default=None, metadata=OMIT_NONE("replications"))
    notes: tuple[str, ...] = field(default=(), metadata={"omit": lambda d: not d.notes})  # the analysis' remarks
    # a simulation that evaluated the team's rule files (prometheus_rules, slo_specs): the scrape interval, in
    # seconds, of the samples it evaluated them on (metrics: scrape_interval); compare sets it beside the step a
    # live run read its Prometheus at (live.resolution_s)
    scrape_interval_s: int | None = field(default=None, metadata=OMIT_NONE("scrape_interval_s"))
    live: LiveSection | None = field(default=None, metadata=OMIT_NONE("live"))
    playbook: PlaybookSection | None = field(default=None, metadata=OMIT_NONE("playbook"))
    drill: DrillSection | None = field(default=None, metadata=OMIT_NONE("drill"))
    gate_failed: bool | None = field(default=None, metadata=OMIT_NONE("gate_failed"))
    series: Series
    audit: Mapping[str, Any] = field(default_factory=dict)

    @property
    def first_fault_s(self) -> float | None:
        return min((f.start_s for f in self.faults), default=None)


REQUIRED = required_keys(ResultDocument)
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


def read(doc: Mapping[str, Any], source: str = "result.json") -> ResultDocument:
    """The typed document of a parsed ``result.json``; ``source`` names it in error messages.

    Every value is checked against its declared type here, once: a damaged document is an InputError
    naming the file and the JSON path of the bad value. Then every string of the checked document,
    mapping keys too, is made :func:`chaos.codec.shown`, so no report, figure or terminal line draws a
    control character from the document.
    """
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise InputError(f"not a chaoslab result: missing {', '.join(repr(k) for k in missing)}", Location(source))
    version = typed(int, doc.get("schema_version", SUPPORTED_SCHEMA), "schema_version", source)
    if version > SUPPORTED_SCHEMA:
        raise InputError(f"schema_version {version!r} is newer than this chaoslab reads ({SUPPORTED_SCHEMA})",
                         Location(source), hint="upgrade chaoslab to render this result")
    if version < 3:  # every latency figure came from histogram buckets then, in either engine
        doc = dict(doc, latency_estimated=True)
    playbook = doc.get("playbook")
    if version < 2 and isinstance(playbook, Mapping):
        try:
            doc = dict(doc, playbook=playbook_from_v1(playbook, doc))
        except (TypeError, ValueError, AttributeError):
            pass  # a damaged section: the typed reader below says where
    if version < 6:
        doc = _drill_from_v5(doc)
    doc = dict(doc, schema_version=SCHEMA_VERSION)  # read into the current shape, it is a current document
    checked: ResultDocument = shown(ResultDocument, build(ResultDocument, doc, "", source))
    return checked




def _drill_from_v5(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """A schema-5 drill deadline held a symmetric half-width ``ci95``: as the interval it stated, clipped
    to [0, 1] (what that document claimed, not recomputed)."""
    drill = doc.get("drill")
    if not isinstance(drill, Mapping) or not isinstance(drill.get("deadlines"), list):
        return doc
    deadlines = []
    for d in drill["deadlines"]:
        if isinstance(d, Mapping) and "ci95" in d and isinstance(d.get("p_met"), (int, float)):
            half = d["ci95"] if isinstance(d["ci95"], (int, float)) else 0.0
            d = {k: v for k, v in d.items() if k != "ci95"}
            d.update(ci95_low=max(0.0, d["p_met"] - half), ci95_high=min(1.0, d["p_met"] + half))
        deadlines.append(d)
    return dict(doc, drill=dict(drill, deadlines=deadlines))


def as_document(doc: ResultDocument | Mapping[str, Any], source: str = "result.json") -> ResultDocument:
    """``doc`` typed: itself, or a parsed result.json decoded once through :func:`read`. For the readers
    (the summary, the sim/live comparison) that a command calls with the JSON it has just written."""
    return doc if isinstance(doc, ResultDocument) else read(doc, source)

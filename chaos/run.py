"""What an engine measured: the one record both the simulator and the live driver produce.

A :class:`Run` holds per-second :class:`Series` for every scope (each service, as its
callers saw it, and each entrypoint, as its users saw it), whole-run :class:`Totals`
over the measured window (after warm-up), the faults as they were really applied, and
:class:`Marker` events (breakers opening, replicas crashing, playbook steps).

Analysis (``chaos.analysis``) is pure functions of a Run; reports draw what analysis
returns. Nothing here knows which engine filled it in.

Per-service figures count *attempts sent to the service*, each with the outcome its
caller saw: ``ok``, or an error by :class:`Cause`. Latency is over successful
attempts, from the caller's send to the answer (SRE practice: errors are counted, not
timed). An attempt answered after its caller gave up counts as ``timeout``, and the
work spent on it as ``wasted``.
"""

from __future__ import annotations

import enum
import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# The causes and the latency buckets are the behaviour core's, shared with the emulator; re-exported.
from chaos.core.causes import Cause
from chaos.core.latency import as_bound, count_above, latency_bounds  # noqa: F401
from chaos.incident_states import IncidentOutcome, MarkerKind, StepStatus
from chaos.measurement import Source
from chaos.metrics.buckets import exact_bounds
from chaos.model.alerts import ThresholdRule
from chaos.model.experiment import Experiment
from chaos.model.faults import AnyFaultParams, FaultKind
from chaos.model.playbook import ActionKind
from chaos.model.scope import Scope

CAUSES: tuple[Cause, ...] = tuple(Cause)


def experiment_bounds(experiment: Experiment) -> tuple[float, ...]:
    """The bounds of a run of ``experiment``, in either engine: every latency threshold of its SLOs and
    percentile alerts is an exact bound, and so are the metric mapping's histogram buckets and the le
    values its rule files select (``chaos.metrics.buckets``)."""
    extra = [o.threshold for o in experiment.objectives if o.threshold is not None]
    extra += [r.threshold for r in experiment.alert_rules
              if isinstance(r, ThresholdRule) and r.metric.percentile is not None]
    extra += exact_bounds(experiment)
    return latency_bounds(tuple(extra))


@dataclass
class LatencySamples:
    """Every latency (seconds) a Series' histograms count, second by second, for exact percentiles.

    Second i's values, sorted, are ``values[starts[i]:starts[i + 1]]``. The simulator keeps them:
    8 bytes a successful request and 8 a second per scope (``benchmarks/latency_samples.py``).
    Live metrics are histograms only; a live Series has none, and its percentiles are estimates
    interpolated within a bucket (``percentile_from_hist``).
    """

    values: array[float] = field(default_factory=lambda: array("d"))
    starts: array[int] = field(default_factory=lambda: array("q", [0]))

    def append(self, second: Sequence[float]) -> None:
        """The next second's latencies, sorted."""
        self.values.extend(second)
        self.starts.append(len(self.values))

    def window(self, lo: int, hi: int) -> list[float]:
        """Seconds [lo, hi) as one sorted list."""
        return sorted(self.values[self.starts[lo]:self.starts[hi]])


@dataclass
class Series:
    """Per-second figures of one scope; index i covers simulated (or wall) seconds [i, i+1)."""

    requests: list[int] = field(default_factory=list)
    ok: list[int] = field(default_factory=list)
    errors: dict[Cause, list[int]] = field(default_factory=lambda: {c: [] for c in CAUSES})
    p50_ms: list[float | None] = field(default_factory=list)
    p95_ms: list[float | None] = field(default_factory=list)
    p99_ms: list[float | None] = field(default_factory=list)
    mean_ms: list[float | None] = field(default_factory=list)
    queue: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    retries: list[int] = field(default_factory=list)
    wasted: list[int] = field(default_factory=list)
    degraded: list[int] = field(default_factory=list)
    hist: list[dict[int, int]] = field(default_factory=list)  # latency bucket index -> count
    samples: LatencySamples | None = None  # the latencies themselves, where the engine kept them

    def __len__(self) -> int:
        return len(self.requests)

    def failed(self, i: int) -> int:
        return sum(self.errors[c][i] for c in CAUSES)

    def failed_series(self) -> list[int]:
        cols = [self.errors[c] for c in CAUSES]
        return [sum(vals) for vals in zip(*cols, strict=True)] if cols and cols[0] else [0] * len(self)


@dataclass
class Totals:
    """Whole-run figures of one scope over the measured window (after warm-up)."""

    requests: int = 0
    ok: int = 0
    errors: dict[Cause, int] = field(default_factory=lambda: {c: 0 for c in CAUSES})
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    retries: int = 0
    wasted: int = 0
    degraded: int = 0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def answered(self) -> int:
        return self.ok + self.failed

    @property
    def error_ratio(self) -> float:
        """Failed / answered: requests still in flight at either end of the window do not count."""
        return self.failed / self.answered if self.answered else 0.0


@dataclass(frozen=True)
class FaultWindow:
    """A fault as it was really applied: when it started and when it was reverted (None: never)."""

    label: str
    target: str
    start_s: float
    end_s: float | None
    params: AnyFaultParams = field(compare=False)  # the kind's settings; its TAG is the fault's kind

    @property
    def kind(self) -> FaultKind:
        return self.params.kind


@dataclass(frozen=True)
class Marker:
    """Something that happened at a moment: a breaker opened, a replica crashed, a step ran."""

    t_s: float
    kind: MarkerKind
    subject: str
    detail: str = ""


@dataclass
class StepRecord:
    """When a playbook step ran and how it ended; None: it never got that far.

    Times are the run's clock, as the engine saw them; ``chaos.analysis.incident`` puts them
    on the incident's clock for result.json."""

    name: str
    role: str
    action: ActionKind
    target: str = ""
    start_s: float | None = None
    acted_s: float | None = None        # the action took effect (end of its duration)
    end_s: float | None = None          # over: verified, or failed, or acted when there is no verify
    verified_at_s: float | None = None
    status: StepStatus = StepStatus.NOT_REACHED
    note: str = ""


@dataclass
class IncidentRecord:
    """The response to one incident, as it happened (simulated or on a game day)."""

    playbook: str
    triggered_s: float | None = None
    trigger: str | None = None          # the alert that triggered it, or "at"
    steps: list[StepRecord] = field(default_factory=list)
    engaged: dict[str, float] = field(default_factory=dict)  # role -> when it responded
    acknowledged_s: float | None = None
    finished_s: float | None = None     # the response ended (last step over, stopped or aborted)
    aborted: bool = False

    @property
    def outcome(self) -> IncidentOutcome:
        if self.triggered_s is None:
            return IncidentOutcome.NOT_TRIGGERED
        if self.aborted:
            return IncidentOutcome.ABORTED
        return IncidentOutcome.COMPLETED if self.finished_s is not None else IncidentOutcome.UNFINISHED


class Engine(enum.Enum):
    """Which engine filled in a run: the simulator, or a live game day."""

    SIM = "sim"
    LIVE = "live"


@dataclass(frozen=True)
class AlertSamples:
    """One alert instance's ``ALERTS{alertstate="firing"}`` samples as a Prometheus wrote them: one per
    evaluation at which it was firing, each at its time in seconds of the run (negative: before second 0)."""

    alert: str
    labels: tuple[tuple[str, str], ...]  # the instance's labels, alertname and alertstate aside
    at_s: tuple[float, ...]
    interval_s: float                    # its group's evaluation interval, as the server reported it


@dataclass(frozen=True)
class EvaluatedAlerts:
    """The experiment's rule-file alerts as the stack's own Prometheus evaluated them (a live run measured
    through one): what was read, not what it means (``chaos.analysis.prometheus_alerts`` says that)."""

    url: str
    alerts: tuple[str, ...]             # the alerts read (every one the experiment's rule files define)
    end_s: float                        # the samples were read up to this second of the run
    samples: tuple[AlertSamples, ...]


@dataclass
class Run:
    """Everything an engine measured in one run of one experiment."""

    engine: Engine
    experiment: Experiment
    seed: int
    duration_s: float
    warmup_s: float
    bounds: tuple[float, ...]
    series: dict[Scope, Series]
    totals: dict[Scope, Totals]
    faults: list[FaultWindow] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    incident: IncidentRecord | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    sources: dict[Scope, Source] = field(default_factory=dict)  # what measured each scope (see source())
    evaluated_alerts: EvaluatedAlerts | None = None  # rule-file alerts as the stack's Prometheus fired them
    # measured scopes whose source counts requests and errors but keeps no latency histogram (HAProxy's
    # exporter: averages only): their latency is unknown, not fast
    latency_unmeasured: frozenset[Scope] = frozenset()

    def source(self, scope: Scope) -> Source:
        """What measured ``scope``: the simulator measures everything; a live run names each scope's source,
        and a scope it does not name was measured by an engine too old to say."""
        return self.sources.get(scope, Source.SIMULATOR if self.engine is Engine.SIM else Source.UNRECORDED)

    def measured(self, scope: Scope) -> bool:
        return self.source(scope).measured

    def latency_measured(self, scope: Scope) -> bool:
        return self.measured(scope) and scope not in self.latency_unmeasured

    @property
    def seconds(self) -> int:
        return max((len(s) for s in self.series.values()), default=0)

    @property
    def first_measured(self) -> int:
        """Index of the first second after warm-up."""
        return int(math.ceil(self.warmup_s - 1e-9))


def quantile(xs: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of a sorted sample: linear interpolation between order statistics."""
    n = len(xs)
    if n == 1:
        return xs[0]
    pos = q * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def percentile_from_hist(hist: dict[int, int], bounds: tuple[float, ...], q: float) -> float | None:
    """The q-quantile (0..1) of a bucketed latency sample, interpolated linearly inside its bucket."""
    total = sum(hist.values())
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for idx in sorted(hist):
        count = hist[idx]
        if seen + count >= rank:
            lo = bounds[idx - 1] if idx > 0 else 0.0
            hi = bounds[idx] if idx < len(bounds) else bounds[-1] * 2
            frac = (rank - seen) / count if count else 0.0
            return lo + (hi - lo) * frac
        seen += count
    return bounds[-1]


def merge_hists(hists: list[dict[int, int]]) -> dict[int, int]:
    out: dict[int, int] = {}
    for h in hists:
        for k, v in h.items():
            out[k] = out.get(k, 0) + v
    return out

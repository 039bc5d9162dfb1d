"""The fault vocabulary, shared by the simulator and live game days.

Each fault has a ``kind``, a ``target`` (a service ``db``, an edge ``cart->db``, or an
entrypoint ``web`` / ``*`` for load spikes), a start ``at`` and a ``duration`` (none:
to the end of the run)::

    faults:
      - {kind: latency, target: db, at: 60s, duration: 2m, delay: 400ms, jitter: 50ms}
      - {kind: crash, target: cart, replicas: 1, at: 90s, duration: 30s}
      - {kind: partition, target: checkout->payment, at: 2m, duration: 20s}
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from dataclasses import dataclass
from typing import Annotated, ClassVar

from chaos.model.bounds import MAX_FACTOR, MAX_REPLICAS, MAX_SPIKE_FACTOR
from chaos.model.parsing import NAME, Model, Seconds, Tagged, fld
from chaos.model.quantities import Factor, Ratio, describe_fields, field_values


class TargetKind(enum.Enum):
    SERVICE = "service"
    EDGE = "edge"
    ENTRYPOINT = "entrypoint"


class FaultKind(enum.Enum):
    CRASH = "crash"
    HANG = "hang"
    LATENCY = "latency"
    ERRORS = "errors"
    SLOWDOWN = "slowdown"
    PARTITION = "partition"
    PACKET_LOSS = "packet_loss"
    LOAD_SPIKE = "load_spike"
    COLD_START = "cold_start"


@dataclass(frozen=True, kw_only=True)
class FaultParams(Model):
    """A fault kind's own settings, apart from its target and time window: what result.json records as the
    fault's ``params``, its ``kind`` saying which kind's (the codec reads them as a union tagged by it).

    Each kind's fault class is built from its params class (``class Latency(LatencyParams, Fault)``), so a
    setting is declared once, for the YAML, the result document and its schema. A live run adds the driver
    that applied the fault and what it did (``driver``, ``live``): never read from YAML, and left out of the
    document while None, as is every optional setting that is not set.
    """

    driver: str | None = fld(None, internal=True, omit_none=True, doc="the live driver that applied the fault")
    live: str | None = fld(None, internal=True, omit_none=True, doc="what the live driver did, for people")

    @property
    def kind(self) -> FaultKind:
        return FaultKind(self.TAG)


@dataclass(frozen=True, kw_only=True)
class Fault(Model):
    """What every fault has: a target and a time window."""

    TARGETS: ClassVar[frozenset[TargetKind]] = frozenset({TargetKind.SERVICE})
    target: str = fld(doc="a service, an edge 'caller->callee', or an entrypoint ('*': all)")
    at: Seconds = fld(0.0, doc="when the fault starts")
    duration: Seconds | None = fld(None, gt=0, doc="how long it lasts; none: to the end of the run")
    name: str | None = fld(None, text=NAME, doc="a name playbooks can refer to (default: kind and target)")

    @property
    def kind(self) -> FaultKind:
        return FaultKind(self.TAG)

    @property
    def label(self) -> str:
        operation = getattr(self, "operation", None)
        scope = self.target if operation is None else f"{self.target}.{operation}"
        return self.name or f"{self.TAG}:{scope}"

    def end(self, run_duration: float) -> float:
        return run_duration if self.duration is None else min(run_duration, self.at + self.duration)

    def params(self, **notes: str) -> AnyFaultParams:
        """The kind's own settings as a value of its params class, with a live run's ``notes`` (``driver``,
        ``live``) if any."""
        cls = params_class(type(self))
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(cls)}
        return typing.cast(AnyFaultParams, cls(**{**values, **notes}))


def params_class(cls: type[Fault]) -> type[FaultParams]:
    """The params class a fault class is built from (``LatencyParams`` for ``Latency``)."""
    return next(c for c in cls.__mro__ if issubclass(c, FaultParams) and not issubclass(c, Fault))


@dataclass(frozen=True)
class ColdCache(Model):
    """After a restart the service is slower, recovering exponentially."""

    factor: Factor = fld(3.0, ge=1, le=MAX_FACTOR, doc="service-time multiplier right after the restart")
    decay: Seconds = fld(30.0, gt=0, doc="time constant of the recovery")


@dataclass(frozen=True, kw_only=True)
class CrashParams(FaultParams):
    """A crash's settings: how many replicas go down, and whether they restart cold."""

    TAG = "crash"
    replicas: int | None = fld(None, ge=1, le=MAX_REPLICAS, omit_none=True,
                               doc="how many replicas crash (default: all)")
    cold_start: ColdCache | None = fld(None, omit_none=True, doc="restarted replicas start cold")


@dataclass(frozen=True, kw_only=True)
class Crash(CrashParams, Fault):
    """Replicas go down (in-flight requests fail at once) and come back after ``duration``, or never."""


@dataclass(frozen=True, kw_only=True)
class HangParams(FaultParams):
    """A hang's settings: none beyond its target and window."""

    TAG = "hang"


@dataclass(frozen=True, kw_only=True)
class Hang(HangParams, Fault):
    """Requests are accepted and never answered: callers wait until their timeout."""


@dataclass(frozen=True, kw_only=True)
class LatencyParams(FaultParams):
    """A latency fault's settings: the delay added, its jitter, and the operation it is limited to."""

    TAG = "latency"
    delay: Seconds = fld(doc="added delay")
    jitter: Seconds = fld(0.0, doc="the delay varies uniformly by this much either way")
    operation: str | None = fld(None, text=NAME, omit_none=True,
                                doc="only the responses of this operation of the target service")


@dataclass(frozen=True, kw_only=True)
class Latency(LatencyParams, Fault):
    """Every response on the target is delayed by ``delay`` plus or minus ``jitter`` (uniform)."""

    TARGETS = frozenset({TargetKind.SERVICE, TargetKind.EDGE})

    def validate(self) -> None:
        if self.jitter > self.delay:
            raise self.error("jitter", f"jitter ({self.jitter:g}s) larger than the delay ({self.delay:g}s) "
                                       "would make delays negative")


@dataclass(frozen=True, kw_only=True)
class ErrorsParams(FaultParams):
    """An errors fault's settings: the share of requests that fail, and the operation it is limited to."""

    TAG = "errors"
    ratio: Ratio = fld(gt=0, le=1, doc="share of requests that fail")
    operation: str | None = fld(None, text=NAME, omit_none=True,
                                doc="only the requests of this operation of the target service")


@dataclass(frozen=True, kw_only=True)
class Errors(ErrorsParams, Fault):
    """A share of requests fail fast."""

    TARGETS = frozenset({TargetKind.SERVICE, TargetKind.EDGE})


@dataclass(frozen=True, kw_only=True)
class SlowdownParams(FaultParams):
    """A slowdown's settings: the service-time multiplier."""

    TAG = "slowdown"
    factor: Factor = fld(gt=0, le=MAX_FACTOR, doc="service-time multiplier (2: twice as slow)")


@dataclass(frozen=True, kw_only=True)
class Slowdown(SlowdownParams, Fault):
    """Service time is multiplied by ``factor``, like a CPU throttle."""


@dataclass(frozen=True, kw_only=True)
class PartitionParams(FaultParams):
    """A partition's settings: none beyond its target and window."""

    TAG = "partition"


@dataclass(frozen=True, kw_only=True)
class Partition(PartitionParams, Fault):
    """Every call over the edge (or to the service) is dropped: callers see timeouts."""

    TARGETS = frozenset({TargetKind.SERVICE, TargetKind.EDGE})


@dataclass(frozen=True, kw_only=True)
class PacketLossParams(FaultParams):
    """A packet loss's settings: the share of calls lost."""

    TAG = "packet_loss"
    ratio: Ratio = fld(gt=0, le=1, doc="share of calls lost")


@dataclass(frozen=True, kw_only=True)
class PacketLoss(PacketLossParams, Fault):
    """A share of calls over the edge (or to the service) is lost: those callers see timeouts."""

    TARGETS = frozenset({TargetKind.SERVICE, TargetKind.EDGE})


@dataclass(frozen=True, kw_only=True)
class LoadSpikeParams(FaultParams):
    """A load spike's settings: the arrival-rate multiplier."""

    TAG = "load_spike"
    factor: Factor = fld(gt=0, le=MAX_SPIKE_FACTOR, doc="arrival-rate multiplier")


@dataclass(frozen=True, kw_only=True)
class LoadSpike(LoadSpikeParams, Fault):
    """The arrival rate at an entrypoint ('*': all) is multiplied by ``factor``."""

    TARGETS = frozenset({TargetKind.ENTRYPOINT})


@dataclass(frozen=True, kw_only=True)
class ColdStartParams(FaultParams):
    """A cold start's settings: the service-time multiplier at its start and how fast it decays."""

    TAG = "cold_start"
    factor: Factor = fld(3.0, ge=1, le=MAX_FACTOR, doc="service-time multiplier right at 'at'")
    decay: Seconds = fld(30.0, gt=0, doc="time constant of the recovery")


@dataclass(frozen=True, kw_only=True)
class ColdStart(ColdStartParams, Fault):
    """The service restarts cold: service time is raised and decays back (a deploy, a cache flush)."""


FAULT_CLASSES: tuple[type[Fault], ...] = (Crash, Hang, Latency, Errors, Slowdown, Partition, PacketLoss,
                                          LoadSpike, ColdStart)
WINDOW_KEYS = frozenset({"target", "at", "duration", "name"})  # what every fault has; the rest are its params


def describe_params(params: FaultParams | None) -> str:
    """A fault's params (as ``Fault.params`` gives them, or read back from result.json) in words with
    units: ``delay 250 ms, jitter 50 ms``; ``1 replica, cold start (factor 3×, decay 20 s)``; a live run's
    driver and what it did follow as they are; nothing for none (a document that lacks them)."""
    if params is None:
        return ""
    notes = {key: value for key, value in (("driver", params.driver), ("live", params.live)) if value is not None}
    return describe_fields(type(params), {**field_values(params), **notes})


AnyFault = Crash | Hang | Latency | Errors | Slowdown | Partition | PacketLoss | LoadSpike | ColdStart
FaultSpec = Annotated[AnyFault, Tagged("kind")]
AnyFaultParams = (CrashParams | HangParams | LatencyParams | ErrorsParams | SlowdownParams | PartitionParams
                  | PacketLossParams | LoadSpikeParams | ColdStartParams)
"""A fault's params, as result.json records them: which member, its ``kind`` says."""

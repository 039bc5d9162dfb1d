"""What a fault driver can be asked to do, as typed values, and how they go to the journal and back.

An :class:`Action` is one operation of one driver, planned for one stack. Its parameters are a
frozen value of the operation's own type (one class per operation, below), which also says
which driver does it and which operation it is (``action.driver``, ``action.op``): a driver
reads typed fields, never a dict by key, and an operation no driver knows cannot be built.

A :class:`Handle` is an action as a driver did it: the action, plus what the driver learned
that undoing it needs (one class per kind of undo information: the toxic's name, the
containers it killed, the CPU quota it replaced, the policy it overwrote). It holds everything
a revert needs without the experiment or the stack, so ``chaoslab recover`` can undo it from the
journal alone.

The journal stores a handle as one JSON object (:func:`handle_to_json`, :func:`handle_from_json`),
the shape it has had since the journal exists (journal version 1)::

    {"id": "f1", "driver": "toxiproxy", "op": "add_toxic", "label": "slow-db", "kind": "latency",
     "target": "api->db", "targets": ["api--db-1"],
     "params": {"api": "http://127.0.0.1:21005", "type": "latency", "stream": "downstream", ...},
     "toxic": "chaoslab-0a1b2c3d-f1"}

The keys after ``params`` are the undo information; a fake driver's handle has ``"fake": true``
there instead (:class:`Faked`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from chaos.errors import RunError
from chaos.live.faults.codec import KEEP, CodecError, Keep, from_json, to_json
from chaos.live.in_container.stackspec import Breaker, Retries
from chaos.live.in_container.toxiproxy.model import Stream, ToxicType
from chaos.model.faults import FaultKind
from chaos.model.playbook import ActionKind

U = TypeVar("U")


class DriverKind(enum.Enum):
    TOXIPROXY = "toxiproxy"  # network faults on edges, through proxies
    DOCKER = "docker"        # containers: kill, pause, throttle, disconnect, packet loss in the netns
    EMULATOR = "emulator"    # chaoslab's emulator admin API: errors, slowdown, hang, cold start
    LOAD = "load"            # load spikes: the load generator's business
    FAKE = "fake"            # records, does nothing


class ToxiproxyOp(enum.Enum):
    ADD_TOXIC = "add_toxic"
    DISABLE = "disable"


class DockerOp(enum.Enum):
    KILL = "kill"
    STOP = "stop"
    PAUSE = "pause"
    RESTART = "restart"
    CPU = "cpu"
    DISCONNECT = "disconnect"
    DROP = "drop"


class EmulatorOp(enum.Enum):
    SET = "set"
    COLD_START = "cold_start"
    CALLS = "calls"
    ADMISSION = "admission"
    EDGE_ERRORS = "edge_errors"
    OPERATION_FAULTS = "operation_faults"


class LoadOp(enum.Enum):
    SPIKE = "spike"


class FakeOp(enum.Enum):
    NOTHING = "nothing"


Op = ToxiproxyOp | DockerOp | EmulatorOp | LoadOp | FakeOp

# What an action was planned for: a fault of the experiment (its kind) or a playbook step's change
# (its action's kind). The model's own enums; their values are disjoint, so the journal's string
# says which (``test_journal`` checks that they stay so).
Cause = FaultKind | ActionKind


# --------------------------------------------------------------------------- parameters, one class per operation


@dataclass(frozen=True)
class ColdStart:
    factor: float     # service times multiplied by this at the start ...
    decay_s: float    # ... decaying to 1 over this long


@dataclass(frozen=True)
class AddToxic:
    """A toxic on every proxy of the action's targets."""

    DRIVER: ClassVar[DriverKind] = DriverKind.TOXIPROXY
    OP: ClassVar[ToxiproxyOp] = ToxiproxyOp.ADD_TOXIC
    api: str
    type: ToxicType
    stream: Stream = Stream.DOWNSTREAM
    toxicity: float = 1.0
    attributes: Mapping[str, int] = field(default_factory=dict)
    container: str | None = None  # the Toxiproxy container, asked where it stands when it does not answer


@dataclass(frozen=True)
class DisableProxies:
    """The action's proxies disabled: connections refused."""

    DRIVER: ClassVar[DriverKind] = DriverKind.TOXIPROXY
    OP: ClassVar[ToxiproxyOp] = ToxiproxyOp.DISABLE
    api: str
    container: str | None = None


@dataclass(frozen=True)
class Kill:
    """SIGKILL some running replicas; the revert starts them again, waits until healthy, starts them cold."""

    DRIVER: ClassVar[DriverKind] = DriverKind.DOCKER
    OP: ClassVar[DockerOp] = DockerOp.KILL
    count: int | None = None                     # None: every running replica
    cold_start: ColdStart | None = None
    admin: Mapping[str, str] = field(default_factory=dict)   # container -> emulator admin URL
    health: Mapping[str, str] = field(default_factory=dict)  # container -> health URL
    stand_in_image: str | None = None            # an image to hold the victim's names while it is down


@dataclass(frozen=True)
class Stop:
    DRIVER: ClassVar[DriverKind] = DriverKind.DOCKER
    OP: ClassVar[DockerOp] = DockerOp.STOP


@dataclass(frozen=True)
class Pause:
    DRIVER: ClassVar[DriverKind] = DriverKind.DOCKER
    OP: ClassVar[DockerOp] = DockerOp.PAUSE


@dataclass(frozen=True)
class Restart:
    DRIVER: ClassVar[DriverKind] = DriverKind.DOCKER
    OP: ClassVar[DockerOp] = DockerOp.RESTART


@dataclass(frozen=True)
class Throttle:
    """A CPU quota of 1/factor of what each container had."""

    DRIVER: ClassVar[DriverKind] = DriverKind.DOCKER
    OP: ClassVar[DockerOp] = DockerOp.CPU
    factor: float


@dataclass(frozen=True)
class Disconnect:
    DRIVER: ClassVar[DriverKind] = DriverKind.DOCKER
    OP: ClassVar[DockerOp] = DockerOp.DISCONNECT


class Chain(enum.Enum):
    INPUT = "INPUT"    # packets arriving at the container
    OUTPUT = "OUTPUT"  # packets it sends (to ``destinations``)


@dataclass(frozen=True)
class Drop:
    """An iptables DROP rule in each container's network namespace."""

    DRIVER: ClassVar[DriverKind] = DriverKind.DOCKER
    OP: ClassVar[DockerOp] = DockerOp.DROP
    chain: Chain
    probability: float = 1.0
    destinations: tuple[str, ...] = ()  # containers whose addresses the OUTPUT rule matches
    # and only these TCP ports of theirs (a Toxiproxy's proxies); () all. Written only when set.
    ports: tuple[int, ...] = field(default=(), metadata={"added": True})


@dataclass(frozen=True)
class ServiceFaults:
    """An emulator's own faults; a fault sets one of them (KEEP: not this fault's business)."""

    errors: float | Keep = KEEP
    slowdown: float | Keep = KEEP
    hang: bool | Keep = KEEP


@dataclass(frozen=True)
class SetFaults:
    DRIVER: ClassVar[DriverKind] = DriverKind.EMULATOR
    OP: ClassVar[EmulatorOp] = EmulatorOp.SET
    admin: Mapping[str, str]
    faults: ServiceFaults = field(metadata={"json": "set"})


@dataclass(frozen=True)
class StartCold:
    DRIVER: ClassVar[DriverKind] = DriverKind.EMULATOR
    OP: ClassVar[EmulatorOp] = EmulatorOp.COLD_START
    admin: Mapping[str, str]
    cold_start: ColdStart


@dataclass(frozen=True)
class CallPolicy:
    """Keys of one call's policy (``POST /admin/calls/{callee}``); a key that is KEEP is left as it is."""

    timeout_s: float | None | Keep = KEEP
    retries: Retries | Keep = KEEP
    breaker: Breaker | None | Keep = KEEP
    fallback: bool | Keep = KEEP
    cancel_on_timeout: bool | Keep = KEEP
    urls: tuple[str, ...] | Keep = KEEP

    def update(self, other: CallPolicy) -> CallPolicy:
        """This policy with the keys ``other`` sets set as it sets them."""
        return from_json(CallPolicy, {**to_json(self), **to_json(other)})

    def keys(self) -> frozenset[str]:
        return frozenset(to_json(self))

    def json(self) -> dict[str, Any]:
        return dict(to_json(self))


@dataclass(frozen=True)
class SetCallPolicy:
    DRIVER: ClassVar[DriverKind] = DriverKind.EMULATOR
    OP: ClassVar[EmulatorOp] = EmulatorOp.CALLS
    admin: Mapping[str, str]
    callee: str
    policy: CallPolicy


@dataclass(frozen=True)
class SetAdmission:
    DRIVER: ClassVar[DriverKind] = DriverKind.EMULATOR
    OP: ClassVar[EmulatorOp] = EmulatorOp.ADMISSION
    admin: Mapping[str, str]
    limit: float | None  # requests per second per replica; None lifts it


@dataclass(frozen=True)
class EdgeFaults:
    errors: float


@dataclass(frozen=True)
class FailCalls:
    """A share of the caller replicas' attempts to ``callee`` failed at once (an edge's errors)."""

    DRIVER: ClassVar[DriverKind] = DriverKind.EMULATOR
    OP: ClassVar[EmulatorOp] = EmulatorOp.EDGE_ERRORS
    admin: Mapping[str, str]  # the caller's replicas
    callee: str
    faults: EdgeFaults = field(metadata={"json": "set"})


@dataclass(frozen=True)
class OperationFaults:
    """One operation's own faults: a share of its requests failed, a delay (± jitter) on its answers."""

    errors: float = 0.0
    delay_s: float = 0.0
    jitter_s: float = 0.0


@dataclass(frozen=True)
class FaultOperation:
    """Faults on one declared operation of a service, set on every replica (the others' paths untouched)."""

    DRIVER: ClassVar[DriverKind] = DriverKind.EMULATOR
    OP: ClassVar[EmulatorOp] = EmulatorOp.OPERATION_FAULTS
    admin: Mapping[str, str]  # the service's replicas
    operation: str
    faults: OperationFaults = field(metadata={"json": "set"})


@dataclass(frozen=True)
class Spike:
    """The arrival rate times ``factor`` at the action's entrypoints (the load generator's plan does it)."""

    DRIVER: ClassVar[DriverKind] = DriverKind.LOAD
    OP: ClassVar[LoadOp] = LoadOp.SPIKE
    factor: float


@dataclass(frozen=True)
class Nothing:
    """An operation of the fake driver that does nothing anywhere (tests)."""

    DRIVER: ClassVar[DriverKind] = DriverKind.FAKE
    OP: ClassVar[FakeOp] = FakeOp.NOTHING


Params = (AddToxic | DisableProxies | Kill | Stop | Pause | Restart | Throttle | Disconnect | Drop | SetFaults
          | StartCold | SetCallPolicy | SetAdmission | FailCalls | FaultOperation | Spike | Nothing)
PARAMS: Mapping[Op, type[Params]] = {cls.OP: cls for cls in (
    AddToxic, DisableProxies, Kill, Stop, Pause, Restart, Throttle, Disconnect, Drop, SetFaults, StartCold,
    SetCallPolicy, SetAdmission, FailCalls, FaultOperation, Spike, Nothing)}


# --------------------------------------------------------------------------- what undoing needs


@dataclass(frozen=True)
class NoUndoInfo:
    """The action itself says how to undo it."""


NO_UNDO_INFO = NoUndoInfo()


@dataclass(frozen=True)
class ToxicAdded:
    toxic: str  # its name, ``chaoslab-<run>-<fault id>``: the revert removes exactly this one


@dataclass(frozen=True)
class Killed:
    victims: tuple[str, ...]        # the containers killed (of the targets, those running)
    stand_ins: tuple[str, ...] = ()  # the stand-in containers started for them


@dataclass(frozen=True)
class Stopped:
    victims: tuple[str, ...]  # the containers stopped (of the targets, those running)


@dataclass(frozen=True)
class CpuLimit:
    cpu_quota: int   # 0: none
    cpu_period: int  # 0: Docker's default


@dataclass(frozen=True)
class Throttled:
    original: Mapping[str, CpuLimit]  # container -> the limit it had


@dataclass(frozen=True)
class Membership:
    name: str                 # a network the container was on
    aliases: tuple[str, ...]  # its names there


@dataclass(frozen=True)
class Disconnected:
    networks: Mapping[str, tuple[Membership, ...]]


@dataclass(frozen=True)
class Dropped:
    rules: Mapping[str, tuple[str, ...]]  # container -> the iptables rule, as arguments after -I/-D


@dataclass(frozen=True)
class PolicyReplaced:
    previous: Mapping[str, CallPolicy]  # replica -> the keys the change set, as they were


@dataclass(frozen=True)
class LimitReplaced:
    previous: Mapping[str, float | None]  # replica -> its admission limit before


@dataclass(frozen=True)
class Faked:
    """A fake driver's handle: nothing was done, and undoing it does nothing."""

    fake: bool = True


UndoInfo = (NoUndoInfo | ToxicAdded | Killed | Stopped | Throttled | Disconnected | Dropped | PolicyReplaced
            | LimitReplaced | Faked)
UNDO_INFO: Mapping[Op, type[UndoInfo]] = {
    ToxiproxyOp.ADD_TOXIC: ToxicAdded, DockerOp.KILL: Killed, DockerOp.STOP: Stopped, DockerOp.CPU: Throttled,
    DockerOp.DISCONNECT: Disconnected, DockerOp.DROP: Dropped, EmulatorOp.CALLS: PolicyReplaced,
    EmulatorOp.ADMISSION: LimitReplaced,
}


# --------------------------------------------------------------------------- actions and handles


@dataclass(frozen=True)
class Action:
    """A fault (or a playbook's change) as planned for one stack. ``targets`` are proxy names, container
    names or URLs, as the operation wants."""

    id: str                  # unique within the run, e.g. "f2"
    label: str               # the fault's label (name, or kind:target), or the step's
    kind: Cause              # the fault's kind, or the playbook action's
    target: str              # the fault's target as written
    targets: tuple[str, ...]
    params: Params
    summary: str = ""        # one line for people: what will be done

    def __post_init__(self) -> None:
        if not isinstance(self.kind, FaultKind | ActionKind):  # a caller mypy does not see (a test, a plugin)
            raise TypeError(f"Action.kind must be a FaultKind or an ActionKind, not {self.kind!r}")

    @property
    def driver(self) -> DriverKind:
        return self.params.DRIVER

    @property
    def op(self) -> Op:
        return self.params.OP

    def handle(self, undo: UndoInfo = NO_UNDO_INFO) -> Handle:
        return Handle(self, undo)

    def describe(self) -> str:
        return f"{self.label} via {self.driver.value}: {self.summary or self.op.value}"


@dataclass(frozen=True)
class Handle:
    """An action as a driver did it, with what undoing it needs."""

    action: Action
    undo: UndoInfo = NO_UNDO_INFO

    @property
    def id(self) -> str:
        return self.action.id

    @property
    def label(self) -> str:
        return self.action.label

    @property
    def victims(self) -> tuple[str, ...]:
        """The containers a kill or a stop picked (those of its targets that were running); else none."""
        return self.undo.victims if isinstance(self.undo, Killed | Stopped) else ()

    @property
    def touched(self) -> tuple[str, ...]:
        """What the driver changed: the containers it picked (a kill of some replicas), else every target."""
        return self.undo.victims if isinstance(self.undo, Killed | Stopped) else self.action.targets

    def undo_info(self, kind: type[U]) -> U:
        """The undo information, which must be a ``kind`` (a RunError names the handle if it is not)."""
        if not isinstance(self.undo, kind):
            raise RunError(f"{self.label}: the handle of {self.id} ({self.action.driver.value} "
                           f"{self.action.op.value}) has no {kind.__name__} to undo it with",
                           hint="a damaged journal, or one written by another chaoslab: undo the fault by hand")
        return self.undo


_COMMON = ("id", "driver", "op", "label", "kind", "target", "targets", "params")


def handle_to_json(handle: Handle) -> dict[str, Any]:
    a = handle.action
    return {"id": a.id, "driver": a.driver.value, "op": a.op.value, "label": a.label, "kind": a.kind.value,
            "target": a.target, "targets": list(a.targets), "params": to_json(a.params), **to_json(handle.undo)}


def handle_from_json(data: object) -> Handle:
    """A handle read back from the journal; CodecError naming the bad key if it cannot be."""
    if not isinstance(data, dict):
        raise CodecError("handle", "expected an object")
    driver = _choice(DriverKind, data.get("driver"), "handle.driver")
    ops = [op for op in PARAMS if op.value == data.get("op") and PARAMS[op].DRIVER is driver]
    if not ops:
        known = ", ".join(op.value for op in PARAMS if PARAMS[op].DRIVER is driver)
        raise CodecError("handle.op", f"{data.get('op')!r} is not an operation of the {driver.value} driver "
                                      f"(it has: {known})")
    (op,) = ops
    params = from_json(PARAMS[op], data.get("params", {}), "handle.params")
    common = {key: data[key] for key in _COMMON if key in data and key not in ("driver", "op", "params")}
    try:
        action = Action(str(common["id"]), str(common.get("label", common["id"])), _cause(data.get("kind")),
                        str(common.get("target", "")), tuple(str(t) for t in common.get("targets") or ()), params)
    except KeyError:
        raise CodecError("handle.id", "missing (required)") from None
    undo_type: type[UndoInfo] = Faked if data.get("fake") else UNDO_INFO.get(op, NoUndoInfo)
    return Handle(action, from_json(undo_type, data, "handle", ignore=frozenset(_COMMON)))


def _cause(value: object) -> Cause:
    for kind in (FaultKind, ActionKind):
        try:
            return kind(value)
        except ValueError:
            continue
    if value is None:
        raise CodecError("handle.kind", "missing (required): the fault's kind or the playbook action's")
    known = ", ".join(repr(m.value) for kind in (FaultKind, ActionKind) for m in kind)
    raise CodecError("handle.kind", f"{value!r} is neither a fault's kind nor a playbook action's (one of {known})")


E = TypeVar("E", bound=enum.Enum)


def _choice(kind: type[E], value: object, path: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise CodecError(path, f"{value!r} is not one of {', '.join(repr(m.value) for m in kind)}") from None

"""The stack spec: what every container of a live stack needs to know, as one JSON file.

Generated on the host from a Topology (``chaos.live.stack.stackspec_build``) and mounted into
every container as ``/etc/chaoslab/stack.json``; the service emulator reads it with
:func:`load`. It runs in the emulator's container, which has the standard library alone,
so it imports nothing outside it; the host's builder imports the model (and PyYAML).

Shape (durations in seconds, keys ending in ``_s``)::

    {"version": 1, "latency_bounds_s": [...],
     "services": {"catalog": {"replicas": 3, "workers": 4, "queue_limit": 200, "lifo": false,
         "max_wait_s": null, "service_time": {"dist": "lognormal", "median": 0.006, "p99": 0.03},
         "load_balancing": "round_robin",
         "calls": [{"to": "cache", "urls": [...], "proxies": [...], "mode": "sequential",
                    "probability": 1.0, "timeout_s": 0.05,
                    "retries": {"max": 0, "base_s": 0, "cap_s": 10, "jitter": "full", "budget": null},
                    "breaker": null, "fallback": false, "cancel_on_timeout": false}]}},
     "entrypoints": {"browse": {"to": "gateway", "share": 0.9, "timeout_s": 3, "retries": {...},
                                "cancel_on_timeout": false}}}

A breaker is ``{"failure_ratio", "min_calls", "window_s", "open_for_s", "half_open_probes"}``.

Operations, routers, attributes and fallback calls (docs/operations.md) add optional keys: a
service's ``"operations": {"read": {"service_time": {...}, "calls": [...], "workers": 2}}`` (its
``calls`` then empty; ``workers``: a pool of its own, with a queue like the service's), each served at
``/op/<name>`` (a service without operations serves ``/work``); a call's
``"operation"`` (the callee's, or null for ``/work``), ``"weight"`` (of a ``"mode": "route"`` call),
``"when"``/``"unless"`` (an attribute name), ``"hit"``, ``"fallback_to"`` (a call) and ``"new_stage"``
(true: the call begins a stage of its own after a call of its mode); and the
top-level ``"attributes": {"cache_hit": 0.9, "size": {"small": 0.7, "large": 0.3}}``, the attributes a
request may carry in the ``X-Chaoslab-Attributes`` header with the share of entry requests that have each
(a yes-or-no one by its name, a categorical one as ``size=large``); and a service's or operation's
``"service_time_by": {"attribute": "size", "values": {"large": {...}}}`` (an operation without a
``service_time`` of its own takes the service's ``service_time_by`` too).
Every problem in a file is an ``InputError`` naming the file and the JSON path of the bad value.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from chaos.core.choices import CallMode, Dist, Jitter, LoadBalancing, stages
from chaos.core.errors import InputError, Location
from chaos.core.retry import TOKEN_CAP
from chaos.core.servicetime import TAIL_LEVELS

VERSION = 1
DEFAULT_PATH = "/etc/chaoslab/stack.json"

E = TypeVar("E", bound=enum.Enum)

__all__ = ["CallMode", "Dist", "Jitter", "LoadBalancing"]  # the model's own choices


LOGNORMAL_TAILS = tuple(TAIL_LEVELS)


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class ServiceTime:
    """A service-time distribution: constant ``value``, exponential ``mean``, lognormal
    ``median`` with one upper percentile ``tail`` (p90, p95 or p99) at ``tail_s``, or empirical
    ``samples`` (sorted seconds, drawn by inverse CDF as the simulator draws them)."""

    dist: Dist
    value: float = 0.0
    mean: float = 0.0
    median: float = 0.0
    tail: str = "p99"
    tail_s: float = 0.0
    samples: tuple[float, ...] = ()

    def to_json(self) -> dict[str, Any]:
        if self.dist is Dist.CONSTANT:
            return {"dist": self.dist.value, "value": self.value}
        if self.dist is Dist.EXPONENTIAL:
            return {"dist": self.dist.value, "mean": self.mean}
        if self.dist is Dist.EMPIRICAL:
            return {"dist": self.dist.value, "samples": list(self.samples)}
        return {"dist": self.dist.value, "median": self.median, self.tail: self.tail_s}


@dataclass(frozen=True)
class Retries:
    """Retries after the first attempt, their backoff ``min(cap, base*2**(n-1))`` and their budget."""

    max: int = 0
    base_s: float = 0.0
    cap_s: float = 10.0
    jitter: Jitter = Jitter.FULL
    budget: float | None = None  # tokens each first attempt deposits; a retry spends one

    def to_json(self) -> dict[str, Any]:
        return {"max": self.max, "base_s": self.base_s, "cap_s": self.cap_s, "jitter": self.jitter.value,
                "budget": self.budget}


@dataclass(frozen=True)
class Breaker:
    """A circuit breaker: failure ratio over a sliding window of ten buckets."""

    failure_ratio: float = 0.5
    min_calls: int = 20
    window_s: float = 10.0
    open_for_s: float = 5.0
    half_open_probes: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"failure_ratio": self.failure_ratio, "min_calls": self.min_calls, "window_s": self.window_s,
                "open_for_s": self.open_for_s, "half_open_probes": self.half_open_probes}


@dataclass(frozen=True)
class CallSpec:
    """One outgoing call of a service: where its callee's replicas answer, and the caller's policy."""

    to: str
    urls: tuple[str, ...]
    proxies: tuple[str, ...] = ()
    mode: CallMode = CallMode.SEQUENTIAL
    probability: float = 1.0
    timeout_s: float | None = None
    retries: Retries = field(default_factory=Retries)
    breaker: Breaker | None = None
    fallback: bool = False
    cancel_on_timeout: bool = False
    operation: str | None = None  # the callee's operation (its path /op/<name>); None: /work
    weight: float = 1.0  # with mode route: its relative share of the router's requests
    when: str | None = None  # made only for requests that carry this attribute
    unless: str | None = None  # made only for requests that do not
    hit: str | None = None  # with fallback_to: requests without this attribute fall back after an answer
    fallback_to: CallSpec | None = None  # made when this call finally fails (cache-aside)
    new_stage: bool = False  # begins a stage of its own even after a call of its mode

    @property
    def path(self) -> str:
        """Where the callee serves the operation called."""
        return operation_path(self.operation)

    @property
    def chain(self) -> tuple[CallSpec, ...]:
        """This call and its fallbacks, in the order they are tried."""
        return (self,) if self.fallback_to is None else (self, *self.fallback_to.chain)

    def to_json(self) -> dict[str, Any]:
        out = {"to": self.to, "urls": list(self.urls), "proxies": list(self.proxies), "mode": self.mode.value,
               "probability": self.probability, "timeout_s": self.timeout_s, "retries": self.retries.to_json(),
               "breaker": None if self.breaker is None else self.breaker.to_json(),
               "fallback": self.fallback, "cancel_on_timeout": self.cancel_on_timeout}
        # Written only when set: the spec of a topology without operations stays as it was.
        extra = {"operation": self.operation, "weight": None if self.weight == 1.0 else self.weight,
                 "when": self.when, "unless": self.unless, "hit": self.hit,
                 "fallback_to": None if self.fallback_to is None else self.fallback_to.to_json(),
                 "new_stage": self.new_stage or None}
        out.update({k: v for k, v in extra.items() if v is not None})
        return out

    def policy_json(self) -> dict[str, Any]:
        """The part a playbook may change at run time (``POST /admin/calls/{callee}``); ``urls`` re-points
        the call at other replicas (a scale-down, a failover)."""
        full = self.to_json()
        return {key: full[key] for key in POLICY_KEYS}


POLICY_KEYS = ("timeout_s", "retries", "breaker", "fallback", "cancel_on_timeout", "urls")

WORK_PATH = "/work"
OPERATION_PREFIX = "/op/"
ATTRIBUTES_HEADER = "X-Chaoslab-Attributes"
"""The attributes an entry request has, decided once by the load generator, comma-separated: the name of each
yes-or-no one it has and ``name=value`` for each categorical one (``cache_hit,size=large``; absent or empty:
none). Every emulator passes it on unchanged to the calls it makes."""


def operation_path(operation: str | None) -> str:
    """``/op/<name>`` for a declared operation, ``/work`` for a service without operations."""
    return WORK_PATH if operation is None else OPERATION_PREFIX + operation


@dataclass(frozen=True)
class TimeBySpec:
    """Service times by the value of a categorical attribute; a value not listed takes the plain service time."""

    attribute: str
    values: tuple[tuple[str, ServiceTime], ...]

    def conditions(self) -> dict[str, ServiceTime]:
        """Each time by the condition a request carries in ``X-Chaoslab-Attributes`` (``size=large``)."""
        return {f"{self.attribute}={value}": time for value, time in self.values}

    def to_json(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "values": {value: time.to_json() for value, time in self.values}}


@dataclass(frozen=True)
class OperationSpec:
    """One declared operation of a service: its own service time and calls, served at ``/op/<name>``."""

    name: str
    service_time: ServiceTime
    calls: tuple[CallSpec, ...] = ()
    service_time_by: TimeBySpec | None = None
    workers: int | None = None  # a worker pool of its own on each replica (queue as the service's); None: shared

    def stages(self) -> tuple[tuple[CallSpec, ...], ...]:
        return stages(self.calls, attrgetter("mode"), attrgetter("new_stage"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"service_time": self.service_time.to_json(), "calls": [c.to_json() for c in self.calls]}
        if self.service_time_by is not None:
            out["service_time_by"] = self.service_time_by.to_json()
        if self.workers is not None:
            out["workers"] = self.workers
        return out


@dataclass(frozen=True)
class ServiceSpec:
    """A service: identical replicas, each with a worker pool and a bounded queue."""

    name: str
    service_time: ServiceTime
    replicas: int = 1
    workers: int = 1
    queue_limit: int = 1000
    lifo: bool = False
    max_wait_s: float | None = None
    load_balancing: LoadBalancing = LoadBalancing.ROUND_ROBIN
    calls: tuple[CallSpec, ...] = ()
    operations: tuple[OperationSpec, ...] = ()
    service_time_by: TimeBySpec | None = None  # of /work; an operation has its own (written out by the builder)

    def stages(self) -> tuple[tuple[CallSpec, ...], ...]:
        """Calls grouped in the order they run: adjacent parallel calls together (unless one begins a
        ``new_stage``), groups in sequence."""
        return stages(self.calls, attrgetter("mode"), attrgetter("new_stage"))

    @property
    def ops(self) -> dict[str | None, OperationSpec]:
        """Its operations by name; a service that declares none has one, None, served at ``/work``."""
        if self.operations:
            return {o.name: o for o in self.operations}
        return {None: OperationSpec(WORK_PATH, self.service_time, self.calls, self.service_time_by)}

    @property
    def all_calls(self) -> tuple[CallSpec, ...]:
        """Every call of every operation, fallbacks included, in order."""
        return tuple(c for op in self.ops.values() for call in op.calls for c in call.chain)

    def call(self, callee: str) -> CallSpec:
        for c in self.all_calls:
            if c.to == callee:
                return c
        raise KeyError(callee)

    def to_json(self) -> dict[str, Any]:
        out = {"replicas": self.replicas, "workers": self.workers, "queue_limit": self.queue_limit,
               "lifo": self.lifo, "max_wait_s": self.max_wait_s, "service_time": self.service_time.to_json(),
               "load_balancing": self.load_balancing.value, "calls": [c.to_json() for c in self.calls]}
        if self.operations:
            out["operations"] = {o.name: o.to_json() for o in self.operations}
        if self.service_time_by is not None:
            out["service_time_by"] = self.service_time_by.to_json()
        return out


@dataclass(frozen=True)
class EntrypointSpec:
    """Where user traffic enters, and the policy of the clients that send it."""

    name: str
    to: str
    share: float = 1.0
    timeout_s: float | None = None
    retries: Retries = field(default_factory=Retries)
    cancel_on_timeout: bool = False
    operation: str | None = None  # the target's operation; None: its /work

    def to_json(self) -> dict[str, Any]:
        out = {"to": self.to, "share": self.share, "timeout_s": self.timeout_s,
               "retries": self.retries.to_json(), "cancel_on_timeout": self.cancel_on_timeout}
        if self.operation is not None:
            out["operation"] = self.operation
        return out


@dataclass(frozen=True)
class AttributeSpec:
    """A request attribute: yes-or-no with the ``share`` of entry requests that have it, or categorical with
    its ``values`` and their shares (each request has exactly one)."""

    name: str
    share: float = 0.0
    values: tuple[tuple[str, float], ...] = ()

    @property
    def conditions(self) -> tuple[str, ...]:
        """What a request may carry of it in ``X-Chaoslab-Attributes``: its name, or ``name=value``."""
        return tuple(f"{self.name}={v}" for v, _ in self.values) if self.values else (self.name,)

    def to_json(self) -> float | dict[str, float]:
        return dict(self.values) if self.values else self.share


@dataclass(frozen=True)
class StackSpec:
    """Every service and entrypoint of a stack, and the latency buckets its metrics use."""

    latency_bounds_s: tuple[float, ...]
    services: tuple[ServiceSpec, ...]
    entrypoints: tuple[EntrypointSpec, ...] = ()
    version: int = VERSION
    attributes: tuple[AttributeSpec, ...] = ()  # each attribute a request may carry, with its share(s)

    def service(self, name: str) -> ServiceSpec:
        """The named service; ``InputError`` listing the known ones if there is none."""
        for s in self.services:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.services) or "none"
        raise InputError(f"unknown service '{name}' (the stack has: {known})",
                         hint="--service must name a key under 'services' in the stack spec")

    def to_dict(self) -> dict[str, Any]:
        out = {"version": self.version, "latency_bounds_s": list(self.latency_bounds_s),
               "services": {s.name: s.to_json() for s in self.services},
               "entrypoints": {e.name: e.to_json() for e in self.entrypoints}}
        if self.attributes:
            out["attributes"] = {a.name: a.to_json() for a in self.attributes}
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


# --------------------------------------------------------------------------- reading


def load(path: str | Path) -> StackSpec:
    """Read and validate a stack spec file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the stack spec: {exc.strerror or exc}", Location(str(path)),
                         hint="generate it with 'chaoslab stack up' (it writes DIR/stack.json)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", Location(str(path), exc.lineno, exc.colno)) from None
    return from_dict(data, source=str(path))


def from_dict(data: object, source: str = "<stack spec>") -> StackSpec:
    """Validate a parsed stack spec; every error names ``source`` and the JSON path of the bad value."""
    top = JsonFields(data, "", source)
    version = top.integer("version", ge=1)
    if version != VERSION:
        raise top.fail("version", f"version {version} is not supported (this chaoslab reads version {VERSION})",
                       "regenerate the stack with this chaoslab ('chaoslab stack up')")
    bounds = _bounds(top)
    services = tuple(_service(name, raw, top.child_path("services", name), source)
                     for name, raw in top.mapping("services").items())
    entrypoints = tuple(_entrypoint(name, raw, top.child_path("entrypoints", name), source)
                        for name, raw in top.mapping("entrypoints", default={}).items())
    attributes = _attributes(top)
    top.done()
    spec = StackSpec(bounds, services, entrypoints, version, attributes)
    _check_references(spec, source)
    return spec


def _bounds(top: JsonFields) -> tuple[float, ...]:
    raw = top.raw("latency_bounds_s")
    if not isinstance(raw, list) or not raw or not all(_is_number(x) and x > 0 for x in raw):
        raise top.fail("latency_bounds_s", "expected a non-empty list of positive numbers (seconds)")
    bounds = tuple(float(x) for x in raw)
    if any(b <= a for a, b in zip(bounds, bounds[1:], strict=False)):
        raise top.fail("latency_bounds_s", "bounds must be strictly increasing")
    return bounds


def _attributes(top: JsonFields) -> tuple[AttributeSpec, ...]:
    out = []
    for name, raw in top.mapping("attributes", default={}).items():
        where = f"attributes.{name}"
        _check_token(top, where, name, "an attribute's name")
        if isinstance(raw, dict):
            if not raw:
                raise top.fail(where, "a categorical attribute needs at least one value")
            for value, share in raw.items():
                _check_token(top, f"{where}.{value}", value, "a value")
                if not _is_number(share) or not 0 <= share <= 1:
                    raise top.fail(f"{where}.{value}", f"expected the share of requests with this value (0 to 1), "
                                                       f"got {_kind(share)}")
            out.append(AttributeSpec(name, values=tuple((v, float(x)) for v, x in raw.items())))
            continue
        if not _is_number(raw) or not 0 <= raw <= 1:
            raise top.fail(where, f"expected the share of requests that have it (0 to 1), or an object of "
                                  f"values and their shares, got {_kind(raw)}")
        out.append(AttributeSpec(name, share=float(raw)))
    return tuple(out)


def _check_token(top: JsonFields, where: str, text: str, what: str) -> None:
    if any(c in text for c in ",=") or not text.strip() or text != text.strip():
        raise top.fail(where, f"{what} may not hold a comma, an equals sign or blanks "
                              f"(it travels in the {ATTRIBUTES_HEADER} header)")


def time_by(raw: object, path: str, source: str) -> TimeBySpec | None:
    """Parse a ``service_time_by`` object, or null."""
    if raw is None:
        return None
    f = JsonFields(raw, path, source)
    attribute = f.string("attribute")
    values = tuple((value, service_time(t, f.child_path("values", value), source))
                   for value, t in f.mapping("values").items())
    f.done()
    return TimeBySpec(attribute, values)


def _calls(f: JsonFields, path: str, source: str) -> tuple[CallSpec, ...]:
    calls_raw = f.raw("calls", default=[])
    if not isinstance(calls_raw, list):
        raise f.fail("calls", "expected a list of calls")
    return tuple(_call(c, f"{path}.calls[{i}]", source) for i, c in enumerate(calls_raw))


def _operation(name: str, raw: object, path: str, source: str, default: ServiceTime,
               default_by: TimeBySpec | None) -> OperationSpec:
    """An operation without a service time of its own takes the service's, and its times by value too."""
    f = JsonFields(raw, path, source)
    raw_time = f.raw("service_time", default=None)
    by = time_by(f.raw("service_time_by", default=None), f.child_path("service_time_by"), source)
    spec = OperationSpec(name=name, calls=_calls(f, path, source),
                         service_time=default if raw_time is None else
                         service_time(raw_time, f.child_path("service_time"), source),
                         service_time_by=by if by is not None or raw_time is not None else default_by,
                         workers=None if f.raw("workers", default=None) is None else f.integer("workers", ge=1))
    f.done()
    return spec


def _service(name: str, raw: object, path: str, source: str) -> ServiceSpec:
    f = JsonFields(raw, path, source)
    own_time = service_time(f.raw("service_time"), f.child_path("service_time"), source)
    own_by = time_by(f.raw("service_time_by", default=None), f.child_path("service_time_by"), source)
    calls = _calls(f, path, source)
    operations = tuple(_operation(op, raw_op, f.child_path("operations", op), source, own_time, own_by)
                       for op, raw_op in f.mapping("operations", default={}).items())
    if operations and calls:
        raise f.fail("calls", "a service with operations makes its calls in its operations")
    spec = ServiceSpec(
        name=name,
        replicas=f.integer("replicas", default=1, ge=1),
        workers=f.integer("workers", default=1, ge=1),
        queue_limit=f.integer("queue_limit", default=1000, ge=0),
        lifo=f.boolean("lifo", default=False),
        max_wait_s=f.number("max_wait_s", default=None, gt=0, nullable=True),
        service_time=own_time,
        load_balancing=f.choice("load_balancing", LoadBalancing, LoadBalancing.ROUND_ROBIN),
        calls=calls,
        operations=operations,
        service_time_by=own_by,
    )
    f.done()
    return spec


def service_time(raw: object, path: str, source: str) -> ServiceTime:
    f = JsonFields(raw, path, source)
    dist = f.choice("dist", Dist)
    if dist is Dist.CONSTANT:
        out = ServiceTime(dist, value=_required(f.number("value", ge=0)))
    elif dist is Dist.EXPONENTIAL:
        out = ServiceTime(dist, mean=_required(f.number("mean", gt=0)))
    elif dist is Dist.EMPIRICAL:
        out = ServiceTime(dist, samples=_samples(f))
    else:
        median = _required(f.number("median", gt=0))
        tails = [t for t in LOGNORMAL_TAILS if t in f.keys()]
        if len(tails) != 1:
            raise f.fail(None, f"a lognormal needs its median and exactly one of {', '.join(LOGNORMAL_TAILS)}"
                               f" (got {', '.join(tails) or 'none'})")
        tail_s = _required(f.number(tails[0], gt=0))
        if tail_s < median:
            raise f.fail(tails[0], f"{tails[0]} ({tail_s:g} s) must not be below the median ({median:g} s)")
        out = ServiceTime(dist, median=median, tail=tails[0], tail_s=tail_s)
    f.done()
    return out


def _samples(f: JsonFields) -> tuple[float, ...]:
    raw = f.raw("samples")
    if not isinstance(raw, list) or not raw:
        got = _kind(raw) if raw != [] else "an empty list"
        raise f.fail("samples", f"expected a non-empty list of durations in seconds, got {got}")
    for i, x in enumerate(raw):
        if not _is_number(x) or x < 0:
            raise f.fail("samples", f"samples[{i}] is {_kind(x)}: each must be a finite number of seconds >= 0")
    return tuple(sorted(float(x) for x in raw))


def _call(raw: object, path: str, source: str) -> CallSpec:
    f = JsonFields(raw, path, source)
    to = f.string("to")
    urls = _urls(f)
    proxies = f.strings("proxies", default=())
    if proxies and len(proxies) != len(urls):
        raise f.fail("proxies", f"{len(proxies)} proxies for {len(urls)} urls: give one per url, or none")
    spec = CallSpec(
        to=to, urls=urls, proxies=proxies,
        mode=f.choice("mode", CallMode, CallMode.SEQUENTIAL),
        probability=_required(f.number("probability", default=1.0, ge=0, le=1)),
        timeout_s=f.number("timeout_s", default=None, gt=0, nullable=True),
        retries=retries(f.raw("retries", default={}), f.child_path("retries"), source),
        breaker=breaker(f.raw("breaker", default=None), f.child_path("breaker"), source),
        fallback=f.boolean("fallback", default=False),
        cancel_on_timeout=f.boolean("cancel_on_timeout", default=False),
        operation=_optional_name(f, "operation"),
        weight=_required(f.number("weight", default=1.0, gt=0)),
        when=_optional_name(f, "when"),
        unless=_optional_name(f, "unless"),
        hit=_optional_name(f, "hit"),
        fallback_to=None if f.raw("fallback_to", default=None) is None else
        _call(f.raw("fallback_to"), f.child_path("fallback_to"), source),
        new_stage=f.boolean("new_stage", default=False),
    )
    if spec.hit is not None and spec.fallback_to is None:
        raise f.fail("hit", "a miss falls back to another call: give the call fallback_to")
    f.done()
    return spec


def _optional_name(f: JsonFields, key: str) -> str | None:
    return None if f.raw(key, default=None) is None else f.string(key)


def _urls(f: JsonFields) -> tuple[str, ...]:
    urls = f.strings("urls")
    if not urls:
        raise f.fail("urls", "a call needs at least one url (one per callee replica)")
    for i, url in enumerate(urls):
        try:
            parts = urlsplit(url)
            ok = parts.scheme == "http" and bool(parts.hostname) and parts.port is not None
        except ValueError:
            ok = False
        if not ok:
            raise f.fail(f"urls[{i}]", f"'{url}' is not an http://HOST:PORT url")
    return urls


def retries(raw: object, path: str, source: str, base: Retries | None = None) -> Retries:
    """Parse a retries object; keys left out keep their value in ``base`` (default: no retries)."""
    b = base or Retries()
    f = JsonFields(raw, path, source)
    out = Retries(
        max=f.integer("max", default=b.max, ge=0),
        base_s=_required(f.number("base_s", default=b.base_s, ge=0)),
        cap_s=_required(f.number("cap_s", default=b.cap_s, ge=0)),
        jitter=f.choice("jitter", Jitter, b.jitter),
        budget=f.number("budget", default=b.budget, ge=0, le=TOKEN_CAP, nullable=True),
    )
    if out.cap_s < out.base_s:
        raise f.fail("cap_s", f"cap_s ({out.cap_s:g}) is below base_s ({out.base_s:g})")
    f.done()
    return out


def breaker(raw: object, path: str, source: str, base: Breaker | None = None) -> Breaker | None:
    """Parse a breaker object or null; keys left out keep their value in ``base`` (default: defaults)."""
    if raw is None:
        return None
    b = base or Breaker()
    f = JsonFields(raw, path, source)
    out = Breaker(
        failure_ratio=_required(f.number("failure_ratio", default=b.failure_ratio, gt=0, le=1)),
        min_calls=f.integer("min_calls", default=b.min_calls, ge=1),
        window_s=_required(f.number("window_s", default=b.window_s, gt=0)),
        open_for_s=_required(f.number("open_for_s", default=b.open_for_s, gt=0)),
        half_open_probes=f.integer("half_open_probes", default=b.half_open_probes, ge=1),
    )
    f.done()
    return out


def _entrypoint(name: str, raw: object, path: str, source: str) -> EntrypointSpec:
    f = JsonFields(raw, path, source)
    spec = EntrypointSpec(
        name=name,
        to=f.string("to"),
        share=_required(f.number("share", default=1.0, gt=0)),
        timeout_s=f.number("timeout_s", default=None, gt=0, nullable=True),
        retries=retries(f.raw("retries", default={}), f.child_path("retries"), source),
        cancel_on_timeout=f.boolean("cancel_on_timeout", default=False),
        operation=_optional_name(f, "operation"),
    )
    f.done()
    return spec


def _check_references(spec: StackSpec, source: str) -> None:
    names = {s.name for s in spec.services}
    if not names:
        raise InputError("a stack needs at least one service", Location(source), "services")
    services = {s.name: s for s in spec.services}
    attributes = {cond for a in spec.attributes for cond in a.conditions}
    for s in spec.services:
        for op_name, op in s.ops.items():
            base = f"services.{s.name}" if op_name is None else f"services.{s.name}.operations.{op_name}"
            if op.service_time_by is not None:
                _check_time_by(op.service_time_by, f"{base}.service_time_by", spec.attributes, source)
            seen: set[tuple[str, str | None]] = set()
            for i, call in enumerate(op.calls):
                where = f"{base}.calls[{i}]"
                for depth, c in enumerate(call.chain):
                    _check_call(c, where + ".fallback_to" * depth, services, attributes, source)
                if (call.to, call.operation) in seen:
                    raise InputError(f"'{s.name}' already calls '{call.to}' here: one call per callee and operation",
                                     Location(source), f"{where}.to")
                seen.add((call.to, call.operation))
    for e in spec.entrypoints:
        if e.to not in names:
            raise InputError(f"unknown service '{e.to}' (the stack has: {', '.join(sorted(names))})",
                             Location(source), f"entrypoints.{e.name}.to")
        if e.operation not in services[e.to].ops:
            raise InputError(f"'{e.to}' serves no operation {e.operation!r} "
                             f"(it has: {', '.join(str(o) for o in services[e.to].ops)})",
                             Location(source), f"entrypoints.{e.name}.operation")


def _check_time_by(by: TimeBySpec, where: str, attributes: tuple[AttributeSpec, ...], source: str) -> None:
    attr = next((a for a in attributes if a.name == by.attribute and a.values), None)
    if attr is None:
        known = ", ".join(a.name for a in attributes if a.values) or "none"
        raise InputError(f"'{by.attribute}' is not a categorical attribute of the stack (it has: {known})",
                         Location(source), f"{where}.attribute")
    values = {v for v, _ in attr.values}
    for value, _ in by.values:
        if value not in values:
            raise InputError(f"'{by.attribute}' has no value '{value}' (it has: {', '.join(sorted(values))})",
                             Location(source), f"{where}.values.{value}")


def _check_call(call: CallSpec, where: str, services: Mapping[str, ServiceSpec], attributes: set[str],
                source: str) -> None:
    if call.to not in services:
        raise InputError(f"unknown service '{call.to}' (the stack has: {', '.join(sorted(services))})",
                         Location(source), f"{where}.to")
    ops = services[call.to].ops
    if call.operation not in ops:
        raise InputError(f"'{call.to}' serves no operation {call.operation!r} (it has: {', '.join(map(str, ops))})",
                         Location(source), f"{where}.operation")
    for key, name in (("when", call.when), ("unless", call.unless), ("hit", call.hit)):
        if name is not None and name not in attributes:
            raise InputError(f"unknown attribute '{name}' (the stack has: {', '.join(sorted(attributes)) or 'none'})",
                             Location(source), f"{where}.{key}")


# --------------------------------------------------------------------------- field reader

_REQUIRED: Any = object()


def _required(value: float | None) -> float:
    assert value is not None  # the field was read with nullable=False
    return value


def _is_number(value: object) -> bool:
    # bool is an int to Python, but `true` is not a number to a person writing JSON
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    return "a list" if isinstance(value, list) else "an object"


class JsonFields:
    """The keys of one JSON object, read one at a time; keys nobody read are reported by ``done``."""

    def __init__(self, data: object, path: str, source: str) -> None:
        self.path = path
        self.source = source
        if not isinstance(data, dict):
            raise self.fail(None, f"expected an object, got {_kind(data)}")
        self.data: dict[str, Any] = data
        self.read: set[str] = set()

    def child_path(self, *names: str) -> str:
        return ".".join(n for n in (self.path, *names) if n)

    def fail(self, key: str | None, message: str, hint: str | None = None) -> InputError:
        where = self.child_path(key) if key else self.path
        return InputError(message, Location(self.source), where or "(top level)", hint)

    def keys(self) -> set[str]:
        return set(self.data)

    def raw(self, key: str, default: Any = _REQUIRED) -> Any:
        self.read.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise self.fail(key, "missing (required)")
            return default
        return self.data[key]

    def number(self, key: str, default: Any = _REQUIRED, *, gt: float | None = None, ge: float | None = None,
               le: float | None = None, nullable: bool = False) -> float | None:
        value = self.raw(key, default)
        if value is None and (nullable or default is None):
            return None
        if not _is_number(value):
            expected = "a number or null" if nullable else "a number"
            raise self.fail(key, f"expected {expected}, got {_kind(value)}")
        if gt is not None and not value > gt:
            raise self.fail(key, f"must be greater than {gt:g} (got {value:g})")
        if ge is not None and not value >= ge:
            raise self.fail(key, f"must be at least {ge:g} (got {value:g})")
        if le is not None and not value <= le:
            raise self.fail(key, f"must be at most {le:g} (got {value:g})")
        return float(value)

    def integer(self, key: str, default: Any = _REQUIRED, *, ge: int | None = None) -> int:
        value = self.raw(key, default)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, f"expected a whole number, got {_kind(value)}")
        if ge is not None and value < ge:
            raise self.fail(key, f"must be at least {ge} (got {value})")
        return value

    def boolean(self, key: str, default: Any = _REQUIRED) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {_kind(value)}")
        return value

    def string(self, key: str, default: Any = _REQUIRED) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"expected a non-empty string, got {_kind(value)}")
        return value

    def strings(self, key: str, default: Any = _REQUIRED) -> tuple[str, ...]:
        value = self.raw(key, default)
        if isinstance(value, tuple):
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, f"expected a list of non-empty strings, got {_kind(value)}")
        return tuple(value)

    def choice(self, key: str, cls: type[E], default: Any = _REQUIRED) -> E:
        value = self.raw(key, default)
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(repr(m.value) for m in cls)
            raise self.fail(key, f"{_kind(value)} is not one of {valid}") from None

    def mapping(self, key: str, default: Any = _REQUIRED) -> dict[str, Any]:
        value = self.raw(key, default)
        if not isinstance(value, dict):
            raise self.fail(key, f"expected an object keyed by name, got {_kind(value)}")
        return value

    def done(self, valid_keys: tuple[str, ...] = ()) -> None:
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            valid = ", ".join(valid_keys or sorted(self.read))
            raise self.fail(unknown[0], f"unknown key '{unknown[0]}' (valid here: {valid})")


# --------------------------------------------------------------------------- changes made live (admin API)


def policy_update(current: CallSpec, body: Mapping[str, Any], source: str) -> CallSpec:
    """``current`` with the policy keys of ``body`` applied (keys left out keep their value)."""
    from dataclasses import replace

    f = JsonFields(dict(body), "", source)
    changes: dict[str, Any] = {}
    if "timeout_s" in body:
        changes["timeout_s"] = f.number("timeout_s", gt=0, nullable=True)
    if "retries" in body:
        changes["retries"] = retries(f.raw("retries"), "retries", source, current.retries)
    if "breaker" in body:
        changes["breaker"] = breaker(f.raw("breaker"), "breaker", source, current.breaker)
    if "fallback" in body:
        changes["fallback"] = f.boolean("fallback")
    if "cancel_on_timeout" in body:
        changes["cancel_on_timeout"] = f.boolean("cancel_on_timeout")
    if "urls" in body:
        changes["urls"] = _urls(f)
        changes["proxies"] = ()  # the proxies named in the spec belong to the old urls
    f.done(POLICY_KEYS)
    return replace(current, **changes)

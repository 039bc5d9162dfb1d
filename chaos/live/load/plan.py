"""What the load generator is asked to do: one arrival-rate curve per entrypoint, and its clients' policy.

A :class:`LoadPlan` is built in chaoslab's own process from the experiment (its load
profile's segments, its ``load_spike`` faults and the topology's entrypoints), written
as JSON, and read back by the Locust process. Everything the Locust side needs is
resolved here, so it never sees a load profile or a fault: each entrypoint carries its
own piecewise-linear rate (its share of the profile, times every spike active on it)
as :class:`~chaos.model.load.Segment`, the same description the simulator follows, and
the base URL of every replica of its target service, with that service's
``load_balancing``: the client balances its attempts over them as the emulator's callers do.

:func:`arrivals` turns such a rate into Poisson arrival times, by thinning as the
simulator's kernel does.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chaos.core.choices import LoadBalancing
from chaos.errors import InputError
from chaos.live.in_container import stackspec
from chaos.model.load import RateCurve, Segment

if TYPE_CHECKING:
    from chaos.model.experiment import Experiment
    from chaos.model.faults import LoadSpike
    from chaos.model.requests import RequestKind
    from chaos.model.topology import Attribute, Entrypoint, Topology

VERSION = 3  # 2: a list of URLs per entrypoint and their load balancing; 3: request kinds, closed-loop users
ALL_ENTRYPOINTS = "*"  # a load spike on '*' multiplies every entrypoint's rate
WORK_PATH = "/work"


@dataclass(frozen=True)
class RequestPlan:
    """One kind of entry request, resolved: the Locust side only writes it onto the wire.

    ``target`` (path and encoded query) is appended to the path of each of the
    entrypoint's base URLs; ``success`` lists the status codes that count as a success
    (empty: any 2xx); ``weight`` is its share of the entrypoint's requests.
    """

    name: str
    method: str = "GET"
    target: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    success: tuple[int, ...] = ()
    weight: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "method": self.method, "target": self.target,
                "headers": [list(h) for h in self.headers], "body": self.body, "success": list(self.success),
                "weight": self.weight}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RequestPlan:
        return cls(name=str(raw["name"]), method=str(raw["method"]), target=str(raw["target"]),
                   headers=tuple((str(k), str(v)) for k, v in raw["headers"]),
                   body=None if raw["body"] is None else str(raw["body"]),
                   success=tuple(int(c) for c in raw["success"]), weight=float(raw["weight"]))


WORK_REQUEST = RequestPlan(name="GET /work", target=WORK_PATH)  # what a generated stack's emulators serve
URL_REQUEST = RequestPlan(name="GET /")  # a user's entrypoint without requests: its URL, as written




def generated_requests(topology: Topology, entry: Entrypoint) -> tuple[RequestPlan, ...]:
    """What a generated stack's clients send to ``entry``: a GET of its operation's path (``/work`` for a
    service without operations), one kind per combination of the topology's attributes' values (a yes-or-no
    attribute has two, a categorical one each of its values), each with its share of the requests as weight
    and what it has in ``X-Chaoslab-Attributes`` (``cache_hit,size=large``).

    The load generator decides a request's attributes, not the first emulator: the simulator draws them
    once per entry request, before its first attempt, so the entry client's own retries must carry the
    same ones, and a kind is exactly that (drawn once per entry request, sent with every attempt). The
    result's per-kind counts then show the shares drawn. ``chaos.model.live_limits`` bounds the number
    of kinds (``MAX_LIVE_KINDS``)."""
    from chaos.live.stack.stackspec_build import operation_name

    target = stackspec.operation_path(operation_name(topology, entry.to, entry.operation))
    plans = []
    for combo in itertools.product(*(attribute_choices(a) for a in topology.attributes)):
        weight = math.prod(share for _, _, share in combo)
        if weight <= 0:
            continue
        has = [cond for cond, _, _ in combo if cond is not None]
        words = " ".join(word for _, word, _ in combo)
        plans.append(RequestPlan(name=f"GET {target}" + (f" {words}" if words else ""), target=target,
                                 headers=((stackspec.ATTRIBUTES_HEADER, ",".join(has)),) if has else (),
                                 weight=weight))
    return tuple(plans)


def attribute_choices(attribute: Attribute) -> tuple[tuple[str | None, str, float], ...]:
    """What one request may have of ``attribute``: (what it carries in the header or None, the word that
    names it in a kind's name, its share): ``cache_hit``/``+cache_hit`` and None/``-cache_hit`` for a
    yes-or-no one, ``size=large`` for each value of a categorical one."""
    if attribute.values:
        return tuple((f"{attribute.name}={v.name}", f"{attribute.name}={v.name}", v.share) for v in attribute.values)
    yes = attribute.yes_share
    return ((attribute.name, f"+{attribute.name}", yes), (None, f"-{attribute.name}", 1.0 - yes))


def origin(url: str) -> str:
    """``http://h:8080/op/read`` -> ``http://h:8080``: a generated stack's entry URL without its path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def request_url(base: str, target: str) -> str:
    """``http://h:8080/api`` and ``/items?x=1`` -> ``http://h:8080/api/items?x=1``; no target: the URL as is."""
    return base.rstrip("/") + target if target else base


def request_plans(kinds: Iterable[RequestKind]) -> tuple[RequestPlan, ...]:
    """The experiment's request kinds of one entrypoint, as the load generator sends them."""
    return tuple(RequestPlan(name=k.label, method=k.method.value, target=k.target(),
                             headers=tuple((h.name, h.value) for h in k.headers), body=k.body,
                             success=k.success, weight=k.weight) for k in kinds)
def probe_urls(experiment: Experiment | None, bases: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """What a preflight may request of each entrypoint before the load starts: the URLs of the requests the
    load will send that are safe to repeat and need nothing of their own (a plain ``GET`` or ``HEAD``: no
    body, no headers), with the generated stack's ``/work``; an entrypoint whose kinds all need more (a
    ``POST``, a token) is left to the load's own client-error check. No experiment: a generated stack."""
    if experiment is None:  # a generated stack's state: the URLs it lists hold each entrypoint's path
        return {name: tuple(urls) for name, urls in bases.items()}
    if experiment.live is None:  # a generated stack: the path of each entrypoint's operation
        topology = experiment.topology
        return {name: tuple(origin(url) + generated_requests(topology, topology.entrypoint_map[name])[0].target
                            for url in urls) for name, urls in bases.items()}
    kinds = {e.name: e.requests for e in experiment.live.entrypoints}
    probes: dict[str, tuple[str, ...]] = {}
    for name, urls in bases.items():
        plans = request_plans(kinds.get(name, ())) or (URL_REQUEST,)
        plain = [p for p in plans if p.method in ("GET", "HEAD") and p.body is None and not p.headers]
        probes[name] = tuple(request_url(url, plain[0].target) for url in urls) if plain else ()
    return probes


DEFAULT_MAX_IN_FLIGHT = 5000  # per Locust process: below Locust's own file-descriptor limit of 10,000
DEFAULT_DRAIN_S = 1.0


@dataclass(frozen=True)
class EntryPlan:
    """One entrypoint: where its requests go, how fast they arrive, and what its clients do on failure."""

    name: str
    urls: tuple[str, ...]  # base URLs, one per replica of the target; a request kind's target is appended
    rate: tuple[Segment, ...]  # requests/s over time: the entrypoint's share of the profile, times its spikes
    requests: tuple[RequestPlan, ...] = (WORK_REQUEST,)  # each entry request is one of them, drawn by weight
    share: float = 1.0  # of the whole load, normalised over the entrypoints (a closed loop's users pick by it)
    timeout_s: float | None = None  # per attempt
    retries: stackspec.Retries = field(default_factory=stackspec.Retries)
    cancel_on_timeout: bool = False
    load_balancing: LoadBalancing = LoadBalancing.ROUND_ROBIN  # the target service's, over ``urls``
    service: str = ""  # the target service's name, as the load's metrics name the callee (server_address)

    def request_urls(self, request: RequestPlan) -> tuple[str, ...]:
        """Where one kind of request goes: the kind's target appended to each base URL."""
        return tuple(request_url(url, request.target) for url in self.urls)

    def curve(self) -> RateCurve:
        return RateCurve(self.rate)

    def expected(self, start: float, end: float) -> float:
        """Expected arrivals in [start, end)."""
        return self.curve().expected(start, end)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "urls": list(self.urls), "load_balancing": self.load_balancing.value,
                "requests": [r.to_json() for r in self.requests], "share": self.share,
                "timeout_s": self.timeout_s, "retries": self.retries.to_json(),
                "cancel_on_timeout": self.cancel_on_timeout, "service": self.service,
                "rate": [[s.start, s.end, s.rate_start, s.rate_end] for s in self.rate]}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], source: str) -> EntryPlan:
        name = str(raw["name"])
        return cls(name=name, urls=tuple(str(u) for u in raw["urls"]),
                   requests=tuple(RequestPlan.from_json(r) for r in raw["requests"]), share=float(raw["share"]),
                   rate=tuple(Segment(*map(float, s)) for s in raw["rate"]),
                   timeout_s=None if raw["timeout_s"] is None else float(raw["timeout_s"]),
                   retries=stackspec.retries(raw["retries"], f"entrypoints.{name}.retries", source),
                   cancel_on_timeout=bool(raw["cancel_on_timeout"]),
                   load_balancing=LoadBalancing(raw["load_balancing"]), service=str(raw.get("service", "")))


@dataclass(frozen=True)
class UsersPlan:
    """A closed loop: ``users`` users in all, each thinking for a time drawn from ``think`` (a stack-spec
    service-time distribution) before each request; each request goes to an entrypoint drawn by its share."""

    users: int
    think: stackspec.ServiceTime

    def to_json(self) -> dict[str, Any]:
        return {"users": self.users, "think": self.think.to_json()}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], source: str) -> UsersPlan:
        return cls(users=int(raw["users"]), think=stackspec.service_time(raw["think"], "users.think", source))

    def for_process(self, index: int, processes: int) -> int:
        """Users run by load process ``index`` of ``processes``: shared out exactly."""
        return self.users // processes + (1 if index < self.users % processes else 0)


@dataclass(frozen=True)
class LoadPlan:
    """The whole load of one run: entrypoints, how long, how latencies are bucketed, and its safety bounds."""

    entrypoints: tuple[EntryPlan, ...]
    duration_s: float  # arrivals stop here
    bounds: tuple[float, ...]  # latency histogram bucket upper bounds (chaos.run.latency_bounds)
    max_requests: int  # entry requests sent over the whole run, all processes together, at most
    drain_s: float = DEFAULT_DRAIN_S  # after the last arrival, how long requests in flight may still finish
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT  # per process; an arrival beyond it is dropped and counted
    seed: int | None = None  # arrival times are reproducible for one process and one seed
    # Closed-loop users instead of open-loop arrivals; the rates are then only an upper bound (every
    # answer instant), for the request cap, and the entrypoints' shares pick each request's entrypoint.
    users: UsersPlan | None = None
    # Where the load process serves its counters in Prometheus text (``HOST:PORT``), for the generated stack's
    # Prometheus to scrape (chaos.live.load.metrics); None: not served.
    metrics_listen: str | None = None
    # How long the process keeps serving them after the load ended: its last counts reach one more scrape.
    metrics_linger_s: float = 0.0

    def entry(self, name: str) -> EntryPlan:
        for e in self.entrypoints:
            if e.name == name:
                return e
        raise KeyError(name)

    def expected(self, start: float = 0.0, end: float | None = None) -> float:
        """Expected entry requests over all entrypoints in [start, end)."""
        stop = self.duration_s if end is None else end
        return sum(e.expected(start, stop) for e in self.entrypoints)

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "duration_s": self.duration_s, "bounds_s": list(self.bounds),
                "max_requests": self.max_requests, "drain_s": self.drain_s, "max_in_flight": self.max_in_flight,
                "seed": self.seed, "entrypoints": [e.to_json() for e in self.entrypoints],
                "users": None if self.users is None else self.users.to_json(), "metrics_listen": self.metrics_listen,
                "metrics_linger_s": self.metrics_linger_s}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], source: str = "<load plan>") -> LoadPlan:
        if raw.get("version") != VERSION:
            raise InputError(f"load plan version {raw.get('version')!r}, expected {VERSION}",
                             hint="the plan was written by another chaoslab version: run both sides from one install")
        return cls(entrypoints=tuple(EntryPlan.from_json(e, source) for e in raw["entrypoints"]),
                   duration_s=float(raw["duration_s"]), bounds=tuple(float(b) for b in raw["bounds_s"]),
                   max_requests=int(raw["max_requests"]), drain_s=float(raw["drain_s"]),
                   max_in_flight=int(raw["max_in_flight"]), seed=raw["seed"],
                   users=None if raw.get("users") is None else UsersPlan.from_json(raw["users"], source),
                   metrics_listen=raw.get("metrics_listen"), metrics_linger_s=float(raw.get("metrics_linger_s", 0.0)))


EntryUrls = str | Sequence[str]
"""An entrypoint's base URL, or the list of them: one per replica of its target service."""


def plan_load(topology: Topology, profile: tuple[Segment, ...], urls: Mapping[str, EntryUrls], *, duration_s: float,
              spikes: Iterable[LoadSpike] = (), bounds: tuple[float, ...] | None = None,
              max_requests: int | None = None, drain_s: float = DEFAULT_DRAIN_S,
              max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, seed: int | None = None,
              requests: Mapping[str, tuple[RequestPlan, ...]] | None = None,
              users: UsersPlan | None = None, metrics_listen: str | None = None,
              metrics_linger_s: float = 0.0) -> LoadPlan:
    """A plan for ``topology``'s entrypoints, each sent to its base URLs in ``urls``.

    ``requests`` gives an entrypoint its request kinds (default: what a generated stack's emulators
    serve, :func:`generated_requests`).

    An entrypoint with several URLs (one per replica of its target) has its attempts
    balanced over them as its target's ``load_balancing`` says, as any caller's are.
    ``profile`` is the experiment's total rate (its load profile's segments); each
    entrypoint gets its relative share of it, times the factor of every load spike on it
    or on '*' while the spike lasts. ``max_requests`` defaults to well above what the
    profile can produce, so it stops only a runaway generator.
    """
    from chaos.live.stack.stackspec_build import retries as spec_retries  # the model side: PyYAML

    lists = {name: (value,) if isinstance(value, str) else tuple(value) for name, value in urls.items()}
    _check_urls(topology, lists)
    spikes = tuple(spikes)
    _check_spikes(topology, spikes)
    total_share = sum(e.share for e in topology.entrypoints)
    entries = tuple(
        EntryPlan(name=e.name, urls=lists[e.name],
                  requests=(requests or {}).get(e.name) or generated_requests(topology, e),
                  share=e.share / total_share,
                  rate=entry_rate(profile, e.share / total_share, _spikes_on(e.name, spikes, duration_s), duration_s),
                  timeout_s=e.timeout, retries=spec_retries(e.retries), cancel_on_timeout=e.cancel_on_timeout,
                  load_balancing=topology.service(e.to).load_balancing, service=e.to)
        for e in topology.entrypoints)
    if bounds is None:
        from chaos.run import latency_bounds

        bounds = latency_bounds()
    expected = sum(RateCurve(e.rate).expected(0.0, duration_s) for e in entries)
    cap = default_cap(expected) if max_requests is None else max_requests
    if cap < 1 or duration_s <= 0 or drain_s < 0 or max_in_flight < 1:
        raise InputError(f"a load plan needs max_requests >= 1 (got {cap}), duration > 0 (got {duration_s:g}s), "
                         f"drain >= 0 (got {drain_s:g}s) and max_in_flight >= 1 (got {max_in_flight})")
    return LoadPlan(entrypoints=entries, duration_s=duration_s, bounds=tuple(bounds), max_requests=cap,
                    drain_s=drain_s, max_in_flight=max_in_flight, seed=seed, users=users, metrics_listen=metrics_listen,
                    metrics_linger_s=metrics_linger_s)


def plan_experiment(experiment: Experiment, urls: Mapping[str, EntryUrls], **options: Any) -> LoadPlan:
    """The plan of an experiment's load: its profile, its load_spike faults, its latency thresholds as bounds."""
    from chaos.live.stack.stackspec_build import service_time
    from chaos.model.faults import LoadSpike
    from chaos.model.load import Users
    from chaos.run import experiment_bounds

    options.setdefault("bounds", experiment_bounds(experiment))
    options.setdefault("seed", experiment.seed)
    load = experiment.load_profile
    if isinstance(load, Users):
        options.setdefault("users", UsersPlan(load.users, service_time(load.think_time)))
    if experiment.live is not None:  # a user's stack: its URL as written, or the kinds it lists
        options.setdefault("requests", {e.name: request_plans(e.requests) or (URL_REQUEST,)
                                        for e in experiment.live.entrypoints})
    spikes = [f for f in experiment.fault_list if isinstance(f, LoadSpike)]
    return plan_load(experiment.topology, experiment.load_profile.segments(experiment.duration), urls,
                     duration_s=experiment.duration, spikes=spikes, **options)


def default_cap(expected: float) -> int:
    """A request cap a correct run never reaches: 20% and ten standard deviations above the expected count."""
    return int(math.ceil(1.2 * expected + 10 * math.sqrt(expected) + 100))


def entry_rate(profile: tuple[Segment, ...], share: float, spikes: list[tuple[float, float, float]],
               duration_s: float) -> tuple[Segment, ...]:
    """The profile scaled by ``share`` and by the product of the spikes (start, end, factor) active at each time."""
    cuts = sorted({0.0, duration_s} | {s.start for s in profile} | {s.end for s in profile}
                  | {t for a, b, _ in spikes for t in (a, b)})
    cuts = [t for t in cuts if 0.0 <= t <= duration_s]
    out = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        seg = next((s for s in profile if s.start <= a and b <= s.end), None)
        if seg is None or b <= a:
            continue  # no profile segment covers it: no load there
        factor = math.prod(f for start, end, f in spikes if start <= a < end)
        out.append(Segment(a, b, seg.rate_at(a) * share * factor, seg.rate_at(b) * share * factor))
    return tuple(out)


def arrivals(curve: RateCurve, scale: float, rng: random.Random, start: float = 0.0) -> Iterator[float]:
    """Poisson arrival times at ``scale`` times the curve's rate, from ``start`` until the curve ends
    (drawn as the simulator draws them: ``RateCurve.next_arrival``)."""
    t = start
    while True:
        nxt = curve.next_arrival(t, scale, rng)
        if nxt is None:
            return
        yield nxt
        t = nxt


def arrival_rng(seed: int | None, process: int, dispatcher: int, entry: int) -> random.Random:
    """The random stream of one dispatcher's arrivals: seeded, so a run's arrival times can be replayed."""
    if seed is None:
        return random.Random()
    return random.Random(f"{seed}/{process}/{dispatcher}/{entry}")


def _spikes_on(entry: str, spikes: tuple[LoadSpike, ...], duration_s: float) -> list[tuple[float, float, float]]:
    return [(s.at, s.end(duration_s), s.factor) for s in spikes if s.target in (entry, ALL_ENTRYPOINTS)]


def _check_urls(topology: Topology, urls: Mapping[str, tuple[str, ...]]) -> None:
    from chaos.model.parsing import did_you_mean

    names = [e.name for e in topology.entrypoints]
    for name in names:
        if not urls.get(name):
            raise InputError(f"no URL for entrypoint '{name}'",
                             hint=f"give base URLs (one per replica of its target) for each of: {', '.join(names)}")
    for name, found in urls.items():
        if name not in names:
            raise InputError(f"URL given for unknown entrypoint '{name}'{did_you_mean(name, names)}")
        for url in found:
            parts = urlsplit(url)
            if parts.scheme != "http" or not parts.hostname or parts.query or parts.fragment:
                raise InputError(f"entrypoint '{name}': URL {url!r} is not a plain http://host:port/prefix URL",
                                 hint="the load generator speaks plain HTTP/1.1; give query parameters "
                                      "in the entrypoint's requests (query:)")


def _check_spikes(topology: Topology, spikes: tuple[LoadSpike, ...]) -> None:
    from chaos.model.parsing import did_you_mean

    names = [e.name for e in topology.entrypoints]
    for s in spikes:
        if s.target != ALL_ENTRYPOINTS and s.target not in names:
            raise s.error("target", f"load_spike on unknown entrypoint '{s.target}'{did_you_mean(s.target, names)}")

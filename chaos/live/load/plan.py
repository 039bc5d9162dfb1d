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
    from chaos.model.topology import Topology

VERSION = 2  # 2: a list of URLs per entrypoint (one per replica of its target) and their load balancing
ALL_ENTRYPOINTS = "*"  # a load spike on '*' multiplies every entrypoint's rate
WORK_PATH = "/work"
DEFAULT_MAX_IN_FLIGHT = 5000  # per Locust process: below Locust's own file-descriptor limit of 10,000
DEFAULT_DRAIN_S = 1.0


@dataclass(frozen=True)
class EntryPlan:
    """One entrypoint: where its requests go, how fast they arrive, and what its clients do on failure."""

    name: str
    urls: tuple[str, ...]  # base URLs, one per replica of the target; each attempt is a GET of url + /work
    rate: tuple[Segment, ...]  # requests/s over time: the entrypoint's share of the profile, times its spikes
    timeout_s: float | None = None  # per attempt
    retries: stackspec.Retries = field(default_factory=stackspec.Retries)
    cancel_on_timeout: bool = False
    load_balancing: LoadBalancing = LoadBalancing.ROUND_ROBIN  # the target service's, over ``urls``

    @property
    def work_urls(self) -> tuple[str, ...]:
        return tuple(url.rstrip("/") + WORK_PATH for url in self.urls)

    def curve(self) -> RateCurve:
        return RateCurve(self.rate)

    def expected(self, start: float, end: float) -> float:
        """Expected arrivals in [start, end)."""
        return self.curve().expected(start, end)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "urls": list(self.urls), "load_balancing": self.load_balancing.value,
                "timeout_s": self.timeout_s, "retries": self.retries.to_json(),
                "cancel_on_timeout": self.cancel_on_timeout,
                "rate": [[s.start, s.end, s.rate_start, s.rate_end] for s in self.rate]}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], source: str) -> EntryPlan:
        name = str(raw["name"])
        return cls(name=name, urls=tuple(str(u) for u in raw["urls"]),
                   rate=tuple(Segment(*map(float, s)) for s in raw["rate"]),
                   timeout_s=None if raw["timeout_s"] is None else float(raw["timeout_s"]),
                   retries=stackspec.retries(raw["retries"], f"entrypoints.{name}.retries", source),
                   cancel_on_timeout=bool(raw["cancel_on_timeout"]),
                   load_balancing=LoadBalancing(raw["load_balancing"]))


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
                "seed": self.seed, "entrypoints": [e.to_json() for e in self.entrypoints]}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], source: str = "<load plan>") -> LoadPlan:
        if raw.get("version") != VERSION:
            raise InputError(f"load plan version {raw.get('version')!r}, expected {VERSION}",
                             hint="the plan was written by another chaoslab version: run both sides from one install")
        return cls(entrypoints=tuple(EntryPlan.from_json(e, source) for e in raw["entrypoints"]),
                   duration_s=float(raw["duration_s"]), bounds=tuple(float(b) for b in raw["bounds_s"]),
                   max_requests=int(raw["max_requests"]), drain_s=float(raw["drain_s"]),
                   max_in_flight=int(raw["max_in_flight"]), seed=raw["seed"])


EntryUrls = str | Sequence[str]
"""An entrypoint's base URL, or the list of them: one per replica of its target service."""


def plan_load(topology: Topology, profile: tuple[Segment, ...], urls: Mapping[str, EntryUrls], *, duration_s: float,
              spikes: Iterable[LoadSpike] = (), bounds: tuple[float, ...] | None = None,
              max_requests: int | None = None, drain_s: float = DEFAULT_DRAIN_S,
              max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, seed: int | None = None) -> LoadPlan:
    """A plan for ``topology``'s entrypoints, each sent to its base URLs in ``urls``.

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
                  rate=entry_rate(profile, e.share / total_share, _spikes_on(e.name, spikes, duration_s), duration_s),
                  timeout_s=e.timeout, retries=spec_retries(e.retries), cancel_on_timeout=e.cancel_on_timeout,
                  load_balancing=topology.service(e.to).load_balancing)
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
                    drain_s=drain_s, max_in_flight=max_in_flight, seed=seed)


def plan_experiment(experiment: Experiment, urls: Mapping[str, EntryUrls], **options: Any) -> LoadPlan:
    """The plan of an experiment's load: its profile, its load_spike faults, its latency thresholds as bounds."""
    from chaos.model.faults import LoadSpike
    from chaos.run import experiment_bounds

    options.setdefault("bounds", experiment_bounds(experiment))
    options.setdefault("seed", experiment.seed)
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
                                 hint="the load generator speaks plain HTTP/1.1 and requests <url>/work")


def _check_spikes(topology: Topology, spikes: tuple[LoadSpike, ...]) -> None:
    from chaos.model.parsing import did_you_mean

    names = [e.name for e in topology.entrypoints]
    for s in spikes:
        if s.target != ALL_ENTRYPOINTS and s.target not in names:
            raise s.error("target", f"load_spike on unknown entrypoint '{s.target}'{did_you_mean(s.target, names)}")

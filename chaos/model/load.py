"""Load profiles: how many entry requests per second arrive over the run.

Every open-loop profile compiles to the same thing, a list of :class:`Segment` on which
the rate is linear, so the simulator and the live load generator follow one description.
Arrivals are Poisson at that rate, whatever the system does; entrypoints split it by
their ``share``.

:class:`Users` is the closed loop instead: a fixed population of users, each sending one
request, waiting for its answer (or its failure), thinking, then sending the next, as
Locust's users do. The rate then follows the system: a slow system is sent less. Each
request goes to an entrypoint drawn by ``share``.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass
from typing import Annotated

from chaos.model.bounds import MAX_RATE
from chaos.model.distributions import Distribution
from chaos.model.parsing import Model, Seconds, Tagged, fld

MAX_USERS = 100_000


@dataclass(frozen=True)
class Segment:
    """From ``start`` to ``end`` the rate goes linearly from ``rate_start`` to ``rate_end`` (requests/s)."""

    start: float
    end: float
    rate_start: float
    rate_end: float

    def rate_at(self, t: float) -> float:
        if self.end <= self.start:
            return self.rate_end
        f = (t - self.start) / (self.end - self.start)
        return self.rate_start + (self.rate_end - self.rate_start) * f

    @property
    def requests(self) -> float:
        return (self.end - self.start) * (self.rate_start + self.rate_end) / 2


def _clip(segments: list[Segment], duration: float) -> tuple[Segment, ...]:
    out = []
    for s in segments:
        if s.start >= duration or s.end <= s.start:
            continue
        if s.end > duration:
            s = Segment(s.start, duration, s.rate_start, s.rate_at(duration))
        out.append(s)
    return tuple(out)


@dataclass(frozen=True)
class Constant(Model):
    """The same rate throughout."""

    TAG = "constant"
    rate: float = fld(ge=0, le=MAX_RATE, doc="entry requests per second")

    def segments(self, duration: float) -> tuple[Segment, ...]:
        return _clip([Segment(0.0, duration, self.rate, self.rate)], duration)


@dataclass(frozen=True)
class Ramp(Model):
    """From one rate to another, linearly, then holding the final rate."""

    TAG = "ramp"
    from_: float = fld(key="from", ge=0, le=MAX_RATE, doc="rate at the start of the ramp")
    to: float = fld(ge=0, le=MAX_RATE, doc="rate at the end of the ramp")
    start: Seconds = fld(0.0, doc="when the ramp starts (the 'from' rate holds before)")
    over: Seconds | None = fld(None, gt=0, doc="how long the ramp lasts (default: to the end of the run)")

    def segments(self, duration: float) -> tuple[Segment, ...]:
        end = duration if self.over is None else self.start + self.over
        return _clip([Segment(0.0, self.start, self.from_, self.from_),
                      Segment(self.start, end, self.from_, self.to),
                      Segment(end, max(end, duration), self.to, self.to)], duration)


@dataclass(frozen=True)
class Step(Model):
    """One rate, then another from a given time on."""

    TAG = "step"
    rate: float = fld(ge=0, le=MAX_RATE, doc="rate before the step")
    to: float = fld(ge=0, le=MAX_RATE, doc="rate after the step")
    at: Seconds = fld(doc="when the step happens")

    def segments(self, duration: float) -> tuple[Segment, ...]:
        return _clip([Segment(0.0, self.at, self.rate, self.rate),
                      Segment(self.at, duration, self.to, self.to)], duration)


@dataclass(frozen=True)
class Spike(Model):
    """A base rate with one burst at a higher rate."""

    TAG = "spike"
    rate: float = fld(ge=0, le=MAX_RATE, doc="base rate")
    peak: float = fld(ge=0, le=MAX_RATE, doc="rate during the spike")
    at: Seconds = fld(doc="when the spike starts")
    for_: Seconds = fld(key="for", gt=0, doc="how long the spike lasts")

    def segments(self, duration: float) -> tuple[Segment, ...]:
        end = self.at + self.for_
        return _clip([Segment(0.0, self.at, self.rate, self.rate), Segment(self.at, end, self.peak, self.peak),
                      Segment(end, max(end, duration), self.rate, self.rate)], duration)


@dataclass(frozen=True)
class Stage(Model):
    """One stage: a constant rate, or a ramp when ``to`` is given."""

    for_: Seconds = fld(key="for", gt=0, doc="how long the stage lasts")
    rate: float = fld(ge=0, le=MAX_RATE, doc="rate at the start of the stage")
    to: float | None = fld(None, ge=0, le=MAX_RATE, doc="rate at the end of the stage (a ramp)")


@dataclass(frozen=True)
class Stages(Model):
    """A list of stages run one after the other; the last rate holds to the end."""

    TAG = "stages"
    stages: tuple[Stage, ...] = fld(doc="the stages in order")

    def validate(self) -> None:
        if not self.stages:
            raise self.error("stages", "give at least one stage")

    def segments(self, duration: float) -> tuple[Segment, ...]:
        out, t = [], 0.0
        for stage in self.stages:
            end_rate = stage.rate if stage.to is None else stage.to
            out.append(Segment(t, t + stage.for_, stage.rate, end_rate))
            t += stage.for_
        last = out[-1].rate_end
        out.append(Segment(t, max(t, duration), last, last))
        return _clip(out, duration)


@dataclass(frozen=True)
class Users(Model):
    """A closed loop: a fixed number of users, each waiting for its answer, then thinking, before its next request."""

    TAG = "users"
    users: int = fld(ge=1, le=MAX_USERS, doc="concurrent users, each with one request at a time at most")
    think_time: Distribution = fld(doc="a user's pause between an answer and its next request, e.g. "
                                       "{dist: exponential, mean: 1s}; each user starts with one")

    def validate(self) -> None:
        if self.think_time.mean <= 0:
            raise self.error("think_time", "a think time of 0 makes every user a tight loop: give it a mean above 0",
                             hint="e.g. think_time: {dist: exponential, mean: 1s}")

    def segments(self, duration: float) -> tuple[Segment, ...]:
        """The most the users can send (every answer instant: users / mean think time), for sizing a run.

        No engine draws arrivals from it: the users' own answers pace them.
        """
        rate = self.users / self.think_time.mean
        return _clip([Segment(0.0, duration, rate, rate)], duration)


LoadProfile = Annotated[Constant | Ramp | Step | Spike | Stages | Users, Tagged("profile", default=Constant)]
AnyLoadProfile = Constant | Ramp | Step | Spike | Stages | Users


class RateCurve:
    """A load profile's rate as a function of time, for arrival generators."""

    def __init__(self, segments: tuple[Segment, ...]) -> None:
        self.segments = segments
        self.starts = [s.start for s in segments]
        self.ends = sorted({s.end for s in segments} | {s.start for s in segments})

    def rate_at(self, t: float) -> float:
        i = bisect.bisect_right(self.starts, t) - 1
        if i < 0 or not self.segments:
            return 0.0
        seg = self.segments[i]
        if t >= seg.end:
            return 0.0
        return seg.rate_at(t)

    def next_change(self, t: float) -> float:
        """The first segment boundary after ``t`` (infinity after the last)."""
        i = bisect.bisect_right(self.ends, t)
        return self.ends[i] if i < len(self.ends) else math.inf

    def next_arrival(self, t: float, scale: float, rng: random.Random) -> float | None:
        """The next Poisson arrival after ``t`` at ``scale`` times the rate; None when the curve has ended.

        Thinning: propose at the largest rate of the current piece, accept with probability
        rate(t)/max. Crossing a piece boundary restarts the proposal there, which is exact
        because the process is memoryless. Both engines draw arrivals with this.
        """
        while True:
            end = self.next_change(t)
            lam_max = max(self.rate_at(t), self.rate_at(min(end, t + 1e9) - 1e-9)) * scale
            if lam_max <= 0:
                if end == math.inf:
                    return None
                t = end
                continue
            cand = t + rng.expovariate(lam_max)
            if cand >= end:
                t = end
                continue
            if rng.random() * lam_max <= self.rate_at(cand) * scale:
                return cand
            t = cand

    def expected(self, start: float, end: float) -> float:
        """Expected number of arrivals in [start, end)."""
        total = 0.0
        for s in self.segments:
            lo, hi = max(start, s.start), min(end, s.end)
            if hi > lo:
                total += (hi - lo) * (s.rate_at(lo) + s.rate_at(hi)) / 2
        return total

"""The comparison's document (``compare.json``): a simulation against reality, as frozen typed values.

``chaos.live.gameday.compare`` judges two result documents and builds a :class:`CompareDocument`; the one
codec (:mod:`chaos.codec`) writes it and reads it back, and ``chaoslab schema compare`` prints the JSON
Schema generated from these types. Outside ``chaos.live`` so that the schema command reads it without
importing the live side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class FigureCheck:
    """One figure of one scope: predicted (simulated) against observed (live), and whether it is within
    its bound (None: neither engine has the figure)."""

    scope: str
    figure: str
    predicted: float | None
    observed: float | None
    bound: str
    ok: bool | None


@dataclass(frozen=True, kw_only=True)
class BreachOrderCheck:
    """The services that breached, each with its first breach (s), in both engines, and whether the order agrees."""

    predicted: tuple[tuple[str, float], ...]
    observed: tuple[tuple[str, float], ...]
    ok: bool
    detail: str


@dataclass(frozen=True, kw_only=True)
class TimingPair:
    predicted: float | None
    observed: float | None


@dataclass(frozen=True, kw_only=True)
class ResolutionPair:
    """The seconds between the samples each run's rules and figures were read from: the predicted run's scrape
    interval where it evaluated rule files on scrapes (its ``scrape_interval_s``), the observed run's step where it
    read Prometheus (``live.resolution_s``); None: per second. ``same``: False when both are given and differ,
    so time to detect can differ by that much for no reason of the system's."""

    predicted: int | None
    observed: int | None
    same: bool


@dataclass(frozen=True, kw_only=True)
class CompareDocument:
    """What compare.json holds: a simulation against reality, judged figure by figure
    (``chaoslab schema compare``); ``diverging`` lists the figures out of bounds, per scope."""

    experiment: str
    agrees: bool
    verdict: str
    offsets_ms: Mapping[str, float]
    checks: tuple[FigureCheck, ...]
    breach_order: BreachOrderCheck
    timing: Mapping[str, TimingPair]
    skipped: Mapping[str, str]  # scope -> why it was not compared (unmeasured in the observed run)
    diverging: Mapping[str, tuple[str, ...]]
    resolution_s: ResolutionPair | None = None

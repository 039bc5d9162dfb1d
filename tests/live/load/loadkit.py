"""Helpers for the load generator's tests (imported as ``loadkit``): topologies, plans, bounded runs.

Every run sends traffic to 127.0.0.1 only, is bounded by its plan (duration, drain,
request cap) and by the waits here, and stops its Locust processes however it ends.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from chaos.live.load import LoadGenerator, LoadPlan, LoadSummary, SecondStats, plan_load
from chaos.model.distributions import Exponential
from chaos.model.faults import LoadSpike
from chaos.model.load import Segment
from chaos.model.topology import Backoff, Entrypoint, Jitter, LoadBalancing, Retries, Service, Topology

BOUNDS = tuple(round(0.001 * 10 ** (i / 10), 9) for i in range(0, 41))  # 1 ms .. 10 s, 10 per decade


def topology(*entries: Entrypoint, balancing: LoadBalancing = LoadBalancing.ROUND_ROBIN) -> Topology:
    """Entrypoints in front of one service (the service is never called: /work servers stand in for its replicas)."""
    svc = Service(name="svc", service_time=Exponential(mean_=0.001), load_balancing=balancing)
    return Topology(name="t", services=(svc,), entrypoints=entries or (Entrypoint(name="web", to="svc"),))


def entry(name: str = "web", share: float = 1.0, timeout: float | None = None, retries: int = 0,
          base: float = 0.0, budget: float | None = None, cancel: bool = False) -> Entrypoint:
    return Entrypoint(name=name, to="svc", share=share, timeout=timeout, cancel_on_timeout=cancel,
                      retries=Retries(max=retries, backoff=Backoff(base=base, cap=max(base, 1.0), jitter=Jitter.NONE),
                                      budget=budget))


def constant(rate: float, duration: float) -> tuple[Segment, ...]:
    return (Segment(0.0, duration, rate, rate),)


def spike(target: str, at: float, duration: float, factor: float) -> LoadSpike:
    return LoadSpike(target=target, at=at, duration=duration, factor=factor)


def make_plan(topo: Topology, profile: tuple[Segment, ...], urls: Mapping[str, str | list[str]], duration: float,
              **options: object) -> LoadPlan:
    options.setdefault("bounds", BOUNDS)
    options.setdefault("seed", 7)
    return plan_load(topo, profile, urls, duration_s=duration, **options)  # type: ignore[arg-type]


@dataclass
class LoadRun:
    """A finished run: every record, the end summary, and what the server saw."""

    records: dict[tuple[str, int], SecondStats]
    summary: LoadSummary
    warnings: tuple[str, ...]
    pids: tuple[int, ...]
    pgid: int

    def series(self, name: str) -> list[SecondStats]:
        return sorted((r for (e, _), r in self.records.items() if e == name), key=lambda r: r.second)

    def summed(self, name: str, field: str) -> int:
        return sum(getattr(r, field) for r in self.series(name))


def run(plan: LoadPlan, workdir: Path, workers: int = 0) -> LoadRun:
    """Run a plan to its end, reading records as they stream (as the game-day driver will)."""
    with LoadGenerator(plan, workdir, workers=workers) as load:
        load.wait_started(timeout_s=60.0)
        deadline = time.monotonic() + plan.duration_s + plan.drain_s + 30.0
        while load.running and time.monotonic() < deadline:
            load.poll(timeout_s=0.5)
        summary = load.wait(timeout_s=max(1.0, deadline - time.monotonic()))
        return LoadRun(load.records(), summary, load.warnings, load.pids, load.pgid or 0)


def poisson_ok(n: int, expected: float, sigmas: float = 4.5) -> bool:
    """Is a Poisson count ``n`` within ``sigmas`` standard deviations of its mean?"""
    return abs(n - expected) <= sigmas * math.sqrt(max(expected, 1.0))


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in a process group, from /proc."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(name))
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] != "Z"


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True

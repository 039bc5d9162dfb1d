"""Faults a replica applies to itself, set through ``/admin/faults``.

- ``errors``: the share of ``/work`` requests answered at once with 503 ``injected``;
- ``slowdown``: a factor on every service time drawn from now on;
- ``hang``: requests are accepted and held where they are (on arrival, after their
  work, before their answer) until the hang ends, then go on, as the simulator's hang
  (and ``docker pause``) does;
- ``cold_start``: a factor on service times that decays exponentially from now,
  ``1 + (factor - 1) * exp(-t / decay_s)``, as after the simulator's restart
  (``chaos.core.coldstart``).

The admission limit in front of the service (a playbook's ``shed_load``, set through
``/admin/admission``) is the core's token bucket, ``chaos.core.admission``.

Each is a current value: setting it replaces it. The admin, health and metrics routes
never wait on a hang.

An edge's faults are its caller's business (:class:`EdgeFaults`, set through
``/admin/calls/{callee}/faults``): ``errors`` makes that share of the caller's attempts
to that callee fail at once with ``injected``, counted in the caller's view of the
call, as the simulator's edge errors are.

An operation's faults are its own (:class:`OperationFaults`, set through
``/admin/operations/{name}/faults``), as the simulator's faults scoped to an operation:
``errors`` answers that share of the operation's requests at once with ``injected``;
``delay_s`` (± ``jitter_s``, uniform) holds each of its answers that long after its work,
without a worker, as a latency fault delays the responses. The others' requests are untouched.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from chaos.core.coldstart import cold_factor


@dataclass(frozen=True)
class ColdStart:
    factor: float
    decay_s: float
    since: float  # monotonic time it started

    def factor_at(self, now: float) -> float:
        return cold_factor(self.factor, self.decay_s, now - self.since)


@dataclass(frozen=True)
class FaultSettings:
    """The faults in effect, as a value: what ``/admin/state`` shows."""

    errors: float = 0.0
    slowdown: float = 1.0
    hang: bool = False
    cold_start: ColdStart | None = None

    def to_json(self, now: float) -> dict[str, Any]:
        cold = None if self.cold_start is None else {
            "factor": self.cold_start.factor, "decay_s": self.cold_start.decay_s,
            "age_s": round(now - self.cold_start.since, 6), "current_factor": self.cold_start.factor_at(now)}
        return {"errors": self.errors, "slowdown": self.slowdown, "hang": self.hang, "cold_start": cold}


@dataclass(frozen=True)
class EdgeFaults:
    """The faults in effect on one outgoing call (applied by the caller, before any connection)."""

    errors: float = 0.0  # share of attempts that fail at once with ``injected``

    def to_json(self) -> dict[str, Any]:
        return {"errors": self.errors}


@dataclass(frozen=True)
class OperationFaults:
    """The faults in effect on one operation of a service (applied by the service to that path only)."""

    errors: float = 0.0   # share of the operation's requests answered at once with ``injected``
    delay_s: float = 0.0  # added to each of its answers
    jitter_s: float = 0.0  # the delay varies uniformly by this much either way

    def delay(self, roll: float) -> float:
        """The delay of one answer, for a uniform ``roll`` in [0, 1) (as the simulator draws it)."""
        return max(0.0, self.delay_s + self.jitter_s * (2.0 * roll - 1.0))

    def to_json(self) -> dict[str, Any]:
        return {"errors": self.errors, "delay_s": self.delay_s, "jitter_s": self.jitter_s}


class Faults:
    """The current settings, and the gate that holds requests while hung."""

    def __init__(self) -> None:
        self.settings = FaultSettings()
        self._running = asyncio.Event()
        self._running.set()

    def apply(self, settings: FaultSettings) -> None:
        self.settings = settings
        if settings.hang:
            self._running.clear()
        else:
            self._running.set()  # held requests go on, in the order they were held

    async def pass_hang(self) -> None:
        """Return at once unless hung; else when the hang ends."""
        if self.settings.hang:
            await self._running.wait()

    def time_factor(self, now: float) -> float:
        """What a service time drawn now is multiplied by."""
        s = self.settings
        cold = 1.0 if s.cold_start is None else s.cold_start.factor_at(now)
        return s.slowdown * cold

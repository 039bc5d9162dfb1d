"""The emulator's circuit breakers: the core's own (``chaos.core.breaker``) on the wall clock."""

from __future__ import annotations

from chaos.core.breaker import BreakerState, CircuitBreaker
from chaos.live.in_container.stackspec import Breaker as BreakerSpec

__all__ = ["BreakerState", "CircuitBreaker", "breaker_for"]


def breaker_for(spec: BreakerSpec) -> CircuitBreaker:
    """A breaker configured as the stack spec says."""
    return CircuitBreaker(spec.failure_ratio, spec.min_calls, spec.window_s, spec.open_for_s, spec.half_open_probes)

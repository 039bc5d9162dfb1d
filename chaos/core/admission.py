"""The admission limit in front of an entrypoint or a service (a playbook's ``shed_load``).

At most ``limit`` requests per second are let in and the rest rejected at once: a token
bucket refilled continuously at ``limit`` per second, holding one second's worth, full
when the limit is set. The caller passes the time (simulated or wall), so the
simulator's entrypoints and the emulator's front door admit identically.
"""

from __future__ import annotations


class AdmissionBucket:
    """A token bucket; ``limit`` None lets everything in."""

    __slots__ = ("limit", "tokens", "last")

    def __init__(self) -> None:
        self.limit: float | None = None
        self.tokens = 0.0
        self.last = 0.0

    def set(self, limit: float | None, now: float) -> None:
        """A new limit from ``now`` on (None lifts it); the bucket starts full."""
        self.limit = limit
        self.tokens = limit or 0.0
        self.last = now

    def admit(self, now: float) -> bool:
        """Is a request arriving at ``now`` let in? Spends a token if so."""
        limit = self.limit
        if limit is None:
            return True
        tokens = self.tokens + (now - self.last) * limit
        self.tokens = tokens if tokens < limit else limit
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

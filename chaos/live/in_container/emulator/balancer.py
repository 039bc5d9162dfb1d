"""The caller's load balancer over a callee's replicas, with passive health checks.

The caller picks a replica for each attempt: round robin, random, or the one with the
fewest of the caller's own attempts in flight (``least_outstanding``, ties broken in
turn). A replica whose last connection was refused or reset is skipped for
``HOLD_S`` (then tried again), unless every replica is skipped: in the simulator the
load balancer routes only to live replicas, and this is how a live caller learns
which ones are down.

Pure logic: the caller passes the time.
"""

from __future__ import annotations

from collections.abc import Callable

from chaos.live.in_container.stackspec import LoadBalancing

HOLD_S = 1.0


class Balancer:
    """Which replica of one callee the next attempt goes to."""

    def __init__(self, replicas: int, policy: LoadBalancing, rand: Callable[[], float]) -> None:
        self.replicas = replicas
        self.policy = policy
        self.rand = rand
        self.outstanding = [0] * replicas
        self.down_until = [0.0] * replicas
        self.rr = -1

    def candidates(self, now: float) -> list[int]:
        """Replicas not held back by a recent connection failure (all of them if none is left)."""
        live = [i for i in range(self.replicas) if self.down_until[i] <= now]
        return live or list(range(self.replicas))

    def pick(self, now: float) -> int:
        live = self.candidates(now)
        if len(live) == 1:
            return live[0]
        if self.policy is LoadBalancing.RANDOM:
            return live[int(self.rand() * len(live))]
        if self.policy is LoadBalancing.ROUND_ROBIN:
            return self._next_in_turn(live)
        least = min(self.outstanding[i] for i in live)
        return self._next_in_turn([i for i in live if self.outstanding[i] == least])

    def _next_in_turn(self, allowed: list[int]) -> int:
        """The first of ``allowed`` after the last replica picked, wrapping around."""
        for step in range(1, self.replicas + 1):
            i = (self.rr + step) % self.replicas
            if i in allowed:
                self.rr = i
                return i
        raise AssertionError("allowed is a non-empty subset of the replicas")

    def connection_failed(self, replica: int, now: float) -> None:
        """The replica refused or reset a connection: skip it for a while."""
        self.down_until[replica] = now + HOLD_S

    def started(self, replica: int) -> None:
        self.outstanding[replica] += 1

    def finished(self, replica: int) -> None:
        self.outstanding[replica] -= 1

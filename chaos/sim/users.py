"""Closed-loop users in the simulator: a fixed population, each with at most one request at a time.

Open-loop arrivals (``Kernel.start_arrivals``) come at their rate whatever the system
does. A closed-loop user instead sends one request, waits until it ends (answered,
failed, timed out after its retries, or rejected), thinks for a time drawn from the
load's ``think_time``, and sends the next one, to an entrypoint drawn by ``share``: the
system's slowness slows the users down. This is the machine-repairman model; with N
users, mean think time Z and mean response time R, throughput is N / (R + Z) (the
interactive response time law).

Each user starts by thinking, so the population does not arrive all at once at 0 s.
Users are events on the kernel's heap like everything else, with one random stream for
the think times and one for the choice of entrypoint.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from simpy.events import NORMAL, Event

from chaos.model.load import Users
from chaos.sim.kernel import Entry, Kernel, UserRequest
from chaos.streams import stream


class User(Event):
    """One user: scheduled as an event when its think time is over."""

    _ok = True

    def __init__(self, population: Population) -> None:
        self.population = population
        self.callbacks = population.cb_send

    def answered(self) -> None:
        """Its request ended: think, then send the next one."""
        self.population.think(self)


class Population:
    """Every user of a closed-loop load."""

    def __init__(self, kernel: Kernel, load: Users, entries: Sequence[Entry], seed: int) -> None:
        self.kernel = kernel
        self.entries = list(entries)
        total = sum(e.share for e in self.entries)
        self.cumulative = []
        acc = 0.0
        for e in self.entries:
            acc += e.share / total
            self.cumulative.append(acc)
        self.pick = stream(seed, "users", "entrypoint").random
        self.think_time = load.think_time.sampler(stream(seed, "users", "think"))
        self.cb_send: list[Any] = [self.send]
        self.users = [User(self) for _ in range(load.users)]

    def start(self) -> None:
        for user in self.users:
            self.think(user)

    def think(self, user: User) -> None:
        # A user's event is scheduled again for each pause: SimPy only reads its callbacks.
        user.callbacks = self.cb_send
        self.kernel.schedule(user, NORMAL, self.think_time())

    def send(self, user: Event) -> None:
        assert isinstance(user, User)
        entries = self.entries
        i = 0 if len(entries) == 1 else min(bisect.bisect_right(self.cumulative, self.pick()), len(entries) - 1)
        self.kernel.submit(UserRequest(entries[i], self.kernel.env.now, user))

"""The fault-driver protocol: ``inject`` returns a handle, ``revert`` takes it.

A fault is first *planned* for one stack (``routes.plan``): an :class:`~chaos.live.faults.actions.Action`
says which driver does what (its operation's typed parameters) to which proxies, containers or
admin URLs. Planning is pure, so every fault of an experiment is planned, and refused if it
cannot be done live, before the run starts. A driver then does the action::

    handle = driver.inject(action, ctx)   # calls ctx.record(handle) BEFORE changing anything
    ...
    driver.revert(handle)                 # idempotent: what is already undone is skipped

The handle holds everything needed to undo the fault without the experiment or the stack
(URLs, container names, previous values), so ``chaoslab recover`` can revert it from the
journal after the harness was killed. ``ctx.record`` may be called more than once, as the
driver learns more (the CPU quota it is about to replace, the containers it picked); the
journal keeps the last one. A driver whose ``inject`` fails part way leaves a recorded
handle that its ``revert`` can undo, whatever part was done.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from chaos.live.faults.actions import Action, DriverKind, Handle


@dataclass(frozen=True)
class InjectContext:
    """What a driver gets besides the action: where to journal its handle before acting."""

    record: Callable[[Handle], None]


class Driver(Protocol):
    kind: DriverKind

    def preflight(self, action: Action) -> None:
        """Check, before the run starts, that the action can be done here (raise LiveError if not)."""

    def inject(self, action: Action, ctx: InjectContext) -> Handle:
        """Do the action; ``ctx.record(handle)`` before the first change."""

    def revert(self, handle: Handle) -> None:
        """Undo; skip what is already undone; raise a LiveError naming what could not be undone."""

    def undo_hint(self, handle: Handle) -> list[str]:
        """Commands a person can run to undo the handle by hand."""


class Presence(enum.Enum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    ABSENT = "absent"
    UNKNOWN = "unknown"  # no engine to ask


ContainerProbe = Callable[[str], Presence]
"""Where a container stands: drivers ask it when their server does not answer, because the
state of a server that died (a crashed emulator, a removed Toxiproxy) died with it."""


def no_probe(_name: str) -> Presence:
    return Presence.UNKNOWN


class Holds:
    """Reference counts of things several faults may hold at once (a disabled proxy, a paused
    container): the first hold does it, the last release undoes it."""

    def __init__(self) -> None:
        self._holders: dict[str, set[str]] = {}

    def acquire(self, key: str, holder: str) -> bool:
        """True when ``holder`` is the first: the caller must do the change."""
        holders = self._holders.setdefault(key, set())
        first = not holders
        holders.add(holder)
        return first

    def release(self, key: str, holder: str) -> bool:
        """True when no one holds ``key`` any more: the caller must undo the change.

        A key nobody is known to hold (a fresh process recovering a journal) is released.
        """
        holders = self._holders.get(key, set())
        holders.discard(holder)
        if holders:
            return False
        self._holders.pop(key, None)
        return True

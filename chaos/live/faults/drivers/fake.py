"""``FakeDriver``: records what it is asked to do and does nothing, for tests and ``--dry-run``.

Shipped in the package, as httpx ships ``MockTransport``: the fault runner, the journal and
recovery can be exercised without Docker or Toxiproxy. It can stand in for any driver kind (it
takes that kind's typed actions as they are and hands back a :class:`~chaos.live.faults.actions.Faked`
handle, so ``recover`` knows there is nothing to undo), and can be told to fail chosen faults'
inject or revert, to test the failure paths.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass, field

from chaos.errors import LiveError
from chaos.live.faults.actions import Action, DriverKind, Faked, Handle
from chaos.live.faults.drivers.base import InjectContext


class Call(enum.Enum):
    INJECT = "inject"
    REVERT = "revert"


@dataclass(frozen=True)
class FakeCall:
    what: Call
    id: str
    handle: Handle = field(compare=False)


class FakeDriver:
    def __init__(self, kind: DriverKind = DriverKind.FAKE, *, fail_inject: Collection[str] = (),
                 fail_revert: Collection[str] = ()) -> None:
        self.kind = kind
        self.fail_inject = set(fail_inject)   # fault ids whose inject raises after recording
        self.fail_revert = set(fail_revert)   # fault ids whose revert raises (until removed from the set)
        self.calls: list[FakeCall] = []
        self.applied: dict[str, Handle] = {}

    def preflight(self, action: Action) -> None:
        """Nothing to check."""

    def inject(self, action: Action, ctx: InjectContext) -> Handle:
        handle = action.handle(Faked())
        ctx.record(handle)
        self.calls.append(FakeCall(Call.INJECT, action.id, handle))
        if action.id in self.fail_inject:
            raise LiveError(f"{action.label}: injected failure of inject (FakeDriver)")
        self.applied[action.id] = handle
        return handle

    def revert(self, handle: Handle) -> None:
        self.calls.append(FakeCall(Call.REVERT, handle.id, handle))
        if handle.id in self.fail_revert:
            raise LiveError(f"{handle.label}: injected failure of revert (FakeDriver)")
        self.applied.pop(handle.id, None)

    def undo_hint(self, handle: Handle) -> list[str]:
        return [f"(fake) nothing to do for {handle.label}"]

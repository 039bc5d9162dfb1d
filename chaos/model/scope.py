"""What a measurement or a target is about: a service, an entrypoint, or an edge between two services."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ScopeKind(enum.Enum):
    SERVICE = "service"
    ENTRYPOINT = "entrypoint"
    OPERATION = "operation"  # named service.operation


@dataclass(frozen=True, order=True)
class Scope:
    """``service:db``, ``entrypoint:web`` or ``operation:db.read``: the unit that series, SLOs and alerts refer to."""

    kind: ScopeKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.name}"

    @classmethod
    def service(cls, name: str) -> Scope:
        return cls(ScopeKind.SERVICE, name)

    @classmethod
    def entrypoint(cls, name: str) -> Scope:
        return cls(ScopeKind.ENTRYPOINT, name)

    @classmethod
    def operation(cls, service: str, operation: str) -> Scope:
        return cls(ScopeKind.OPERATION, f"{service}{OPERATION_DOT}{operation}")

    @property
    def service_name(self) -> str:
        """The service an operation's scope belongs to (the name itself for a service)."""
        return self.name.partition(OPERATION_DOT)[0]

    @classmethod
    def parse(cls, text: str) -> Scope:
        kind, _, name = text.partition(":")
        return cls(ScopeKind(kind), name)


OPERATION_DOT = "."  # names never hold a dot (chaos.model.parsing.NAME)
EDGE_ARROW = "->"


def edge_name(caller: str, callee: str) -> str:
    return f"{caller}{EDGE_ARROW}{callee}"


def split_edge(text: str) -> tuple[str, str] | None:
    """``"cart->db"`` -> ``("cart", "db")``; anything without an arrow -> None."""
    if EDGE_ARROW not in text:
        return None
    caller, _, callee = text.partition(EDGE_ARROW)
    return caller.strip(), callee.strip()

"""What a measurement or a target is about: a service, an entrypoint, or an edge between two services."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ScopeKind(enum.Enum):
    SERVICE = "service"
    ENTRYPOINT = "entrypoint"


@dataclass(frozen=True, order=True)
class Scope:
    """``service:db`` or ``entrypoint:web``: the unit that series, SLOs and alerts refer to."""

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
    def parse(cls, text: str) -> Scope:
        kind, _, name = text.partition(":")
        return cls(ScopeKind(kind), name)


EDGE_ARROW = "->"


def edge_name(caller: str, callee: str) -> str:
    return f"{caller}{EDGE_ARROW}{callee}"


def split_edge(text: str) -> tuple[str, str] | None:
    """``"cart->db"`` -> ``("cart", "db")``; anything without an arrow -> None."""
    if EDGE_ARROW not in text:
        return None
    caller, _, callee = text.partition(EDGE_ARROW)
    return caller.strip(), callee.strip()

"""Closed choices and attribute schemas of the Toxiproxy API, shared by client and server.

The schemas follow the official server's toxics (``toxics/*.go``): every attribute
is an integer, and a toxic's JSON always lists every attribute of its type, zero
when the client did not send it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

API_VERSION: Final = "2.12.0-chaoslab"
"""Reported by ``/version``: the official release whose API this server implements,
tagged so that nobody mistakes this server for the official binary."""

DEFAULT_API_PORT: Final = 8474


class Stream(StrEnum):
    """Which direction of a connection a toxic acts on."""

    UPSTREAM = "upstream"  # client -> server
    DOWNSTREAM = "downstream"  # server -> client

    @classmethod
    def parse(cls, text: str) -> Stream:
        """The official server accepts either word in any letter case."""
        return cls(text.lower())


class ToxicType(StrEnum):
    """Toxic types the official server registers."""

    LATENCY = "latency"
    BANDWIDTH = "bandwidth"
    SLOW_CLOSE = "slow_close"
    TIMEOUT = "timeout"
    RESET_PEER = "reset_peer"
    SLICER = "slicer"
    LIMIT_DATA = "limit_data"
    NOOP = "noop"


class IntKind(StrEnum):
    """Go integer types of toxic attributes (named in decode errors)."""

    INT64 = "int64"
    INT = "int"


ATTRIBUTES: Final[dict[ToxicType, tuple[tuple[str, IntKind], ...]]] = {
    ToxicType.LATENCY: (("latency", IntKind.INT64), ("jitter", IntKind.INT64)),
    ToxicType.BANDWIDTH: (("rate", IntKind.INT64),),
    ToxicType.SLOW_CLOSE: (("delay", IntKind.INT64),),
    ToxicType.TIMEOUT: (("timeout", IntKind.INT64),),
    ToxicType.RESET_PEER: (("timeout", IntKind.INT64),),
    ToxicType.SLICER: (
        ("average_size", IntKind.INT),
        ("size_variation", IntKind.INT),
        ("delay", IntKind.INT),
    ),
    ToxicType.LIMIT_DATA: (("bytes", IntKind.INT64),),
    ToxicType.NOOP: (),
}
"""Attribute names in the order the official server writes them, with their Go types."""

GO_STRUCT_NAMES: Final[dict[ToxicType, str]] = {
    ToxicType.LATENCY: "LatencyToxic",
    ToxicType.BANDWIDTH: "BandwidthToxic",
    ToxicType.SLOW_CLOSE: "SlowCloseToxic",
    ToxicType.TIMEOUT: "TimeoutToxic",
    ToxicType.RESET_PEER: "ResetToxic",
    ToxicType.SLICER: "SlicerToxic",
    ToxicType.LIMIT_DATA: "LimitDataToxic",
    ToxicType.NOOP: "NoopToxic",
}
"""Names the Go decoder puts in type errors, so our messages read like the official ones."""

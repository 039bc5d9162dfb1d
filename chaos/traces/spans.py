"""The normalised span: what every reader turns OTLP, Jaeger and Zipkin spans into.

Only what the derivation needs is kept, as typed fields rather than an attribute dict:
a million spans must fit a trace window's memory, and a field that a format spells five
ways (``peer.service``, ``server.address``, ``net.peer.name``, Zipkin's ``remoteEndpoint``)
is resolved once, in the reader.

Times are integer nanoseconds since the Unix epoch (OTLP's unit; Jaeger's and Zipkin's
microseconds are multiplied by 1000), so that no precision is lost before durations are
taken; :attr:`Span.start` and :attr:`Span.end` give seconds.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from chaos.errors import Location

NS_PER_S = 1_000_000_000
MAX_TIME_NS = 2**63 - 1
TOUCH_NS = 2_000
"""Two intervals closer than this do not overlap: Jaeger and Zipkin round a span's start and its duration
to microseconds separately, so one that started as another ended may seem to start a microsecond early."""
"""Timestamps beyond this are refused: OTLP's fixed64 allows more, but no clock will reach it (year 2262)."""


class SpanKind(enum.Enum):
    """OTLP's span kinds, by their OTLP/JSON integers."""

    __hash__ = object.__hash__  # looked up per span (see assemble.Match)

    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5

    @property
    def asynchronous(self) -> bool:
        """Messaging hand-offs: the model has no asynchronous calls yet, so these are counted, not used."""
        return self is SpanKind.PRODUCER or self is SpanKind.CONSUMER


class TraceFormat(enum.Enum):
    OTLP = "otlp"
    JAEGER = "jaeger"
    ZIPKIN = "zipkin"


class Span(NamedTuple):
    """One span, normalised. Ids are lowercase hex: trace ids 32 digits, span ids 16 (shorter ones zero-padded).

    A named tuple rather than a frozen dataclass: as immutable and as typed, and six times cheaper to
    build, which matters at a million spans.
    """

    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    kind: SpanKind
    name: str
    operation: str             # http.route (with the method), rpc service/method, else the span name
    start_ns: int
    end_ns: int
    error: bool
    instance: str = ""         # service.instance.id, else the host: which replica did the work
    host: str = ""             # host.name / hostname / ip: whose clock the times are on
    peer_service: str = ""     # peer.service or Zipkin's remoteEndpoint.serviceName
    peer_host: str = ""        # server.address, net.peer.name, remote ip: who a client span called
    peer_system: str = ""      # db.system, messaging.system, rpc.system: what kind of thing was called
    follows_from: bool = False  # Jaeger FOLLOWS_FROM: the parent did not wait for this span
    origin: Location = Location("<unknown>")

    @property
    def start(self) -> float:
        return self.start_ns / NS_PER_S

    @property
    def end(self) -> float:
        return self.end_ns / NS_PER_S

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def duration(self) -> float:
        return (self.end_ns - self.start_ns) / NS_PER_S


new_span = tuple.__new__
"""``new_span(Span, (every field, in order))``: a span built without the named tuple's constructor, which is a
Python function (one more call for each of a million spans). Every field must be given."""


def operation_name(name: str, route: str, method: str, rpc_service: str, rpc_method: str) -> str:
    """The operation a server span belongs to: its route or RPC method if instrumentation says, else its name.

    Span names follow the semantic conventions (``GET /users/{id}``) in most SDKs, but not in all
    (Zipkin's Brave names server spans by the method alone), so the route wins when present.
    """
    if route:
        return f"{method} {route}" if method else route
    if rpc_method:
        return f"{rpc_service}/{rpc_method}" if rpc_service else rpc_method
    return name

"""Zipkin v2 JSON: a list of spans (``/api/v2/trace/{id}``, or what a reporter posts to
``/api/v2/spans``), or a list of traces, each a list of spans (``/api/v2/traces``).

Times are microseconds; ``kind`` is CLIENT, SERVER, PRODUCER or CONSUMER (absent for local
spans); the service is ``localEndpoint.serviceName`` and the callee of a client span is
``remoteEndpoint`` (its ``serviceName``, else its address). A span without ``timestamp`` or
``duration`` is legal in Zipkin (a half reported late) and is counted, not used. A ``shared``
server span has the same id as its client span; the assembly step tells the two halves apart.
"""

from __future__ import annotations

from collections.abc import Iterator

from chaos.errors import Location
from chaos.traces.attributes import SPAN_KEYS, span_fields, tag_says_error
from chaos.traces.fields import Batch, hex_id, micros, string
from chaos.traces.flaws import Flaw
from chaos.traces.jsonstream import JsonReader, Malformed
from chaos.traces.spans import Span, SpanKind, new_span

_KINDS = {"SERVER": SpanKind.SERVER, "CLIENT": SpanKind.CLIENT, "PRODUCER": SpanKind.PRODUCER,
          "CONSUMER": SpanKind.CONSUMER}


def read(reader: JsonReader) -> Iterator[Batch]:
    for index, item in enumerate(reader.array_items()):
        batch = Batch([], whole_traces=type(item.value) is list)
        origin = reader.location(item.start)
        try:
            if batch.whole_traces:
                for k, s in enumerate(item.value):
                    try:
                        _add(s, origin, batch)
                    except Malformed as exc:
                        exc.within(k)
                        raise
            else:
                _add(item.value, origin, batch)
        except Malformed as exc:
            raise reader.malformed(item, exc, (index,)) from None
        yield batch


def _add(s: object, origin: Location, batch: Batch) -> None:
    if type(s) is not dict:
        raise Malformed("expected a Zipkin span (a JSON object)")
    span = _span(s, origin)
    if span is None:
        batch.dropped.append((Flaw.NO_TIMESTAMP, origin))
    else:
        batch.spans.append(span)


def _span(s: dict, origin: Location) -> Span | None:
    trace_id = hex_id(s.get("traceId"), 32, "traceId", short_ok=True)
    span_id = hex_id(s.get("id"), 16, "id", short_ok=True)
    parent = s.get("parentId")
    parent_id = hex_id(parent, 16, "parentId", short_ok=True) if parent else None
    name = string(s.get("name"), "name", default="")
    kind_name = s.get("kind")
    kind = SpanKind.INTERNAL if kind_name is None else _KINDS.get(kind_name)  # type: ignore[arg-type]
    if kind is None:
        raise Malformed(f"expected CLIENT, SERVER, PRODUCER or CONSUMER, got {kind_name!r}", "kind")
    tags = s.get("tags") or {}
    if type(tags) is not dict:
        raise Malformed("expected an object of string tags", "tags")
    local = _endpoint(s, "localEndpoint")
    remote = _endpoint(s, "remoteEndpoint")
    if s.get("timestamp") is None or s.get("duration") is None:
        return None
    start = micros(s["timestamp"], "timestamp")
    end = start + micros(s["duration"], "duration", zero_ok=True)
    attrs = {k: v for k, v in tags.items() if k in SPAN_KEYS}
    operation, peer_service, peer_host, peer_system = span_fields(name, attrs)
    if remote:
        peer_service = peer_service or string(remote.get("serviceName"), "remoteEndpoint.serviceName", default="")
        peer_host = peer_host or _address(remote)
    service = string(local.get("serviceName"), "serviceName", default="") or "unknown_service"
    host = _address(local, with_port=False)
    return new_span(Span, (trace_id, span_id, parent_id, service, kind, name, operation, start, end,
                           tag_says_error(attrs), host, host, peer_service, peer_host, peer_system, False, origin))


def _endpoint(s: dict, key: str) -> dict:
    value = s.get(key) or {}
    if type(value) is not dict:
        raise Malformed("expected an endpoint object ({\"serviceName\": ...})", key)
    return value


def _address(endpoint: dict, with_port: bool = True) -> str:
    ip = endpoint.get("ipv4") or endpoint.get("ipv6") or ""
    port = endpoint.get("port")
    return f"{ip}:{port}" if ip and port and with_port else str(ip)

"""OTLP JSON: the OpenTelemetry Collector's file exporter (one ``ExportTraceServiceRequest`` per line)
and OTLP/HTTP JSON request bodies (one such object, possibly spread over many lines).

The OTLP/JSON encoding is protobuf's JSON mapping with OTLP's exceptions: trace and span ids
are hex strings, enums are integers, 64-bit integers are strings (numbers are accepted too),
keys are lowerCamelCase. Jaeger v2's ``/api/v3/traces`` answers with the same document inside
``{"result": ...}``, which is read as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from chaos.errors import Location
from chaos.traces.attributes import (
    FIELD_OF,
    RESOURCE_KEYS,
    SERVICE_NAME,
    SPAN_KEYS,
    fields_of,
    instance_and_host,
    span_fields,
    text,
)
from chaos.traces.fields import Batch, array, hex_id, nanos, string
from chaos.traces.jsonstream import JsonReader, Malformed
from chaos.traces.spans import MAX_TIME_NS, Span, SpanKind, new_span

_KINDS = {k.value: k for k in SpanKind} | {f"SPAN_KIND_{k.name}": k for k in SpanKind}
_STATUS_ERROR = (2, "STATUS_CODE_ERROR")
_UNKNOWN_SERVICE = "unknown_service"
_HEX32 = re.compile("[0-9a-f]{32}").fullmatch
_HEX16 = re.compile("[0-9a-f]{16}").fullmatch
# 19 digits: a 19-digit string between "1" and this (as text) is a time in range, with no leading zero
_MAX_19 = str(MAX_TIME_NS)
assert len(_MAX_19) == 19  # what the SDKs call a process that set no service.name


def read(reader: JsonReader) -> Iterator[Batch]:
    for item in reader.values():
        try:
            spans = request_spans(item.value, reader.location(item.start))
        except Malformed as exc:
            raise reader.malformed(item, exc) from None
        yield Batch(spans, whole_traces=False)


def request_spans(value: object, origin: Location) -> list[Span]:
    """The spans of one ``ExportTraceServiceRequest`` (or ``TracesData``) object."""
    if type(value) is not dict:
        raise Malformed("expected an OTLP request object ({\"resourceSpans\": [...]})")
    request = value
    prefix: tuple[str, ...] = ()
    if "resourceSpans" not in request and type(request.get("result")) is dict:
        request, prefix = request["result"], ("result",)
    if not request:
        return []
    out: list[Span] = []
    try:
        for i, resource_spans in enumerate(array(request.get("resourceSpans"), "resourceSpans", "resourceSpans")):
            try:
                _resource_spans(resource_spans, origin, out)
            except Malformed as exc:
                exc.within("resourceSpans", i)
                raise
    except Malformed as exc:
        exc.within(*prefix)
        raise
    return out


def _resource_spans(value: object, origin: Location, out: list[Span]) -> None:
    if type(value) is not dict:
        raise Malformed("expected a resourceSpans entry (a JSON object)")
    rs = value
    resource = rs.get("resource") or {}
    if type(resource) is not dict:
        raise Malformed("expected an object", "resource")
    try:
        attrs = attributes(resource.get("attributes"), RESOURCE_KEYS)
    except Malformed as exc:
        exc.within("resource")
        raise
    service = text(attrs, SERVICE_NAME) or _UNKNOWN_SERVICE
    instance, host = instance_and_host(attrs)
    key = "scopeSpans" if "scopeSpans" in rs else "instrumentationLibrarySpans"  # the name before OTLP 0.15
    for j, scope in enumerate(array(rs.get(key) or [], key, key)):
        try:
            if type(scope) is not dict:
                raise Malformed("expected a scopeSpans entry (a JSON object)")
            spans = array(scope.get("spans") or [], "spans", "spans")
            for k, s in enumerate(spans):
                try:
                    out.append(_span(s, service, instance, host, origin))
                except Malformed as exc:
                    exc.within("spans", k)
                    raise
        except Malformed as exc:
            exc.within(key, j)
            raise


def _span(s: object, service: str, instance: str, host: str, origin: Location) -> Span:
    if type(s) is not dict:
        raise Malformed("expected a span (a JSON object)")
    get = s.get
    trace_id = get("traceId")
    if not (type(trace_id) is str and len(trace_id) == 32 and _HEX32(trace_id)):  # fast path: hex as OTLP says
        trace_id = hex_id(trace_id, 32, "traceId")
    span_id = get("spanId")
    if not (type(span_id) is str and len(span_id) == 16 and _HEX16(span_id)):
        span_id = hex_id(span_id, 16, "spanId")
    parent = get("parentSpanId")
    parent_id = None
    if parent:
        parent_id = parent if type(parent) is str and len(parent) == 16 and _HEX16(parent) \
            else hex_id(parent, 16, "parentSpanId")
    name = get("name", "")
    if type(name) is not str:
        name = string(name, "name")
    kind = _KINDS.get(get("kind", 0))  # type: ignore[arg-type]
    if kind is None:
        raise Malformed(f"expected a span kind 0-5, got {get('kind')!r}", "kind")
    # Times as every current exporter writes them: 19 digits, no leading zero, in range (compared as text);
    # anything else is checked by nanos(), with the error if any. Inline: this runs twice for every span.
    raw = get("startTimeUnixNano")
    if type(raw) is str and len(raw) == 19 and "1" <= raw <= _MAX_19 and raw.isdigit() and raw.isascii():
        start = int(raw)
    else:
        start = nanos(raw, "startTimeUnixNano")
    raw = get("endTimeUnixNano")
    if type(raw) is str and len(raw) == 19 and "1" <= raw <= _MAX_19 and raw.isdigit() and raw.isascii():
        end = int(raw)
    else:
        end = nanos(raw, "endTimeUnixNano")
    status = get("status")
    error = type(status) is dict and status.get("code") in _STATUS_ERROR
    operation, peer_service, peer_host, peer_system = _span_fields(name, get("attributes"))
    return new_span(Span, (trace_id, span_id, parent_id, service, kind, name, operation, start, end, error,
                           instance, host, peer_service, peer_host, peer_system, False, origin))


def _span_fields(name: str, value: object) -> tuple[str, str, str, str]:
    """``span_fields(name, attributes(value, SPAN_KEYS))`` in one pass over the list, without the dict between
    (this runs for every span). Anything but string values, and a key given twice, take that slower way,
    which also names what is malformed."""
    if type(value) is not list:
        return span_fields(name, attributes(value, SPAN_KEYS))
    found = ["", "", "", "", "", "", ""]
    rank = [99] * 7
    for kv in value:
        try:
            where = FIELD_OF.get(kv["key"])
        except (TypeError, KeyError):
            return span_fields(name, attributes(value, SPAN_KEYS))
        if where is None:
            continue
        field, r = where
        any_value = kv.get("value")
        if r == rank[field] or type(any_value) is not dict or "stringValue" not in any_value:
            return span_fields(name, attributes(value, SPAN_KEYS))  # the key again (the last one counts), or not text
        said = any_value["stringValue"]
        if said is not None and said != "" and r < rank[field]:
            found[field] = str(said)
            rank[field] = r
    return fields_of(name, found)


def attributes(value: object, wanted: frozenset[str]) -> dict[str, object]:
    """The wanted keys of an OTLP attribute list (``[{"key": k, "value": {"stringValue": v}}]``)."""
    out: dict[str, object] = {}
    if value is None:
        return out
    if type(value) is not list:
        raise Malformed("expected a list of {key, value} objects", "attributes")
    for kv in value:
        try:
            key = kv["key"]
        except (TypeError, KeyError):
            raise Malformed("expected a {key, value} object", "attributes", value.index(kv)) from None
        if key in wanted:
            any_value = kv.get("value")
            if type(any_value) is dict and "stringValue" in any_value:  # the common case
                out[key] = any_value["stringValue"]
            else:
                out[key] = _any_value(any_value, value.index(kv))
    return out


def _any_value(value: object, k: int) -> object:
    if value is None:
        return None
    if type(value) is not dict:
        raise Malformed("expected an AnyValue object ({\"stringValue\": ...})", "attributes", k, "value")
    for key in ("stringValue", "intValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    return None  # arrays, key-value lists and bytes name nothing the derivation reads

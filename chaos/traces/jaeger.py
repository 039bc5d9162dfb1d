"""Jaeger JSON: the query service's ``/api/traces`` answer (``{"data": [trace, ...]}``) and the UI's
trace download (the same, or one bare trace object, or a list of traces).

A trace holds its ``spans`` and the ``processes`` they ran in (``serviceName`` and tags such as
``hostname``); times are microseconds. A span's parent is its ``CHILD_OF`` reference (or, for
older writers, ``parentSpanID``); a ``FOLLOWS_FROM`` parent did not wait for the span. The span
kind and error flag are tags (``span.kind``, ``error``, ``otel.status_code``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from chaos.errors import Location
from chaos.traces.attributes import (
    RESOURCE_KEYS,
    SPAN_KEYS,
    SPAN_KIND_TAG,
    instance_and_host,
    span_fields,
    tag_says_error,
)
from chaos.traces.fields import Batch, array, hex_id, micros, obj, string
from chaos.traces.jsonstream import Item, JsonReader, Malformed
from chaos.traces.spans import Span, SpanKind, new_span

_KINDS = {"server": SpanKind.SERVER, "client": SpanKind.CLIENT, "producer": SpanKind.PRODUCER,
          "consumer": SpanKind.CONSUMER, "internal": SpanKind.INTERNAL}
_UNKNOWN_PROCESS = ("unknown_service", "", "")
_RESPONSE_START = re.compile(r'\s*\{\s*"data"\s*:')


def read(reader: JsonReader) -> Iterator[Batch]:
    if reader.peek() == "[":
        for index, item in enumerate(reader.array_items()):
            yield _batch(reader, item, (index,))
        return
    if not _RESPONSE_START.match(reader.head(256)):
        item = reader.decode()  # a bare trace, or a response whose data does not come first: read whole
        if type(item.value) is dict and "data" in item.value and "spans" not in item.value:
            traces = item.value.get("data") or []
            for k in range(len(traces) if type(traces) is list else 0):
                yield _batch(reader, Item(traces[k], item.start, item.end), ("data", k), whole=item)
        else:
            yield _batch(reader, item)
        return
    for key in reader.members():
        if key == "data" and reader.peek() == "[":
            for index, item in enumerate(reader.array_items()):
                yield _batch(reader, item, ("data", index))
            continue
        item = reader.decode()
        if key == "errors" and item.value:
            raise reader.fail(item.start, f"the Jaeger query answered with errors: {item.value}", "errors")


def _batch(reader: JsonReader, item: Item, prefix: tuple[str | int, ...] = (), whole: Item | None = None) -> Batch:
    """One trace's spans, at ``prefix`` in the document; ``whole`` is the enclosing document when the item was
    cut out of a document decoded whole (errors are then placed by walking the whole document)."""
    try:
        return Batch(trace_spans(item.value, reader.location(item.start)), whole_traces=True)
    except Malformed as exc:
        if whole is not None:
            raise reader.malformed(whole, exc.within(*prefix)) from None
        raise reader.malformed(item, exc, prefix) from None


def trace_spans(value: object, origin: Location) -> list[Span]:
    if type(value) is not dict:
        raise Malformed("expected a Jaeger trace (a JSON object with spans and processes)")
    trace = value
    processes = {pid: _process(p, pid) for pid, p in obj(trace.get("processes") or {}, "processes",
                                                         "the trace's processes").items()}
    out = []
    for k, s in enumerate(array(trace.get("spans"), "spans", "the trace's spans")):
        try:
            out.append(_span(s, processes, origin))
        except Malformed as exc:
            exc.within("spans", k)
            raise
    return out


def _process(value: object, pid: str) -> tuple[str, str, str]:
    try:
        if type(value) is not dict:
            raise Malformed("expected a process (a JSON object with serviceName)")
        p = value
        service = string(p.get("serviceName"), "serviceName")
        instance, host = instance_and_host(tags(p.get("tags"), RESOURCE_KEYS))
        return service, instance, host
    except Malformed as exc:
        exc.within("processes", pid)
        raise


def _span(s: object, processes: dict[str, tuple[str, str, str]], origin: Location) -> Span:
    if type(s) is not dict:
        raise Malformed("expected a span (a JSON object)")
    trace_id = hex_id(s.get("traceID"), 32, "traceID", short_ok=True)
    span_id = hex_id(s.get("spanID"), 16, "spanID", short_ok=True)
    parent_id, follows = _parent(s)
    name = string(s.get("operationName"), "operationName", default="")
    start = micros(s.get("startTime"), "startTime")
    end = start + micros(s.get("duration"), "duration", zero_ok=True)
    attrs = tags(s.get("tags"), SPAN_KEYS)
    if "process" in s:  # some writers embed the process instead of naming it
        service, instance, host = _process(s["process"], "process")
    else:
        pid = s.get("processID")
        if pid is None:
            service, instance, host = _UNKNOWN_PROCESS
        elif pid in processes:
            service, instance, host = processes[pid]
        else:
            raise Malformed(f"no process {pid!r} in the trace's processes", "processID")
    kind = _KINDS.get(str(attrs.get(SPAN_KIND_TAG, "")).lower(), SpanKind.INTERNAL if attrs.get(SPAN_KIND_TAG)
                      else SpanKind.UNSPECIFIED)
    operation, peer_service, peer_host, peer_system = span_fields(name, attrs)
    return new_span(Span, (trace_id, span_id, parent_id, service, kind, name, operation, start, end,
                           tag_says_error(attrs), instance, host, peer_service, peer_host, peer_system, follows,
                           origin))


def _parent(s: dict) -> tuple[str | None, bool]:
    refs = s.get("references")
    if refs:
        refs = array(refs, "references", "references")
        follows: tuple[int, dict] | None = None
        for k, ref in enumerate(refs):
            if type(ref) is not dict:
                raise Malformed("expected a reference (a JSON object)", "references", k)
            kind = ref.get("refType")
            if kind == "CHILD_OF":
                return _ref_id(ref, k), False
            if kind == "FOLLOWS_FROM" and follows is None:
                follows = (k, ref)
            elif kind not in ("CHILD_OF", "FOLLOWS_FROM"):
                raise Malformed(f"expected CHILD_OF or FOLLOWS_FROM, got {kind!r}", "references", k, "refType")
        if follows is not None:
            return _ref_id(follows[1], follows[0]), True
    legacy = s.get("parentSpanID")
    if legacy is not None and legacy != "" and str(legacy).strip("0"):  # "0" meant no parent
        return hex_id(legacy, 16, "parentSpanID", short_ok=True), False
    return None, False


def _ref_id(ref: dict, k: int) -> str:
    try:
        return hex_id(ref.get("spanID"), 16, "spanID", short_ok=True)
    except Malformed as exc:
        exc.within("references", k)
        raise


def tags(value: object, wanted: frozenset[str]) -> dict[str, object]:
    """The wanted keys of a Jaeger tag list (``[{"key": k, "type": "string", "value": v}]``)."""
    out: dict[str, object] = {}
    if value is None:
        return out
    if type(value) is not list:
        raise Malformed("expected a list of {key, type, value} objects", "tags")
    for k, kv in enumerate(value):
        try:
            key = kv["key"]
        except (TypeError, KeyError):
            raise Malformed("expected a {key, type, value} object", "tags", k) from None
        if key in wanted:
            out[key] = kv.get("value")
    return out

"""Distributed traces of the emulator: W3C trace context in, OTLP JSON lines out.

With ``--traces DIR`` each replica records a SERVER span for every ``/work`` request it answers
and a CLIENT span for every attempt of its calls, and appends them to ``DIR/<service>-<replica>.jsonl``:
one OTLP ``ExportTraceServiceRequest`` in its JSON encoding a line, the layout of the OpenTelemetry
Collector's file exporter, which ``chaoslab topology from-traces`` and every OTLP tool read.

Context propagation is W3C Trace Context: a request's ``traceparent`` header names the trace and the
caller's span; a request without one (the load generator's) starts a trace. Each attempt of a call
sends ``traceparent`` with its CLIENT span as the parent, so the callee's SERVER span is its child,
as real instrumentation links them. The current request's span travels in a context variable: the
asyncio tasks that work on a request (its work, its calls' attempts) inherit it when created.

Files, not an OTLP/HTTP receiver on the host: containers on the stack's bridge cannot reach the host's
loopback, a receiver would be one more server to keep alive through a game day, and a file a replica
appends to survives the replica being killed (spans are written once a second and when it stops).
Span times are wall-clock nanoseconds, from the monotonic clock the emulator times with, shifted by
one offset read at start: replicas on one host share both clocks, so their spans line up.

Container side: standard library only.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRACEPARENT = "traceparent"
FLUSH_EVERY_S = 1.0
SCOPE = "chaoslab-emulator"
SPAN_KIND_SERVER, SPAN_KIND_CLIENT = 2, 3
STATUS_ERROR = 2
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")


@dataclass
class OpenSpan:
    """A span being timed: ids, name, kind, start (emulator clock), attributes."""

    tracer: Tracer
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    start: float
    attributes: dict[str, str | int] = field(default_factory=dict)

    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-01"


_current: contextvars.ContextVar[OpenSpan | None] = contextvars.ContextVar("chaoslab_span", default=None)


def parse_traceparent(value: str) -> tuple[str, str] | None:
    """(trace id, parent span id) of a version-00 ``traceparent``; None if absent or invalid (all-zero ids too)."""
    m = _TRACEPARENT.fullmatch(value.strip().lower())
    if m is None or set(m.group(1)) == {"0"} or set(m.group(2)) == {"0"}:
        return None
    return m.group(1), m.group(2)


def _new_id(nbytes: int) -> str:
    # Ids must differ between runs and replicas, not be reproducible: they are names, not draws of the model.
    return os.urandom(nbytes).hex()


class Tracer:
    """One replica's spans, buffered and appended to its file once a second."""

    def __init__(self, directory: Path, service: str, replica: int, clock: Callable[[], float]) -> None:
        self.path = directory / f"{service}-{replica}.jsonl"
        self.service = service
        self.replica = replica
        self.clock = clock
        self.offset_ns = time.time_ns() - round(clock() * 1e9)
        self.buffer: list[dict[str, Any]] = []
        directory.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ spans

    def server(self, headers: Mapping[str, str], start: float, route: str = "/work") -> OpenSpan:
        """The SERVER span of a request to ``route`` (``/work``, or an operation's ``/op/<name>``: traces then
        tell the operations apart, as calibration from traces needs), made the current span of the task
        that calls this."""
        parent = parse_traceparent(headers.get(TRACEPARENT, ""))
        trace_id, parent_id = parent if parent is not None else (_new_id(16), "")
        span = OpenSpan(self, trace_id, _new_id(8), parent_id, f"GET {route}", SPAN_KIND_SERVER, start,
                        {"http.request.method": "GET", "http.route": route})
        _current.set(span)
        return span

    def end(self, span: OpenSpan, error: bool, end: float, status: int | None = None) -> None:
        record: dict[str, Any] = {
            "traceId": span.trace_id, "spanId": span.span_id, "name": span.name, "kind": span.kind,
            "startTimeUnixNano": str(self.offset_ns + round(span.start * 1e9)),
            "endTimeUnixNano": str(self.offset_ns + round(end * 1e9)),
            "attributes": [_attribute(k, v) for k, v in span.attributes.items()],
        }
        if span.parent_id:
            record["parentSpanId"] = span.parent_id
        if status is not None:
            record["attributes"].append(_attribute("http.response.status_code", status))
        if error:
            record["status"] = {"code": STATUS_ERROR}
        self.buffer.append(record)

    # ------------------------------------------------------------------ file

    def flush(self) -> None:
        if not self.buffer:
            return
        spans, self.buffer = self.buffer, []
        line = json.dumps({"resourceSpans": [{
            "resource": {"attributes": [_attribute("service.name", self.service),
                                        _attribute("service.instance.id", f"{self.service}-{self.replica}")]},
            "scopeSpans": [{"scope": {"name": SCOPE}, "spans": spans}]}]}, separators=(",", ":"))
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    async def flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            self.flush()


def client(callee: str, host: str, port: int, start: float) -> OpenSpan | None:
    """The CLIENT span of one attempt of a call from the current request (None when not tracing)."""
    parent = _current.get()
    if parent is None:
        return None
    return OpenSpan(parent.tracer, parent.trace_id, _new_id(8), parent.span_id, "GET", SPAN_KIND_CLIENT, start,
                    {"http.request.method": "GET", "peer.service": callee, "server.address": host,
                     "server.port": port})


def headers_with(span: OpenSpan | None, headers: dict[str, str] | None) -> dict[str, str] | None:
    """``headers`` plus the ``traceparent`` naming ``span`` as the callee's parent."""
    if span is None:
        return headers
    return {**(headers or {}), TRACEPARENT: span.traceparent()}


def end(span: OpenSpan | None, error: bool, at: float) -> None:
    if span is not None:
        span.tracer.end(span, error, at)


def _attribute(key: str, value: str | int) -> dict[str, Any]:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}

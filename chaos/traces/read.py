"""Opening trace files: the format is told from the first bytes, then the file is read as a stream.

Files are read one after another as one stream, so spans of one trace may be split across
files only as far apart as the window allows (see :mod:`chaos.traces.window`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from chaos.errors import InputError, Location
from chaos.model.parsing import display_path
from chaos.traces import jaeger, otlp, zipkin
from chaos.traces.fields import Batch
from chaos.traces.jsonstream import JsonReader
from chaos.traces.spans import TraceFormat

_FIRST_KEY = re.compile(r'\s*\{\s*"([^"\\]*)"')
_OTLP_KEYS = {"resourceSpans", "result"}
_JAEGER_KEYS = {"data", "total", "limit", "offset", "errors", "traceID", "spans", "processes", "warnings"}
_READERS = {TraceFormat.OTLP: otlp.read, TraceFormat.JAEGER: jaeger.read, TraceFormat.ZIPKIN: zipkin.read}
WHAT_IS_READ = ("OTLP JSON ({\"resourceSpans\": [...]}, one per line as the Collector's file exporter writes), "
                "Jaeger JSON ({\"data\": [traces]}) or Zipkin v2 JSON ([spans] or [[spans], ...])")


def detect(reader: JsonReader) -> TraceFormat | None:
    """The format of what the reader holds next; None for an empty file."""
    first = reader.peek()
    if not first:
        return None
    head = reader.head()
    if first == "{":
        match = _FIRST_KEY.match(head)
        key = match.group(1) if match else ""
        if key in _OTLP_KEYS or (key not in _JAEGER_KEYS and '"resourceSpans"' in head):
            return TraceFormat.OTLP
        if key in _JAEGER_KEYS or '"operationName"' in head:
            return TraceFormat.JAEGER
    elif first == "[":
        if '"operationName"' in head or '"traceID"' in head:
            return TraceFormat.JAEGER
        if '"traceId"' in head or head.lstrip("[ \t\r\n") == "]":
            return TraceFormat.ZIPKIN
    raise reader.fail(0, "not a trace file this reads", hint=f"expected {WHAT_IS_READ}")


def read_file(path: Path, fmt: TraceFormat | None = None) -> Iterator[tuple[TraceFormat | None, Batch]]:
    """Batches of spans from one file, each with the file's format (None and no batch for an empty file)."""
    shown = display_path(path)
    try:
        stream = path.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise InputError("file not found", Location(shown)) from None
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", Location(shown)) from None
    with stream:
        reader = JsonReader(stream, shown)
        found = detect(reader) if fmt is None else fmt
        if found is None:
            yield None, Batch([], whole_traces=True)
            return
        for batch in _READERS[found](reader):
            yield found, batch
        reader.at_end()

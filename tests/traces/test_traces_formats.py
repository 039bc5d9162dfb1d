"""The same four traces written by hand as Jaeger's API answer, Zipkin v2 (with Brave's shared spans) and
OTLP JSON lines read to the same observed model; the other shapes each format comes in read the same."""

from __future__ import annotations

import base64
import gc
import io
import json
import random
import sys
from pathlib import Path

import pytest
from tracekit import FIXTURES

from chaos.core.choices import CallMode
from chaos.traces import otlp, zipkin
from chaos.traces.attributes import FIELD_OF, SPAN_KEYS, span_fields
from chaos.traces.describe import describe
from chaos.traces.jsonstream import JsonReader
from chaos.traces.observe import observe_files
from chaos.traces.observed import Basis, ObservedModel
from chaos.traces.read import detect
from chaos.traces.spans import TraceFormat

SMALL = {TraceFormat.JAEGER: FIXTURES / "small-jaeger.json", TraceFormat.ZIPKIN: FIXTURES / "small-zipkin.json",
         TraceFormat.OTLP: FIXTURES / "small-otlp.jsonl"}


def body(model: ObservedModel) -> list[str]:
    """The description without the lines naming the files and counting them."""
    return [line.split(", ", 1)[1] if i == 0 else line for i, line in enumerate(describe(model))
            if not line.startswith(("  tests/", "  /"))]


@pytest.fixture(scope="module")
def small() -> dict[TraceFormat, ObservedModel]:
    return {fmt: observe_files([path]) for fmt, path in SMALL.items()}


def test_each_format_is_detected(small: dict[TraceFormat, ObservedModel]) -> None:
    for fmt, model in small.items():
        assert [s.format for s in model.sources] == [fmt]
        assert model.spans_read == 22 and model.traces == model.traces_used == 4


def test_three_formats_read_to_the_same_model(small: dict[TraceFormat, ObservedModel]) -> None:
    otlp = body(small[TraceFormat.OTLP])
    assert body(small[TraceFormat.JAEGER]) == otlp
    assert body(small[TraceFormat.ZIPKIN]) == otlp


def test_what_the_small_traces_show(small: dict[TraceFormat, ObservedModel]) -> None:
    model = small[TraceFormat.ZIPKIN]
    browse = model.operation("gateway", "GET /browse")
    assert [(s.mode, [c.callee.value for c in s.steps]) for s in browse.stages] == [  # type: ignore[union-attr]
        (CallMode.PARALLEL, ["catalog", "recommend"]), (CallMode.SEQUENTIAL, ["redis"])]
    # Zipkin's shared span (client and server halves with one id) is one call seen from both sides
    catalog = browse.call_to("catalog")
    assert (catalog.matching.both, catalog.matching.client_only) == (2, 0)
    assert browse.call_to("recommend").probability == 0.5
    # own time: 20 ms minus the union of 2-10 ms and 2-12 ms and 12.5-12.8 ms; 15 ms minus 6 ms and 0.3 ms
    own = browse.work_time.times
    assert (own.observed.count, own.empirical[0].value) == (2, pytest.approx(0.0087, rel=1e-9))
    assert own.empirical[-1].value == pytest.approx(0.0097, rel=1e-9)
    redis = browse.call_to("redis")
    assert redis.callee.basis is Basis.INFERRED and "peer.service" in redis.callee.why
    checkout = model.operation("checkout", "POST /checkout")
    payment = checkout.call_to("payment")
    assert payment.retries is not None and payment.retries.max.value == 1
    assert payment.retries.backoff_p50 == pytest.approx(0.010, rel=0.006)
    assert (payment.error_ratio, payment.final_error_ratio) == (0.5, 0.0)
    # payment and wallet never occur together, but two requests are no evidence of routing
    assert all(len(stage.steps) == 1 for stage in checkout.stages)
    # two samples: a fit is shown, but never called good
    assert browse.work_time.distribution is not None and browse.work_time.distribution.basis is Basis.GUESSED


def test_an_otlp_http_body_spread_over_lines_reads_as_the_lines(tmp_path: Path) -> None:
    requests = [json.loads(line) for line in SMALL[TraceFormat.OTLP].read_text().splitlines()]
    merged = {"resourceSpans": [rs for r in requests for rs in r["resourceSpans"]]}
    path = tmp_path / "body.json"
    path.write_text(json.dumps(merged, indent=2))
    assert body(observe_files([path])) == body(observe_files([SMALL[TraceFormat.OTLP]]))
    wrapped = tmp_path / "v3.json"  # Jaeger v2's /api/v3/traces answers with the OTLP document in "result"
    wrapped.write_text(json.dumps({"result": merged}))
    assert body(observe_files([wrapped])) == body(observe_files([path]))


def test_jaeger_comes_as_a_bare_trace_a_list_or_with_data_not_first(tmp_path: Path) -> None:
    answer = json.loads(SMALL[TraceFormat.JAEGER].read_text())
    expected = body(observe_files([SMALL[TraceFormat.JAEGER]]))
    (tmp_path / "list.json").write_text(json.dumps(answer["data"]))
    (tmp_path / "late.json").write_text(json.dumps({"total": 4, "data": answer["data"]}))
    assert body(observe_files([tmp_path / "list.json"])) == expected
    assert body(observe_files([tmp_path / "late.json"])) == expected
    for i, trace in enumerate(answer["data"]):
        (tmp_path / f"t{i}.json").write_text(json.dumps(trace))
    assert body(observe_files([tmp_path / f"t{i}.json" for i in range(4)])) == expected


def test_zipkin_flat_list_and_base64_otlp_ids(tmp_path: Path) -> None:
    traces = json.loads(SMALL[TraceFormat.ZIPKIN].read_text())
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps([span for trace in traces for span in trace]))
    assert body(observe_files([flat])) == body(observe_files([SMALL[TraceFormat.ZIPKIN]]))
    lines = []
    for line in SMALL[TraceFormat.OTLP].read_text().splitlines():  # protobuf's generic JSON mapping: base64 ids
        request = json.loads(line)
        for span in request["resourceSpans"][0]["scopeSpans"][0]["spans"]:
            for key in ("traceId", "spanId", "parentSpanId"):
                if key in span:
                    span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
        lines.append(json.dumps(request))
    b64 = tmp_path / "b64.jsonl"
    b64.write_text("\n".join(lines))
    assert body(observe_files([b64])) == body(observe_files([SMALL[TraceFormat.OTLP]]))


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_reading_in_tiny_windows_gives_the_same_spans(chunk: int) -> None:
    text = SMALL[TraceFormat.ZIPKIN].read_text()
    whole = [b.spans for b in zipkin.read(JsonReader(io.StringIO(text), "z"))]
    reader = JsonReader(io.StringIO(text), "z", chunk=chunk)
    assert detect(reader) is TraceFormat.ZIPKIN
    assert [b.spans for b in zipkin.read(reader)] == whole
    assert sum(len(s) for s in whole) == 22


def test_a_span_keeps_the_line_it_came_from() -> None:
    text = SMALL[TraceFormat.ZIPKIN].read_text()
    spans = [s for b in zipkin.read(JsonReader(io.StringIO(text), "z.json", chunk=5)) for s in b.spans]
    lines = text.splitlines()
    for span in spans:  # a list of traces: each span's record is its trace's list
        assert span.origin.file == "z.json"
        assert lines[span.origin.line - 1].strip() == "["


@pytest.mark.parametrize("chunk", [1, 64, 1 << 20])
def test_a_span_keeps_its_line_in_pretty_printed_json(chunk: int) -> None:
    # Pretty-printed requests have hundreds of lines each, so the reader counts lines of many newlines (where
    # it counts them all at once) as well as of few, across windows of every size.
    requests = [json.loads(line) for line in SMALL[TraceFormat.OTLP].read_text().splitlines()]
    text, starts = "", []
    for request in requests:
        text += "\n" * (len(starts) % 3)
        starts.append(text.count("\n") + 1)
        text += json.dumps(request, indent=1) + "\n"
    assert text.count("\n") > 64 * len(requests)
    batches = list(otlp.read(JsonReader(io.StringIO(text), "o.json", chunk=chunk)))
    assert [b.spans[0].origin.line for b in batches] == starts
    assert all(s.origin.column == 1 for b in batches for s in b.spans)


def test_reading_leaves_no_reference_cycles(tmp_path: Path) -> None:
    # observe_files pauses the cyclic collector for speed: that costs no memory only while nothing it builds
    # is garbage in a cycle, which reference counting alone cannot free.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import trace_import

    generated = []
    for fmt in ("otlp", "jaeger", "zipkin"):
        generated.append(tmp_path / f"{fmt}.json")
        trace_import.generate(generated[-1], 3_000, fmt=fmt)
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for path in [*SMALL.values(), *generated]:
            assert observe_files([path]).traces_used
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()


def test_otlp_span_fields_in_one_pass_agree_with_the_attribute_dict() -> None:
    # The reader's one-pass reading of a span's attributes against the plain rule (a dict of the wanted keys, the
    # last of a repeated key counting), on lists with repeats, empty values, other types and unwanted keys.
    rng = random.Random(7)
    keys = [*FIELD_OF, "http.status_code", "error"]
    values: list[object] = [{"stringValue": "a"}, {"stringValue": "b"}, {"stringValue": ""}, {"intValue": "7"},
                            {"boolValue": True}, {}, None, {"stringValue": None}]
    for _ in range(3_000):
        attrs = [{"key": rng.choice(keys), "value": rng.choice(values)} for _ in range(rng.randrange(6))]
        assert otlp._span_fields("op", attrs) == span_fields("op", otlp.attributes(attrs, SPAN_KEYS)), attrs

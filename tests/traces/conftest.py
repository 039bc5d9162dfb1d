"""The SDK-traced shops, generated once per session and written in the formats the readers take."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import otel_plain_shop  # noqa: E402
import otel_shop  # noqa: E402
from tracekit import Derived, ShopTraces  # noqa: E402

from chaos.cli import main  # noqa: E402
from chaos.model.files import load_topology  # noqa: E402
from chaos.traces.observe import observe_files  # noqa: E402

FROM_TRACES = "chaoslab topology from-traces traces.jsonl --out topology.yaml"


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> ShopTraces:
    spans = otel_shop.Shop(seed=7, requests=4000).run()
    where = tmp_path_factory.mktemp("shop")
    otlp = where / "shop.jsonl"
    otlp.write_text("\n".join(otel_shop.otlp_json_lines(spans)) + "\n")
    zipkin = where / "shop-zipkin.json"
    zipkin.write_text(otel_shop.zipkin_json(spans))
    ids = {s.context.span_id for s in spans}
    orphans = sum(1 for s in spans if s.parent is not None and s.parent.span_id not in ids)
    roots = [s for s in spans if s.parent is None]
    browse = sum(1 for s in roots if s.name == "GET /browse")
    return ShopTraces(otlp, zipkin, len(spans), orphans, browse, len(roots) - browse,
                      observe_files([otlp]), observe_files([zipkin]))


@pytest.fixture(scope="session")
def plain_traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plain shop's traces as the Collector's file exporter writes them."""
    spans = otel_plain_shop.PlainShop(seed=11).run()
    traces = tmp_path_factory.mktemp("plain-traces") / "traces.jsonl"
    traces.write_text("\n".join(otel_shop.otlp_json_lines(spans)) + "\n")
    return traces


@pytest.fixture(scope="session")
def derived(plain_traces: Path, tmp_path_factory: pytest.TempPathFactory) -> Derived:
    where = tmp_path_factory.mktemp("plain")
    traces = where / "traces.jsonl"
    traces.write_bytes(plain_traces.read_bytes())
    buffer = io.StringIO()
    cwd = Path.cwd()
    os.chdir(where)  # run as a user types it, in the directory with the traces
    try:
        with contextlib.redirect_stdout(buffer):
            code = main(FROM_TRACES.split()[1:])
    finally:
        os.chdir(cwd)
    text = (where / "topology.yaml").read_text()
    return Derived(where, traces, observe_files([traces]), code, buffer.getvalue(),
                   load_topology(where / "topology.yaml"), text)

"""The SDK-traced shop, generated once per session and written in the formats the readers take."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import otel_shop  # noqa: E402
from tracekit import ShopTraces  # noqa: E402

from chaos.traces.observe import observe_files  # noqa: E402


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

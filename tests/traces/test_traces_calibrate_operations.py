"""``chaoslab calibrate TRACES --topology T``: a topology with operations gets each operation's own time.

The SDK-traced shop's gateway serves ``GET /browse`` with lognormal(2 ms, p99 8 ms) of its own work
and ``POST /buy`` with lognormal(3 ms, p99 15 ms). A topology that declares the gateway's operations
``browse`` and ``buy`` (named as a team names them, paired with the traced ones by the last word)
must get each one's distribution back within sampling error (four standard errors of the log-median,
as test_traces_topology.py), and the service's own time, the default of its operations, stays the
blend of both.
"""

from __future__ import annotations

import math
from pathlib import Path

import otel_shop as truth
import pytest
from tracekit import ShopTraces

from chaos.cli import main
from chaos.model.distributions import LogNormal
from chaos.model.files import load_topology

OPS = """\
name: ops
entrypoints:
  browse: {to: gateway, operation: browse, share: 7}
  buy: {to: gateway, operation: buy, share: 3}
services:
  gateway:
    service_time: 10ms
    operations:
      browse: {}
      buy: {service_time: 10ms}
      health: {}
"""


def test_each_operation_gets_its_traced_own_time(shop: ShopTraces, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ops.yaml").write_text(OPS)
    monkeypatch.chdir(tmp_path)
    assert main(["calibrate", str(shop.otlp), "--topology", "ops.yaml", "--out", "calibrated.yaml"]) == 0
    out = capsys.readouterr().out
    gateway = load_topology("calibrated.yaml").service("gateway")
    for op, n, want in (("browse", shop.browse, truth.GATEWAY_BROWSE), ("buy", shop.buy, truth.GATEWAY_BUY)):
        written = gateway.operation_of(op).service_time
        assert isinstance(written, LogNormal), written
        # the gateway is the entry service: no caller's span, no per-hop overhead to add
        assert abs(math.log(written.median / want.median)) <= 4 * want.sigma / math.sqrt(n) + 0.001, (op, written)
        assert abs(math.log(written.quantile(0.99) / want.p99)) <= 4 * want.sigma / math.sqrt(n) * 2 + 0.01
    assert "gateway.browse: " in out and "traced as 'GET /browse'" in out
    assert "gateway.health" in out  # declared, never traced: left as it was, and said
    # fitted apart: a buy's own work is half as long again as a browse's (3 ms against 2 ms at the median)
    assert gateway.operation_of("buy").service_time.median > 1.25 * gateway.operation_of("browse").service_time.median
    assert gateway.operation_of("health").service_time == gateway.service_time  # untraced: the service's blend

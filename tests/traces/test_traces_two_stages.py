"""``topology from-traces`` keeps two parallel groups in a row apart (``new_stage``), on SDK-built traces.

The gateway below calls catalog and checkout together, and when both have answered, payment
and wallet together: the second group starts after the first group's last call ended. The
topology runs adjacent parallel calls as one group, so without ``new_stage`` the written file
would run all four at once. The same fan-out with one group (all four together) must not get it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import otel_shop
import pytest
from otel_shop import MS, Instance

from chaos.cli import main
from chaos.core.choices import CallMode
from chaos.model.files import load_topology

LEAF_MEAN = 3 * MS


@dataclass
class TwoStages(otel_shop.Shop):
    requests: int = 300
    one_group: bool = False

    def run(self):  # type: ignore[no-untyped-def]
        t = 0.0
        for _ in range(self.requests):
            t += self.rng.expovariate(self.rate)
            self.page(t)
        for provider in self.providers:
            provider.shutdown()
        return list(self.exporter.get_finished_spans())

    def page(self, t: float) -> None:
        g = self.gateway
        root = self.server(g, "GET /page", "/page", t, None)
        now = t + 0.5 * MS
        first = [("catalog", self.catalog[0]), ("checkout", self.checkout)]
        second = [("payment", self.payment), ("wallet", self.wallet)]
        groups = [first + second] if self.one_group else [first, second]
        for group in groups:
            ends = [self.call(g, root, now, host, lambda at, c, inst=inst: self.leaf(inst, at, c))[0]
                    for host, inst in group]
            now = max(ends)  # the next group starts when this one's last call has answered
        self.end(g, root, now + 0.5 * MS)

    def leaf(self, inst: Instance, t: float, carrier: dict) -> tuple[float, bool]:
        span = self.server(inst, "GET /x", "/x", t, carrier)
        now = t + self.rng.expovariate(1 / LEAF_MEAN)
        self.end(inst, span, now)
        return now, False


def derive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_group: bool) -> tuple[list[tuple[str, ...]], str]:
    spans = TwoStages(seed=5, one_group=one_group).run()
    (tmp_path / "traces.jsonl").write_text("\n".join(otel_shop.otlp_json_lines(spans)) + "\n")
    monkeypatch.chdir(tmp_path)
    assert main(["topology", "from-traces", "traces.jsonl", "--out", "topology.yaml", "--no-fidelity"]) == 0
    gateway = load_topology(tmp_path / "topology.yaml").service("gateway")
    assert all(c.mode is CallMode.PARALLEL for c in gateway.calls)
    return [tuple(c.to for c in group) for group in gateway.stages()], (tmp_path / "topology.yaml").read_text()


def test_two_parallel_groups_in_a_row_are_written_as_two_stages(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    groups, text = derive(tmp_path, monkeypatch, one_group=False)
    assert [set(g) for g in groups] == [{"catalog", "checkout"}, {"payment", "wallet"}]
    assert text.count("new_stage: true") == 1
    assert "two groups of parallel calls" not in text  # said by the file itself, not blended


def test_one_parallel_group_stays_one_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    groups, text = derive(tmp_path, monkeypatch, one_group=True)
    assert [set(g) for g in groups] == [{"catalog", "checkout", "payment", "wallet"}]
    assert "new_stage" not in text

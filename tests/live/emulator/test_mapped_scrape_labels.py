"""The stack's renaming (chaos.live.stack.mapped_scrape) applied with Prometheus's relabelling semantics to real
emulators' scrapes, in a topology where a service has two callers and a caller two callees: under every preset no
two series of one scrape become one label set (Prometheus would keep one of them and drop the others' counts), and
under haproxy the renamed series are HAProxy's own label sets, one per backend and status class (the causes added
up), with no label HAProxy's exporter does not write. The real Prometheus applies the same rules in
test_mapped_scrape_prometheus.py; this checks every preset and every job of a wider topology in a second."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chaos.live.stack.mapped_scrape import Relabel, job_relabels
from chaos.metrics.mapping import resolve
from chaos.model.files import load_topology
from chaos.model.metrics import MetricsPreset, MetricsSpec

TOPOLOGY = """\
name: fan
entrypoints:
  web: {to: a}
services:
  a:
    service_time: {dist: constant, value: 1ms}
    calls: [{to: b, timeout: 1s}, {to: c, timeout: 1s}]
  c:
    service_time: {dist: constant, value: 1ms}
    calls: [{to: b, timeout: 1s}]
  b:
    service_time: {dist: constant, value: 1ms}
"""

Labels = dict[str, str]


def relabelled(labels: Labels, rules: tuple[Relabel, ...]) -> Labels | None:
    """``labels`` after ``metric_relabel_configs`` as Prometheus applies them (None: dropped): source values joined
    by ``;``, the regex anchored at both ends, ``$1``/``${1}`` its groups, a label set to "" removed."""
    for rule in rules:
        if rule.action == "labeldrop":
            labels = {k: v for k, v in labels.items() if not re.fullmatch(rule.regex, k)}
            continue
        match = re.fullmatch(rule.regex, ";".join(labels.get(name, "") for name in rule.source_labels))
        if match is None:
            continue
        if rule.action == "drop":
            return None
        assert rule.action == "replace", rule
        value = match.expand(re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", rule.replacement))
        labels = {k: v for k, v in labels.items() if k != rule.target_label}
        if value:
            labels[rule.target_label] = value
    return labels


def scraped(helpers, port: int, job: str) -> list[Labels]:  # type: ignore[no-untyped-def]
    """Every series of one scrape of the emulator at ``port``, with the target labels Prometheus attaches."""
    status, _, body, _ = helpers.request(port, "/metrics")
    assert status == 200
    return [{**sample.labels, "__name__": sample.name, "job": job, "instance": f"127.0.0.1:{port}"}
            for family in text_string_to_metric_families(body.decode()) for sample in family.samples]


@pytest.fixture
def fan(launch, helpers, tmp_path: Path):  # type: ignore[no-untyped-def]
    """a -> b, a -> c -> b, b failing half of its requests: answered, failed and dependency-failed label sets."""
    const = helpers.const(0.001)
    stack = launch({"a": {"workers": 4, "service_time": const,
                          "calls": [{"to": "b", "timeout_s": 1}, {"to": "c", "timeout_s": 1}]},
                    "c": {"workers": 4, "service_time": const, "calls": [{"to": "b", "timeout_s": 1}]},
                    "b": {"workers": 4, "service_time": const}})
    stack.faults("b", errors=0.5)
    stack.fire("a", 20, concurrency=2)
    (tmp_path / "fan.yaml").write_text(TOPOLOGY)
    return stack, load_topology(tmp_path / "fan.yaml")


@pytest.mark.parametrize("preset", list(MetricsPreset), ids=lambda p: p.value)
def test_no_two_series_of_a_scrape_become_one_and_haproxys_are_its_own_label_sets(fan, helpers, preset) -> None:
    stack, topology = fan
    mapping = resolve(MetricsSpec(preset=preset), topology)
    renamed: dict[str, list[Labels]] = {}
    for job, rules in job_relabels(mapping, topology).items():
        kept = [out for labels in scraped(helpers, stack.port(job), job)
                if (out := relabelled(labels, rules)) is not None]
        twice = [k for k, n in Counter(tuple(sorted(s.items())) for s in kept).items() if n > 1]
        assert not twice, (job, twice[:3])
        renamed[job] = kept
    if preset is not MetricsPreset.HAPROXY:
        return
    haproxy = [s for series in renamed.values() for s in series if s["__name__"].startswith("haproxy_")]
    assert {k for s in haproxy for k in s} == {"__name__", "proxy", "code", "job", "instance"}
    answers = [s for s in haproxy if s["__name__"] == "haproxy_backend_http_responses_total"]
    # b is called by a and by c: one series per caller replica (instance), each one per class; c by a alone.
    by_backend = Counter((s["proxy"], s["instance"]) for s in answers)
    assert sorted(p for p, _ in by_backend) == ["b", "b", "c"]
    assert set(by_backend.values()) == {6}  # 1xx, 2xx, 3xx, 4xx, 5xx, other
    five = {s["instance"]: s for s in answers if s["proxy"] == "b" and s["code"] == "5xx"}
    assert len(five) == 2 and all(s["job"] == "b" for s in five.values())

"""YAML in, frozen typed objects out: shorthands, defaults, enums, locations and overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chaos.errors import InputError
from chaos.model.distributions import Constant, Exponential, LogNormal
from chaos.model.experiment import Experiment
from chaos.model.files import FileKind, detect_kind, load_experiment, load_topology
from chaos.model.load import Constant as ConstantLoad
from chaos.model.load import Ramp
from chaos.model.overrides import parse_assignment, set_path
from chaos.model.parsing import parse_duration, where_of
from chaos.model.scope import Scope
from chaos.model.slos import ObjectiveKind
from chaos.model.topology import LoadBalancing, QueueDiscipline, Topology

TOPOLOGY = """\
name: t
services:
  a:
    service_time: 20ms
    load_balancing: Least-Outstanding
    calls: [{to: b, retries: {max: 2}}]
  b: {service_time: {dist: exponential, mean: 5ms}, queue: {limit: 3, discipline: LIFO}}
  c: {service_time: {dist: lognormal, median: 10ms, p95: 40ms}}
entrypoints:
  web: {to: a}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def topo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Topology:
    monkeypatch.chdir(tmp_path)  # files are named relative to the working directory
    write(tmp_path, "t.yaml", TOPOLOGY)
    return load_topology("t.yaml")


@pytest.mark.parametrize(("text", "seconds"), [
    ("250ms", 0.25), ("3s", 3.0), ("2m", 120.0), ("1h", 3600.0), ("1d", 86400.0), ("1m30s", 90.0),
    ("1h1m1s1ms", 3661.001), ("500us", 0.0005), ("500µs", 0.0005), (".5s", 0.5), ("1.5s", 1.5), (" 3 s ", 3.0),
    ("5", 5.0), ("0.25", 0.25),  # a quoted plain number is seconds, as the message promises
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize("text", ["", "abc", "-5", "nan", "5 sec", "ms", "1m-30s", "s5", "3s!"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_shorthands_defaults_and_enums(topo: Topology) -> None:
    a, b, c = (topo.service(n) for n in "abc")
    assert a.service_time == Constant(0.02)  # a bare duration is a constant
    assert b.service_time == Exponential(0.005)
    assert c.service_time == LogNormal(median=0.01, p95=0.04)
    # Enum values are matched ignoring case, with '-' for '_', as people type them.
    assert a.load_balancing is LoadBalancing.LEAST_OUTSTANDING
    assert b.queue.discipline is QueueDiscipline.LIFO and b.queue.limit == 3
    assert a.replicas == 1 and a.workers == 1 and a.queue.limit == 1000  # documented defaults
    assert a.calls[0].retries.max == 2 and a.calls[0].timeout is None
    # Names come from the mapping keys.
    assert [s.name for s in topo.services] == ["a", "b", "c"]
    assert topo.entrypoints[0].name == "web" and topo.entrypoints[0].to == "a"
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.workers = 5  # type: ignore[misc]


def test_every_object_remembers_where_it_came_from(topo: Topology) -> None:
    call = topo.service("a").calls[0]
    where = where_of(call)
    lines = TOPOLOGY.splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "{to: b" in text)
    assert (where.location.line, where.location.column) == (line, lines[line - 1].index("{to: b") + 1)
    assert where.path == "services.a.calls[0]"
    assert where_of(call.retries).path == "services.a.calls[0].retries"
    # An error raised long after parsing still points at the field.
    err = call.error("to", "checked later")
    assert str(err) == f"t.yaml:{line}:{lines[line - 1].index('b,') + 1}: services.a.calls[0].to: checked later"


def test_overrides_change_one_setting_and_keep_the_rest(topo: Topology) -> None:
    path, value = parse_assignment("services.a.calls.b.retries.max=5")
    changed = set_path(topo, path, value)
    assert changed.service("a").calls[0].retries.max == 5
    assert topo.service("a").calls[0].retries.max == 2  # the original is untouched (frozen)
    assert changed.service("b") == topo.service("b") and changed.entrypoints == topo.entrypoints
    path, value = parse_assignment("services.b.service_time={dist: exponential, mean: 1s}")
    assert set_path(topo, path, value).service("b").service_time == Exponential(1.0)
    path, value = parse_assignment("services.b.queue.limit=lots")
    with pytest.raises(InputError, match="services.b.queue.limit: expected an integer, got str 'lots'"):
        set_path(topo, path, value)


def test_experiment_overrides_are_applied_and_rechecked(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", TOPOLOGY)
    base = "name: x\ntopology: t.yaml\nduration: 10s\nload: {rate: 5}\n"
    exp = load_experiment(write(tmp_path, "x.yaml", base + "overrides:\n  services.a.workers: 7\n"))
    assert exp.topology.service("a").workers == 7
    assert isinstance(exp.load, ConstantLoad) and exp.load.rate == 5  # 'profile' defaults to constant
    # An override that breaks the topology as a whole is caught by the topology's own checks.
    bad = write(tmp_path, "y.yaml", base + "overrides:\n  services.c.calls: [{to: a}]\n  services.b.calls: [{to: c}]\n"
                "  services.a.calls: [{to: b}]\n")
    with pytest.raises(InputError, match="calls always loop back: a -> b -> c -> a"):
        load_experiment(bad)


def test_inline_topology_and_star_slos(tmp_path: Path) -> None:
    inline = "\n".join("  " + line for line in TOPOLOGY.splitlines())
    text = (f"name: x\ntopology:\n{inline}\nduration: 1m\nload: {{profile: ramp, from: 1, to: 9}}\n"
            "slos:\n  - {service: '*', error_ratio: 0.02}\n  - {service: b, latency: {p99: 50ms}}\n")
    exp: Experiment = load_experiment(write(tmp_path, "x.yaml", text))
    assert exp.topology.service("c").service_time == LogNormal(median=0.01, p95=0.04)
    assert exp.load == Ramp(from_=1, to=9)
    # '*' covers every service without an SLO of its own; b has its own (latency only).
    covered = {(o.scope, o.kind) for o in exp.objectives}
    assert covered == {(Scope.service("a"), ObjectiveKind.ERROR_RATIO), (Scope.service("c"), ObjectiveKind.ERROR_RATIO),
                       (Scope.service("b"), ObjectiveKind.LATENCY)}


@pytest.mark.parametrize(("text", "kind"), [
    (TOPOLOGY, FileKind.TOPOLOGY),
    ("name: x\ntopology: t.yaml\nduration: 1m\nload: {rate: 1}\n", FileKind.EXPERIMENT),
    ("name: p\nsteps: []\n", FileKind.PLAYBOOK),
])
def test_file_kinds_are_told_apart_by_their_keys(text: str, kind: FileKind, tmp_path: Path) -> None:
    assert detect_kind(write(tmp_path, "f.yaml", text)) is kind


def test_a_file_of_no_known_kind(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot tell what kind of file this is") as info:
        detect_kind(write(tmp_path, "f.yaml", "name: what\n"))
    assert info.value.hint is not None and "--kind" in info.value.hint

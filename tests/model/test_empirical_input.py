"""An empirical service time as a user writes it: samples inline or in a file beside the topology."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos.cli import main
from chaos.errors import InputError
from chaos.live.in_container.stackspec import from_dict
from chaos.live.stack.stackspec_build import build
from chaos.model.distributions import Empirical
from chaos.model.files import load_topology

TOPOLOGY = """\
name: t
services:
  api:
    service_time: {dist: empirical, file: times/api.txt}
  db:
    service_time: {dist: empirical, samples: [3ms, 1ms, 2ms, 0.004]}
entrypoints:
  web: {to: api}
"""


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "topologies" / "times").mkdir(parents=True)
    (tmp_path / "topologies" / "t.yaml").write_text(TOPOLOGY)
    return tmp_path


def test_samples_inline_and_from_a_file_relative_to_the_yaml(here: Path) -> None:
    (here / "topologies" / "times" / "api.txt").write_text("# api's own times\n12ms\n\n  10.5ms  # slow\n0.011\n")
    topo = load_topology("topologies/t.yaml")
    api, db = topo.service("api").service_time, topo.service("db").service_time
    assert isinstance(api, Empirical) and isinstance(db, Empirical)
    assert api.points == (0.0105, 0.011, 0.012)
    assert db.points == (0.001, 0.002, 0.003, 0.004)
    assert api.quantile(0.5) == 0.011 and db.quantile(0.5) == pytest.approx(0.0025)


def test_a_bad_line_in_the_samples_file_is_reported_at_its_line(here: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    (here / "topologies" / "times" / "api.txt").write_text("12ms\n13ms\n   fast\n")
    assert main(["validate", "topologies/t.yaml"]) == 2
    err = capsys.readouterr().err
    assert "topologies/times/api.txt:3:4: 'fast' is not a duration" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("service_time", "message"), [
    ("{dist: empirical, samples: [1ms], file: times/api.txt}", "exactly one of them"),
    ("{dist: empirical}", "exactly one of them"),
    ("{dist: empirical, samples: [1ms, -2ms]}", "not a duration"),
    ("{dist: empirical, file: times/none.txt}", "file not found: times/none.txt"),
])
def test_an_empirical_distribution_needs_exactly_one_source(here: Path, service_time: str, message: str) -> None:
    (here / "topologies" / "times" / "api.txt").write_text("1ms\n")
    path = here / "topologies" / "t.yaml"
    path.write_text(TOPOLOGY.replace("{dist: empirical, file: times/api.txt}", service_time))
    with pytest.raises(InputError, match=message) as caught:
        load_topology("topologies/t.yaml")
    assert caught.value.location is not None and caught.value.location.line == 4


def test_an_empty_samples_file_is_refused(here: Path) -> None:
    (here / "topologies" / "times" / "api.txt").write_text("# nothing yet\n\n")
    with pytest.raises(InputError, match="holds no durations"):
        load_topology("topologies/t.yaml")


def test_the_stack_spec_carries_the_samples_and_refuses_bad_ones(here: Path) -> None:
    (here / "topologies" / "times" / "api.txt").write_text("12ms\n10ms\n")
    topo = load_topology("topologies/t.yaml")
    built = build(topo, (0.1,), lambda caller, callee, n: (f"http://{callee}-{n}:8080", f"{caller}-{callee}"))
    data = json.loads(built.to_json())
    assert data["services"]["api"]["service_time"] == {"dist": "empirical", "samples": [0.01, 0.012]}
    assert from_dict(data).service("db").service_time.samples == (0.001, 0.002, 0.003, 0.004)
    for bad, message in (([], "an empty list"), ([0.001, -1], r"samples\[1\]"), ("0.1", "the string")):
        data["services"]["api"]["service_time"] = {"dist": "empirical", "samples": bad}
        with pytest.raises(InputError, match=message):
            from_dict(data)

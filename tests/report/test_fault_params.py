"""A fault's ``params`` in result.json: a frozen value of its kind's params class, chosen by the fault's ``kind``
(the codec's tagged union), checked on reading, written back as it was read, and described per kind in the
schema, so a slowdown's params with a latency's keys are refused by a validator as by the reader."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest
from reportkit import make_doc
from written_schemas import schema_errors

from chaos.codec import build, encode, json_schema
from chaos.document import read
from chaos.errors import InputError
from chaos.model.faults import (
    FAULT_CLASSES,
    WINDOW_KEYS,
    CrashParams,
    FaultKind,
    LatencyParams,
    LoadSpikeParams,
    SlowdownParams,
    params_class,
)
from chaos.model.parsing import model_fields
from chaos.report.summary import render


def with_fault(kind: str, params: dict[str, Any] | None) -> dict[str, Any]:
    doc = copy.deepcopy(make_doc())
    fault = doc["faults"][0]
    fault["kind"] = kind
    if params is None:
        del fault["params"]
    else:
        fault["params"] = params
    return doc


def test_the_kind_chooses_the_params_class() -> None:
    assert read(with_fault("slowdown", {"factor": 10.0})).faults[0].params == SlowdownParams(factor=10.0)
    # the same keys under another kind are that kind's settings
    assert read(with_fault("load_spike", {"factor": 10.0})).faults[0].params == LoadSpikeParams(factor=10.0)
    crash = read(with_fault("crash", {"replicas": 1, "cold_start": {"factor": 3.0, "decay": 20.0}})).faults[0]
    assert isinstance(crash.params, CrashParams) and crash.params.replicas == 1
    assert crash.params.cold_start is not None and crash.params.cold_start.decay == 20.0


def test_params_of_another_kinds_shape_are_refused_where_they_are() -> None:
    with pytest.raises(InputError, match=r"faults\[0\]\.params: missing 'delay'"):
        read(with_fault("latency", {"factor": 10.0}))
    with pytest.raises(InputError, match=r"faults\[0\]\.params\.factor: expected a number, found the string '10'"):
        read(with_fault("slowdown", {"factor": "10"}))
    with pytest.raises(InputError, match=r"faults\[0\]\.params\.replicas: 0 is out of range: must be at least 1"):
        read(with_fault("crash", {"replicas": 0}))


def test_a_live_runs_notes_are_kept_and_written_back_in_their_place() -> None:
    live = {"driver": "toxiproxy", "live": "latency toxic on db", "delay": 0.25, "jitter": 0.0}
    doc = with_fault("latency", live)
    params = read(doc).faults[0].params
    assert params == LatencyParams(driver="toxiproxy", live="latency toxic on db", delay=0.25, jitter=0.0)
    assert encode(params) == live and list(encode(params)) == list(live)  # same keys, same order
    assert json.dumps(encode(read(doc))["faults"][0]["params"]) == json.dumps(live)  # byte for byte
    assert "(delay 250 ms, jitter 0 s, driver toxiproxy, live latency toxic on db)" in render(doc)


def test_a_fault_without_params_reads_as_unknown_settings() -> None:
    doc = with_fault("latency", None)
    assert read(doc).faults[0].params is None
    assert "latency on" in render(doc)


def written(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """A complete result document as chaoslab writes it, with a fault of ``kind`` and these ``params``."""
    doc: dict[str, Any] = encode(read(make_doc()))
    doc["faults"][0] = {**doc["faults"][0], "kind": kind, "params": params}
    return doc


def test_the_schema_gives_each_kind_its_params_shape() -> None:
    assert schema_errors("result", written("slowdown", {"factor": 10.0})) == []
    assert schema_errors("result", written("latency", {"driver": "toxiproxy", "delay": 0.1, "jitter": 0.0})) == []
    wrong = schema_errors("result", written("slowdown", {"delay": 0.1}))
    assert any("'factor' is a required property" in e for e in wrong), wrong
    assert any("('delay' was unexpected)" in e for e in wrong), wrong
    assert schema_errors("result", written("crash", {"replicas": 0})) != []
    assert schema_errors("result", written("hang", {})) == []
    assert schema_errors("result", written("hang", {"factor": 2.0})) != []


@pytest.mark.parametrize("cls", FAULT_CLASSES, ids=lambda c: c.TAG)
def test_each_fault_class_is_built_from_its_params_class(cls: type) -> None:
    """One declaration per setting: the YAML fields of a kind beyond its window are its params class's."""
    params = params_class(cls)
    assert params.TAG == cls.TAG and FaultKind(params.TAG) in FaultKind
    assert {f.key for f in model_fields(cls)} - WINDOW_KEYS == {f.key for f in model_fields(params)}


# --------------------------------------------------------------------------- the codec's tagged union, alone


@dataclasses.dataclass(frozen=True, kw_only=True)
class Circle:
    TAG = "circle"
    r: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class Square:
    TAG = "square"
    side: float
    label: str | None = dataclasses.field(default=None, metadata={"omit_none": True})


@dataclasses.dataclass(frozen=True, kw_only=True)
class Shape:
    kind: str
    shape: Circle | Square = dataclasses.field(metadata={"tag": "kind", "key": "of"})


def test_the_codec_reads_writes_and_describes_any_tagged_union() -> None:
    assert build(Shape, {"kind": "square", "of": {"side": 2}}, "", "x.json") == Shape(kind="square",
                                                                                     shape=Square(side=2.0))
    assert encode(Shape(kind="circle", shape=Circle(r=1.0))) == {"kind": "circle", "of": {"r": 1.0}}
    with pytest.raises(InputError, match=r"x\.json: of: missing 'r'"):
        build(Shape, {"kind": "circle", "of": {"side": 2}}, "", "x.json")
    schema = json_schema(Shape, "shape")
    choices = {c["if"]["properties"]["kind"]["const"]: c["then"]["properties"]["of"]["$ref"]
               for c in schema["$defs"]["Shape"]["allOf"]}
    assert choices == {"circle": "#/$defs/Circle", "square": "#/$defs/Square"}
    assert schema["$defs"]["Square"]["required"] == ["side"]  # an omit_none field may be absent

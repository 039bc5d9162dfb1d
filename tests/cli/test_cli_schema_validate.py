"""``chaoslab schema`` prints a valid JSON Schema that the bundled files satisfy; ``chaoslab validate`` accepts them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from chaos.cli import main

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = {
    "topology": sorted(ROOT.glob("topologies/*.yaml")),
    "experiment": sorted(ROOT.glob("experiments/*.yaml")),
    "playbook": sorted(ROOT.glob("playbooks/*.yaml")),
}
ALL_FILES = [(kind, path) for kind, paths in BUNDLED.items() for path in paths]


def schema(kind: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["schema", kind]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_there_are_bundled_files_to_check() -> None:
    assert len(BUNDLED["topology"]) >= 1 and len(BUNDLED["experiment"]) >= 4


@pytest.mark.parametrize("kind", list(BUNDLED))
def test_schema_is_a_valid_json_schema(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    doc = schema(kind, capsys)
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["type"] == "object" and doc["additionalProperties"] is False
    # Every reference resolves to a definition.
    refs = {m for m in json.dumps(doc).split('"$ref": "')[1:]}
    for ref in refs:
        name = ref.split('"')[0].removeprefix("#/$defs/")
        assert name in doc["$defs"], name


@pytest.mark.parametrize(("kind", "path"), ALL_FILES, ids=[f"{p.parent.name}/{p.name}" for _, p in ALL_FILES])
def test_bundled_file_satisfies_its_schema(kind: str, path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    validator = jsonschema.Draft202012Validator(schema(kind, capsys))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8")))]
    assert errors == []


@pytest.mark.parametrize(("path", "broken"), [
    ("services.db.workers", "eight"),              # wrong type
    ("services.db.replicas", 0),                   # out of range
    ("services.db.load_balancing", "roundrobin"),  # not one of the enum's values
    ("services.db.service_time", "4 ms!"),         # not a duration
    ("services.db.colour", "red"),                 # unknown key
    ("services.db.replicas", 5000),                # past its upper bound (issue 12)
    ("services.db.queue", {"limit": 10**7}),       # past its upper bound
    ("services.db.service_time", 40 * 86400),      # a duration past 30 days (a pattern cannot bound "40d")
])
def test_schema_rejects_what_the_parser_rejects(path: str, broken: object, capsys: pytest.CaptureFixture[str]) -> None:
    # Not a vacuous schema: one bad setting in the bundled topology makes it invalid.
    doc = yaml.safe_load(BUNDLED["topology"][0].read_text(encoding="utf-8"))
    node = doc
    *parents, leaf = path.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = broken
    validator = jsonschema.Draft202012Validator(schema("topology", capsys))
    assert not validator.is_valid(doc)


def test_schema_rejects_a_load_profile_that_does_not_exist(capsys: pytest.CaptureFixture[str]) -> None:
    doc = yaml.safe_load(BUNDLED["experiment"][0].read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema("experiment", capsys))
    for load in ({"profile": "constant", "rate": 10}, {"rate": 10},
                 {"profile": "ramp", "from": 1, "to": 5}, {"profile": "spike", "rate": 1, "peak": 9, "at": "5s",
                                                          "for": "2s"}):
        assert validator.is_valid({**doc, "load": load}), load
    for load in ({"profile": "wave", "rate": 10}, {"profile": "constant", "rate": -1},
                 {"profile": "constant", "value": "20ms"}, {"profile": "ramp", "rate": 10}):
        assert not validator.is_valid({**doc, "load": load}), load


def test_validate_accepts_every_bundled_file(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(p) for _, p in ALL_FILES]
    assert main(["validate", *files]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == len(files)
    for line, (kind, path) in zip(lines, ALL_FILES, strict=True):
        assert line.startswith(f"{path}: ok ({kind} ")


def _walk(node: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            out.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


@pytest.mark.parametrize("kind", list(BUNDLED))
def test_schema_states_an_upper_bound_for_every_number_and_collection(kind: str,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # Every number the parser reads is bounded, and the schema says so (generated from the same metadata).
    nodes = _walk(schema(kind, capsys))
    numbers = [n for n in nodes if n.get("type") in ("number", "integer")]
    assert numbers and all("maximum" in n or "exclusiveMaximum" in n for n in numbers), \
        [n for n in numbers if "maximum" not in n and "exclusiveMaximum" not in n]
    arrays = [n for n in nodes if n.get("type") == "array"]
    assert arrays and all("maxItems" in n for n in arrays)
    mappings = [n for n in nodes if n.get("type") == "object" and isinstance(n.get("additionalProperties"), dict)]
    assert all("maxProperties" in n for n in mappings)


def test_schema_refuses_names_the_parser_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    doc = yaml.safe_load(BUNDLED["topology"][0].read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema("topology", capsys))
    for name in ("e.mail", "a->b", "*", "", "a b", "x" * 64):
        assert not validator.is_valid({**doc, "services": {**doc["services"], name: {"service_time": "1ms"}}}), name
    assert validator.is_valid({**doc, "services": {**doc["services"], "new-svc_2": {"service_time": "1ms"}}})

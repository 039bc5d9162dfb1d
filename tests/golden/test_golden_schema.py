"""The golden results validate against ``chaoslab schema result``, generated from the result document's types;
and the schema is no vacuous one: a changed type, a stray key or a missing one is refused."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from typing import Any

import jsonschema
import pytest
from golden_cases import cases, read_golden

from chaos.cli import main
from chaos.codec import encode
from chaos.document import read

RESULTS = [c for c in cases() if c.output == "result.json"]


def _schema() -> dict[str, Any]:
    """What ``chaoslab schema result`` prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["schema", "result"]) == 0
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


SCHEMA = _schema()


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(SCHEMA)


def golden(name: str) -> dict[str, Any]:
    text = read_golden(next(c for c in RESULTS if c.name == name))
    assert text is not None
    doc: dict[str, Any] = json.loads(text)
    return doc


def test_the_result_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["title"] == "chaoslab result" and SCHEMA["$schema"].endswith("2020-12/schema")


@pytest.mark.parametrize("name", [c.name for c in RESULTS])
def test_golden_result_satisfies_the_schema(name: str, validator: jsonschema.Draft202012Validator) -> None:
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(golden(name))]
    assert errors == []


@pytest.mark.parametrize("name", [c.name for c in RESULTS])
def test_golden_result_reads_back_and_writes_the_same(name: str) -> None:
    """Read into the typed document and written by the one codec, a golden is itself again, but for the
    numbers a float field holds as an integer (the reader makes them floats) and the series the reader fills."""
    doc = golden(name)
    again = encode(read(doc))
    for key in ("series",):
        doc.pop(key), again.pop(key)
    assert json.loads(json.dumps(again)) == doc


def _mutated(doc: dict[str, Any], change: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    change(out)
    return out


@pytest.mark.parametrize("change", [
    lambda d: d.pop("slo_met"),
    lambda d: d.update(surprise=1),
    lambda d: d["services"]["db"].update(requests="many"),
    lambda d: d["playbook"]["steps"][0].update(status="lost"),
    lambda d: d["playbook"]["incident"].update(outcome=None, extra=True),
    lambda d: d["slos"][0].pop("met"),
], ids=["missing", "stray key", "wrong type", "unknown state", "stray nested key", "missing nested"])
def test_schema_refuses_a_damaged_result(change: Any, validator: jsonschema.Draft202012Validator) -> None:
    doc = golden("simulate-db-slow-retry-cascade+db-slow")
    assert validator.is_valid(doc)
    assert not validator.is_valid(_mutated(doc, change))

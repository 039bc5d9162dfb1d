"""The golden results validate against ``chaoslab schema result``, generated from the result document's types,
and the golden sweep.json against ``chaoslab schema sweep``; the schemas are no vacuous ones: a changed type,
a stray key or a missing one is refused."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from typing import Any

import jsonschema
import pytest
from golden_cases import cases, read_golden
from written_schemas import schema_errors, written_again

from chaos.cli import main
from chaos.codec import encode
from chaos.document import read
from chaos.incident_states import FindingKind
from chaos.model.playbook import Phase
from chaos.model.slos import ObjectiveKind
from chaos.run import Engine

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
    lambda d: d["slos"][0].update(kind="throughput"),
    lambda d: d["playbook"]["deadlines"][0].update(phase="panic"),
], ids=["missing", "stray key", "wrong type", "unknown state", "stray nested key", "missing nested",
        "unknown objective kind", "unknown phase"])
def test_schema_refuses_a_damaged_result(change: Any, validator: jsonschema.Draft202012Validator) -> None:
    doc = golden("simulate-db-slow-retry-cascade+db-slow")
    assert validator.is_valid(doc)
    assert not validator.is_valid(_mutated(doc, change))


SWEEP = next(c for c in cases() if c.output == "sweep.json")


def golden_sweep() -> str:
    text = read_golden(SWEEP)
    assert text is not None
    return text


def test_the_golden_sweep_satisfies_the_sweep_schema_and_reads_back_as_written() -> None:
    text = golden_sweep()
    assert schema_errors("sweep", json.loads(text)) == []
    # equal as JSON values: the golden's normalised clock figures are the integer 0 where the reader reads floats
    assert json.loads(written_again("sweep", text)) == json.loads(text)


@pytest.mark.parametrize("change", [
    lambda d: d.pop("runs"),
    lambda d: d["runs"].update(surprise=1),
    lambda d: d["variants"][0]["entry_failed_ratio"].update(mean="high"),
    lambda d: d["variants"][0].pop("hurt"),
    lambda d: d["axes"][0].update(values=[1, 2]),
], ids=["missing", "stray nested key", "wrong type", "missing nested", "values not strings"])
def test_the_sweep_schema_refuses_a_damaged_sweep(change: Any) -> None:
    doc = json.loads(golden_sweep())
    assert schema_errors("sweep", doc) == []
    assert schema_errors("sweep", _mutated(doc, change)) != []


def test_the_documents_states_are_enums_and_the_schema_lists_their_values() -> None:
    """Objective kinds, breach causes, deadline phases and finding kinds read as enums, not strings; the
    JSON keeps their values, and the schema accepts those values only."""
    doc = read(golden("simulate-db-slow-retry-cascade+db-slow"))
    assert doc.engine is Engine.SIM
    assert doc.slos and all(isinstance(o.kind, ObjectiveKind) for o in doc.slos)
    assert doc.blast.cascade and all(isinstance(b.cause, ObjectiveKind) for b in doc.blast.cascade)
    assert doc.playbook is not None and doc.playbook.deadlines
    assert all(isinstance(d.phase, Phase) for d in doc.playbook.deadlines)
    drill = read(golden("drill-gameday-db-latency"))
    assert drill.drill is not None and drill.drill.deadlines
    assert all(isinstance(d.phase, Phase) for d in drill.drill.deadlines)
    found = read(golden("simulate-replica-crash+replica-crash")).playbook
    assert found is not None and found.findings and all(isinstance(f.kind, FindingKind) for f in found.findings)
    defs = SCHEMA["$defs"]
    assert defs["Objective"]["properties"]["kind"] == {"enum": [k.value for k in ObjectiveKind]}
    assert defs["Breach"]["properties"]["cause"] == {"enum": [k.value for k in ObjectiveKind]}
    assert defs["Deadline"]["properties"]["phase"] == {"enum": [p.value for p in Phase]}
    assert defs["Finding"]["properties"]["kind"] == {"enum": [k.value for k in FindingKind]}
    assert defs["ResultDocument"]["properties"]["engine"] == {"enum": ["sim", "live"]}

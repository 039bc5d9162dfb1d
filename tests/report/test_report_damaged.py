"""``chaoslab report`` on a damaged result.json: one line naming the file and the JSON path, exit 2, nothing written.

The reader checks every value against the type its dataclass declares (chaos.codec.build),
so these cases are not special-cased anywhere: each breaks a different type in a different section.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hang_guard import deadline
from reportkit import with_drill, with_playbook

from chaos.cli import main
from chaos.codec import build
from chaos.document import read
from chaos.errors import InputError
from chaos.report import REPORT_FILES, write_reports
from chaos.report.summary import render


@pytest.fixture(scope="module")
def full_doc(failing_doc: dict[str, Any]) -> dict[str, Any]:
    """A document with every optional section, so damage can reach each of them."""
    return with_drill(with_playbook(failing_doc))


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set the value at a JSON path such as ``playbook.steps[1].start_s``."""
    def change(doc: dict[str, Any]) -> None:
        parts = path.replace("[", ".[").split(".")
        target: Any = doc
        for part in parts[:-1]:
            target = target[int(part[1:-1])] if part.startswith("[") else target[part]
        last = parts[-1]
        if last.startswith("["):
            target[int(last[1:-1])] = value
        else:
            target[last] = value
    return change


@dataclass(frozen=True)
class Damage:
    id: str
    change: Callable[[dict[str, Any]], None]
    where: str     # the JSON path the message names
    message: str


def scope_of(doc: dict[str, Any]) -> str:
    return next(iter(doc["series"]["scopes"]))


DAMAGES = [
    Damage("a string duration", _set("duration_s", "420"), "duration_s",
           "expected a number, found the string '420'"),
    Damage("a null warm-up", _set("warmup_s", None), "warmup_s", "expected a number, found null"),
    Damage("a list for the blast radius", _set("blast_radius", []), "blast_radius",
           "expected an object, found a list of 0"),
    Damage("a number for an object", _set("playbook.incident", 5), "playbook.incident",
           "expected an object, found the integer 5"),
    Damage("a string step time", _set("playbook.steps[1].start_s", "12"), "playbook.steps[1].start_s",
           "expected a number, found the string '12'"),
    Damage("a bool for a count", _set("blast_radius.entry_requests", True), "blast_radius.entry_requests",
           "expected an integer, found true"),
    Damage("a float for a count", _set("blast_radius.entry_failed", 2.5), "blast_radius.entry_failed",
           "expected an integer, found the number 2.5"),
    Damage("a number for a name", _set("slos[0].name", 7), "slos[0].name", "expected a string, found the integer 7"),
    Damage("an object for a list", _set("faults", {}), "faults", "expected a list, found an object"),
    Damage("a string in a drill's values", _set("drill.phases.detect.values[3]", "x"), "drill.phases.detect.values[3]",
           "expected a number, found the string 'x'"),
    Damage("a list for a step", _set("playbook.steps[0]", ["a"]), "playbook.steps[0]",
           "expected an object, found a list of 1"),
    Damage("an edge of three", _set("graph.edges[0]", ["a", "b", "c"]), "graph.edges[0]",
           "expected a list of 2, found a list of 3"),
    Damage("infinity in the audit", _set("audit.host_load", [1.0, float("inf")]), "audit.host_load[1]",
           "expected a finite number, found Infinity"),
    Damage("a zero duration", _set("duration_s", 0), "duration_s", "0 is out of range: must be greater than 0"),
    # Found by tests/fuzz: these were free-form mappings that the HTML report formatted as numbers.
    Damage("a list for the trigger time", _set("playbook.trigger.at_s", [1]), "playbook.trigger.at_s",
           "expected a number, found a list of 1"),
    Damage("a string budget", _set("playbook.incident.error_budget_burned[0].burned", "x"),
           "playbook.incident.error_budget_burned[0].burned", "expected a number, found the string 'x'"),
]


def test_a_free_form_audit_of_another_shape_still_renders(full_doc: dict[str, Any], tmp_path: Path) -> None:
    # The audit trail is free-form (hashes, versions, host): an odd shape is shown as it is, not a crash.
    doc = copy.deepcopy(full_doc)
    doc["audit"] = {"inputs": ["a.yaml"], "command": "chaoslab simulate", "host": 7}
    out = write(tmp_path, json.dumps(doc))
    assert main(["report", str(out), "--quiet"]) in (0, 1)
    assert (out / "junit.xml").is_file() and (out / "report.html").is_file()


def write(tmp_path: Path, text: str | bytes) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    data = text.encode() if isinstance(text, str) else text
    (out / "result.json").write_bytes(data)
    return out


def report(out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["report", str(out), "--quiet"])
    return code, capsys.readouterr().err


def assert_refused(out: Path, code: int, err: str, first_line: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    assert err.splitlines()[0] == first_line
    written = {p.name for p in out.iterdir()}
    assert written == {"result.json"}, f"wrote {written - {'result.json'}} for a damaged result"


@pytest.mark.parametrize("damage", DAMAGES, ids=[d.id for d in DAMAGES])
def test_a_damaged_value_is_named_by_its_json_path(damage: Damage, full_doc: dict[str, Any], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    doc = copy.deepcopy(full_doc)
    damage.change(doc)
    out = write(tmp_path, json.dumps(doc))
    code, err = report(out, capsys)
    assert_refused(out, code, err, f"{out / 'result.json'}: {damage.where}: {damage.message}")


def test_a_series_column_of_the_wrong_length(full_doc: dict[str, Any], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    doc = copy.deepcopy(full_doc)
    scope = scope_of(doc)
    doc["series"]["scopes"][scope]["requests"] = [1, 2]
    out = write(tmp_path, json.dumps(doc))
    code, err = report(out, capsys)
    seconds = len(doc["series"]["t_s"])
    assert_refused(out, code, err, f"{out / 'result.json'}: series.scopes.{scope}.requests: "
                                   f"2 values for {seconds} seconds (t_s)")


def test_a_nan_literal(full_doc: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Python's json writes and reads NaN although JSON has no such thing; the reader refuses it.
    text = json.dumps(dict(full_doc, warmup_s="@"))
    out = write(tmp_path, text.replace('"warmup_s": "@"', '"warmup_s": NaN'))
    code, err = report(out, capsys)
    assert_refused(out, code, err, f"{out / 'result.json'}: warmup_s: expected a finite number, found NaN")


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty"),
    ("\n  \n", "the file is empty"),
    ('{"experiment": "x", "engine": ', "1:31: not valid JSON: Expecting value"),
    ("[1, 2]", "expected a JSON object, found list"),
    ('{"a": ' + "9" * 5000 + "}", "not valid JSON: a number too long to read"),
    ("[" * 100_000 + "]" * 100_000, "not valid JSON: nested too deeply"),
], ids=["empty", "blank", "truncated", "a list", "5000 digits", "deep nesting"])
def test_a_file_that_is_not_a_result(text: str, message: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = write(tmp_path, text)
    code, err = report(out, capsys)
    path = out / "result.json"
    assert_refused(out, code, err, f"{path}:{message}" if message[0].isdigit() else f"{path}: {message}")


def test_a_file_that_is_not_utf8(failing_doc: dict[str, Any], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    data = json.dumps(failing_doc).encode().replace(b'"experiment": "', b'"experiment": "\xe9', 1)
    out = write(tmp_path, data)
    code, err = report(out, capsys)
    column = data.index(b"\xe9") + 1  # one line of JSON
    assert_refused(out, code, err, f"{out / 'result.json'}:1:{column}: not UTF-8 text (is it a binary file?)")




@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs are POSIX")
def test_a_fifo_is_refused_without_reading_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    out.mkdir()
    os.mkfifo(out / "result.json")
    with deadline(60):
        code, err = report(out, capsys)
    assert code == 2 and "Traceback" not in err
    assert err.splitlines()[0] == f"{out / 'result.json'}: is a named pipe (FIFO), not a file"


# --------------------------------------------------------------------------- the generic reader


@dataclass(frozen=True)
class Inner:
    at_s: float
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outer:
    count: int
    ratio: float | None
    pair: tuple[str, int]
    inner: Inner
    by_name: Mapping[str, Inner] = field(default_factory=dict)
    anything: Any = None
    flag: bool = False
    renamed: str = field(default="", metadata={"key": "other_name"})


GOOD = {"count": 3, "ratio": 1, "pair": ["a", 2], "inner": {"at_s": 4, "tags": ["x"]},
        "by_name": {"n": {"at_s": 0.5}}, "anything": {"deep": [1, {"x": None}]}, "other_name": "r", "extra": 1}


def test_build_reads_each_declared_type() -> None:
    built = build(Outer, GOOD, "", "doc.json")
    assert built == Outer(count=3, ratio=1.0, pair=("a", 2), inner=Inner(4.0, ("x",)), by_name={"n": Inner(0.5)},
                          anything={"deep": [1, {"x": None}]}, renamed="r")
    assert isinstance(built.ratio, float) and isinstance(built.inner.at_s, float)  # an int widened to a float


@pytest.mark.parametrize(("path", "value", "message"), [
    ("count", 3.0, "count: expected an integer, found the number 3"),
    ("count", False, "count: expected an integer, found false"),
    ("ratio", "1", "ratio: expected a number, found the string '1'"),
    ("ratio", float("nan"), "ratio: expected a finite number, found NaN"),
    ("pair", ["a"], "pair: expected a list of 2, found a list of 1"),
    ("pair", ["a", "b"], "pair[1]: expected an integer, found the string 'b'"),
    ("inner", None, "inner: expected an object, found null"),
    ("inner", {"tags": []}, "inner: missing 'at_s'"),
    ("by_name", {"n": {"at_s": -float("inf")}}, "by_name.n.at_s: expected a finite number, found -Infinity"),
    ("anything", {"deep": [1, {"x": float("inf")}]}, "anything.deep[1].x: expected a finite number, found Infinity"),
    ("flag", 1, "flag: expected true or false, found the integer 1"),
    ("other_name", ["r"], "other_name: expected a string, found a list of 1"),
])
def test_build_refuses_a_value_of_another_type(path: str, value: Any, message: str) -> None:
    raw = dict(GOOD, **{path: value})
    with pytest.raises(InputError) as caught:
        build(Outer, raw, "", "doc.json")
    assert str(caught.value).splitlines()[0] == f"doc.json: {message}"


def test_a_good_document_reads_as_before(full_doc: dict[str, Any]) -> None:
    report = read(copy.deepcopy(full_doc))
    assert report.playbook is not None and report.drill is not None
    assert report.duration_s == float(full_doc["duration_s"])
    assert len(report.series.scopes[scope_of(full_doc)].requests) == len(full_doc["series"]["t_s"])
    assert set(REPORT_FILES) == {"html", "markdown", "junit"}


def nested(depth: int) -> list[Any]:
    """``[[[...]]]``, ``depth`` lists deep, built without recursion."""
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


DEEP = 20_000  # far past the interpreter's recursion limit, which str() and json.dumps would hit


@pytest.mark.parametrize("place", [
    _set("audit.seeds", nested(DEEP)),
    _set("audit.packages", {"matplotlib": nested(DEEP)}),
    _set("audit.command", ["chaoslab", "simulate", nested(DEEP)]),
    _set("audit.inputs", {"a.yaml": {"sha256": nested(DEEP)}}),
    _set("audit.host", nested(DEEP)),
], ids=["audit-list", "audit-mapping", "audit-command", "audit-inputs", "audit-host"])  # a fault's params are typed
def test_free_form_values_nested_deeply_still_render(place: Callable[[dict[str, Any]], None],
                                                     full_doc: dict[str, Any], tmp_path: Path) -> None:
    # The reader walks free-form values without recursion; so does every report that shows them. The
    # JSON reader cannot hold this depth (it is refused as nested too deeply), so the document is made here.
    doc = copy.deepcopy(full_doc)
    place(doc)
    paths = write_reports(doc, tmp_path)
    page = paths["html"].read_text(encoding="utf-8")
    assert "[" * DEEP + "]" * DEEP in page  # shown in JSON's notation, all of it
    assert paths["junit"].is_file() and paths["markdown"].is_file()
    render(doc)  # the console's summary, which shows the faults' parameters

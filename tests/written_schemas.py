"""The documents chaoslab writes, checked against the JSON Schema ``chaoslab schema KIND`` prints and read
back by the one codec: shared by the tests of result.json, sweep.json, diff.json and compare.json."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import jsonschema

from chaos.cli import main
from chaos.codec import build, encode
from chaos.commands.files import output_documents


def schema(kind: str) -> dict[str, Any]:
    """What ``chaoslab schema KIND`` prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["schema", kind]) == 0
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def validator(kind: str) -> jsonschema.Draft202012Validator:
    checked = schema(kind)
    jsonschema.Draft202012Validator.check_schema(checked)
    assert checked["title"] == f"chaoslab {kind}"
    return jsonschema.Draft202012Validator(checked)


def schema_errors(kind: str, doc: Any) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(kind).iter_errors(doc)]


def written_again(kind: str, text: str) -> str:
    """``text`` (a document as written) read into its typed document by the codec and written again as
    chaoslab writes it: the same text when the types hold everything the file does."""
    typed = build(output_documents()[kind], json.loads(text), "", f"{kind}.json")
    return json.dumps(encode(typed), indent=1, allow_nan=False) + "\n"

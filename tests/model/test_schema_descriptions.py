"""The schemas' descriptions are sentences a person wrote: no dataclass repr, nothing cut off mid-sentence.

Editors show them on hover, so ``Step(name: 'str', role: 'str', ...)`` or a sentence that
stops at "and" is what a user would read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from chaos.cli import main
from chaos.model.parsing import Model
from chaos.model.schema import class_description

KINDS = ("topology", "experiment", "playbook")
REPR = re.compile(r"\b[A-Z]\w*\(\w*:?\s*'|\b\w+=\w|<\w+\.\w+: ")   # Step(name: 'str' / factor=3.0 / <Enum.X: 'x'>
DANGLING = re.compile(r"(,|;|:|\b(and|or|the|a|an|of|with|by|from|without))$")


def schema(kind: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["schema", kind]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def descriptions(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        if isinstance(node.get("description"), str):
            yield where or "(root)", node["description"]
        for key, value in node.items():
            yield from descriptions(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from descriptions(value, f"{where}/{i}")


def model_classes() -> list[type]:
    out, todo = [], list(Model.__subclasses__())
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo.extend(cls.__subclasses__())
    return [c for c in out if c.__module__.startswith("chaos.model.")]


@pytest.mark.parametrize("kind", KINDS)
def test_no_description_is_a_repr_or_cut_off(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    found = list(descriptions(schema(kind, capsys)))
    assert len(found) > 20
    for where, text in found:
        assert REPR.search(text) is None, f"{where}: {text}"
        assert DANGLING.search(text.strip()) is None, f"{where} stops mid-sentence: {text}"


@pytest.mark.parametrize("kind", KINDS)
def test_every_object_is_described_by_a_whole_sentence(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    doc = schema(kind, capsys)
    objects = {"(root)": doc, **{f"$defs/{k}": v for k, v in doc["$defs"].items()}}
    for where, node in objects.items():
        text = node.get("description")
        assert text, f"{where} has no description"
        assert text[0].isupper() and text.endswith("."), f"{where}: {text}"


def test_every_model_class_has_its_own_one_sentence_docstring() -> None:
    classes = model_classes()
    assert len(classes) > 40
    for cls in classes:
        text = class_description(cls)
        assert text is not None, f"{cls.__module__}.{cls.__name__} has no docstring"
        assert text.endswith("."), f"{cls.__name__}: {text}"

"""Class names say whose thing they are: issue 13 found five unrelated classes called ``Outcome`` (checks', an
incident's, a connection's, a rule's, a metric label set's), each read as the others in review and in imports.
Read with ``ast``, never by importing the package."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "chaos"
VAGUE = frozenset({"Outcome"})


def classes() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        found += [(str(path.relative_to(PACKAGE.parent)), node.lineno, node.name) for node in ast.walk(tree)
                  if isinstance(node, ast.ClassDef)]
    return found


def test_no_class_has_a_name_that_says_nothing_of_whose_it_is() -> None:
    found = classes()
    assert len(found) > 100  # the walk sees the package
    assert [f"{path}:{line}: class {name}" for path, line, name in found if name in VAGUE] == []

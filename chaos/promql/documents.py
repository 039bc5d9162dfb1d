"""Reading other tools' YAML formats by hand, with every value's file:line:col kept.

Rule files and SLO specs are not chaoslab's own format, so they are not described by
chaoslab's model classes; they are walked node by node here instead, with the same kind of
diagnostics (``rules.yaml:12:15: groups[0].rules[3].for: ...``) and the same refusal of
unknown keys that Prometheus's strict YAML decoding has.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from chaos.errors import InputError, Location
from chaos.model.inputs import RULE_FILE_LIMIT, read_input
from chaos.model.parsing import did_you_mean, display_path, join, one_of
from chaos.model.yamlnodes import compose_documents

NULL_TAG = "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class Source:
    """One file's name as shown to the user, and its lines (to place errors inside block scalars)."""

    file: str
    lines: tuple[str, ...]

    def loc(self, node: Node) -> Location:
        mark = node.start_mark
        return Location(self.file, mark.line + 1, mark.column + 1)

    def text_loc(self, node: Node) -> Location:
        """Where a scalar's text starts: for ``expr: |`` blocks, the first line of the block."""
        if isinstance(node, ScalarNode) and node.style in ("|", ">"):
            line = node.start_mark.line + 1
            while line < len(self.lines) and not self.lines[line].strip():
                line += 1
            if line < len(self.lines):
                text = self.lines[line]
                return Location(self.file, line + 1, len(text) - len(text.lstrip()) + 1)
        return self.loc(node)

    def fail(self, node: Node, path: str, message: str, hint: str | None = None) -> InputError:
        return InputError(message, self.loc(node), path, hint)


def read_documents(path: str | Path) -> tuple[Source, list[Node]]:
    """Every YAML document in a file, composed with marks; empty documents are left out.

    The file is checked for what it is before it is read and its size is bounded
    (:func:`chaos.model.inputs.read_input`); its YAML is composed with the bounds of
    chaoslab's own files (:mod:`chaos.model.yamlnodes`: depth, values, tags, aliases).
    """
    path = Path(path)
    shown = display_path(path)
    text = read_input(path, shown, RULE_FILE_LIMIT)
    nodes = [n for n in compose_documents(text, shown) if n is not None and not is_null(n)]
    if not nodes:
        raise InputError("the file is empty", Location(shown))
    return Source(shown, tuple(text.splitlines())), nodes


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == NULL_TAG


class Fields:
    """A mapping node's entries by key, checked against the keys a format allows."""

    def __init__(self, src: Source, node: Node, path: str, allowed: Iterable[str], required: Iterable[str] = (),
                 what: str = "a mapping") -> None:
        self.src, self.node, self.path = src, node, path
        if not isinstance(node, MappingNode):
            raise src.fail(node, path, f"expected {what}, got {describe(node)}")
        allowed = list(allowed)
        self.entries: dict[str, tuple[ScalarNode, Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise src.fail(key_node, path, "keys must be plain names")
            key = str(key_node.value)
            if key in self.entries:
                first = src.loc(self.entries[key][0])
                raise src.fail(key_node, join(path, key), f"duplicate key (first given at line {first.line})")
            if key not in allowed:
                raise src.fail(key_node, join(path, key), f"unknown key{did_you_mean(key, allowed)}",
                                hint=f"valid keys here: {one_of(allowed)}")
            self.entries[key] = (key_node, value_node)
        for key in required:
            if key not in self.entries or is_null(self.entries[key][1]):
                raise src.fail(node, path, f"missing required key '{key}'")

    def __contains__(self, key: str) -> bool:
        return key in self.entries and not is_null(self.entries[key][1])

    def get(self, key: str) -> Node | None:
        entry = self.entries.get(key)
        return None if entry is None or is_null(entry[1]) else entry[1]

    def at(self, key: str) -> tuple[Node, str]:
        """The value node of a present key, and its path."""
        node = self.get(key)
        assert node is not None, key
        return node, join(self.path, key)

    def string(self, key: str, default: str = "") -> str:
        node = self.get(key)
        return default if node is None else scalar_text(self.src, node, join(self.path, key))

    def key_loc(self, key: str) -> Location:
        return self.src.loc(self.entries[key][0]) if key in self.entries else self.src.loc(self.node)


def describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if is_null(node):
        return "nothing (null)"
    return f"'{node.value}'"


def scalar_text(src: Source, node: Node, path: str) -> str:
    """A scalar's text as written (``tier: 2`` gives ``"2"``, as Go decodes it into a string)."""
    if not isinstance(node, ScalarNode) or is_null(node):
        raise src.fail(node, path, f"expected a string, got {describe(node)}")
    return str(node.value)


def items(src: Source, node: Node, path: str) -> Iterator[tuple[Node, str]]:
    if not isinstance(node, SequenceNode):
        raise src.fail(node, path, f"expected a list, got {describe(node)}")
    for i, child in enumerate(node.value):
        yield child, join(path, i)


def string_map(src: Source, node: Node | None, path: str) -> tuple[tuple[str, str], ...]:
    """A mapping of names to strings, in file order (``labels:``, ``annotations:``)."""
    if node is None:
        return ()
    if not isinstance(node, MappingNode):
        raise src.fail(node, path, f"expected a mapping of names to values, got {describe(node)}")
    out: dict[str, str] = {}
    for key_node, value_node in node.value:
        key = scalar_text(src, key_node, path)
        if key in out:
            raise src.fail(key_node, join(path, key), "duplicate key")
        out[key] = "" if is_null(value_node) else scalar_text(src, value_node, join(path, key))
    return tuple(out.items())


def key_node(node: Node | None, key: str) -> Node | None:
    """The key node of ``key`` in a mapping node (to point an error at a label's name)."""
    if isinstance(node, MappingNode):
        for k, _ in node.value:
            if isinstance(k, ScalarNode) and k.value == key:
                return k
    return None


def number(src: Source, node: Node, path: str) -> float:
    text = scalar_text(src, node, path)
    try:
        value = float(text)
    except ValueError:
        raise src.fail(node, path, f"expected a number, got '{text}'") from None
    if value != value:
        raise src.fail(node, path, "expected a number, got NaN")
    return value


_PROM_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
_PROM_UNITS_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)


def prometheus_duration_ms(text: str) -> int | None:
    """Prometheus's duration syntax (``1h30m``, ``5m``, ``90s``, ``0``): units largest first, whole numbers."""
    if text == "0":
        return 0
    match = _PROM_DURATION.fullmatch(text)
    if not text or match is None:
        return None
    return sum(int(g) * unit for g, unit in zip(match.groups(), _PROM_UNITS_MS, strict=True) if g)


def duration(src: Source, node: Node, path: str) -> float:
    """A Prometheus duration in seconds, or an InputError saying how to write one."""
    text = scalar_text(src, node, path)
    ms = prometheus_duration_ms(text)
    if ms is None:
        raise src.fail(node, path, f"'{text}' is not a Prometheus duration",
                       hint="write whole numbers with units, largest first: 30s, 5m, 1h30m, 1d (y w d h m s ms)")
    return ms / 1000


def format_duration(seconds: float) -> str:
    """A duration the way Prometheus prints one (``1h30m``, ``5m``, ``30d``, ``2w``, ``0s``).

    Years and weeks are used only when they divide the duration exactly (``90d``, not ``12w6d``).
    """
    ms = int(round(seconds * 1000))
    if ms == 0:
        return "0s"
    parts = []
    for unit, size in zip(("y", "w", "d", "h", "m", "s", "ms"), _PROM_UNITS_MS, strict=True):
        if unit in ("y", "w") and ms % size:
            continue
        if ms >= size:
            count, ms = divmod(ms, size)
            parts.append(f"{count}{unit}")
    return "".join(parts)

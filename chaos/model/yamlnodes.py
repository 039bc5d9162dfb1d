"""YAML text to a node graph, with limits that no file can get around.

PyYAML's composer builds nodes by recursion, one level of Python stack per level of
nesting, so a list nested a few thousand deep ended in a RecursionError; and it hands
back the anchored node itself for every ``*alias``, so a few lines of aliases (the
"billion laughs") make a graph that a walk over it expands a billion times. This
module builds the same nodes from the parser's events (PyYAML's parser is a state
machine, not a recursion) in a loop, and refuses at the offending mark:

- nesting deeper than :data:`MAX_DEPTH` levels;
- more than :data:`MAX_NODES` values, where an alias counts the whole subtree it stands
  for once per use (so merge keys and repeated references are counted as expanded);
- tags other than the standard ones for plain data (``!!str``, ``!!int``, ``!!float``,
  ``!!bool``, ``!!null``, ``!!seq``, ``!!map``): a chaoslab file holds plain data, and a
  custom tag (``!cores 128``) or a Python one (``!!python/name:os.system``) is a
  mistake to point out, not something to construct;
- an alias to an anchor that is not defined yet or is still open (a node inside itself),
  and an anchor defined twice.

A node where an alias is used is a shallow copy of the anchored node carrying the
alias's own marks, so an error in a service written as ``cart: *defaults`` can name the
line of ``cart``, not the line of the anchor (see :func:`alias_origin`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.error import Mark
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from chaos.errors import InputError, Location

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

MAX_DEPTH = 64
"""Deepest nesting of lists and mappings, aliases expanded. The deepest bundled file nests 6."""

MAX_NODES = 100_000
"""Most values (scalars, lists, mappings) in one document, every alias counted as what it stands for."""

YAML_TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (YAML_TAG + t for t in ("str", "int", "float", "bool", "null"))
SEQ, MAP = YAML_TAG + "seq", YAML_TAG + "map"
SCALAR_TAGS = frozenset({STR, INT, FLOAT, BOOL, NULL})
"""Tags a scalar may be given explicitly (``!!str 2024-01-01`` keeps a date as text)."""


def short_tag(tag: str) -> str:
    """``tag:yaml.org,2002:python/name:os.system`` -> ``!!python/name:os.system``, as it was written."""
    return "!!" + tag[len(YAML_TAG):] if tag.startswith(YAML_TAG) else tag


class AliasedScalar(ScalarNode):
    origin: Node


class AliasedSequence(SequenceNode):
    origin: Node


class AliasedMapping(MappingNode):
    origin: Node


_ALIASED: dict[type, type] = {ScalarNode: AliasedScalar, SequenceNode: AliasedSequence, MappingNode: AliasedMapping}


def alias_origin(node: Node) -> Node | None:
    """The anchored node when ``node`` is where an alias is used, else None."""
    return node.origin if isinstance(node, (AliasedScalar, AliasedSequence, AliasedMapping)) else None


Marks = Any  # yaml.error.Mark, or the C parser's; only .line and .column are read
"""A position in the text as the parser reports it."""


def _alias_use(anchored: Node, start: Marks, end: Marks) -> Node:
    """The anchored node seen from where the alias is written: its value shared, the alias's marks."""
    copy: Any = object.__new__(_ALIASED[type(anchored)])  # anchors are never alias uses themselves
    copy.__dict__.update(anchored.__dict__)
    copy.start_mark, copy.end_mark = start, end
    copy.origin = anchored
    return copy  # type: ignore[no-any-return]


@dataclass
class _Open:
    """A list or mapping being built: its node, and what its subtree has cost so far."""

    node: SequenceNode | MappingNode
    anchor: str | None
    nodes_before: int
    height: int = 1
    key: Node | None = None  # a key read, its value not yet
    last_key: Node | None = None


@dataclass
class _Anchored:
    node: Node
    size: int
    height: int


@dataclass
class _Builder:
    where: str
    resolver: Resolver = field(default_factory=Resolver)
    stack: list[_Open] = field(default_factory=list)
    anchors: dict[str, _Anchored] = field(default_factory=dict)
    open_anchors: dict[str, Marks] = field(default_factory=dict)
    nodes: int = 0
    root: Node | None = None

    def fail(self, mark: Marks, message: str, hint: str | None = None, with_path: bool = True) -> InputError:
        loc = Location(self.where, mark.line + 1, mark.column + 1) if mark is not None else Location(self.where)
        return InputError(message, loc, self.path() if with_path else "", hint=hint)

    def path(self) -> str:
        """Where the value being read sits, as field paths are written (``services.api.calls[0]``)."""
        parts: list[str] = []
        for depth, open_ in enumerate(self.stack):
            innermost = depth == len(self.stack) - 1
            if isinstance(open_.node, SequenceNode):
                parts.append(f"[{len(open_.node.value) - (0 if innermost else 1)}]")
                continue
            key = open_.key if innermost else open_.last_key
            if not isinstance(key, ScalarNode):
                break  # a key being read: the path ends at its mapping
            text = _CONTROL.sub("?", str(key.value))  # a key may hold escapes: never echo them raw
            parts.append(("." if parts else "") + (text if len(text) <= 40 else text[:28] + "..."))
        if len(parts) > 8:
            parts = parts[:4] + ["..."] + parts[-3:]
        return "".join(parts)

    def count(self, size: int, height: int, mark: Marks) -> None:
        """Account for a value of ``size`` nodes and ``height`` levels placed at the current depth."""
        depth = len(self.stack) + height
        if depth > MAX_DEPTH:
            raise self.fail(mark, f"nested deeper than {MAX_DEPTH} levels",
                            hint="chaoslab files are a few levels deep; this looks generated or corrupt")
        self.nodes += size
        if self.nodes > MAX_NODES:
            raise self.fail(mark, f"more than {MAX_NODES:,} values in one file (an alias counts as every value "
                                  "it stands for, each time it is used)",
                            hint="split the file, or use fewer aliases of large anchors")
        if self.stack:
            self.stack[-1].height = max(self.stack[-1].height, height + 1)

    def resolve(self, kind: type[Node], value: str | None, implicit: Any) -> str:
        """The tag PyYAML's resolver gives an untagged node (its stubs leave the resolver untyped)."""
        tag: str = self.resolver.resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        return tag

    def check_tag(self, event: NodeEvent, allowed: frozenset[str], what: str) -> str | None:
        tag: str | None = getattr(event, "tag", None)
        if tag is None or tag == "!":
            return None
        if tag not in allowed:
            raise self.fail(event.start_mark, f"tag '{short_tag(tag)}' is not supported on {what}",
                            hint="chaoslab files hold plain values: strings, numbers, true/false, null, lists "
                                 "and mappings; remove the tag")
        return tag

    def check_anchor(self, event: NodeEvent) -> None:
        anchor = event.anchor
        if anchor is None:
            return
        first = self.anchors[anchor].node.start_mark if anchor in self.anchors else self.open_anchors.get(anchor)
        if first is not None:
            raise self.fail(event.start_mark, f"anchor &{anchor} is already defined at line {first.line + 1}",
                            hint="give each anchor its own name")

    def place(self, node: Node, mark: Marks) -> None:
        if not self.stack:
            self.root = node
            return
        top = self.stack[-1]
        if isinstance(top.node, SequenceNode):
            top.node.value.append(node)
        elif top.key is None:
            top.key = top.last_key = node
        else:
            top.node.value.append((top.key, node))
            top.key = None

    def scalar(self, event: ScalarEvent) -> None:
        self.check_anchor(event)
        tag = self.check_tag(event, SCALAR_TAGS, "a value") or self.resolve(
            ScalarNode, event.value, event.implicit)
        start: Marks = event.start_mark
        end: Marks = event.end_mark
        node = ScalarNode(tag, event.value, start, end, style=event.style)
        self.count(1, 1, event.start_mark)
        if event.anchor is not None:
            self.anchors[event.anchor] = _Anchored(node, 1, 1)
        self.place(node, event.start_mark)

    def start(self, event: CollectionStartEvent) -> None:
        self.check_anchor(event)
        start: Marks = event.start_mark
        if isinstance(event, SequenceStartEvent):
            tag = self.check_tag(event, frozenset({SEQ}), "a list") or self.resolve(
                SequenceNode, None, event.implicit)
            node: SequenceNode | MappingNode = SequenceNode(tag, [], start, None,
                                                            flow_style=event.flow_style)
        else:
            tag = self.check_tag(event, frozenset({MAP}), "a mapping") or self.resolve(
                MappingNode, None, event.implicit)
            node = MappingNode(tag, [], start, None, flow_style=event.flow_style)
        self.count(1, 1, event.start_mark)
        self.place(node, event.start_mark)
        self.stack.append(_Open(node, event.anchor, self.nodes - 1))
        if event.anchor is not None:
            self.open_anchors[event.anchor] = event.start_mark

    def end(self, event: Event) -> None:
        top = self.stack.pop()
        top.node.end_mark = event.end_mark
        if self.stack:
            self.stack[-1].height = max(self.stack[-1].height, top.height + 1)
        if top.anchor is not None:
            del self.open_anchors[top.anchor]
            self.anchors[top.anchor] = _Anchored(top.node, self.nodes - top.nodes_before, top.height)

    def alias(self, event: AliasEvent) -> None:
        name = str(event.anchor)
        if name in self.open_anchors:
            raise self.fail(event.start_mark, f"alias *{name} is used inside its own anchor "
                                              f"(line {self.open_anchors[name].line + 1}): a value cannot contain "
                                              "itself")
        anchored = self.anchors.get(name)
        if anchored is None:
            raise self.fail(event.start_mark, f"alias *{name} names no anchor defined before it",
                            hint=f"define it first with &{name}")
        self.count(anchored.size, anchored.height, event.start_mark)
        self.place(_alias_use(anchored.node, event.start_mark, event.end_mark), event.start_mark)


def compose_text(text: str, where: str) -> Node | None:
    """The node graph of a one-document YAML text (None when it holds no document).

    Every problem is an InputError at ``where``:line:col, syntax errors included.
    """
    roots = _compose(text, where, many=False)
    return roots[0] if roots else None


def compose_documents(text: str, where: str) -> list[Node | None]:
    """The node graph of every document of a YAML text (``---`` between them), for other tools' formats.

    The bounds are those of :func:`compose_text`, :data:`MAX_NODES` counted over the whole
    text; anchors belong to their document, as in YAML. An empty document is None.
    """
    return _compose(text, where, many=True)


def _compose(text: str, where: str, many: bool) -> list[Node | None]:
    builder = _Builder(where)
    roots: list[Node | None] = []
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, ScalarEvent):
                builder.scalar(event)
            elif isinstance(event, (SequenceStartEvent, MappingStartEvent)):
                builder.start(event)
            elif isinstance(event, (SequenceEndEvent, MappingEndEvent)):
                builder.end(event)
            elif isinstance(event, AliasEvent):
                builder.alias(event)
            elif isinstance(event, DocumentStartEvent):
                if roots and not many:
                    raise builder.fail(event.start_mark, "a second document ('---') in the file",
                                       hint="a chaoslab file holds one document; split it into files")
            elif isinstance(event, DocumentEndEvent):
                roots.append(builder.root)
                builder.root = None
                builder.anchors.clear()  # an anchor is known in its own document only
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        # no field path: the parser often notices a mistake a token or a line after it
        raise builder.fail(mark, f"YAML syntax error: {problem}", with_path=False) from None
    except yaml.reader.ReaderError as exc:
        raise builder.fail(_mark_at(text, exc.position), f"YAML syntax error: {_reader_problem(exc)}",
                           with_path=False) from None
    except yaml.YAMLError as exc:
        raise InputError(f"YAML error: {exc}", Location(where)) from None
    return roots


def _mark_at(text: str, position: int) -> Mark:
    line = text.count("\n", 0, position)
    column = position - (text.rfind("\n", 0, position) + 1)
    return Mark("<text>", position, line, column, "", 0)


def _reader_problem(exc: yaml.reader.ReaderError) -> str:
    char = exc.character
    code = char if isinstance(char, int) else ord(char)
    return f"the character U+{code:04X} is not allowed in YAML (a control character or a binary file?)"

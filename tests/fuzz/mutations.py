"""Hostile inputs for the fuzz test, in one place: the bundled files, shrunk, and every way to break them.

A :class:`Mutation` is a set of files (the bundled topology, experiments and playbooks, shrunk so
that a run takes a fraction of a second, then changed) and the command line to run on them. Each
mutation class of issue 12 is one strategy in :data:`CLASSES`; to fuzz another class, write a
strategy returning Mutations and add it there.

    scalars      a value replaced by a scalar or tag YAML constructs in odd ways (2024-13-45, !cores 128)
    nesting      a value replaced by lists or mappings nested hundreds to thousands deep
    non_finite   a number replaced by .nan, .inf or -.inf
    huge         a number replaced by 1e9, 1e308, thousands of digits
    names        a service renamed everywhere to a name the fault and override syntax cannot address
    special      a file replaced by a FIFO, /dev/zero, a directory, a symlink loop or a huge file
    arguments    numeric options, --set and --each-service given values of the wrong type or out of bounds
    argument_values  the same options given what scalars, non_finite and huge put in files
    results      result.json damaged: a value of another type, NaN, truncated, not UTF-8, empty
"""

from __future__ import annotations

import copy
import enum
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

REPO = Path(__file__).resolve().parents[2]
OUT = "out"  # every command writes here (or nowhere): on bad input it must not exist afterwards

# Each bundled playbook and the experiment it is drilled against.
PAIRS = {"playbooks/db-slow.yaml": "experiments/db-slow-retry-cascade.yaml",
         "playbooks/gameday-db-latency.yaml": "experiments/gameday-db-latency.yaml",
         "playbooks/replica-crash.yaml": "experiments/replica-crash.yaml",
         "playbooks/retry-storm.yaml": "experiments/retry-storm.yaml",
         "playbooks/retry-storm-mitigated.yaml": "experiments/retry-storm-mitigated.yaml"}
TOPOLOGY = "topologies/shop.yaml"


class Kind(enum.Enum):
    """Where a mutation breaks things, which decides what the diagnostic must name."""

    NODE = "node"          # one value in a file: file:line:col
    FILE = "file"          # a whole file: its name
    ARGUMENT = "argument"  # the command line: the option
    RESULT = "result"      # result.json: its name


class Special(enum.Enum):
    """A file that is not a regular file of reasonable size."""

    FIFO = "fifo"
    DEV_ZERO = "/dev/zero"
    DIRECTORY = "directory"
    SYMLINK_LOOP = "symlink loop"
    MISSING = "missing"
    HUGE = "huge"


@dataclass(frozen=True)
class Mutation:
    """Files to lay out in an empty directory (text, bytes or a Special), and the command to run there."""

    name: str
    kind: Kind
    files: dict[str, str | bytes | Special]
    argv: tuple[str, ...]
    mutated: str = ""                 # the file changed (for FILE, NODE and RESULT mutations)
    result_from: str = ""             # RESULT: make result.json by simulating this experiment first
    result_damage: Callable[[str], str | bytes] | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        shown = self.files.get(self.mutated)
        if isinstance(shown, str) and len(shown) > 400:
            shown = "..." + shown[-400:]
        return f"Mutation({self.name!r}, argv={' '.join(self.argv)!r}, {self.mutated}={shown!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # what Hypothesis prints for a failing example
        printer.text(repr(self))


# --------------------------------------------------------------------------- the bundled files, shrunk


def _shrink_experiment(doc: dict[str, Any]) -> dict[str, Any]:
    """Forty simulated seconds at ten requests per second, the faults early: valid mutations finish fast."""
    doc = copy.deepcopy(doc)
    doc.update(duration="40s", warmup="4s", replications=1, load={"profile": "constant", "rate": 10})
    for fault in doc.get("faults", []):
        fault["at"] = "10s"
        if "duration" in fault:
            fault["duration"] = "15s"
    return doc


def bundle() -> dict[str, Any]:
    """The bundled topology, experiments and playbooks as data, experiments shrunk."""
    data: dict[str, Any] = {TOPOLOGY: yaml.safe_load((REPO / TOPOLOGY).read_text(encoding="utf-8"))}
    for playbook, experiment in PAIRS.items():
        data[experiment] = _shrink_experiment(yaml.safe_load((REPO / experiment).read_text(encoding="utf-8")))
        data[playbook] = yaml.safe_load((REPO / playbook).read_text(encoding="utf-8"))
    return data


BUNDLE = bundle()


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


def texts(data: dict[str, Any] | None = None) -> dict[str, str | bytes | Special]:
    return {path: dump(value) for path, value in (data or BUNDLE).items()}


def commands(path: str) -> st.SearchStrategy[tuple[str, ...]]:
    """The commands that read ``path``: simulating is slowest, so it is one choice of several."""
    out = ("--out", OUT)
    quick = ("--no-progress", "--no-report", "--quiet")
    if path.startswith("playbooks/"):
        exp = PAIRS[path]
        return st.sampled_from([("simulate", exp, "--playbook", path, *out, *quick),
                                ("validate", exp, "--playbook", path),
                                ("drill", exp, "--playbook", path, "--runs", "2", "--workers", "1", *out, *quick)])
    if path.startswith("experiments/"):
        return st.sampled_from([("simulate", path, *out, *quick), ("validate", path), ("lint", path)])
    return st.sampled_from([("simulate", "experiments/db-slow-retry-cascade.yaml", *out, *quick),
                            ("validate", path), ("lint", path)])


FILES = sorted(BUNDLE)

# --------------------------------------------------------------------------- values


SCALARS = ["2024-13-45", "2024-02-30", "!cores 128", "!!python/name:os.system", "!!python/object/apply:os.system [x]",
           "!!float sixty", "!!int 1.5", "!!binary '@@@'", "!!timestamp nope", "!!set {a}", "!!omap [a]",
           "{<<: 5}", "{<<: [1, 2], a: 1}", "*undefined", "&a [*a]", "~", "''", "yes", "0x1F", "0o17", "1_000",
           "+.5", "12:30:45", "1:2", "!custom {a: 1}", "\"\\x1b[31mred\"", "\"\\u0000\""]
NON_FINITE = [".nan", ".NaN", ".inf", "-.inf", "+.inf", ".Inf"]
DURATIONS = ["1e9", "1e9s", "10000000h", "1e308s", "-5s", "5 sec", "1e999"]


def nested(depth: int, mapping: bool) -> str:
    return ("{a: " * depth + "1" + "}" * depth) if mapping else ("[" * depth + "]" * depth)


def huge_numbers() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(["1e9", "1e12", "1e308", "-1e308", "1e999", "-1e9", "9223372036854775808",
                                      "1e9s"]),
                     st.integers(min_value=20, max_value=6000).map(lambda n: "9" * n))


def _nodes(text: str) -> list[Node]:
    """Every value node of a YAML text, in order (mapping keys left out: they are names, not values)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    out: list[Node] = []
    todo: list[Node] = [root] if root is not None else []
    while todo:
        node = todo.pop(0)
        if isinstance(node, MappingNode):
            todo += [v for _, v in node.value]
        elif isinstance(node, SequenceNode):
            todo += node.value
        if node is not root:
            out.append(node)
    return out


@st.composite
def node_mutation(draw: st.DrawFn, name: str, values: st.SearchStrategy[str],
                  numeric_only: bool = False) -> Mutation:
    """One value of one bundled file replaced by a drawn text (at the value's exact span)."""
    path = draw(st.sampled_from(FILES))
    files = texts()
    text = files[path]
    assert isinstance(text, str)
    nodes = _nodes(text)
    if numeric_only:
        nodes = [n for n in nodes if isinstance(n, ScalarNode) and re.fullmatch(r"[-+]?[0-9][0-9.e+_]*(ms|s|m|h)?",
                                                                                 n.value)] or nodes
    node = draw(st.sampled_from(nodes))
    value = draw(values)
    start, end = node.start_mark.index, node.end_mark.index
    if isinstance(node, (MappingNode, SequenceNode)) and node.flow_style is not True:
        # A block collection ends where the next key starts: keep the newline and the indentation.
        end = start + len(text[start:end].rstrip())
        value = f"[{value}]" if value.startswith(("- ", "? ")) else value
    files[path] = text[:start] + value + text[end:]
    return Mutation(name, Kind.NODE, files, draw(commands(path)), mutated=path)


# --------------------------------------------------------------------------- classes


def scalars() -> st.SearchStrategy[Mutation]:
    return node_mutation("scalars", st.sampled_from(SCALARS))


def nesting() -> st.SearchStrategy[Mutation]:
    depths = st.sampled_from([50, 300, 1200, 5000])
    return node_mutation("nesting", st.builds(nested, depths, st.booleans()))


def non_finite() -> st.SearchStrategy[Mutation]:
    return node_mutation("non_finite", st.sampled_from(NON_FINITE), numeric_only=True)


def huge() -> st.SearchStrategy[Mutation]:
    return node_mutation("huge", st.one_of(huge_numbers(), st.sampled_from(DURATIONS)), numeric_only=True)


BAD_NAMES = ["", "*", "a->b", "e.mail", "a b", "-x", "x" * 300, "\x1b[31mred", "../up", "/abs", "a:b", "#x", "null",
             "1", "true", "ü", "a\nb", "db->", "services"]


def _renamed(value: Any, old: str, new: str) -> Any:
    """``value`` with the service ``old`` called ``new`` wherever a name, an edge or a path names it."""
    if isinstance(value, dict):
        return {_renamed(k, old, new): _renamed(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    if isinstance(value, str):
        if value == old:
            return new
        parts = value.split("->")
        if len(parts) == 2 and old in parts:
            return "->".join(new if p == old else p for p in parts)
        if value.startswith(f"services.{old}."):
            return f"services.{new}." + value[len(f"services.{old}."):]
    return value


@st.composite
def names(draw: st.DrawFn) -> Mutation:
    service = draw(st.sampled_from(sorted(BUNDLE[TOPOLOGY]["services"])))
    new = draw(st.sampled_from(BAD_NAMES))
    data = {path: _renamed(doc, service, new) for path, doc in BUNDLE.items()}
    path = draw(st.sampled_from([TOPOLOGY, *PAIRS]))
    return Mutation("names", Kind.NODE, texts(data), draw(commands(path)), mutated=TOPOLOGY)


@st.composite
def special(draw: st.DrawFn) -> Mutation:
    kind = draw(st.sampled_from(list(Special)))
    path = draw(st.sampled_from([TOPOLOGY, *PAIRS, *PAIRS.values()]))
    files = texts()
    files[path] = kind
    argv = draw(commands(path))
    return Mutation("special", Kind.FILE, files, argv, mutated=path)


# Options that would start something long (a live stack, a server) are left out: a valid value would run it.
COUNT_OPTIONS = [("simulate", "--seed"), ("simulate", "--replications"), ("drill", "--runs"), ("drill", "--workers"),
                 ("drill", "--seed"), ("sweep", "--seeds"), ("sweep", "--workers"), ("lint", "--max-amplification"),
                 ("run", "--seed"), ("run", "--load-workers")]
SET_PATHS = ["load.rate", "duration", "warmup", "services.db.replicas", "services.catalog.workers",
             "services.catalog.calls.db.timeout", "services.catalog.calls.db.retries.max", "faults.0.at",
             "faults.0.factor", "entrypoints.browse.share", "load", "no.such.path", "services..replicas", "seed"]
# Values the command line reads wrong by itself: types, YAML it cannot compose, bounds the model states.
MISTAKES = st.one_of(st.sampled_from(["", "-1", "0", "1.5", "abc", "true", "[1", "{a", "*x", "&a", "[1, 2]",
                                      "{a: 1}", "- x", nested(300, False), "5 sec", "-5s", "0x10"]),
                     st.integers(min_value=-5, max_value=5).map(str))
# Values only the model's converter can refuse (tags, odd scalars, NaN, infinity, sizes): see NEEDS_PARSE.
HOSTILE = st.one_of(st.sampled_from(SCALARS + NON_FINITE + DURATIONS), huge_numbers())


def _argument_line(command: str, option: str, value: str) -> tuple[str, ...]:
    exp = "experiments/db-slow-retry-cascade.yaml"
    quick = ("--no-progress", "--no-report", "--quiet")
    base = {"simulate": ("simulate", exp, "--out", OUT, *quick),
            "drill": ("drill", exp, "--playbook", "playbooks/db-slow.yaml", "--runs", "2", "--workers", "1", "--out",
                      OUT, *quick),
            "sweep": ("sweep", exp, "--executor", "inline", "--seeds", "1", "--out", OUT, "--no-progress"),
            "lint": ("lint", TOPOLOGY),
            "run": ("run", "experiments/gameday-db-latency.yaml", "--dry-run", "--out", OUT)}[command]
    return (*base, f"{option}={value}")


@st.composite
def _arguments(draw: st.DrawFn, name: str, values: st.SearchStrategy[str]) -> Mutation:
    how = draw(st.sampled_from(["count", "set", "each"]))
    if how == "count":
        command, option = draw(st.sampled_from(COUNT_OPTIONS))
        argv = _argument_line(command, option, draw(values))
    elif how == "set":
        argv = _argument_line("sweep", "--set", f"{draw(st.sampled_from(SET_PATHS))}={draw(values)}")
    else:
        kind = draw(st.sampled_from(["crash", "latency", "errors", "slowdown", "hang", "bogus"]))
        argv = _argument_line("sweep", "--each-service", f"{kind}={draw(values)}")
    return Mutation(name, Kind.ARGUMENT, texts(), argv)


def arguments() -> st.SearchStrategy[Mutation]:
    return _arguments("arguments", MISTAKES)


def argument_values() -> st.SearchStrategy[Mutation]:
    return _arguments("argument_values", HOSTILE)


# --------------------------------------------------------------------------- result.json


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10 ** 20), max_value=10 ** 20),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4),
                        st.just([]), st.just({}), st.just([1, "a"]), st.just({"a": None}))


def _paths(value: Any, where: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every JSON path in a document except inside the long per-second series (sampled instead)."""
    out = [where] if where else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*where, k)) if k != "scopes" else [(*where, k)]
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            out += _paths(v, (*where, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    doc = copy.deepcopy(doc)
    target = doc
    for part in path[:-1]:
        target = target[part]
    if delete and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


@st.composite
def results(draw: st.DrawFn) -> Mutation:
    """result.json of a real (shrunk) run, damaged after it is written: see :func:`damage`."""
    how = draw(st.sampled_from(["value", "value", "value", "delete", "truncate", "bytes", "empty", "series"]))
    path_index = draw(st.integers(min_value=0, max_value=10_000))
    value = draw(JSON_VALUES)
    cut = draw(st.floats(min_value=0.0, max_value=1.0))

    def damage(text: str) -> str | bytes:
        doc = json.loads(text)
        paths = _paths(doc)
        path = paths[path_index % len(paths)]
        if how in ("value", "delete"):
            return json.dumps(_replace(doc, path, value, how == "delete"))
        if how == "series":
            scope = next(iter(doc["series"]["scopes"]))
            return json.dumps(_replace(doc, ("series", "scopes", scope, "requests", path_index % 10), value, False))
        if how == "truncate":
            return text[: int(len(text) * cut)]
        if how == "bytes":
            at = int(len(text) * cut)
            return text[:at].encode() + b"\xff\xfe" + text[at:].encode()
        return ""

    return Mutation("results", Kind.RESULT, texts(), ("report", "run", "--quiet"), mutated="run/result.json",
                    result_from="experiments/db-slow-retry-cascade.yaml", result_damage=damage)


CLASSES: dict[str, Callable[[], st.SearchStrategy[Mutation]]] = {
    "scalars": scalars, "nesting": nesting, "non_finite": non_finite, "huge": huge, "names": names,
    "special": special, "arguments": arguments, "argument_values": argument_values, "results": results,
}

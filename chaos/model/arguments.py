"""Values given on the command line, read by the same rules as the files.

``--seed`` is the experiment's seed, so the experiment's ``seed`` field reads it: the
converter that reads YAML, with the field's own type and bounds. One definition serves
both, and ``--seed -1`` is refused exactly where ``seed: -1`` is. A quantity no file
holds (worker processes, a port) has its type and bounds here, stated in its help.

Each value is composed as a YAML scalar, as it would be in a file, so ``2m`` is a
duration where a duration is wanted and whatever a file refuses (a negative count, a
number out of bounds, an unknown enum value) is refused on the command line too. A bad
value is an :class:`InputError` naming the option, with no line or column:
``--seed: -1 is out of range: must be at least 0``.

Importing this module imports the parser but no model class (a field's class is imported
when a value is read): the CLI declares its options with it, and ``chaoslab --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from chaos.errors import InputError
from chaos.model.parsing import Context, Seconds, convert, model_fields
from chaos.model.yamlnodes import FLOAT, INT, compose_text

WORKERS_PER_CORE = 4  # more processes than this only cost memory: a simulation is CPU-bound


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Quantity:
    """What one option's value is: a model field (``module:Class.key``), or a type and bounds of its own.

    ``per_core`` bounds a count of processes by this machine's cores (a fixed number would
    either refuse a big machine or let a small one run out of memory).
    """

    field: str = ""
    type: Any = None  # for a quantity of its own: int, float or Seconds
    bounds: tuple[tuple[str, float], ...] = ()
    per_core: int = 0
    reader: Callable[[str, str], Any] | None = None  # a value no model type holds: reads (text, option)

    def resolve(self) -> tuple[Any, Mapping[str, Any]]:
        """The type and the bounds (``ge``, ``gt``, ``le``, ``lt``) that the model's converter applies."""
        if self.field:
            module, _, rest = self.field.partition(":")
            class_name, _, key = rest.partition(".")
            cls = getattr(importlib.import_module(module), class_name)
            info = {f.key: f for f in model_fields(cls)}[key]
            return info.type, info.meta
        meta: dict[str, Any] = dict(self.bounds)
        if self.per_core:
            meta["le"] = self.per_core * cores()
        return self.type, meta

    def parse(self, text: str, option: str) -> Any:
        if self.reader is not None:
            return self.reader(text, option)
        tp, meta = self.resolve()
        return convert(compose_value(text, option), tp, Context(option, Path.cwd()), "", meta)


def of_field(reference: str) -> Quantity:
    """The quantity a model field holds: ``of_field("chaos.model.experiment:Experiment.seed")``."""
    return Quantity(field=reference)


def own(tp: Any, *, per_core: int = 0, **bounds: float) -> Quantity:
    """A quantity of the command line alone: ``own(int, ge=1)``, ``own(Seconds, gt=0, le=3600)``."""
    return Quantity(type=tp, bounds=tuple(sorted(bounds.items())), per_core=per_core)


# The experiment's own fields, read by its own rules.
SEED = of_field("chaos.model.experiment:Experiment.seed")
# Replications, a drill's runs and a sweep's seeds per variant are all independent runs of one
# experiment: one bound for the three.
RUNS = of_field("chaos.model.experiment:Experiment.replications")
# Quantities of the command line alone.
WORKERS = own(int, ge=1, per_core=WORKERS_PER_CORE)
LOAD_WORKERS = own(int, ge=0, per_core=WORKERS_PER_CORE)
PORT = own(int, ge=0, le=65535)
READY_TIMEOUT = own(Seconds, gt=0, le=3600)
# A generated stack's Prometheus: whole seconds (a game day reads per-second series at that step), at most a minute
SCRAPE_INTERVAL = own(Seconds, ge=1, le=60)
AMPLIFICATION = own(float, ge=1)
RATIO_TOLERANCE = own(float, ge=0)
SECONDS_TOLERANCE = own(Seconds, ge=0)
TRACE_WINDOW = own(Seconds, gt=0, le=3600)  # a trace longer than an hour is not one request
OPEN_TRACES = own(int, ge=1, le=10_000_000)  # each open trace holds its spans in memory
LAST_WALL_CLOCK = 253_402_300_799.0  # 9999-12-31T23:59:59Z: the last second RFC 3339 can write
EPOCH_SECONDS = own(float, ge=0, le=LAST_WALL_CLOCK)


def wall_clock(text: str, option: str) -> float:
    """A moment as seconds since 1970: RFC 3339 with a zone (``2026-12-01T10:00:00Z``, ``...+01:00``), or a
    number of seconds read as a file's number is (finite, between 1970 and the year 9999)."""
    node = compose_value(text, option)
    if isinstance(node, ScalarNode) and (node.tag in (INT, FLOAT) or _is_number(text)):  # 1e9 too, as in files
        seconds: float = EPOCH_SECONDS.parse(text, option)
        return seconds
    shown = text if len(text) <= 40 else text[:37] + "..."
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"'{shown}' is not a time", path=option,
                         hint="write 2026-12-01T10:00:00Z (RFC 3339) or seconds since 1970") from None
    if moment.tzinfo is None:
        raise InputError(f"'{shown}' has no time zone", path=option,
                         hint="add Z for UTC or an offset, e.g. 2026-12-01T10:00:00+01:00")
    seconds = moment.timestamp()
    if not 0 <= seconds <= LAST_WALL_CLOCK:
        raise InputError(f"'{shown}' is before 1970", path=option)
    return seconds


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


WALL_CLOCK = Quantity(reader=wall_clock)


class OptionValue:
    """An argparse ``type`` that reads one option's text as its quantity (errors propagate as InputError)."""

    def __init__(self, quantity: Quantity, option: str) -> None:
        self.quantity = quantity
        self.option = option
        self.__name__ = option  # argparse names a type in its own messages

    def __call__(self, text: str) -> Any:
        return self.quantity.parse(text, self.option)


def whole_seconds(value: float | None, option: str) -> int | None:
    """``value`` (seconds, or None) as whole seconds; a fraction is an InputError naming ``option``."""
    if value is None:
        return None
    if value != int(value):
        raise InputError(f"{value:g}s is not a whole number of seconds", path=option,
                         hint="Prometheus is read at this step, and a game day measures whole seconds: 1s, 2s, 5s")
    return int(value)


def add_option(parser: argparse.ArgumentParser, *flags: str, quantity: Quantity, **kwargs: Any) -> argparse.Action:
    """``parser.add_argument`` for an option whose value is ``quantity``, checked as the files are."""
    return parser.add_argument(*flags, type=OptionValue(quantity, flags[0]), **kwargs)


# --------------------------------------------------------------------------- YAML values

# Nodes made from the command line have no place in a file: line 0 makes their Location print
# as the option's name alone ("--seed: ..."), never a made-up line and column.
NOWHERE = Mark("", 0, -1, -1, None, None)  # type: ignore[arg-type]  # no buffer: nothing to quote


def compose_value(text: str, option: str) -> Node:
    """The YAML node of one command-line value (marked NOWHERE); what YAML cannot read is an InputError."""
    shown = text if len(text) <= 40 else text[:37] + "..."
    try:
        # the files' own composer: depth, size, tags and aliases bounded the same way
        node = compose_text(text.strip() or "''", option)
    except InputError as exc:
        raise InputError(f"'{shown}' is not a value chaoslab can read: {exc.detail}", path=option,
                         hint=exc.hint) from None
    if node is None:
        raise InputError(f"'{shown}' holds no value", path=option)
    for each in _nodes(node):
        each.start_mark = each.end_mark = NOWHERE
    return node


def _nodes(node: Node) -> Iterator[Node]:
    """Every node of a tree once (an alias makes a node appear twice), without recursion."""
    seen: set[int] = set()
    todo = [node]
    while todo:
        each = todo.pop()
        if id(each) in seen:
            continue
        seen.add(id(each))
        yield each
        if isinstance(each, MappingNode):
            todo += [n for pair in each.value for n in pair]
        elif isinstance(each, SequenceNode):
            todo += each.value

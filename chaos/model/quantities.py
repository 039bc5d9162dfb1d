"""Quantities with units: the markers that give a model field its unit, and the one formatter per unit.

A field's type says what it measures: ``Seconds`` (a duration), ``Ratio`` (a share of
requests, 0 to 1), ``Factor`` (a multiplier), ``Rate`` (requests per second); a plain
``int`` counts the thing its key names (``replicas``). :func:`describe_fields` renders a
model's values, or the same values read back from ``result.json``, as words with a unit
after every number, nested models included, so no report ever shows a Python repr or a
bare ``0.1`` that means 100 ms.

The formatters are the only place numbers become text for people: the summary, the
Markdown and the HTML reports all call them, so one figure reads the same everywhere.
"""

from __future__ import annotations

import enum
import json
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from chaos.model.parsing import DURATION, Unit, is_model, model_fields, optional_inner, split_annotated

RATIO = Unit("ratio")
FACTOR = Unit("factor")
RATE = Unit("rate")

Ratio = Annotated[float, RATIO]
"""A share, 0 to 1: shown as a percentage."""
Factor = Annotated[float, FACTOR]
"""A multiplier: shown as ``10×``."""
Rate = Annotated[float, RATE]
"""Requests per second."""


# --------------------------------------------------------------------------- one formatter per unit


def seconds(x: float | None) -> str:
    """A moment or a duration in whole or tenth seconds: ``20 s``, ``141.3 s``; ``-`` for none."""
    if x is None:
        return "-"
    return f"{x:.0f} s" if abs(x - round(x)) < 1e-9 else f"{x:.1f} s"


def millis(x: float | None) -> str:
    """A latency given in milliseconds: ``2,302 ms``, ``4.7 ms``."""
    if x is None:
        return "-"
    return f"{x:,.0f} ms" if x >= 10 else f"{x:.1f} ms"


def percent(x: float | None) -> str:
    """A ratio (0-1) as a percentage with one decimal: ``60.2%``."""
    return "-" if x is None else f"{x * 100:.1f}%"


def duration(x: float | None) -> str:
    """A duration written as a person would: ``500 ms`` below a second, ``2 s``, ``1.5 s``, ``90 s``."""
    if x is None:
        return "-"
    if 0 < abs(x) < 1:
        ms = x * 1000
        return f"{ms:g} ms" if ms >= 1 else f"{ms:.3g} ms"
    return f"{x:g} s"


def share(x: float | None) -> str:
    """A ratio as an exact percentage, for settings: ``5%``, ``0.1%``, ``2.5%``."""
    return "-" if x is None else f"{x * 100:.4g}%"


def factor(x: float | None) -> str:
    return "-" if x is None else f"{x:g}×"


def rate(x: float | None, what: str = "requests") -> str:
    if x is None:
        return "-"
    return f"{x:,.0f} {what}/s" if x >= 100 else f"{x:.3g} {what}/s"


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``0 objectives``, ``1 objective``, ``2 objectives``: a count with its noun in the number the count takes.

    ``nouns`` is the plural where it is not ``noun`` + s (``process``, ``processes``). Every count a
    report prints before a noun goes through here, so none reads "all 1 objectives".
    """
    return f"{n:,} {noun if n == 1 else nouns or noun + 's'}"


def count(n: float | None, noun: str) -> str:
    """``1 replica``, ``3 replicas``, ``2.5 requests``: ``noun`` is the plural."""
    if n is None:
        return "-"
    if float(n).is_integer():
        return plural(int(n), noun[:-1] if noun.endswith("s") else noun, noun)
    return f"{n:,.1f} {noun}"


def words(key: str) -> str:
    return key.replace("_", " ").strip()


@dataclass(frozen=True)
class _Written:
    text: str


def json_text(value: Any) -> str:
    """A free-form value (the audit, a fault's parameters, as a result.json holds them) as text.

    A scalar reads as itself; a list or a mapping in JSON's notation, never as a Python repr. It is
    walked without recursion, as the reader (chaos.codec) walks it: a damaged document may
    nest a list thousands of levels deep, and ``str()`` or ``json.dumps`` would raise RecursionError.
    """
    if not isinstance(value, list | tuple | Mapping):
        return str(value)
    out: list[str] = []
    todo: list[Any] = [value]  # values still to write, and text already decided (_Written)
    while todo:
        item = todo.pop()
        if isinstance(item, _Written):
            out.append(item.text)
        elif isinstance(item, Mapping):
            pieces: list[Any] = []
            for key, v in item.items():
                pieces += [_Written(", " if pieces else "{"), _Written(json.dumps(str(key), ensure_ascii=False) + ": "),
                           v]
            todo += reversed([*pieces, _Written("}")]) if pieces else [_Written("{}")]
        elif isinstance(item, list | tuple):
            pieces = []
            for v in item:
                pieces += [_Written(", " if pieces else "["), v]
            todo += reversed([*pieces, _Written("]")]) if pieces else [_Written("[]")]
        elif item is None or isinstance(item, str | int | float):
            out.append(json.dumps(item, ensure_ascii=False))
        else:
            out.append(json.dumps(str(item), ensure_ascii=False))
    return "".join(out)


# --------------------------------------------------------------------------- fields of a model


def unit_of(tp: Any) -> Unit | type | None:
    """The unit marker of a field type (DURATION, RATIO, FACTOR, RATE), or its plain type (int, float, a model)."""
    base, markers = split_annotated(tp)
    inner = optional_inner(base)
    if inner is not None:
        return unit_of(Annotated[(inner, *markers)] if markers else inner)
    for marker in markers:
        if isinstance(marker, Unit):
            return marker
    return base if isinstance(base, type) else None


def value_text(tp: Any, key: str, value: Any) -> str:
    """One field's value with its unit and its name: ``delay 250 ms``, ``1 replica``, ``factor 3×``."""
    unit = unit_of(tp)
    if isinstance(value, Mapping) and is_model(unit):
        return f"{words(key)} ({describe_fields(typing.cast(type, unit), value)})"
    if is_model(type(value)):
        return f"{words(key)} ({describe_model(value)})"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"{words(key)} {json_text(value)}"
    if unit is DURATION:
        return f"{words(key)} {duration(value)}"
    if unit is RATIO:
        return f"{words(key)} {share(value)}"
    if unit is FACTOR:
        return f"{words(key)} {factor(value)}"
    if unit is RATE:
        return f"{words(key)} {rate(value)}"
    if unit is int:
        return count(value, words(key))
    return f"{words(key)} {value:g}"  # a field with no unit type: tests/model/test_quantities.py flags it


def describe_fields(cls: type, values: Mapping[str, Any], skip: frozenset[str] = frozenset()) -> str:
    """``values`` (by YAML key) of model class ``cls`` as words, in the class's field order.

    Keys the class does not declare (an engine's own notes, such as a live driver's name)
    follow as they are."""
    fields = {f.key: f for f in model_fields(cls)}
    parts = [value_text(fields[k].type, k, values[k]) for k in fields if k in values and k not in skip
             and values[k] is not None]
    parts += [f"{words(k)} {json_text(v)}" for k, v in values.items()
              if k not in fields and k not in skip and v is not None]
    return ", ".join(parts)


def field_values(obj: Any, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A model's set values by YAML key, nested models as mappings: JSON data, never a repr."""
    out: dict[str, Any] = {}
    for f in model_fields(type(obj)):
        value = getattr(obj, f.name)
        if f.key in skip or value is None:
            continue
        if is_model(type(value)):
            value = field_values(value)
        elif isinstance(value, enum.Enum):
            value = value.value
        out[f.key] = value
    return out


def describe_model(obj: Any, skip: frozenset[str] = frozenset()) -> str:
    return describe_fields(type(obj), field_values(obj, skip))

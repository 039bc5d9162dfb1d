"""JSON Schema of each file kind, generated from the same type hints the parser reads.

``chaoslab schema experiment > experiment.schema.json`` lets editors (VS Code's YAML
extension, for one) complete keys and flag mistakes while typing.
"""

from __future__ import annotations

import enum
import typing
from typing import Any

from chaos.model.parsing import (
    DURATION,
    MAX_ITEMS,
    MAX_SECONDS,
    RAW,
    Tagged,
    TextRule,
    duration_words,
    enum_choices,
    is_model,
    model_fields,
    optional_inner,
    split_annotated,
    union_args,
)

DURATION_PATTERN = r"^\s*((\d+(\.\d*)?|\.\d+)\s*(us|µs|ms|s|m|h|d)\s*)+$"


def _duration(meta: typing.Mapping[str, Any]) -> dict[str, Any]:
    bounds = {"minimum": 0, **_bounds(meta)}
    if "maximum" not in bounds and "exclusiveMaximum" not in bounds:
        bounds["maximum"] = MAX_SECONDS
    most = float(bounds.get("maximum", bounds.get("exclusiveMaximum", MAX_SECONDS)))
    return {"oneOf": [{"type": "number", **bounds},
                      {"type": "string", "pattern": DURATION_PATTERN}],
            "description": f"a duration: 250ms, 3s, 2m, 1h, 1m30s, or a number of seconds; "
                           f"at most {duration_words(most)}"}


def _text(rule: TextRule | None) -> dict[str, Any]:
    if rule is None:
        return {}
    return {"pattern": f"^{rule.pattern}$", "$comment": rule.words}


def _bounds(meta: typing.Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, name in (("ge", "minimum"), ("gt", "exclusiveMinimum"), ("le", "maximum"), ("lt", "exclusiveMaximum")):
        if meta.get(key) is not None:
            out[name] = meta[key]
    return out


def type_schema(tp: Any, meta: typing.Mapping[str, Any] | None = None,
                defs: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = meta or {}
    defs = {} if defs is None else defs
    base, markers = split_annotated(tp)
    inner = optional_inner(base)
    if inner is not None:
        sub = type_schema(typing.Annotated[(inner, *markers)] if markers else inner, meta, defs)
        return {"anyOf": [sub, {"type": "null"}]}
    for marker in markers:
        if isinstance(marker, Tagged):
            return _tagged(base, marker, defs)
        if marker is DURATION:
            return _duration(meta)
        if marker is RAW:
            return {"description": "a value of the type of the setting the path names"}
    if is_model(base):
        if getattr(base, "REF", False):
            path = {"type": "string", "description": "path of a file, relative to this one"}
            if not model_fields(base):  # a file in another tool's format: only ever named, never inline
                return path
            return {"anyOf": [path, _model_ref(base, defs)]}
        return _model_ref(base, defs)
    members = union_args(base)
    if members:
        return {"anyOf": [type_schema(m, meta, defs) for m in members]}
    if typing.get_origin(base) is tuple:
        item = typing.get_args(base)[0]
        keyed = meta.get("keyed")
        most = meta.get("max_items") or MAX_ITEMS
        if keyed:
            key_field = next(f for f in model_fields(item) if f.name == keyed)
            names = {"propertyNames": _text(key_field.meta.get("text"))} if key_field.meta.get("text") else {}
            if item.VALUE_KEY is not None:
                value_field = next(f for f in model_fields(item) if f.name == item.VALUE_KEY)
                value = type_schema(value_field.type, value_field.meta, defs)
                if item.MAPPING_TOO:
                    value = {"oneOf": [value, _model_ref(item, defs, skip=keyed)]}
                return {"type": "object", "maxProperties": most, **names, "additionalProperties": value}
            return {"type": "object", "maxProperties": most, **names,
                    "additionalProperties": _model_ref(item, defs, skip=keyed)}
        # A list of numbers: the field's bounds bound each of them, as the parser checks them.
        return {"type": "array", "maxItems": most,
                "items": type_schema(item, meta if item in (int, float) else None, defs)}
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return {"type": "string", "enum": enum_choices(base)}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if base in simple:
        return {"type": simple[base], **_bounds(meta), **(_text(meta.get("text")) if base is str else {})}
    raise TypeError(f"no schema for {tp!r}")


def _model_ref(cls: type, defs: dict[str, Any], skip: str | None = None,
               tag: tuple[str, str] | None = None) -> dict[str, Any]:
    # Qualified by module: chaos.model.load.Constant and chaos.model.distributions.Constant
    # are different things, and one definition name for both made the first win for both.
    module = cls.__module__.rsplit(".", 1)[-1]
    name = f"{module}.{cls.__name__}" + (f"_{tag[1]}" if tag else "") + ("_entry" if skip else "")
    if name not in defs:
        defs[name] = {}  # placeholder against recursion
        defs[name] = _model_schema(cls, defs, skip, tag)
    return {"$ref": f"#/$defs/{name}"}


def _model_schema(cls: type, defs: dict[str, Any], skip: str | None, tag: tuple[str, str] | None) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in model_fields(cls):
        if f.name == skip:
            continue
        sub = type_schema(f.type, f.meta, defs)
        if f.meta.get("doc"):
            sub = {**sub, "description": f.meta["doc"]}
        props[f.key] = sub
        if f.required:
            required.append(f.key)
    if tag is not None:
        props[tag[0]] = {"const": tag[1]}
        required.append(tag[0])
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    description = class_description(cls)
    if description:
        out["description"] = description
    if required:
        out["required"] = required
    return out


def class_description(cls: type) -> str | None:
    """The first paragraph of a model class's own docstring, as one line; None without one.

    A dataclass without a docstring gets its signature as ``__doc__`` (``Step(name: 'str', ...)``):
    that is not a description, so it is left out (tests/model require every model class to have one)."""
    doc = cls.__dict__.get("__doc__") or ""
    if not doc.strip() or doc.startswith(f"{cls.__name__}("):
        return None
    paragraph = doc.strip().split("\n\n", 1)[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def _tagged(union: Any, tagged: Tagged, defs: dict[str, Any]) -> dict[str, Any]:
    options = []
    for member in typing.get_args(union):
        ref = _model_ref(member, defs, tag=(tagged.key, member.TAG))
        options.append(ref)
        if member is tagged.default and tagged.default is not None:
            # the tag may be left out for the default member
            options.append(_model_ref(tagged.default, defs))
    if tagged.scalar is not None:
        first = model_fields(tagged.scalar)[0]
        options.append(type_schema(first.type, first.meta, defs))
    return {"oneOf": options} if len(options) > 1 else options[0]


def schema_for(cls: type, title: str) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    root = _model_schema(cls, defs, None, None)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, **root, "$defs": defs}

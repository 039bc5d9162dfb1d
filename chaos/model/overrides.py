"""Changing one setting of a parsed model by path: ``services.cart.calls.db.retries.max = 0``.

Experiments use it to vary a shared topology (``overrides:``), sweeps and the CLI's
``--set`` to build variants. A path walks fields by their YAML keys; services and
entrypoints and a service's operations are picked by name, a service's calls by the service
they call (``services.frontend.operations.cart.calls.catalog.timeout``), other
lists by index. The new value is parsed with the field's own type, so an override is
checked exactly as the file would be.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

from chaos.errors import InputError
from chaos.model.parsing import (
    Context,
    Model,
    RawValue,
    convert,
    did_you_mean,
    located,
    model_fields,
    one_of,
    optional_inner,
    split_annotated,
    where_of,
)
from chaos.model.yamlnodes import compose_text


def _field(obj: Model, key: str, where: str) -> Any:
    fields = {f.key: f for f in model_fields(type(obj))}
    info = fields.get(key)
    if info is None:
        raise InputError(f"no setting '{key}' here{did_you_mean(key, fields)}", path=where,
                         hint=f"settings here: {one_of(fields)}")
    return info


def _pick(items: tuple[Any, ...], key: str, where: str, obj: Model, field_key: str) -> int:
    """Index of the item of a list field named by ``key``."""
    if field_key == "calls":
        names = [c.to for c in items]
    elif items and hasattr(items[0], "name") and field_key in ("services", "entrypoints", "operations"):
        names = [i.name for i in items]
    else:
        if key.isdigit() and int(key) < len(items):
            return int(key)
        raise InputError(f"no item {key} (there are {len(items)})", path=where)
    if key not in names:
        raise InputError(f"no '{key}' in {field_key}{did_you_mean(key, names)}", path=where)
    return names.index(key)


def set_path(obj: Model, path: list[str], value: RawValue, where: str = "") -> Model:
    """A copy of ``obj`` with the setting at ``path`` replaced by ``value`` (parsed for its type)."""
    key, rest = path[0], path[1:]
    here = f"{where}.{key}" if where else key
    info = _field(obj, key, here)
    current = getattr(obj, info.name)
    if not rest:
        new = convert(value.node, info.type, value.ctx, here, info.meta)
        return _replace(obj, info.name, new)
    base, _ = split_annotated(optional_inner(info.type) or info.type)
    if typing.get_origin(base) is tuple:
        items = tuple(current)
        i = _pick(items, rest[0], f"{here}.{rest[0]}", obj, key)
        if len(rest) == 1:
            raise InputError("give the setting to change inside this item", path=f"{here}.{rest[0]}")
        changed = set_path(items[i], rest[1:], value, f"{here}.{rest[0]}")
        return _replace(obj, info.name, items[:i] + (changed,) + items[i + 1:])
    if current is None or not isinstance(current, Model):
        raise InputError(f"'{key}' is not set here, so it has no '{rest[0]}' to change; set '{key}' as a whole",
                         path=here)
    return _replace(obj, info.name, set_path(current, rest, value, here))


def _replace(obj: Model, name: str, value: Any) -> Model:
    """dataclasses.replace, keeping where the object came from for later messages."""
    return located(dataclasses.replace(obj, **{name: value}), where_of(obj))  # type: ignore[type-var]


def parse_assignment(text: str, source: str = "--set") -> tuple[list[str], RawValue]:
    """``services.cart.replicas=3`` -> (path, value)."""
    path, sep, raw = text.partition("=")
    if not sep or not path.strip():
        raise InputError(f"'{text}' is not PATH=VALUE", path=source)
    node = compose_text(raw.strip() or "''", source)
    if node is None:
        raise InputError(f"'{text}' has no value after '='", path=source)
    return path.strip().split("."), RawValue(node, Context(source, base_dir=Path.cwd()))


def revalidate(obj: Model) -> None:
    """Run the checks of every object in a tree again (after overrides changed it)."""
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        for item in (value if isinstance(value, tuple) else (value,)):
            if isinstance(item, Model):
                revalidate(item)
    obj.validate()

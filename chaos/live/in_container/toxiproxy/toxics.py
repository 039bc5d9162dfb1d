"""Toxic configurations as the API creates, updates and prints them.

Creation follows the official server's order of checks, because clients see which
error wins: body syntax, stream, default name, type, (then the proxy checks for a
duplicate name), then attributes. Defaults: stream ``downstream``, toxicity 1.0,
name ``<type>_<stream>`` with the stream exactly as the client wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from . import gojson
from .gojson import GoJSONError, Kind
from .model import ATTRIBUTES, GO_STRUCT_NAMES, Stream, ToxicType
from .protocol import BAD_REQUEST_BODY, INVALID_STREAM, INVALID_TOXIC_TYPE, ApiError

_WRAPPER_FIELDS: Mapping[str, Kind] = MappingProxyType(
    {"name": Kind.STRING, "type": Kind.STRING, "stream": Kind.STRING, "toxicity": Kind.FLOAT32}
)
_WRAPPER_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {"name": "", "type": "", "stream": "downstream", "toxicity": 1.0}
)


@dataclass(frozen=True)
class ToxicConfig:
    """One toxic of one proxy, as configured through the API."""

    name: str
    type: ToxicType
    stream: str  # as the client wrote it ("UPSTREAM" stays "UPSTREAM"), like the official server
    direction: Stream
    toxicity: float
    attributes: Mapping[str, int] = field(hash=False)

    def attr(self, name: str) -> int:
        return self.attributes[name]

    def to_json(self) -> dict[str, object]:
        """Field order and number format of the official server's JSON."""
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type.value,
            "stream": self.stream,
            "toxicity": gojson.float32_json(self.toxicity),
        }


@dataclass(frozen=True)
class ToxicDraft:
    """A toxic request that passed every check that comes before the duplicate-name check."""

    name: str
    type: ToxicType
    stream: str
    direction: Stream
    toxicity: float
    raw_attributes: Mapping[str, object] = field(hash=False)

    def finish(self) -> ToxicConfig:
        """Decode the attributes (the last check of the official server)."""
        attributes = decode_attributes(self.type, self.raw_attributes, _zero_attributes(self.type))
        return ToxicConfig(self.name, self.type, self.stream, self.direction, self.toxicity, attributes)


def draft_toxic(body: bytes) -> ToxicDraft:
    """Parse a create-toxic body up to (not including) the duplicate-name check."""
    obj = _decode_object(body, "toxics.ToxicWrapper")
    fields = _bind(obj, _WRAPPER_FIELDS, "ToxicWrapper", _WRAPPER_DEFAULTS)
    raw_attributes = _raw_attributes(obj, "ToxicWrapper.attributes")
    try:
        direction = Stream.parse(fields["stream"])
    except ValueError:
        raise INVALID_STREAM.error() from None
    name = fields["name"] or f"{fields['type']}_{fields['stream']}"
    try:
        toxic_type = ToxicType(fields["type"])
    except ValueError:
        raise INVALID_TOXIC_TYPE.error() from None
    return ToxicDraft(name, toxic_type, fields["stream"], direction, fields["toxicity"], raw_attributes)


def updated_toxic(current: ToxicConfig, body: bytes) -> ToxicConfig:
    """``current`` with the attributes and toxicity a body sets; the rest cannot change."""
    obj = _decode_object(body, "struct { Attributes interface {}; Toxicity float32 }")
    fields = _bind(obj, {"toxicity": Kind.FLOAT32}, "Toxicity", {"toxicity": current.toxicity})
    raw_attributes = _raw_attributes(obj, "attributes")
    attributes = decode_attributes(current.type, raw_attributes, current.attributes)
    return replace(current, toxicity=fields["toxicity"], attributes=attributes)


def decode_attributes(toxic_type: ToxicType, raw: Mapping[str, object], base: Mapping[str, int]) -> Mapping[str, int]:
    """``raw`` decoded over ``base`` into the attribute struct of ``toxic_type``."""
    kinds = {name: Kind(kind.value) for name, kind in ATTRIBUTES[toxic_type]}
    struct_name = f"{GO_STRUCT_NAMES[toxic_type]}.attributes"
    return MappingProxyType(_bind(raw, kinds, struct_name, base))


def _zero_attributes(toxic_type: ToxicType) -> Mapping[str, int]:
    return {name: 0 for name, _kind in ATTRIBUTES[toxic_type]}


def _decode_object(body: bytes, go_type: str) -> Mapping[str, object]:
    try:
        return gojson.expect_object(gojson.decode(body), go_type)
    except GoJSONError as exc:
        raise BAD_REQUEST_BODY.joined(str(exc)) from None


def _bind(
    obj: Mapping[str, object], fields: Mapping[str, Kind], struct_name: str, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    try:
        return gojson.bind(obj, fields, struct_name, defaults)
    except GoJSONError as exc:
        raise BAD_REQUEST_BODY.joined(str(exc)) from None


def _raw_attributes(obj: Mapping[str, object], where: str) -> Mapping[str, object]:
    """The ``attributes`` object of a body (``{}`` when absent or null)."""
    raw = _field(obj, "attributes")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        error = gojson.type_error(raw, f"Go struct field {where}", "map[string]interface {}")
        raise ApiError(f"{BAD_REQUEST_BODY.message}: {error}", BAD_REQUEST_BODY.status)
    return raw


def _field(obj: Mapping[str, object], name: str) -> object:
    """A key of ``obj`` matched the Go way: case-insensitively, the last match wins."""
    found: object = None
    for key, value in obj.items():
        if key.casefold() == name.casefold():
            found = value
    return found

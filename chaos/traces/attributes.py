"""Which attributes (tags) the derivation reads, and the several names each fact goes by.

Semantic conventions renamed several attributes (``net.peer.name`` became ``server.address``,
``http.method`` became ``http.request.method``), and Jaeger and Zipkin carry the same facts
as tags under the same keys. Readers collect only the keys listed here into a small dict;
these functions turn it into the normalised span's fields, one rule for all three formats.
"""

from __future__ import annotations

from collections.abc import Mapping

from chaos.traces.spans import operation_name

Attrs = Mapping[str, object]

ROUTE = "http.route"
METHODS = ("http.request.method", "http.method")
RPC_SERVICE, RPC_METHOD, RPC_SYSTEM = "rpc.service", "rpc.method", "rpc.system"
PEER_SERVICE = "peer.service"
# Who a client span called, most specific first: the logical server name before a socket address.
PEER_HOSTS = ("server.address", "net.peer.name", "peer.hostname", "http.host",
              "network.peer.address", "net.sock.peer.addr", "net.peer.ip", "peer.ipv4")
PEER_SYSTEMS = ("db.system", "db.system.name", "messaging.system", RPC_SYSTEM)
# Error markers that Jaeger and Zipkin carry as tags (OTLP has its own status field).
ERROR_TAG, OTEL_STATUS = "error", "otel.status_code"
SPAN_KIND_TAG = "span.kind"

SPAN_KEYS = frozenset((ROUTE, *METHODS, RPC_SERVICE, RPC_METHOD, PEER_SERVICE, *PEER_HOSTS, *PEER_SYSTEMS,
                       ERROR_TAG, OTEL_STATUS, SPAN_KIND_TAG))

SERVICE_NAME, INSTANCE_ID, HOST_NAMES = "service.name", "service.instance.id", ("host.name", "hostname", "ip")
RESOURCE_KEYS = frozenset((SERVICE_NAME, INSTANCE_ID, *HOST_NAMES))


def first(attrs: Attrs, keys: tuple[str, ...]) -> str:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return str(value)
    return ""


def text(attrs: Attrs, key: str) -> str:
    value = attrs.get(key)
    return "" if value is None else str(value)


# For each key a span's fields are read from: (which field, rank among the keys for that field: lower wins).
FIELD_OF = {ROUTE: (0, 0), RPC_SERVICE: (2, 0), RPC_METHOD: (3, 0), PEER_SERVICE: (4, 0)} \
    | {k: (1, i) for i, k in enumerate(METHODS)} | {k: (5, i) for i, k in enumerate(PEER_HOSTS)} \
    | {k: (6, i) for i, k in enumerate(PEER_SYSTEMS)}


def fields_of(name: str, found: list[str]) -> tuple[str, str, str, str]:
    """(operation, peer service, peer host, peer system) from the seven fields of :data:`FIELD_OF`, in order."""
    route, method, rpc_service, rpc_method, peer_service, peer_host, peer_system = found
    return operation_name(name, route, method, rpc_service, rpc_method), peer_service, peer_host, peer_system


def span_fields(name: str, attrs: Attrs) -> tuple[str, str, str, str]:
    """(operation, peer service, peer host, peer system) of a span with these attributes.

    One pass over the (few) attributes a reader kept, rather than a look-up per candidate key: this
    runs for every span.
    """
    if not attrs:
        return name, "", "", ""
    found = ["", "", "", "", "", "", ""]
    rank = [99] * 7
    for key, value in attrs.items():
        where = FIELD_OF.get(key)
        if where is not None and value is not None and value != "" and where[1] < rank[where[0]]:
            found[where[0]] = str(value)
            rank[where[0]] = where[1]
    return fields_of(name, found)


def tag_says_error(attrs: Attrs) -> bool:
    """Jaeger's ``error=true`` tag, Zipkin's ``error`` tag (any value), or the OTel status carried as a tag."""
    value = attrs.get(ERROR_TAG)
    if value is not None and value is not False and str(value).lower() != "false":
        return True
    return str(attrs.get(OTEL_STATUS, "")).upper() == "ERROR"


def instance_and_host(attrs: Attrs) -> tuple[str, str]:
    host = first(attrs, HOST_NAMES)
    return text(attrs, INSTANCE_ID) or host, host

"""Routes and handlers of the Toxiproxy HTTP API, answering as the official server.

Status codes: 200 for reads, updates and a created toxic; 201 for a created proxy
and for populate; 204 for deletes and reset. Failures answer
``{"error": "...", "status": N}`` with a trailing newline and ``text/plain``
(Go's ``http.Error``), except populate, whose JSON body also lists the proxies
applied before the failure. Unknown paths answer Go's ``404 page not found``, a
known path with another method 405, and a browser (User-Agent ``Mozilla/...``) 403.
``GET /metrics`` answers every proxy's counters in Prometheus text (:mod:`.metrics`), as the
official server does with ``-proxy-metrics``.

Handlers that change state hold one lock, so concurrent requests see each
change whole, as the official server's locks ensure.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import MappingProxyType
from typing import Any

from chaos.live.in_container.exposition import CONTENT_TYPE as PROMETHEUS_TEXT
from chaos.live.in_container.http import JSON, TEXT, Request, Response

from . import gojson
from .gojson import GoJSONError, Kind
from .metrics import exposition
from .protocol import BAD_REQUEST_BODY, MISSING_FIELD, ApiError, internal
from .proxy import Proxy, ProxyCollection, ProxySpec
from .toxics import draft_toxic

_log = logging.getLogger(__name__)

_PROXY_FIELDS: Mapping[str, Kind] = MappingProxyType(
    {"name": Kind.STRING, "listen": Kind.STRING, "upstream": Kind.STRING, "enabled": Kind.BOOL}
)
_POPULATE_ITEM = 'struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }'

Action = Callable[["Api", Request, dict[str, str]], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    """A path pattern (``{name}`` segments are parameters) and its handler per method."""

    pattern: tuple[str, ...]
    methods: Mapping[str, Action]

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.pattern):
            return None
        params: dict[str, str] = {}
        for part, segment in zip(self.pattern, segments, strict=True):
            if part.startswith("{"):
                if not segment:
                    return None
                params[part[1:-1]] = segment
            elif part != segment:
                return None
        return params


class Api:
    """The Toxiproxy API over one proxy collection."""

    def __init__(self, proxies: ProxyCollection, version: str) -> None:
        self._proxies = proxies
        self._version = version
        self._lock = asyncio.Lock()

    async def handle(self, request: Request) -> Response:
        segments = request.path.split("/")[1:] if request.path.startswith("/") else []
        for route in ROUTES:
            params = route.match(segments)
            if params is None:
                continue
            action = route.methods.get(request.method)
            if action is None:
                return Response(HTTPStatus.METHOD_NOT_ALLOWED)
            return _with_request_id(await self._run(action, request, params))
        return Response(HTTPStatus.NOT_FOUND, b"404 page not found\n", TEXT)

    async def _run(self, action: Action, request: Request, params: dict[str, str]) -> Response:
        # Upstream refuses browsers so that a web page cannot drive the API (CSRF).
        if request.header("user-agent").startswith("Mozilla/"):
            return Response(HTTPStatus.FORBIDDEN, b"User agent not allowed\n", TEXT)
        try:
            async with self._lock:
                return await action(self, request, params)
        except ApiError as exc:
            return error_response(exc)
        except Exception as exc:  # noqa: BLE001 - a bug of ours: upstream answers any other error 500, with its text
            _log.exception("unexpected error answering %s %s", request.method, request.path)
            return error_response(internal(f"{type(exc).__name__}: {exc}"))

    # Handlers.

    async def version(self, request: Request, params: dict[str, str]) -> Response:
        body = f'{{"version": "{self._version}"}}\n'.encode()
        return Response(HTTPStatus.OK, body, "application/json;charset=utf-8")

    async def list_proxies(self, request: Request, params: dict[str, str]) -> Response:
        listing = {name: proxy.to_json() for name, proxy in self._proxies.by_name().items()}
        return json_response(HTTPStatus.OK, listing)

    async def create_proxy(self, request: Request, params: dict[str, str]) -> Response:
        spec = parse_new_proxy(request.body)
        proxy = await self._proxies.create(spec)
        return json_response(HTTPStatus.CREATED, proxy.to_json())

    async def populate(self, request: Request, params: dict[str, str]) -> Response:
        try:
            specs = parse_populate(request.body)
        except ApiError as exc:
            return populate_response([], exc)
        applied: list[Proxy] = []
        for spec in specs:
            try:
                applied.append(await self._proxies.add_or_replace(spec))
            except ApiError as exc:
                return populate_response(applied, exc)
        return populate_response(applied, None)

    async def show_proxy(self, request: Request, params: dict[str, str]) -> Response:
        return json_response(HTTPStatus.OK, self._proxies.get(params["proxy"]).to_json())

    async def update_proxy(self, request: Request, params: dict[str, str]) -> Response:
        proxy = self._proxies.get(params["proxy"])
        defaults = {"name": proxy.name, "listen": proxy.listen, "upstream": proxy.upstream, "enabled": proxy.enabled}
        fields = _bind_body(request.body, _PROXY_FIELDS, "toxiproxy.Proxy", "Proxy", defaults)
        await proxy.update(fields["listen"], fields["upstream"], fields["enabled"])
        return json_response(HTTPStatus.OK, proxy.to_json())

    async def delete_proxy(self, request: Request, params: dict[str, str]) -> Response:
        self._proxies.remove(params["proxy"])
        return Response(HTTPStatus.NO_CONTENT)

    async def list_toxics(self, request: Request, params: dict[str, str]) -> Response:
        proxy = self._proxies.get(params["proxy"])
        return json_response(HTTPStatus.OK, [toxic.to_json() for toxic in proxy.toxics()])

    async def create_toxic(self, request: Request, params: dict[str, str]) -> Response:
        proxy = self._proxies.get(params["proxy"])
        toxic = proxy.add_toxic(draft_toxic(request.body))
        return json_response(HTTPStatus.OK, toxic.to_json())  # 200, not 201, as upstream

    async def show_toxic(self, request: Request, params: dict[str, str]) -> Response:
        proxy = self._proxies.get(params["proxy"])
        return json_response(HTTPStatus.OK, proxy.toxic(params["toxic"]).to_json())

    async def update_toxic(self, request: Request, params: dict[str, str]) -> Response:
        proxy = self._proxies.get(params["proxy"])
        return json_response(HTTPStatus.OK, proxy.update_toxic(params["toxic"], request.body).to_json())

    async def delete_toxic(self, request: Request, params: dict[str, str]) -> Response:
        self._proxies.get(params["proxy"]).remove_toxic(params["toxic"])
        return Response(HTTPStatus.NO_CONTENT)

    async def reset(self, request: Request, params: dict[str, str]) -> Response:
        await self._proxies.reset()
        return Response(HTTPStatus.NO_CONTENT)

    async def metrics(self, request: Request, params: dict[str, str]) -> Response:
        return Response(HTTPStatus.OK, exposition(self._proxies.by_name().values()), PROMETHEUS_TEXT)


ROUTES: tuple[Route, ...] = (
    Route(("reset",), MappingProxyType({"POST": Api.reset})),
    Route(("version",), MappingProxyType({"GET": Api.version})),
    Route(("metrics",), MappingProxyType({"GET": Api.metrics})),
    Route(("populate",), MappingProxyType({"POST": Api.populate})),
    Route(("proxies",), MappingProxyType({"GET": Api.list_proxies, "POST": Api.create_proxy})),
    Route(
        ("proxies", "{proxy}"),
        MappingProxyType(
            {"GET": Api.show_proxy, "POST": Api.update_proxy, "PATCH": Api.update_proxy, "DELETE": Api.delete_proxy}
        ),
    ),
    Route(("proxies", "{proxy}", "toxics"), MappingProxyType({"GET": Api.list_toxics, "POST": Api.create_toxic})),
    Route(
        ("proxies", "{proxy}", "toxics", "{toxic}"),
        MappingProxyType(
            {"GET": Api.show_toxic, "POST": Api.update_toxic, "PATCH": Api.update_toxic, "DELETE": Api.delete_toxic}
        ),
    ),
)


def json_response(status: int, value: object) -> Response:
    return Response(status, gojson.encode(value), JSON)


def error_response(error: ApiError) -> Response:
    """Go's ``http.Error``: plain-text content type, JSON body, trailing newline."""
    headers = (("X-Content-Type-Options", "nosniff"),)
    return Response(error.status, gojson.encode(error.to_json()) + b"\n", TEXT, headers)


def populate_response(applied: list[Proxy], error: ApiError | None) -> Response:
    """``{"proxies": [...]}`` (201), or the error fields first and its status.

    On failure upstream writes ``null`` when no proxy was applied."""
    if error is None:
        return json_response(HTTPStatus.CREATED, {"proxies": [proxy.to_json() for proxy in applied]})
    proxies = [proxy.to_json() for proxy in applied] or None
    return json_response(error.status, {**error.to_json(), "proxies": proxies})


def _with_request_id(response: Response) -> Response:
    # Upstream tags every routed response with a request id (clients may log it).
    request_id = ("X-Toxiproxy-Request-Id", secrets.token_hex(10))
    return Response(response.status, response.body, response.content_type, (request_id, *response.headers))


def parse_new_proxy(body: bytes) -> ProxySpec:
    defaults = {"name": "", "listen": "", "upstream": "", "enabled": True}
    fields = _bind_body(body, _PROXY_FIELDS, "toxiproxy.Proxy", "Proxy", defaults)
    if not fields["name"]:
        raise MISSING_FIELD.joined("name")
    if not fields["upstream"]:
        raise MISSING_FIELD.joined("upstream")
    return ProxySpec(fields["name"], fields["listen"], fields["upstream"], fields["enabled"])


def parse_populate(body: bytes) -> list[ProxySpec]:
    """Decode every entry first, then check required fields, as upstream does."""
    try:
        value = gojson.decode(body)
        if not isinstance(value, list):
            raise GoJSONError(
                f"json: cannot unmarshal {gojson.json_kind(value)} into Go value of type []{_POPULATE_ITEM}"
            )
        entries = [_populate_entry(item) for item in value]
    except GoJSONError as exc:
        raise BAD_REQUEST_BODY.joined(str(exc)) from None
    for number, fields in enumerate(entries, start=1):
        if not fields["name"]:
            raise MISSING_FIELD.joined(f"name at proxy {number}")
        if not fields["upstream"]:
            raise MISSING_FIELD.joined(f"upstream at proxy {number}")
    return [ProxySpec(f["name"], f["listen"], f["upstream"], f["enabled"]) for f in entries]


def _populate_entry(item: object) -> dict[str, Any]:
    obj = gojson.expect_object(item, _POPULATE_ITEM)
    defaults = {"name": "", "listen": "", "upstream": "", "enabled": True}
    return gojson.bind(obj, _PROXY_FIELDS, "Proxy", defaults)


def _bind_body(
    body: bytes, fields: Mapping[str, Kind], go_type: str, struct_name: str, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    try:
        obj = gojson.expect_object(gojson.decode(body), go_type)
        return gojson.bind(obj, fields, struct_name, defaults)
    except GoJSONError as exc:
        raise BAD_REQUEST_BODY.joined(str(exc)) from None

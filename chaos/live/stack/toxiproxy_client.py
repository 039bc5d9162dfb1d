"""A small typed client for the Toxiproxy HTTP API (chaoslab's server or the official one).

Made for the harness's revert path, where a hung or silent server must not hang
chaoslab and a failed call must reach the user:

- each client has its own base URL (no class-level state, unlike toxiproxy-python);
- every request has a timeout (per connect and per socket read/write);
- an error answer raises ``ToxiproxyError`` with the HTTP status and the server's
  message; no answer at all raises ``ToxiproxyError`` (status ``None``) with a hint.

Standard library only.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, urlsplit

from chaos.errors import ToxiproxyError
from chaos.live.in_container.toxiproxy.model import DEFAULT_API_PORT, Stream, ToxicType

DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_API_PORT}"
DEFAULT_TIMEOUT = 5.0
_USER_AGENT = "chaoslab-toxiproxy-client"  # never "Mozilla/...": the server refuses browsers


@dataclass(frozen=True)
class Toxic:
    """A toxic as the server reports it."""

    name: str
    type: ToxicType
    stream: Stream
    toxicity: float
    attributes: Mapping[str, int] = field(hash=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Toxic:
        return cls(
            name=str(data["name"]),
            type=ToxicType(data["type"]),
            stream=Stream.parse(str(data["stream"])),
            toxicity=float(data["toxicity"]),
            attributes=MappingProxyType(dict(data.get("attributes") or {})),
        )


@dataclass(frozen=True)
class Proxy:
    """A proxy as the server reports it; ``listen`` is the bound address once enabled."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[Toxic, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Proxy:
        return cls(
            name=str(data["name"]),
            listen=str(data["listen"]),
            upstream=str(data["upstream"]),
            enabled=bool(data["enabled"]),
            toxics=tuple(Toxic.from_json(toxic) for toxic in data.get("toxics") or ()),
        )


@dataclass(frozen=True)
class ProxyConfig:
    """A proxy to create or populate. Port 0 in ``listen`` lets the server pick one."""

    name: str
    upstream: str
    listen: str = "127.0.0.1:0"
    enabled: bool = True

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream, "enabled": self.enabled}


class ToxiproxyClient:
    """Calls one Toxiproxy server; every method raises ``ToxiproxyError`` on failure."""

    def __init__(self, base_url: str = DEFAULT_URL, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        # Accept "host:port" as the official Go client does.
        self.base_url = base_url if "://" in base_url else f"http://{base_url}"
        self.timeout = timeout
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ToxiproxyError(
                f"not a Toxiproxy URL: {base_url!r}", hint="use http://HOST:PORT, e.g. http://127.0.0.1:8474"
            )
        self._parts = parts

    # Server.

    def version(self) -> str:
        """The server's version (JSON ``{"version": ...}`` since 2.6, plain text before)."""
        body = self._request("GET", "/version")
        try:
            return str(json.loads(body)["version"])
        except (ValueError, KeyError, TypeError):
            return body.decode("utf-8", errors="replace").strip()

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._request("POST", "/reset")

    # Proxies.

    def proxies(self) -> dict[str, Proxy]:
        listing = self._json("GET", "/proxies")
        return {name: self._proxy(data) for name, data in listing.items()}

    def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0", *, enabled: bool = True) -> Proxy:
        config = ProxyConfig(name, upstream, listen, enabled)
        return self._proxy(self._json("POST", "/proxies", config.to_json()))

    def populate(self, configs: Iterable[ProxyConfig]) -> list[Proxy]:
        """Create or replace proxies; identical ones are left as they are, toxics included."""
        answer = self._json("POST", "/populate", [config.to_json() for config in configs])
        return [self._proxy(data) for data in answer.get("proxies") or ()]

    def get_proxy(self, name: str) -> Proxy:
        return self._proxy(self._json("GET", _proxy_path(name)))

    def update_proxy(
        self, name: str, *, enabled: bool | None = None, listen: str | None = None, upstream: str | None = None
    ) -> Proxy:
        """Change only the fields given. POST rather than PATCH: every 2.x server takes it."""
        changes = {"enabled": enabled, "listen": listen, "upstream": upstream}
        body = {key: value for key, value in changes.items() if value is not None}
        return self._proxy(self._json("POST", _proxy_path(name), body))

    def enable_proxy(self, name: str) -> Proxy:
        return self.update_proxy(name, enabled=True)

    def disable_proxy(self, name: str) -> Proxy:
        """Stop listening and drop the proxy's connections (the "down" of Toxiproxy)."""
        return self.update_proxy(name, enabled=False)

    def delete_proxy(self, name: str) -> None:
        self._request("DELETE", _proxy_path(name))

    # Toxics.

    def toxics(self, proxy: str) -> list[Toxic]:
        return [self._toxic(data) for data in self._json("GET", f"{_proxy_path(proxy)}/toxics")]

    def add_toxic(
        self,
        proxy: str,
        toxic_type: ToxicType,
        *,
        stream: Stream = Stream.DOWNSTREAM,
        name: str | None = None,
        toxicity: float = 1.0,
        attributes: Mapping[str, int] | None = None,
    ) -> Toxic:
        """Add a toxic; returns it as the server created it (default name ``<type>_<stream>``)."""
        body: dict[str, object] = {
            "type": ToxicType(toxic_type).value,
            "stream": Stream(stream).value,
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }
        if name:
            body["name"] = name
        return self._toxic(self._json("POST", f"{_proxy_path(proxy)}/toxics", body))

    def update_toxic(
        self, proxy: str, name: str, *, toxicity: float | None = None, attributes: Mapping[str, int] | None = None
    ) -> Toxic:
        """Change a toxic's toxicity or some of its attributes; the others keep their values."""
        body: dict[str, object] = {"attributes": dict(attributes or {})}
        if toxicity is not None:
            body["toxicity"] = toxicity
        return self._toxic(self._json("POST", _toxic_path(proxy, name), body))

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._request("DELETE", _toxic_path(proxy, name))

    # Transport.

    def _json(self, method: str, path: str, body: object = None) -> Any:
        answer = self._request(method, path, body)
        try:
            return json.loads(answer)
        except ValueError:
            raise ToxiproxyError(
                f"Toxiproxy at {self.base_url} answered {method} {path} with something that is not JSON: "
                f"{answer[:200]!r}",
                hint="is this URL really a Toxiproxy server?",
            ) from None

    def _request(self, method: str, path: str, body: object = None) -> bytes:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"User-Agent": _USER_AGENT, "Content-Type": "application/json", "Accept": "application/json"}
        connection = self._connection()
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except TimeoutError:
            raise ToxiproxyError(
                f"Toxiproxy at {self.base_url} did not answer {method} {path} within {self.timeout:g} s",
                hint="the server is hung or overloaded; check it, or raise the client's timeout",
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise ToxiproxyError(
                f"no Toxiproxy server answers at {self.base_url} ({method} {path}: {_describe(exc)})",
                hint="start one with `chaoslab toxiproxy serve`, or check the URL and port",
            ) from None
        finally:
            connection.close()
        if not 200 <= response.status < 300:
            raise _http_error(method, path, response.status, data)
        return data

    def _connection(self) -> http.client.HTTPConnection:
        port = self._parts.port
        host = self._parts.hostname or ""
        if self._parts.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self.timeout)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def _proxy(self, data: Any) -> Proxy:
        try:
            return Proxy.from_json(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise _unexpected(self.base_url, "proxy", data, exc) from None

    def _toxic(self, data: Any) -> Toxic:
        try:
            return Toxic.from_json(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise _unexpected(self.base_url, "toxic", data, exc) from None


def _proxy_path(name: str) -> str:
    return f"/proxies/{quote(name, safe='')}"


def _toxic_path(proxy: str, toxic: str) -> str:
    return f"{_proxy_path(proxy)}/toxics/{quote(toxic, safe='')}"


_HINTS = {
    400: "the request was refused as invalid: check the toxic type, stream and attribute names",
    403: "the server refuses browser user agents",
    404: "check the name; list what exists with GET /proxies",
    409: "it exists already: remove it first, or use populate to replace proxies",
}


def _http_error(method: str, path: str, status: int, body: bytes) -> ToxiproxyError:
    message = _server_message(body) or f"HTTP {status}"
    return ToxiproxyError(
        f"Toxiproxy {method} {path} failed with HTTP {status}: {message}",
        status=status,
        hint=_HINTS.get(status, "see the Toxiproxy server's log"),
    )


def _server_message(body: bytes) -> str:
    """The ``error`` field of the official error body, else the body's text."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        decoded = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(decoded, dict) and isinstance(decoded.get("error"), str):
        return str(decoded["error"])
    return text[:200]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__


def _unexpected(base_url: str, what: str, data: object, exc: Exception) -> ToxiproxyError:
    return ToxiproxyError(
        f"Toxiproxy at {base_url} sent a {what} chaoslab cannot read ({exc!r}): {str(data)[:200]}",
        hint="the server may be newer than this client (an unknown toxic type?)",
    )

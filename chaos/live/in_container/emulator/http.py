"""Just enough HTTP/1.1 on asyncio streams for the emulator: one request per connection, both ways.

Every call opens a new TCP connection and every answer closes it (``Connection:
close``), so a Toxiproxy toxic applies per call and a caller that gives up can say so
by closing its connection. The server reads the request head and a
``Content-Length`` body (no chunked bodies: no client of the emulator sends them);
:func:`wait_closed` then tells when the peer has gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1 << 20
READ_TIMEOUT_S = 10.0  # a client that stalls while sending its request is dropped


class BadRequest(Exception):
    """The bytes on the wire are not an HTTP/1.x request the emulator understands."""


class PeerClosed(ConnectionError):
    """The other side closed the connection before a whole answer arrived."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string
    headers: Mapping[str, str] = field(hash=False)  # names lower-cased
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    def header(self, name: str, default: str = "") -> str:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), default)


@dataclass(frozen=True)
class Target:
    """Where a callee replica answers (an ``http://host:port`` url, parsed once)."""

    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError(f"'{url}' is not an http://HOST:PORT url")
        return cls(parts.hostname, parts.port)


# --------------------------------------------------------------------------- server side


async def read_request(reader: asyncio.StreamReader) -> Request:
    """One request; ``BadRequest`` if it is malformed, ``PeerClosed`` if the client left first."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest("truncated request head") from None
        raise PeerClosed("the client closed before sending a request") from None
    except asyncio.LimitOverrunError:
        raise BadRequest("request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isalpha():
        raise BadRequest(f"malformed request line {lines[0]!r}")
    headers = _parse_headers(lines[1:])
    length = headers.get("content-length", "0")
    if not length.isdigit() or int(length) > MAX_BODY_BYTES:
        raise BadRequest(f"bad Content-Length {length!r}")
    try:
        body = await reader.readexactly(int(length))
    except asyncio.IncompleteReadError:
        raise PeerClosed("the client closed in the middle of its request body") from None
    return Request(parts[0].upper(), urlsplit(parts[1]).path, headers, body)


def _parse_headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise BadRequest(f"malformed header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


def render(response: Response) -> bytes:
    status = HTTPStatus(response.status)
    lines = [f"HTTP/1.1 {status.value} {status.phrase}", f"Content-Type: {response.content_type}",
             f"Content-Length: {len(response.body)}", "Connection: close"]
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


async def wait_closed(reader: asyncio.StreamReader) -> None:
    """Return when the peer has closed (or reset) its side; bytes it sends meanwhile are dropped."""
    try:
        while await reader.read(4096):
            pass
    except ConnectionError:
        pass


# --------------------------------------------------------------------------- client side


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str] = field(hash=False)
    body: bytes = b""


async def fetch(target: Target, path: str, headers: Mapping[str, str] | None = None,
                method: str = "GET", body: bytes = b"") -> Answer:
    """One request on a new connection. Connection failures raise ``OSError`` (``PeerClosed``
    when the connection ended before a whole answer). Cancelling closes the connection,
    which is how the server learns that its caller gave up."""
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = (f"{method} {path} HTTP/1.1\r\nHost: {target.host}:{target.port}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n")
        writer.write(head.encode("latin-1") + body)
        return await _read_answer(reader)
    finally:
        writer.close()


async def _read_answer(reader: asyncio.StreamReader) -> Answer:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        raise PeerClosed("the connection closed before an answer") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise PeerClosed(f"not an HTTP answer: {lines[0]!r}")
    try:
        headers = _parse_headers(lines[1:])
    except BadRequest as exc:
        raise PeerClosed(str(exc)) from None
    length = headers.get("content-length")
    try:
        body = await reader.readexactly(int(length)) if length and length.isdigit() else await reader.read()
    except asyncio.IncompleteReadError:
        raise PeerClosed("the connection closed in the middle of an answer") from None
    return Answer(int(parts[1]), headers, body)

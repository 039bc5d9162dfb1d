"""HTTP/1.1 on asyncio streams: the one layer both servers in the containers speak, and the emulator's client.

Two servers use it, each in its own way:

* the **emulator** answers one request per connection (``Connection: close``, no keep-alive).
  Every call opens a new TCP connection, so a Toxiproxy toxic applies per call, and a caller
  that gives up can say so by closing its connection: after :func:`read_request` the server
  watches :func:`wait_closed` while it works;
* the **Toxiproxy server** answers any HTTP client of the official API (Go's, curl,
  toxiproxy-python) with :func:`serve_connection`: keep-alive, chunked request bodies and
  ``Expect: 100-continue`` (curl sends it for bodies over 1 KB), with the limits of Go's
  ``net/http`` defaults the official server uses (15 s to read a request, 60 s idle between
  requests) and the ``Date`` header Go sends.

Each server sets the largest request head it accepts as its stream's ``limit`` and passes the
largest body it accepts. As Go's server reads them, methods are case-sensitive, paths are
percent-decoded and lose their query string, a repeated header keeps every value (joined with
``", "``), and a header name with spaces around it is refused.

The client side (:func:`fetch`) is the emulator's: one request on a new connection, whose
cancellation closes the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


class BadRequest(Exception):
    """The bytes on the wire are not an HTTP/1.x request this layer understands."""


class PeerClosed(ConnectionError):
    """The other side closed the connection before a whole request or answer arrived."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # percent-decoded, without the query string
    headers: Mapping[str, str] = field(hash=False)  # names lower-cased
    body: bytes = b""
    version: str = "HTTP/1.1"

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None  # None: no Content-Type header
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[Request], Awaitable[Response]]


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


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None = None, *,
                       max_body_bytes: int) -> Request:
    """One request; ``BadRequest`` if it is malformed, ``PeerClosed`` if the client left first.

    With ``writer``, a client that sent ``Expect: 100-continue`` is told to go on.
    """
    return await read_body(await read_head(reader), reader, writer, max_body_bytes=max_body_bytes)


async def read_head(reader: asyncio.StreamReader) -> bytes:
    """The request line and headers; ``PeerClosed`` when the client closed before sending any."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest("truncated request head") from None
        raise PeerClosed("the client closed before sending a request") from None
    except asyncio.LimitOverrunError:
        raise BadRequest("request head too large") from None


async def read_body(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None, *,
                    max_body_bytes: int) -> Request:
    """The request whose ``head`` was read, with its body (``Content-Length`` or chunked)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isalpha():
        raise BadRequest(f"malformed request line {lines[0]!r}")
    method, target, version = parts
    headers = _parse_headers(lines[1:])
    if writer is not None and headers.get("expect", "").lower() == "100-continue" and _has_body(headers):
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    try:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await _read_chunked(reader, max_body_bytes)
        else:
            length = headers.get("content-length", "0")
            if not length.isdigit() or int(length) > max_body_bytes:
                raise BadRequest(f"bad Content-Length {length!r}")
            body = await reader.readexactly(int(length))
    except asyncio.IncompleteReadError:
        raise PeerClosed("the client closed in the middle of its request body") from None
    except asyncio.LimitOverrunError:
        raise BadRequest("chunk size line too long") from None
    return Request(method, unquote(urlsplit(target).path), headers, body, version)


def _parse_headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise BadRequest(f"malformed header line {line!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _has_body(headers: Mapping[str, str]) -> bool:
    return "chunked" in headers.get("transfer-encoding", "").lower() or headers.get("content-length", "0") != "0"


async def _read_chunked(reader: asyncio.StreamReader, max_body_bytes: int) -> bytes:
    body = bytearray()
    while True:
        size_line = (await reader.readuntil(b"\r\n")).split(b";")[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise BadRequest("bad chunk size") from None
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return bytes(body)
        if len(body) + size > max_body_bytes:
            raise BadRequest("body too large")
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def render(response: Response, *, keep_alive: bool = False, date: bool = False) -> bytes:
    """The bytes of a response. ``date`` adds the ``Date`` header Go's server sends (the emulator leaves it
    out: it answers thousands of requests a second and nobody reads it)."""
    status = HTTPStatus(response.status)
    lines = [f"HTTP/1.1 {status.value} {status.phrase}"]
    if response.content_type:
        lines.append(f"Content-Type: {response.content_type}")
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    if date:
        lines.append(f"Date: {formatdate(usegmt=True)}")
    if status != HTTPStatus.NO_CONTENT:
        lines.append(f"Content-Length: {len(response.body)}")
    if not keep_alive:
        lines.append("Connection: close")
    head = "\r\n".join(lines) + "\r\n\r\n"
    body = b"" if status == HTTPStatus.NO_CONTENT else response.body
    return head.encode("latin-1") + body


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler, *,
                           max_body_bytes: int, read_timeout_s: float, idle_timeout_s: float) -> None:
    """Answer requests on one connection, keep-alive, until the client closes it or asks to."""
    try:
        while True:
            async with asyncio.timeout(idle_timeout_s):
                head = await read_head(reader)
            async with asyncio.timeout(read_timeout_s):
                request = await read_body(head, reader, writer, max_body_bytes=max_body_bytes)
            keep_alive = _wants_keep_alive(request)
            response = await handler(request)
            writer.write(render(response, keep_alive=keep_alive, date=True))
            await writer.drain()
            if not keep_alive:
                return
    except BadRequest:
        writer.write(render(Response(HTTPStatus.BAD_REQUEST, b"400 Bad Request", TEXT), date=True))
    except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass  # the client went away (between requests, too) or stalled: nothing to answer
    finally:
        writer.close()


def _wants_keep_alive(request: Request) -> bool:
    connection = request.header("connection").lower()
    if request.version == "HTTP/1.0":
        return "keep-alive" in connection
    return "close" not in connection


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

"""A minimal HTTP/1.1 server on asyncio streams: enough for every Toxiproxy client.

Supports keep-alive, ``Content-Length`` and chunked request bodies, and
``Expect: 100-continue`` (curl sends it for bodies over 1 KB). Limits follow Go's
``net/http`` defaults used by the official server: 1 MB of headers, 15 s to read a
request, 60 s idle between requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

MAX_HEADER_BYTES = 1 << 20
MAX_BODY_BYTES = 64 << 20
READ_TIMEOUT = 15.0
IDLE_TIMEOUT = 60.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # percent-decoded, without the query, as Go's router matches it
    headers: Mapping[str, str] = field(hash=False)  # lower-cased names
    body: bytes
    version: str

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    """The bytes on the wire are not an HTTP/1.x request."""


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler) -> None:
    """Answer requests on one connection until the client closes it or asks to."""
    try:
        await _serve_requests(reader, writer, handler)
    except BadRequest:
        writer.write(render(Response(HTTPStatus.BAD_REQUEST, b"400 Bad Request", _TEXT), keep_alive=False))
    except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass  # the client went away or stalled: nothing to answer
    finally:
        writer.close()


async def _serve_requests(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler) -> None:
    while True:
        async with asyncio.timeout(IDLE_TIMEOUT):
            head = await _read_head(reader)
        if head is None:
            return
        async with asyncio.timeout(READ_TIMEOUT):
            request = await _read_request(head, reader, writer)
        keep_alive = _wants_keep_alive(request)
        response = await handler(request)
        writer.write(render(response, keep_alive=keep_alive))
        await writer.drain()
        if not keep_alive:
            return


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """The request line and headers, or None when the client closed between requests."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest("truncated request head") from None
        return None


async def _read_request(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request:
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = _parse_request_line(lines[0])
    headers = _parse_headers(lines[1:])
    if headers.get("expect", "").lower() == "100-continue" and _has_body(headers):
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await _read_body(reader, headers)
    path = unquote(urlsplit(target).path)
    return Request(method, path, headers, body, version)


def _parse_request_line(line: str) -> tuple[str, str, str]:
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isalpha():
        raise BadRequest(f"malformed request line {line!r}")
    return parts[0], parts[1], parts[2]


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


async def _read_body(reader: asyncio.StreamReader, headers: Mapping[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader)
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit() or int(length_text) > MAX_BODY_BYTES:
        raise BadRequest(f"bad Content-Length {length_text!r}")
    return await reader.readexactly(int(length_text))


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = (await reader.readuntil(b"\r\n")).split(b";")[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise BadRequest("bad chunk size") from None
        if size == 0:
            await _skip_trailers(reader)
            return bytes(body)
        if len(body) + size > MAX_BODY_BYTES:
            raise BadRequest("body too large")
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def _skip_trailers(reader: asyncio.StreamReader) -> None:
    while (await reader.readuntil(b"\r\n")) != b"\r\n":
        pass


def _wants_keep_alive(request: Request) -> bool:
    connection = request.header("connection").lower()
    if request.version == "HTTP/1.0":
        return "keep-alive" in connection
    return "close" not in connection


_TEXT = "text/plain; charset=utf-8"


def render(response: Response, *, keep_alive: bool) -> bytes:
    """The bytes of a response, with the headers Go's server would send."""
    status = HTTPStatus(response.status)
    lines = [f"HTTP/1.1 {status.value} {status.phrase}"]
    if response.content_type:
        lines.append(f"Content-Type: {response.content_type}")
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    lines.append(f"Date: {formatdate(usegmt=True)}")
    if status != HTTPStatus.NO_CONTENT:
        lines.append(f"Content-Length: {len(response.body)}")
    if not keep_alive:
        lines.append("Connection: close")
    head = "\r\n".join(lines) + "\r\n\r\n"
    body = b"" if status == HTTPStatus.NO_CONTENT else response.body
    return head.encode("latin-1") + body

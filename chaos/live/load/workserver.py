"""A tiny ``/work`` server on loopback for the load generator's tests, benchmarks and dry runs (standard library).

It answers each request (any method and path) as its ``reply`` function or its ``routes``
say (after a delay, with a status and an optional ``X-Chaoslab-Cause``, or by hanging
up), keeps connections alive like
a real HTTP/1.1 server, and counts what it received, so a test can hold the load
generator's figures against the server's own::

    with WorkServer(lambda n: Reply(delay_s=0.002)) as server:
        url = server.url          # http://127.0.0.1:PORT
        ...
        server.hits               # requests received
        server.seen               # {"GET /work": n, ...}: received, by method and target
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chaos.errors import LiveError

CAUSE_HEADER = "X-Chaoslab-Cause"
CANCEL_LINE = b"\r\nx-chaoslab-cancel: 1"
_MAX_HEAD = 16384


@dataclass(frozen=True)
class Reply:
    """How to answer one request: ``status`` after ``delay_s``, or ``hang_up`` (close without an answer)."""

    status: int = 200
    cause: str | None = None  # sent as X-Chaoslab-Cause
    delay_s: float = 0.0
    hang_up: bool = False


OK = Reply()


class _Connection(asyncio.Protocol):
    def __init__(self, server: WorkServer) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.queue: list[Reply] = []  # answers are sent in request order (HTTP/1.1 pipelining rule)
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections += 1
        self.server.open.add(transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, rest = self.buffer.split(b"\r\n\r\n", 1)
            length = _content_length(head)
            if len(rest) < length:
                break  # the body is still on its way
            body, self.buffer = rest[:length], rest[length:]
            self.server.hits += 1
            if CANCEL_LINE in head.lower():
                self.server.cancellable += 1
            line = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            key = f"{line[0]} {line[1] if len(line) > 1 else ''}"
            self.server.seen[key] = self.server.seen.get(key, 0) + 1
            self.server.bodies[key] = body
            reply = self.server.routes.get(key)
            self.queue.append(reply if reply is not None else self.server.reply(self.server.hits - 1))
        if len(self.buffer) > _MAX_HEAD and self.transport is not None:
            self.transport.close()
        self._next()

    def _next(self) -> None:
        if self.busy or not self.queue or self.transport is None or self.transport.is_closing():
            return
        reply = self.queue.pop(0)
        self.busy = True
        if reply.delay_s > 0:
            asyncio.get_running_loop().call_later(reply.delay_s, self._answer, reply)
        else:
            self._answer(reply)

    def _answer(self, reply: Reply) -> None:
        self.busy = False
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if reply.hang_up:
            transport.abort()  # a crash: the connection breaks without an answer
            return
        extra = f"{CAUSE_HEADER}: {reply.cause}\r\n" if reply.cause else ""
        body = b"ok\n" if reply.status < 300 else b"error\n"
        transport.write(f"HTTP/1.1 {reply.status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body)
        self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.server.open.discard(self.transport)
        self.transport = None


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip() or 0)
    return 0


class WorkServer:
    """The server, on its own event loop in a daemon thread; ``reply(n)`` decides the answer to request n,
    unless ``routes`` names the answer to its method and target."""

    def __init__(self, reply: Callable[[int], Reply] = lambda n: OK, host: str = "127.0.0.1", port: int = 0,
                 routes: Mapping[str, Reply] | None = None) -> None:
        self.reply = reply
        self.routes = dict(routes or {})  # "METHOD /path?query" -> its answer, before ``reply``
        self.seen: dict[str, int] = {}  # "METHOD /path?query" -> requests received
        self.bodies: dict[str, bytes] = {}  # "METHOD /path?query" -> the last body received
        self.hits = 0
        self.cancellable = 0  # requests that asked to be cancelled when their caller hangs up
        self.connections = 0
        self.open: set[asyncio.Transport] = set()
        self.host = host
        self.port = port
        self.loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="workserver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> WorkServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self.loop)
        try:
            future.result(timeout=5.0)
        except Exception as exc:
            self.close()
            raise LiveError(f"the work server could not listen on {self.host}:{self.port}: {exc}") from exc

    async def _listen(self) -> None:
        self._server = await self.loop.create_server(lambda: _Connection(self), self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        """Stop listening and drop every connection: from now on the port refuses connections."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(timeout=5.0)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5.0)
        if not self.loop.is_running() and not self.loop.is_closed():
            self.loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            for transport in list(self.open):
                transport.abort()
            await self._server.wait_closed()


def main(argv: list[str] | None = None) -> None:
    """``python -m chaos.live.load.workserver [--port P] [--delay-ms D]``: serve /work until stdin closes.

    Prints its URL on the first line. Reading stdin to its end is how it stops with the
    process that started it.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m chaos.live.load.workserver", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="answer every request after this delay")
    args = parser.parse_args(argv)
    reply = Reply(delay_s=args.delay_ms / 1000.0)
    with WorkServer(lambda n: reply, port=args.port) as server:
        print(server.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()

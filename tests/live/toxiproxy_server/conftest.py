"""Fixtures for the Toxiproxy server tests: our server in a thread, loopback upstreams,
and socket helpers with bounded waits. All traffic stays on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from chaos.live.in_container.toxiproxy.server import RunningServer, serve_in_thread
from chaos.live.stack.toxiproxy_client import ToxiproxyClient

WAIT = 3.0  # the longest any single socket wait in these tests may take


@pytest.fixture
def toxiproxy() -> Iterator[RunningServer]:
    with serve_in_thread("127.0.0.1", 0, seed=20240611) as running:
        yield running


@pytest.fixture
def client(toxiproxy: RunningServer) -> ToxiproxyClient:
    return ToxiproxyClient(toxiproxy.url, timeout=WAIT)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


class Api:
    """Raw HTTP calls, to check status codes and bodies byte for byte."""

    def __init__(self, running: RunningServer) -> None:
        self.running = running

    def call(self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None) -> Answer:
        payload = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        connection = http.client.HTTPConnection(self.running.host, self.running.port, timeout=WAIT)
        try:
            connection.request(method, path, body=payload, headers={"User-Agent": "pytest", **(headers or {})})
            response = connection.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def create(self, name: str, upstream: str, listen: str = "127.0.0.1:0", **extra: object) -> dict:
        answer = self.call("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream, **extra})
        assert answer.status == 201, answer
        return answer.json()  # type: ignore[return-value]

    def add_toxic(self, proxy: str, body: dict) -> dict:
        answer = self.call("POST", f"/proxies/{proxy}/toxics", body)
        assert answer.status == 200, answer
        return answer.json()  # type: ignore[return-value]


@pytest.fixture
def api(toxiproxy: RunningServer) -> Api:
    return Api(toxiproxy)


class Upstream:
    """A loopback TCP server that runs ``behaviour`` per connection and records what it got."""

    def __init__(self, behaviour: Callable[[socket.socket, Upstream], None]) -> None:
        self.received: list[bytes] = []
        self.connections = 0
        self._lock = threading.Lock()
        upstream = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with upstream._lock:
                    upstream.connections += 1
                behaviour(self.request, upstream)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def record(self, data: bytes) -> None:
        with self._lock:
            self.received.append(data)

    def total_received(self) -> bytes:
        with self._lock:
            return b"".join(self.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(WAIT)


def echo(sock: socket.socket, upstream: Upstream) -> None:
    sock.settimeout(10)
    try:
        while data := sock.recv(65536):
            upstream.record(data)
            sock.sendall(data)
    except OSError:
        pass


def greet_and_close(payload: bytes) -> Callable[[socket.socket, Upstream], None]:
    """Send ``payload`` at once, then close: a server that answers without being asked."""

    def behaviour(sock: socket.socket, upstream: Upstream) -> None:
        sock.sendall(payload)
        sock.close()

    return behaviour


@pytest.fixture
def echo_server() -> Iterator[Upstream]:
    upstream = Upstream(echo)
    yield upstream
    upstream.close()


@pytest.fixture
def make_upstream() -> Iterator[Callable[[Callable[[socket.socket, Upstream], None]], Upstream]]:
    made: list[Upstream] = []

    def make(behaviour: Callable[[socket.socket, Upstream], None]) -> Upstream:
        made.append(Upstream(behaviour))
        return made[-1]

    yield make
    for upstream in made:
        upstream.close()


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def connect(listen: str) -> socket.socket:
    sock = socket.create_connection(split_listen(listen), timeout=WAIT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, size: int, timeout: float = WAIT) -> bytes:
    """``size`` bytes, or fail the test when they do not arrive within ``timeout``."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    while len(data) < size:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        piece = sock.recv(size - len(data))
        if not piece:
            raise AssertionError(f"connection closed after {len(data)} of {size} bytes")
        data += piece
    return bytes(data)


def round_trip(sock: socket.socket, payload: bytes = b"ping") -> float:
    """Seconds from sending ``payload`` to an echo server until it is back."""
    started = time.perf_counter()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return time.perf_counter() - started


def wait_for(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@dataclass(frozen=True)
class Ending:
    """How a connection ended, seen by a reader: what arrived, and how it stopped."""

    data: bytes
    how: str  # "eof", "reset" or "open" (still open when the wait ran out)
    after: float  # seconds from the start of the wait


def read_until_end(sock: socket.socket, timeout: float) -> Ending:
    started = time.perf_counter()
    deadline = started + timeout
    data = bytearray()
    while (left := deadline - time.perf_counter()) > 0:
        sock.settimeout(left)
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return Ending(bytes(data), "reset", time.perf_counter() - started)
        if not piece:
            return Ending(bytes(data), "eof", time.perf_counter() - started)
        data += piece
    return Ending(bytes(data), "open", time.perf_counter() - started)


class Net:
    """The socket helpers above, handed to tests as a fixture (tests do not import conftest)."""

    connect = staticmethod(connect)
    recv_exactly = staticmethod(recv_exactly)
    round_trip = staticmethod(round_trip)
    read_until_end = staticmethod(read_until_end)
    split_listen = staticmethod(split_listen)
    wait_for = staticmethod(wait_for)
    echo = staticmethod(echo)
    greet_and_close = staticmethod(greet_and_close)


@pytest.fixture
def net() -> type[Net]:
    return Net

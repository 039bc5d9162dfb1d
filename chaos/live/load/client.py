"""One attempt of an entry request on gevent sockets (Locust process only).

An entrypoint has one :class:`Target` per replica of its target service; the caller
(``process``) picks one per attempt, and the kind of request (one of the entrypoint's
:class:`~chaos.live.load.plan.RequestPlan`) per entry request. Each kind's bytes are
built once, when the target is made.

Imports gevent: only the Locust process, already monkey-patched, may import this module.

Why not Locust's own clients: both limit concurrency (``HttpUser`` through a connection
pool of ten, ``FastHttpUser`` through a pool that blocks beyond its size), which would
throttle an open-loop load exactly when a hung service piles requests up, and
geventhttpclient silently re-sends a request whose connection closed, up to the pool's
size, which would hide the attempts a crashing service causes. Here each attempt is
exactly one request on one connection, with a single reconnect allowed only when a
reused keep-alive connection turns out to have been closed by the server while idle
(the server never saw the request: a browser does the same).

The per-attempt timeout is a deadline on the whole attempt (connect, send, answer),
as the simulator's clients have, not a socket read timeout.
"""

from __future__ import annotations

import errno
import socket
from urllib.parse import urlsplit

import gevent
import gevent.socket
from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError, HTTPSocketResponse

from chaos.live.load import tally
from chaos.live.load.answers import CAUSE_HEADER, AnswerKind, Result, classify
from chaos.live.load.plan import RequestPlan, request_url

CANCEL_HEADER = "X-Chaoslab-Cancel"
KEEP_IDLE = 256  # idle keep-alive connections kept per entrypoint and process
# Errors of our own machine, not of the system under test: the generator is at fault.
_LOCAL_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EADDRNOTAVAIL})


class Target:
    """One replica of an entrypoint's target: where attempts to it go, and its idle keep-alive connections."""

    def __init__(self, base_url: str, requests: tuple[RequestPlan, ...], cancel_on_timeout: bool) -> None:
        parts = urlsplit(base_url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 80
        # Resolved once: a game day must not wait on a resolver per request.
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        self.family = family
        self.address = address
        host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.kinds = requests
        self.requests = [_request_bytes(base_url, host_header, r, cancel_on_timeout) for r in requests]
        self.idle: list[gevent.socket.socket] = []

    def connect(self) -> gevent.socket.socket:
        sock = gevent.socket.socket(self.family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(self.address)
        except BaseException:
            sock.close()
            raise
        return sock

    def take(self) -> tuple[gevent.socket.socket, bool]:
        """A connection, and whether it was reused (LIFO: a burst leaves few connections open)."""
        if self.idle:
            return self.idle.pop(), True
        return self.connect(), False

    def give_back(self, sock: gevent.socket.socket) -> None:
        if len(self.idle) < KEEP_IDLE:
            self.idle.append(sock)
        else:
            sock.close()

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()


def _request_bytes(base_url: str, host_header: str, request: RequestPlan, cancel_on_timeout: bool) -> bytes:
    parts = urlsplit(request_url(base_url, request.target))
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = [f"{request.method} {target} HTTP/1.1", f"Host: {host_header}"]
    names = {name.lower() for name, _ in request.headers}
    head += [f"{name}: {value}" for name, value in (("User-Agent", "chaoslab-load"), ("Accept", "*/*"))
             if name.lower() not in names]
    head += [f"{name}: {value}" for name, value in request.headers]
    body = b"" if request.body is None else request.body.encode()
    if request.body is not None or request.method in ("POST", "PUT", "PATCH"):
        head.append(f"Content-Length: {len(body)}")
    if cancel_on_timeout:
        head.append(f"{CANCEL_HEADER}: 1")  # the emulator stops working on it when we hang up
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def attempt(target: Target, kind: int, timeout_s: float | None) -> Result:
    """Send one attempt of request kind ``kind`` and classify its answer; never raises except GreenletExit."""
    timer = gevent.Timeout(timeout_s) if timeout_s is not None else None
    sock: gevent.socket.socket | None = None
    request, plan = target.requests[kind], target.kinds[kind]
    method = plan.method
    try:
        if timer is not None:
            timer.start()
        sock, reused = target.take()
        try:
            status, cause, keep = _exchange(sock, request, method)
        except (HTTPConnectionClosed, ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
            if not reused:
                raise
            sock.close()  # closed by the server while idle: our request never reached it
            sock = target.connect()
            status, cause, keep = _exchange(sock, request, method)
        if keep:
            target.give_back(sock)
        else:
            sock.close()
        sock = None
        return classify(status, cause, plan.success)
    except gevent.Timeout as exc:
        if exc is not timer:
            raise
        return Result(AnswerKind.FAILED, tally.TIMEOUT)
    except (HTTPParseError, ConnectionError) as exc:  # refused, reset, closed with no or half an answer
        return Result(AnswerKind.FAILED, tally.CRASHED, type(exc).__name__, broken=True)
    except OSError as exc:
        if exc.errno in _LOCAL_ERRNOS:
            return Result(AnswerKind.CLIENT_ERROR, None, f"{exc}")
        # Unreachable host or network: nobody answers.
        return Result(AnswerKind.FAILED, tally.CRASHED, f"{exc}", broken=True)
    finally:
        if timer is not None:
            timer.close()
        if sock is not None:
            sock.close()  # an attempt cut short leaves its connection unusable (and tells the server we left)


def _exchange(sock: gevent.socket.socket, request: bytes, method: str) -> tuple[int, str | None, bool]:
    sock.sendall(request)
    response = HTTPSocketResponse(sock, method=method)  # a HEAD answer has no body, whatever its headers say
    response.read()  # the whole body, so the connection can be reused
    cause = response.get(CAUSE_HEADER)
    return response.status_code, (cause if isinstance(cause, str) else None), not response.should_close()

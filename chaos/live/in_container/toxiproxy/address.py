"""Listen addresses, parsed, bound and printed the way Go's ``net`` package does.

The official server reports a proxy's ``listen`` as Go prints the bound address
(``localhost:0`` becomes ``127.0.0.1:41234``; ``0.0.0.0:80`` becomes ``[::]:80``
because Go binds wildcards dual-stack) and reports bind failures in Go's words
(``listen tcp 127.0.0.1:80: bind: address already in use``). Clients compare these
strings, so we produce the same ones.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass

from .protocol import ApiError, internal

_WILDCARDS = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class HostPort:
    """An address split as Go's ``net.SplitHostPort`` splits it (brackets removed)."""

    host: str
    port: str


def split_host_port(address: str) -> HostPort:
    """Split ``host:port`` or ``[v6]:port``; raise ``ValueError`` with Go's reason."""
    colon = address.rfind(":")
    if colon < 0:
        raise ValueError("missing port in address")
    host, port = address[:colon], address[colon + 1 :]
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError("missing ']' in address")
        return HostPort(host[1:-1], port)
    if ":" in host:
        raise ValueError("too many colons in address")
    if "[" in host or "]" in host:
        raise ValueError("unexpected '[' in address")
    return HostPort(host, port)


def format_address(host: str, port: int) -> str:
    """``host:port`` with IPv6 hosts in brackets, as Go's ``TCPAddr.String``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _parse_port(text: str) -> int:
    if text.isdigit():
        port = int(text)
        if port <= 65535:
            return port
        raise ValueError("invalid port")
    try:
        return socket.getservbyname(text, "tcp")
    except OSError:
        raise ValueError("unknown port") from None


async def open_listener(listen: str) -> socket.socket:
    """A listening, non-blocking socket for ``listen``; ``ApiError`` (500) in Go's words."""
    try:
        # Go treats an empty address as "any host, any port".
        parts = split_host_port(listen) if listen else HostPort("", "0")
        port = _parse_port(parts.port)
    except ValueError as exc:
        raise internal(f"listen tcp: address {listen}: {exc}") from None
    if parts.host in _WILDCARDS:
        return _bind_wildcard(port)
    family, host = await _resolve(parts.host, port)
    return _bind(family, host, port)


async def _resolve(host: str, port: int) -> tuple[socket.AddressFamily, str]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise internal(f"listen tcp: lookup {host}: no such host") from None
    # Go listens on the first IPv4 address of a name when there is one.
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, _type, _proto, _name, sockaddr = infos[0]
    return family, str(sockaddr[0])


def _bind_wildcard(port: int) -> socket.socket:
    # Go binds a wildcard as one dual-stack IPv6 socket and prints it as [::]:port;
    # hosts without IPv6 fall back to IPv4 as Go does.
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return _bind(socket.AF_INET, "0.0.0.0", port)
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        return _listen(sock, "::", port)
    except ApiError:
        raise
    except OSError:
        sock.close()
        return _bind(socket.AF_INET, "0.0.0.0", port)


def _bind(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    return _listen(socket.socket(family, socket.SOCK_STREAM), host, port)


def _listen(sock: socket.socket, host: str, port: int) -> socket.socket:
    try:
        # Go sets SO_REUSEADDR on listeners, so a proxy re-enabled at once can rebind.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = _go_errno_text(exc)
        raise internal(f"listen tcp {format_address(host, port)}: bind: {reason}") from None
    return sock


def _go_errno_text(exc: OSError) -> str:
    text = os.strerror(exc.errno) if exc.errno else str(exc)
    return text[:1].lower() + text[1:]


def bound_address(sock: socket.socket) -> str:
    """The address a listening socket is bound to, printed as Go prints it."""
    host, port = sock.getsockname()[:2]
    return format_address(host, port)

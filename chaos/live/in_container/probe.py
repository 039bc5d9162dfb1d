"""``python3 -m chaos.live.in_container.probe URL``: exit 0 when URL answers 200, else 1. The containers' health check.

Standard library only, and deliberately not urllib: the check runs every few seconds in every
container of a stack, and importing urllib (http.client, email, ssl) costs several times the
CPU of the request itself.
"""

from __future__ import annotations

import socket
import sys
from urllib.parse import urlsplit


def healthy(url: str, timeout: float = 2.0) -> bool:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = f"GET {parts.path or '/'} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode()
    try:
        with socket.create_connection((host, port), timeout) as conn:
            conn.settimeout(timeout)
            conn.sendall(request)
            status_line = conn.recv(64)
    except OSError:
        return False
    return status_line[9:12] == b"200"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python3 -m chaos.live.in_container.probe URL", file=sys.stderr)
        return 2
    return 0 if healthy(argv[0]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

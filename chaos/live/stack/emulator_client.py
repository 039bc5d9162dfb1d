"""The host's client of an emulator replica's admin API (``/admin``; the routes are in
``chaos.live.in_container.emulator.admin``).

The fault drivers change faults, call policies and admission limits through it; ``stack
status`` reads each replica's state. Every request has a timeout, and a replica that does not
answer at all (:class:`AdminUnreachable`) is told apart from one that answers with an error.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from chaos.errors import LiveError

ADMIN_TIMEOUT = 3.0  # the admin API answers within 100 ms even while the service hangs


class AdminUnreachable(LiveError):
    """The admin API did not answer at all (as opposed to answering with an error)."""


class AdminClient:
    """``/admin`` of one emulator replica."""

    def __init__(self, admin_url: str, timeout: float = ADMIN_TIMEOUT) -> None:
        self.url = admin_url.rstrip("/")
        self.timeout = timeout

    def set_faults(self, body: Mapping[str, Any]) -> None:
        self._request("POST", "/faults", body)

    def clear_faults(self) -> None:
        self._request("DELETE", "/faults")

    def state(self) -> dict[str, Any]:
        return dict(json.loads(self._request("GET", "/state")))

    def set_call(self, callee: str, policy: Mapping[str, Any]) -> None:
        self._request("POST", f"/calls/{callee}", policy)

    def set_admission(self, limit: float | None) -> None:
        self._request("POST", "/admission", {"limit": limit})

    def set_call_faults(self, callee: str, body: Mapping[str, Any]) -> None:
        self._request("POST", f"/calls/{callee}/faults", body)

    def clear_call_faults(self, callee: str) -> None:
        self._request("DELETE", f"/calls/{callee}/faults")

    def set_operation_faults(self, operation: str, body: Mapping[str, Any]) -> None:
        self._request("POST", f"/operations/{operation}/faults", body)

    def clear_operation_faults(self, operation: str) -> None:
        self._request("DELETE", f"/operations/{operation}/faults")

    def _request(self, method: str, path: str, body: object = None) -> bytes:
        parts = urlsplit(self.url + path)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=self.timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            conn.request(method, parts.path, body=payload, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise AdminUnreachable(f"emulator admin at {self.url} did not answer {method} {path}: {exc}") from None
        finally:
            conn.close()
        if not 200 <= response.status < 300:
            raise LiveError(f"emulator admin {method} {self.url}{path} failed with HTTP {response.status}: "
                            f"{data[:200].decode(errors='replace')}")
        return data

"""Emulators on one event loop in a background thread, for tests and benchmarks that are not asyncio programs.

    with EmulatorThread() as runner:
        port = runner.start(Emulator(spec, "db"), port=0)
        ...
        runner.stop(emulator)   # like a crashed container: its port refuses connections
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from chaos.core.errors import LiveError

from .app import Emulator

T = TypeVar("T")


class EmulatorThread:
    """An event loop in a daemon thread; emulators are started and stopped on it from the caller's thread."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="emulators", daemon=True)
        self._running: list[Emulator] = []

    def __enter__(self) -> EmulatorThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout or self.timeout)

    def start(self, emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0,
              sock: socket.socket | None = None) -> int:
        port = self.run(emulator.start(host, port, sock))
        self._running.append(emulator)
        return port

    def stop(self, emulator: Emulator) -> None:
        self.run(emulator.close())
        self._running.remove(emulator)

    def close(self) -> None:
        """Stop every emulator still running, then the loop; a failure to stop is raised."""
        try:
            for emulator in list(self._running):
                self.stop(emulator)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(self.timeout)
            if self._thread.is_alive():
                raise LiveError(f"the emulator thread did not stop within {self.timeout} s")
            self.loop.close()
